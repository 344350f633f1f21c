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
//! connections than threads that query at the same moment.
//!
//! ## A read transaction kept while nothing changes
//!
//! Starting and ending a read transaction was the larger part of a lookup: SQLite takes and
//! releases its WAL read lock each time (`fcntl` on the `-shm` file, under a mutex that the
//! worker threads hand back and forth). So a connection keeps its read transaction open
//! between lookups for as long as the database has not changed, and no longer:
//!
//! - Before each lookup the caller reads the WAL index's header from the `-shm` file (its
//!   layout is part of SQLite's file format: <https://www.sqlite.org/walformat.html>). Every
//!   commit, from this process or any other, rewrites that header before the commit returns;
//!   a checkpoint moves `nBackfill` just after it.
//! - The header is read *before* the transaction starts, so the snapshot a transaction sees is
//!   at least as new as the header it is filed under. If the header now equals the one filed,
//!   nothing was committed since the snapshot was taken, and it is the latest state: a
//!   revocation committed before this request arrived is seen, as before. Otherwise the
//!   transaction ends and a new one starts. A header caught mid-write (its two copies differ)
//!   counts as changed.
//! - A held snapshot keeps SQLite from checkpointing past it, so [`Upkeep`] ends the idle
//!   connections' transactions and runs a passive checkpoint once a second; a busy
//!   connection starts a new transaction at its next check, since the checkpoint moved
//!   `nBackfill`. So the WAL is still reset under steady load (`bench/wal.sh`: 2.2 MB with
//!   upkeep, 12.9 MB after 40 s without).
//!
//! When the header cannot be read (no `-shm` file, a read error), each lookup runs in a
//! transaction of its own, as it did before.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Statement};

use crate::server::db::token_check::{TokenAuth, TokenAuthRecord, TOKEN_BY_DIGEST};

/// How long a reader waits for a lock (only WAL recovery or a checkpoint reset takes one
/// that readers must wait for).
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse; more only appear under more parallelism than this.
const MAX_IDLE: usize = 16;
/// How often idle connections let go of their snapshots and the WAL is checkpointed.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The first 100 bytes of the WAL index: two copies of its 48-byte header, then the
/// checkpoint's `nBackfill`.
const WAL_INDEX_READ: usize = 100;
const WAL_HEADER: usize = 48;
/// `isInit` within the header: nonzero once the index is built.
const WAL_HEADER_IS_INIT: usize = 12;

/// What the WAL index said when a snapshot was taken: the header and how far the last
/// checkpoint got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WalState([u8; WAL_HEADER + 4]);

/// Where each column of the token check's statement is, found by name once per connection
/// (finding it per row compared every column's name, about 3 % of a check).
#[derive(Clone, Copy)]
struct Columns {
    token_id: usize,
    token_name: usize,
    kind: usize,
    revoked: usize,
    organization_id: usize,
    organization_name: usize,
    principal_id: usize,
    principal_name: usize,
    principal_kind: usize,
    principal_role: usize,
    principal_active: usize,
}

impl Columns {
    fn of(statement: &Statement<'_>) -> rusqlite::Result<Columns> {
        let at = |name| statement.column_index(name);
        Ok(Columns {
            token_id: at("token_id")?,
            token_name: at("token_name")?,
            kind: at("kind")?,
            revoked: at("revoked")?,
            organization_id: at("organization_id")?,
            organization_name: at("organization_name")?,
            principal_id: at("principal_id")?,
            principal_name: at("principal_name")?,
            principal_kind: at("principal_kind")?,
            principal_role: at("principal_role")?,
            principal_active: at("principal_active")?,
        })
    }
}

/// A read-only connection and the state its open read transaction was taken at, if one is
/// open.
struct Reader {
    conn: Connection,
    snapshot: Option<WalState>,
    columns: Option<Columns>,
}

impl Reader {
    fn new(conn: Connection) -> Reader {
        Reader { conn, snapshot: None, columns: None }
    }

