//! Server-only code: state, persistence, passwords, token secrets, sessions, the caller
//! and its permissions, and one service per feature (`auth`, `tokens`, `users`, `files`).
//! Compiled with the `ssr` feature only; nothing here reaches the WASM bundle.
//!
//! A service function validates its input into domain types, asks the `Principal` whether
//! it may act, calls the store and logs. Server functions (`crate::api`) and the HTTP API's
//! handlers are doors around them: decode, call one service function, encode.

pub mod audit;
pub mod auth;
pub mod db;
pub mod error;
pub mod files;
pub mod last_used;
pub mod log_budget;
pub mod password;
pub mod principal;
pub mod secret_box;
pub mod session;
pub mod throttle;
pub mod token_secret;
pub mod tokens;
pub mod two_factor;
pub mod users;

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use leptos::prelude::*;

use crate::error::AppError;
use error::ServiceError;
use principal::Principal;

pub use db::Store;

/// Settings that shape sessions and cookies.
#[derive(Clone, Debug)]
pub struct SecurityConfig {
    /// Mark cookies `Secure`; on when Tokenwell is served over HTTPS.
    pub secure_cookies: bool,
    /// An initial password that an admin generated stops working after this long unless
    /// its user has replaced it.
    pub initial_password_lifetime: Duration,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// …and after this long in any case.
    pub session_absolute: Duration,
    /// Sensitive actions need an authentication (sign-in or "Confirm access") this recent.
    pub reauth_window: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            secure_cookies: false,
            initial_password_lifetime: Duration::from_secs(72 * 3600),
            session_idle: Duration::from_secs(8 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            reauth_window: Duration::from_secs(600),
        }
    }
}

/// Everything a request handler or server function needs. Cloned for every request by
/// the extractors and middleware, so it is one `Arc` (a profile of the token check showed
/// field-by-field clones and drops of the options and pools as a top cost).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub security: SecurityConfig,
    pub throttle: throttle::LoginThrottle,
    pub passwords: password::Hasher,
    pub last_used: last_used::LastUsed,
    /// Warnings any client can cause, one per request, are logged within a budget per client.
    pub log_budget: log_budget::LogBudget,
    /// Seals TOTP secrets at rest.
    pub secrets: secret_box::SecretBox,
    /// Passkey ceremonies for the public address; None when that address cannot have
    /// passkeys (an IP address).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Session lookups made so far: one per console request that needs one (tests count).
    pub session_lookups: std::sync::atomic::AtomicU64,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// A random id given to each request by the HTTP layer; errors shown to users carry it, and
/// the log line with the cause carries it too.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

/// The peer address of a request, as seen by the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The request's parts, provided by leptos_axum to server functions and SSR alike.
pub fn request_parts() -> Option<http::request::Parts> {
    use_context::<http::request::Parts>()
}

pub fn request_id() -> String {
    request_parts()
        .and_then(|p| p.extensions.get::<RequestId>().map(|r| r.0.to_string()))
        .unwrap_or_else(|| "none".into())
}

pub fn client_addr() -> Option<IpAddr> {
    request_parts().and_then(|p| p.extensions.get::<ClientAddr>().map(|a| a.0))
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| internal("application state missing from context"))
}

/// Marks a server function's answer as not cacheable anywhere: for answers that carry a
/// secret (a token value, an initial password).
pub fn no_store() {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
}

/// A refused reservation as the console shows it; a failed one as an internal error.
pub fn throttle_error(e: throttle::ReserveError) -> AppError {
    match e {
        throttle::ReserveError::Throttled(t) => AppError::Throttled { minutes: t.minutes() },
        throttle::ReserveError::Store(e) => internal(e),
    }
}

/// Logs the cause with the request id and returns the opaque error users see.
pub fn internal(cause: impl std::fmt::Display) -> AppError {
    let request_id = request_id();
    tracing::error!(%request_id, "internal error: {cause}");
    AppError::Internal { request_id }
}

/// A console door: one service call as the request's signed-in principal. Its error becomes
/// an `AppError` and the answer's status (see `with_status`).
pub async fn as_principal<T, F, Fut>(call: F) -> Result<T, AppError>
where
    F: FnOnce(AppState, Principal) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let result = async {
        let state = state()?;
        let principal = session::principal()?;
        Ok(call(state, principal).await?)
    };
    with_status(result.await)
}

/// Sets the HTTP status of a server function's answer from its error, so that callers
/// (and tests) see 401, 403, 404… instead of a blanket 500.
///
/// Only for calls over HTTP: when a page is rendered on the server it calls server
/// functions directly, and their errors must not become the page's status.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        set_status(e);
    }
    result
}

/// Sets the HTTP status of a server function's answer to that of `error` (see `with_status`).
pub fn set_status(error: &AppError) {
    let over_http = request_parts().is_some_and(|p| crate::api::is_rpc(p.uri.path()));
    if !over_http {
        return;
    }
    if let (Some(opts), Ok(code)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(error.status()))
    {
        opts.set_status(code);
        if let Some(seconds) = error.retry_after() {
            opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
}
