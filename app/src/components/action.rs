//! What the console's forms and dialogs need from a `ServerAction`: send once, the
//! server's message for a field, the message for the rest.

use leptos::{prelude::*, server_fn::ServerFn};

use crate::error::AppError;

/// Sends `input` unless a call is still running (a double click), and forgets the last
/// answer first, so its error does not linger while the new one runs.
pub fn send<S>(action: ServerAction<S>, input: S)
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    if action.pending().get_untracked() {
        return;
    }
    action.value().set(None);
    action.dispatch(input);
}

/// The last answer's error, if any.
pub fn error<S>(action: ServerAction<S>) -> Option<AppError>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    action.value().with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned()))
}

/// The server's message about one field of the form.
pub fn field_error<S>(action: ServerAction<S>, field: &'static str) -> Signal<Option<String>>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || error(action).and_then(|e| e.field_message(field)))
}

/// The last error unless it belongs to a field (those show under their field) or asks for
/// "Confirm access" (which opens its own dialog).
pub fn other_error<S>(action: ServerAction<S>) -> Option<AppError>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    error(action).filter(|e| !e.is_field_error() && *e != AppError::ReauthRequired)
}

/// One server call as a dialog sees it, without the call's type, so that the dialog's markup
/// is compiled once rather than once per server function.
#[derive(Clone, Copy)]
pub struct CallState {
    pub running: Signal<bool>,
    /// The last error unless it belongs to a field.
    pub other_error: Signal<Option<AppError>>,
    /// The server asked for "Confirm access" before this call.
    pub needs_access: Signal<bool>,
    /// Sends the call, built from the form's current values.
    pub send: Callback<()>,
    /// Forgets the last answer (and any secret in it).
    pub forget: Callback<()>,
}

/// The call of a dialog being opened: the action's last answer (a previous opening's error
/// or secret) is forgotten first.
pub fn call_state<S>(action: ServerAction<S>, input: Callback<(), S>) -> CallState
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    action.value().set(None);
    let running = action.pending();
    CallState {
        running: Signal::derive(move || running.get()),
        other_error: Signal::derive(move || other_error(action)),
        needs_access: Signal::derive(move || error(action) == Some(AppError::ReauthRequired)),
        send: Callback::new(move |_| send(action, input.run(()))),
        forget: Callback::new(move |_| action.value().set(None)),
    }
}
