//! The SQLite backend: the embedded default, one server process on one file.
//!
//! Reads go through a pool of read-only connections; writes through a single connection
//! and `BEGIN IMMEDIATE`, so writers queue instead of failing with SQLITE_BUSY. The token
//! check has its own synchronous path (`lookup.rs`).

mod lookup;

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};

pub(super) use lookup::Lookup;

use super::{require_applied, Migrations, OpenError};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone, Debug)]
pub(super) struct Pools {
    pub(super) read: SqlitePool,
    pub(super) write: SqlitePool,
    pub(super) lookup: Arc<Lookup>,
}

impl Pools {
    pub(super) async fn open(url: &str, migrations: Migrations) -> Result<Pools, OpenError> {
        // Readers change nothing, so NORMAL (the WAL default) is all they need; the write
        // connection overrides it below.
        // A database that must be migrated already is never created.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(migrations == Migrations::Apply)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .statement_cache_capacity(256);
        if let Some(dir) = options.get_filename().parent() {
            if migrations == Migrations::Apply && !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        // Held until the migrations are applied, so that processes opening one new database
        // at once take turns (sqlx migrates SQLite without a lock of its own).
        let migrating = match migrations {
            Migrations::Apply => Some(
                migration_lock(options.get_filename()).await.map_err(OpenError::MigrationLock)?,
            ),
            Migrations::RequireApplied => None,
        };
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
        match migrations {
            Migrations::Apply => MIGRATIONS.run(&write).await?,
            Migrations::RequireApplied => require_applied!(
                MIGRATIONS,
                &write,
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations')"
            )?,
        }
        drop(migrating);
        let lookup = Arc::new(Lookup::open(options.get_filename().to_path_buf())?);
        let readers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(readers)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Pools { read, write, lookup })
    }

    pub(super) async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// An exclusive lock on `<database>.migrate-lock`, taken by every process before it creates
/// or migrates the database and held until it is done. sqlx's SQLite migrator reads which
/// migrations are applied and then applies the others, with nothing in between that stops a
/// second process doing the same: `tokenwell serve` and `tokenwell create-admin` started
/// together on a new file both ran migration 1, and one failed with "table … already exists".
/// (On PostgreSQL sqlx takes an advisory lock for this.) The file stays: removing it would let
/// a process that waits on the old file and one that creates a new one hold "the" lock at once.
/// Released when the returned file is dropped, or when the process ends, whatever happens.
async fn migration_lock(database: &Path) -> std::io::Result<File> {
    let mut name = database.as_os_str().to_owned();
    name.push(".migrate-lock");
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).open(PathBuf::from(name))?;
    // Waits as long as the other process migrates; off the async threads.
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(std::io::Error::other)?
}

