//! `TokenSecret::parse`: every API call runs it on the bearer token before any query.
//! The parser's answer must be exactly what the product contract says: the regex
//! `^tw[af]_[0-9A-Za-z]{38}$`, then the checksum. Both are written out here again,
//! independently of the parser, as the oracle.
#![no_main]

use app::{
    model::TokenKind,
    server::token_secret::{ParseError, TokenSecret, CHECKSUM_LEN, TOTAL_LEN},
};
use libfuzzer_sys::fuzz_target;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = TOTAL_LEN - CHECKSUM_LEN;

fn matches_contract_regex(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 42
        && b.starts_with(b"tw")
        && (b[2] == b'a' || b[2] == b'f')
        && b[3] == b'_'
        && b[4..].iter().all(u8::is_ascii_alphanumeric)
}

/// CRC32 of the first 36 characters as 6 base62 digits, most significant first.
fn contract_checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(crc32fast::hash(body));
    let mut digits = [0u8; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits
}

/// Any string: accepted exactly when the contract accepts it, and then read correctly.
fn check_any(raw: &str) {
    match TokenSecret::parse(raw) {
        Ok(secret) => {
            assert!(matches_contract_regex(raw), "accepted a malformed token {raw:?}");
            assert_eq!(contract_checksum(&raw.as_bytes()[..BODY_LEN]), raw.as_bytes()[BODY_LEN..]);
            assert_eq!(secret.expose(), raw);
            assert_eq!(secret.kind().prefix(), &raw[..4]);
            assert_eq!(secret.hint(), raw[TOTAL_LEN - 4..]);
            assert_eq!(secret.digest().len(), 32);
            assert!(!format!("{secret:?}").contains(&raw[4..]), "Debug shows the secret");
        }
        Err(ParseError::Checksum) => {
            assert!(
                matches_contract_regex(raw),
                "a malformed token {raw:?} must be a format error"
            );
            assert_ne!(contract_checksum(&raw.as_bytes()[..BODY_LEN]), raw.as_bytes()[BODY_LEN..]);
        }
        Err(ParseError::Format) => {
            assert!(!matches_contract_regex(raw), "refused a well-formed token {raw:?}")
        }
    }
}

/// A well-formed token built from the input: accepted, and refused after any one change.
fn check_built(data: &[u8]) {
    let [kind_byte, rest @ ..] = data else { return };
    if rest.len() < 34 {
        return;
    }
    let kind = if kind_byte & 1 == 0 { TokenKind::Api } else { TokenKind::Forwarder };
    let mut token = kind.prefix().as_bytes().to_vec();
    token.extend(rest[..32].iter().map(|b| BASE62[*b as usize % 62]));
    let checksum = contract_checksum(&token);
    token.extend_from_slice(&checksum);
    let valid = String::from_utf8(token.clone()).expect("ASCII");
    let parsed = TokenSecret::parse(&valid).expect("a token with the right checksum is accepted");
    assert_eq!(parsed.kind(), kind);

    let position = 4 + rest[32] as usize % (TOTAL_LEN - 4);
    let replacement = BASE62[rest[33] as usize % 62];
    if token[position] != replacement {
        token[position] = replacement;
        let changed = String::from_utf8(token).expect("ASCII");
        assert_eq!(TokenSecret::parse(&changed).err(), Some(ParseError::Checksum), "{changed}");
    }
}

fuzz_target!(|data: &[u8]| {
    check_any(&String::from_utf8_lossy(data));
    check_built(data);
});
