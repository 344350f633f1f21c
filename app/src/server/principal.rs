//! Who is calling, and what they may do: the one caller type of the console and the API,
//! and the contract's permission table in one function.
//!
//! A console request's session and an API request's bearer token are each resolved once,
//! by the HTTP layer, into a `Principal`; every service asks it before acting.

use std::net::IpAddr;

use super::{
    db::{Actor, TokenAuth},
    error::ServiceError,
    now,
    token_secret::TokenSecret,
    AppState,
};
use crate::model::{OrgId, Role, TokenId, TokenKind, UserId, Viewer};

/// The caller of a request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A person signed in to the console, as their session found them on this request.
    Session(Viewer),
    /// A bearer token on the API, with its principal's role and status as they are now.
    Token(TokenAuth),
}

/// Everything someone can do in the console or through the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The console's current user; the API's `whoami`.
    WhoAmI,
    SignOut,
    ChangeOwnPassword,
    ListTokens,
    GenerateToken,
    RevokeToken,
    /// Replace a token by a new one of the same name and principal.
    RegenerateToken,
    ListUsers,
    AddUser,
    ChangeUserRole,
    /// Disable or enable a person or a Forwarder Service Account.
    SetUserStatus,
    ResetPassword,
    UploadFile,
    ListFiles,
    /// Read or export the audit log.
    ListAuditEvents,
    /// One's own second factors: authenticator app, passkeys, recovery codes, "Confirm access".
    ManageOwnTwoFactor,
    /// The organization's "Require two-factor authentication".
    SetTwoFactorPolicy,
    /// Remove another person's second factors (they lost them).
    ResetTwoFactor,
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::WhoAmI,
        Action::SignOut,
        Action::ChangeOwnPassword,
        Action::ListTokens,
        Action::GenerateToken,
        Action::RevokeToken,
        Action::RegenerateToken,
        Action::ListUsers,
        Action::AddUser,
        Action::ChangeUserRole,
        Action::SetUserStatus,
        Action::ResetPassword,
        Action::UploadFile,
        Action::ListFiles,
        Action::ListAuditEvents,
        Action::ManageOwnTwoFactor,
        Action::SetTwoFactorPolicy,
        Action::ResetTwoFactor,
    ];

    /// What the action is, to complete "may not …" (the API's 403 says
    /// "This token may not manage tokens.").
    pub fn what(self) -> &'static str {
        match self {
            Action::WhoAmI => "identify itself",
            Action::SignOut => "sign out",
            Action::ChangeOwnPassword => "change a password",
            Action::ListTokens
            | Action::GenerateToken
            | Action::RevokeToken
            | Action::RegenerateToken => "manage tokens",
            Action::ListUsers
            | Action::AddUser
            | Action::ChangeUserRole
            | Action::SetUserStatus
            | Action::ResetPassword
            | Action::ResetTwoFactor => "manage users",
            Action::UploadFile => "ingest files",
            Action::ListFiles => "list files",
            Action::ListAuditEvents => "read the audit log",
            Action::ManageOwnTwoFactor => "manage two-factor authentication",
            Action::SetTwoFactorPolicy => "change the organization's security settings",
        }
    }
}

/// Which callers of one kind a rule lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Admins,
    AdminsAndMembers,
    AnyRole,
}

impl Who {
    fn admits(self, role: Option<Role>) -> bool {
        match self {
            Who::Nobody => false,
            Who::Admins => role == Some(Role::Admin),
            Who::AdminsAndMembers => matches!(role, Some(Role::Admin | Role::Member)),
            Who::AnyRole => role.is_some(),
        }
    }
}

/// One row of the permission table.
struct Rule {
    /// A person signed in to the console, by role.
    session: Who,
    /// An API/CLI token, by its creator's current role.
    api_token: Who,
    /// A File Forwarder token.
    forwarder_token: bool,
}

