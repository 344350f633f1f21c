//! Server functions: thin doors. Each one decodes its arguments, calls one service function
//! (`crate::server::{auth, tokens, users}`) as the request's principal, and encodes the
//! answer or the error. All are mounted under `/rpc`.

pub mod audit;
pub mod auth;
pub mod tokens;
pub mod two_factor;
pub mod users;

use leptos::server_fn::ServerFn;

/// Server functions that answer without a session. Every other one answers 401 to a
/// caller without a valid session, in the HTTP layer, before its arguments are read.
/// The second step of signing in and "Sign in with a passkey" answer without a session too:
/// they read the half-finished sign-in's own cookie.
pub const PUBLIC_ENDPOINTS: [&str; 9] = [
    auth::Login::PATH,
    auth::Setup::PATH,
    two_factor::SecondFactorMethods::PATH,
    two_factor::VerifyCode::PATH,
    two_factor::VerifyRecoveryCode::PATH,
    two_factor::BeginPasskeySecondFactor::PATH,
    two_factor::FinishPasskeySecondFactor::PATH,
    two_factor::BeginPasskeySignIn::PATH,
    two_factor::FinishPasskeySignIn::PATH,
];

/// Whether a request's path is a server function's: each is declared with
/// `prefix = "/rpc"`, which `server_functions_share_one_prefix` holds to this.
pub fn is_rpc(path: &str) -> bool {
    path.starts_with("/rpc/")
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn server_functions_share_one_prefix() {
        let paths: Vec<String> =
            leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path.to_string()).collect();
        assert!(paths.len() >= 10, "{paths:?}");
        for path in paths {
            assert!(super::is_rpc(&path), "{path}");
        }
    }
}
