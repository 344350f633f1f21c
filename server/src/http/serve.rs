//! Serving the router: HTTP/1.1 with hyper directly, because `axum::serve` sets no header
//! read timeout, so a client could hold a connection open forever by never finishing its
//! request line.

use std::{future::Future, pin::pin, time::Duration};

use axum::{body::Body, extract::ConnectInfo, serve::Listener, Router};
use hyper::{
    body::{Body as _, Incoming},
    server::conn::http1,
    service::service_fn,
    Request,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// A client must send a request's headers within this; then the connection is closed.
    /// Also ends keep-alive connections that stay idle this long.
    pub header: Duration,
    /// No request body may stall longer than this between two chunks; reading it then fails.
    pub body_stall: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the open connections
/// finish their requests.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(timeouts.header);
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // axum's `Listener` retries failed accepts (and backs off when out of descriptors).
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // `Body::new` boxes the body either way; a request without one gets no timer.
            let req = req.map(|body| {
                if body.is_end_stream() {
                    Body::new(body)
                } else {
                    Body::new(TimeoutBody::new(timeouts.body_stall, body))
                }
            });
            router.clone().oneshot(req)
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection closed: {e}");
            }
        });
    }
    connections.shutdown().await;
}
