//! Server functions: thin doors. Each one decodes its arguments, calls one service function
//! (`crate::server::{auth, tokens, users}`) as the request's principal, and encodes the
//! answer or the error. All are mounted under `/rpc`.

pub mod auth;
pub mod tokens;
pub mod users;

/// Server functions that answer without a session. Every other one answers 401 to a
/// caller without a valid session, in the HTTP layer, before its arguments are read.
pub const PUBLIC_ENDPOINTS: [&str; 2] = ["/rpc/login", "/rpc/setup"];
