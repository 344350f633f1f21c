//! Types shared by the browser and the server: what server functions take and return.

use serde::{Deserialize, Serialize};

/// Ids of the stored things, each its own type so that a user id cannot be passed where a
/// token id is meant. On the wire and in the database they are plain integers.
macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        /// The bare number, as logs have always shown ids (`token_id=Some(5)`).
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_types!(
    /// An organization (a tenant).
    OrgId,
    /// A person or a Forwarder Service Account.
    UserId,
    /// An auth token.
    TokenId,
    /// An ingested file.
    FileId,
);

/// A closed set of values, each with a wire name (URLs, JSON, the database) and a label
/// (what the console shows): the enums behind the console's dropdowns and filters.
pub trait Choice: Copy + Eq + Send + Sync + 'static {
    /// Every value, in the order dropdowns list them.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn label(self) -> &'static str;
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// Declares an enum whose variants are `Variant = ("wire_name", "Label")`, with its
/// `Choice` impl. The wire name is also its serde name.
macro_rules! choice {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = ($wire:literal, $label:literal)),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl Choice for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }
        }
    };
}

choice! {
    /// A human user's role. Forwarder Service Accounts have none.
    pub enum Role {
        Admin = ("admin", "Admin"),
        Member = ("member", "Member"),
        ReadOnly = ("read_only", "Read-only"),
    }
}

choice! {
    /// What kind of account a user row is.
    pub enum UserKind {
        User = ("user", "User"),
        Forwarder = ("forwarder", "Forwarder Service Account"),
    }
}

choice! {
    pub enum UserStatus {
        Active = ("active", "Active"),
        Disabled = ("disabled", "Disabled"),
    }
}

choice! {
    /// The two token types of the contract.
    pub enum TokenKind {
        Api = ("api", "API/CLI token"),
        Forwarder = ("forwarder", "File Forwarder token"),
    }
}

impl TokenKind {
    /// The secret's prefix, which tells a reader (and secret scanners) what a leaked value is.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Api => "twa_",
            TokenKind::Forwarder => "twf_",
        }
    }
}

choice! {
    /// The "Status" filter of the Auth tokens tab.
    #[derive(Default)]
    pub enum TokenStatusFilter {
        #[default]
        Active = ("active", "Active"),
        /// Active tokens never used, or last used more than 90 days ago.
        Unused = ("unused", "Unused 90+ days"),
        Revoked = ("revoked", "Revoked"),
        All = ("all", "All"),
    }
}

choice! {
    /// Why a token stopped working.
    pub enum RevokeReason {
        /// An admin revoked it (`revoked_by` says who).
        Revoked = ("revoked", "Revoked"),
        /// An admin regenerated it: a new token with its name replaced it.
        Regenerated = ("regenerated", "Regenerated"),
        /// Someone reported its value exposed, through the public exposure report.
        ReportedExposed = ("reported_exposed", "Reported exposed"),
    }
}

choice! {
    /// What an audit event records. The wire name is what the database and the API hold.
    pub enum AuditAction {
        OrganizationCreated = ("organization_created", "Organization created"),
        SignedIn = ("signed_in", "Signed in"),
        /// A wrong password (or a disabled account) for an email that has an account.
        SignInFailed = ("sign_in_failed", "Sign-in failed"),
        SignedOut = ("signed_out", "Signed out"),
        PasswordChanged = ("password_changed", "Password changed"),
        UserAdded = ("user_added", "User added"),
        RoleChanged = ("role_changed", "Role changed"),
        UserDisabled = ("user_disabled", "User disabled"),
        UserEnabled = ("user_enabled", "User enabled"),
        TokenGenerated = ("token_generated", "Token generated"),
        TokenRegenerated = ("token_regenerated", "Token regenerated"),
        TokenRevoked = ("token_revoked", "Token revoked"),
        TokenReportedExposed = ("token_reported_exposed", "Token reported exposed"),
        FileUploaded = ("file_uploaded", "File uploaded"),
        /// An authenticator app set up (with new recovery codes).
        TwoFactorEnabled = ("two_factor_enabled", "Two-factor enabled"),
        /// Every second factor removed: the app, the recovery codes, the passkeys.
        TwoFactorDisabled = ("two_factor_disabled", "Two-factor disabled"),
        PasskeyAdded = ("passkey_added", "Passkey added"),
        PasskeyRemoved = ("passkey_removed", "Passkey removed"),
        RecoveryCodeUsed = ("recovery_code_used", "Recovery code used"),
        /// Ten new recovery codes; the old ones stopped working.
        RecoveryCodesReplaced = ("recovery_codes_replaced", "Recovery codes replaced"),
        /// "Require two-factor authentication" turned on or off.
        PolicyChanged = ("policy_changed", "Policy changed"),
    }
}

