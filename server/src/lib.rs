//! The `tokenwell` server: configuration, HTTP wiring (pages, server functions, the token
//! API, middleware) and start-up. The product logic lives in the `app` crate.

pub mod config;
pub mod http;
pub mod metrics;
pub mod startup;
pub mod telemetry;
