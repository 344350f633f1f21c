//! All SQL lives under this module: server functions, services and HTTP handlers call these
//! methods and never write a query themselves.
//!
//! Two backends sit behind one `Store`, chosen by the URL scheme at start: SQLite
//! (`sqlite:PATH`, the embedded default, one server process) and PostgreSQL
//! (`postgres://…`, several instances on one database).
//!
//! The shape is an enum over the two backends' pools with a small dispatch (`read_db!`,
//! `write_db!`, `transaction!`): each query is written once, as one SQL text, and compiled once
//! per backend with that backend's native types. Only what truly differs is written per
//! backend: connecting, how a write transaction takes its lock, the token check's fast path
//! on SQLite, and reading a unique violation. A trait with one module per backend would
//! have repeated every query; sqlx's `Any` driver would have hidden the types and the lock.
//!
//! SQL written for both: `$1`-style parameters (SQLite reads them too), booleans compared
//! as booleans (`NOT x`, `x IS NOT NULL`), times as Unix seconds in 64-bit integers,
//! case-insensitive matching on keys lowercased in Rust (Unicode-aware, unlike SQLite's
//! `lower()`), `LIKE … ESCAPE`, `RETURNING`, `ON CONFLICT`.

pub(crate) mod audit;
mod files;
mod postgres;
mod sessions;
mod sqlite;
mod throttle;
mod token_check;
mod tokens;
mod two_factor;
mod users;

pub use audit::Actor;
pub use files::{FileRecord, NewFile};
pub use sessions::SessionUser;
pub use throttle::{Counted, KnownAddress, Verdict};
pub use token_check::TokenAuth;
pub use two_factor::{Pending, Purpose, StoredPasskey, TotpFactor};
pub use users::{LoginRecord, NewPerson};

use std::sync::{atomic::AtomicU64, Arc};

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The acting user is no longer an active admin of the organization: checked inside
    /// every admin's write transaction, so a change racing a demotion cannot land.
    #[error("the acting user is no longer an active admin")]
    NotPermitted,
    #[error("no such row in this organization")]
    NotFound,
    /// A unique rule, by the name of its constraint.
    #[error("duplicate: {0:?}")]
    Duplicate(Unique),
    /// First-run setup has happened already.
    #[error("Tokenwell is already set up")]
    AlreadySetUp,
    /// A rule of the organization refused the change; the text is for the user.
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The SQLite token check's own connection failed.
    #[error(transparent)]
    Lookup(#[from] rusqlite::Error),
    /// The PostgreSQL token check failed.
    #[error("token check: {0}")]
    TokenCheck(String),
}

/// The unique rules a caller may break, named by constraint (the same name on both backends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    /// `tokens_active_name`: active token names, ignoring case, per organization.
    TokenName,
    /// `users_email`: one account per email address, across organizations.
    Email,
    /// `organizations_name_key`.
    OrganizationName,
    /// `setup_once`: first-run setup.
    Setup,
    /// `passkeys_credential`: a passkey belongs to one account.
    Passkey,
}

impl Unique {
    fn from_constraint(name: &str) -> Option<Unique> {
        match name {
            "tokens_active_name" => Some(Unique::TokenName),
            "users_email" => Some(Unique::Email),
            "organizations_name_key" => Some(Unique::OrganizationName),
            "setup_once" => Some(Unique::Setup),
            "passkeys_credential" => Some(Unique::Passkey),
            _ => None,
        }
    }
}

