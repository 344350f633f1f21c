//! First-run setup, signing in (throttled) and out, who am I, and changing one's own
//! password.

use std::net::IpAddr;

use super::{
    db::{Actor, NewPerson, StoreError, Unique},
    error::ServiceError,
    now,
    password::check_new_password,
    principal::{Action, Principal},
    session::{self, NewSession},
    two_factor::{self, NewPending},
    AppState,
};
use crate::{
    domain,
    model::{AuditAction, OrgId, TargetKind, UserId, Viewer},
};

/// A right password's outcome.
pub enum SignIn {
    /// Signed in.
    Session(NewSession),
    /// The account has a second factor: a half-finished sign-in waits for it.
    SecondFactor(NewPending),
}

pub const INITIAL_PASSWORD_EXPIRED: &str =
    "This initial password has expired. Ask an admin of your organization to reset your password.";
const ALREADY_SET_UP: &str = "Tokenwell is already set up. Sign in instead.";

/// True once the first organization and admin exist; until then every page leads to setup.
pub async fn is_set_up(state: &AppState) -> Result<bool, ServiceError> {
    Ok(state.store.any_user_exists().await?)
}

/// First run: creates the organization and its first admin and starts their session.
/// Refused once any user exists.
pub async fn setup(
    state: &AppState,
    organization: &str,
    name: &str,
    email: &str,
    password: String,
    confirm_password: &str,
    from: Option<IpAddr>,
) -> Result<NewSession, ServiceError> {
    if is_set_up(state).await? {
        return Err(ServiceError::Refused(ALREADY_SET_UP.into()));
    }
    let organization = domain::display_name(organization, "the organization name")
        .map_err(|m| ServiceError::validation("organization", m))?;
    let name =
        domain::display_name(name, "your name").map_err(|m| ServiceError::validation("name", m))?;
    let email = domain::email(email).map_err(|m| ServiceError::validation("email", m))?;
    check_new_password(&password, &[&organization, &name, &email])
        .map_err(|m| ServiceError::validation("password", m))?;
    if password != confirm_password {
        return Err(ServiceError::validation(
            "confirm_password",
            "The two passwords do not match.",
        ));
    }
    let hash = state.passwords.hash(password).await?;
    let admin = NewPerson { name: &name, email: &email, password_hash: &hash };
    let user_id = match state.store.setup_first_admin(&organization, admin, from, now()).await {
        Ok(id) => id,
        Err(StoreError::AlreadySetUp) => return Err(ServiceError::Refused(ALREADY_SET_UP.into())),
        Err(StoreError::Duplicate(Unique::Email)) => {
            return Err(ServiceError::conflict("email", "This email is already in use."))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = %user_id, "first admin created");
    start_session(state, user_id, None).await
}

/// Signs in with email and password and starts a session, or, for an account with a second
/// factor, a half-finished sign-in. Every failure gives the same answer; attempts are
/// throttled per account and per client address.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    client: Option<IpAddr>,
) -> Result<SignIn, ServiceError> {
    // No account has an address this long (`domain::email`): refuse before any work.
    if email.trim().len() > domain::EMAIL_MAX {
        return Err(ServiceError::BadCredentials);
    }
    let account = email.trim().to_lowercase();
    // Counted before the password is checked, so concurrent guesses cannot all slip past
    // the limit during the seconds that their hashes take.
    let attempt = state.throttle.reserve_sign_in(&account, client).await.map_err(|e| {
        if state.log_budget.allows(client) {
            tracing::warn!(?client, "sign-in throttled");
        }
        ServiceError::from(e)
    })?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    let record = match state.store.login_record(&account).await {
        Ok(record) => record,
        Err(e) => {
            attempt.abandon().await;
            return Err(e.into());
        }
    };
    let (user_id, stored, active) = match &record {
        Some(r) => (r.user_id, r.password_hash.clone(), r.active),
        None => (UserId(0), None, false),
    };
    // Over-long input is refused after the same work as a wrong password.
    let password = if password.len() > 4 * domain::PASSWORD_MAX { String::new() } else { password };
    let matches = match state.passwords.verify(password, stored).await {
        Ok(matches) => matches,
        Err(e) => {
            attempt.abandon().await;
            return Err(e.into());
        }
    };
    if !(matches && active) {
        attempt.failed();
        // A known account's failures are its organization's to see; unknown addresses are
        // not recorded (they belong to no organization, and would log what people mistyped).
        // Written after the answer, not before: a write that only known accounts pay would
        // let the answer's timing tell them from unknown ones.
        if let Some(r) = record {
            record_failed_sign_in(state, r.organization_id, r.user_id, r.name, client);
        }
        tracing::info!(?client, "sign-in failed");
        return Err(ServiceError::BadCredentials);
    }
    // A right password with a second factor still to come counts like a wrong one until
    // the second factor passes (which forgets the account's failures).
    match state.store.has_second_factor(user_id).await {
        Ok(true) => {
            attempt.failed();
            let pending = two_factor::begin_second_factor(state, user_id).await?;
            tracing::info!(user_id = %user_id, ?client, "password accepted; second factor next");
            return Ok(SignIn::SecondFactor(pending));
        }
        Ok(false) => {}
        Err(e) => {
            attempt.abandon().await;
            return Err(e.into());
        }
    }
    attempt.succeeded().await;
    // Only someone who knows the password learns that it expired.
    let lifetime = state.security.initial_password_lifetime.as_secs() as i64;
    if let Some(r) = record.as_ref().filter(|r| r.must_change_password) {
        if r.password_set_at.is_none_or(|set| now() - set > lifetime) {
            tracing::info!(user_id = %user_id, ?client, "sign-in with an expired initial password");
            return Err(ServiceError::Refused(INITIAL_PASSWORD_EXPIRED.into()));
        }
    }
    let signed_in =
        record.as_ref().map(|r| (r.organization_id, Actor::user(user_id, &r.name, client)));
    let session = start_session(state, user_id, signed_in).await?;
    tracing::info!(user_id = %user_id, ?client, "signed in");
    Ok(SignIn::Session(session))
}

