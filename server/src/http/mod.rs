//! The HTTP surface around the Leptos app: server-function endpoint, health checks,
//! and the middleware every request passes through.

pub mod middleware;

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::{Request, StatusCode},
    middleware::from_fn_with_state,
    response::IntoResponse,
    routing::{get, post},
    Router,
};
use leptos::prelude::provide_context;

use app::server::AppState;

use crate::config::ServeArgs;

/// Server functions take small JSON or form bodies.
const RPC_BODY_LIMIT: usize = 64 * 1024;

pub fn wire(pages: Router<AppState>, state: AppState, _args: &ServeArgs) -> Router {
    let rpc = Router::new()
        .route("/rpc/{*name}", post(server_fn))
        .layer(from_fn_with_state(state.clone(), middleware::rpc_session_gate))
        .layer(DefaultBodyLimit::max(RPC_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(rpc)
        .merge(pages)
        .layer(from_fn_with_state(state.clone(), middleware::first_run_gate))
        .layer(axum::middleware::from_fn(middleware::origin_check))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

async fn server_fn(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    leptos_axum::handle_server_fns_with_context(move || provide_context(state.clone()), req).await
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
