//! Middleware: request ids and client addresses, security headers, the console's limits,
//! the cross-site request check, server-function bodies, the console's session (resolved
//! once per request), and the page redirects.

use std::{
    error::Error as StdError,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use app::{
    api::{is_rpc, PUBLIC_ENDPOINTS},
    error::AppError,
    routes::{self, Access},
    server::{auth, principal::Principal, session, AppState, ClientAddr, RequestId},
};
use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use ipnet::IpNet;
use rand::{rngs::OsRng, TryRngCore};
use tokio::sync::Semaphore;

use super::RPC_BODY_LIMIT;

/// Gives each request an id (echoed in `X-Request-Id`, shown in generic error messages)
/// and records the client's address, then logs one line per request.
pub async fn request_context(
    State((proxies, state)): State<(TrustedProxies, AppState)>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    let id = format!("{:016x}", next_request_id());
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let client = peer.map(|peer| proxies.client_addr(peer, req.headers()));
    if let Some(client) = client {
        req.extensions_mut().insert(ClientAddr(client));
    }
    req.extensions_mut().insert(RequestId(Arc::from(id.as_str())));
    let method = req.method().clone();
    // The path only: query strings may carry user input we do not want in logs.
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let timer = crate::metrics::RequestTimer::start(&req);
    let mut response = next.run(req).await;
    timer.finish(response.status());
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status < 500 {
        tracing::debug!(request_id = %id, %method, %path, status, micros, "request");
    } else if state.log_budget.allows(client) {
        // Within the client's budget: a client can cause server errors (503 under load) at
        // the rate it sends requests.
        tracing::warn!(request_id = %id, ?client, %method, %path, status, micros, "request failed");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The reverse proxies whose `X-Forwarded-For` we believe (`TOKENWELL_TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Comma-separated CIDR ranges or single addresses, IPv4 or IPv6; empty trusts none.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let network = entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                format!("{entry:?} is neither an IP address nor a CIDR range such as 10.0.0.0/8 or fd00::/8")
            })?;
            networks.push(network);
        }
        Ok(TrustedProxies(networks.into()))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The address of the client behind `peer`. Each proxy appends the address it received
    /// the request from to `X-Forwarded-For`, and everything left of what our own proxies
    /// appended is whatever the client chose to send. So the client is the right-most
    /// entry that is not one of our proxies, read only when the peer is one of them. An
    /// entry that is not an address where we need one means a proxy we do not understand:
    /// then we trust nothing and take the peer. Entries are decoded one by one, so bytes
    /// that are not text in the client's part cannot hide our proxies' entries.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            for entry in value.as_bytes().rsplit(|&b| b == b',') {
                let Some(addr) = std::str::from_utf8(entry).ok().and_then(forwarded_addr) else {
                    return peer;
                };
                if !self.trusts(addr) {
                    return addr;
                }
                // All trusted so far: the client may be a host of our own network.
                client = addr;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as some proxies write.
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let addr =
        entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip())).ok()?;
    Some(addr.to_canonical())
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

/// The site's static files: the same for everyone, cacheable, and needing no session.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg"
}

/// Headers every response gets. Pages set their own CSP (with the hydration nonce);
/// anything else gets a CSP that allows nothing. Served over HTTPS (secure cookies), HSTS
/// keeps browsers from ever trying plain HTTP again, where the session cookie could leak.
pub async fn security_headers(
    State(over_https): State<bool>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let is_asset = is_asset(req.uri().path());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), clipboard-write=(self)",
        ),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        );
    }
    if over_https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    // Pages and server-function answers are per user: never cache them.
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Bounds how long a console request (pages, server functions, static files) may take,
/// body included: one not done within the timeout (a client sending its body slowly,
/// say) gets 408. Outermost of the console's layers, so it also covers `rpc_body`.
pub async fn console_timeout(
    State(timeout): State<Duration>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(%path, "console request timed out");
            app_error(AppError::TimedOut)
        }
    }
}

/// Bounds how many console requests are handled at once: one beyond the limit is answered
/// 503 at once rather than queued without bound. Taken inside `rpc_body`, once the body
/// has arrived, so a client that sends its body slowly waits without holding a place.
pub async fn console_concurrency(
    State(in_flight): State<Arc<Semaphore>>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let Ok(_permit) = in_flight.try_acquire() else {
        let mut response = app_error(AppError::Busy);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(req).await
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
pub async fn origin_check(
    State(state): State<AppState>,
    req: Request<Body>,
    next: Next,
) -> Response {
    if !is_safe(req.method()) && is_cross_site(req.headers()) {
        let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
        if state.log_budget.allows(client) {
            tracing::warn!(?client, path = %req.uri().path(), "cross-site request refused");
        }
        return (StatusCode::FORBIDDEN, "Cross-site requests are not allowed.").into_response();
    }
    next.run(req).await
}

/// Reads a server function's body before the function does, so that every endpoint answers
/// a body over the limit with 413, one that stalls with 408, and one in a format no server
/// function decodes with 400 (server_fn itself would answer all of them 500). Server
/// functions read their whole body anyway; this only reads it first.
pub async fn rpc_body(req: Request<Body>, next: Next) -> Response {
    if !is_rpc(req.uri().path()) {
        return next.run(req).await;
    }
    let content_type = req.headers().get(header::CONTENT_TYPE);
    let has_content_type = content_type.is_some();
    if content_type.is_some_and(|value| !is_server_fn_encoding(value)) {
        return app_error(AppError::BadRequest);
    }
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > RPC_BODY_LIMIT as u64) {
        return app_error(AppError::TooLarge);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, RPC_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) if caused_by::<http_body_util::LengthLimitError>(&e) => {
            return app_error(AppError::TooLarge)
        }
        Err(e) if caused_by::<tower_http::timeout::TimeoutError>(&e) => {
            return app_error(AppError::TimedOut)
        }
        Err(e) => {
            tracing::debug!(path = %parts.uri.path(), "unreadable server function body: {e}");
            return app_error(AppError::BadRequest);
        }
    };
    if !has_content_type && !bytes.is_empty() {
        return app_error(AppError::BadRequest);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The encodings of our server functions' arguments: JSON, and forms (`PostUrl`).
fn is_server_fn_encoding(content_type: &HeaderValue) -> bool {
    let media_type =
        content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/json")
        || media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// True when `T` is `error` or anywhere in its chain of causes.
pub(crate) fn caused_by<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<T>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Resolves the session of a console request, once, into the request extension
/// (`SessionPrincipal`) that the page gate, the pages and the server functions read. Every
/// server function except sign-in and setup needs a live session: without one it is
/// answered 401 here, before any argument is parsed. Static files need none.
pub async fn console_session(
    State(state): State<AppState>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let is_rpc = is_rpc(path);
    if is_asset(path) || (is_rpc && PUBLIC_ENDPOINTS.contains(&path)) {
        return next.run(req).await;
    }
    let principal = match session::resolve(&state, req.headers()).await {
        Ok(principal) => principal,
        Err(e) => {
            let request_id =
                req.extensions().get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
            tracing::error!(%request_id, "session lookup failed: {e}");
            if is_rpc {
                return app_error(AppError::Internal { request_id });
            }
            // A page is shown as to someone signed out: the sign-in page, not an error.
            None
        }
    };
    if is_rpc && principal.is_none() {
        return app_error(AppError::Unauthorized);
    }
    req.extensions_mut().insert(session::SessionPrincipal(principal));
    next.run(req).await
}

fn app_error(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(&error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Where a page request should go instead: `/setup` exists only while no user does (and
/// until then every page leads to it); Settings needs a session; sign-in does not. Reads
/// the session `console_session` resolved.
pub async fn page_gate(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let Some(access) = routes::access(req.uri().path()).filter(|_| req.method() == Method::GET)
    else {
        return next.run(req).await;
    };
    let set_up = match auth::is_set_up(&state).await {
        Ok(set_up) => set_up,
        Err(e) => {
            tracing::error!("page gate: {e}");
            return next.run(req).await;
        }
    };
    let principal = match req.extensions().get::<session::SessionPrincipal>() {
        Some(session::SessionPrincipal(Some(principal))) => Some(principal),
        _ => None,
    };
    let signed_in = principal.is_some();
    // Someone whose organization requires a second factor they lack sets it up on their
    // account page before anything else.
    let two_factor_first = matches!(
        principal,
        Some(Principal::Session(viewer)) if viewer.must_set_up_two_factor()
    ) && req.uri().path() != routes::ACCOUNT;
    let elsewhere = match (set_up, access, signed_in) {
        (false, Access::Setup, _) => None,
        (false, _, _) => Some(routes::SETUP),
        (true, Access::Setup, _) => Some(routes::LOGIN),
        (true, Access::SignedIn, false) => Some(routes::LOGIN),
        (true, Access::SignedIn, true) if two_factor_first => Some(routes::ACCOUNT),
        (true, Access::SignedOut, true) => Some(routes::SETTINGS),
        (true, _, _) => None,
    };
    match elsewhere {
        Some(path) => Redirect::to(path).into_response(),
        None => next.run(req).await,
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

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_trusted_proxy_lists() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, fd00::/8,127.0.0.1 ,::1,").unwrap();
        assert_eq!(proxies.0.len(), 4);
        assert!(proxies.trusts(addr("10.255.0.1")) && proxies.trusts(addr("fd12::1")));
        assert!(proxies.trusts(addr("127.0.0.1")) && !proxies.trusts(addr("127.0.0.2")));
        assert!(proxies.trusts(addr("::1")) && !proxies.trusts(addr("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0",
            "nonsense",
            "10.0.0.0/8;11.0.0.0/8",
            "localhost",
        ] {
            let error =
                TrustedProxies::parse(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(error.contains("CIDR"), "{error}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8, ::1").unwrap();
        let untrusted = addr("198.51.100.9");
        let proxy = addr("127.0.0.1");
        let cases: &[(IpAddr, &[&'static str], &str)] = &[
            // A client that is not our proxy cannot choose its address.
            (untrusted, &["203.0.113.7"], "198.51.100.9"),
            (untrusted, &["10.0.0.1, 203.0.113.7"], "198.51.100.9"),
            // Behind our proxy, the client is the right-most address not our own.
            (proxy, &[], "127.0.0.1"),
            (proxy, &["203.0.113.7"], "203.0.113.7"),
            (proxy, &["203.0.113.7, 10.1.2.3"], "203.0.113.7"),
            // Whatever the client put in front is ignored, however it is spelled.
            (proxy, &["1.1.1.1, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),
            (proxy, &["garbage, 203.0.113.7"], "203.0.113.7"),
            (proxy, &["1.1.1.1", "203.0.113.7, 10.1.2.3"], "203.0.113.7"),
            // Every hop one of ours: the farthest one is the client.
            (proxy, &["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
            // Ports, IPv6, IPv4-mapped addresses.
            (proxy, &["203.0.113.7:51234"], "203.0.113.7"),
            (proxy, &["2001:db8::7"], "2001:db8::7"),
            (proxy, &["[2001:db8::7]:443, ::1"], "2001:db8::7"),
            (addr("::ffff:127.0.0.1"), &["203.0.113.7"], "203.0.113.7"),
            (proxy, &["::ffff:10.1.2.3"], "10.1.2.3"),
            // Malformed where an address must be: the peer.
            (proxy, &["unknown"], "127.0.0.1"),
            (proxy, &[""], "127.0.0.1"),
            (proxy, &["203.0.113.7,"], "127.0.0.1"),
            (proxy, &["203.0.113.7, garbage"], "127.0.0.1"),
            (proxy, &["203.0.113.7", "nonsense"], "127.0.0.1"),
            (proxy, &["203.0.113.7/32"], "127.0.0.1"),
        ];
        for (peer, values, expected) in cases {
            assert_eq!(
                proxies.client_addr(*peer, &forwarded(values)),
                addr(expected),
                "{peer} {values:?}"
            );
        }
        // Bytes that are not text: only the entry they are in is unreadable.
        let not_text = |value: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_bytes(value).unwrap());
            proxies.client_addr(proxy, &h)
        };
        assert_eq!(not_text(b"203.0.113.7\xff"), proxy);
        assert_eq!(not_text(b"203.0.113.7, \xe9t\xe9"), proxy);
        assert_eq!(not_text(b"\xe9t\xe9, 203.0.113.7"), addr("203.0.113.7"));
        assert_eq!(not_text(b"caf\xc3\xa9, 1.1.1.1, 203.0.113.7, 10.1.2.3"), addr("203.0.113.7"));
        // Trusting nobody (the default), the header means nothing.
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_addr(proxy, &forwarded(&["203.0.113.7"])), proxy);
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
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "127.0.0.1:3000")])));
    }
}
