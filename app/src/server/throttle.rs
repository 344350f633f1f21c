//! Throttling of password guesses. The counters live in the database (`db/throttle.rs`),
//! so every server instance behind a load balancer counts the same failures.
//!
//! Sign-in (README, "Security"):
//! - **per account and client address**: 5 failures in 15 minutes, then that address gets
//!   429 for that account until the window ends. This is the strict limit;
//! - **per client address**: 20 failures in 15 minutes across all accounts (credential
//!   stuffing from one place);
//! - **per account**, from everywhere: after 5 failures, attempts on the account are spaced
//!   out: each must start at least a step after the one before, the step doubling with each
//!   failure up to 8 seconds. An attempt waits for its turn, or gets 429 when its turn is
//!   more than 16 seconds away. So guesses spread over many addresses, however many run in
//!   parallel, reach the password check at most once per step. An address that signed in
//!   to the account successfully in the last 30 days skips the queue, so a stranger's
//!   failures cannot keep the owner out (ASVS 6.3.1); the pair limit still applies to it.
//!
//! An attempt is *reserved* before the password is checked, in one transaction that counts
//! it and decides, so concurrent guesses (on any instance) cannot all pass the check before
//! any of them is counted; a success refunds it.
//! IPv6 clients are grouped by /64, the block one subscriber usually holds.
//!
//! Changing one's own password is limited per user: 5 wrong current passwords in 15 minutes.
//! Emails are one identity across organizations, so adding a user whose email exists
//! elsewhere says so; one admin gets at most 10 such answers in 15 minutes.

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use super::{
    db::{Counted, KnownAddress, StoreError, Verdict},
    Store,
};
use crate::model::UserId;

pub const PAIR_LIMIT: u32 = 5;
pub const ADDRESS_LIMIT: u32 = 20;
pub const PASSWORD_CHANGE_LIMIT: u32 = 5;
/// Exposure reports one client address (an IPv6 /64) may send in a window.
pub const EXPOSURE_REPORT_LIMIT: u32 = 30;
/// "Sign in with a passkey" starts one client address may make in a window: each keeps a
/// challenge in the database for five minutes.
pub const PASSKEY_SIGN_IN_LIMIT: u32 = 30;
/// "This email is taken" answers one admin may get in a window.
pub const EMAIL_PROBE_LIMIT: u32 = 10;
/// Account-wide failures after which attempts are spaced out.
pub const ACCOUNT_DELAY_AFTER: u32 = 5;
pub const ACCOUNT_DELAY_MAX: Duration = Duration::from_secs(8);
/// The longest an attempt waits for its turn; beyond it, 429.
pub const ACCOUNT_QUEUE_MAX: Duration = Duration::from_secs(16);
/// How long an address that signed in successfully skips its account's queue.
pub const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How often expired counters are swept out of the database.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Why an attempt may not be made now, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole minutes, rounded up, for the message people read.
    pub fn minutes(&self) -> u32 {
        self.retry_after.as_secs().div_ceil(60).max(1) as u32
    }
}

