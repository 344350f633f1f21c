//! The HTTP surface around the Leptos app: server-function endpoint, health checks,
//! and the middleware every request passes through.

pub mod api;
pub mod assets;
pub mod export;
pub mod middleware;
pub mod serve;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    middleware::from_fn_with_state,
    response::IntoResponse,
    routing::get,
    Router,
};

use app::server::AppState;
use tokio::sync::Semaphore;

use crate::config::ServeArgs;

/// Server functions and the token API take small JSON or form bodies; file uploads set
/// their own limit.
pub(crate) const RPC_BODY_LIMIT: usize = 64 * 1024;

pub fn wire(pages: Router<AppState>, state: AppState, args: &ServeArgs) -> Router {
    let api = api::router(api::ApiConfig::from(args));
    // `pages` carries the pages, the static files (its fallback) and the server functions:
    // leptos_axum registers each at its `/rpc/...` path. These layers wrap all of that and
    // nothing else: the token API and the health checks never pass through cookie-based
    // gates (the API authenticates bearer tokens itself and is exempt from the cross-site
    // check, which protects cookie-authenticated requests), nor the console's limits.
    // Outermost first: the timeout covers the whole request; the body is buffered under
    // it; only then is a concurrency place taken, so it is held by the gates and the
    // handler and never while waiting for a slow client. The session is resolved once,
    // for the page gate, the pages and the server functions.
    let console_timeout = Duration::from_secs(args.request_timeout_secs);
    let console_in_flight = Arc::new(Semaphore::new(args.console_concurrency as usize));
    let pages = pages
        .layer(from_fn_with_state(state.clone(), middleware::page_gate))
        .layer(from_fn_with_state(state.clone(), middleware::console_session))
        .layer(from_fn_with_state(console_in_flight, middleware::console_concurrency))
        .layer(axum::middleware::from_fn(middleware::rpc_body))
        .layer(from_fn_with_state(state.clone(), middleware::origin_check))
        .layer(from_fn_with_state(console_timeout, middleware::console_timeout));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api)
        .merge(pages)
        .layer(DefaultBodyLimit::max(RPC_BODY_LIMIT))
        .layer(from_fn_with_state(args.secure_cookies, middleware::security_headers))
        .layer(from_fn_with_state(
            (args.trusted_proxies.clone(), state.clone()),
            middleware::request_context,
        ))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.store.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
