//! The organization's people and service accounts: listing, adding, changing role and
//! status, resetting a password; and the command line's `create-admin` / `create-user`.

use std::net::IpAddr;

use super::{
    db::{NewPerson, StoreError, Unique},
    error::ServiceError,
    now,
    password::{check_new_password, Hasher},
    principal::{Action, Principal},
    token_secret::random_base62,
    AppState, Store,
};
use crate::{
    domain,
    model::{Choice, NewUser, Role, UserId, UserPage, UserRow, UserStatus},
};

/// Length of generated initial passwords: 24 base62 characters, about 143 bits.
const INITIAL_PASSWORD_LEN: usize = 24;

pub async fn list(
    state: &AppState,
    principal: &Principal,
    q: &str,
    page: u32,
) -> Result<UserPage, ServiceError> {
    principal.authorize(Action::ListUsers)?;
    let q = domain::filter(q).map_err(|m| ServiceError::validation("q", m))?;
    Ok(state.store.list_users(principal.organization_id(), q, page, now()).await?)
}

/// Adds a person with a generated initial password, shown once; they must set their own
/// at first sign-in.
pub async fn add(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    name: &str,
    email: &str,
    role: Role,
) -> Result<NewUser, ServiceError> {
    principal.authorize(Action::AddUser)?;
    principal.require_recent_authentication(state)?;
    let name =
        domain::display_name(name, "a name").map_err(|m| ServiceError::validation("name", m))?;
    let email = domain::email(email).map_err(|m| ServiceError::validation("email", m))?;
    let password = initial_password()?;
    let hash = state.passwords.hash(password.clone()).await?;
    let actor = principal.user_id();
    // One identity per email across organizations (README, "Security"): a taken address is
    // reported, and an admin may only be told so a few times. Reserved before the insert,
    // so concurrent requests cannot all get an answer.
    let probe = state.throttle.reserve_email_probe(actor).await?;
    let user = match state
        .store
        .add_user(
            principal.organization_id(),
            &principal.actor(from),
            NewPerson { name: &name, email: &email, password_hash: &hash },
            role,
            now(),
        )
        .await
    {
        Ok(user) => {
            probe.abandon().await;
            user
        }
        Err(StoreError::Duplicate(Unique::Email)) => {
            probe.failed();
            return Err(ServiceError::conflict(
                "email",
                "This email address already has a Tokenwell account.",
            ));
        }
        Err(e) => {
            probe.abandon().await;
            return Err(e.into());
        }
    };
    tracing::info!(user_id = %user.id, by = %actor, role = role.as_str(), "user added");
    Ok(NewUser { user, initial_password: password })
}

/// Gives a person a new initial password, shown once; their sessions end and they must
/// choose their own at their next sign-in. For someone who forgot theirs, or whose
/// initial password expired.
pub async fn reset_password(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    id: UserId,
) -> Result<NewUser, ServiceError> {
    principal.authorize(Action::ResetPassword)?;
    principal.require_recent_authentication(state)?;
    let password = initial_password()?;
    let hash = state.passwords.hash(password.clone()).await?;
    let actor = principal.user_id();
    let by = principal.actor(from);
    let user =
        state.store.reset_password(principal.organization_id(), &by, id, &hash, now()).await?;
    tracing::info!(user_id = %id, by = %actor, "password reset");
    Ok(NewUser { user, initial_password: password })
}

/// Changes a person's role; their API/CLI tokens act with it from the next request.
pub async fn set_role(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    id: UserId,
    role: Role,
) -> Result<UserRow, ServiceError> {
    principal.authorize(Action::ChangeUserRole)?;
    principal.require_recent_authentication(state)?;
    let actor = principal.user_id();
    let by = principal.actor(from);
    let user = state.store.set_role(principal.organization_id(), &by, id, role, now()).await?;
    tracing::info!(user_id = %id, by = %actor, role = role.as_str(), "role changed");
    Ok(user)
}

/// Removes a person's second factors, for someone who lost their phone and their recovery
/// codes; their sessions end, and they sign in with their password alone (then set one up
/// again when the organization requires it).
pub async fn reset_two_factor(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    id: UserId,
) -> Result<UserRow, ServiceError> {
    principal.authorize(Action::ResetTwoFactor)?;
    principal.require_recent_authentication(state)?;
    let actor = principal.user_id();
    let by = principal.actor(from);
    let user = state.store.reset_two_factor(principal.organization_id(), &by, id, now()).await?;
    tracing::info!(user_id = %id, by = %actor, "two-factor reset");
    Ok(user)
}

/// Disables or enables a person or a Forwarder Service Account.
pub async fn set_status(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    id: UserId,
    status: UserStatus,
) -> Result<UserRow, ServiceError> {
    principal.authorize(Action::SetUserStatus)?;
    if status == UserStatus::Disabled {
        principal.require_recent_authentication(state)?;
    }
    let actor = principal.user_id();
    let by = principal.actor(from);
    let user = state.store.set_status(principal.organization_id(), &by, id, status, now()).await?;
    tracing::info!(user_id = %id, by = %actor, status = status.as_str(), "user status changed");
    Ok(user)
}

/// `tokenwell create-admin` and `create-user`: adds a person to the organization named
/// `organization` in the database at `database_url`, creating the organization when it
/// does not exist. Returns the normalised email. Bad input opens no database.
pub async fn create_from_command_line(
    database_url: &str,
    organization: &str,
    name: Option<&str>,
    email: &str,
    role: Role,
    password: String,
) -> Result<String, ServiceError> {
    let invalid = |field| move |m| ServiceError::validation(field, m);
    let organization =
        domain::display_name(organization, "the organization name").map_err(invalid("org"))?;
    let email = domain::email(email).map_err(invalid("email"))?;
    let default_name = email.split('@').next().unwrap_or_default().to_string();
    let name =
        domain::display_name(name.unwrap_or(&default_name), "the name").map_err(invalid("name"))?;
    check_new_password(&password, &[&organization, &name, &email]).map_err(invalid("password"))?;
    let store = Store::open(database_url).await.map_err(ServiceError::internal)?;
    let hash = Hasher::new().await.map_err(ServiceError::internal)?.hash(password).await;
    let created = match hash {
        Ok(hash) => {
            let person = NewPerson { name: &name, email: &email, password_hash: &hash };
            store.create_user(&organization, person, role, now()).await
        }
        Err(e) => {
            store.close().await;
            return Err(ServiceError::internal(e));
        }
    };
    store.close().await;
    match created {
        Ok(_) => Ok(email),
        Err(StoreError::Duplicate(Unique::Email)) => Err(ServiceError::conflict(
            "email",
            format!("a user with the email {email} already exists"),
        )),
        Err(e) => Err(ServiceError::internal(e)),
    }
}

fn initial_password() -> Result<String, ServiceError> {
    random_base62(INITIAL_PASSWORD_LEN).map_err(ServiceError::internal)
}