/// The answer to a reservation: an attempt, refused, or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("throttled for {:?}", .0.retry_after)]
    Throttled(Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The throttle's key for a client address: IPv4 as it is (IPv4-mapped IPv6 included),
/// IPv6 by its /64.
pub fn address_group(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The spacing between attempts on an account that has had `failures` failures in the
/// window: none below the threshold, then 250 ms doubling up to [`ACCOUNT_DELAY_MAX`].
pub fn account_delay(failures: u32) -> Duration {
    if failures < ACCOUNT_DELAY_AFTER {
        return Duration::ZERO;
    }
    let doublings = (failures - ACCOUNT_DELAY_AFTER).min(6);
    (Duration::from_millis(250) * 2u32.pow(doublings)).min(ACCOUNT_DELAY_MAX)
}

/// Milliseconds since the epoch: the throttle's clock (instances' clocks are assumed to be
/// kept in sync, as for session expiry).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// The policy over the database's counters.
#[derive(Clone, Debug)]
pub struct LoginThrottle {
    store: Store,
}

/// The time left in a window that started at `start`.
fn rest_of_window(start: i64, now: i64) -> i64 {
    (start + ms(WINDOW) - now).max(1)
}

impl LoginThrottle {
    pub fn new(store: Store) -> LoginThrottle {
        LoginThrottle { store }
    }

    /// Sweeps expired counters now and then, for as long as the runtime runs.
    pub fn start_sweeping(&self) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                let now = now_ms();
                if let Err(e) =
                    store.sweep_throttle(now, ms(WINDOW), now - ms(KNOWN_ADDRESS_FOR)).await
                {
                    tracing::warn!("could not sweep the sign-in throttle: {e}");
                }
            }
        });
    }

    /// Reserves a sign-in attempt for `account` from `addr`: counted at once, refunded by
    /// [`Attempt::succeeded`]. The attempt must wait `delay` (its turn in the account's
    /// queue) before its password is checked.
    pub async fn reserve_sign_in(
        &self,
        account: &str,
        addr: Option<IpAddr>,
    ) -> Result<Attempt, ReserveError> {
        let now = now_ms();
        let address = addr.map(|a| address_group(a).to_string());
        let mut keys = vec![format!("account:{account}")];
        if let Some(address) = &address {
            keys.push(format!("pair:{address}:{account}"));
            keys.push(format!("address:{address}"));
        }
        let known = address
            .as_deref()
            .map(|address| (KnownAddress { account, address }, now - ms(KNOWN_ADDRESS_FOR)));
        let decide = |counted: &[Counted], known: bool| {
            for (limit, c) in [PAIR_LIMIT, ADDRESS_LIMIT].into_iter().zip(&counted[1..]) {
                if c.count > limit as i64 {
                    return Verdict::Refuse { retry_after_ms: rest_of_window(c.window_start, now) };
                }
            }
            let account = counted[0];
            let step =
                ms(account_delay(account.count.saturating_sub(1).min(u32::MAX as i64) as u32));
            if known || step == 0 {
                return Verdict::Go { delay_ms: 0, next_turn: None };
            }
            let turn = account.next_turn.unwrap_or(now).max(now);
            let delay = turn - now;
            if delay > ms(ACCOUNT_QUEUE_MAX) {
                return Verdict::Refuse { retry_after_ms: delay };
            }
            Verdict::Go { delay_ms: delay, next_turn: Some(turn + step) }
        };
        let verdict = self.store.reserve_attempt(&keys, now, ms(WINDOW), known, decide).await?;
        self.attempt(verdict, keys, address.map(|a| (account.to_string(), a)))
    }

    /// Reserves an attempt to prove the current password before changing it.
    pub async fn reserve_password_change(&self, user: UserId) -> Result<Attempt, ReserveError> {
        self.reserve_one(format!("password-change:{user}"), PASSWORD_CHANGE_LIMIT).await
    }

    /// Reserves one "this email is taken" answer for admin `user`: refund it with
    /// [`Attempt::abandon`] when the email turns out to be free.
    pub async fn reserve_email_probe(&self, user: UserId) -> Result<Attempt, ReserveError> {
        self.reserve_one(format!("email-probe:{user}"), EMAIL_PROBE_LIMIT).await
    }

    /// Counts one exposure report from `addr`; every report counts, whatever it held.
    pub async fn reserve_exposure_report(&self, addr: Option<IpAddr>) -> Result<(), ReserveError> {
        self.count_per_address("exposure-report", addr, EXPOSURE_REPORT_LIMIT).await
    }

    /// Counts one "Sign in with a passkey" start from `addr`, whatever comes of it.
    pub async fn reserve_passkey_sign_in(&self, addr: Option<IpAddr>) -> Result<(), ReserveError> {
        self.count_per_address("passkey-sign-in", addr, PASSKEY_SIGN_IN_LIMIT).await
    }

    /// Counts one request of kind `what` from `addr`'s address group against `limit`.
    async fn count_per_address(
        &self,
        what: &str,
        addr: Option<IpAddr>,
        limit: u32,
    ) -> Result<(), ReserveError> {
        let address = addr.map_or_else(|| "unknown".to_string(), |a| address_group(a).to_string());
        self.reserve_one(format!("{what}:{address}"), limit).await.map(Attempt::failed)
    }

    async fn reserve_one(&self, key: String, limit: u32) -> Result<Attempt, ReserveError> {
        let now = now_ms();
        let keys = vec![key];
        let decide = |counted: &[Counted], _known: bool| {
            if counted[0].count > limit as i64 {
                Verdict::Refuse { retry_after_ms: rest_of_window(counted[0].window_start, now) }
            } else {
                Verdict::Go { delay_ms: 0, next_turn: None }
            }
        };
        let verdict = self.store.reserve_attempt(&keys, now, ms(WINDOW), None, decide).await?;
        self.attempt(verdict, keys, None)
    }

    fn attempt(
        &self,
        verdict: Verdict,
        keys: Vec<String>,
        known_as: Option<(String, String)>,
    ) -> Result<Attempt, ReserveError> {
        match verdict {
            Verdict::Refuse { retry_after_ms } => Err(ReserveError::Throttled(Throttled {
                retry_after: Duration::from_millis(retry_after_ms.max(1) as u64),
            })),
            Verdict::Go { delay_ms, .. } => Ok(Attempt {
                store: self.store.clone(),
                keys,
                known_as,
                delay: Duration::from_millis(delay_ms.max(0) as u64),
            }),
        }
    }
}

