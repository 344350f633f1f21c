//! Validated input. Each `parse` returns a message that tells the person what to change.

/// Characters refused anywhere in a name (tokens, files, people, organizations): control
/// characters (Cc); format characters (Cf): bidirectional embeddings, overrides, isolates
/// and marks, zero-width and other invisible characters, which can make one name look like
/// another; and the line and paragraph separators. Inclusive ranges. The API's document
/// states the same rule as a pattern built from this table.
pub const REFUSED_IN_NAMES: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// What `str::trim` removes and `REFUSED_IN_NAMES` does not already refuse: a name must
/// have one character besides these.
pub const NAME_WHITESPACE: &[(char, char)] = &[
    (' ', ' '),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

pub fn is_refused_in_name(c: char) -> bool {
    REFUSED_IN_NAMES.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// Why `checked_name` refused a name; each caller words its own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty, or whitespace only.
    Blank,
    /// More than the maximum: `len` characters.
    TooLong { len: usize },
    /// One of `REFUSED_IN_NAMES`.
    RefusedCharacter,
}

/// The rule for every name: at most `max` characters as given, none of them refused, and
/// one besides whitespace. Returns the name trimmed. Counting the characters as given (not
/// trimmed) keeps the rule a plain length and pattern, as the API's document states it.
pub fn checked_name(raw: &str, max: usize) -> Result<&str, NameError> {
    let len = raw.chars().count();
    if len > max {
        return Err(NameError::TooLong { len });
    }
    if raw.chars().any(is_refused_in_name) {
        return Err(NameError::RefusedCharacter);
    }
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Blank);
    }
    Ok(name)
}

/// A token's name: `checked_name` with at most 64 characters; kept trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName(String);

