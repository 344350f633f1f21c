//! Server functions: thin doors. Each one authenticates, parses its input into domain
//! types, calls one `Store` method, and maps errors. All are mounted under `/rpc`.

pub mod auth;
pub mod tokens;
pub mod users;

/// Server functions that answer without a session. Every other one answers 401 to a
/// caller without a valid session, in the HTTP layer and again inside the function.
pub const PUBLIC_ENDPOINTS: [&str; 2] = ["/rpc/login", "/rpc/setup"];