/// A reserved attempt. It counts as a failure unless [`succeeded`](Self::succeeded) or
/// [`abandon`](Self::abandon) says otherwise; so an attempt whose request is cancelled
/// midway stays counted, and a guesser gains nothing by hanging up.
#[derive(Debug)]
pub struct Attempt {
    store: Store,
    /// The keys it was counted under; a sign-in's start with its account's.
    keys: Vec<String>,
    /// (account, address) of a sign-in from a known address.
    known_as: Option<(String, String)>,
    /// Wait this long before checking the password (the attempt's turn).
    pub delay: Duration,
}

impl Attempt {
    /// The password was right: this attempt is refunded, the account's and this address's
    /// failures for it are forgotten, its queue is emptied, and the address becomes known.
    pub async fn succeeded(self) {
        // The address's count keeps its other accounts' failures: only this one is refunded.
        let (refund, forget): (Vec<_>, Vec<_>) =
            self.keys.into_iter().partition(|k| k.starts_with("address:"));
        let known =
            self.known_as.as_ref().map(|(account, address)| KnownAddress { account, address });
        if let Err(e) = self.store.settle_attempt(&refund, &forget, known, now_ms()).await {
            tracing::warn!("could not settle a sign-in attempt: {e}");
        }
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}

    /// Our side failed before an answer, or the attempt proved nothing: it is refunded,
    /// nothing is forgotten.
    pub async fn abandon(self) {
        if let Err(e) = self.store.settle_attempt(&self.keys, &[], None, now_ms()).await {
            tracing::warn!("could not refund a throttled attempt: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::db::test_support::fresh_store;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    async fn throttle() -> (LoginThrottle, crate::server::db::test_support::TestDatabase) {
        let (store, db) = fresh_store().await;
        (LoginThrottle::new(store), db)
    }

    fn throttled(r: Result<Attempt, ReserveError>) -> Throttled {
        match r {
            Err(ReserveError::Throttled(t)) => t,
            other => panic!("expected throttled, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pair_is_blocked_after_its_limit_and_cleared_by_success() {
        let (t, _db) = throttle().await;
        for _ in 0..PAIR_LIMIT {
            t.reserve_sign_in("a@example.com", ip("127.0.0.1")).await.unwrap().failed();
        }
        let blocked = throttled(t.reserve_sign_in("a@example.com", ip("127.0.0.1")).await);
        assert!(blocked.retry_after <= WINDOW && blocked.minutes() == 15);
        // The same account from elsewhere, and another account from here, may still try.
        assert!(t.reserve_sign_in("a@example.com", ip("127.0.0.2")).await.is_ok());
        assert!(t.reserve_sign_in("b@example.com", ip("127.0.0.1")).await.is_ok());
    }

    #[tokio::test]
    async fn reservations_count_before_any_verdict_even_when_concurrent() {
        let (t, _db) = throttle().await;
        // Twice the limit at the same moment: exactly the limit gets through.
        let tries: Vec<_> = (0..2 * PAIR_LIMIT)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(
                    async move { t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await },
                )
            })
            .collect();
        let mut held = Vec::new();
        for attempt in tries {
            if let Ok(attempt) = attempt.await.unwrap() {
                held.push(attempt);
            }
        }
        assert_eq!(held.len(), PAIR_LIMIT as usize);
        throttled(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await);
        // A success refunds its own attempt and clears the pair.
        held.pop().unwrap().succeeded().await;
        assert!(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await.is_ok());
    }

    #[tokio::test]
    async fn abandoned_attempts_are_refunded() {
        let (t, _db) = throttle().await;
        for _ in 0..PAIR_LIMIT * 3 {
            t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await.unwrap().abandon().await;
        }
        assert!(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await.is_ok());
        assert!(t.store.throttle_rows().await.unwrap() <= 3, "refunded rows are dropped");
    }

    #[tokio::test]
    async fn an_address_is_blocked_across_accounts() {
        let (t, _db) = throttle().await;
        for i in 0..ADDRESS_LIMIT {
            t.reserve_sign_in(&format!("u{i}@example.com"), ip("10.0.0.1")).await.unwrap().failed();
        }
        throttled(t.reserve_sign_in("new@example.com", ip("10.0.0.1")).await);
        assert!(t.reserve_sign_in("new@example.com", ip("10.0.0.2")).await.is_ok());
    }

    #[tokio::test]
    async fn guesses_from_everywhere_are_spaced_out() {
        let (t, _db) = throttle().await;
        // Forty addresses, one guess each, one right after the other.
        let mut turns = Vec::new();
        let mut refused = 0;
        for i in 0..40u32 {
            let from = ip(&format!("10.0.{}.{}", i / 4, i % 4));
            match t.reserve_sign_in("owner@example.com", from).await {
                Ok(attempt) => {
                    turns.push(attempt.delay);
                    attempt.failed();
                }
                Err(e) => {
                    assert!(throttled(Err(e)).retry_after > ACCOUNT_QUEUE_MAX);
                    refused += 1;
                }
            }
        }
        // The first five go at once; each later one waits for the previous one's step.
        assert_eq!(&turns[..6], &[Duration::ZERO; 6]);
        for pair in turns[5..].windows(2) {
            assert!(pair[1] > pair[0], "{turns:?}");
        }
        assert!(*turns.last().unwrap() <= ACCOUNT_QUEUE_MAX);
        assert_eq!(turns.len() + refused, 40);
        assert!(refused > 0);
    }

    #[tokio::test]
    async fn a_known_address_skips_the_queue_that_strangers_filled() {
        let (t, _db) = throttle().await;
        t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).await.unwrap().succeeded().await;
        for i in 0..40u32 {
            let from = ip(&format!("10.0.{}.{}", i / 4, i % 4));
            if let Ok(a) = t.reserve_sign_in("owner@example.com", from).await {
                a.failed();
            }
        }
        throttled(t.reserve_sign_in("owner@example.com", ip("198.51.100.1")).await);
        let owner = t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).await.unwrap();
        assert_eq!(owner.delay, Duration::ZERO);
        owner.succeeded().await;
        // Her success empties the queue for everyone.
        let next = t.reserve_sign_in("owner@example.com", ip("198.51.100.1")).await.unwrap();
        assert_eq!(next.delay, Duration::ZERO);
    }

