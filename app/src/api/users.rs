//! The Users tab's server functions (admins only), and a user's own password.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{NewUser, Role, UserId, UserPage, UserRow},
};

#[server(prefix = "/rpc", endpoint = "list_users", input = Json)]
pub async fn list_users(q: String, page: u32) -> Result<UserPage, AppError> {
    use crate::server::{internal, now, session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            if q.chars().count() > 200 {
                return Err(AppError::validation("q", "Use at most 200 characters to filter."));
            }
            state()?
                .store
                .list_users(viewer.organization_id, &q, page, now())
                .await
                .map_err(internal)
        }
        .await,
    )
}

/// Length of generated initial passwords: 24 base62 characters, about 143 bits.
#[cfg(feature = "ssr")]
const INITIAL_PASSWORD_LEN: usize = 24;

/// Adds a person with a generated initial password, shown once; they must set their own
/// at first sign-in.
#[server(prefix = "/rpc", endpoint = "add_user", input = Json)]
pub async fn add_user(name: String, email: String, role: Role) -> Result<NewUser, AppError> {
    use crate::{
        domain,
        server::{
            db::{NewPerson, StoreError, Unique},
            no_store, now, session, state, throttle_error, with_status,
        },
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            no_store();
            let name = domain::display_name(&name, "a name")
                .map_err(|m| AppError::validation("name", m))?;
            let email = domain::email(&email).map_err(|m| AppError::validation("email", m))?;
            let state = state()?;
            let password = initial_password()?;
            let hash = state.passwords.hash(password.clone()).await?;
            // One identity per email across organizations (README, "Security"): a taken
            // address is reported, and an admin may only be told so a few times. Reserved
            // before the insert, so concurrent requests cannot all get an answer.
            let probe =
                state.throttle.reserve_email_probe(viewer.user_id).await.map_err(throttle_error)?;
            let user = match state
                .store
                .add_user(
                    viewer.organization_id,
                    viewer.user_id,
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
                    return Err(AppError::conflict(
                        "email",
                        "This email address already has a Tokenwell account.",
                    ));
                }
                Err(e) => {
                    probe.abandon().await;
                    return Err(change_error(e));
                }
            };
            tracing::info!(
                user_id = %user.id,
                by = %viewer.user_id,
                role = role.as_str(),
                "user added"
            );
            Ok(NewUser { user, initial_password: password })
        }
        .await,
    )
}

/// Gives a person a new initial password, shown once; their sessions end and they must
/// choose their own at their next sign-in. For someone who forgot theirs, or whose
/// initial password expired.
#[server(prefix = "/rpc", endpoint = "reset_password", input = Json)]
pub async fn reset_password(id: UserId) -> Result<NewUser, AppError> {
    use crate::server::{no_store, now, session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            no_store();
            let state = state()?;
            let password = initial_password()?;
            let hash = state.passwords.hash(password.clone()).await?;
            let user = state
                .store
                .reset_password(viewer.organization_id, viewer.user_id, id, &hash, now())
                .await
                .map_err(change_error)?;
            tracing::info!(user_id = %id, by = %viewer.user_id, "password reset");
            Ok(NewUser { user, initial_password: password })
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
fn initial_password() -> Result<String, AppError> {
    crate::server::token_secret::random_base62(INITIAL_PASSWORD_LEN)
        .map_err(crate::server::internal)
}

#[cfg(feature = "ssr")]
fn change_error(e: crate::server::db::StoreError) -> AppError {
    use crate::server::db::StoreError;
    match e {
        StoreError::NotFound => AppError::NotFound,
        StoreError::NotPermitted => AppError::Forbidden,
        StoreError::Refused(why) => AppError::Refused(why.into()),
        e => crate::server::internal(e),
    }
}

/// Changes a person's role; their API/CLI tokens act with it from the next request.
#[server(prefix = "/rpc", endpoint = "set_user_role", input = Json)]
pub async fn set_user_role(id: UserId, role: Role) -> Result<UserRow, AppError> {
    use crate::server::{session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let user = state()?
                .store
                .set_role(viewer.organization_id, viewer.user_id, id, role)
                .await
                .map_err(change_error)?;
            tracing::info!(user_id = %id, by = %viewer.user_id, role = role.as_str(), "role changed");
            Ok(user)
        }
        .await,
    )
}

/// Disables (`active: false`) or enables a person or a Forwarder Service Account.
#[server(prefix = "/rpc", endpoint = "set_user_status", input = Json)]
pub async fn set_user_status(id: UserId, active: bool) -> Result<UserRow, AppError> {
    use crate::{
        model::UserStatus,
        server::{session, state, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let status = if active { UserStatus::Active } else { UserStatus::Disabled };
            let user = state()?
                .store
                .set_status(viewer.organization_id, viewer.user_id, id, status)
                .await
                .map_err(change_error)?;
            tracing::info!(
                user_id = %id,
                by = %viewer.user_id,
                status = status.as_str(),
                "user status changed"
            );
            Ok(user)
        }
        .await,
    )
}

/// The signed-in user's own password. Every session of theirs ends, and this request gets
/// a new one: a new session id whenever the password changes.
#[server(prefix = "/rpc", endpoint = "change_password", input = Json)]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::server::{
        internal, now, password::check_new_password, session, state, throttle_error, with_status,
    };
    with_status(
        async move {
            let viewer = session::require_user().await?;
            let state = state()?;
            let attempt = state
                .throttle
                .reserve_password_change(viewer.user_id)
                .await
                .map_err(throttle_error)?;
            let stored = match state.store.password_hash(viewer.user_id).await {
                Ok(stored) => stored,
                Err(e) => {
                    attempt.abandon().await;
                    return Err(internal(e));
                }
            };
            match state.passwords.verify(current, stored).await {
                Ok(true) => attempt.succeeded().await,
                Ok(false) => {
                    attempt.failed();
                    return Err(AppError::validation(
                        "current",
                        "That is not your current password.",
                    ));
                }
                Err(e) => {
                    attempt.abandon().await;
                    return Err(e.into());
                }
            }
            check_new_password(&new, &[&viewer.name, &viewer.email, &viewer.organization_name])
                .map_err(|m| AppError::validation("new", m))?;
            if new != confirm {
                return Err(AppError::validation("confirm", "The two passwords do not match."));
            }
            let hash = state.passwords.hash(new).await?;
            state.store.set_password(viewer.user_id, &hash, now()).await.map_err(internal)?;
            session::start_session(&state, viewer.user_id).await?;
            tracing::info!(user_id = %viewer.user_id, "password changed");
            Ok(())
        }
        .await,
    )
}
