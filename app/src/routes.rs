//! The console's addresses, once: the router (`App`), the shell's navigation and the
//! server's page gate all read them from here.

/// The sign-in page.
pub const LOGIN: &str = "/login";
/// The second step of signing in, for an account with a second factor.
pub const SECOND_FACTOR: &str = "/login/two-factor";
/// First run only: creates the organization and its first admin.
pub const SETUP: &str = "/setup";
/// The Organization section; its bare address shows the first tab.
pub const SETTINGS: &str = "/settings";
/// The signed-in user's own account.
pub const ACCOUNT: &str = "/account";

/// The Audit log tab's events as a CSV file (with the tab's `?q=&action=`); a download, not
/// a page, behind the same sign-in.
pub const AUDIT_CSV: &str = "/settings/audit-log/events.csv";

/// A top-level path's one segment, for the router.
pub fn segment(path: &'static str) -> &'static str {
    path.trim_start_matches('/')
}

/// The tabs of Settings › Organization, in the order of its navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsTab {
    Users,
    Tokens,
    AuditLog,
    /// How people sign in: "Require two-factor authentication".
    Security,
}

impl SettingsTab {
    pub const ALL: [SettingsTab; 4] =
        [SettingsTab::Users, SettingsTab::Tokens, SettingsTab::AuditLog, SettingsTab::Security];
    /// What `/settings` itself shows.
    pub const DEFAULT: SettingsTab = SettingsTab::Tokens;

    /// The tab's path segment under `/settings/`.
    pub const fn segment(self) -> &'static str {
        match self {
            SettingsTab::Users => "users",
            SettingsTab::Tokens => "auth-tokens",
            SettingsTab::AuditLog => "audit-log",
            SettingsTab::Security => "security",
        }
    }

    pub const fn path(self) -> &'static str {
        match self {
            SettingsTab::Users => "/settings/users",
            SettingsTab::Tokens => "/settings/auth-tokens",
            SettingsTab::AuditLog => "/settings/audit-log",
            SettingsTab::Security => "/settings/security",
        }
    }

    /// The tab link's text.
    pub const fn label(self) -> &'static str {
        match self {
            SettingsTab::Users => "Users",
            SettingsTab::Tokens => "Auth tokens",
            SettingsTab::AuditLog => "Audit log",
            SettingsTab::Security => "Security",
        }
    }
}

/// Who may see a page; the server's page gate redirects everyone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only while the organization is not set up yet.
    Setup,
    /// Only while signed out (the sign-in page).
    SignedOut,
    /// Only while signed in (the console).
    SignedIn,
}

/// The access rule of a page at `path`, or `None` for anything that is not a console page
/// (assets, server functions, the API, unknown addresses).
pub fn access(path: &str) -> Option<Access> {
    match path {
        SETUP => Some(Access::Setup),
        LOGIN | SECOND_FACTOR => Some(Access::SignedOut),
        "/" | SETTINGS | ACCOUNT | AUDIT_CSV => Some(Access::SignedIn),
        _ => SettingsTab::ALL.iter().any(|tab| tab.path() == path).then_some(Access::SignedIn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tab_path_is_its_segment_under_settings() {
        for tab in SettingsTab::ALL {
            assert_eq!(tab.path(), format!("{SETTINGS}/{}", tab.segment()));
            assert_eq!(access(tab.path()), Some(Access::SignedIn));
        }
        assert!(SettingsTab::ALL.contains(&SettingsTab::DEFAULT));
    }

    #[test]
    fn only_console_pages_have_an_access_rule() {
        assert_eq!(access("/"), Some(Access::SignedIn));
        assert_eq!(access("/login"), Some(Access::SignedOut));
        assert_eq!(access("/setup"), Some(Access::Setup));
        assert_eq!(access("/login/two-factor"), Some(Access::SignedOut));
        for other in
            ["/settings/nope", "/settings/users/1", "/rpc/login", "/pkg/x.js", "/api/v1/me"]
        {
            assert_eq!(access(other), None, "{other}");
        }
    }
}