    /// Ends the open read transaction, if any.
    fn release(&mut self) -> rusqlite::Result<()> {
        if self.snapshot.take().is_some() {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(())
    }

    /// Makes sure the next statement reads the latest committed state: keeps the open
    /// transaction if nothing changed since it began (`now` equals its state), else ends it
    /// and begins a new one filed under `now`. With no `now`, runs without a transaction of
    /// its own.
    fn refresh(&mut self, now: Option<WalState>) -> rusqlite::Result<()> {
        if now.is_some() && self.snapshot == now {
            return Ok(());
        }
        self.release()?;
        if let Some(state) = now {
            // The snapshot itself is taken by the next statement, after `state` was read.
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.snapshot = Some(state);
        }
        Ok(())
    }
}

/// The free list, shared with the upkeep thread.
type Idle = Arc<Mutex<Vec<Reader>>>;

pub(crate) struct Lookup {
    path: PathBuf,
    idle: Idle,
    /// The WAL index (`<database>-shm`), read with `pread`.
    wal_index: Option<File>,
    /// Dropped with the lookup, which stops the upkeep thread.
    _stop: mpsc::Sender<()>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Lookup {
    /// Opens one connection right away, so a bad path fails at startup, not on a request.
    pub(crate) fn open(path: PathBuf) -> rusqlite::Result<Lookup> {
        let lookup = Lookup::open_with_upkeep(path, UPKEEP_EVERY)?;
        let reader = lookup.take()?;
        reader.conn.prepare_cached(TOKEN_BY_DIGEST)?;
        lookup.put_back(reader);
        Ok(lookup)
    }

    fn open_with_upkeep(path: PathBuf, every: Duration) -> rusqlite::Result<Lookup> {
        let first = connect(&path)?;
        // A read builds the WAL index if no one has yet, so its file exists from here on.
        first.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        let wal_index = File::open(wal_index_path(&path)).ok();
        let idle: Idle = Arc::new(Mutex::new(vec![Reader::new(first)]));
        let (stop, stopped) = mpsc::channel();
        Upkeep { path: path.clone(), idle: idle.clone(), writer: None }.spawn(every, stopped);
        Ok(Lookup { path, idle, wal_index, _stop: stop })
    }

    fn take(&self) -> rusqlite::Result<Reader> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(reader) => Ok(reader),
            None => Ok(Reader::new(connect(&self.path)?)),
        }
    }

    fn put_back(&self, reader: Reader) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(reader);
        }
    }

    /// The WAL index's state now, or None if it cannot be read whole and consistent.
    fn wal_state(&self) -> Option<WalState> {
        wal_state(self.wal_index.as_ref()?)
    }

    pub(crate) fn token_by_digest(&self, digest: &[u8]) -> rusqlite::Result<Option<TokenAuth>> {
        let mut reader = self.take()?;
        let found = reader.refresh(self.wal_state()).and_then(|()| {
            let mut statement = reader.conn.prepare_cached(TOKEN_BY_DIGEST)?;
            let c = match reader.columns {
                Some(columns) => columns,
                None => *reader.columns.insert(Columns::of(&statement)?),
            };
            statement
                .query_row([digest], |r| {
                    Ok(TokenAuthRecord {
                        token_id: r.get(c.token_id)?,
                        token_name: r.get(c.token_name)?,
                        kind: r.get(c.kind)?,
                        revoked: r.get(c.revoked)?,
                        organization_id: r.get(c.organization_id)?,
                        organization_name: r.get(c.organization_name)?,
                        principal_id: r.get(c.principal_id)?,
                        principal_name: r.get(c.principal_name)?,
                        principal_kind: r.get(c.principal_kind)?,
                        principal_role: r.get(c.principal_role)?,
                        principal_active: r.get(c.principal_active)?,
                    })
                })
                .optional()
        });
        // A connection whose query failed may be in a bad state: do not reuse it.
        if found.is_ok() {
            self.put_back(reader);
        }
        found.map(|record| record.map(TokenAuth::from))
    }

    /// Ends every idle connection's read transaction and checkpoints the WAL, as the upkeep
    /// thread does each second.
    #[cfg(test)]
    fn upkeep_now(&self) -> rusqlite::Result<()> {
        Upkeep { path: self.path.clone(), idle: self.idle.clone(), writer: None }.run()
    }

    /// How many idle connections hold a snapshot.
    #[cfg(test)]
    fn held_snapshots(&self) -> usize {
        let idle = self.idle.lock().unwrap();
        idle.iter().filter(|r| r.snapshot.is_some()).count()
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(4);
    Ok(conn)
}