choice! {
    /// Who acted, as the audit log tells them apart.
    pub enum ActorKind {
        User = ("user", "User"),
        Token = ("token", "Token"),
        /// Someone not signed in: a failed sign-in, an exposure report.
        Anonymous = ("anonymous", "Anonymous"),
        /// `tokenwell create-admin` / `create-user` on the server.
        CommandLine = ("command_line", "Command line"),
    }
}

choice! {
    /// What an audit event's target is.
    pub enum TargetKind {
        Organization = ("organization", "Organization"),
        User = ("user", "User"),
        Token = ("token", "Token"),
        File = ("file", "File"),
    }
}

/// One row of the Audit log tab. Names are as they were when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub action: AuditAction,
    pub actor_kind: ActorKind,
    /// "Ada"; for a token, its name and its principal's ("ci (token of Ada)").
    pub actor: String,
    pub target_kind: Option<TargetKind>,
    pub target_id: Option<i64>,
    pub target: Option<String>,
    /// The client's address, when the event came over the network.
    pub address: Option<String>,
    /// A short, secret-free note: "member → admin", "API/CLI token".
    pub detail: String,
}

/// What the audit table asks for; mirrors the URL's `?q=&action=&page=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Part of the actor's or the target's name.
    pub q: String,
    pub action: Option<AuditAction>,
    /// 1-based.
    pub page: u32,
}

pub const EVENTS_PER_PAGE: u32 = 25;

/// The audit log counts the events a filter selects up to this many: an exact count of a
/// million events would cost more than the page itself. Beyond it, the filter narrows, or
/// the CSV export has them all.
pub const EVENTS_COUNTED: u64 = 10_000;

pub type AuditPage = Page<AuditEvent>;

/// What "unused" means for the status filter.
pub const UNUSED_AFTER_SECS: i64 = 90 * 86_400;

/// The signed-in user, as the console sees them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub organization_id: OrgId,
    pub organization_name: String,
    /// Set for a user an admin added: they must choose their own password first.
    pub must_change_password: bool,
    /// When this session last proved who it is (sign-in, or "Confirm access"), Unix seconds.
    pub authenticated_at: i64,
    /// The user has a second factor: an authenticator app or a passkey.
    pub two_factor: bool,
    /// The organization requires a second factor of everyone who signs in.
    pub two_factor_required: bool,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The organization requires a second factor and this user has none yet: they set one up
    /// before anything else.
    pub fn must_set_up_two_factor(&self) -> bool {
        self.two_factor_required && !self.two_factor
    }
}

/// One row of the Users tab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub kind: UserKind,
    pub role: Option<Role>,
    pub status: UserStatus,
    pub created_at: i64,
    /// For a Forwarder Service Account: the File Forwarder token it belongs to.
    pub token: Option<LinkedToken>,
    /// A person with a second factor (an authenticator app or a passkey).
    pub two_factor: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedToken {
    pub id: TokenId,
    pub name: String,
    pub revoked: bool,
}

/// The answer to "Add user": the only time the initial password leaves the server.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewUser {
    pub user: UserRow,
    pub initial_password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("user", &self.user)
            .field("initial_password", &"[redacted]")
            .finish()
    }
}

/// One page of a listing, with the number of rows that match in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: u64,
    /// More rows match than `total`: counting stopped there (the audit log counts at most
    /// `EVENTS_COUNTED`), and paging ends there too.
    #[serde(default)]
    pub more: bool,
    /// 1-based; the last page when more was asked for than exists.
    pub page: u32,
    pub per_page: u32,
    /// Server time of the answer, so relative times render the same on server and browser.
    pub now: i64,
}

pub type UserPage = Page<UserRow>;

/// One row of the Auth tokens tab. Never carries the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: TokenId,
    pub kind: TokenKind,
    pub name: String,
    pub hint: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
    /// The admin who revoked or regenerated it.
    pub revoked_by: Option<String>,
    pub revoked_reason: Option<RevokeReason>,
}

impl TokenRow {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// How the hint is shown: `twa_…wXyZ`.
    pub fn masked(&self) -> String {
        format!("{}…{}", self.kind.prefix(), self.hint)
    }
}

/// What the tokens table asks for; mirrors the URL's `?q=&type=&status=&page=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenQuery {
    pub q: String,
    pub kind: Option<TokenKind>,
    pub status: TokenStatusFilter,
    /// 1-based.
    pub page: u32,
}

