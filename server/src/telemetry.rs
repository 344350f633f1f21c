//! Logging. Request logs carry method, path and request id; never headers, cookies,
//! bodies or query strings, so no password, session id or token can reach the log.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_env("TOKENWELL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,leptos_axum=warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
