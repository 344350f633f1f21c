//! The domain parsers (`app::domain`) on any text: each accepts exactly what its rule
//! says, returns the normalised value, and accepts its own output unchanged.
#![no_main]

use app::domain::{self, TokenName, PASSWORD_MAX, PASSWORD_MIN, TOKEN_NAME_MAX};
use libfuzzer_sys::fuzz_target;

/// The rule for names: at most `max` characters as given, none of them in the refused
/// table (which must cover every control character), one besides whitespace.
fn is_valid_name(raw: &str, max: usize) -> bool {
    let valid = raw.chars().count() <= max
        && !raw.chars().any(domain::is_refused_in_name)
        && !raw.trim().is_empty();
    if valid {
        assert!(!raw.chars().any(char::is_control), "a control character in {raw:?}");
    }
    valid
}

fn check_token_name(raw: &str) {
    match TokenName::parse(raw) {
        Ok(name) => {
            assert!(is_valid_name(raw, TOKEN_NAME_MAX), "accepted {raw:?}");
            assert_eq!(name.as_str(), raw.trim());
            assert_eq!(name.key(), name.as_str().to_lowercase());
            assert_eq!(TokenName::parse(name.as_str()), Ok(name));
        }
        Err(message) => {
            assert!(!is_valid_name(raw, TOKEN_NAME_MAX), "refused {raw:?}");
            assert!(!message.is_empty());
        }
    }
}

fn check_display_name(raw: &str) {
    match domain::display_name(raw, "a name") {
        Ok(name) => {
            assert!(is_valid_name(raw, 100), "accepted {raw:?}");
            assert_eq!(name, raw.trim());
            assert_eq!(domain::display_name(&name, "a name"), Ok(name.clone()));
        }
        Err(message) => {
            assert!(!is_valid_name(raw, 100), "refused {raw:?}");
            assert!(!message.is_empty());
        }
    }
}

fn check_email(raw: &str) {
    let Ok(email) = domain::email(raw) else { return };
    assert_eq!(email, raw.trim().to_lowercase());
    assert!(email.len() <= 254);
    assert!(!email.chars().any(|c| c.is_whitespace() || c.is_control()), "{email:?}");
    let (local, host) = email.split_once('@').expect("one @");
    assert!(!local.is_empty() && !host.contains('@'), "{email:?}");
    assert!(host.contains('.') && !host.starts_with('.') && !host.ends_with('.'), "{email:?}");
    // Stored addresses are compared with what people type, normalised again.
    assert_eq!(domain::email(&email), Ok(email.clone()), "normalising {raw:?} twice differs");
}

fn check_new_password(raw: &str) {
    let len = raw.chars().count();
    // Only the length bounds are asserted: further rules may refuse more.
    if domain::new_password(raw).is_ok() {
        assert!((PASSWORD_MIN..=PASSWORD_MAX).contains(&len), "accepted {len} characters");
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    check_token_name(&raw);
    check_display_name(&raw);
    check_email(&raw);
    check_new_password(&raw);
});
