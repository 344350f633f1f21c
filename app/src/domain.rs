//! Validated input. Each `parse` returns a message that tells the person what to change.

/// A token's name: trimmed, 1–64 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName(String);

pub const TOKEN_NAME_MAX: usize = 64;

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName, String> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err("Enter a name, for example Tines-integration-prod.".into());
        }
        if len > TOKEN_NAME_MAX {
            return Err(format!(
                "Use at most {TOKEN_NAME_MAX} characters; this name has {len}."
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("Remove line breaks, tabs and other control characters from the name.".into());
        }
        Ok(TokenName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes names unique regardless of case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A person's or organization's display name: trimmed, 1–100 characters, no control characters.
pub fn display_name(raw: &str, what: &str) -> Result<String, String> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 {
        return Err(format!("Enter {what}."));
    }
    if len > 100 {
        return Err(format!("Use at most 100 characters for {what}; this has {len}."));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("Remove line breaks and other control characters from {what}."));
    }
    Ok(name.to_string())
}

/// The longest email address (RFC 5321's path limit less the angle brackets), in bytes.
pub const EMAIL_MAX: usize = 254;

/// An email address, normalised to lower case. Deliverability is not our business; the
/// shape must be plausible so a typo is caught early.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let invalid = || Err("Enter an email address such as name@example.com.".to_string());
    if email.len() > EMAIL_MAX || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid();
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(email)
        }
        _ => invalid(),
    }
}

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 256;

/// The length rule (NIST SP 800-63B): no composition rules. The server also refuses
/// guessable passwords (`server::password::check_new_password`).
pub fn new_password(raw: &str) -> Result<(), String> {
    let len = raw.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!("Use at least {PASSWORD_MIN} characters. A few unrelated words make a strong password."));
    }
    if len > PASSWORD_MAX {
        return Err(format!("Use at most {PASSWORD_MAX} characters."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_trimmed_and_bounded() {
        assert_eq!(TokenName::parse("  forwarder-dc-east ").unwrap().as_str(), "forwarder-dc-east");
        assert!(TokenName::parse("   ").unwrap_err().contains("Enter a name"));
        assert!(TokenName::parse(&"x".repeat(64)).is_ok());
        assert!(TokenName::parse(&"x".repeat(65)).unwrap_err().contains("has 65"));
        // Characters, not bytes.
        assert!(TokenName::parse(&"é".repeat(64)).is_ok());
        assert!(TokenName::parse("a\u{7}b").is_err());
        assert!(TokenName::parse("a\nb").is_err());
        assert_eq!(TokenName::parse("Tines-Prod").unwrap().key(), "tines-prod");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "a@b@c.com", "a@.com"] {
            assert!(email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_need_length_only() {
        assert!(new_password("short").is_err());
        assert!(new_password("correct horse").is_ok());
        assert!(new_password("aaaaaaaaaaaa").is_ok());
        assert!(new_password(&"x".repeat(256)).is_ok());
        assert!(new_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn display_names_are_trimmed() {
        assert_eq!(display_name(" Acme ", "a name").unwrap(), "Acme");
        assert!(display_name("", "the organization name").unwrap_err().contains("organization name"));
    }
}
