//! "Last used" for tokens: recorded at most once a minute per token, off the request's
//! path. A request only checks an in-memory map and, at most once a minute per token,
//! hands the write to a background task; the SQL is conditional too, so several server
//! instances together still write at most about once a minute.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::mpsc;

use super::Store;
use crate::model::TokenId;

pub const INTERVAL_SECS: i64 = 60;
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct LastUsed {
    inner: Arc<Inner>,
}

struct Inner {
    /// Token id → when we last asked for a write.
    recent: Mutex<HashMap<TokenId, i64>>,
    queue: mpsc::Sender<Use>,
    writes: AtomicU64,
}

struct Use {
    token_id: TokenId,
    at: i64,
    addr: Option<IpAddr>,
}

impl LastUsed {
    /// Starts the background writer. Call within a Tokio runtime.
    pub fn start(store: Store) -> LastUsed {
        let (queue, mut rx) = mpsc::channel::<Use>(QUEUE);
        let inner = Arc::new(Inner {
            recent: Mutex::new(HashMap::new()),
            queue,
            writes: AtomicU64::new(0),
        });
        let writer = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(u) = rx.recv().await {
                let addr = u.addr.map(|a| a.to_string());
                match store.record_token_use(u.token_id, u.at, addr.as_deref(), INTERVAL_SECS).await
                {
                    Ok(wrote) => {
                        if let (true, Some(inner)) = (wrote, writer.upgrade()) {
                            inner.writes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(token_id = %u.token_id, "could not record token use: {e}")
                    }
                }
            }
        });
        LastUsed { inner }
    }

    /// Notes a use of the token. Never waits for the database.
    pub fn record(&self, token_id: TokenId, at: i64, addr: Option<IpAddr>) {
        {
            let mut recent = self.inner.recent.lock().unwrap_or_else(|e| e.into_inner());
            match recent.get(&token_id) {
                Some(last) if at - last < INTERVAL_SECS => return,
                _ => {}
            }
            if recent.len() > 100_000 {
                recent.retain(|_, last| at - *last < INTERVAL_SECS);
            }
            recent.insert(token_id, at);
        }
        // A full queue means the database is far behind; dropping a "last used" update
        // is better than slowing requests down.
        let _ = self.inner.queue.try_send(Use { token_id, at, addr });
    }

    /// Database writes done so far (for tests and metrics).
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }
}