/// Records "Sign-in failed" for a known account, by "Anonymous" from `client`, just after the
/// answer: a write that only known accounts paid before answering would let the answer's
/// timing tell them from unknown ones.
pub(super) fn record_failed_sign_in(
    state: &AppState,
    organization: OrgId,
    user: UserId,
    name: String,
    client: Option<IpAddr>,
) {
    let store = state.store.clone();
    tokio::spawn(async move {
        let target = Some((TargetKind::User, user.0, name.as_str()));
        let someone = Actor::anonymous(client);
        let failed = AuditAction::SignInFailed;
        if let Err(e) = store.record_event(organization, &someone, failed, target, now()).await {
            tracing::warn!("could not record a failed sign-in: {e}");
        }
    });
}

/// Ends the session whose id hashes to `session_hash` (the caller's own).
pub async fn sign_out(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    session_hash: Option<Vec<u8>>,
) -> Result<(), ServiceError> {
    principal.authorize(Action::SignOut)?;
    if let Some(hash) = session_hash {
        let by = principal.actor(from);
        state.store.delete_session(&hash, principal.organization_id(), &by, now()).await?;
    }
    tracing::info!(user_id = %principal.user_id(), "signed out");
    Ok(())
}

/// Who the caller is. Everyone may ask; the principal is the answer.
pub fn whoami(principal: &Principal) -> Result<(), ServiceError> {
    principal.authorize(Action::WhoAmI)
}

/// The signed-in person's own password. Every session of theirs ends, and a new one starts
/// for this request: a new session id whenever the password changes.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    current: String,
    new: String,
    confirm: &str,
) -> Result<NewSession, ServiceError> {
    principal.authorize(Action::ChangeOwnPassword)?;
    let Principal::Session(viewer) = principal else {
        return Err(ServiceError::Forbidden(Action::ChangeOwnPassword));
    };
    check_own_password(state, viewer, current, "current").await?;
    check_new_password(&new, &[&viewer.name, &viewer.email, &viewer.organization_name])
        .map_err(|m| ServiceError::validation("new", m))?;
    if new != confirm {
        return Err(ServiceError::validation("confirm", "The two passwords do not match."));
    }
    let hash = state.passwords.hash(new).await?;
    state.store.set_password(viewer.organization_id, &principal.actor(from), &hash, now()).await?;
    let session = start_session(state, viewer.user_id, None).await?;
    tracing::info!(user_id = %viewer.user_id, "password changed");
    Ok(session)
}

/// Checks the signed-in person's own password (throttled per person); a wrong one is an
/// error on `field`.
pub(super) async fn check_own_password(
    state: &AppState,
    viewer: &Viewer,
    password: String,
    field: &'static str,
) -> Result<(), ServiceError> {
    let attempt = state.throttle.reserve_password_change(viewer.user_id).await?;
    let stored = match state.store.password_hash(viewer.user_id).await {
        Ok(stored) => stored,
        Err(e) => {
            attempt.abandon().await;
            return Err(e.into());
        }
    };
    let password = if password.len() > 4 * domain::PASSWORD_MAX { String::new() } else { password };
    match state.passwords.verify(password, stored).await {
        Ok(true) => {
            attempt.succeeded().await;
            Ok(())
        }
        Ok(false) => {
            attempt.failed();
            Err(ServiceError::validation(field, "That is not your current password."))
        }
        Err(e) => {
            attempt.abandon().await;
            Err(e.into())
        }
    }
}

/// Starts a session for `user_id`; with `signed_in`, recorded as "Signed in" by that actor.
pub(super) async fn start_session(
    state: &AppState,
    user_id: UserId,
    signed_in: Option<(OrgId, Actor)>,
) -> Result<NewSession, ServiceError> {
    let (value, hash) = session::new_session_id()?;
    let absolute = state.security.session_absolute.as_secs() as i64;
    let signed_in = signed_in.as_ref().map(|(org, actor)| (*org, actor));
    state.store.create_session(&hash, user_id, now(), absolute, signed_in).await?;
    Ok(NewSession(value))
}
