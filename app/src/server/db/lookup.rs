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

use super::TokenAuth;
use crate::model::{Role, TokenKind, UserKind};

/// How long a reader waits for a lock (only WAL recovery or a checkpoint reset takes one
/// that readers must wait for).
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse; more only appear under more parallelism than this.
const MAX_IDLE: usize = 16;

const TOKEN_BY_DIGEST: &str =
    "SELECT t.id, t.name, t.kind, t.revoked_at IS NOT NULL, o.id, o.name, \
            p.id, p.name, p.kind, p.role, p.status = 'active' \
     FROM tokens t \
     JOIN organizations o ON o.id = t.organization_id \
     JOIN users p ON p.id = t.principal_id \
     WHERE t.digest = ?1";

#[derive(Debug)]
pub(super) struct Lookup {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Lookup {
    /// Opens one connection right away, so a bad path fails at startup, not on a request.
    pub(super) fn open(path: PathBuf) -> rusqlite::Result<Lookup> {
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

    pub(super) fn token_by_digest(&self, digest: &[u8]) -> rusqlite::Result<Option<TokenAuth>> {
        let conn = self.take()?;
        let found = {
            let mut statement = conn.prepare_cached(TOKEN_BY_DIGEST)?;
            statement
                .query_row([digest], |r| {
                    Ok(TokenAuth {
                        token_id: r.get(0)?,
                        token_name: r.get(1)?,
                        kind: TokenKind::parse(r.get_ref(2)?.as_str()?)
                            .unwrap_or(TokenKind::Forwarder),
                        revoked: r.get(3)?,
                        organization_id: r.get(4)?,
                        organization_name: r.get(5)?,
                        principal_id: r.get(6)?,
                        principal_name: r.get(7)?,
                        principal_kind: UserKind::parse(r.get_ref(8)?.as_str()?)
                            .unwrap_or(UserKind::Forwarder),
                        principal_role: r.get_ref(9)?.as_str_or_null()?.and_then(Role::parse),
                        principal_active: r.get(10)?,
                    })
                })
                .optional()
        };
        // A connection whose query failed may be in a bad state: do not reuse it.
        if found.is_ok() {
            self.put_back(conn);
        }
        found
    }
}
