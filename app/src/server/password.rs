//! Password hashing: Argon2id (m = 19456 KiB, t = 2, p = 1), always off the async runtime.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use std::sync::Arc;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords on the blocking pool. Holds a hash of a random password so
/// that a sign-in for an unknown email costs the same as one with a wrong password.
#[derive(Clone)]
pub struct Hasher {
    dummy: Arc<str>,
}

impl Hasher {
    pub async fn new() -> Result<Hasher, String> {
        let mut random = [0u8; 24];
        argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
        let dummy = hash(format!("{random:?}")).await?;
        Ok(Hasher { dummy: dummy.into() })
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        hash(password).await
    }

    /// True when `password` matches `stored`. With `stored` absent the work is the same and
    /// the answer is false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, String> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
            Ok::<_, String>(argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok(ok && known)
    }
}

async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

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
