//! The one error type of the services. Each door maps it once: to `AppError` for the
//! console (here) and to the API's JSON error (in the server crate).

use super::{db::StoreError, password::PasswordError, principal::Action, throttle::ReserveError};
use crate::error::AppError;

/// Its `Display` is for the command line and the log; people in the console and API
/// clients read the doors' own messages.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input in one field.
    #[error("{message}")]
    Validation { field: &'static str, message: String },
    /// The input is fine but clashes with what exists (a duplicate name or email).
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    /// Unknown here; another organization's ids answer the same.
    #[error("not found")]
    NotFound,
    /// The permission table does not give the caller this action.
    #[error("may not {}", .0.what())]
    Forbidden(Action),
    /// A rule of the organization stops the action; the message says which.
    #[error("{0}")]
    Refused(String),
    /// Sign-in failed: one answer for every reason.
    #[error("incorrect email or password")]
    BadCredentials,
    #[error("too many attempts; wait {minutes} minutes")]
    Throttled { minutes: u32 },
    /// Too many password hashes at once.
    #[error("password hashing is saturated")]
    Busy,
    /// A sensitive action needs the person to prove who they are again ("Confirm access").
    #[error("re-authentication required")]
    ReauthRequired,
    /// A cause that is logged with the request id and never shown.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Validation { field, message: message.into() }
    }

    pub fn conflict(field: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Conflict { field, message: message.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> ServiceError {
        ServiceError::Internal(cause.to_string())
    }
}

/// Shown when an admin's change lands after they stopped being an active admin.
pub const NO_LONGER_ADMIN: &str = "You are no longer an active admin of this organization.";

impl From<StoreError> for ServiceError {
    /// The store's own refusals; a duplicate is mapped by each service, which knows the words.
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::NotPermitted => ServiceError::Refused(NO_LONGER_ADMIN.into()),
            StoreError::Refused(why) => ServiceError::Refused(why.into()),
            e => ServiceError::internal(e),
        }
    }
}

impl From<ReserveError> for ServiceError {
    fn from(e: ReserveError) -> ServiceError {
        match e {
            ReserveError::Throttled(t) => ServiceError::Throttled { minutes: t.minutes() },
            ReserveError::Store(e) => ServiceError::internal(e),
        }
    }
}

impl From<PasswordError> for ServiceError {
    fn from(e: PasswordError) -> ServiceError {
        match e {
            PasswordError::Busy => {
                tracing::warn!("password hashing saturated; answering 503");
                ServiceError::Busy
            }
            PasswordError::Failed(cause) => ServiceError::Internal(cause),
        }
    }
}

impl From<ServiceError> for AppError {
    /// In a server function: an internal cause is logged with the request id.
    fn from(e: ServiceError) -> AppError {
        match e {
            ServiceError::Validation { field, message } => AppError::validation(field, message),
            ServiceError::Conflict { field, message } => AppError::conflict(field, message),
            ServiceError::NotFound => AppError::NotFound,
            ServiceError::Forbidden(_) => AppError::Forbidden,
            ServiceError::Refused(message) => AppError::Refused(message),
            ServiceError::BadCredentials => AppError::BadCredentials,
            ServiceError::Throttled { minutes } => AppError::Throttled { minutes },
            ServiceError::Busy => AppError::Busy,
            ServiceError::ReauthRequired => AppError::ReauthRequired,
            ServiceError::Internal(cause) => super::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_sees_each_error_as_before_and_never_an_internal_cause() {
        let cases = [
            (
                ServiceError::validation("name", "Enter a name."),
                AppError::validation("name", "Enter a name."),
            ),
            (ServiceError::conflict("email", "Taken."), AppError::conflict("email", "Taken.")),
            (ServiceError::NotFound, AppError::NotFound),
            (ServiceError::Forbidden(Action::ListUsers), AppError::Forbidden),
            (ServiceError::Refused("No.".into()), AppError::Refused("No.".into())),
            (ServiceError::BadCredentials, AppError::BadCredentials),
            (ServiceError::Throttled { minutes: 3 }, AppError::Throttled { minutes: 3 }),
            (ServiceError::Busy, AppError::Busy),
            (ServiceError::ReauthRequired, AppError::ReauthRequired),
        ];
        for (service, console) in cases {
            assert_eq!(AppError::from(service), console);
        }
        let shown = AppError::from(ServiceError::internal("no such table: tokens"));
        assert!(matches!(shown, AppError::Internal { .. }));
        assert!(!shown.to_string().contains("tokens"), "{shown}");
    }
}
