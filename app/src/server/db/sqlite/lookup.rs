//! The token check's read path: one indexed point query on a plain, synchronous SQLite
//! connection, run on the calling thread.
//!
//! Why not the sqlx pool like every other query: sqlx runs each SQLite connection on its
//! own thread and passes the query and every row across channels, so a lookup costs
//! several thread wake-ups. For the query that runs on *every* API request that hand-off
//! was most of the cost (docs/benchmarks.md). The lookup itself is a single B-tree probe
//! answered from SQLite's page cache in microseconds: less time than one of those
//! wake-ups, so it runs inline, like taking a short lock.
//!
//! Connections are read-only and kept in a small free list: a caller takes one, runs the
//! statement (cached, prepared once per connection) and puts it back. There are never more
//! connections than threads that query at the same moment. Each statement runs in its own
//! read transaction, so it always sees the latest committed write (a revocation included).

use std::{path::PathBuf, sync::Mutex, time::Duration};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::server::db::token_check::{TokenAuth, TokenAuthRecord, TOKEN_BY_DIGEST};

/// How long a reader waits for a lock (only WAL recovery or a checkpoint reset takes one
/// that readers must wait for).
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse; more only appear under more parallelism than this.
const MAX_IDLE: usize = 16;

#[derive(Debug)]
pub(crate) struct Lookup {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Lookup {
    /// Opens one connection right away, so a bad path fails at startup, not on a request.
    pub(crate) fn open(path: PathBuf) -> rusqlite::Result<Lookup> {
        let lookup = Lookup { path, idle: Mutex::new(Vec::new()) };
        let first = lookup.connect()?;
        first.prepare_cached(TOKEN_BY_DIGEST)?;
        lookup.put_back(first);
        Ok(lookup)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    pub(crate) fn token_by_digest(&self, digest: &[u8]) -> rusqlite::Result<Option<TokenAuth>> {
        let conn = self.take()?;
        let found = {
            let mut statement = conn.prepare_cached(TOKEN_BY_DIGEST)?;
            statement
                .query_row([digest], |r| {
                    Ok(TokenAuthRecord {
                        token_id: r.get("token_id")?,
                        token_name: r.get("token_name")?,
                        kind: r.get("kind")?,
                        revoked: r.get("revoked")?,
                        organization_id: r.get("organization_id")?,
                        organization_name: r.get("organization_name")?,
                        principal_id: r.get("principal_id")?,
                        principal_name: r.get("principal_name")?,
                        principal_kind: r.get("principal_kind")?,
                        principal_role: r.get("principal_role")?,
                        principal_active: r.get("principal_active")?,
                    })
                })
                .optional()
        };
        // A connection whose query failed may be in a bad state: do not reuse it.
        if found.is_ok() {
            self.put_back(conn);
        }
        found.map(|record| record.map(TokenAuth::from))
    }
}