/// The contract's permission table ("People and permissions" and the HTTP API's table).
/// The console has no file endpoints and sessions do not open the API; tokens do not open
/// the console, so the console's own actions are nobody's through a token.
fn rule(action: Action) -> Rule {
    use Who::*;
    let (session, api_token, forwarder_token) = match action {
        Action::WhoAmI => (AnyRole, AnyRole, true),
        Action::SignOut | Action::ChangeOwnPassword | Action::ManageOwnTwoFactor => {
            (AnyRole, Nobody, false)
        }
        Action::SetTwoFactorPolicy => (Admins, Nobody, false),
        Action::ListTokens
        | Action::GenerateToken
        | Action::RevokeToken
        | Action::RegenerateToken
        | Action::ListAuditEvents => (Admins, Admins, false),
        Action::ListUsers
        | Action::AddUser
        | Action::ChangeUserRole
        | Action::SetUserStatus
        | Action::ResetPassword
        | Action::ResetTwoFactor => (Admins, Nobody, false),
        Action::UploadFile => (Nobody, AdminsAndMembers, true),
        Action::ListFiles => (Nobody, AnyRole, false),
    };
    Rule { session, api_token, forwarder_token }
}

/// Shown to an admin who signed in with an initial password and tries an admin action.
pub const PASSWORD_FIRST: &str = "Set a new password first.";
/// Shown to someone whose organization requires a second factor they have not set up.
pub const TWO_FACTOR_FIRST: &str =
    "Your organization requires two-factor authentication. Set it up on your account page first.";

impl Principal {
    pub fn organization_id(&self) -> OrgId {
        match self {
            Principal::Session(viewer) => viewer.organization_id,
            Principal::Token(auth) => auth.organization_id,
        }
    }

    /// The user acting: the signed-in person; a token's creator (API/CLI) or its Forwarder
    /// Service Account.
    pub fn user_id(&self) -> UserId {
        match self {
            Principal::Session(viewer) => viewer.user_id,
            Principal::Token(auth) => auth.principal_id,
        }
    }

    /// This caller as the audit log records it, acting from `from`.
    pub fn actor(&self, from: Option<IpAddr>) -> Actor {
        match self {
            Principal::Session(viewer) => Actor::user(viewer.user_id, &viewer.name, from),
            Principal::Token(auth) => Actor::token(
                auth.token_id,
                &auth.token_name,
                auth.principal_id,
                &auth.principal_name,
                from,
            ),
        }
    }

    /// The token acting, for an API request.
    pub fn token_id(&self) -> Option<TokenId> {
        match self {
            Principal::Session(_) => None,
            Principal::Token(auth) => Some(auth.token_id),
        }
    }

    /// The role this caller acts with right now: the person's; an API/CLI token's creator's;
    /// none for a File Forwarder token.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Session(viewer) => Some(viewer.role),
            Principal::Token(auth) => match auth.kind {
                TokenKind::Api => auth.principal_role,
                TokenKind::Forwarder => None,
            },
        }
    }

    /// True when the permission table gives this caller `action`.
    pub fn may(&self, action: Action) -> bool {
        self.authorize(action).is_ok()
    }

    /// `Ok` when the permission table gives this caller `action`; otherwise why not. An admin
    /// who still has to replace an initial password may do no admin action until they have.
    pub fn authorize(&self, action: Action) -> Result<(), ServiceError> {
        let rule = rule(action);
        let allowed = match self {
            Principal::Session(viewer) => {
                if rule.session == Who::Admins && viewer.is_admin() && viewer.must_change_password {
                    return Err(ServiceError::Refused(PASSWORD_FIRST.into()));
                }
                // Until the required second factor is set up, only what sets it up (and
                // signing out) is open.
                let setting_up = matches!(
                    action,
                    Action::WhoAmI
                        | Action::SignOut
                        | Action::ChangeOwnPassword
                        | Action::ManageOwnTwoFactor
                );
                if viewer.must_set_up_two_factor() && !setting_up {
                    return Err(ServiceError::Refused(TWO_FACTOR_FIRST.into()));
                }
                rule.session.admits(self.role())
            }
            Principal::Token(auth) => match auth.kind {
                TokenKind::Api => rule.api_token.admits(self.role()),
                TokenKind::Forwarder => rule.forwarder_token,
            },
        };
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(action))
        }
    }

    /// Sensitive console actions (generate or regenerate a token, add a user, change a role,
    /// disable a user, the two-factor policy) need a session that proved who it is within the
    /// re-authentication window; otherwise "Confirm access" first. A token is its own proof:
    /// the API has no such step.
    pub fn require_recent_authentication(&self, state: &AppState) -> Result<(), ServiceError> {
        match self {
            Principal::Session(viewer)
                if now() - viewer.authenticated_at
                    > state.security.reauth_window.as_secs() as i64 =>
            {
                Err(ServiceError::ReauthRequired)
            }
            _ => Ok(()),
        }
    }

    /// The principal of a bearer token: one indexed lookup by the secret's digest, which
    /// reads the principal's current role and status. A revoked token, or one whose principal
    /// is disabled, is refused; a token let through has its use noted ("last used").
    pub async fn from_token(
        state: &AppState,
        secret: &TokenSecret,
        client: Option<IpAddr>,
    ) -> Result<Principal, TokenRefused> {
        let auth = match state.store.token_by_digest(&secret.digest()).await {
            Ok(Some(auth)) => auth,
            Ok(None) => return Err(TokenRefused::Unknown),
            Err(e) => return Err(TokenRefused::Lookup(e.to_string())),
        };
        if auth.revoked {
            return Err(TokenRefused::Revoked(auth.token_id));
        }
        if !auth.principal_active {
            return Err(TokenRefused::PrincipalDisabled(auth.token_id));
        }
        state.last_used.record(auth.token_id, now(), client);
        Ok(Principal::Token(auth))
    }
}