fn wal_index_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-shm");
    PathBuf::from(name)
}

fn wal_state(wal_index: &File) -> Option<WalState> {
    let mut bytes = [0u8; WAL_INDEX_READ];
    wal_index.read_exact_at(&mut bytes, 0).ok()?;
    let (first, rest) = bytes.split_at(WAL_HEADER);
    let (second, backfill) = rest.split_at(WAL_HEADER);
    // A writer updates the second copy, then the first: copies that differ are a header
    // being written, and a header not built yet says nothing.
    if first != second || first[WAL_HEADER_IS_INIT] == 0 {
        return None;
    }
    let mut state = [0u8; WAL_HEADER + 4];
    state[..WAL_HEADER].copy_from_slice(first);
    state[WAL_HEADER..].copy_from_slice(&backfill[..4]);
    Some(WalState(state))
}

/// Once a second: the idle connections end their read transactions, then a passive
/// checkpoint copies the WAL into the database, never waiting for anyone. Stops when its
/// lookup is dropped.
struct Upkeep {
    path: PathBuf,
    idle: Idle,
    /// Opened at the first checkpoint (a read-only connection cannot checkpoint).
    writer: Option<Connection>,
}

impl Upkeep {
    fn spawn(mut self, every: Duration, stopped: mpsc::Receiver<()>) {
        let spawned =
            std::thread::Builder::new().name("sqlite-lookup-upkeep".into()).spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Err(e) = self.run() {
                        tracing::warn!(error = %e, "token lookup upkeep failed");
                        self.writer = None;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the token lookup upkeep");
        }
    }