pub const TOKEN_NAME_MAX: usize = 64;

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName, String> {
        match checked_name(raw, TOKEN_NAME_MAX) {
            Ok(name) => Ok(TokenName(name.to_string())),
            Err(NameError::Blank) => Err("Enter a name, for example Tines-integration-prod.".into()),
            Err(NameError::TooLong { len }) => Err(format!("Use at most {TOKEN_NAME_MAX} characters; this name has {len}.")),
            Err(NameError::RefusedCharacter) => Err(
                "Remove line breaks, tabs and invisible or text-direction characters (such as U+202E) from the name."
                    .into(),
            ),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes names unique regardless of case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A file's name: `checked_name` with at most 255 characters; kept trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);

pub const FILE_NAME_MAX: usize = 255;

impl FileName {
    pub fn parse(raw: &str) -> Result<FileName, String> {
        match checked_name(raw, FILE_NAME_MAX) {
            Ok(name) => Ok(FileName(name.to_string())),
            Err(NameError::Blank) => Err("Give the file a name.".into()),
            Err(NameError::TooLong { len }) => {
                Err(format!("Use at most {FILE_NAME_MAX} characters; this name has {len}."))
            }
            Err(NameError::RefusedCharacter) => Err(
                "Remove control characters, bidirectional controls and invisible formatting characters from the name."
                    .into(),
            ),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest text a list's filter takes.
pub const FILTER_MAX: usize = 200;

/// A list's filter text, as given.
pub fn filter(raw: &str) -> Result<&str, String> {
    if raw.chars().count() > FILTER_MAX {
        return Err(format!("Use at most {FILTER_MAX} characters to filter."));
    }
    // No name holds one (`checked_name`), and PostgreSQL cannot take a NUL in text at all.
    if raw.chars().any(char::is_control) {
        return Err("Filters cannot contain control characters.".into());
    }
    Ok(raw)
}

/// `filter`'s rule as a regular expression, for the API's document.
pub const FILTER_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";

pub const DISPLAY_NAME_MAX: usize = 100;

/// A person's or organization's display name: `checked_name` with at most 100 characters;
/// returned trimmed.
pub fn display_name(raw: &str, what: &str) -> Result<String, String> {
    match checked_name(raw, DISPLAY_NAME_MAX) {
        Ok(name) => Ok(name.to_string()),
        Err(NameError::Blank) => Err(format!("Enter {what}.")),
        Err(NameError::TooLong { len }) => {
            Err(format!("Use at most {DISPLAY_NAME_MAX} characters for {what}; this has {len}."))
        }
        Err(NameError::RefusedCharacter) => Err(format!(
            "Remove line breaks, tabs and invisible or text-direction characters from {what}."
        )),
    }
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
        return Err(format!(
            "Use at least {PASSWORD_MIN} characters. A few unrelated words make a strong password."
        ));
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
        assert!(TokenName::parse("\u{3000}\u{a0}").unwrap_err().contains("Enter a name"));
        assert!(TokenName::parse(&"x".repeat(64)).is_ok());
        assert!(TokenName::parse(&"x".repeat(65)).unwrap_err().contains("has 65"));
        // Characters as given, surrounding whitespace included, as the API's document says.
        assert!(TokenName::parse(&format!("{} ", "x".repeat(64))).unwrap_err().contains("has 65"));
        // Characters, not bytes.
        assert!(TokenName::parse(&"é".repeat(64)).is_ok());
        assert!(TokenName::parse("a\u{7}b").is_err());
        assert!(TokenName::parse("a\nb").is_err());
        assert_eq!(TokenName::parse("Tines-Prod").unwrap().key(), "tines-prod");
    }

    #[test]
    fn names_refuse_bidirectional_and_invisible_characters_anywhere() {
        let sneaky = [
            "ci\u{202e}gnp.exe", // right-to-left override
            "ci\u{2066}prod",    // left-to-right isolate
            "ci\u{200b}prod",    // zero-width space
            "ci\u{200f}",        // right-to-left mark
            "\u{feff}ci",        // byte order mark
            "ci\u{ad}prod",      // soft hyphen
            "ci\u{e0041}",       // tag character
            "ci\u{2028}",        // line separator, which trim would remove
            "ci\t",              // tab, which trim would remove
            "ci\u{85}",          // next line (C1)
        ];
        for name in sneaky {
            assert_eq!(checked_name(name, 64), Err(NameError::RefusedCharacter), "{name:?}");
            assert!(TokenName::parse(name).unwrap_err().contains("text-direction"), "{name:?}");
            assert!(
                display_name(name, "a name").unwrap_err().contains("text-direction"),
                "{name:?}"
            );
        }
        for fine in ["résumé", "東京-prod", "a b", "ci\u{200a}prod", "emoji-🙂", "Ωmega\u{301}"]
        {
            assert!(TokenName::parse(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn the_whitespace_table_is_what_trim_removes_and_is_not_refused() {
        let in_table =
            |c: char| NAME_WHITESPACE.iter().any(|&(first, last)| (first..=last).contains(&c));
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(
                in_table(c),
                c.is_whitespace() && !is_refused_in_name(c),
                "U+{:04X}",
                c as u32
            );
        }
        // Every control character is refused.
        for c in (0..=0x10ffff).filter_map(char::from_u32).filter(|c| c.is_control()) {
            assert!(is_refused_in_name(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
        ] {
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
    fn file_names_are_trimmed_bounded_and_say_what_to_change() {
        assert_eq!(FileName::parse(" report.pdf ").unwrap().as_str(), "report.pdf");
        assert_eq!(FileName::parse(" ").unwrap_err(), "Give the file a name.");
        assert!(FileName::parse(&"x".repeat(FILE_NAME_MAX)).is_ok());
        assert!(FileName::parse(&"x".repeat(256)).unwrap_err().contains("this name has 256"));
        assert!(FileName::parse("a\u{202e}b").unwrap_err().contains("bidirectional controls"));
    }

    #[test]
    fn filters_take_at_most_200_characters() {
        assert_eq!(filter(&"é".repeat(FILTER_MAX)), Ok("é".repeat(FILTER_MAX).as_str()));
        assert_eq!(
            filter(&"x".repeat(FILTER_MAX + 1)),
            Err("Use at most 200 characters to filter.".to_string())
        );
    }

    #[test]
    fn display_names_are_trimmed() {
        assert_eq!(display_name(" Acme ", "a name").unwrap(), "Acme");
        assert!(display_name("", "the organization name")
            .unwrap_err()
            .contains("organization name"));
        assert!(display_name(&"x".repeat(100), "a name").is_ok());
        assert!(display_name(&"x".repeat(101), "a name").unwrap_err().contains("this has 101"));
        assert!(display_name("Ada\u{202e}", "a name").is_err());
    }
}
