//! Second factors: authenticator apps (TOTP) and their recovery codes, passkeys, the
//! organization's "Require two-factor authentication", half-finished sign-ins and WebAuthn
//! ceremonies, and when a session last proved who it is.
//!
//! Each code is accepted once on every instance: a TOTP code moves the factor's
//! `last_step` forward in one conditional UPDATE, a recovery code is marked used the same way.

use super::{
    audit::{carrying_event, record_event, Actor, Event},
    read_db, transaction, unique_violation, write_db, Store, StoreError,
};
use crate::model::{AuditAction, OrgId, PasskeyRow, TargetKind, UserId};

pub const POLICY_NEEDS_OWN_FACTOR: &str =
    "Set up two-factor authentication for your own account first.";
pub const POLICY_KEEPS_FACTOR: &str =
    "Your organization requires two-factor authentication, so it cannot be turned off.";
pub const POLICY_KEEPS_LAST_PASSKEY: &str =
    "Your organization requires two-factor authentication: \
     set up an authenticator app before removing your last passkey.";

/// An authenticator app of one user, its secret still sealed.
#[derive(Debug, sqlx::FromRow)]
pub struct TotpFactor {
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: i64,
}

/// A stored passkey: the WebAuthn library's credential (public key, counter) as JSON.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredPasskey {
    pub id: i64,
    pub user_id: UserId,
    pub credential: String,
}

/// What a half-finished sign-in or ceremony holds.
#[derive(Debug, sqlx::FromRow)]
pub struct Pending {
    pub user_id: Option<UserId>,
    pub ceremony: Option<String>,
}

/// Why an authentication is in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The password was right; the second factor is still to come.
    SecondFactor,
    /// "Sign in with a passkey", between the browser's challenge and its answer.
    PasskeySignIn,
    /// "Add passkey", between the challenge and the new credential.
    PasskeyRegistration,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "second_factor",
            Purpose::PasskeySignIn => "passkey_sign_in",
            Purpose::PasskeyRegistration => "passkey_registration",
        }
    }
}

/// Whether `$user` has a second factor, inside a transaction.
macro_rules! has_second_factor {
    ($conn:expr, $user:expr) => {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND enabled_at IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)",
        )
        .bind($user)
        .fetch_one($conn)
    };
}

/// Whether `$org` requires a second factor, inside a transaction.
macro_rules! policy_on {
    ($conn:expr, $org:expr) => {
        sqlx::query_scalar::<_, bool>("SELECT require_two_factor FROM organizations WHERE id = $1")
            .bind($org)
            .fetch_one($conn)
    };
}

/// Removes every second factor of `$user` (authenticator app, recovery codes, passkeys)
/// inside a transaction; how many rows went.
macro_rules! remove_second_factors {
    ($conn:expr, $user:expr) => {{
        let mut removed = 0;
        for statement in [
            "DELETE FROM totp_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM passkeys WHERE user_id = $1",
        ] {
            removed +=
                sqlx::query(statement).bind($user).execute(&mut *$conn).await?.rows_affected();
        }
        removed
    }};
}

pub(super) use remove_second_factors;

/// Replaces `$user`'s recovery codes by the codes of `$hashes`, inside a transaction.
macro_rules! replace_recovery_codes {
    ($conn:expr, $user:expr, $hashes:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user)
            .execute(&mut *$conn)
            .await?;
        for hash in $hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user)
                .bind(hash)
                .execute(&mut *$conn)
                .await?;
        }
    }};
}

