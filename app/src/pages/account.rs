//! `/account`: the signed-in user's own password. Also shown, and required, at the first
//! sign-in of a user an admin added.

use leptos::prelude::*;

use super::ErrorBanner;
use crate::{api::users::change_password, components::submission::Submission};

#[component]
pub fn ChangePassword(
    /// True when the user must replace an initial password before anything else.
    forced: bool,
) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let submission = Submission::new();
    let pending = submission.pending;
    let done = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let call =
            change_password(current.get_untracked(), new.get_untracked(), confirm.get_untracked());
        submission.run(call, move |()| {
            current.set(String::new());
            new.set(String::new());
            confirm.set(String::new());
            if forced {
                // Everything else of the console opens now: load it fresh.
                let _ = window().location().assign("/settings");
            } else {
                done.set(true);
            }
        });
    };
    let field_error = move |field: &'static str| move || submission.field_error(field);
    let other = move || submission.other_error();
    let field = move |id: &'static str,
                      label: &'static str,
                      value: RwSignal<String>,
                      autocomplete: &'static str| {
        let message = field_error(id);
        let described = format!("password-{id}-error");
        view! {
            <div class="field">
                <label for=format!("password-{id}") class="field-label">
                    {label}
                </label>
                <input
                    id=format!("password-{id}")
                    class="input"
                    type="password"
                    autocomplete=autocomplete
                    aria-invalid=move || message().is_some().to_string()
                    aria-describedby=described.clone()
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))
                />
                <p id=described class="field-error">
                    {message}
                </p>
            </div>
        }
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
                {field("current", if forced { "Temporary password" } else { "Current password" }, current, "current-password")}
                {field("new", "New password", new, "new-password")}
                <p class="hint">"At least 12 characters. A few unrelated words make a strong password."</p>
                {field("confirm", "Confirm new password", confirm, "new-password")}
                {move || other().map(|error| view! { <ErrorBanner error /> })}
                <Show when=move || done.get()>
                    <p class="success" role="status">
                        "Your password was changed. Your other sessions have ended."
                    </p>
                </Show>
                <button type="submit" class="button" disabled=move || pending.get()>
                    "Save password"
                </button>
            </form>
        </div>
    }
}
