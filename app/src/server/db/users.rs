//! Organizations and users.

use sqlx::Row;

use super::{is_unique_violation, Store};
use crate::model::{LinkedToken, Role, UserKind, UserPage, UserRow, UserStatus};

#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("Tokenwell is already set up")]
    AlreadySetUp,
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What sign-in needs to know about an email address.
#[derive(Debug)]
pub struct LoginRecord {
    pub user_id: i64,
    pub password_hash: Option<String>,
    pub active: bool,
    /// The password is an initial one that an admin generated.
    pub must_change_password: bool,
    pub password_set_at: Option<i64>,
}

impl Store {
    pub async fn any_user_exists(&self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar::<_, i64>("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.read)
            .await
            .map(|n| n != 0)
    }

    /// First-run setup: the organization and its first admin, only while no user exists.
    /// Returns the new user's id.
    pub async fn setup_first_admin(
        &self,
        organization: &str,
        name: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<i64, CreateAdminError> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(&mut *tx).await?;
        if exists != 0 {
            return Err(CreateAdminError::AlreadySetUp);
        }
        let org_id = find_or_create_org(&mut tx, organization, now).await?;
        let user_id =
            insert_person(&mut tx, org_id, name, email, password_hash, Role::Admin, now).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// `tokenwell create-admin` / `create-user`: adds a person, creating the organization
    /// when no organization of that name (ignoring case) exists.
    pub async fn create_user(
        &self,
        organization: &str,
        name: &str,
        email: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<i64, CreateAdminError> {
        let mut tx = self.begin_write().await?;
        let org_id = find_or_create_org(&mut tx, organization, now).await?;
        let user_id = insert_person(&mut tx, org_id, name, email, password_hash, role, now).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    pub async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, password_hash, status, must_change_password, password_set_at \
             FROM users WHERE email = ?1 AND kind = 'user'",
        )
        .bind(email)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| LoginRecord {
            user_id: r.get(0),
            password_hash: r.get(1),
            active: r.get::<String, _>(2) == "active",
            must_change_password: r.get(3),
            password_set_at: r.get(4),
        }))
    }

    /// A page of the organization's users, optionally filtered by name or email.
    pub async fn list_users(
        &self,
        organization_id: i64,
        q: &str,
        offset: u64,
        limit: u32,
    ) -> Result<UserPage, sqlx::Error> {
        let q = q.trim().to_lowercase();
        const FILTER: &str = "u.organization_id = ?1 AND (?2 = '' OR instr(lower(u.name), ?2) > 0 \
                              OR instr(coalesce(u.email, ''), ?2) > 0)";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM users u WHERE {FILTER}"))
                .bind(organization_id)
                .bind(&q)
                .fetch_one(&self.read)
                .await?;
        let offset = clamp_offset(offset, total as u64, limit);
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u {USER_JOINS} WHERE {FILTER} \
             ORDER BY u.kind = 'forwarder', u.id LIMIT ?3 OFFSET ?4"
        ))
        .bind(organization_id)
        .bind(&q)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.read)
        .await?;
        Ok(UserPage { rows: rows.iter().map(user_row).collect(), total: total as u64, offset })
    }
}

/// Why an admin's change to a user was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserChangeError {
    #[error("no such user in this organization")]
    NotFound,
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub const SELF_DEMOTE: &str = "You cannot change your own role. Ask another admin to do it.";
pub const SELF_DISABLE: &str = "You cannot disable yourself. Ask another admin to do it.";
pub const LAST_ADMIN: &str =
    "This is the organization's only active admin. Make another user an admin first, so someone can still manage the organization.";
pub const SERVICE_ROLE: &str =
    "Forwarder Service Accounts have no role: they can only ingest files.";
pub const SERVICE_PASSWORD: &str =
    "Forwarder Service Accounts have no password: they never sign in.";
pub const SELF_RESET: &str = "Change your own password on your account page.";