/// Why a well-formed bearer token does not authenticate.
#[derive(Debug)]
pub enum TokenRefused {
    Unknown,
    Revoked(TokenId),
    PrincipalDisabled(TokenId),
    /// The lookup itself failed: not the caller's fault.
    Lookup(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserKind;

    fn session(role: Role, must_change_password: bool) -> Principal {
        Principal::Session(Viewer {
            user_id: UserId(7),
            name: "Ada".into(),
            email: "ada@acme.test".into(),
            role,
            organization_id: OrgId(1),
            organization_name: "Acme".into(),
            must_change_password,
            authenticated_at: now(),
            two_factor: false,
            two_factor_required: false,
        })
    }

    fn token(kind: TokenKind, role: Option<Role>) -> Principal {
        Principal::Token(TokenAuth {
            token_id: TokenId(3),
            token_name: "ci".into(),
            kind,
            revoked: false,
            organization_id: OrgId(1),
            organization_name: "Acme".into(),
            principal_id: UserId(7),
            principal_name: "Ada".into(),
            principal_kind: if kind == TokenKind::Api {
                UserKind::User
            } else {
                UserKind::Forwarder
            },
            principal_role: role,
            principal_active: true,
        })
    }

    /// The callers of the table, in the order of `CONTRACT`'s columns.
    fn callers() -> [(&'static str, Principal); 10] {
        [
            ("admin session", session(Role::Admin, false)),
            ("member session", session(Role::Member, false)),
            ("read-only session", session(Role::ReadOnly, false)),
            ("admin session, initial password", session(Role::Admin, true)),
            ("member session, initial password", session(Role::Member, true)),
            ("read-only session, initial password", session(Role::ReadOnly, true)),
            ("admin's API/CLI token", token(TokenKind::Api, Some(Role::Admin))),
            ("member's API/CLI token", token(TokenKind::Api, Some(Role::Member))),
            ("read-only user's API/CLI token", token(TokenKind::Api, Some(Role::ReadOnly))),
            ("File Forwarder token", token(TokenKind::Forwarder, None)),
        ]
    }

    const Y: bool = true;
    const N: bool = false;

    /// The contract, written out cell by cell. Columns: sessions of an admin, a member and a
    /// read-only user; the same three still on an initial password; API/CLI tokens of an
    /// admin, a member and a read-only user; a File Forwarder token.
    const CONTRACT: [(Action, [bool; 10]); 18] = [
        (Action::WhoAmI, [Y, Y, Y, Y, Y, Y, Y, Y, Y, Y]),
        (Action::SignOut, [Y, Y, Y, Y, Y, Y, N, N, N, N]),
        (Action::ChangeOwnPassword, [Y, Y, Y, Y, Y, Y, N, N, N, N]),
        (Action::ListTokens, [Y, N, N, N, N, N, Y, N, N, N]),
        (Action::GenerateToken, [Y, N, N, N, N, N, Y, N, N, N]),
        (Action::RevokeToken, [Y, N, N, N, N, N, Y, N, N, N]),
        (Action::RegenerateToken, [Y, N, N, N, N, N, Y, N, N, N]),
        (Action::ListUsers, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::AddUser, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::ChangeUserRole, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::SetUserStatus, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::ResetPassword, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::UploadFile, [N, N, N, N, N, N, Y, Y, N, Y]),
        (Action::ListFiles, [N, N, N, N, N, N, Y, Y, Y, N]),
        (Action::ListAuditEvents, [Y, N, N, N, N, N, Y, N, N, N]),
        (Action::ManageOwnTwoFactor, [Y, Y, Y, Y, Y, Y, N, N, N, N]),
        (Action::SetTwoFactorPolicy, [Y, N, N, N, N, N, N, N, N, N]),
        (Action::ResetTwoFactor, [Y, N, N, N, N, N, N, N, N, N]),
    ];

    #[test]
    fn a_required_second_factor_comes_before_everything_else() {
        for role in [Role::Admin, Role::Member, Role::ReadOnly] {
            let Principal::Session(mut viewer) = session(role, false) else { unreachable!() };
            viewer.two_factor_required = true;
            let without = Principal::Session(viewer.clone());
            viewer.two_factor = true;
            let with = Principal::Session(viewer);
            for action in Action::ALL {
                let setting_up = matches!(
                    action,
                    Action::WhoAmI
                        | Action::SignOut
                        | Action::ChangeOwnPassword
                        | Action::ManageOwnTwoFactor
                );
                match without.authorize(action) {
                    Ok(()) => assert!(setting_up, "{action:?} by {role:?}"),
                    Err(ServiceError::Refused(m)) => {
                        assert!(!setting_up, "{action:?}");
                        assert_eq!(m, TWO_FACTOR_FIRST);
                    }
                    Err(ServiceError::Forbidden(_)) => assert!(!setting_up, "{action:?}"),
                    Err(other) => panic!("{action:?}: {other:?}"),
                }
                // With the factor set up, the table alone decides.
                let plain = session(role, false);
                assert_eq!(with.may(action), plain.may(action), "{action:?} by {role:?}");
            }
        }
    }

    #[test]
    fn the_whole_permission_table_is_the_contracts() {
        assert_eq!(CONTRACT.map(|(action, _)| action), Action::ALL, "one row per action");
        for (action, row) in CONTRACT {
            for (column, ((who, principal), expected)) in callers().into_iter().zip(row).enumerate()
            {
                assert_eq!(principal.may(action), expected, "{action:?} by {who}");
                // An admin on an initial password is told to change it first where an admin
                // could act; everyone else refused gets the plain 403.
                let password_first = column == 3 && row[0] && !expected;
                match principal.authorize(action) {
                    Ok(()) => assert!(expected, "{action:?} by {who}"),
                    Err(ServiceError::Refused(message)) => {
                        assert!(password_first, "{action:?} by {who}");
                        assert_eq!(message, PASSWORD_FIRST);
                    }
                    Err(ServiceError::Forbidden(denied)) => {
                        assert!(!password_first, "{action:?} by {who}");
                        assert_eq!(denied, action);
                    }
                    Err(other) => panic!("{action:?} by {who}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_token_acts_with_its_creators_current_role_and_a_forwarder_token_with_none() {
        assert_eq!(token(TokenKind::Api, Some(Role::Member)).role(), Some(Role::Member));
        assert_eq!(token(TokenKind::Forwarder, None).role(), None);
        // A File Forwarder token's principal is its service account, whatever the row says.
        assert_eq!(token(TokenKind::Forwarder, Some(Role::Admin)).role(), None);
        assert!(!token(TokenKind::Forwarder, Some(Role::Admin)).may(Action::ListTokens));
    }

    #[test]
    fn every_action_says_what_it_is() {
        assert_eq!(Action::RevokeToken.what(), "manage tokens");
        assert_eq!(Action::UploadFile.what(), "ingest files");
        assert_eq!(Action::ListFiles.what(), "list files");
        for action in Action::ALL {
            assert!(!action.what().is_empty());
        }
    }
}
