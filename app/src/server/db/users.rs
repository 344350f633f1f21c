//! Organizations and users.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{
    audit::{carrying_event, record_event, Actor, Event},
    clamp_offset, contains_pattern, push_page, read_db, transaction,
    two_factor::remove_second_factors,
    unique_violation, write_db, Store, StoreError, Unique,
};
use crate::model::{
    AuditAction, Choice, LinkedToken, OrgId, Page, Role, TargetKind, TokenId, UserId, UserKind,
    UserRow, UserStatus, USERS_PER_PAGE,
};

/// What sign-in needs to know about an email address.
#[derive(Debug, sqlx::FromRow)]
pub struct LoginRecord {
    pub user_id: UserId,
    pub organization_id: OrgId,
    pub name: String,
    pub password_hash: Option<String>,
    pub active: bool,
    /// The password is an initial one that an admin generated.
    pub must_change_password: bool,
    pub password_set_at: Option<i64>,
}

pub const SELF_DEMOTE: &str = "You cannot change your own role. Ask another admin to do it.";
pub const SELF_DISABLE: &str = "You cannot disable yourself. Ask another admin to do it.";
pub const SERVICE_ROLE: &str =
    "Forwarder Service Accounts have no role: they can only ingest files.";
pub const SERVICE_PASSWORD: &str =
    "Forwarder Service Accounts have no password: they never sign in.";
pub const SELF_RESET: &str = "Change your own password on your account page.";
pub const SELF_TWO_FACTOR: &str = "Manage your own two-factor authentication on your account page.";
pub const NO_SECOND_FACTOR: &str = "This user has no second factor to reset.";

/// A listed user's columns, by name, with a Forwarder Service Account's token (a person's
/// row joins nothing). A macro, so `concat!` can extend it.
macro_rules! user_select {
    () => {
        "SELECT u.id AS id, u.name AS name, u.email AS email, u.kind AS kind, u.role AS role, \
         u.status AS status, u.created_at AS created_at, t.id AS token_id, \
         t.name AS token_name, t.revoked_at IS NOT NULL AS token_revoked, \
         (EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = u.id AND f.enabled_at IS NOT NULL) \
          OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)) AS two_factor \
         FROM users u LEFT JOIN tokens t ON t.principal_id = u.id AND u.kind = 'forwarder'"
    };
}

#[derive(sqlx::FromRow)]
struct UserRecord {
    id: i64,
    name: String,
    email: Option<String>,
    kind: String,
    role: Option<String>,
    status: String,
    created_at: i64,
    token_id: Option<i64>,
    token_name: Option<String>,
    token_revoked: bool,
    two_factor: bool,
}

impl From<UserRecord> for UserRow {
    fn from(r: UserRecord) -> UserRow {
        UserRow {
            id: UserId(r.id),
            name: r.name,
            email: r.email,
            kind: UserKind::parse(&r.kind).unwrap_or(UserKind::User),
            role: r.role.as_deref().and_then(Role::parse),
            status: UserStatus::parse(&r.status).unwrap_or(UserStatus::Disabled),
            created_at: r.created_at,
            token: r.token_id.map(|id| LinkedToken {
                id: TokenId(id),
                name: r.token_name.unwrap_or_default(),
                revoked: r.token_revoked,
            }),
            two_factor: r.two_factor,
        }
    }
}

/// One user of the organization, on any connection or pool of either backend; with
/// `recording [ORG, ACTOR, EVENT, NOW]`, on a transaction, the read-back after a change that
/// also appends the change's event (`carrying_event!`).
macro_rules! user_row {
    ($conn:expr, $org:expr, $id:expr) => {
        async {
            sqlx::query_as::<_, UserRecord>(concat!(
                user_select!(),
                " WHERE u.id = $1 AND u.organization_id = $2"
            ))
            .bind($id)
            .bind($org)
            .fetch_optional($conn)
            .await
            .map(|r| r.map(UserRow::from))
        }
    };
    ($conn:expr, $org:expr, $id:expr, recording $event:tt) => {
        async {
            carrying_event!(
                $conn,
                $event,
                concat!(user_select!(), " WHERE u.id = $1 AND u.organization_id = $2"),
                2,
                |sql| sqlx::query_as::<_, UserRecord>(sql).bind($id).bind($org),
                fetch_optional
            )
            .map(|r| r.map(UserRow::from))
        }
    };
}

