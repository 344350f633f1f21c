//! Sign-in, first-run setup, sign-out and "who am I".

use leptos::prelude::*;

use crate::{error::AppError, model::Viewer};

/// Signs in with email and password. Every failure gives the same answer.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::server::{
        auth::{self, SignIn},
        client_addr, session, state, with_status,
    };
    with_status(
        async move {
            let state = state()?;
            match auth::sign_in(&state, &email, password, client_addr()).await? {
                SignIn::Session(new) => {
                    session::set_cookie(&state, &new)?;
                    leptos_axum::redirect(crate::routes::SETTINGS);
                }
                SignIn::SecondFactor(pending) => {
                    session::set_pending_cookie(&state, &pending)?;
                    leptos_axum::redirect(crate::routes::SECOND_FACTOR);
                }
            }
            Ok(())
        }
        .await,
    )
}

/// First run: creates the organization and its first admin, then signs them in.
/// Refused once any user exists.
#[server(prefix = "/rpc", endpoint = "setup")]
pub async fn setup(
    organization: String,
    name: String,
    email: String,
    password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    use crate::server::{auth, client_addr, session, state, with_status};
    with_status(
        async move {
            let state = state()?;
            let session = auth::setup(
                &state,
                &organization,
                &name,
                &email,
                password,
                &confirm_password,
                client_addr(),
            )
            .await?;
            session::set_cookie(&state, &session)?;
            leptos_axum::redirect("/settings");
            Ok(())
        }
        .await,
    )
}

/// Ends the session on the server and clears the cookie.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::{as_principal, auth, client_addr, session};
    as_principal(|state, principal| async move {
        let hash = session::request_session_hash(&state);
        auth::sign_out(&state, &principal, client_addr(), hash).await?;
        session::clear_cookie(&state)?;
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// The signed-in user; 401 when there is none.
#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn current_user() -> Result<Viewer, AppError> {
    use crate::server::{
        as_principal, auth,
        error::ServiceError,
        principal::{Action, Principal},
    };
    as_principal(|_, principal| async move {
        auth::whoami(&principal)?;
        match principal {
            Principal::Session(viewer) => Ok(viewer),
            // The console resolves sessions only.
            Principal::Token(_) => Err(ServiceError::Forbidden(Action::WhoAmI)),
        }
    })
    .await
}
