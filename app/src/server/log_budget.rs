//! Warnings that any client can cause, one per request, reach the log within a budget per
//! client address and minute: refused API authentications, throttled sign-ins, refused
//! cross-site requests, server errors. Past the budget, one line says that the rest of the
//! minute is not logged, and when that client causes one again after the minute, how many were
//! left out. Metrics still count every request.
//!
//! Without a budget, a client sending made-up tokens as fast as it could wrote a warning line
//! for each: about 140,000 lines a second on the benchmark machine, enough to fill a disk and
//! to bury the lines that matter (a revoked token still in use somewhere).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Warnings logged per client address and window.
const PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at once. Past it, windows that have ended are dropped (looked for at most
/// once a second, so a spray from new addresses does not make every warning walk the table);
/// if none has, the newcomers share one budget, so such a spray is bounded too.
const MAX_CLIENTS: usize = 10_000;
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// What to do with one warning.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Log it. `unlogged`: warnings of this client left out of its previous window.
    Log { unlogged: u32 },
    /// The first one past the budget: say that the rest of the window is not logged.
    Quiet,
    /// Leave it out.
    Skip,
}

#[derive(Default)]
pub struct LogBudget {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None`: no known address, or the shared budget of clients past `MAX_CLIENTS`.
    clients: HashMap<Option<IpAddr>, Window>,
    pruned_at: Option<Instant>,
}

struct Window {
    started: Instant,
    warned: u32,
}

impl LogBudget {
    /// Whether one more warning caused by `client` is logged. Writes, itself, the line saying
    /// that the rest of the minute is not, and how many were left out of the minute before.
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        match self.note(client, Instant::now()) {
            Verdict::Log { unlogged } => {
                if unlogged > 0 {
                    tracing::warn!(
                        ?client,
                        unlogged,
                        "warnings caused by a client were not logged"
                    );
                }
                true
            }
            Verdict::Quiet => {
                tracing::warn!(
                    ?client,
                    "a client is causing many warnings: the rest of them this minute are not logged"
                );
                false
            }
            Verdict::Skip => false,
        }
    }

    fn note(&self, client: Option<IpAddr>, now: Instant) -> Verdict {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { clients, pruned_at } = &mut *state;
        let mut key = client;
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            if pruned_at.is_none_or(|at| now.duration_since(at) >= PRUNE_EVERY) {
                clients.retain(|_, window| now.duration_since(window.started) < WINDOW);
                *pruned_at = Some(now);
            }
            if clients.len() >= MAX_CLIENTS {
                key = None;
            }
        }
        let window = clients.entry(key).or_insert(Window { started: now, warned: 0 });
        let mut unlogged = 0;
        if now.duration_since(window.started) >= WINDOW {
            unlogged = window.warned.saturating_sub(PER_WINDOW);
            *window = Window { started: now, warned: 0 };
        }
        window.warned = window.warned.saturating_add(1);
        match window.warned {
            n if n <= PER_WINDOW => Verdict::Log { unlogged },
            n if n == PER_WINDOW + 1 => Verdict::Quiet,
            _ => Verdict::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_client_gets_a_budget_a_minute_and_hears_what_was_left_out() {
        let log = LogBudget::default();
        let start = Instant::now();
        for _ in 0..PER_WINDOW {
            assert_eq!(log.note(addr(1), start), Verdict::Log { unlogged: 0 });
        }
        assert_eq!(log.note(addr(1), start), Verdict::Quiet);
        for _ in 0..100 {
            assert_eq!(log.note(addr(1), start + Duration::from_secs(59)), Verdict::Skip);
        }
        // Another client has a budget of its own meanwhile.
        assert_eq!(log.note(addr(2), start), Verdict::Log { unlogged: 0 });
        // A minute on: logged again, with the count of what was not.
        assert_eq!(log.note(addr(1), start + WINDOW), Verdict::Log { unlogged: 101 });
        assert_eq!(log.note(addr(1), start + WINDOW), Verdict::Log { unlogged: 0 });
    }

    #[test]
    fn a_spray_from_many_addresses_shares_one_budget_past_the_limit() {
        let log = LogBudget::default();
        let start = Instant::now();
        for n in 0..MAX_CLIENTS as u32 {
            let client = Some(IpAddr::from(n.to_be_bytes()));
            assert_eq!(log.note(client, start), Verdict::Log { unlogged: 0 });
        }
        let newcomers = (0..PER_WINDOW + 5).map(|n| {
            log.note(
                Some(IpAddr::from((u32::MAX - n).to_be_bytes())),
                start + Duration::from_secs(1),
            )
        });
        let verdicts: Vec<Verdict> = newcomers.collect();
        assert_eq!(verdicts.iter().filter(|v| matches!(v, Verdict::Log { .. })).count(), 10);
        assert_eq!(verdicts[PER_WINDOW as usize], Verdict::Quiet);
        assert_eq!(log.state.lock().unwrap().clients.len(), MAX_CLIENTS + 1);
        // Once the old windows have ended they make room again.
        let later = start + WINDOW + Duration::from_secs(1);
        assert_eq!(log.note(addr(9), later), Verdict::Log { unlogged: 0 });
        assert!(log.state.lock().unwrap().clients.len() <= 2);
    }
}
