//! All SQL lives under this module. Server functions and HTTP handlers call these methods
//! and never write a query themselves, so a second backend (PostgreSQL) only touches here.

mod api;
mod lookup;
mod sessions;
mod tokens;
mod users;

pub use api::{FileRecord, TokenAuth};
pub use sessions::SessionUser;
pub use tokens::{CreateTokenError, TokenListing};
pub use users::{CreateAdminError, LoginRecord, UserChangeError};

use std::{
    str::FromStr,
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Sqlite, SqlitePool, Transaction,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH (PostgreSQL support is not built yet)"
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
}

/// The database. Reads go through a pool of connections; writes through a single
/// connection and `BEGIN IMMEDIATE`, so writers queue instead of failing with SQLITE_BUSY.
#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
    lookup: Arc<lookup::Lookup>,
    token_lookups: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, OpenError> {
        Store::connect(url, true).await
    }

    /// Opens the database at `url` without changing its schema, for instances started after
    /// `tokenwell migrate`. Refuses a database whose applied migrations are not exactly this
    /// build's, so that no instance serves on an old (or newer) schema.
    pub async fn open_existing(url: &str) -> Result<Store, OpenError> {
        Store::connect(url, false).await
    }

    async fn connect(url: &str, migrate: bool) -> Result<Store, OpenError> {
        if !url.starts_with("sqlite:") {
            return Err(OpenError::Unsupported(url.to_string()));
        }
        // Readers change nothing, so NORMAL (the WAL default) is all they need; the write
        // connection overrides it below.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(migrate)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .statement_cache_capacity(256);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        // No ping before each use: an embedded database does not drop connections, and the
        // ping would double the round trips of every query.
        // FULL syncs the WAL at every commit: with NORMAL an OS crash or power loss can undo
        // the last commits, such as a revocation the admin already saw succeed.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone().synchronous(SqliteSynchronous::Full))
            .await?;
        if migrate {
            MIGRATIONS.run(&write).await?;
        } else {
            check_migrated(&write).await?;
        }
        let lookup = Arc::new(lookup::Lookup::open(options.get_filename().to_path_buf())?);
        let readers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(readers)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store { read, write, lookup, token_lookups: Arc::default() })
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    /// True while the database answers a query.
    pub async fn ready(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&self.read).await.is_ok()
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// How full each connection pool is, for `/metrics`.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        [("read", &self.read), ("write", &self.write)]
            .into_iter()
            .map(|(name, pool)| PoolStats {
                name,
                size: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            })
            .collect()
    }
}

/// One connection pool's use: `size` open connections, `idle` of them waiting (so
/// `size - idle` in use), at most `max`. Read one after the other, not as one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Succeeds when the database has applied exactly this build's migrations, unchanged, which
/// is what `MIGRATIONS.run` would check before applying the missing ones.
async fn check_migrated(pool: &SqlitePool) -> Result<(), OpenError> {
    use sqlx::migrate::{Migrate, MigrateError};
    let mut conn = pool.acquire().await?;
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                        WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !has_table {
        return Err(OpenError::NotMigrated(MIGRATIONS.iter().map(|m| m.version).collect()));
    }
    if let Some(version) = conn.dirty_version().await.map_err(OpenError::Schema)? {
        return Err(OpenError::Schema(MigrateError::Dirty(version)));
    }
    let applied = conn.list_applied_migrations().await.map_err(OpenError::Schema)?;
    for done in &applied {
        match MIGRATIONS.iter().find(|m| m.version == done.version) {
            None => return Err(OpenError::Schema(MigrateError::VersionMissing(done.version))),
            Some(m) if m.checksum != done.checksum => {
                return Err(OpenError::Schema(MigrateError::VersionMismatch(done.version)))
            }
            Some(_) => {}
        }
    }
    let pending: Vec<i64> = MIGRATIONS
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.iter().any(|done| done.version == *v))
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(OpenError::NotMigrated(pending))
    }
}

/// True when `e` is a unique-constraint violation on the index named `index`.
fn is_unique_violation(e: &sqlx::Error, index: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                && (db.constraint() == Some(index) || db.message().contains(index_columns(index)))
        }
        _ => false,
    }
}

/// SQLite names the columns, not the index, in its unique-violation message.
fn index_columns(index: &str) -> &'static str {
    match index {
        "tokens_active_name" => "tokens.organization_id, tokens.name_key",
        "users_email" => "users.email",
        "organizations_name_key" => "organizations.name_key",
        _ => "\u{0}",
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A fresh, migrated database in its own temporary directory.
    pub async fn fresh_store() -> (Store, TempDir) {
        let dir = TempDir::new();
        let url = format!("sqlite:{}", dir.0.join("test.db").display());
        (Store::open(&url).await.expect("open test database"), dir)
    }

    pub struct TempDir(pub std::path::PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "tokenwell-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::fresh_store;
    use super::*;
    use crate::{domain::TokenName, model::TokenKind, server::token_secret::TokenSecret};

    async fn synchronous(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    async fn writes_are_synced_at_every_commit_and_reads_are_unchanged() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        // 2 is FULL, 1 is NORMAL; still so after the connections have been used.
        assert_eq!(synchronous(&store.write).await, 2);
        assert_eq!(synchronous(&store.read).await, 1);
        let mode: String =
            sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&store.read).await.unwrap();
        assert_eq!(mode, "wal");
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let token =
            store.create_token(1, ada, &TokenName::parse("ci").unwrap(), &secret, 1).await.unwrap();
        store.revoke_token(1, token.id, ada, 2).await.unwrap().unwrap();
        assert_eq!(synchronous(&store.write).await, 2);
        assert_eq!(synchronous(&store.read).await, 1);
        // Reads see the write as before.
        let revoked: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = ?1")
                .bind(token.id)
                .fetch_one(&store.read)
                .await
                .unwrap();
        assert_eq!(revoked, Some(2));
    }

    /// What FULL costs: N token creations and revocations through the store, with the write
    /// connection at NORMAL and then at FULL, on the disk of the temporary directory.
    /// `cargo test -p app --features ssr --release durability_cost -- --ignored --nocapture`
    #[tokio::test]
    #[ignore = "a benchmark; see docs/benchmarks.md"]
    async fn durability_cost() {
        const N: usize = 500;
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        for round in 0..3 {
            for mode in ["NORMAL", "FULL"] {
                sqlx::query(&format!("PRAGMA synchronous = {mode}"))
                    .execute(&store.write)
                    .await
                    .unwrap();
                let started = std::time::Instant::now();
                for i in 0..N {
                    let name = TokenName::parse(&format!("bench-{round}-{mode}-{i}")).unwrap();
                    let secret = TokenSecret::generate(TokenKind::Api).unwrap();
                    let token = store.create_token(1, ada, &name, &secret, 1).await.unwrap();
                    store.revoke_token(1, token.id, ada, 2).await.unwrap().unwrap();
                }
                let per_pair = started.elapsed() / N as u32;
                println!("round {round} synchronous={mode}: {N} creates + {N} revokes, {per_pair:?} per create+revoke");
            }
        }
    }
}
