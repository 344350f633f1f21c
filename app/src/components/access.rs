//! "Confirm access": a sensitive action (generating a token, adding a user, changing a role…)
//! that the server refused because the session proved who it is too long ago. The dialog
//! asks for the password, or a code of the authenticator app, then sends the same action
//! again: nothing typed into the form is lost.

use leptos::prelude::*;

use super::{
    action::{field_error, other_error, send, CallState},
    dialog::{DialogButtons, Modal},
    field::TextField,
};
use crate::api::two_factor::ConfirmAccess;

/// Opens "Confirm access" when `call` needs it; once confirmed, sends `call` again.
#[component]
pub fn AccessCheck(call: CallState) -> impl IntoView {
    let needs = call.needs_access;
    view! {
        <Show when=move || needs.get()>
            <ConfirmAccessDialog
                on_confirmed=Callback::new(move |_| {
                    call.forget.run(());
                    call.send.run(());
                })
                on_close=call.forget
            />
        </Show>
    }
}

#[component]
pub fn ConfirmAccessDialog(on_confirmed: Callback<()>, on_close: Callback<()>) -> impl IntoView {
    let action = ServerAction::<ConfirmAccess>::new();
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let with_code = RwSignal::new(false);
    let running = action.pending();
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(())))) {
            action.value().set(None);
            on_confirmed.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = if with_code.get_untracked() {
            ConfirmAccess { password: String::new(), code: code.get_untracked() }
        } else {
            ConfirmAccess { password: password.get_untracked(), code: String::new() }
        };
        send(action, input);
    };
    let switch = move |_| {
        action.value().set(None);
        with_code.update(|c| *c = !*c);
    };
    view! {
        <Modal title="Confirm access" described_by=Some("confirm-access-text") on_close>
            <form class="form" on:submit=submit novalidate>
                <p id="confirm-access-text">
                    "This is a sensitive action. Confirm it is you to continue; you will not be asked again for a while."
                </p>
                {move || {
                    if with_code.get() {
                        view! {
                            <TextField
                                id="confirm-access-code"
                                label="Code"
                                autocomplete="one-time-code"
                                value=code
                                description="The 6-digit code your authenticator app shows."
                                error=field_error(action, "code")
                                autofocus=true
                            />
                        }
                            .into_any()
                    } else {
                        view! {
                            <TextField
                                id="confirm-access-password"
                                label="Password"
                                kind="password"
                                autocomplete="current-password"
                                value=password
                                error=field_error(action, "password")
                                autofocus=true
                            />
                        }
                            .into_any()
                    }
                }}
                <button type="button" class="link-button" on:click=switch>
                    {move || if with_code.get() { "Use your password instead" } else { "Use an authenticator app code instead" }}
                </button>
                <DialogButtons
                    alert=false
                    error=Signal::derive(move || other_error(action))
                    on_cancel=on_close
                    running=Signal::derive(move || running.get())
                    confirm="Confirm"
                    pending="Confirming…"
                />
            </form>
        </Modal>
    }
}
