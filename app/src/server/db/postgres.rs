//! The PostgreSQL backend: several `tokenwell serve` instances on one database.
//!
//! Nothing on the request path uses what Postgres-wire engines such as CockroachDB lack (no
//! LISTEN/NOTIFY, no advisory locks: sqlx takes one only while migrating).

use std::{
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
    PgConnection, PgPool, Postgres,
};
use tokio::sync::{mpsc, oneshot};

use super::token_check::{token_check_from, TokenAuthRecord};

use super::{require_applied, Migrations, OpenError};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per instance unless `TOKENWELL_DB_MAX_CONNECTIONS` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

pub(super) async fn open(
    url: &str,
    migrations: Migrations,
) -> Result<(PgPool, TokenChecks), OpenError> {
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
    // As many check queries in flight as this server has cores, not one per connection:
    // more split the waiting checks into smaller batches, and each query costs both sides
    // about the same whatever its size (docs/benchmarks.md: 16 workers 40k checks/s, 2
    // workers 52-54k, on two cores).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    let checks = TokenChecks::start(pool.clone(), cores.min(max));
    Ok((pool, checks))
}

/// The token check on PostgreSQL: checks that arrive while others are in flight share one
/// query (`WHERE digest = ANY($1)`), so a burst of API calls costs a few round trips instead
/// of one each, and the database, the server and their clients switch less between them.
///
/// Still no cache, and still "the very next request": a check waits in the queue until a
/// worker takes it, and the worker's query starts after that, so it sees every change
/// committed before the request arrived. When checks arrive one at a time, each gets a query
/// of its own at once.
#[derive(Clone, Debug)]
pub(super) struct TokenChecks {
    queue: mpsc::Sender<PendingCheck>,
}

/// Checks one query takes at most.
const BATCH_MAX: usize = 64;
/// How long a worker keeps its connection before handing it back to the pool, which retires
/// connections past their lifetime.
const HOLD_CONNECTION: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct PendingCheck {
    digest: Vec<u8>,
    reply: oneshot::Sender<Result<Option<TokenAuthRecord>, String>>,
}

#[derive(sqlx::FromRow)]
struct CheckedRecord {
    digest: Vec<u8>,
    #[sqlx(flatten)]
    auth: TokenAuthRecord,
}

impl TokenChecks {
    /// Starts `workers` workers, one query in flight each; the rest of the pool is left to
    /// every other query.
    ///
    /// A worker keeps one connection from the pool instead of taking one per query: sqlx
    /// sends every connection that goes back to the pool a ping (a round trip) first, which
    /// doubled the round trips of a check. A connection whose query failed goes back at once
    /// (sqlx's ping then retires it if it is broken), and any after `HOLD_CONNECTION`. The
    /// workers stop when the pool closes, handing their connections back, since closing waits
    /// for every connection.
    pub(super) fn start(pool: PgPool, workers: u32) -> TokenChecks {
        let (queue, incoming) = mpsc::channel::<PendingCheck>(4096);
        let incoming = Arc::new(tokio::sync::Mutex::new(incoming));
        for _ in 0..workers.max(1) {
            let (pool, incoming) = (pool.clone(), Arc::clone(&incoming));
            tokio::spawn(async move {
                let mut held: Option<(PoolConnection<Postgres>, Instant)> = None;
                let mut closed = pool.close_event();
                while let Ok(Some(batch)) = closed.do_until(next_batch(&incoming)).await {
                    let kept = held.take().filter(|(_, since)| since.elapsed() < HOLD_CONNECTION);
                    let (mut conn, since) = match kept {
                        Some(kept) => kept,
                        None => match pool.acquire().await {
                            Ok(conn) => (conn, Instant::now()),
                            Err(e) => {
                                refuse_all(batch, &e);
                                continue;
                            }
                        },
                    };
                    if answer(&mut conn, batch).await {
                        held = Some((conn, since));
                    }
                }
            });
        }
        TokenChecks { queue }
    }

    pub(super) async fn check(&self, digest: &[u8]) -> Result<Option<TokenAuthRecord>, String> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingCheck { digest: digest.to_vec(), reply };
        self.queue.send(pending).await.map_err(|_| "token check workers stopped".to_string())?;
        answer.await.map_err(|_| "token check worker dropped the check".to_string())?
    }
}

/// The checks waiting now: the first to arrive, and whatever queued behind it.
async fn next_batch(
    incoming: &tokio::sync::Mutex<mpsc::Receiver<PendingCheck>>,
) -> Option<Vec<PendingCheck>> {
    let mut incoming = incoming.lock().await;
    let first = incoming.recv().await?;
    let mut batch = vec![first];
    while batch.len() < BATCH_MAX {
        match incoming.try_recv() {
            Ok(pending) => batch.push(pending),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Answers every check of the batch with one query; false if the query failed.
async fn answer(conn: &mut PgConnection, batch: Vec<PendingCheck>) -> bool {
    let digests: Vec<&[u8]> = batch.iter().map(|p| p.digest.as_slice()).collect();
    const SQL: &str =
        concat!("SELECT t.digest AS digest, ", token_check_from!(), " WHERE t.digest = ANY($1)");
    let found = sqlx::query_as::<_, CheckedRecord>(SQL).bind(&digests).fetch_all(conn).await;
    match found {
        Ok(rows) => {
            // Several checks of one batch may carry the same token: each gets its row.
            for pending in batch {
                let row = rows.iter().find(|r| r.digest == pending.digest);
                let _ = pending.reply.send(Ok(row.map(|r| r.auth.clone())));
            }
            true
        }
        Err(e) => {
            refuse_all(batch, &e);
            false
        }
    }
}

/// Fails every check of the batch: the lookup could not run.
fn refuse_all(batch: Vec<PendingCheck>, cause: &sqlx::Error) {
    let cause = cause.to_string();
    for pending in batch {
        let _ = pending.reply.send(Err(cause.clone()));
    }
}
