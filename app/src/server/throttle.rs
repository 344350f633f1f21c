//! Throttling of password guesses, in memory (per server instance).
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
//! An attempt is *reserved* before the password is checked, under one lock, so concurrent
//! guesses cannot all pass the check before any of them is counted; a success refunds it.
//! IPv6 clients are grouped by /64, the block one subscriber usually holds.
//!
//! Changing one's own password is limited per user: 5 wrong current passwords in 15 minutes.
//! Emails are one identity across organizations, so adding a user whose email exists
//! elsewhere says so; one admin gets at most 10 such answers in 15 minutes.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub const PAIR_LIMIT: u32 = 5;
pub const ADDRESS_LIMIT: u32 = 20;
pub const PASSWORD_CHANGE_LIMIT: u32 = 5;
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
/// Entries kept before expired ones are swept out.
const SWEEP_AT: usize = 100_000;

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

/// A map whose stale entries are swept out when it has doubled since the last sweep (and
/// is large), so each insertion costs O(1) amortised however many keys an attacker makes.
struct Expiring<K, V> {
    map: HashMap<K, V>,
    sweep_at: usize,
}

impl<K: Eq + Hash, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Expiring { map: HashMap::new(), sweep_at: SWEEP_AT }
    }
}

impl<K: Eq + Hash, V> Expiring<K, V> {
    fn sweep_if_large(&mut self, live: impl FnMut(&K, &mut V) -> bool) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(live);
            self.sweep_at = (2 * self.map.len()).max(SWEEP_AT);
        }
    }
}

#[derive(Default)]
struct State {
    windows: Expiring<Key, Window>,
    /// When the next attempt on an account may start (its account-wide queue).
    next_turn: Expiring<String, Instant>,
    /// Addresses that signed in to an account, and when they last did.
    known: Expiring<(String, IpAddr), Instant>,
}

impl State {
    /// The live count for `key` (0 once its window has passed).
    fn count(&self, key: &Key, now: Instant) -> u32 {
        match self.windows.map.get(key) {
            Some(w) if now.duration_since(w.start) < WINDOW => w.count,
            _ => 0,
        }
    }

    /// When `key` may try again, if it has used up `limit`.
    fn blocked_for(&self, key: &Key, limit: u32, now: Instant) -> Option<Duration> {
        let w = self.windows.map.get(key)?;
        let age = now.duration_since(w.start);
        (age < WINDOW && w.count >= limit).then(|| WINDOW - age)
    }

    fn add(&mut self, key: Key, now: Instant) {
        self.windows.sweep_if_large(|_, w| now.duration_since(w.start) < WINDOW);
        let w = self.windows.map.entry(key).or_insert(Window { start: now, count: 0 });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window { start: now, count: 0 };
        }
        w.count += 1;
    }

    fn subtract(&mut self, key: &Key) {
        if let Some(w) = self.windows.map.get_mut(key) {
            w.count = w.count.saturating_sub(1);
            if w.count == 0 {
                self.windows.map.remove(key);
            }
        }
    }

    fn is_known(&self, account: &str, addr: IpAddr, now: Instant) -> bool {
        self.known
            .map
            .get(&(account.to_string(), addr))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_ADDRESS_FOR)
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
    state: Mutex<State>,
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

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves a sign-in attempt for `account` from `addr`: counted at once, refunded by
    /// [`Attempt::succeeded`]. The attempt must wait `delay` (its turn in the account's
    /// queue) before its password is checked.
    pub fn reserve_sign_in(
        self: &Arc<Self>,
        account: &str,
        addr: Option<IpAddr>,
    ) -> Result<Attempt, Throttled> {
        let now = Instant::now();
        let addr = addr.map(address_group);
        let mut state = self.lock();
        let mut keys = vec![Key::Account(account.to_string())];
        if let Some(addr) = addr {
            let pair = Key::Pair(account.to_string(), addr);
            let address = Key::Address(addr);
            let blocked = state.blocked_for(&pair, PAIR_LIMIT, now).max(state.blocked_for(
                &address,
                ADDRESS_LIMIT,
                now,
            ));
            if let Some(retry_after) = blocked {
                return Err(Throttled { retry_after });
            }
            keys.push(pair);
            keys.push(address);
        }
        let known = addr.is_some_and(|a| state.is_known(account, a, now));
        let step = account_delay(state.count(&keys[0], now));
        let mut delay = Duration::ZERO;
        if !known && !step.is_zero() {
            let turn = state.next_turn.map.get(account).copied().unwrap_or(now).max(now);
            delay = turn - now;
            if delay > ACCOUNT_QUEUE_MAX {
                return Err(Throttled { retry_after: delay });
            }
            state.next_turn.sweep_if_large(|_, t| *t > now);
            state.next_turn.map.insert(account.to_string(), turn + step);
        }
        for key in &keys {
            state.add(key.clone(), now);
        }
        let known_as = addr.map(|a| (account.to_string(), a));
        Ok(Attempt { throttle: Arc::clone(self), keys, known_as, delay })
    }

    /// Reserves an attempt to prove the current password before changing it.
    pub fn reserve_password_change(self: &Arc<Self>, user_id: i64) -> Result<Attempt, Throttled> {
        self.reserve_one(Key::PasswordChange(user_id), PASSWORD_CHANGE_LIMIT)
    }

    /// Reserves one "this email is taken" answer for admin `user_id`: refund it with
    /// [`Attempt::abandon`] when the email turns out to be free.
    pub fn reserve_email_probe(self: &Arc<Self>, user_id: i64) -> Result<Attempt, Throttled> {
        self.reserve_one(Key::EmailProbe(user_id), EMAIL_PROBE_LIMIT)
    }

    fn reserve_one(self: &Arc<Self>, key: Key, limit: u32) -> Result<Attempt, Throttled> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(retry_after) = state.blocked_for(&key, limit, now) {
            return Err(Throttled { retry_after });
        }
        state.add(key.clone(), now);
        Ok(Attempt {
            throttle: Arc::clone(self),
            keys: vec![key],
            known_as: None,
            delay: Duration::ZERO,
        })
    }
}

