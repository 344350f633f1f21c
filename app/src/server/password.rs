//! Password hashing: Argon2id (m = 19456 KiB, t = 2, p = 1), always off the async runtime,
//! at most a few at a time; and the strength rule for new passwords.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::Semaphore;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// How long a hash waits for a free slot before the request is answered 503.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed busy for [`QUEUE_WAIT`].
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords on the blocking pool. Each hash holds 19 MiB and a core for
/// tens of milliseconds, so only twice as many run at once as there are cores; the rest wait
/// briefly, then get [`PasswordError::Busy`] rather than queueing without bound. Holds a hash
/// of a random password so that a sign-in for an unknown email costs the same as one with a
/// wrong password.
#[derive(Clone)]
pub struct Hasher {
    dummy: Arc<str>,
    slots: Arc<Semaphore>,
    verifications: Arc<AtomicU64>,
}

impl Hasher {
    pub async fn new() -> Result<Hasher, PasswordError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Hasher::with_slots(2 * cores).await
    }

    pub async fn with_slots(slots: usize) -> Result<Hasher, PasswordError> {
        let mut random = [0u8; 24];
        argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
        let dummy = run_blocking(move || hash(format!("{random:?}"))).await?;
        Ok(Hasher {
            dummy: dummy.into(),
            slots: Arc::new(Semaphore::new(slots)),
            verifications: Arc::default(),
        })
    }

    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PasswordError> {
        match tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(PasswordError::Busy),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let slot = self.slot().await?;
        // The slot moves into the blocking task: if the request is dropped (the client
        // hangs up, a timeout fires), the hash still runs to its end and holds the slot
        // until then, so abandoned requests cannot pile up hashes beyond the cap.
        run_blocking(move || {
            let _slot = slot;
            hash(password)
        })
        .await
    }

    /// True when `password` matches `stored`. With `stored` absent the work is the same and
    /// the answer is false.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let slot = self.slot().await?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.to_string());
        let ok = run_blocking(move || {
            let _slot = slot;
            let parsed = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
            Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await?;
        Ok(ok && known)
    }

    /// How many passwords this process has verified (tests count guesses with it).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, PasswordError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))?
        .map_err(PasswordError::Failed)
}

fn hash(password: String) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Characters of a password that the strength estimate looks at: enough for any real
/// password, and it bounds the estimator's work on a 256-character one.
const STRENGTH_PREFIX: usize = 100;

/// The rule for a password someone chooses: the length rule of [`crate::domain::new_password`],
/// and not guessable: zxcvbn's score of at least 3 of 4 ("safely unguessable: moderate
/// protection from offline slow-hash scenario"), counting words of `context` (the person's
/// name, email, organization) as known to an attacker. The message says why and what helps.
pub fn check_new_password(password: &str, context: &[&str]) -> Result<(), String> {
    crate::domain::new_password(password)?;
    let prefix: String = password.chars().take(STRENGTH_PREFIX).collect();
    let mut words: Vec<&str> = Vec::new();
    for item in context {
        words.push(item);
        words.extend(item.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3));
    }
    let estimate = zxcvbn::zxcvbn(&prefix, &words);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let mut message = String::from("This password is too easy to guess");
    match estimate.feedback().and_then(|f| f.warning()) {
        Some(warning) => {
            message.push_str(&format!(": {}", warning.to_string().trim_end_matches('.')))
        }
        None => message.push_str(" (common words, names, dates and patterns are tried first)"),
    }
    message.push_str(". Use a longer phrase of several unrelated words.");
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for weak in
            ["aaaaaaaaaaaa", "password1234", "qwertyuiop123", "123456789012", "Password2024!"]
        {
            let err = check_new_password(weak, &[]).expect_err(weak);
            assert!(err.starts_with("This password is too easy to guess"), "{weak}: {err}");
        }
        assert!(check_new_password("ada@acme.test1", &["Ada Lovelace", "ada@acme.test"]).is_err());
        assert!(check_new_password("short", &[]).unwrap_err().contains("at least"));
        for strong in
            ["correct horse battery staple", "plinth marmot sixty quarrel", "Xq7!vR2#mK9@pL4$"]
        {
            assert_eq!(check_new_password(strong, &["Acme"]), Ok(()), "{strong}");
        }
        // The longest password allowed is judged quickly, on its first characters.
        assert_eq!(
            check_new_password(&"plinth marmot sixty quarrel ".repeat(10)[..256], &[]),
            Ok(())
        );
    }

    #[tokio::test]
    async fn saturated_hashing_answers_busy_instead_of_queueing() {
        let h = Hasher::with_slots(1).await.unwrap();
        let held = h.slot().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(h.verify("x".repeat(12), None).await, Err(PasswordError::Busy)));
        assert!(started.elapsed() >= QUEUE_WAIT);
        drop(held);
        assert!(!h.verify("x".repeat(12), None).await.unwrap());
        assert_eq!(h.verifications(), 1);
    }

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_slot_until_it_ends() {
        let h = Hasher::with_slots(1).await.unwrap();
        // Start a verification and drop its future once the blocking work has begun.
        let started =
            tokio::time::timeout(Duration::from_millis(5), h.verify("x".repeat(12), None)).await;
        assert!(started.is_err(), "the hash should still be running");
        // The slot is still taken by the hash running on the blocking pool…
        assert!(h.slots.try_acquire().is_err());
        // …and free again once it has finished.
        let permit =
            tokio::time::timeout(Duration::from_secs(10), Arc::clone(&h.slots).acquire_owned())
                .await;
        assert!(permit.is_ok());
    }

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = Hasher::new().await.unwrap();
        let stored = h.hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(h.verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!h.verify("wrong horse battery".into(), Some(stored)).await.unwrap());
        assert!(!h.verify("anything at all".into(), None).await.unwrap());
    }
}
