//! Sign-in, first-run setup, sign-out and "who am I".

use leptos::prelude::*;

use crate::{error::AppError, model::Viewer};

/// Signs in with email and password. Every failure gives the same answer.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::{
        model::UserId,
        server::{client_addr, internal, now, session, state, throttle_error, with_status},
    };
    with_status(
        async move {
            // No account has an address this long (`domain::email`): refuse before any work.
            if email.trim().len() > crate::domain::EMAIL_MAX {
                return Err(AppError::BadCredentials);
            }
            let state = state()?;
            let account = email.trim().to_lowercase();
            let addr = client_addr();
            // Counted before the password is checked, so concurrent guesses cannot all slip
            // past the limit during the seconds that their hashes take.
            let attempt = state.throttle.reserve_sign_in(&account, addr).await.map_err(|e| {
                tracing::warn!(client = ?addr, "sign-in throttled");
                throttle_error(e)
            })?;
            if !attempt.delay.is_zero() {
                tokio::time::sleep(attempt.delay).await;
            }
            let record = match state.store.login_record(&account).await {
                Ok(record) => record,
                Err(e) => {
                    attempt.abandon().await;
                    return Err(internal(e));
                }
            };
            let (user_id, stored, active) = match &record {
                Some(r) => (r.user_id, r.password_hash.clone(), r.active),
                None => (UserId(0), None, false),
            };
            // Over-long input is refused after the same work as a wrong password.
            let password = if password.len() > 4 * crate::domain::PASSWORD_MAX { String::new() } else { password };
            let matches = match state.passwords.verify(password, stored).await {
                Ok(matches) => matches,
                Err(e) => {
                    attempt.abandon().await;
                    return Err(e.into());
                }
            };
            if !(matches && active) {
                attempt.failed();
                tracing::info!(client = ?addr, "sign-in failed");
                return Err(AppError::BadCredentials);
            }
            attempt.succeeded().await;
            // Only someone who knows the password learns that it expired.
            let lifetime = state.security.initial_password_lifetime.as_secs() as i64;
            if let Some(r) = record.filter(|r| r.must_change_password) {
                if r.password_set_at.is_none_or(|set| now() - set > lifetime) {
                    tracing::info!(user_id = %user_id, client = ?addr, "sign-in with an expired initial password");
                    return Err(AppError::Refused(INITIAL_PASSWORD_EXPIRED.into()));
                }
            }
            session::start_session(&state, user_id).await?;
            tracing::info!(user_id = %user_id, client = ?addr, "signed in");
            leptos_axum::redirect("/settings");
            Ok(())
        }
        .await,
    )
}

pub const INITIAL_PASSWORD_EXPIRED: &str =
    "This initial password has expired. Ask an admin of your organization to reset your password.";

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
        server::{
            db::{NewPerson, StoreError, Unique},
            internal, now,
            password::check_new_password,
            session, state, with_status,
        },
    };
    with_status(
        async move {
            let state = state()?;
            if state.store.any_user_exists().await.map_err(internal)? {
                return Err(AppError::Refused(
                    "Tokenwell is already set up. Sign in instead.".into(),
                ));
            }
            let organization = domain::display_name(&organization, "the organization name")
                .map_err(|m| AppError::validation("organization", m))?;
            let name = domain::display_name(&name, "your name")
                .map_err(|m| AppError::validation("name", m))?;
            let email = domain::email(&email).map_err(|m| AppError::validation("email", m))?;
            check_new_password(&password, &[&organization, &name, &email])
                .map_err(|m| AppError::validation("password", m))?;
            if password != confirm_password {
                return Err(AppError::validation(
                    "confirm_password",
                    "The two passwords do not match.",
                ));
            }
            let hash = state.passwords.hash(password).await?;
            let user_id = match state
                .store
                .setup_first_admin(
                    &organization,
                    NewPerson { name: &name, email: &email, password_hash: &hash },
                    now(),
                )
                .await
            {
                Ok(id) => id,
                Err(StoreError::AlreadySetUp) => {
                    return Err(AppError::Refused(
                        "Tokenwell is already set up. Sign in instead.".into(),
                    ))
                }
                Err(StoreError::Duplicate(Unique::Email)) => {
                    return Err(AppError::conflict("email", "This email is already in use."))
                }
                Err(e) => return Err(internal(e)),
            };
            tracing::info!(user_id = %user_id, "first admin created");
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
            tracing::info!(user_id = %viewer.user_id, "signed out");
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