/// A reserved attempt. It counts as a failure unless [`succeeded`](Self::succeeded) or
/// [`abandon`](Self::abandon) says otherwise; so an attempt whose request is cancelled
/// midway stays counted, and a guesser gains nothing by hanging up.
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    keys: Vec<Key>,
    known_as: Option<(String, IpAddr)>,
    /// Wait this long before checking the password (the attempt's turn).
    pub delay: Duration,
}

impl Attempt {
    /// The password was right: this attempt is refunded, the account's and this address's
    /// failures for it are forgotten, its queue is emptied, and the address becomes known.
    pub fn succeeded(self) {
        let now = Instant::now();
        let mut state = self.throttle.lock();
        for key in &self.keys {
            match key {
                Key::Address(_) => state.subtract(key),
                Key::Account(account) => {
                    state.windows.map.remove(key);
                    state.next_turn.map.remove(account);
                }
                _ => {
                    state.windows.map.remove(key);
                }
            }
        }
        if let Some(known_as) = self.known_as {
            state.known.sweep_if_large(|_, at| now.duration_since(*at) < KNOWN_ADDRESS_FOR);
            state.known.map.insert(known_as, now);
        }
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}

    /// Our side failed before an answer, or the attempt proved nothing: it is refunded,
    /// nothing is forgotten.
    pub fn abandon(self) {
        let mut state = self.throttle.lock();
        for key in &self.keys {
            state.subtract(key);
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
        let held: Vec<_> = (0..PAIR_LIMIT)
            .map(|_| t.reserve_sign_in("a@example.com", ip("10.0.0.1")).unwrap())
            .collect();
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
        assert!(t.lock().windows.map.len() <= 3, "refunded entries are dropped");
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
    fn guesses_from_everywhere_are_spaced_out_however_parallel() {
        let t = Arc::new(LoginThrottle::default());
        // Forty addresses, one guess each, all at the same moment.
        let mut turns = Vec::new();
        let mut refused = 0;
        for i in 0..40u32 {
            match t.reserve_sign_in("owner@example.com", ip(&format!("10.0.{}.{}", i / 4, i % 4))) {
                Ok(attempt) => {
                    turns.push(attempt.delay);
                    attempt.failed();
                }
                Err(throttled) => {
                    assert!(throttled.retry_after > ACCOUNT_QUEUE_MAX);
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

    #[test]
    fn a_known_address_skips_the_queue_that_strangers_filled() {
        let t = Arc::new(LoginThrottle::default());
        t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).unwrap().succeeded();
        for i in 0..40u32 {
            if let Ok(a) =
                t.reserve_sign_in("owner@example.com", ip(&format!("10.0.{}.{}", i / 4, i % 4)))
            {
                a.failed();
            }
        }
        assert!(
            t.reserve_sign_in("owner@example.com", ip("198.51.100.1")).is_err(),
            "the queue is full"
        );
        let owner = t.reserve_sign_in("owner@example.com", ip("192.0.2.1")).unwrap();
        assert_eq!(owner.delay, Duration::ZERO);
        owner.succeeded();
        // Her success empties the queue for everyone.
        assert_eq!(
            t.reserve_sign_in("owner@example.com", ip("198.51.100.1")).unwrap().delay,
            Duration::ZERO
        );
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

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let t = Arc::new(LoginThrottle::default());
        for i in 0..PAIR_LIMIT {
            t.reserve_sign_in("a@example.com", ip(&format!("2001:db8:1:2::{i:x}")))
                .unwrap()
                .failed();
        }
        assert!(t.reserve_sign_in("a@example.com", ip("2001:db8:1:2:ffff::1")).is_err());
        assert!(t.reserve_sign_in("a@example.com", ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(
            address_group("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn taken_email_answers_are_limited_per_admin_even_when_concurrent() {
        let t = Arc::new(LoginThrottle::default());
        let held: Vec<_> =
            (0..EMAIL_PROBE_LIMIT).map(|_| t.reserve_email_probe(1).unwrap()).collect();
        assert!(t.reserve_email_probe(1).is_err());
        assert!(t.reserve_email_probe(2).is_ok());
        // Emails that were free give their reservation back.
        for probe in held {
            probe.abandon();
        }
        assert!(t.reserve_email_probe(1).is_ok());
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

    #[test]
    fn sweeping_keeps_live_entries_and_stays_amortised() {
        let mut m: Expiring<u32, u32> = Expiring::default();
        for i in 0..SWEEP_AT as u32 {
            m.map.insert(i, i);
        }
        m.sweep_if_large(|k, _| k % 2 == 0);
        assert_eq!(m.map.len(), SWEEP_AT / 2);
        assert_eq!(m.sweep_at, SWEEP_AT);
        for i in 0..SWEEP_AT as u32 {
            m.map.insert(SWEEP_AT as u32 + i, 0);
        }
        m.sweep_if_large(|_, _| true);
        assert_eq!(m.sweep_at, 2 * m.map.len(), "the next sweep waits until the map has doubled");
    }
}
