//! Secrets kept at rest (authenticator apps' TOTP secrets), sealed with XChaCha20-Poly1305
//! under one 256-bit key: `TOKENWELL_SECRET_KEY` (64 hex digits), or, when that is unset,
//! a key generated once into the data directory. Several instances must share one key.
//!
//! A sealed value is `version (1) ‖ nonce (24) ‖ ciphertext+tag`, bound to what it belongs
//! to (associated data, e.g. the user id), so a value copied to another row does not open.

use std::path::Path;

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::{rngs::OsRng, TryRngCore};

const VERSION: u8 = 1;
const NONCE: usize = 24;
/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("TOKENWELL_SECRET_KEY must be 64 hexadecimal digits (32 bytes)")]
    BadKey,
    #[error("cannot read or write the secret key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("the operating system's random generator failed")]
    Random,
    /// Wrong key, or the value was changed or moved: never a partial result.
    #[error("a stored secret cannot be opened: was TOKENWELL_SECRET_KEY changed?")]
    Open,
}

/// The key, and nothing else: `Debug` shows no part of it.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Where the key came from, for the start-up log line.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File,
    Generated,
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// A key from hex text (the environment variable's format).
    pub fn from_hex(text: &str) -> Result<SecretBox, SecretBoxError> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SecretBoxError::BadKey);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| SecretBoxError::BadKey)?;
        }
        Ok(SecretBox::from_key(&key))
    }

    /// The key from `TOKENWELL_SECRET_KEY` when given; else the data directory's key file,
    /// created with a new random key (readable by its owner only) when missing.
    pub fn load(
        from_env: Option<&str>,
        data_dir: &Path,
    ) -> Result<(SecretBox, KeySource), SecretBoxError> {
        if let Some(text) = from_env.filter(|t| !t.trim().is_empty()) {
            return Ok((SecretBox::from_hex(text)?, KeySource::Environment));
        }
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((SecretBox::from_hex(&text)?, KeySource::File)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SecretBoxError::KeyFile(shown, e)),
        }
        let mut key = [0u8; 32];
        OsRng.try_fill_bytes(&mut key).map_err(|_| SecretBoxError::Random)?;
        let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::create_dir_all(data_dir).map_err(|e| SecretBoxError::KeyFile(shown.clone(), e))?;
        write_new_private(&path, &text).map_err(|e| SecretBoxError::KeyFile(shown.clone(), e))?;
        // Two instances starting at once on one directory: the first file wins.
        let text = std::fs::read_to_string(&path).map_err(|e| SecretBoxError::KeyFile(shown, e))?;
        Ok((SecretBox::from_hex(&text)?, KeySource::Generated))
    }

    /// Seals `plain`, bound to `context`.
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let mut nonce = [0u8; NONCE];
        OsRng.try_fill_bytes(&mut nonce).map_err(|_| SecretBoxError::Random)?;
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: context })
            .map_err(|_| SecretBoxError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what `seal` made with the same key and `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < 1 + NONCE || sealed[0] != VERSION {
            return Err(SecretBoxError::Open);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: context })
            .map_err(|_| SecretBoxError::Open)
    }
}

/// Creates `path` with `text`, failing if it exists; owner-only on Unix.
fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => file.write_all(text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let a = SecretBox::from_key(&[7; 32]);
        let b = SecretBox::from_key(&[8; 32]);
        let sealed = a.seal(b"JBSWY3DPEHPK3PXP", b"user 1").unwrap();
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        assert_eq!(a.open(&sealed, b"user 1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(a.open(&sealed, b"user 2").is_err(), "moved to another user");
        assert!(b.open(&sealed, b"user 1").is_err(), "another key");
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(a.open(&changed, b"user 1").is_err(), "changed");
        // Two seals of one value differ (random nonces).
        assert_ne!(a.seal(b"x", b"c").unwrap(), a.seal(b"x", b"c").unwrap());
    }

    #[test]
    fn the_key_comes_from_the_environment_or_one_generated_file() {
        let dir = std::env::temp_dir().join(format!("tw-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, source) = SecretBox::load(None, &dir).unwrap();
        assert_eq!(source, KeySource::Generated);
        let (again, source) = SecretBox::load(None, &dir).unwrap();
        assert_eq!(source, KeySource::File);
        let sealed = first.seal(b"s", b"c").unwrap();
        assert_eq!(again.open(&sealed, b"c").unwrap(), b"s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let hex = "11".repeat(32);
        let (env, source) = SecretBox::load(Some(&hex), &dir).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert!(env.open(&sealed, b"c").is_err());
        assert!(matches!(SecretBox::load(Some("abc"), &dir), Err(SecretBoxError::BadKey)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