/// Ends every session of `user` (disabled, or their password changed); with
/// `recording [ORG, ACTOR, EVENT, NOW]`, after the change that ends them, also appends the
/// change's event (`carrying_event!`).
macro_rules! end_sessions {
    ($conn:expr, $user:expr) => {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind($user).execute($conn)
    };
    ($conn:expr, $user:expr, recording $event:tt) => {
        async {
            carrying_event!(
                $conn,
                $event,
                "DELETE FROM sessions WHERE user_id = $1",
                1,
                |sql| sqlx::query(sql).bind($user),
                execute
            )
        }
    };
}

/// The organization named `name` (ignoring case), created when there is none; and whether
/// it was created now.
macro_rules! find_or_create_org {
    ($conn:expr, $name:expr, $now:expr) => {
        async {
            let name: &str = $name;
            let key = name.to_lowercase();
            let created = sqlx::query(
                "INSERT INTO organizations (name, name_key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name_key) DO NOTHING",
            )
            .bind(name)
            .bind(&key)
            .bind($now)
            .execute(&mut *$conn)
            .await?
            .rows_affected()
                == 1;
            sqlx::query_scalar::<_, OrgId>("SELECT id FROM organizations WHERE name_key = $1")
                .bind(&key)
                .fetch_one(&mut *$conn)
                .await
                .map(|id| (id, created))
        }
    };
}

/// Adds a person; `must_change` for an initial password an admin generated.
macro_rules! insert_person {
    ($conn:expr, $org:expr, $new:expr, $role:expr, $must_change:expr, $now:expr) => {
        async {
            let new: &NewPerson<'_> = $new;
            sqlx::query_scalar::<_, UserId>(
                "INSERT INTO users (organization_id, name, name_key, email, password_hash, kind, \
                 role, status, created_at, must_change_password, password_set_at) \
                 VALUES ($1, $2, $3, $4, $5, 'user', $6, 'active', $7, $8, $7) RETURNING id",
            )
            .bind($org)
            .bind(new.name)
            .bind(new.name.to_lowercase())
            .bind(new.email)
            .bind(new.password_hash)
            .bind($role.as_str())
            .bind($now)
            .bind($must_change)
            .fetch_one(&mut *$conn)
            .await
            .map_err(unique_violation)
        }
    };
}

/// A person to add: name and email already validated, the password already hashed.
#[derive(Clone, Copy, Debug)]
pub struct NewPerson<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

/// The users listing with only the conditions it uses; with `page`, that page's rows:
/// people first, then service accounts, each oldest first.
fn listing<'a, DB>(
    select: &str,
    organization: OrgId,
    needle: &str,
    page: Option<(u32, u64)>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    OrgId: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(select);
    qb.push(" WHERE u.organization_id = ").push_bind(organization);
    if !needle.is_empty() {
        let pattern = contains_pattern(needle);
        qb.push(" AND (u.name_key LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR u.email LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some((per_page, offset)) = page {
        push_page(&mut qb, "u.kind = 'forwarder', u.id", per_page, offset);
    }
    qb
}

impl Store {
    pub async fn any_user_exists(&self) -> Result<bool, StoreError> {
        Ok(
            read_db!(self, db => sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(db)
            .await?),
        )
    }

