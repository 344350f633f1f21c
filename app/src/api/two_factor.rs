//! Two-factor sign-in: the account page's second factors, the second step of signing in,
//! "Sign in with a passkey", "Confirm access", and the organization's policy.

use leptos::{prelude::*, server_fn::codec::Json};
use serde::{Deserialize, Serialize};

use crate::{
    error::AppError,
    model::{SecondFactorOptions, TotpSetup, TwoFactorStatus},
};

/// A WebAuthn ceremony's options for the browser (JSON, as `PublicKeyCredential`'s
/// `parse…OptionsFromJSON` reads them), and the id that finishes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasskeyChallenge {
    pub ceremony: String,
    pub options: String,
}

/// The signed-in user's second factors.
#[server(prefix = "/rpc", endpoint = "own_two_factor")]
pub async fn own_two_factor() -> Result<TwoFactorStatus, AppError> {
    use crate::server::{as_principal, two_factor};
    as_principal(|state, principal| async move { two_factor::status(&state, &principal).await })
        .await
}

/// "Set up authenticator app": the QR code and setup key of a new secret.
#[server(prefix = "/rpc", endpoint = "begin_authenticator_app")]
pub async fn begin_authenticator_app() -> Result<TotpSetup, AppError> {
    use crate::server::{as_principal, no_store, two_factor};
    no_store();
    as_principal(|state, principal| async move {
        two_factor::begin_authenticator_app(&state, &principal).await
    })
    .await
}

/// "Verify": the app's code turns it on; the answer holds the recovery codes, once.
#[server(prefix = "/rpc", endpoint = "enable_authenticator_app", input = Json)]
pub async fn enable_authenticator_app(code: String) -> Result<Vec<String>, AppError> {
    use crate::server::{as_principal, client_addr, no_store, two_factor};
    no_store();
    as_principal(|state, principal| async move {
        two_factor::enable_authenticator_app(&state, &principal, &code, client_addr()).await
    })
    .await
}

/// "Get new recovery codes": the answer holds them, once.
#[server(prefix = "/rpc", endpoint = "replace_recovery_codes")]
pub async fn replace_recovery_codes() -> Result<Vec<String>, AppError> {
    use crate::server::{as_principal, client_addr, no_store, two_factor};
    no_store();
    as_principal(|state, principal| async move {
        two_factor::replace_recovery_codes(&state, &principal, client_addr()).await
    })
    .await
}

/// "Turn off two-factor authentication", with the password.
#[server(prefix = "/rpc", endpoint = "turn_off_two_factor", input = Json)]
pub async fn turn_off_two_factor(password: String) -> Result<(), AppError> {
    use crate::server::{as_principal, client_addr, two_factor};
    as_principal(|state, principal| async move {
        two_factor::turn_off(&state, &principal, password, client_addr()).await
    })
    .await
}

/// "Add passkey": the options for the browser's prompt.
#[server(prefix = "/rpc", endpoint = "begin_passkey_registration")]
pub async fn begin_passkey_registration() -> Result<PasskeyChallenge, AppError> {
    use crate::server::{as_principal, no_store, two_factor};
    no_store();
    as_principal(|state, principal| async move {
        let (ceremony, options) =
            two_factor::begin_passkey_registration(&state, &principal).await?;
        Ok(PasskeyChallenge { ceremony, options })
    })
    .await
}