impl Store {
    /// New recovery codes (by their hashes) for the acting user, whose authenticator app is
    /// on; the old ones stop working. Recorded as "Recovery codes replaced".
    pub async fn new_recovery_codes(
        &self,
        organization: OrgId,
        by: &Actor,
        recovery_hashes: &[Vec<u8>],
        now: i64,
    ) -> Result<(), StoreError> {
        let user = by.acting_user()?;
        transaction!(self, tx => {
            let on: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND enabled_at IS NOT NULL)",
            )
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
            if !on {
                return Err(StoreError::NotFound);
            }
            replace_recovery_codes!(&mut *tx, user, recovery_hashes);
            let event = Event::new(AuditAction::RecoveryCodesReplaced).on(TargetKind::User, user.0, &by.name);
            record_event!(&mut *tx, organization, by, event, now)?;
        });
        Ok(())
    }

    /// Starts setting up an authenticator app with a new sealed secret, replacing one that
    /// was never confirmed. False when the user already has one enabled.
    pub async fn begin_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = write_db!(self, db => sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at, last_step = 0 \
             WHERE totp_factors.enabled_at IS NULL",
        )
        .bind(user)
        .bind(sealed)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected())?);
        Ok(changed == 1)
    }

    pub async fn totp_factor(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_as::<_, TotpFactor>(
            "SELECT secret, enabled_at IS NOT NULL AS enabled, last_step FROM totp_factors \
             WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(db)
        .await?))
    }

    /// Turns on the authenticator app being set up, whose code for `step` was just right,
    /// and replaces the user's recovery codes (by their hashes). Recorded as "Two-factor
    /// enabled". Refused when there is none being set up.
    pub async fn enable_totp(
        &self,
        organization: OrgId,
        by: &Actor,
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: i64,
    ) -> Result<(), StoreError> {
        let user = by.acting_user()?;
        transaction!(self, tx => {
            let enabled = sqlx::query(
                "UPDATE totp_factors SET enabled_at = $2, last_step = $3 \
                 WHERE user_id = $1 AND enabled_at IS NULL AND last_step < $3",
            )
            .bind(user)
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if enabled != 1 {
                return Err(StoreError::NotFound);
            }
            replace_recovery_codes!(&mut *tx, user, recovery_hashes);
            let event = Event::new(AuditAction::TwoFactorEnabled)
                .on(TargetKind::User, user.0, &by.name)
                .detail("authenticator app");
            record_event!(&mut *tx, organization, by, event, now)?;
        });
        Ok(())
    }

    /// Accepts the enabled authenticator app's code for `step` once: true when no code of
    /// this or a later step was accepted before.
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let changed = write_db!(self, db => sqlx::query(
            "UPDATE totp_factors SET last_step = $2 \
             WHERE user_id = $1 AND enabled_at IS NOT NULL AND last_step < $2",
        )
        .bind(user)
        .bind(step)
        .execute(db)
        .await
        .map(|r| r.rows_affected())?);
        Ok(changed == 1)
    }

    /// Uses one of the user's recovery codes (by its hash), once; recorded as "Recovery
    /// code used". False when no unused code has this hash.
    pub async fn use_recovery_code(
        &self,
        organization: OrgId,
        by: &Actor,
        code_hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let user = by.acting_user()?;
        Ok(transaction!(self, tx => {
            let used = sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            )
            .bind(user)
            .bind(code_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used == 1 {
                let left: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user)
                .fetch_one(&mut *tx)
                .await?;
                let event = Event::new(AuditAction::RecoveryCodeUsed)
                    .on(TargetKind::User, user.0, &by.name)
                    .detail(format!("{left} left"));
                record_event!(&mut *tx, organization, by, event, now)?;
            }
            used == 1
        }))
    }

    /// Removes every second factor of the acting user (authenticator app, recovery codes,
    /// passkeys), recorded as "Two-factor disabled"; refused while the organization requires
    /// two-factor. False when there was nothing to remove.
    pub async fn disable_two_factor(
        &self,
        organization: OrgId,
        by: &Actor,
        now: i64,
    ) -> Result<bool, StoreError> {
        let user = by.acting_user()?;
        Ok(transaction!(self, lock = organization, tx => {
            if policy_on!(&mut *tx, organization).await? {
                return Err(StoreError::Refused(POLICY_KEEPS_FACTOR));
            }
            let removed = remove_second_factors!(&mut *tx, user);
            if removed > 0 {
                let event = Event::new(AuditAction::TwoFactorDisabled).on(TargetKind::User, user.0, &by.name);
                record_event!(&mut *tx, organization, by, event, now)?;
            }
            removed > 0
        }))
    }

    /// The user's authenticator app (on or not), unused recovery codes and passkeys.
    pub async fn two_factor_status(
        &self,
        user: UserId,
    ) -> Result<(bool, u32, Vec<PasskeyRow>), StoreError> {
        let (app, codes) = read_db!(self, db => sqlx::query_as::<_, (bool, i64)>(
            "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND enabled_at IS NOT NULL), \
                    (SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
        )
        .bind(user)
        .fetch_one(db)
        .await?);
        let passkeys = read_db!(self, db => sqlx::query_as::<_, (i64, String, i64, Option<i64>)>(
            "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY id",
        )
        .bind(user)
        .fetch_all(db)
        .await?)
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| PasskeyRow { id, name, created_at, last_used_at })
        .collect();
        Ok((app, codes.max(0) as u32, passkeys))
    }

    /// Adds a passkey the browser just made, recorded as "Passkey added".
    pub async fn add_passkey(
        &self,
        organization: OrgId,
        by: &Actor,
        name: &str,
        credential_id: &[u8],
        credential: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let user = by.acting_user()?;
        Ok(transaction!(self, tx => {
            let event = Event::new(AuditAction::PasskeyAdded).on(TargetKind::User, user.0, &by.name).detail(name.to_string());
            let id: i64 = carrying_event!(
                &mut *tx,
                [organization, by, event, now],
                "INSERT INTO passkeys (user_id, name, credential_id, credential, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                5,
                |sql| sqlx::query_scalar(sql)
                    .bind(user)
                    .bind(name)
                    .bind(credential_id)
                    .bind(credential)
                    .bind(now),
                fetch_one
            )
            .map_err(unique_violation)?;
            id
        }))
    }

    /// Renames one of the acting user's passkeys.
    pub async fn rename_passkey(
        &self,
        user: UserId,
        id: i64,
        name: &str,
    ) -> Result<(), StoreError> {
        let changed = write_db!(self, db => sqlx::query(
            "UPDATE passkeys SET name = $3 WHERE id = $2 AND user_id = $1",
        )
        .bind(user)
        .bind(id)
        .bind(name)
        .execute(db)
        .await
        .map(|r| r.rows_affected())?);
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    /// Removes one of the acting user's passkeys, recorded as "Passkey removed". While the
    /// organization requires two-factor, the last second factor stays.
    pub async fn remove_passkey(
        &self,
        organization: OrgId,
        by: &Actor,
        id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = by.acting_user()?;
        transaction!(self, lock = organization, tx => {
            let name: Option<String> = sqlx::query_scalar(
                "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name",
            )
            .bind(id)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(name) = name else { return Err(StoreError::NotFound) };
            if policy_on!(&mut *tx, organization).await? && !has_second_factor!(&mut *tx, user).await? {
                return Err(StoreError::Refused(POLICY_KEEPS_LAST_PASSKEY));
            }
            let event = Event::new(AuditAction::PasskeyRemoved).on(TargetKind::User, user.0, &by.name).detail(name);
            record_event!(&mut *tx, organization, by, event, now)?;
        });
        Ok(())
    }

    /// The user's passkeys, for a sign-in's challenge and to exclude them when adding one.
    pub async fn passkeys_of(&self, user: UserId) -> Result<Vec<StoredPasskey>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_as::<_, StoredPasskey>(
            "SELECT id, user_id, credential FROM passkeys WHERE user_id = $1 ORDER BY id",
        )
        .bind(user)
        .fetch_all(db)
        .await?))
    }

    /// The passkey with this credential id, of an active person.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredPasskey>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_as::<_, StoredPasskey>(
            "SELECT p.id, p.user_id, p.credential FROM passkeys p JOIN users u ON u.id = p.user_id \
             WHERE p.credential_id = $1 AND u.status = 'active' AND u.kind = 'user'",
        )
        .bind(credential_id)
        .fetch_optional(db)
        .await?))
    }

    /// Notes a passkey's use, with its credential as updated (its signature counter).
    pub async fn passkey_used(
        &self,
        id: i64,
        credential: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        write_db!(self, db => sqlx::query(
            "UPDATE passkeys SET last_used_at = $2, credential = coalesce($3, credential) WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(credential)
        .execute(db)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Starts a half-finished authentication; expired ones are swept out on the way.
    pub async fn create_pending(
        &self,
        id_hash: &[u8],
        purpose: Purpose,
        user: Option<UserId>,
        ceremony: Option<&str>,
        now: i64,
        lifetime: i64,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => {
            sqlx::query("DELETE FROM pending_auth WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO pending_auth (id_hash, purpose, user_id, ceremony, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id_hash)
            .bind(purpose.as_str())
            .bind(user)
            .bind(ceremony)
            .bind(now)
            .bind(now + lifetime)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// A half-finished authentication that has not expired, left in place.
    pub async fn pending(
        &self,
        id_hash: &[u8],
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<Pending>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_as::<_, Pending>(
            "SELECT p.user_id, p.ceremony FROM pending_auth p \
             WHERE p.id_hash = $1 AND p.purpose = $2 AND p.expires_at > $3",
        )
        .bind(id_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(db)
        .await?))
    }

    /// Keeps a WebAuthn ceremony's state with a half-finished sign-in ("Use a passkey").
    pub async fn set_pending_ceremony(
        &self,
        id_hash: &[u8],
        purpose: Purpose,
        ceremony: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = write_db!(self, db => sqlx::query(
            "UPDATE pending_auth SET ceremony = $3 WHERE id_hash = $1 AND purpose = $2 AND expires_at > $4",
        )
        .bind(id_hash)
        .bind(purpose.as_str())
        .bind(ceremony)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected())?);
        Ok(changed == 1)
    }

    /// Ends a half-finished authentication and returns what it held, once: a second
    /// request with the same id finds nothing.
    pub async fn take_pending(
        &self,
        id_hash: &[u8],
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<Pending>, StoreError> {
        Ok(write_db!(self, db => sqlx::query_as::<_, Pending>(
            "DELETE FROM pending_auth WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3 \
             RETURNING user_id, ceremony",
        )
        .bind(id_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(db)
        .await?))
    }

    /// Turns "Require two-factor authentication" on or off, recorded as "Policy changed".
    /// Only an active admin with a second factor of their own may turn it on. False when it
    /// was already so.
    pub async fn set_two_factor_policy(
        &self,
        organization: OrgId,
        by: &Actor,
        on: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            if on && !has_second_factor!(&mut *tx, actor).await? {
                return Err(StoreError::Refused(POLICY_NEEDS_OWN_FACTOR));
            }
            let changed = sqlx::query(
                "UPDATE organizations SET require_two_factor = $2 WHERE id = $1 AND require_two_factor <> $2",
            )
            .bind(organization)
            .bind(on)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
                    .bind(organization)
                    .fetch_one(&mut *tx)
                    .await?;
                let detail = if on { "Two-factor required" } else { "Two-factor not required" };
                let event = Event::new(AuditAction::PolicyChanged)
                    .on(TargetKind::Organization, organization.0, &name)
                    .detail(detail);
                record_event!(&mut *tx, organization, by, event, now)?;
            }
            changed == 1
        }))
    }

    /// Whether the organization requires a second factor.
    pub async fn two_factor_required(&self, organization: OrgId) -> Result<bool, StoreError> {
        Ok(read_db!(self, db => policy_on!(db, organization).await?))
    }

    /// Whether the user has a second factor.
    pub async fn has_second_factor(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(read_db!(self, db => has_second_factor!(db, user).await?))
    }

    /// The user's session whose id hashes to `id_hash` proved who it is just now ("Confirm
    /// access").
    pub async fn confirm_access(
        &self,
        id_hash: &[u8],
        user: UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        write_db!(self, db => sqlx::query(
            "UPDATE sessions SET authenticated_at = $3 WHERE id_hash = $1 AND user_id = $2",
        )
            .bind(id_hash)
            .bind(user)
            .bind(now)
            .execute(db)
            .await
            .map(|_| ())?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        test_support::{acme, by},
        Unique,
    };
    use super::*;
    use crate::model::{AuditEvent, AuditQuery};

    async fn last_event(store: &Store, org: OrgId) -> AuditEvent {
        store.list_events(org, &AuditQuery::default(), 0).await.unwrap().rows.remove(0)
    }

    async fn events(store: &Store) -> i64 {
        store.scalar_for_test("SELECT count(*) FROM audit_events", &[]).await
    }

    fn hashes() -> Vec<Vec<u8>> {
        (0..10u8).map(|i| vec![i; 32]).collect()
    }

    #[tokio::test]
    async fn an_authenticator_app_accepts_each_step_once_and_only_later_ones() {
        let (store, _db, ada, org) = acme().await;
        assert!(store.begin_totp(ada, b"sealed-1", 10).await.unwrap());
        // Not confirmed yet: a new setup replaces it; codes are not accepted.
        assert!(store.begin_totp(ada, b"sealed-2", 11).await.unwrap());
        assert!(!store.accept_totp_step(ada, 5).await.unwrap());
        assert!(!store.has_second_factor(ada).await.unwrap());
        let before = events(&store).await;
        store.enable_totp(org, &by(ada), 100, &hashes(), 12).await.unwrap();
        assert_eq!(events(&store).await, before + 1);
        let e = last_event(&store, org).await;
        assert_eq!((e.action, e.target.as_deref()), (AuditAction::TwoFactorEnabled, Some("Test")));
        let factor = store.totp_factor(ada).await.unwrap().unwrap();
        assert_eq!(
            (factor.secret.as_slice(), factor.enabled, factor.last_step),
            (&b"sealed-2"[..], true, 100)
        );
        assert!(store.has_second_factor(ada).await.unwrap());
        // Enabling again, or starting over, is refused while it is on.
        assert!(matches!(
            store.enable_totp(org, &by(ada), 101, &hashes(), 13).await,
            Err(StoreError::NotFound)
        ));
        assert!(!store.begin_totp(ada, b"sealed-3", 13).await.unwrap());
        // The step that enabled it was used; the same or an earlier step is a replay.
        assert!(!store.accept_totp_step(ada, 100).await.unwrap());
        assert!(store.accept_totp_step(ada, 101).await.unwrap());
        assert!(!store.accept_totp_step(ada, 101).await.unwrap(), "replayed");
        assert!(!store.accept_totp_step(ada, 99).await.unwrap(), "older");
        assert!(store.accept_totp_step(ada, 103).await.unwrap());
        assert!(!store.accept_totp_step(ada, 102).await.unwrap(), "skipped back");
    }

    #[tokio::test]
    async fn recovery_codes_work_once_each_and_are_recorded() {
        let (store, _db, ada, org) = acme().await;
        store.begin_totp(ada, b"s", 1).await.unwrap();
        store.enable_totp(org, &by(ada), 1, &hashes(), 2).await.unwrap();
        let (app, left, _) = store.two_factor_status(ada).await.unwrap();
        assert_eq!((app, left), (true, 10));
        let before = events(&store).await;
        assert!(store.use_recovery_code(org, &by(ada), &[3; 32], 5).await.unwrap());
        assert_eq!(events(&store).await, before + 1);
        let e = last_event(&store, org).await;
        assert_eq!((e.action, e.detail.as_str()), (AuditAction::RecoveryCodeUsed, "9 left"));
        assert!(!store.use_recovery_code(org, &by(ada), &[3; 32], 6).await.unwrap(), "used");
        assert!(!store.use_recovery_code(org, &by(ada), &[42; 32], 6).await.unwrap(), "unknown");
        assert_eq!(events(&store).await, before + 1, "refusals record nothing");
        assert_eq!(store.two_factor_status(ada).await.unwrap().1, 9);
        // Only hashes are stored.
        let stored = store
            .scalar_for_test(
                "SELECT count(*) FROM recovery_codes WHERE length(code_hash) = 32",
                &[],
            )
            .await;
        assert_eq!(stored, 10);
        // Setting the app up again (after turning it off) replaces all codes.
        assert!(store.disable_two_factor(org, &by(ada), 7).await.unwrap());
        assert_eq!(last_event(&store, org).await.action, AuditAction::TwoFactorDisabled);
        assert_eq!(store.two_factor_status(ada).await.unwrap(), (false, 0, vec![]));
        assert!(!store.disable_two_factor(org, &by(ada), 8).await.unwrap(), "nothing left");
    }

    #[tokio::test]
    async fn the_policy_needs_the_admins_own_factor_and_keeps_everyones() {
        let (store, _db, ada, org) = acme().await;
        let refused = store.set_two_factor_policy(org, &by(ada), true, 1).await;
        assert!(
            matches!(refused, Err(StoreError::Refused(POLICY_NEEDS_OWN_FACTOR))),
            "{refused:?}"
        );
        assert!(!store.two_factor_required(org).await.unwrap());
        let id = store.add_passkey(org, &by(ada), "Laptop", b"cred-1", "{}", 2).await.unwrap();
        assert_eq!(last_event(&store, org).await.action, AuditAction::PasskeyAdded);
        let before = events(&store).await;
        let twice = store.add_passkey(org, &by(ada), "Again", b"cred-1", "{}", 2).await;
        assert!(matches!(twice, Err(StoreError::Duplicate(Unique::Passkey))), "{twice:?}");
        assert_eq!(events(&store).await, before, "a refused passkey leaves no event");
        assert!(store.set_two_factor_policy(org, &by(ada), true, 3).await.unwrap());
        let e = last_event(&store, org).await;
        assert_eq!(
            (e.action, e.detail.as_str()),
            (AuditAction::PolicyChanged, "Two-factor required")
        );
        assert!(!store.set_two_factor_policy(org, &by(ada), true, 3).await.unwrap(), "no change");
        assert!(store.two_factor_required(org).await.unwrap());
        // While it is on, nobody drops their last factor.
        let off = store.disable_two_factor(org, &by(ada), 4).await;
        assert!(matches!(off, Err(StoreError::Refused(POLICY_KEEPS_FACTOR))), "{off:?}");
        let last = store.remove_passkey(org, &by(ada), id, 4).await;
        assert!(matches!(last, Err(StoreError::Refused(POLICY_KEEPS_LAST_PASSKEY))), "{last:?}");
        assert_eq!(store.passkeys_of(ada).await.unwrap().len(), 1, "rolled back");
        // A second one may go.
        let other = store.add_passkey(org, &by(ada), "Phone", b"cred-2", "{}", 5).await.unwrap();
        store.rename_passkey(ada, other, "Work phone").await.unwrap();
        store.remove_passkey(org, &by(ada), other, 6).await.unwrap();
        let e = last_event(&store, org).await;
        assert_eq!((e.action, e.detail.as_str()), (AuditAction::PasskeyRemoved, "Work phone"));
        // A demoted admin cannot change the policy.
        store.execute_for_test("UPDATE users SET role = 'member' WHERE id = $1", &[ada.0]).await;
        let demoted = store.set_two_factor_policy(org, &by(ada), false, 7).await;
        assert!(matches!(demoted, Err(StoreError::NotPermitted)), "{demoted:?}");
    }

    #[tokio::test]
    async fn half_finished_sign_ins_expire_and_end_once() {
        let (store, _db, ada, _org) = acme().await;
        store
            .create_pending(b"p1", Purpose::SecondFactor, Some(ada), None, 100, 300)
            .await
            .unwrap();
        let found = store.pending(b"p1", Purpose::SecondFactor, 399).await.unwrap().unwrap();
        assert_eq!(found.user_id, Some(ada));
        assert!(
            store.pending(b"p1", Purpose::PasskeySignIn, 101).await.unwrap().is_none(),
            "other purpose"
        );
        assert!(
            store.pending(b"p1", Purpose::SecondFactor, 400).await.unwrap().is_none(),
            "expired"
        );
        assert!(store
            .set_pending_ceremony(b"p1", Purpose::SecondFactor, "{\"a\":1}", 101)
            .await
            .unwrap());
        let taken = store.take_pending(b"p1", Purpose::SecondFactor, 102).await.unwrap().unwrap();
        assert_eq!(taken.ceremony.as_deref(), Some("{\"a\":1}"));
        assert!(
            store.take_pending(b"p1", Purpose::SecondFactor, 102).await.unwrap().is_none(),
            "once"
        );
        // Expired ones are swept when the next one starts.
        store
            .create_pending(b"p2", Purpose::PasskeySignIn, None, Some("{}"), 100, 300)
            .await
            .unwrap();
        store
            .create_pending(b"p3", Purpose::PasskeySignIn, None, Some("{}"), 1_000, 300)
            .await
            .unwrap();
        assert_eq!(store.scalar_for_test("SELECT count(*) FROM pending_auth", &[]).await, 1);
    }

    #[tokio::test]
    async fn a_session_knows_when_it_last_proved_who_it_is() {
        let (store, _db, ada, org) = acme().await;
        store.create_session(b"s", ada, 1_000, 3_600, None).await.unwrap();
        let viewer = store.session_user(b"s", 1_001, 600, 3_600).await.unwrap().unwrap().viewer;
        assert_eq!(
            (viewer.authenticated_at, viewer.two_factor, viewer.two_factor_required),
            (1_000, false, false)
        );
        store.confirm_access(b"s", ada, 1_500).await.unwrap();
        store.add_passkey(org, &by(ada), "Key", b"c", "{}", 1_500).await.unwrap();
        store.set_two_factor_policy(org, &by(ada), true, 1_500).await.unwrap();
        let viewer = store.session_user(b"s", 1_501, 600, 3_600).await.unwrap().unwrap().viewer;
        assert_eq!(
            (viewer.authenticated_at, viewer.two_factor, viewer.two_factor_required),
            (1_500, true, true)
        );
        // Another person's session is not theirs to confirm.
        store.confirm_access(b"s", UserId(ada.0 + 1), 2_000).await.unwrap();
        let viewer = store.session_user(b"s", 1_502, 600, 3_600).await.unwrap().unwrap().viewer;
        assert_eq!(viewer.authenticated_at, 1_500);
    }
}