    /// First-run setup: the organization and its first admin, once, and only while no user
    /// exists. The `setup` table's single row makes a concurrent second setup fail.
    /// Recorded as "Organization created" by the new admin, from `address`.
    pub async fn setup_first_admin(
        &self,
        organization: &str,
        admin: NewPerson<'_>,
        address: Option<std::net::IpAddr>,
        now: i64,
    ) -> Result<UserId, StoreError> {
        Ok(transaction!(self, tx => {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
                .fetch_one(&mut *tx)
                .await?;
            if exists {
                return Err(StoreError::AlreadySetUp);
            }
            sqlx::query("INSERT INTO setup (id, completed_at) VALUES (1, $1)")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| match unique_violation(e) {
                    StoreError::Duplicate(Unique::Setup) => StoreError::AlreadySetUp,
                    other => other,
                })?;
            let (org, _) = find_or_create_org!(tx, organization, now).await?;
            let id = insert_person!(tx, org, &admin, Role::Admin, false, now).await?;
            let actor = Actor::user(id, admin.name, address);
            let event = Event::new(AuditAction::OrganizationCreated)
                .on(TargetKind::Organization, org.0, organization);
            record_event!(&mut *tx, org, &actor, event, now)?;
            id
        }))
    }

    /// `tokenwell create-admin` / `create-user`: adds a person, creating the organization
    /// when no organization of that name (ignoring case) exists. Recorded as "User added"
    /// by the command line, after "Organization created" for a new organization.
    pub async fn create_user(
        &self,
        organization: &str,
        person: NewPerson<'_>,
        role: Role,
        now: i64,
    ) -> Result<UserId, StoreError> {
        Ok(transaction!(self, tx => {
            let (org, created) = find_or_create_org!(tx, organization, now).await?;
            let by = Actor::command_line();
            if created {
                let event = Event::new(AuditAction::OrganizationCreated)
                    .on(TargetKind::Organization, org.0, organization);
                record_event!(&mut *tx, org, &by, event, now)?;
            }
            let id = insert_person!(tx, org, &person, role, false, now).await?;
            let event =
                Event::new(AuditAction::UserAdded).on(TargetKind::User, id.0, person.name).detail(role.label());
            record_event!(&mut *tx, org, &by, event, now)?;
            id
        }))
    }

    /// What sign-in needs to know about a person, and their email, by id (a half-finished
    /// sign-in knows the id).
    pub async fn person_by_id(
        &self,
        user: UserId,
    ) -> Result<Option<(LoginRecord, String)>, StoreError> {
        let record = read_db!(self, db => sqlx::query_as::<_, LoginRecord>(
            "SELECT id AS user_id, organization_id, name, password_hash, status = 'active' AS active, \
             must_change_password, password_set_at FROM users WHERE id = $1 AND kind = 'user'",
        )
        .bind(user)
        .fetch_optional(db)
        .await?);
        let Some(record) = record else { return Ok(None) };
        let email = read_db!(self, db => sqlx::query_scalar::<_, Option<String>>(
            "SELECT email FROM users WHERE id = $1",
        )
        .bind(user)
        .fetch_one(db)
        .await?);
        Ok(email.map(|email| (record, email)))
    }

    pub async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_as::<_, LoginRecord>(
            "SELECT id AS user_id, organization_id, name, password_hash, status = 'active' AS active, \
             must_change_password, password_set_at FROM users WHERE email = $1 AND kind = 'user'",
        )
        .bind(email)
        .fetch_optional(db)
        .await?))
    }

    /// A page of the organization's users, optionally filtered by part of the name or
    /// email, ignoring case (lowercased here, Unicode-aware, as token names are).
    pub async fn list_users(
        &self,
        organization: OrgId,
        q: &str,
        page: u32,
        now: i64,
    ) -> Result<Page<UserRow>, StoreError> {
        let needle = q.trim().to_lowercase();
        let per_page = USERS_PER_PAGE;
        let requested = (page.max(1) as u64 - 1) * per_page as u64;
        const COUNT: &str = "SELECT count(*) FROM users u";
        let (total, rows, offset) = read_db!(self, db => {
            let total: i64 = listing(COUNT, organization, &needle, None)
                .build_query_scalar()
                .fetch_one(db)
                .await?;
            let total = total.max(0) as u64;
            let offset = clamp_offset(requested, total, per_page);
            let rows = listing(user_select!(), organization, &needle, Some((per_page, offset)))
                .build_query_as::<UserRecord>()
                .fetch_all(db)
                .await?;
            (total, rows, offset)
        });
        Ok(Page {
            rows: rows.into_iter().map(UserRow::from).collect(),
            total,
            more: false,
            page: (offset / per_page as u64) as u32 + 1,
            per_page,
            now,
        })
    }

    /// An admin adds a person, who must set their own password at first sign-in.
    pub async fn add_user(
        &self,
        organization: OrgId,
        by: &Actor,
        person: NewPerson<'_>,
        role: Role,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            let id = insert_person!(tx, organization, &person, role, true, now).await?;
            let event = Event::new(AuditAction::UserAdded)
                .on(TargetKind::User, id.0, person.name)
                .detail(role.label());
            user_row!(&mut *tx, organization, id, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?
        }))
    }

    /// Changes a person's role. Nobody changes their own. The organization always keeps an
    /// active admin: the actor is one (checked in the transaction, and the organization's
    /// writers take turns), and nobody demotes or disables themselves.
    pub async fn set_role(
        &self,
        organization: OrgId,
        by: &Actor,
        user: UserId,
        role: Role,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            let found = user_row!(&mut *tx, organization, user).await?.ok_or(StoreError::NotFound)?;
            if found.kind == UserKind::Forwarder {
                return Err(StoreError::Refused(SERVICE_ROLE));
            }
            if found.role == Some(role) {
                return Ok(found);
            }
            if user == actor {
                return Err(StoreError::Refused(SELF_DEMOTE));
            }
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2 AND organization_id = $3")
                .bind(role.as_str())
                .bind(user)
                .bind(organization)
                .execute(&mut *tx)
                .await?;
            let old = found.role.map(Role::label).unwrap_or("none");
            let event = Event::new(AuditAction::RoleChanged)
                .on(TargetKind::User, user.0, &found.name)
                .detail(format!("{old} → {}", role.label()));
            user_row!(&mut *tx, organization, user, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?
        }))
    }

    /// Disables or enables a person or a Forwarder Service Account. Disabling ends the
    /// person's sessions; their tokens fail from the next request because every check
    /// reads the principal's status.
    pub async fn set_status(
        &self,
        organization: OrgId,
        by: &Actor,
        user: UserId,
        status: UserStatus,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            let found = user_row!(&mut *tx, organization, user).await?.ok_or(StoreError::NotFound)?;
            if found.status == status {
                return Ok(found);
            }
            if status == UserStatus::Disabled {
                if user == actor {
                    return Err(StoreError::Refused(SELF_DISABLE));
                }
                end_sessions!(&mut *tx, user).await?;
            }
            sqlx::query("UPDATE users SET status = $1 WHERE id = $2 AND organization_id = $3")
                .bind(status.as_str())
                .bind(user)
                .bind(organization)
                .execute(&mut *tx)
                .await?;
            let action = match status {
                UserStatus::Disabled => AuditAction::UserDisabled,
                UserStatus::Active => AuditAction::UserEnabled,
            };
            let event = Event::new(action).on(TargetKind::User, user.0, &found.name);
            user_row!(&mut *tx, organization, user, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?
        }))
    }

    /// An admin removes a person's second factors (authenticator app, recovery codes,
    /// passkeys), for someone who lost them all; their sessions end. Recorded as "Two-factor
    /// disabled". Not for oneself (the account page asks for the password).
    pub async fn reset_two_factor(
        &self,
        organization: OrgId,
        by: &Actor,
        user: UserId,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            let found = user_row!(&mut *tx, organization, user).await?.ok_or(StoreError::NotFound)?;
            if user == actor {
                return Err(StoreError::Refused(SELF_TWO_FACTOR));
            }
            let removed = remove_second_factors!(&mut *tx, user);
            if removed == 0 {
                return Err(StoreError::Refused(NO_SECOND_FACTOR));
            }
            end_sessions!(&mut *tx, user).await?;
            let event = Event::new(AuditAction::TwoFactorDisabled)
                .on(TargetKind::User, user.0, &found.name)
                .detail("reset by an admin");
            user_row!(&mut *tx, organization, user, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?
        }))
    }

    pub async fn password_hash(&self, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(read_db!(self, db => sqlx::query_scalar::<_, Option<String>>(
            "SELECT password_hash FROM users WHERE id = $1 AND kind = 'user'",
        )
        .bind(user)
        .fetch_optional(db)
        .await?)
        .flatten())
    }

    /// Sets the password a person chose and ends every session of theirs; the caller starts
    /// a new one (a new session id) for the request that made the change.
    /// Recorded as "Password changed" by the person (`by`).
    pub async fn set_password(
        &self,
        organization: OrgId,
        by: &Actor,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = by.acting_user()?;
        transaction!(self, tx => {
            let changed = sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = FALSE, \
                 password_set_at = $3 WHERE id = $2 AND organization_id = $4 AND kind = 'user'",
            )
            .bind(password_hash)
            .bind(user)
            .bind(now)
            .bind(organization)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                return Err(StoreError::NotFound);
            }
            let event = Event::new(AuditAction::PasswordChanged).on(TargetKind::User, user.0, &by.name);
            end_sessions!(&mut *tx, user, recording [organization, by, event, now]).await?;
        });
        Ok(())
    }

    /// An admin gives a person a new initial password (generated by the caller), which they
    /// must replace at their next sign-in; their sessions end. Not for oneself (the account
    /// page is for that) nor for a service account, which has no password.
    pub async fn reset_password(
        &self,
        organization: OrgId,
        by: &Actor,
        user: UserId,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let actor = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = actor, tx => {
            let found = user_row!(&mut *tx, organization, user).await?.ok_or(StoreError::NotFound)?;
            if found.kind == UserKind::Forwarder {
                return Err(StoreError::Refused(SERVICE_PASSWORD));
            }
            if user == actor {
                return Err(StoreError::Refused(SELF_RESET));
            }
            sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = TRUE, \
                 password_set_at = $2 WHERE id = $3 AND organization_id = $4",
            )
            .bind(password_hash)
            .bind(now)
            .bind(user)
            .bind(organization)
            .execute(&mut *tx)
            .await?;
            let event = Event::new(AuditAction::PasswordChanged)
                .on(TargetKind::User, user.0, &found.name)
                .detail("reset to a new initial password");
            end_sessions!(&mut *tx, user, recording [organization, by, event, now]).await?;
            found
        }))
    }

    /// Gives rows from before the `name_key` column their key: lowercased here, not in SQL,
    /// because SQLite's `lower()` only knows ASCII.
    pub(super) async fn fill_name_keys(&self) -> Result<(), sqlx::Error> {
        let missing: Vec<(UserId, String)> = read_db!(self, db => sqlx::query_as(
            "SELECT id, name FROM users WHERE name_key IS NULL",
        )
        .fetch_all(db)
        .await?);
        for (id, name) in missing {
            write_db!(self, db => sqlx::query("UPDATE users SET name_key = $1 WHERE id = $2")
                .bind(name.to_lowercase())
                .bind(id)
                .execute(db)
                .await
                .map(|_| ())?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{by, fresh_store, org_of, person};
    use super::*;

    #[tokio::test]
    async fn setup_runs_once_and_create_admin_reuses_the_organization() {
        let (store, _db) = fresh_store().await;
        assert!(!store.any_user_exists().await.unwrap());
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 1).await.unwrap();
        assert!(store.any_user_exists().await.unwrap());
        assert!(matches!(
            store.setup_first_admin("Other", person("Bob", "bob@other.test"), None, 2).await,
            Err(StoreError::AlreadySetUp)
        ));
        let cy =
            store.create_user("ACME", person("Cy", "cy@acme.test"), Role::Admin, 3).await.unwrap();
        assert_eq!(org_of(&store, ada).await, org_of(&store, cy).await);
        assert!(matches!(
            store.create_user("Acme", person("Ada again", "ada@acme.test"), Role::Admin, 4).await,
            Err(StoreError::Duplicate(Unique::Email))
        ));
        // A new organization name makes a new tenant.
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 5)
            .await
            .unwrap();
        assert_ne!(org_of(&store, hank).await, org_of(&store, ada).await);
    }

    #[tokio::test]
    async fn concurrent_setups_make_one_organization() {
        let (store, _db) = fresh_store().await;
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let (org, email) = (format!("Org {i}"), format!("admin{i}@example.test"));
                    store.setup_first_admin(&org, person("Admin", &email), None, 1).await
                })
            })
            .collect();
        let mut made = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => made += 1,
                Err(StoreError::AlreadySetUp) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(made, 1);
        assert_eq!(store.scalar_for_test("SELECT count(*) FROM organizations", &[]).await, 1);
    }

    #[tokio::test]
    async fn users_are_listed_per_organization_with_a_filter_that_ignores_case() {
        let (store, _db) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 1).await.unwrap();
        store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 2)
            .await
            .unwrap();
        let org = org_of(&store, ada).await;
        let page = store.list_users(org, "", 1, 0).await.unwrap();
        assert_eq!((page.total, page.page), (1, 1));
        assert_eq!(page.rows[0].email.as_deref(), Some("ada@acme.test"));
        assert_eq!(page.rows[0].role, Some(Role::Admin));
        assert_eq!(store.list_users(org, "HANK", 1, 0).await.unwrap().total, 0);
        assert_eq!(store.list_users(org, "ADA", 1, 0).await.unwrap().total, 1);
        // Beyond ASCII, on both backends alike; wildcards are plain characters.
        store
            .add_user(org, &by(ada), person("Ärger Öztürk", "aerger@acme.test"), Role::Member, 3)
            .await
            .unwrap();
        for (q, found) in [("ärger", 1), ("ÄRGER ÖZ", 1), ("öztürk", 1), ("%", 0), ("_", 0)] {
            assert_eq!(store.list_users(org, q, 1, 0).await.unwrap().total, found, "{q}");
        }
        assert_eq!(store.list_users(org, "ACME.TEST", 1, 0).await.unwrap().total, 2);
        // Past the last page: the last page.
        assert_eq!(store.list_users(org, "", 9, 0).await.unwrap().page, 1);
    }

    #[tokio::test]
    async fn guards_keep_an_active_admin_and_stop_self_changes() {
        let (store, _db) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 1).await.unwrap();
        let org = org_of(&store, ada).await;
        let refused = |r: Result<UserRow, StoreError>, why: &str| match r {
            Err(StoreError::Refused(m)) => assert_eq!(m, why),
            other => panic!("expected refusal {why:?}, got {other:?}"),
        };
        refused(store.set_role(org, &by(ada), ada, Role::Member, 0).await, SELF_DEMOTE);
        refused(store.set_status(org, &by(ada), ada, UserStatus::Disabled, 0).await, SELF_DISABLE);
        let bob = store
            .add_user(org, &by(ada), person("Bob", "bob@acme.test"), Role::Member, 2)
            .await
            .unwrap();
        // Bob, promoted, may demote Ada; then Bob is the last active admin.
        store.set_role(org, &by(ada), bob.id, Role::Admin, 0).await.unwrap();
        store.set_role(org, &by(bob.id), ada, Role::ReadOnly, 0).await.unwrap();
        // Ada is no admin any more: her changes are refused inside the transaction.
        assert!(matches!(
            store.set_role(org, &by(ada), bob.id, Role::Member, 0).await,
            Err(StoreError::NotPermitted)
        ));
        refused(
            store.set_status(org, &by(bob.id), bob.id, UserStatus::Disabled, 0).await,
            SELF_DISABLE,
        );
        let cy = store
            .add_user(org, &by(bob.id), person("Cy", "cy@acme.test"), Role::Admin, 3)
            .await
            .unwrap();
        store.set_role(org, &by(cy.id), bob.id, Role::Member, 0).await.unwrap();
        refused(store.set_role(org, &by(cy.id), cy.id, Role::Member, 0).await, SELF_DEMOTE);
        // Disabling ends sessions.
        store.create_session(b"bob", bob.id, 10, 3_600, None).await.unwrap();
        let disabled =
            store.set_status(org, &by(cy.id), bob.id, UserStatus::Disabled, 0).await.unwrap();
        assert_eq!(disabled.status, UserStatus::Disabled);
        assert!(store.session_user(b"bob", 11, 600, 72 * 3600).await.unwrap().is_none());
        let enabled =
            store.set_status(org, &by(cy.id), bob.id, UserStatus::Active, 0).await.unwrap();
        assert_eq!(enabled.status, UserStatus::Active);
        // Another organization's user is unknown here.
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 3)
            .await
            .unwrap();
        assert!(matches!(
            store.set_status(org, &by(cy.id), hank, UserStatus::Disabled, 0).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.set_role(org, &by(cy.id), hank, Role::Member, 0).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn concurrent_demotions_leave_an_active_admin() {
        let (store, _db) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 1).await.unwrap();
        let org = org_of(&store, ada).await;
        let bob = store
            .add_user(org, &by(ada), person("Bob", "bob@acme.test"), Role::Admin, 2)
            .await
            .unwrap()
            .id;
        // Each demotes the other at the same moment: one of them must stay an admin.
        let (by_ada, by_bob) = (by(ada), by(bob));
        let (a, b) = tokio::join!(
            store.set_role(org, &by_ada, bob, Role::Member, 0),
            store.set_role(org, &by_bob, ada, Role::Member, 0)
        );
        assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
        let admins = store
            .scalar_for_test(
                "SELECT count(*) FROM users WHERE organization_id = $1 AND role = 'admin'",
                &[org.0],
            )
            .await;
        assert_eq!(admins, 1);
    }
}
