//! Prometheus metrics, off unless `--metrics-addr` is set: then `GET /metrics` is served in
//! the Prometheus text format on that address, a listener of its own, so the public port
//! never exposes it.
//!
//! Series:
//! - `tokenwell_http_requests_total{route,status}` and
//!   `tokenwell_http_request_duration_seconds{route}`: `route` is the matched route template
//!   (`/api/v1/tokens/{id}`, `/rpc/login`), never the raw path, so ids cannot multiply the
//!   series; a request no route matched (static files, 404s) is `unmatched`;
//! - `tokenwell_token_checks_total{outcome,reason}`: `accepted`, `refused` with the reason
//!   the refusal is logged with, or `error` (the database did not answer);
//! - `tokenwell_token_check_duration_seconds`: from the start of the bearer check to its
//!   answer;
//! - `tokenwell_db_pool_connections{pool,state}` (`in_use`, `idle`) and
//!   `tokenwell_db_pool_max_connections{pool}`, read when scraped.
//!
//! Durations are histograms with fixed buckets, not summaries: buckets from several
//! instances can be added up, quantiles cannot.

use std::{
    cell::RefCell,
    collections::HashMap,
    net::SocketAddr,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use app::server::Store;
use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::serve::{serve, Timeouts};

const REQUESTS: &str = "tokenwell_http_requests_total";
const REQUEST_DURATION: &str = "tokenwell_http_request_duration_seconds";
const TOKEN_CHECKS: &str = "tokenwell_token_checks_total";
const TOKEN_CHECK_DURATION: &str = "tokenwell_token_check_duration_seconds";
const POOL_CONNECTIONS: &str = "tokenwell_db_pool_connections";
const POOL_MAX: &str = "tokenwell_db_pool_max_connections";

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

const REQUEST_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// A token check takes microseconds on SQLite and a network round trip on PostgreSQL.
const TOKEN_CHECK_BUCKETS: &[f64] =
    &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

/// Histogram samples wait in the recorder until they are folded into the buckets: at each
/// scrape, and at least this often, so memory stays bounded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The handles of the token check's fixed series, registered once: incrementing one is an
/// atomic add, where `counter!` would build the series' key and look it up in the registry
/// on every request (with a label from the request, several allocations).
struct TokenCheckSeries {
    accepted: Counter,
    error: Counter,
    duration: Histogram,
}

/// Set once the recorder is installed; until then every recording function returns at once.
static INSTALLED: OnceLock<TokenCheckSeries> = OnceLock::new();

/// The request series' handles by route template, per worker thread for the same reason:
/// after a route's first request on a thread, counting one is a map lookup and two atomic
/// updates. Bounded: routes and status codes are finite sets.
struct RouteSeries {
    duration: Histogram,
    by_status: Vec<(StatusCode, Counter)>,
}

thread_local! {
    static ROUTES: RefCell<HashMap<Box<str>, RouteSeries>> = RefCell::new(HashMap::new());
}

/// The recorder is global to the process; several applications in one process (tests)
/// share it.
fn install() -> Result<PrometheusHandle, String> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut slot = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), REQUEST_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(TOKEN_CHECK_DURATION.into()),
                TOKEN_CHECK_BUCKETS,
            )
        })
        .and_then(|b| b.install_recorder())
        .map_err(|e| format!("cannot set up metrics: {e}"))?;
    metrics::describe_counter!(REQUESTS, "HTTP requests answered, by route template and status.");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time until an HTTP response starts, by route template."
    );
    metrics::describe_counter!(TOKEN_CHECKS, "Bearer token checks, by outcome and reason.");
    metrics::describe_histogram!(
        TOKEN_CHECK_DURATION,
        metrics::Unit::Seconds,
        "Time from the start of a bearer token check to its answer."
    );
    metrics::describe_gauge!(POOL_CONNECTIONS, "Database connections in use or idle, by pool.");
    metrics::describe_gauge!(POOL_MAX, "The most connections a database pool opens.");
    let _ = INSTALLED.set(TokenCheckSeries {
        accepted: metrics::counter!(TOKEN_CHECKS, "outcome" => "accepted"),
        error: metrics::counter!(TOKEN_CHECKS, "outcome" => "error", "reason" => "database error"),
        duration: metrics::histogram!(TOKEN_CHECK_DURATION),
    });
    *slot = Some(handle.clone());
    Ok(handle)
}

