//! The Users tab's server functions (admins only), and a user's own password.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{NewUser, Role, UserId, UserPage, UserRow},
};

#[server(prefix = "/rpc", endpoint = "list_users", input = Json)]
pub async fn list_users(q: String, page: u32) -> Result<UserPage, AppError> {
    use crate::server::{as_principal, users};
    as_principal(|state, principal| async move { users::list(&state, &principal, &q, page).await })
        .await
}

/// Adds a person with a generated initial password, shown once; they must set their own
/// at first sign-in.
#[server(prefix = "/rpc", endpoint = "add_user", input = Json)]
pub async fn add_user(name: String, email: String, role: Role) -> Result<NewUser, AppError> {
    use crate::server::{as_principal, client_addr, no_store, users};
    no_store();
    as_principal(|state, principal| async move {
        users::add(&state, &principal, client_addr(), &name, &email, role).await
    })
    .await
}

/// Gives a person a new initial password, shown once; their sessions end and they must
/// choose their own at their next sign-in.
#[server(prefix = "/rpc", endpoint = "reset_password", input = Json)]
pub async fn reset_password(id: UserId) -> Result<NewUser, AppError> {
    use crate::server::{as_principal, client_addr, no_store, users};
    no_store();
    as_principal(|state, principal| async move {
        users::reset_password(&state, &principal, client_addr(), id).await
    })
    .await
}

/// Removes a person's second factors (they lost them); their sessions end.
#[server(prefix = "/rpc", endpoint = "reset_two_factor", input = Json)]
pub async fn reset_two_factor(id: UserId) -> Result<UserRow, AppError> {
    use crate::server::{as_principal, client_addr, users};
    as_principal(|state, principal| async move {
        users::reset_two_factor(&state, &principal, client_addr(), id).await
    })
    .await
}

/// Changes a person's role; their API/CLI tokens act with it from the next request.
#[server(prefix = "/rpc", endpoint = "set_user_role", input = Json)]
pub async fn set_user_role(id: UserId, role: Role) -> Result<UserRow, AppError> {
    use crate::server::{as_principal, client_addr, users};
    as_principal(|state, principal| async move {
        users::set_role(&state, &principal, client_addr(), id, role).await
    })
    .await
}

/// Disables (`active: false`) or enables a person or a Forwarder Service Account.
#[server(prefix = "/rpc", endpoint = "set_user_status", input = Json)]
pub async fn set_user_status(id: UserId, active: bool) -> Result<UserRow, AppError> {
    use crate::{
        model::UserStatus,
        server::{as_principal, client_addr, users},
    };
    let status = if active { UserStatus::Active } else { UserStatus::Disabled };
    as_principal(|state, principal| async move {
        users::set_status(&state, &principal, client_addr(), id, status).await
    })
    .await
}

/// The signed-in user's own password. Every session of theirs ends, and this request gets
/// a new one: a new session id whenever the password changes.
#[server(prefix = "/rpc", endpoint = "change_password", input = Json)]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::server::{as_principal, auth, client_addr, session};
    as_principal(|state, principal| async move {
        let session =
            auth::change_password(&state, &principal, client_addr(), current, new, &confirm)
                .await?;
        session::set_cookie(&state, &session)
    })
    .await
}
