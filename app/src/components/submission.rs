//! The state of a form or dialog that calls one server function: whether a call is
//! running, and what it refused. One place for "ignore double clicks, clear the old error,
//! run, show the new error".

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;

#[derive(Clone, Copy)]
pub struct Submission {
    pub pending: RwSignal<bool>,
    pub error: RwSignal<Option<AppError>>,
}

impl Submission {
    pub fn new() -> Submission {
        Submission { pending: RwSignal::new(false), error: RwSignal::new(None) }
    }

    /// Runs `call` unless one is already running; `on_ok` gets its value, an error is kept
    /// for the form to show. `on_ok` may close (unmount) the dialog: setting a signal of a
    /// disposed dialog afterwards is a no-op.
    pub fn run<T: 'static>(
        self,
        call: impl Future<Output = Result<T, AppError>> + 'static,
        on_ok: impl FnOnce(T) + 'static,
    ) {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            match call.await {
                Ok(value) => on_ok(value),
                Err(e) => self.error.set(Some(e)),
            }
            self.pending.set(false);
        });
    }

    /// The message for one field, if the last error was about it.
    pub fn field_error(self, field: &str) -> Option<String> {
        self.error.get().and_then(|e| e.field_message(field))
    }

    /// The last error unless it belongs to a field.
    pub fn other_error(self) -> Option<AppError> {
        self.error.get().filter(|e| !e.is_field_error())
    }
}

impl Default for Submission {
    fn default() -> Self {
        Submission::new()
    }
}
