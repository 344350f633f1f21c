//! Sign-in, first-run setup, sign-out and "who am I".

use leptos::prelude::*;

use crate::{error::AppError, model::Viewer};

/// Signs in with email and password. Every failure gives the same answer.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::server::{client_addr, internal, session, state, with_status};
    with_status(
        async move {
            let state = state()?;
            let account = email.trim().to_lowercase();
            let addr = client_addr();
            if let Err(minutes) = state.throttle.check(&account, addr) {
                tracing::warn!(client = ?addr, "sign-in throttled");
                return Err(AppError::Throttled { minutes });
            }
            let record = state.store.login_record(&account).await.map_err(internal)?;
            let (user_id, stored, active) = match record {
                Some(r) => (r.user_id, r.password_hash, r.active),
                None => (0, None, false),
            };
            // Over-long input is refused after the same work as a wrong password.
            let password = if password.len() > 4 * crate::domain::PASSWORD_MAX { String::new() } else { password };
            let matches = state.passwords.verify(password, stored).await.map_err(internal)?;
            if !(matches && active) {
                state.throttle.record_failure(&account, addr);
                tracing::info!(client = ?addr, "sign-in failed");
                return Err(AppError::BadCredentials);
            }
            state.throttle.record_success(&account);
            session::start_session(&state, user_id).await?;
            tracing::info!(user_id, client = ?addr, "signed in");
            leptos_axum::redirect("/settings");
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
    use crate::{
        domain,
        server::{db::CreateAdminError, internal, now, session, state, with_status},
    };
    with_status(
        async move {
            let state = state()?;
            if state.store.any_user_exists().await.map_err(internal)? {
                return Err(AppError::Refused("Tokenwell is already set up. Sign in instead.".into()));
            }
            let organization = domain::display_name(&organization, "the organization name")
                .map_err(|m| AppError::validation("organization", m))?;
            let name = domain::display_name(&name, "your name").map_err(|m| AppError::validation("name", m))?;
            let email = domain::email(&email).map_err(|m| AppError::validation("email", m))?;
            domain::new_password(&password).map_err(|m| AppError::validation("password", m))?;
            if password != confirm_password {
                return Err(AppError::validation("confirm_password", "The two passwords do not match."));
            }
            let hash = state.passwords.hash(password).await.map_err(internal)?;
            let user_id = match state.store.setup_first_admin(&organization, &name, &email, &hash, now()).await {
                Ok(id) => id,
                Err(CreateAdminError::AlreadySetUp) => {
                    return Err(AppError::Refused("Tokenwell is already set up. Sign in instead.".into()))
                }
                Err(CreateAdminError::EmailTaken) => {
                    return Err(AppError::conflict("email", "This email is already in use."))
                }
                Err(CreateAdminError::Database(e)) => return Err(internal(e)),
            };
            tracing::info!(user_id, "first admin created");
            session::start_session(&state, user_id).await?;
            leptos_axum::redirect("/settings");
            Ok(())
        }
        .await,
    )
}

/// Ends the session on the server and clears the cookie.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::{session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_user().await?;
            session::end_session(&state()?).await?;
            tracing::info!(user_id = viewer.user_id, "signed out");
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

/// The signed-in user; 401 when there is none.
#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn current_user() -> Result<Viewer, AppError> {
    crate::server::with_status(crate::server::session::require_user().await)
}