/// The browser's new passkey (its `toJSON()`).
#[server(prefix = "/rpc", endpoint = "finish_passkey_registration", input = Json)]
pub async fn finish_passkey_registration(
    ceremony: String,
    credential: String,
) -> Result<(), AppError> {
    use crate::server::{as_principal, client_addr, two_factor};
    as_principal(|state, principal| async move {
        two_factor::finish_passkey_registration(
            &state,
            &principal,
            &ceremony,
            &credential,
            client_addr(),
        )
        .await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "rename_passkey", input = Json)]
pub async fn rename_passkey(id: i64, name: String) -> Result<(), AppError> {
    use crate::server::{as_principal, two_factor};
    as_principal(|state, principal| async move {
        two_factor::rename_passkey(&state, &principal, id, &name).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "remove_passkey", input = Json)]
pub async fn remove_passkey(id: i64) -> Result<(), AppError> {
    use crate::server::{as_principal, client_addr, two_factor};
    as_principal(|state, principal| async move {
        two_factor::remove_passkey(&state, &principal, id, client_addr()).await
    })
    .await
}

/// What the second-factor page offers; "sign in again" when the half-finished sign-in is
/// gone or expired.
#[server(prefix = "/rpc", endpoint = "second_factor_methods")]
pub async fn second_factor_methods() -> Result<SecondFactorOptions, AppError> {
    use crate::server::{session, state, two_factor, with_status};
    with_status(
        async move {
            let state = state()?;
            let pending = session::request_pending_hash(&state);
            Ok(two_factor::second_factor_options(&state, pending.as_deref()).await?)
        }
        .await,
    )
}

/// The second step of signing in: a code of the authenticator app.
#[server(prefix = "/rpc", endpoint = "verify_code")]
pub async fn verify_code(code: String) -> Result<(), AppError> {
    finish_second_factor(SecondFactor::Code(code)).await
}

/// The second step of signing in: a recovery code (each works once).
#[server(prefix = "/rpc", endpoint = "verify_recovery_code")]
pub async fn verify_recovery_code(recovery_code: String) -> Result<(), AppError> {
    finish_second_factor(SecondFactor::RecoveryCode(recovery_code)).await
}

/// "Use a passkey" on the second-factor page: the options for the browser's prompt.
#[server(prefix = "/rpc", endpoint = "begin_passkey_second_factor")]
pub async fn begin_passkey_second_factor() -> Result<String, AppError> {
    use crate::server::{session, state, two_factor, with_status};
    with_status(
        async move {
            let state = state()?;
            let pending = session::request_pending_hash(&state);
            Ok(two_factor::begin_passkey_second_factor(&state, pending.as_deref()).await?)
        }
        .await,
    )
}

/// The browser's answer to "Use a passkey".
#[server(prefix = "/rpc", endpoint = "finish_passkey_second_factor", input = Json)]
pub async fn finish_passkey_second_factor(credential: String) -> Result<(), AppError> {
    finish_second_factor(SecondFactor::Passkey(credential)).await
}

/// "Sign in with a passkey": the options for the browser's prompt.
#[server(prefix = "/rpc", endpoint = "begin_passkey_sign_in")]
pub async fn begin_passkey_sign_in() -> Result<String, AppError> {
    use crate::server::{client_addr, no_store, session, state, two_factor, with_status};
    no_store();
    with_status(
        async move {
            let state = state()?;
            let (pending, options) =
                two_factor::begin_passkey_sign_in(&state, client_addr()).await?;
            session::set_pending_cookie(&state, &pending)?;
            Ok(options)
        }
        .await,
    )
}

/// The browser's answer to "Sign in with a passkey".
#[server(prefix = "/rpc", endpoint = "finish_passkey_sign_in", input = Json)]
pub async fn finish_passkey_sign_in(credential: String) -> Result<(), AppError> {
    use crate::server::{client_addr, session, state, two_factor, with_status};
    with_status(
        async move {
            let state = state()?;
            let pending = session::request_pending_hash(&state);
            let new = two_factor::finish_passkey_sign_in(
                &state,
                pending.as_deref(),
                &credential,
                client_addr(),
            )
            .await?;
            session::set_cookie(&state, &new)?;
            Ok(())
        }
        .await,
    )
}

/// How the second step of signing in is proved.
#[cfg(feature = "ssr")]
enum SecondFactor {
    Code(String),
    RecoveryCode(String),
    Passkey(String),
}

#[cfg(feature = "ssr")]
async fn finish_second_factor(proof: SecondFactor) -> Result<(), AppError> {
    use crate::server::{
        client_addr, session, state,
        two_factor::{self, Proof},
        with_status,
    };
    with_status(
        async move {
            let state = state()?;
            let pending = session::request_pending_hash(&state);
            let pending = pending.as_deref();
            let client = client_addr();
            let new = match &proof {
                SecondFactor::Code(code) => {
                    two_factor::verify_second_factor(&state, pending, Proof::Code(code), client)
                        .await?
                }
                SecondFactor::RecoveryCode(code) => {
                    let proof = Proof::RecoveryCode(code);
                    two_factor::verify_second_factor(&state, pending, proof, client).await?
                }
                SecondFactor::Passkey(credential) => {
                    two_factor::finish_passkey_second_factor(&state, pending, credential, client)
                        .await?
                }
            };
            session::set_cookie(&state, &new)?;
            if !matches!(proof, SecondFactor::Passkey(_)) {
                leptos_axum::redirect(crate::routes::SETTINGS);
            }
            Ok(())
        }
        .await,
    )
}

/// "Confirm access": the password, or a code of the authenticator app (when `password` is
/// empty); sensitive actions are open again for a while.
#[server(prefix = "/rpc", endpoint = "confirm_access", input = Json)]
pub async fn confirm_access(password: String, code: String) -> Result<(), AppError> {
    use crate::server::{as_principal, session, two_factor};
    as_principal(|state, principal| async move {
        let hash = session::request_session_hash(&state);
        let (password, code) = if password.is_empty() && !code.trim().is_empty() {
            (None, Some(code))
        } else {
            (Some(password), None)
        };
        two_factor::confirm_access(&state, &principal, hash, password, code.as_deref()).await
    })
    .await
}

/// Whether the organization requires two-factor authentication (admins).
#[server(prefix = "/rpc", endpoint = "two_factor_policy")]
pub async fn two_factor_policy() -> Result<bool, AppError> {
    use crate::server::{as_principal, two_factor};
    as_principal(|state, principal| async move { two_factor::policy(&state, &principal).await })
        .await
}

/// Turns "Require two-factor authentication" on or off (admins with a second factor).
#[server(prefix = "/rpc", endpoint = "set_two_factor_policy", input = Json)]
pub async fn set_two_factor_policy(required: bool) -> Result<(), AppError> {
    use crate::server::{as_principal, client_addr, two_factor};
    as_principal(|state, principal| async move {
        two_factor::set_policy(&state, &principal, required, client_addr()).await
    })
    .await
}