    fn run(&mut self) -> rusqlite::Result<()> {
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // One that cannot end its transaction is dropped, which ends it.
            idle.retain_mut(|reader| reader.release().is_ok());
        }
        if self.writer.is_none() {
            let conn = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            self.writer = Some(conn);
        }
        if let Some(conn) = &self.writer {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::db::test_support::TestDatabase;
    use rusqlite::params;

    /// A WAL database with one table, and a connection that writes to it.
    fn database() -> (TestDatabase, PathBuf, Connection) {
        let db = TestDatabase::create_sqlite();
        let path = db.dir().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);
                 INSERT INTO t VALUES (1, 0);",
            )
            .unwrap();
        (db, path, writer)
    }

    fn read(reader: &mut Reader, wal_index: &File) -> i64 {
        reader.refresh(wal_state(wal_index)).unwrap();
        reader.conn.query_row("SELECT v FROM t WHERE id = 1", [], |r| r.get(0)).unwrap()
    }

    /// The rule the whole module rests on: a commit from any connection changes the state
    /// before it returns, so a held snapshot is never reused across one.
    #[test]
    fn a_held_snapshot_is_never_read_after_a_commit() {
        let (_dir, path, writer) = database();
        let another = Connection::open(&path).unwrap();
        let mut reader = Reader::new(connect(&path).unwrap());
        reader.conn.query_row("SELECT 1", [], |_| Ok(())).unwrap();
        let wal_index = File::open(wal_index_path(&path)).unwrap();
        for round in 1..=300i64 {
            assert_eq!(read(&mut reader, &wal_index), round - 1);
            assert!(reader.snapshot.is_some(), "a readable WAL index keeps a snapshot");
            // Nothing changed: the same transaction is kept.
            let held = reader.snapshot;
            assert_eq!(read(&mut reader, &wal_index), round - 1);
            assert_eq!(reader.snapshot, held);
            assert!(!reader.conn.is_autocommit());
            let by = if round % 2 == 0 { &writer } else { &another };
            by.execute("UPDATE t SET v = ?1 WHERE id = 1", params![round]).unwrap();
            if round % 50 == 0 {
                // A checkpoint that moves the WAL, and one that resets it.
                by.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).ok();
            }
            assert_eq!(read(&mut reader, &wal_index), round, "round {round}");
        }
    }

    /// Every write a revocation can be (an update, a delete, an insert), from a connection
    /// that is not the lookup's, is seen by the very next lookup that holds a snapshot.
    #[test]
    fn inserts_and_deletes_are_seen_too() {
        let (_dir, path, writer) = database();
        let mut reader = Reader::new(connect(&path).unwrap());
        let wal_index = File::open(wal_index_path(&path)).unwrap();
        let count = |reader: &mut Reader| -> i64 {
            reader.refresh(wal_state(&wal_index)).unwrap();
            reader.conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(count(&mut reader), 1);
        writer.execute("INSERT INTO t VALUES (2, 0)", []).unwrap();
        assert_eq!(count(&mut reader), 2);
        writer.execute("DELETE FROM t WHERE id = 1", []).unwrap();
        assert_eq!(count(&mut reader), 1);
        // A transaction rolled back changes nothing, and is not mistaken for a commit that did.
        writer.execute_batch("BEGIN IMMEDIATE; DELETE FROM t; ROLLBACK;").unwrap();
        assert_eq!(count(&mut reader), 1);
    }

    /// Held snapshots do not keep the WAL growing: after upkeep the WAL is copied back in
    /// full and the next write starts it over from the beginning.
    #[test]
    fn upkeep_lets_the_wal_be_reset_while_lookups_go_on() {
        let (_dir, path, writer) = database();
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
        // Upkeep only when the test says so.
        let lookup = Lookup::open_with_upkeep(path.clone(), Duration::from_secs(3600)).unwrap();
        let wal_index = File::open(wal_index_path(&path)).unwrap();
        let mut reader = lookup.take().unwrap();
        let wal_frames = |conn: &Connection| -> (i64, i64) {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))
                .unwrap()
        };
        for round in 0..20 {
            writer.execute("UPDATE t SET v = ?1 WHERE id = 1", params![round]).unwrap();
            assert_eq!(read(&mut reader, &wal_index), round);
        }
        lookup.put_back(reader);
        assert_eq!(lookup.held_snapshots(), 1);
        // The held snapshot pins the WAL: a checkpoint cannot copy the last commit.
        writer.execute("UPDATE t SET v = 20 WHERE id = 1", []).unwrap();
        let (log, copied) = wal_frames(&writer);
        assert!(copied < log, "a held snapshot stops the checkpoint ({copied} of {log})");
        lookup.upkeep_now().unwrap();
        assert_eq!(lookup.held_snapshots(), 0);
        let (log, copied) = wal_frames(&writer);
        assert_eq!(copied, log, "upkeep lets the checkpoint finish");
        // A lookup after upkeep reads the database file alone, so the next write may reset
        // the WAL: it starts again at frame 1.
        let mut reader = lookup.take().unwrap();
        assert_eq!(read(&mut reader, &wal_index), 20);
        writer.execute("UPDATE t SET v = 21 WHERE id = 1", []).unwrap();
        let (log, _) = wal_frames(&writer);
        assert!(log <= 2, "the WAL starts over: {log} frames");
        assert_eq!(read(&mut reader, &wal_index), 21);
    }

    #[test]
    fn without_a_wal_index_every_lookup_has_its_own_transaction() {
        let (_dir, path, writer) = database();
        let mut reader = Reader::new(connect(&path).unwrap());
        reader.refresh(None).unwrap();
        assert!(reader.snapshot.is_none());
        assert!(reader.conn.is_autocommit());
        writer.execute("UPDATE t SET v = 5 WHERE id = 1", []).unwrap();
        let v: i64 = reader.conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 5);
    }
}