/// Maps a unique violation to the rule it broke; other errors pass through.
fn unique_violation(e: sqlx::Error) -> StoreError {
    let found = match &e {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => db
            .constraint()
            .map(str::to_string)
            .or_else(|| sqlite::constraint_of(db.message()))
            .and_then(|name| Unique::from_constraint(&name)),
        _ => None,
    };
    match found {
        Some(rule) => StoreError::Duplicate(rule),
        None => StoreError::Database(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    Unsupported(String),
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database lacks migrations {}: run `tokenwell migrate` first",
        .0.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotMigrated(Vec<i64>),
    #[error("the database's migrations are not this version's: {0}")]
    Schema(sqlx::migrate::MigrateError),
    #[error("cannot open the database for token checks: {0}")]
    Lookup(#[from] rusqlite::Error),
    #[error("cannot create the database directory: {0}")]
    Directory(#[from] std::io::Error),
    #[error("cannot take the lock that migrations are applied under: {0}")]
    MigrationLock(std::io::Error),
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlite::Pools),
    Postgres(sqlx::PgPool, postgres::TokenChecks),
}

/// The database, on either backend.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    token_lookups: Arc<AtomicU64>,
}

/// Whether opening the store applies pending migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Migrations {
    /// Apply them (the default for `serve`, and what `tokenwell migrate` does).
    Apply,
    /// Refuse to open a database with pending migrations (`serve --no-migrate`, for
    /// several instances that must not race to migrate).
    RequireApplied,
}

/// Runs `$body` with `$db` bound to the backend's pool for reads.
macro_rules! read_db {
    ($store:expr, $db:ident => $body:expr) => {
        match &$store.backend {
            $crate::server::db::Backend::Sqlite(pools) => {
                let $db = &pools.read;
                $body
            }
            $crate::server::db::Backend::Postgres(pool, _) => {
                let $db = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$db` bound to the backend's pool for single-statement writes.
macro_rules! write_db {
    ($store:expr, $db:ident => $body:expr) => {
        match &$store.backend {
            $crate::server::db::Backend::Sqlite(pools) => {
                let $db = &pools.write;
                $body
            }
            $crate::server::db::Backend::Postgres(pool, _) => {
                let $db = pool;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction `$tx`, committed when `$body` finishes (a `?` or
/// `return` inside rolls it back).
///
/// With `lock = ORG`, writers of one organization take turns: SQLite's `BEGIN IMMEDIATE`
/// already serialises every writer; PostgreSQL locks the organization's row. Checks that
/// read before they write (the last active admin, the storage quota) rely on it.
/// With `actor = USER` as well, the transaction first re-checks that USER is still an
/// active admin of ORG (`StoreError::NotPermitted` otherwise).
macro_rules! transaction {
    ($store:expr, lock = $org:expr, actor = $actor:expr, $tx:ident => $body:expr) => {
        $crate::server::db::transaction!(@begin $store, [$org], $tx => {
            if !$crate::server::db::active_admin_check!(&mut *$tx, $org, $actor).await? {
                return Err($crate::server::db::StoreError::NotPermitted.into());
            }
            $body
        })
    };
    ($store:expr, lock = $org:expr, $tx:ident => $body:expr) => {
        $crate::server::db::transaction!(@begin $store, [$org], $tx => $body)
    };
    ($store:expr, $tx:ident => $body:expr) => {
        $crate::server::db::transaction!(@begin $store, [], $tx => $body)
    };
    (@begin $store:expr, [$($org:expr)?], $tx:ident => $body:expr) => {
        match &$store.backend {
            $crate::server::db::Backend::Sqlite(pools) => {
                let mut $tx = pools.write.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::server::db::Backend::Postgres(pool, _) => {
                let mut $tx = pool.begin().await?;
                $(
                    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                        .bind($org)
                        .execute(&mut *$tx)
                        .await?;
                )?
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use {read_db, transaction, write_db};

/// True when `actor` is an active admin of `org`, read inside the caller's transaction.
macro_rules! active_admin_check {
    ($conn:expr, $org:expr, $actor:expr) => {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND organization_id = $2 \
             AND kind = 'user' AND role = 'admin' AND status = 'active')",
        )
        .bind($actor)
        .bind($org)
        .fetch_one($conn)
    };
}

pub(crate) use active_admin_check;

/// Succeeds when the database on `$pool` has applied exactly `$migrator`'s migrations,
/// unchanged (what `Migrator::run` checks before applying missing ones), without changing
/// anything. `$has_table` asks, in the backend's own catalogue, whether any migration ran.
macro_rules! require_applied {
    ($migrator:expr, $pool:expr, $has_table:expr) => {{
        use sqlx::migrate::{Migrate, MigrateError};
        use $crate::server::db::OpenError;
        let mut conn = $pool.acquire().await?;
        let has_table: bool = sqlx::query_scalar($has_table).fetch_one(&mut *conn).await?;
        if !has_table {
            return Err(OpenError::NotMigrated($migrator.iter().map(|m| m.version).collect()));
        }
        if let Some(version) = conn.dirty_version().await.map_err(OpenError::Schema)? {
            return Err(OpenError::Schema(MigrateError::Dirty(version)));
        }
        let applied = conn.list_applied_migrations().await.map_err(OpenError::Schema)?;
        for done in &applied {
            match $migrator.iter().find(|m| m.version == done.version) {
                None => return Err(OpenError::Schema(MigrateError::VersionMissing(done.version))),
                Some(m) if m.checksum != done.checksum => {
                    return Err(OpenError::Schema(MigrateError::VersionMismatch(done.version)))
                }
                Some(_) => {}
            }
        }
        let pending: Vec<i64> = $migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|done| done.version == *v))
            .collect();
        if pending.is_empty() {
            Ok::<(), OpenError>(())
        } else {
            Err(OpenError::NotMigrated(pending))
        }
    }};
}

pub(crate) use require_applied;

impl Store {
    /// Opens the database at `url` (`sqlite:PATH`, created if needed, or `postgres://…`)
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, OpenError> {
        Store::open_with(url, Migrations::Apply).await
    }

    /// Opens the database at `url` without changing its schema, for instances started after
    /// `tokenwell migrate`. Refuses a database whose applied migrations are not exactly this
    /// build's, so that no instance serves on an old (or newer) schema; creates no file.
    pub async fn open_existing(url: &str) -> Result<Store, OpenError> {
        Store::open_with(url, Migrations::RequireApplied).await
    }

    async fn open_with(url: &str, migrations: Migrations) -> Result<Store, OpenError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::Pools::open(url, migrations).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (pool, checks) = postgres::open(url, migrations).await?;
            Backend::Postgres(pool, checks)
        } else {
            return Err(OpenError::Unsupported(redact_url(url)));
        };
        let store = Store { backend, token_lookups: Arc::default() };
        store.fill_name_keys().await?;
        Ok(store)
    }

    /// "sqlite" or "postgres", for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(..) => "postgres",
        }
    }

    /// True while the database answers a query.
    pub async fn ready(&self) -> bool {
        read_db!(self, db => sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db).await.is_ok())
    }

    /// Connections of each pool, for the metrics endpoint.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        fn stats<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                name,
                size: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            }
        }
        match &self.backend {
            Backend::Sqlite(pools) => {
                vec![stats("read", &pools.read), stats("write", &pools.write)]
            }
            Backend::Postgres(pool, _) => vec![stats("postgres", pool)],
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pools) => pools.close().await,
            Backend::Postgres(pool, _) => pool.close().await,
        }
    }
}