/// The `/metrics` listener, bound and ready to run.
pub struct Exporter {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    handle: PrometheusHandle,
    store: Store,
    timeouts: Timeouts,
}

impl Exporter {
    /// Installs the recorder and binds `addr`.
    pub async fn bind(
        addr: SocketAddr,
        store: Store,
        timeouts: Timeouts,
    ) -> Result<Exporter, String> {
        let handle = install()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        Ok(Exporter { listener, address, handle, store, timeouts })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `GET /metrics` and nothing else; runs until its task is aborted.
    pub async fn run(self) {
        let handle = self.handle.clone();
        let upkeep = async move {
            let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        };
        let router = Router::new()
            .route("/metrics", get(render))
            .with_state(Scrape { handle: self.handle, store: self.store });
        tokio::join!(serve(self.listener, router, self.timeouts, std::future::pending()), upkeep);
    }
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    store: Store,
}

async fn render(State(scrape): State<Scrape>) -> Response {
    for pool in scrape.store.pool_stats() {
        let in_use = pool.size.saturating_sub(pool.idle);
        metrics::gauge!(POOL_CONNECTIONS, "pool" => pool.name, "state" => "in_use")
            .set(f64::from(in_use));
        metrics::gauge!(POOL_CONNECTIONS, "pool" => pool.name, "state" => "idle")
            .set(f64::from(pool.idle.min(pool.size)));
        metrics::gauge!(POOL_MAX, "pool" => pool.name).set(f64::from(pool.max));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], scrape.handle.render())
        .into_response()
}

/// Counts and times one request by its route template and status: started by the request
/// middleware before the request is handled, finished with its status.
pub struct RequestTimer(Option<(Option<MatchedPath>, Instant)>);

impl RequestTimer {
    pub fn start(req: &Request) -> RequestTimer {
        RequestTimer(
            INSTALLED
                .get()
                .map(|_| (req.extensions().get::<MatchedPath>().cloned(), Instant::now())),
        )
    }

    pub fn finish(self, status: StatusCode) {
        let Some((route, started)) = self.0 else { return };
        let elapsed = started.elapsed().as_secs_f64();
        let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        ROUTES.with_borrow_mut(|routes| {
            if !routes.contains_key(route) {
                let duration = metrics::histogram!(REQUEST_DURATION, "route" => route.to_owned());
                routes.insert(route.into(), RouteSeries { duration, by_status: Vec::new() });
            }
            let Some(series) = routes.get_mut(route) else { return };
            series.duration.record(elapsed);
            match series.by_status.iter().find(|(s, _)| *s == status) {
                Some((_, requests)) => requests.increment(1),
                None => {
                    let labels =
                        [("route", route.to_owned()), ("status", status.as_str().to_owned())];
                    let requests = metrics::counter!(REQUESTS, &labels);
                    requests.increment(1);
                    series.by_status.push((status, requests));
                }
            }
        });
    }
}

/// Times one bearer token check: created when the check starts, recorded when dropped.
pub struct TokenCheckTimer(Option<Instant>);

pub fn token_check_timer() -> TokenCheckTimer {
    TokenCheckTimer(INSTALLED.get().map(|_| Instant::now()))
}

impl Drop for TokenCheckTimer {
    fn drop(&mut self) {
        if let (Some(started), Some(series)) = (self.0, INSTALLED.get()) {
            series.duration.record(started.elapsed().as_secs_f64());
        }
    }
}

pub fn token_accepted() {
    if let Some(series) = INSTALLED.get() {
        series.accepted.increment(1);
    }
}

pub fn token_refused(reason: &'static str) {
    if INSTALLED.get().is_some() {
        metrics::counter!(TOKEN_CHECKS, "outcome" => "refused", "reason" => reason).increment(1);
    }
}

/// Counts a check the database could not answer; passes its error through.
pub fn token_check_failed<E>(error: E) -> E {
    if let Some(series) = INSTALLED.get() {
        series.error.increment(1);
    }
    error
}
