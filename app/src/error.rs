//! The one error type of server functions. What reaches the browser is safe to show;
//! causes are logged on the server with the request id.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input in one field; the form shows it next to that field.
    #[error("{message}")]
    Validation { field: String, message: String },
    /// The input is fine but clashes with what exists (a duplicate name).
    #[error("{message}")]
    Conflict { field: String, message: String },
    /// A rule of the organization stops the action (the last active admin…).
    #[error("{0}")]
    Refused(String),
    #[error("That item does not exist. It may have been removed; reload the page.")]
    NotFound,
    #[error("Only admins can manage organization settings.")]
    Forbidden,
    /// A sensitive action, and the session last proved who it is too long ago: the console
    /// asks "Confirm access" and then sends the action again.
    #[error("Confirm your access to continue.")]
    ReauthRequired,
    #[error("You are signed out. Sign in again to continue.")]
    Unauthorized,
    #[error("Incorrect email or password.")]
    BadCredentials,
    #[error("Too many attempts. Wait {minutes} minutes and try again.")]
    Throttled { minutes: u32 },
    /// Too many requests need the expensive password check at once.
    #[error("Tokenwell is busy. Try again in a few seconds.")]
    Busy,
    #[error("The request was not understood. Reload the page and try again.")]
    BadRequest,
    #[error("The request is too large.")]
    TooLarge,
    #[error("The request took too long to arrive. Check your connection and try again.")]
    TimedOut,
    #[error("Could not reach Tokenwell. Check your connection and try again.")]
    Network,
    #[error("Something went wrong on our side. If it keeps happening, give your administrator this reference: {request_id}.")]
    Internal { request_id: String },
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> AppError {
        AppError::Validation { field: field.into(), message: message.into() }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> AppError {
        AppError::Conflict { field: field.into(), message: message.into() }
    }

    /// The message for one form field, if this error belongs to it.
    pub fn field_message(&self, name: &str) -> Option<String> {
        match self {
            AppError::Validation { field, message } | AppError::Conflict { field, message }
                if field == name =>
            {
                Some(message.clone())
            }
            _ => None,
        }
    }

    pub fn is_field_error(&self) -> bool {
        matches!(self, AppError::Validation { .. } | AppError::Conflict { .. })
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for 429 and 503.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            AppError::Throttled { minutes } => Some(minutes * 60),
            AppError::Busy => Some(2),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Validation { .. } | AppError::BadRequest => 400,
            AppError::Unauthorized | AppError::BadCredentials => 401,
            AppError::Forbidden | AppError::Refused(_) | AppError::ReauthRequired => 403,
            AppError::NotFound => 404,
            AppError::TimedOut => 408,
            AppError::Conflict { .. } => 409,
            AppError::TooLarge => 413,
            AppError::Throttled { .. } => 429,
            AppError::Network => 502,
            AppError::Internal { .. } => 500,
            AppError::Busy => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            // The browser could not talk to the server, or got an answer it cannot read.
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Network,
            // Malformed arguments: the caller's fault, and nothing in it is worth echoing.
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => AppError::BadRequest,
            _ => AppError::Internal { request_id: "unknown".into() },
        };
        // server_fn answers the errors it raises itself (arguments that do not decode, a
        // body it cannot read) with 500 whatever they are; give them their own status.
        #[cfg(feature = "ssr")]
        crate::server::set_status(&error);
        error
    }
}
