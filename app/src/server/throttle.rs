//! Throttling of password guesses, in memory (per server instance).
//!
//! Sign-in (README, "Security"):
//! - **per account and client address**: 5 failures in 15 minutes, then that address gets
//!   429 for that account until the window ends. This is the strict limit;
//! - **per client address**: 20 failures in 15 minutes across all accounts (credential
//!   stuffing from one place);
//! - **per account**, from everywhere: after 5 failures every further attempt waits a
//!   delay that doubles with each failure, up to 8 seconds, before its password is checked.
//!   The delay slows a distributed guesser but never refuses, so failures made elsewhere
//!   cannot keep the owner out (ASVS 6.3.1).
//!
//! An attempt is *reserved* before the password is checked, under one lock, so concurrent
//! guesses cannot all pass the check before any of them is counted; a success refunds it.
//! IPv6 clients are grouped by /64, the block one subscriber usually holds.
//!
//! Changing one's own password is limited per user: 5 wrong current passwords in 15 minutes.
//! Emails are one identity across organizations, so adding a user whose email exists
//! elsewhere says so; one admin gets at most 10 such answers in 15 minutes.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub const PAIR_LIMIT: u32 = 5;
pub const ADDRESS_LIMIT: u32 = 20;
pub const PASSWORD_CHANGE_LIMIT: u32 = 5;
/// "This email is taken" answers one admin may get (see `email_taken_allowed`).
pub const EMAIL_PROBE_LIMIT: u32 = 10;
/// Account-wide failures after which attempts are delayed.
pub const ACCOUNT_DELAY_AFTER: u32 = 5;
pub const ACCOUNT_DELAY_MAX: Duration = Duration::from_secs(8);
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Account(String),
    PasswordChange(i64),
    EmailProbe(i64),
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    count: u32,
}

#[derive(Default)]
struct Windows(HashMap<Key, Window>);

impl Windows {
    /// The live count for `key` (0 once its window has passed).
    fn count(&self, key: &Key, now: Instant) -> u32 {
        match self.0.get(key) {
            Some(w) if now.duration_since(w.start) < WINDOW => w.count,
            _ => 0,
        }
    }

    /// When `key` may try again, if it has used up `limit`.
    fn blocked_for(&self, key: &Key, limit: u32, now: Instant) -> Option<Duration> {
        let w = self.0.get(key)?;
        let age = now.duration_since(w.start);
        (age < WINDOW && w.count >= limit).then(|| WINDOW - age)
    }

    fn add(&mut self, key: Key, now: Instant) {
        if self.0.len() > 100_000 {
            self.0.retain(|_, w| now.duration_since(w.start) < WINDOW);
        }
        let w = self.0.entry(key).or_insert(Window { start: now, count: 0 });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window { start: now, count: 0 };
        }
        w.count += 1;
    }

    fn subtract(&mut self, key: &Key) {
        if let Some(w) = self.0.get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
    }
}

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

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<Windows>,
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

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves a sign-in attempt for `account` from `addr`: counted at once, refunded by
    /// [`SignInAttempt::succeeded`]. The attempt must wait `delay` before its password is
    /// checked.
    pub fn reserve_sign_in(self: &Arc<Self>, account: &str, addr: Option<IpAddr>) -> Result<SignInAttempt, Throttled> {
        let now = Instant::now();
        let addr = addr.map(address_group);
        let mut windows = self.lock();
        let mut keys = vec![Key::Account(account.to_string())];
        if let Some(addr) = addr {
            let pair = Key::Pair(account.to_string(), addr);
            let address = Key::Address(addr);
            let blocked = windows
                .blocked_for(&pair, PAIR_LIMIT, now)
                .max(windows.blocked_for(&address, ADDRESS_LIMIT, now));
            if let Some(retry_after) = blocked {
                return Err(Throttled { retry_after });
            }
            keys.push(pair);
            keys.push(address);
        }
        let earlier_failures = windows.count(&keys[0], now);
        for key in &keys {
            windows.add(key.clone(), now);
        }
        Ok(SignInAttempt { throttle: Arc::clone(self), keys, delay: account_delay(earlier_failures) })
    }

    /// Reserves an attempt to prove the current password before changing it.
    pub fn reserve_password_change(self: &Arc<Self>, user_id: i64) -> Result<SignInAttempt, Throttled> {
        let now = Instant::now();
        let key = Key::PasswordChange(user_id);
        let mut windows = self.lock();
        if let Some(retry_after) = windows.blocked_for(&key, PASSWORD_CHANGE_LIMIT, now) {
            return Err(Throttled { retry_after });
        }
        windows.add(key.clone(), now);
        Ok(SignInAttempt { throttle: Arc::clone(self), keys: vec![key], delay: Duration::ZERO })
    }
}

impl LoginThrottle {
    /// Whether admin `user_id` may still be told that an email is taken.
    pub fn email_taken_allowed(&self, user_id: i64) -> Result<(), Throttled> {
        match self.lock().blocked_for(&Key::EmailProbe(user_id), EMAIL_PROBE_LIMIT, Instant::now()) {
            Some(retry_after) => Err(Throttled { retry_after }),
            None => Ok(()),
        }
    }

    pub fn record_email_taken(&self, user_id: i64) {
        self.lock().add(Key::EmailProbe(user_id), Instant::now());
    }
}

