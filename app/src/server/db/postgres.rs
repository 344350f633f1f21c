//! The PostgreSQL backend: several `tokenwell serve` instances on one database.
//!
//! Nothing on the request path uses what Postgres-wire engines such as CockroachDB lack (no
//! LISTEN/NOTIFY, no advisory locks: sqlx takes one only while migrating).

use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use super::{require_applied, Migrations, OpenError};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per instance unless `TOKENWELL_DB_MAX_CONNECTIONS` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

pub(super) async fn open(url: &str, migrations: Migrations) -> Result<PgPool, OpenError> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("tokenwell")
        .statement_cache_capacity(256);
    let max = std::env::var("TOKENWELL_DB_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    // A network database can drop connections, but a ping before every use would double the
    // token check's round trips: broken connections are retired by their errors and age.
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .max_lifetime(Duration::from_secs(30 * 60))
        .connect_with(options)
        .await?;
    match migrations {
        Migrations::Apply => MIGRATIONS.run(&pool).await?,
        Migrations::RequireApplied => require_applied!(
            MIGRATIONS,
            &pool,
            "SELECT to_regclass('_sqlx_migrations') IS NOT NULL"
        )?,
    }
    Ok(pool)
}