/// What the users table asks for; mirrors the URL's `?q=&page=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserQuery {
    /// Part of a name or an email address.
    pub q: String,
    /// 1-based.
    pub page: u32,
}

pub const TOKENS_PER_PAGE: u32 = 25;
pub const USERS_PER_PAGE: u32 = 25;

pub type TokenPage = Page<TokenRow>;

/// The answer to "Generate": the only time the secret leaves the server.
#[derive(Clone, Serialize, Deserialize)]
pub struct GeneratedToken {
    pub token: TokenRow,
    pub secret: String,
}

impl std::fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("token", &self.token)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// What a revoke did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevokeOutcome {
    pub token: TokenRow,
    /// False when the token had been revoked before this request.
    pub revoked_now: bool,
}

/// Formats a Unix time (seconds) as `2026-11-29 09:13 UTC`. Pure arithmetic, so server and
/// browser render the same text and hydration matches.
pub fn format_utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, (secs % 3600) / 60)
}

/// Formats a Unix time as ISO 8601 with seconds, `2026-11-29T09:33:00Z`, for exports.
pub fn format_iso(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Formats a Unix time as a date only: `2026-11-29`.
pub fn format_date(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// "just now", "3 minutes ago", "2 days ago"…
pub fn format_relative(ts: i64, now: i64) -> String {
    let delta = (now - ts).max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match delta {
        0..60 => "just now".to_string(),
        60..3_600 => plural(delta / 60, "minute"),
        3_600..86_400 => plural(delta / 3_600, "hour"),
        86_400..2_592_000 => plural(delta / 86_400, "day"),
        2_592_000..31_536_000 => plural(delta / 2_592_000, "month"),
        _ => plural(delta / 31_536_000, "year"),
    }
}

// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_944_780), "2026-11-29 09:33 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_date(1_795_944_780), "2026-11-29");
    }

    #[test]
    fn formats_relative_times() {
        assert_eq!(format_relative(100, 100), "just now");
        assert_eq!(format_relative(100, 160), "1 minute ago");
        assert_eq!(format_relative(0, 3 * 60 + 5), "3 minutes ago");
        assert_eq!(format_relative(0, 7_200), "2 hours ago");
        assert_eq!(format_relative(0, 86_400 * 3), "3 days ago");
        assert_eq!(format_relative(500, 100), "just now");
    }

    /// Every value of every `Choice` survives its wire name, which is also its JSON name;
    /// names and labels are distinct, and unknown names are refused.
    #[test]
    fn every_choice_round_trips() {
        fn check<C: Choice + std::fmt::Debug + Serialize + serde::de::DeserializeOwned>() {
            let mut wires = std::collections::HashSet::new();
            let mut labels = std::collections::HashSet::new();
            for &c in C::ALL {
                assert_eq!(C::parse(c.as_str()), Some(c));
                let json = serde_json::to_string(&c).unwrap();
                assert_eq!(json, format!("\"{}\"", c.as_str()));
                assert_eq!(serde_json::from_str::<C>(&json).unwrap(), c);
                assert!(wires.insert(c.as_str()), "{c:?}");
                assert!(labels.insert(c.label()), "{c:?}");
            }
            assert_eq!(C::parse("nope"), None);
            assert_eq!(C::parse(""), None);
        }
        check::<Role>();
        check::<UserKind>();
        check::<UserStatus>();
        check::<TokenKind>();
        check::<TokenStatusFilter>();
        check::<RevokeReason>();
        check::<AuditAction>();
        check::<ActorKind>();
        check::<TargetKind>();
    }
}

/// A passkey of the signed-in user, as `/account` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasskeyRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The signed-in user's second factors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoFactorStatus {
    /// An authenticator app is set up.
    pub authenticator_app: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    pub passkeys: Vec<PasskeyRow>,
    /// The organization requires a second factor (turning it off is refused).
    pub required: bool,
}

impl TwoFactorStatus {
    pub fn enabled(&self) -> bool {
        self.authenticator_app || !self.passkeys.is_empty()
    }
}

/// What the "Set up authenticator app" dialog shows: the otpauth address as a QR code (an
/// SVG data URI) and the same secret as text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TotpSetup {
    pub qr_code: String,
    pub setup_key: String,
}

/// How many recovery codes are made at once; each works once.
pub const RECOVERY_CODES: usize = 10;

/// The ways a half-signed-in person may prove the second factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecondFactorOptions {
    pub authenticator_app: bool,
    pub passkey: bool,
}