    #[test]
    fn the_step_grows_and_is_capped() {
        assert_eq!(account_delay(0), Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER - 1), Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER), Duration::from_millis(250));
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER + 1), Duration::from_millis(500));
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER + 5), ACCOUNT_DELAY_MAX);
        assert_eq!(account_delay(u32::MAX), ACCOUNT_DELAY_MAX);
    }

    #[tokio::test]
    async fn ipv6_clients_are_grouped_by_their_64() {
        let (t, _db) = throttle().await;
        for i in 0..PAIR_LIMIT {
            let from = ip(&format!("2001:db8:1:2::{i:x}"));
            t.reserve_sign_in("a@example.com", from).await.unwrap().failed();
        }
        throttled(t.reserve_sign_in("a@example.com", ip("2001:db8:1:2:ffff::1")).await);
        assert!(t.reserve_sign_in("a@example.com", ip("2001:db8:1:3::1")).await.is_ok());
        assert_eq!(
            address_group("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn taken_email_answers_are_limited_per_admin() {
        let (t, _db) = throttle().await;
        let mut held = Vec::new();
        for _ in 0..EMAIL_PROBE_LIMIT {
            held.push(t.reserve_email_probe(UserId(1)).await.unwrap());
        }
        throttled(t.reserve_email_probe(UserId(1)).await);
        assert!(t.reserve_email_probe(UserId(2)).await.is_ok());
        // Emails that were free give their reservation back.
        for probe in held {
            probe.abandon().await;
        }
        assert!(t.reserve_email_probe(UserId(1)).await.is_ok());
    }

    #[tokio::test]
    async fn password_changes_are_limited_per_user() {
        let (t, _db) = throttle().await;
        for _ in 0..PASSWORD_CHANGE_LIMIT {
            t.reserve_password_change(UserId(7)).await.unwrap().failed();
        }
        throttled(t.reserve_password_change(UserId(7)).await);
        assert!(t.reserve_password_change(UserId(8)).await.is_ok());
    }

    #[tokio::test]
    async fn sweeping_removes_only_what_is_over() {
        let (t, _db) = throttle().await;
        t.reserve_sign_in("a@example.com", ip("10.0.0.1")).await.unwrap().failed();
        t.reserve_sign_in("b@example.com", ip("10.0.0.2")).await.unwrap().succeeded().await;
        let now = now_ms();
        // Nothing is over yet.
        assert_eq!(
            t.store.sweep_throttle(now, ms(WINDOW), now - ms(KNOWN_ADDRESS_FOR)).await.unwrap(),
            0
        );
        // a's three counters; b's success left none of its own.
        assert_eq!(t.store.throttle_rows().await.unwrap(), 3);
        // A window later, the counters go; a known address stays for its 30 days.
        let later = now + ms(WINDOW) + 1;
        let swept =
            t.store.sweep_throttle(later, ms(WINDOW), later - ms(KNOWN_ADDRESS_FOR)).await.unwrap();
        assert_eq!((swept, t.store.throttle_rows().await.unwrap()), (3, 0));
        let much_later = now + ms(KNOWN_ADDRESS_FOR) + 1;
        let swept = t
            .store
            .sweep_throttle(much_later, ms(WINDOW), much_later - ms(KNOWN_ADDRESS_FOR))
            .await
            .unwrap();
        assert_eq!(swept, 1, "the known address");
    }
}
