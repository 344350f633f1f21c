//! Login throttling: per account and per client address, fixed windows in memory.
//!
//! Limits (README, "Security"): 5 failed sign-ins per account and 20 per client address
//! in 15 minutes; a successful sign-in clears the account's count. Counts are per server
//! instance.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

pub const ACCOUNT_LIMIT: u32 = 5;
pub const ADDRESS_LIMIT: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Key, (Instant, u32)>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

impl LoginThrottle {
    /// `Err(minutes)` when either the account or the address has used up its attempts.
    pub fn check(&self, email: &str, addr: Option<IpAddr>) -> Result<(), u32> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let blocked = |key: &Key, limit: u32| match windows.get(key) {
            Some((start, n)) if now.duration_since(*start) < WINDOW && *n >= limit => {
                let left = WINDOW - now.duration_since(*start);
                Some((left.as_secs() / 60 + 1) as u32)
            }
            _ => None,
        };
        let account = blocked(&Key::Account(email.to_string()), ACCOUNT_LIMIT);
        let address = addr.and_then(|a| blocked(&Key::Address(a), ADDRESS_LIMIT));
        match account.max(address) {
            Some(minutes) => Err(minutes),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, email: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let keys = std::iter::once(Key::Account(email.to_string())).chain(addr.map(Key::Address));
        for key in keys {
            let entry = windows.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&Key::Account(email.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_blocked_after_its_limit_and_cleared_by_success() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..ACCOUNT_LIMIT {
            assert!(t.check("a@example.com", Some(ip)).is_ok());
            t.record_failure("a@example.com", Some(ip));
        }
        assert!(t.check("a@example.com", Some(ip)).is_err());
        // Another account from the same address is still allowed.
        assert!(t.check("b@example.com", Some(ip)).is_ok());
        t.record_success("a@example.com");
        assert!(t.check("a@example.com", Some(ip)).is_ok());
    }

    #[test]
    fn address_is_blocked_across_accounts() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..ADDRESS_LIMIT {
            t.record_failure(&format!("u{i}@example.com"), Some(ip));
        }
        assert!(t.check("new@example.com", Some(ip)).is_err());
        assert!(t.check("new@example.com", Some("10.0.0.2".parse().unwrap())).is_ok());
    }
}
