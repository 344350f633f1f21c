//! The throttle's counters, in the database so that every server instance counts the same
//! failures (the policy is in `server/throttle.rs`). Times are milliseconds since the epoch.
//!
//! A reservation first increments its keys' counters, in a fixed order, then lets the
//! policy decide on the counts it got back: on PostgreSQL the upsert locks each key's row
//! until the transaction ends, on SQLite the transaction holds the write lock, so
//! concurrent reservations of one key take turns and none decides on a stale count. A
//! refusal rolls the increments back.

use super::{read_db, transaction, write_db, Store, StoreError};

/// A key's counter after this attempt was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Counted {
    /// Attempts in the current window, this one included.
    pub count: i64,
    pub window_start: i64,
    /// For an account's key: when its next attempt may start.
    pub next_turn: Option<i64>,
}

/// What the policy decided about a counted attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after `delay_ms`; with `next_turn`, the first key's queue moves on.
    Go { delay_ms: i64, next_turn: Option<i64> },
    /// Refused; try again in this many milliseconds. Nothing stays counted.
    Refuse { retry_after_ms: i64 },
}

/// An address that signed in to an account, as the throttle asks about it.
#[derive(Clone, Copy, Debug)]
pub struct KnownAddress<'a> {
    pub account: &'a str,
    pub address: &'a str,
}

macro_rules! count_attempt {
    ($conn:expr, $key:expr, $now:expr, $window:expr) => {
        sqlx::query_as::<_, Counted>(
            "INSERT INTO throttle_windows (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN throttle_windows.window_start <= $3 THEN 1 \
                            ELSE throttle_windows.count + 1 END, \
               window_start = CASE WHEN throttle_windows.window_start <= $3 THEN $2 \
                                   ELSE throttle_windows.window_start END \
             RETURNING count, window_start, next_turn",
        )
        .bind($key)
        .bind($now)
        .bind($now - $window)
        .fetch_one($conn)
    };
}

impl Store {
    /// Counts one attempt under each of `keys` and asks `decide` whether it may go ahead,
    /// with the counts (in `keys`' order) and whether `known` signed in to its account
    /// since `known_since`.
    pub async fn reserve_attempt(
        &self,
        keys: &[String],
        now: i64,
        window: i64,
        known: Option<(KnownAddress<'_>, i64)>,
        decide: impl FnOnce(&[Counted], bool) -> Verdict,
    ) -> Result<Verdict, StoreError> {
        Ok(transaction!(self, tx => {
            let mut counted = Vec::with_capacity(keys.len());
            for key in keys {
                counted.push(count_attempt!(&mut *tx, key, now, window).await?);
            }
            let is_known = match known {
                Some((known, since)) => sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM known_addresses \
                     WHERE account = $1 AND address = $2 AND seen_at > $3)",
                )
                .bind(known.account)
                .bind(known.address)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?,
                None => false,
            };
            let verdict = decide(&counted, is_known);
            match verdict {
                // Dropping the transaction rolls the counts back.
                Verdict::Refuse { .. } => return Ok(verdict),
                Verdict::Go { next_turn: Some(turn), .. } => {
                    sqlx::query("UPDATE throttle_windows SET next_turn = $1 WHERE key = $2")
                        .bind(turn)
                        .bind(&keys[0])
                        .execute(&mut *tx)
                        .await?;
                }
                Verdict::Go { next_turn: None, .. } => {}
            }
            verdict
        }))
    }

    /// Gives back one attempt under each of `refund` (rows reaching zero go), forgets `forget`
    /// entirely (counts and queue), and records `known` as having signed in at `now`.
    pub async fn settle_attempt(
        &self,
        refund: &[String],
        forget: &[String],
        known: Option<KnownAddress<'_>>,
        now: i64,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => {
            for key in refund {
                sqlx::query("UPDATE throttle_windows SET count = count - 1 WHERE key = $1 AND count > 0")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM throttle_windows WHERE key = $1 AND count <= 0 AND next_turn IS NULL")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            for key in forget {
                sqlx::query("DELETE FROM throttle_windows WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(known) = known {
                sqlx::query(
                    "INSERT INTO known_addresses (account, address, seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (account, address) DO UPDATE SET seen_at = excluded.seen_at",
                )
                .bind(known.account)
                .bind(known.address)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Removes counters whose window and queue are over, and addresses not seen since
    /// `known_before`: rows an attacker makes with made-up accounts do not pile up.
    pub async fn sweep_throttle(
        &self,
        now: i64,
        window: i64,
        known_before: i64,
    ) -> Result<u64, StoreError> {
        let counters = write_db!(self, db => sqlx::query(
            "DELETE FROM throttle_windows WHERE window_start <= $1 \
             AND (next_turn IS NULL OR next_turn <= $2)",
        )
        .bind(now - window)
        .bind(now)
        .execute(db)
        .await?
        .rows_affected());
        let addresses = write_db!(self, db => sqlx::query(
            "DELETE FROM known_addresses WHERE seen_at <= $1",
        )
        .bind(known_before)
        .execute(db)
        .await?
        .rows_affected());
        Ok(counters + addresses)
    }

    /// Counter rows kept now (for tests).
    pub async fn throttle_rows(&self) -> Result<i64, StoreError> {
        Ok(
            read_db!(self, db => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM throttle_windows")
            .fetch_one(db)
            .await?),
        )
    }
}
