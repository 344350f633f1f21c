//! The Users tab's server functions (admins only), and a user's own password.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{NewUser, Role, UserPage, UserRow},
};

#[server(prefix = "/rpc", endpoint = "list_users", input = Json)]
pub async fn list_users(q: String, page: u32) -> Result<UserPage, AppError> {
    use crate::{
        model::USERS_PER_PAGE,
        server::{internal, session, state, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            if q.chars().count() > 200 {
                return Err(AppError::validation("q", "Use at most 200 characters to filter."));
            }
            let offset = (page.max(1) as u64 - 1) * USERS_PER_PAGE as u64;
            state()?
                .store
                .list_users(viewer.organization_id, &q, offset, USERS_PER_PAGE)
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
        server::{db::CreateAdminError, internal, now, session, state, token_secret::random_base62, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let opts = expect_context::<leptos_axum::ResponseOptions>();
            opts.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            let name = domain::display_name(&name, "a name").map_err(|m| AppError::validation("name", m))?;
            let email = domain::email(&email).map_err(|m| AppError::validation("email", m))?;
            let state = state()?;
            let password = random_base62(INITIAL_PASSWORD_LEN).map_err(internal)?;
            let hash = state.passwords.hash(password.clone()).await.map_err(internal)?;
            let user = match state.store.add_user(viewer.organization_id, &name, &email, &hash, role, now()).await {
                Ok(user) => user,
                Err(CreateAdminError::EmailTaken) => {
                    return Err(AppError::conflict("email", "A user with this email already exists."))
                }
                Err(e) => return Err(internal(e)),
            };
            tracing::info!(user_id = user.id, by = viewer.user_id, role = role.as_str(), "user added");
            Ok(NewUser { user, initial_password: password })
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
fn change_error(e: crate::server::db::UserChangeError) -> AppError {
    use crate::server::db::UserChangeError;
    match e {
        UserChangeError::NotFound => AppError::NotFound,
        UserChangeError::Refused(why) => AppError::Refused(why.into()),
        UserChangeError::Database(e) => crate::server::internal(e),
    }
}

/// Changes a person's role; their API/CLI tokens act with it from the next request.
#[server(prefix = "/rpc", endpoint = "set_user_role", input = Json)]
pub async fn set_user_role(id: i64, role: Role) -> Result<UserRow, AppError> {
    use crate::server::{session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let user = state()?.store.set_role(viewer.organization_id, viewer.user_id, id, role).await.map_err(change_error)?;
            tracing::info!(user_id = id, by = viewer.user_id, role = role.as_str(), "role changed");
            Ok(user)
        }
        .await,
    )
}

/// Disables (`active: false`) or enables a person or a Forwarder Service Account.
#[server(prefix = "/rpc", endpoint = "set_user_status", input = Json)]
pub async fn set_user_status(id: i64, active: bool) -> Result<UserRow, AppError> {
    use crate::{
        model::UserStatus,
        server::{session, state, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let status = if active { UserStatus::Active } else { UserStatus::Disabled };
            let user =
                state()?.store.set_status(viewer.organization_id, viewer.user_id, id, status).await.map_err(change_error)?;
            tracing::info!(user_id = id, by = viewer.user_id, status = status.as_str(), "user status changed");
            Ok(user)
        }
        .await,
    )
}

/// The signed-in user's own password. Every other session of theirs ends.
#[server(prefix = "/rpc", endpoint = "change_password", input = Json)]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    use crate::{
        domain,
        server::{internal, request_parts, session, state, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_user().await?;
            let state = state()?;
            let stored = state.store.password_hash(viewer.user_id).await.map_err(internal)?;
            if !state.passwords.verify(current, stored).await.map_err(internal)? {
                return Err(AppError::validation("current", "That is not your current password."));
            }
            domain::new_password(&new).map_err(|m| AppError::validation("new", m))?;
            if new != confirm {
                return Err(AppError::validation("confirm", "The two passwords do not match."));
            }
            let hash = state.passwords.hash(new).await.map_err(internal)?;
            let keep = request_parts()
                .and_then(|p| session::session_hash(&p.headers, state.security.secure_cookies));
            state.store.set_password(viewer.user_id, &hash, keep.as_deref()).await.map_err(internal)?;
            tracing::info!(user_id = viewer.user_id, "password changed");
            Ok(())
        }
        .await,
    )
}
