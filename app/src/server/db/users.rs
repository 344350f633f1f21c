//! Organizations and users.

use sqlx::Row;

use super::{is_unique_violation, Store};
use crate::model::{Role, UserKind, UserPage, UserRow, UserStatus};

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
        let exists: i64 = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await?;
        if exists != 0 {
            return Err(CreateAdminError::AlreadySetUp);
        }
        let org_id = find_or_create_org(&mut tx, organization, now).await?;
        let user_id = insert_person(&mut tx, org_id, name, email, password_hash, Role::Admin, now).await?;
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
            "SELECT id, password_hash, status FROM users WHERE email = ?1 AND kind = 'user'",
        )
        .bind(email)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| LoginRecord {
            user_id: r.get(0),
            password_hash: r.get(1),
            active: r.get::<String, _>(2) == "active",
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
        const FILTER: &str = "organization_id = ?1 AND (?2 = '' OR instr(lower(name), ?2) > 0 \
                              OR instr(coalesce(email, ''), ?2) > 0)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM users WHERE {FILTER}"))
            .bind(organization_id)
            .bind(&q)
            .fetch_one(&self.read)
            .await?;
        let offset = clamp_offset(offset, total as u64, limit);
        let rows = sqlx::query(&format!(
            "SELECT id, name, email, kind, role, status, created_at FROM users WHERE {FILTER} \
             ORDER BY kind = 'forwarder', id LIMIT ?3 OFFSET ?4"
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

/// The first offset of the last page when `offset` is past the end.
pub(super) fn clamp_offset(offset: u64, total: u64, per_page: u32) -> u64 {
    if offset < total || total == 0 {
        offset
    } else {
        (total - 1) / per_page as u64 * per_page as u64
    }
}

fn user_row(r: &sqlx::sqlite::SqliteRow) -> UserRow {
    UserRow {
        id: r.get(0),
        name: r.get(1),
        email: r.get(2),
        kind: UserKind::parse(r.get(3)).unwrap_or(UserKind::User),
        role: r.get::<Option<String>, _>(4).and_then(|s| Role::parse(&s)),
        status: UserStatus::parse(r.get(5)).unwrap_or(UserStatus::Disabled),
        created_at: r.get(6),
    }
}

async fn find_or_create_org(
    tx: &mut sqlx::SqliteConnection,
    name: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let key = name.to_lowercase();
    if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM organizations WHERE name_key = ?1")
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(id);
    }
    sqlx::query_scalar("INSERT INTO organizations (name, name_key, created_at) VALUES (?1, ?2, ?3) RETURNING id")
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
    sqlx::query_scalar(
        "INSERT INTO users (organization_id, name, email, password_hash, kind, role, status, created_at) \
         VALUES (?1, ?2, ?3, ?4, 'user', ?5, 'active', ?6) RETURNING id",
    )
    .bind(organization_id)
    .bind(name)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now)
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

    #[test]
    fn offsets_past_the_end_land_on_the_last_page() {
        assert_eq!(clamp_offset(0, 0, 25), 0);
        assert_eq!(clamp_offset(50, 30, 25), 25);
        assert_eq!(clamp_offset(25, 30, 25), 25);
        assert_eq!(clamp_offset(25, 25, 25), 0);
    }
}
