//! Middleware: request ids and client addresses, security headers, the cross-site request
//! check, the session gate for server functions, and the page redirects.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

use app::{
    api::PUBLIC_ENDPOINTS,
    error::AppError,
    server::{session, AppState, ClientAddr, RequestId},
};
use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use rand::{rngs::OsRng, TryRngCore};

/// Gives each request an id (echoed in `X-Request-Id`, shown in generic error messages)
/// and records the peer address, then logs one line per request.
pub async fn request_context(mut req: Request<Body>, next: Next) -> Response {
    let id = format!("{:016x}", next_request_id());
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(addr) = addr {
        req.extensions_mut().insert(ClientAddr(addr));
    }
    req.extensions_mut().insert(RequestId(Arc::from(id.as_str())));
    let method = req.method().clone();
    // The path only: query strings may carry user input we do not want in logs.
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(request_id = %id, %method, %path, status, micros, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, %path, status, micros, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Request ids are unique within a process and not guessable from one another: a counter,
/// offset by a random key and scrambled with SplitMix64's finaliser (a bijection on u64).
/// No system call per request.
fn next_request_id() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(|| {
        let mut bytes = [0u8; 8];
        let _ = OsRng.try_fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    });
    let mut z = COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_add(key);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Headers every response gets. Pages set their own CSP (with the hydration nonce);
/// anything else gets a CSP that allows nothing.
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/pkg/") || req.uri().path() == "/favicon.svg";
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), clipboard-write=(self)"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        );
    }
    // Pages and server-function answers are per user: never cache them.
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when the browser tells us this request comes from another site. Requests with
/// neither header come from non-browser clients, which carry no ambient cookies of ours
/// unless given them on purpose.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let host = host.to_str().unwrap_or_default();
            let bare = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            bare != Some(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Refuses cross-site state-changing requests (CSRF), whatever their cookies.
/// Wraps the console only (pages and server functions); the bearer-token API, which no
/// browser sends credentials to on its own, does not pass through it.
pub async fn origin_check(req: Request<Body>, next: Next) -> Response {
    if !is_safe(req.method()) && is_cross_site(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        return (StatusCode::FORBIDDEN, "Cross-site requests are not allowed.").into_response();
    }
    next.run(req).await
}

/// Every server function except sign-in and setup needs a live session. The function
/// checks again itself; this gate answers before any argument is parsed.
pub async fn rpc_session_gate(State(state): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/rpc/") || PUBLIC_ENDPOINTS.contains(&path) {
        return next.run(req).await;
    }
    match session::viewer_from_headers(&state, req.headers()).await {
        Ok(Some(viewer)) => {
            req.extensions_mut().insert(session::Authenticated(viewer));
            next.run(req).await
        }
        Ok(None) => app_error(AppError::Unauthorized),
        Err(e) => {
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
            tracing::error!(%request_id, "session lookup failed: {e}");
            app_error(AppError::Internal { request_id })
        }
    }
}

fn app_error(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(&error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Where a page request should go instead: `/setup` exists only while no user does (and
/// until then every page leads to it); Settings needs a session; sign-in does not.
pub async fn page_gate(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    let is_settings = path == "/" || path == "/settings" || path.starts_with("/settings/") || path == "/account";
    if req.method() != Method::GET || !(is_settings || path == "/setup" || path == "/login") {
        return next.run(req).await;
    }
    let any_user = match state.store.any_user_exists().await {
        Ok(any) => any,
        Err(e) => {
            tracing::error!("page gate: {e}");
            return next.run(req).await;
        }
    };
    if !any_user {
        return if path == "/setup" { next.run(req).await } else { Redirect::to("/setup").into_response() };
    }
    if path == "/setup" {
        return Redirect::to("/login").into_response();
    }
    let signed_in = matches!(session::viewer_from_headers(&state, req.headers()).await, Ok(Some(_)));
    match (signed_in, is_settings) {
        (false, true) => Redirect::to("/login").into_response(),
        (true, false) => Redirect::to("/settings").into_response(),
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn request_ids_do_not_repeat() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| next_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn recognises_cross_site_requests() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")])));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:3000")])));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "127.0.0.1:3000")])));
    }
}
