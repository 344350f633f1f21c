//! Token secrets: `tw[af]_` + 32 random base62 characters + a 6-character base62 CRC32 of
//! everything before it. The checksum lets us refuse typos and random guesses without a
//! database query; the secret itself is stored only as its SHA-256 digest.

use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};

use crate::model::TokenKind;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const RANDOM_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
pub const TOTAL_LEN: usize = 4 + RANDOM_LEN + CHECKSUM_LEN;
pub const HINT_LEN: usize = 4;

/// A token secret. `Debug` never shows the value; the only ways to read it are
/// `expose` (to hand it to its owner once) and `digest`.
pub struct TokenSecret {
    kind: TokenKind,
    value: String,
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSecret({}…[redacted])", self.kind.prefix())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    Format,
    Checksum,
}

impl TokenSecret {
    /// A new secret from the operating system's CSPRNG.
    pub fn generate(kind: TokenKind) -> Result<TokenSecret, rand::rand_core::OsError> {
        let mut value = String::with_capacity(TOTAL_LEN);
        value.push_str(kind.prefix());
        value.push_str(&random_base62(RANDOM_LEN)?);
        let checksum = checksum(value.as_bytes());
        value.push_str(&checksum);
        Ok(TokenSecret { kind, value })
    }

    /// Checks shape and checksum; touches nothing else.
    pub fn parse(raw: &str) -> Result<TokenSecret, ParseError> {
        let bytes = raw.as_bytes();
        if bytes.len() != TOTAL_LEN || !bytes[4..].iter().all(u8::is_ascii_alphanumeric) {
            return Err(ParseError::Format);
        }
        let kind = match &raw[..4] {
            "twa_" => TokenKind::Api,
            "twf_" => TokenKind::Forwarder,
            _ => return Err(ParseError::Format),
        };
        let (body, sum) = raw.split_at(TOTAL_LEN - CHECKSUM_LEN);
        if checksum(body.as_bytes()) != sum {
            return Err(ParseError::Checksum);
        }
        Ok(TokenSecret { kind, value: raw.to_string() })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The last four characters, shown in the console as `twa_…wXyZ`.
    pub fn hint(&self) -> String {
        self.value[TOTAL_LEN - HINT_LEN..].to_string()
    }

    /// SHA-256 of the whole secret: what the database stores and looks up.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.value.as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.value
    }
}

/// `len` base62 characters from the operating system's CSPRNG, uniformly distributed
/// (rejection sampling: 248 = 4 × 62, so accepted bytes map evenly onto the alphabet).
/// Also used for generated initial passwords.
pub fn random_base62(len: usize) -> Result<String, rand::rand_core::OsError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng.try_fill_bytes(&mut buf)?;
        for b in buf.iter().filter(|b| **b < 248).take(len - out.len()) {
            out.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    Ok(out)
}

/// CRC32 of `data` as 6 base62 digits (62^6 > 2^32), most significant first.
fn checksum(data: &[u8]) -> String {
    let mut n = crc32fast::hash(data) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Choice;

    fn matches_contract_regex(s: &str) -> bool {
        s.len() == TOTAL_LEN
            && (s.starts_with("twa_") || s.starts_with("twf_"))
            && s[4..].bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn generated_secrets_have_the_contract_format() {
        for &kind in TokenKind::ALL {
            let s = TokenSecret::generate(kind).unwrap();
            assert!(matches_contract_regex(s.expose()), "{}", s.expose());
            assert!(s.expose().starts_with(kind.prefix()));
            let parsed = TokenSecret::parse(s.expose()).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.digest(), s.digest());
        }
    }

    #[test]
    fn secrets_differ_and_use_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        let mut chars = std::collections::HashSet::new();
        for _ in 0..200 {
            let s = TokenSecret::generate(TokenKind::Api).unwrap();
            chars.extend(s.expose()[4..36].chars());
            assert!(seen.insert(s.expose().to_string()));
        }
        assert_eq!(chars.len(), 62);
    }

    #[test]
    fn any_one_character_change_is_rejected_by_the_checksum() {
        let s = TokenSecret::generate(TokenKind::Forwarder).unwrap();
        let original = s.expose().as_bytes().to_vec();
        for i in 4..TOTAL_LEN {
            for &c in ALPHABET.iter() {
                if c == original[i] {
                    continue;
                }
                let mut changed = original.clone();
                changed[i] = c;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(TokenSecret::parse(&changed).unwrap_err(), ParseError::Checksum, "{i}");
            }
        }
    }

    #[test]
    fn malformed_secrets_are_rejected() {
        let s = TokenSecret::generate(TokenKind::Api).unwrap();
        let v = s.expose();
        assert_eq!(TokenSecret::parse("").unwrap_err(), ParseError::Format);
        assert_eq!(TokenSecret::parse(&v[..41]).unwrap_err(), ParseError::Format);
        assert_eq!(TokenSecret::parse(&format!("{v}x")).unwrap_err(), ParseError::Format);
        assert_eq!(
            TokenSecret::parse(&v.replacen("twa_", "twx_", 1)).unwrap_err(),
            ParseError::Format
        );
        assert_eq!(
            TokenSecret::parse(&v.replacen("twa_", "twf_", 1)).unwrap_err(),
            ParseError::Checksum
        );
        let mut dashed = v.to_string();
        dashed.replace_range(10..11, "-");
        assert_eq!(TokenSecret::parse(&dashed).unwrap_err(), ParseError::Format);
        assert_eq!(TokenSecret::parse(&"é".repeat(21)).unwrap_err(), ParseError::Format);
    }

    #[test]
    fn hint_is_the_last_four_characters_and_debug_redacts() {
        let s = TokenSecret::generate(TokenKind::Api).unwrap();
        assert_eq!(s.hint(), &s.expose()[TOTAL_LEN - 4..]);
        let debug = format!("{s:?}");
        assert!(!debug.contains(&s.expose()[4..]), "{debug}");
    }
}