/// SQLite names the columns, not the index, in its unique-violation message
/// ("UNIQUE constraint failed: tokens.organization_id, tokens.name_key"): the index each
/// column list belongs to, so violations map by constraint name on both backends.
pub(super) fn constraint_of(message: &str) -> Option<String> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    let name = match columns {
        "tokens.organization_id, tokens.name_key" => "tokens_active_name",
        "users.email" => "users_email",
        "organizations.name_key" => "organizations_name_key",
        "setup.id" => "setup_once",
        "passkeys.credential_id" => "passkeys_credential",
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{test_support::fresh_sqlite_store, Backend};

    async fn synchronous(pool: &sqlx::SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    async fn writes_are_synced_at_every_commit_and_reads_are_unchanged() {
        let (store, _dir) = fresh_sqlite_store().await;
        let Backend::Sqlite(pools) = &store.backend else { unreachable!() };
        // 2 is FULL, 1 is NORMAL.
        assert_eq!(synchronous(&pools.write).await, 2);
        assert_eq!(synchronous(&pools.read).await, 1);
        let mode: String =
            sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pools.read).await.unwrap();
        assert_eq!(mode, "wal");
    }

    /// Migration 6 rebuilds `tokens` (and `files`, which references it): a database with
    /// tokens, a revoked one and files comes out with every row, the references intact and
    /// the revoked token's reason filled in.
    #[tokio::test]
    async fn the_audit_migration_keeps_tokens_and_files() {
        use sqlx::sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let db = crate::server::db::test_support::TestDatabase::create_sqlite();
        let options = SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let mut before = sqlx::migrate::Migrator::DEFAULT;
        before.migrations = super::MIGRATIONS.iter().filter(|m| m.version < 6).cloned().collect();
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO organizations (id, name, name_key, created_at) VALUES (1, 'Acme', 'acme', 0)",
            "INSERT INTO users (id, organization_id, name, name_key, email, password_hash, kind, role, created_at) \
             VALUES (1, 1, 'Ada', 'ada', 'ada@acme.test', 'x', 'user', 'admin', 0)",
            "INSERT INTO tokens (id, organization_id, kind, name, name_key, hint, digest, created_by, principal_id, created_at) \
             VALUES (1, 1, 'api', 'cli', 'cli', 'abcd', x'01', 1, 1, 5)",
            "INSERT INTO tokens (id, organization_id, kind, name, name_key, hint, digest, created_by, principal_id, created_at, revoked_at, revoked_by) \
             VALUES (2, 1, 'api', 'old', 'old', 'efgh', x'02', 1, 1, 5, 9, 1)",
            "INSERT INTO files (id, organization_id, name, size, sha256, token_id, principal_id, created_at) \
             VALUES (1, 1, 'f', 3, 'ab', 1, 1, 6)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = crate::server::Store::open(&db.url).await.unwrap();
        let count = |sql: &'static str| store.scalar_for_test(sql, &[]);
        assert_eq!(count("SELECT count(*) FROM tokens").await, 2);
        assert_eq!(
            count("SELECT count(*) FROM tokens WHERE id = 2 AND revoked_reason = 'revoked'").await,
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM tokens WHERE id = 1 AND revoked_reason IS NULL").await,
            1
        );
        assert_eq!(count("SELECT count(*) FROM files WHERE token_id = 1").await, 1);
        assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check").await, 0);
        assert_eq!(
            count("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%tokens_old%' OR sql LIKE '%files_old%'").await,
            0
        );
        // The rebuilt tables keep their indexes, and files still refuse an unknown token.
        assert_eq!(
            count("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN \
                   ('tokens_digest', 'tokens_active_name', 'tokens_org_list', 'tokens_principal', 'files_org')").await,
            5
        );
        assert!(store
            .try_execute_for_test(
                "INSERT INTO files (organization_id, name, size, sha256, token_id, principal_id, created_at) \
                 VALUES (1, 'g', 1, 'cd', 99, 1, 7)",
                &[]
            )
            .await
            .is_err());
    }

    /// What FULL costs: N token creations and revocations through the store, with the write
    /// connection at NORMAL and then at FULL, on the disk of the temporary directory.
    /// `cargo test -p app --features ssr --release durability_cost -- --ignored --nocapture`
    #[tokio::test]
    #[ignore = "a benchmark; see docs/benchmarks.md"]
    async fn durability_cost() {
        use crate::{
            domain::TokenName,
            model::TokenKind,
            server::{
                db::test_support::{by, org_of, person},
                token_secret::TokenSecret,
            },
        };
        const N: usize = 500;
        let (store, _dir) = fresh_sqlite_store().await;
        let Backend::Sqlite(pools) = &store.backend else { unreachable!() };
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        for round in 0..3 {
            for mode in ["NORMAL", "FULL"] {
                sqlx::query(&format!("PRAGMA synchronous = {mode}"))
                    .execute(&pools.write)
                    .await
                    .unwrap();
                let started = std::time::Instant::now();
                for i in 0..N {
                    let name = TokenName::parse(&format!("bench-{round}-{mode}-{i}")).unwrap();
                    let secret = TokenSecret::generate(TokenKind::Api).unwrap();
                    let token = store.create_token(org, &by(ada), &name, &secret, 1).await.unwrap();
                    store.revoke_token(org, token.id, &by(ada), 2).await.unwrap();
                }
                let per_pair = started.elapsed() / N as u32;
                println!("round {round} synchronous={mode}: {N} creates + {N} revokes, {per_pair:?} per create+revoke");
            }
        }
    }

    #[test]
    fn every_unique_index_maps_to_its_constraint() {
        for (message, name) in [
            (
                "UNIQUE constraint failed: tokens.organization_id, tokens.name_key",
                "tokens_active_name",
            ),
            ("UNIQUE constraint failed: users.email", "users_email"),
            ("UNIQUE constraint failed: organizations.name_key", "organizations_name_key"),
            ("UNIQUE constraint failed: setup.id", "setup_once"),
        ] {
            assert_eq!(super::constraint_of(message).as_deref(), Some(name));
        }
        assert_eq!(super::constraint_of("UNIQUE constraint failed: tokens.digest"), None);
    }
}