/// One connection pool's use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    /// Connections open now (in use + idle).
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:…{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `%`, `_` and `\` match themselves in a `LIKE … ESCAPE '\'` pattern built from `needle`.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Ends a listing's query with its order and one page of `per_page` rows from `offset`.
fn push_page<'a, DB>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    order_by: &str,
    per_page: u32,
    offset: u64,
) where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" ORDER BY ")
        .push(order_by)
        .push(" LIMIT ")
        .push_bind(per_page as i64)
        .push(" OFFSET ")
        .push_bind(offset as i64);
}

/// The first offset of the last page when `offset` is past the end.
fn clamp_offset(offset: u64, total: u64, per_page: u32) -> u64 {
    if offset < total || total == 0 {
        offset
    } else {
        (total - 1) / per_page as u64 * per_page as u64
    }
}

/// Fresh databases for tests, on the backend the environment asks for.
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TestDatabase;

    /// `tokenwell serve` and `tokenwell create-admin` started together on a new database (as
    /// a container's start script may do) both apply the migrations: neither may find the
    /// other's tables half made and fail with "table … already exists". Each backend has its
    /// own lock for it: a lock file on SQLite (`sqlite::migration_lock`), sqlx's advisory lock
    /// on PostgreSQL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_may_open_a_new_database_at_once() {
        for round in 0..10 {
            let db = TestDatabase::create().await;
            let (first, second) = tokio::join!(Store::open(&db.url), Store::open(&db.url));
            for store in [first, second] {
                let store = store.unwrap_or_else(|e| panic!("round {round}: {e}"));
                store.close().await;
            }
        }
    }

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn offsets_past_the_end_land_on_the_last_page() {
        assert_eq!(clamp_offset(0, 0, 25), 0);
        assert_eq!(clamp_offset(50, 30, 25), 25);
        assert_eq!(clamp_offset(25, 30, 25), 25);
        assert_eq!(clamp_offset(25, 25, 25), 0);
    }

    #[test]
    fn urls_in_messages_carry_no_password() {
        assert_eq!(redact_url("postgres://tw:s3cret@db:5432/tw"), "postgres://tw:…@db:5432/tw");
        assert_eq!(redact_url("postgres://tw@db/tw"), "postgres://tw@db/tw");
        assert_eq!(redact_url("mysql://host/db"), "mysql://host/db");
    }
}
