//! `/account`: the signed-in user's own password. Also shown, and required, at the first
//! sign-in of a user an admin added.

use leptos::prelude::*;

use crate::{
    api::users::ChangePassword as ChangePasswordCall,
    components::{
        action::{field_error, other_error, send},
        field::TextField,
        ErrorBanner,
    },
    routes,
};

#[component]
pub fn ChangePassword(
    /// True when the user must replace an initial password before anything else.
    forced: bool,
) -> impl IntoView {
    let action = ServerAction::<ChangePasswordCall>::new();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let running = action.pending();
    let done = Memo::new(move |_| action.value().with(|v| matches!(v, Some(Ok(())))));
    Effect::new(move |_| {
        if done.get() {
            current.set(String::new());
            new.set(String::new());
            confirm.set(String::new());
            if forced {
                // Everything else of the console opens now: load it fresh.
                let _ = window().location().assign(routes::SETTINGS);
            }
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(
            action,
            ChangePasswordCall {
                current: current.get_untracked(),
                new: new.get_untracked(),
                confirm: confirm.get_untracked(),
            },
        );
    };

    view! {
        <div class="card narrow account">
            <h1 id="page-heading">{if forced { "Set a new password" } else { "Change password" }}</h1>
            <p class="muted">
                {if forced {
                    "An admin created your account with a temporary password. Choose your own to continue."
                } else {
                    "Changing your password signs you out everywhere else."
                }}
            </p>
            <form class="form" on:submit=submit novalidate>
                <TextField
                    id="password-current"
                    label=if forced { "Temporary password" } else { "Current password" }
                    kind="password"
                    autocomplete="current-password"
                    value=current
                    error=field_error(action, "current")
                />
                <TextField
                    id="password-new"
                    label="New password"
                    kind="password"
                    autocomplete="new-password"
                    value=new
                    description="At least 12 characters. A few unrelated words make a strong password."
                    error=field_error(action, "new")
                />
                <TextField
                    id="password-confirm"
                    label="Confirm new password"
                    kind="password"
                    autocomplete="new-password"
                    value=confirm
                    error=field_error(action, "confirm")
                />
                {move || other_error(action).map(|error| view! { <ErrorBanner error /> })}
                <Show when=move || done.get() && !forced>
                    <p class="success" role="status">
                        "Your password was changed. Your other sessions have ended."
                    </p>
                </Show>
                <button type="submit" class="button" disabled=move || running.get()>
                    "Save password"
                </button>
            </form>
        </div>
    }
}
