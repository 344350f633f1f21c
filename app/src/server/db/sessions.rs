//! Console sessions. The cookie holds a random id; the table holds its SHA-256.

use super::{
    audit::{carrying_event, changing_with_event, Actor, Event},
    read_db, transaction, write_db, Store, StoreError,
};
use crate::model::{AuditAction, Choice, OrgId, Role, TargetKind, UserId, Viewer};

/// The user behind a live session, read fresh from the database on every request so that
/// disabling a user or changing a role takes effect at once.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub session_id: i64,
    pub viewer: Viewer,
}

/// `last_seen_at` is refreshed at most this often, not on every request.
const TOUCH_INTERVAL: i64 = 60;

#[derive(sqlx::FromRow)]
struct SessionRecord {
    session_id: i64,
    last_seen_at: i64,
    user_id: i64,
    name: String,
    email: Option<String>,
    role: Option<String>,
    organization_id: i64,
    organization_name: String,
    must_change_password: bool,
    authenticated_at: i64,
    two_factor: bool,
    two_factor_required: bool,
}

impl Store {
    /// Starts a session; with `signed_in`, records "Signed in" in the same transaction.
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        user: UserId,
        now: i64,
        absolute_secs: i64,
        signed_in: Option<(OrgId, &Actor)>,
    ) -> Result<(), StoreError> {
        const START: &str = "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, \
             expires_at, authenticated_at) VALUES ($1, $2, $3, $3, $4, $3)";
        transaction!(self, tx => {
            // Housekeeping that keeps the table small: drop this user's expired sessions.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            macro_rules! start {
                ($sql:expr) => {
                    sqlx::query($sql).bind(id_hash).bind(user).bind(now).bind(now + absolute_secs)
                };
            }
            match signed_in {
                Some((organization, by)) => {
                    let event = Event::new(AuditAction::SignedIn).on(TargetKind::User, user.0, &by.name);
                    carrying_event!(
                        &mut *tx, [organization, by, event, now], START, 4, |sql| start!(sql), execute
                    )?
                }
                None => start!(START).execute(&mut *tx).await?,
            };
        });
        Ok(())
    }

    /// The active user of a live session, or None when the session is unknown, expired
    /// (idle or absolute), or its user is disabled. A session that still runs on an initial
    /// password ends when that password expires.
    pub async fn session_user(
        &self,
        id_hash: &[u8],
        now: i64,
        idle_secs: i64,
        initial_password_secs: i64,
    ) -> Result<Option<SessionUser>, StoreError> {
        let record = read_db!(self, db => sqlx::query_as::<_, SessionRecord>(
            "SELECT s.id AS session_id, s.last_seen_at, u.id AS user_id, u.name, u.email, u.role, \
                    o.id AS organization_id, o.name AS organization_name, u.must_change_password, \
                    s.authenticated_at, o.require_two_factor AS two_factor_required, \
                    (EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = u.id AND f.enabled_at IS NOT NULL) \
                     OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)) AS two_factor \
             FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             JOIN organizations o ON o.id = u.organization_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
               AND u.status = 'active' AND u.kind = 'user' \
               AND (NOT u.must_change_password OR coalesce(u.password_set_at, 0) > $4)",
        )
        .bind(id_hash)
        .bind(now)
        .bind(now - idle_secs)
        .bind(now - initial_password_secs)
        .fetch_optional(db)
        .await?);
        let Some(r) = record else { return Ok(None) };
        let (Some(role), Some(email)) = (r.role.as_deref().and_then(Role::parse), r.email) else {
            return Ok(None);
        };
        if now - r.last_seen_at >= TOUCH_INTERVAL {
            write_db!(self, db => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(r.session_id)
                .execute(db)
                .await
                .map(|_| ())?);
        }
        Ok(Some(SessionUser {
            session_id: r.session_id,
            viewer: Viewer {
                user_id: UserId(r.user_id),
                name: r.name,
                email,
                role,
                organization_id: OrgId(r.organization_id),
                organization_name: r.organization_name,
                must_change_password: r.must_change_password,
                authenticated_at: r.authenticated_at,
                two_factor: r.two_factor,
                two_factor_required: r.two_factor_required,
            },
        }))
    }

    /// Ends the session of `by` whose id hashes to `id_hash`, recorded as "Signed out".
    pub async fn delete_session(
        &self,
        id_hash: &[u8],
        organization: OrgId,
        by: &Actor,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = by.acting_user()?;
        transaction!(self, tx => {
            let event = Event::new(AuditAction::SignedOut).on(TargetKind::User, user.0, &by.name);
            changing_with_event!(
                &mut *tx,
                [organization, by, event, now],
                "DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2",
                2,
                |sql| sqlx::query_scalar(sql).bind(id_hash).bind(user)
            )?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{by, fresh_store, person};

    #[tokio::test]
    async fn sessions_expire_idle_and_absolute_and_end_on_delete() {
        let (store, _dir) = fresh_store().await;
        let user =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        store.create_session(b"one", user, 1_000, 3_600, None).await.unwrap();
        let found = store.session_user(b"one", 1_010, 600, 72 * 3600).await.unwrap().unwrap();
        assert_eq!(found.viewer.user_id, user);
        assert_eq!(found.viewer.organization_name, "Acme");
        assert!(store.session_user(b"other", 1_010, 600, 72 * 3600).await.unwrap().is_none());
        // Idle: no request for longer than the idle lifetime.
        assert!(store.session_user(b"one", 1_700, 600, 72 * 3600).await.unwrap().is_none());
        // Being used keeps it alive until the absolute lifetime.
        for t in (1_100..4_600).step_by(300) {
            assert!(store.session_user(b"one", t, 600, 72 * 3600).await.unwrap().is_some(), "{t}");
        }
        assert!(store.session_user(b"one", 4_600, 600, 72 * 3600).await.unwrap().is_none());

        store.create_session(b"two", user, 5_000, 3_600, None).await.unwrap();
        let org = super::super::test_support::org_of(&store, user).await;
        store.delete_session(b"two", org, &by(user), 5_000).await.unwrap();
        assert!(store.session_user(b"two", 5_001, 600, 72 * 3600).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_disabled_user_has_no_session() {
        let (store, _dir) = fresh_store().await;
        let user =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        store.create_session(b"s", user, 10, 3_600, None).await.unwrap();
        store
            .execute_for_test("UPDATE users SET status = 'disabled' WHERE id = $1", &[user.0])
            .await;
        assert!(store.session_user(b"s", 11, 600, 72 * 3600).await.unwrap().is_none());
    }
}