/// How long an attempt waits when the account has had `failures` failures in the window.
pub fn account_delay(failures: u32) -> Duration {
    if failures < ACCOUNT_DELAY_AFTER {
        return Duration::ZERO;
    }
    let doublings = (failures - ACCOUNT_DELAY_AFTER).min(6);
    (Duration::from_millis(250) * 2u32.pow(doublings)).min(ACCOUNT_DELAY_MAX)
}

/// A reserved attempt. It counts as a failure unless [`succeeded`](Self::succeeded) or
/// [`abandon`](Self::abandon) says otherwise; so an attempt whose request is cancelled
/// midway stays counted, and a guesser gains nothing by hanging up.
pub struct SignInAttempt {
    throttle: Arc<LoginThrottle>,
    keys: Vec<Key>,
    /// Wait this long before checking the password (the account-wide delay).
    pub delay: Duration,
}

impl SignInAttempt {
    /// The password was right: this attempt is refunded and the account's and this
    /// address's failures for it are forgotten.
    pub fn succeeded(self) {
        let mut windows = self.throttle.lock();
        for key in &self.keys {
            match key {
                Key::Address(_) => windows.subtract(key),
                _ => {
                    windows.0.remove(key);
                }
            }
        }
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}

    /// Our side failed before an answer: the attempt is refunded, nothing is forgotten.
    pub fn abandon(self) {
        let mut windows = self.throttle.lock();
        for key in &self.keys {
            windows.subtract(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_pair_is_blocked_after_its_limit_and_cleared_by_success() {
        let t = Arc::new(LoginThrottle::default());
        for _ in 0..PAIR_LIMIT {
            t.reserve_sign_in("a@example.com", ip("127.0.0.1")).unwrap().failed();
        }
        let blocked = t.reserve_sign_in("a@example.com", ip("127.0.0.1")).err().unwrap();
        assert!(blocked.retry_after <= WINDOW && blocked.minutes() == 15);
        // The same account from elsewhere, and another account from here, may still try.
        assert!(t.reserve_sign_in("a@example.com", ip("127.0.0.2")).is_ok());
        assert!(t.reserve_sign_in("b@example.com", ip("127.0.0.1")).is_ok());
    }

    #[test]
    fn reservations_count_before_any_verdict() {
        let t = Arc::new(LoginThrottle::default());
        // Held, not yet answered: exactly the limit may be in flight at once.
        let held: Vec<_> = (0..PAIR_LIMIT).map(|_| t.reserve_sign_in("a@example.com", ip("10.0.0.1")).unwrap()).collect();
        assert!(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).is_err());
        // A success refunds its own attempt and clears the pair.
        let mut held = held.into_iter();
        held.next().unwrap().succeeded();
        assert!(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn abandoned_attempts_are_refunded() {
        let t = Arc::new(LoginThrottle::default());
        for _ in 0..PAIR_LIMIT * 3 {
            t.reserve_sign_in("a@example.com", ip("10.0.0.1")).unwrap().abandon();
        }
        assert!(t.reserve_sign_in("a@example.com", ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn an_address_is_blocked_across_accounts() {
        let t = Arc::new(LoginThrottle::default());
        for i in 0..ADDRESS_LIMIT {
            t.reserve_sign_in(&format!("u{i}@example.com"), ip("10.0.0.1")).unwrap().failed();
        }
        assert!(t.reserve_sign_in("new@example.com", ip("10.0.0.1")).is_err());
        assert!(t.reserve_sign_in("new@example.com", ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn failures_everywhere_delay_the_account_but_never_refuse_it() {
        let t = Arc::new(LoginThrottle::default());
        for i in 0..40u32 {
            let from = format!("10.0.{}.{}", i / 4, i % 4);
            t.reserve_sign_in("owner@example.com", ip(&from)).unwrap().failed();
        }
        let owner = t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).unwrap();
        assert_eq!(owner.delay, ACCOUNT_DELAY_MAX);
        owner.succeeded();
        assert_eq!(t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).unwrap().delay, Duration::ZERO);
    }

    #[test]
    fn the_account_delay_grows_and_is_capped() {
        assert_eq!(account_delay(0), Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER - 1), Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER), Duration::from_millis(250));
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER + 1), Duration::from_millis(500));
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER + 5), ACCOUNT_DELAY_MAX);
        assert_eq!(account_delay(u32::MAX), ACCOUNT_DELAY_MAX);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let t = Arc::new(LoginThrottle::default());
        for i in 0..PAIR_LIMIT {
            t.reserve_sign_in("a@example.com", ip(&format!("2001:db8:1:2::{i:x}"))).unwrap().failed();
        }
        assert!(t.reserve_sign_in("a@example.com", ip("2001:db8:1:2:ffff::1")).is_err());
        assert!(t.reserve_sign_in("a@example.com", ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(address_group("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn taken_email_answers_are_limited_per_admin() {
        let t = LoginThrottle::default();
        for _ in 0..EMAIL_PROBE_LIMIT {
            assert!(t.email_taken_allowed(1).is_ok());
            t.record_email_taken(1);
        }
        assert!(t.email_taken_allowed(1).is_err());
        assert!(t.email_taken_allowed(2).is_ok());
    }

    #[test]
    fn password_changes_are_limited_per_user() {
        let t = Arc::new(LoginThrottle::default());
        for _ in 0..PASSWORD_CHANGE_LIMIT {
            t.reserve_password_change(7).unwrap().failed();
        }
        assert!(t.reserve_password_change(7).is_err());
        assert!(t.reserve_password_change(8).is_ok());
    }
}