impl Store {
    /// An admin adds a person, who must set their own password at first sign-in.
    pub async fn add_user(
        &self,
        organization_id: i64,
        name: &str,
        email: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<UserRow, CreateAdminError> {
        let mut tx = self.begin_write().await?;
        let id = insert_user(&mut tx, organization_id, name, email, password_hash, role, true, now)
            .await?;
        let row =
            fetch_user(&mut tx, organization_id, id).await?.ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes a person's role. Nobody changes their own, and the organization keeps at
    /// least one active admin.
    pub async fn set_role(
        &self,
        organization_id: i64,
        actor_id: i64,
        user_id: i64,
        role: Role,
    ) -> Result<UserRow, UserChangeError> {
        let mut tx = self.begin_write().await?;
        let user = fetch_user(&mut tx, organization_id, user_id)
            .await?
            .ok_or(UserChangeError::NotFound)?;
        if user.kind == UserKind::Forwarder {
            return Err(UserChangeError::Refused(SERVICE_ROLE));
        }
        if user.role == Some(role) {
            return Ok(user);
        }
        if user_id == actor_id {
            return Err(UserChangeError::Refused(SELF_DEMOTE));
        }
        if user.role == Some(Role::Admin)
            && user.status == UserStatus::Active
            && active_admins(&mut tx, organization_id).await? <= 1
        {
            return Err(UserChangeError::Refused(LAST_ADMIN));
        }
        sqlx::query("UPDATE users SET role = ?1 WHERE id = ?2 AND organization_id = ?3")
            .bind(role.as_str())
            .bind(user_id)
            .bind(organization_id)
            .execute(&mut *tx)
            .await?;
        let user = fetch_user(&mut tx, organization_id, user_id)
            .await?
            .ok_or(UserChangeError::NotFound)?;
        tx.commit().await?;
        Ok(user)
    }

    /// Disables or enables a person or a Forwarder Service Account. Disabling ends the
    /// person's sessions; their tokens fail from the next request because every check
    /// reads the principal's status.
    pub async fn set_status(
        &self,
        organization_id: i64,
        actor_id: i64,
        user_id: i64,
        status: UserStatus,
    ) -> Result<UserRow, UserChangeError> {
        let mut tx = self.begin_write().await?;
        let user = fetch_user(&mut tx, organization_id, user_id)
            .await?
            .ok_or(UserChangeError::NotFound)?;
        if user.status == status {
            return Ok(user);
        }
        if status == UserStatus::Disabled {
            if user_id == actor_id {
                return Err(UserChangeError::Refused(SELF_DISABLE));
            }
            if user.role == Some(Role::Admin) && active_admins(&mut tx, organization_id).await? <= 1
            {
                return Err(UserChangeError::Refused(LAST_ADMIN));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE users SET status = ?1 WHERE id = ?2 AND organization_id = ?3")
            .bind(status.as_str())
            .bind(user_id)
            .bind(organization_id)
            .execute(&mut *tx)
            .await?;
        let user = fetch_user(&mut tx, organization_id, user_id)
            .await?
            .ok_or(UserChangeError::NotFound)?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?1 AND kind = 'user'")
            .bind(user_id)
            .fetch_optional(&self.read)
            .await
            .map(Option::flatten)
    }

    /// Sets the password a person chose and ends every session of theirs; the caller starts
    /// a new one (a new session id) for the request that made the change.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET password_hash = ?1, must_change_password = 0, password_set_at = ?3 \
             WHERE id = ?2 AND kind = 'user'",
        )
        .bind(password_hash)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// An admin gives a person a new initial password (generated by the caller), which they
    /// must replace at their next sign-in; their sessions end. Not for oneself (the account
    /// page is for that) nor for a service account, which has no password.
    pub async fn reset_password(
        &self,
        organization_id: i64,
        actor_id: i64,
        user_id: i64,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRow, UserChangeError> {
        let mut tx = self.begin_write().await?;
        let user = fetch_user(&mut tx, organization_id, user_id)
            .await?
            .ok_or(UserChangeError::NotFound)?;
        if user.kind == UserKind::Forwarder {
            return Err(UserChangeError::Refused(SERVICE_PASSWORD));
        }
        if user_id == actor_id {
            return Err(UserChangeError::Refused(SELF_RESET));
        }
        sqlx::query(
            "UPDATE users SET password_hash = ?1, must_change_password = 1, password_set_at = ?2 \
             WHERE id = ?3 AND organization_id = ?4",
        )
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .bind(organization_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// The first offset of the last page when `offset` is past the end.
pub(super) fn clamp_offset(offset: u64, total: u64, per_page: u32) -> u64 {
    if offset < total || total == 0 {
        offset
    } else {
        (total - 1) / per_page as u64 * per_page as u64
    }
}

const USER_COLUMNS: &str =
    "u.id, u.name, u.email, u.kind, u.role, u.status, u.created_at, t.id, t.name, t.revoked_at IS NOT NULL";
/// A Forwarder Service Account's token (a person's row joins nothing).
const USER_JOINS: &str = "LEFT JOIN tokens t ON t.principal_id = u.id AND u.kind = 'forwarder'";

fn user_row(r: &sqlx::sqlite::SqliteRow) -> UserRow {
    UserRow {
        id: r.get(0),
        name: r.get(1),
        email: r.get(2),
        kind: UserKind::parse(r.get(3)).unwrap_or(UserKind::User),
        role: r.get::<Option<String>, _>(4).and_then(|s| Role::parse(&s)),
        status: UserStatus::parse(r.get(5)).unwrap_or(UserStatus::Disabled),
        created_at: r.get(6),
        token: r.get::<Option<i64>, _>(7).map(|id| LinkedToken {
            id,
            name: r.get(8),
            revoked: r.get(9),
        }),
    }
}

async fn fetch_user(
    conn: &mut sqlx::SqliteConnection,
    organization_id: i64,
    id: i64,
) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u {USER_JOINS} WHERE u.id = ?1 AND u.organization_id = ?2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.as_ref().map(user_row))
}

/// Active admins of the organization.
async fn active_admins(
    conn: &mut sqlx::SqliteConnection,
    organization_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE organization_id = ?1 AND role = 'admin' AND status = 'active' AND kind = 'user'",
    )
    .bind(organization_id)
    .fetch_one(&mut *conn)
    .await
}

async fn find_or_create_org(
    tx: &mut sqlx::SqliteConnection,
    name: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let key = name.to_lowercase();
    if let Some(id) =
        sqlx::query_scalar::<_, i64>("SELECT id FROM organizations WHERE name_key = ?1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?
    {
        return Ok(id);
    }
    sqlx::query_scalar(
        "INSERT INTO organizations (name, name_key, created_at) VALUES (?1, ?2, ?3) RETURNING id",
    )
    .bind(name)
    .bind(&key)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
}

async fn insert_person(
    tx: &mut sqlx::SqliteConnection,
    organization_id: i64,
    name: &str,
    email: &str,
    password_hash: &str,
    role: Role,
    now: i64,
) -> Result<i64, CreateAdminError> {
    insert_user(tx, organization_id, name, email, password_hash, role, false, now).await
}

#[allow(clippy::too_many_arguments)]
async fn insert_user(
    tx: &mut sqlx::SqliteConnection,
    organization_id: i64,
    name: &str,
    email: &str,
    password_hash: &str,
    role: Role,
    must_change_password: bool,
    now: i64,
) -> Result<i64, CreateAdminError> {
    sqlx::query_scalar(
        "INSERT INTO users (organization_id, name, email, password_hash, kind, role, status, created_at, \
         must_change_password, password_set_at) VALUES (?1, ?2, ?3, ?4, 'user', ?5, 'active', ?6, ?7, ?6) RETURNING id",
    )
    .bind(organization_id)
    .bind(name)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now)
    .bind(must_change_password)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "users_email") {
            CreateAdminError::EmailTaken
        } else {
            CreateAdminError::Database(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::fresh_store;
    use super::*;

    #[tokio::test]
    async fn setup_runs_once_and_create_admin_reuses_the_organization() {
        let (store, _dir) = fresh_store().await;
        assert!(!store.any_user_exists().await.unwrap());
        store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 1).await.unwrap();
        assert!(store.any_user_exists().await.unwrap());
        assert!(matches!(
            store.setup_first_admin("Other", "Bob", "bob@other.test", "h", 2).await,
            Err(CreateAdminError::AlreadySetUp)
        ));
        store.create_user("ACME", "Cy", "cy@acme.test", "h", Role::Admin, 3).await.unwrap();
        let admin_org = |email: &'static str| {
            let store = store.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT organization_id FROM users WHERE email = ?1")
                    .bind(email)
                    .fetch_one(&store.read)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(admin_org("ada@acme.test").await, admin_org("cy@acme.test").await);
        assert!(matches!(
            store.create_user("Acme", "Ada again", "ada@acme.test", "h", Role::Admin, 4).await,
            Err(CreateAdminError::EmailTaken)
        ));
        // A new organization name makes a new tenant.
        store.create_user("Globex", "Hank", "hank@globex.test", "h", Role::Admin, 5).await.unwrap();
        assert_ne!(admin_org("hank@globex.test").await, admin_org("ada@acme.test").await);
    }

    #[tokio::test]
    async fn users_are_listed_per_organization_with_a_filter() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 1).await.unwrap();
        store.create_user("Globex", "Hank", "hank@globex.test", "h", Role::Admin, 2).await.unwrap();
        let org: i64 = sqlx::query_scalar("SELECT organization_id FROM users WHERE id = ?1")
            .bind(ada)
            .fetch_one(&store.read)
            .await
            .unwrap();
        let page = store.list_users(org, "", 0, 25).await.unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.rows[0].email.as_deref(), Some("ada@acme.test"));
        assert_eq!(page.rows[0].role, Some(Role::Admin));
        assert_eq!(store.list_users(org, "HANK", 0, 25).await.unwrap().total, 0);
        assert_eq!(store.list_users(org, "ADA", 0, 25).await.unwrap().total, 1);
    }

    #[tokio::test]
    async fn guards_keep_an_active_admin_and_stop_self_changes() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 1).await.unwrap();
        let org: i64 = sqlx::query_scalar("SELECT organization_id FROM users WHERE id = ?1")
            .bind(ada)
            .fetch_one(&store.read)
            .await
            .unwrap();
        let refused = |r: Result<UserRow, UserChangeError>, why: &str| match r {
            Err(UserChangeError::Refused(m)) => assert_eq!(m, why),
            other => panic!("expected refusal {why:?}, got {other:?}"),
        };
        refused(store.set_role(org, ada, ada, Role::Member).await, SELF_DEMOTE);
        refused(store.set_status(org, ada, ada, UserStatus::Disabled).await, SELF_DISABLE);
        let bob = store.add_user(org, "Bob", "bob@acme.test", "h", Role::Member, 2).await.unwrap();
        // Bob, promoted, may not demote or disable the only other admin... once Ada is the last.
        store.set_role(org, ada, bob.id, Role::Admin).await.unwrap();
        store.set_role(org, bob.id, ada, Role::ReadOnly).await.unwrap();
        refused(store.set_role(org, ada, bob.id, Role::Member).await, LAST_ADMIN);
        refused(store.set_status(org, ada, bob.id, UserStatus::Disabled).await, LAST_ADMIN);
        // Disabling ends sessions.
        store.create_session(b"bob", bob.id, 10, 3_600).await.unwrap();
        store.set_role(org, bob.id, ada, Role::Admin).await.unwrap();
        let disabled = store.set_status(org, ada, bob.id, UserStatus::Disabled).await.unwrap();
        assert_eq!(disabled.status, UserStatus::Disabled);
        assert!(store.session_user(b"bob", 11, 600, 72 * 3600).await.unwrap().is_none());
        let enabled = store.set_status(org, ada, bob.id, UserStatus::Active).await.unwrap();
        assert_eq!(enabled.status, UserStatus::Active);
        // Another organization's user is unknown here.
        let hank = store
            .create_user("Globex", "Hank", "hank@globex.test", "h", Role::Admin, 3)
            .await
            .unwrap();
        assert!(matches!(
            store.set_status(org, ada, hank, UserStatus::Disabled).await,
            Err(UserChangeError::NotFound)
        ));
        assert!(matches!(
            store.set_role(org, ada, hank, Role::Member).await,
            Err(UserChangeError::NotFound)
        ));
    }

    #[test]
    fn offsets_past_the_end_land_on_the_last_page() {
        assert_eq!(clamp_offset(0, 0, 25), 0);
        assert_eq!(clamp_offset(50, 30, 25), 25);
        assert_eq!(clamp_offset(25, 30, 25), 25);
        assert_eq!(clamp_offset(25, 25, 25), 0);
    }
}
