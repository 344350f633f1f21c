//! Shows a secret exactly once: a read-only field, a "Copy" button, the warning that it
//! will not be shown again, and "Done". Used for token values and initial passwords.

use leptos::{prelude::*, server_fn::ServerFn};

use super::{
    access::AccessCheck,
    action::{call_state, CallState},
    dialog::{DialogButtons, Modal},
};
use crate::error::AppError;

#[component]
pub fn RevealOnce(
    /// The field's label, e.g. "Token value".
    label: &'static str,
    /// The secret. The owner drops it when the dialog closes.
    #[prop(into)]
    value: Signal<String>,
    /// Why the secret matters, shown with the warning.
    warning: &'static str,
    /// "Done": the dialog closes and drops the secret.
    on_done: Callback<()>,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let fallback = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Input>::new();
    let copy_button = NodeRef::<leptos::html::Button>::new();
    // The secret replaces whatever had focus (the form's submit button): put focus on Copy.
    Effect::new(move |_| {
        if let Some(button) = copy_button.get() {
            let _ = button.focus();
        }
    });

    let copy = move |_| {
        copy_text(
            value.get_untracked(),
            copied,
            Callback::new(move |_| {
                fallback.set(true);
                select_all(input);
            }),
        )
    };

    view! {
        <div class="reveal">
            <label for="reveal-value" class="field-label">
                {label}
            </label>
            <div class="reveal-row">
                <input
                    id="reveal-value"
                    class="input mono"
                    type="text"
                    readonly
                    spellcheck="false"
                    autocomplete="off"
                    prop:value=move || value.get()
                    node_ref=input
                    on:focus=move |_| select_all(input)
                />
                <button type="button" class="button" node_ref=copy_button on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <p class="sr-only" role="status">
                {move || if copied.get() { "Copied to the clipboard." } else { "" }}
            </p>
            <Show when=move || fallback.get()>
                <p class="hint">"Copying is not available here. The value is selected: press Ctrl+C (⌘C on a Mac) to copy it."</p>
            </Show>
            <p class="warning" role="note">
                <strong>"Copy it now. "</strong>
                "This value will not be displayed again. "
                {warning}
            </p>
        </div>
        <div class="modal-actions">
            <button type="button" class="button" on:click=move |_| on_done.run(())>
                "Done"
            </button>
        </div>
    }
}

/// Copies `text` to the clipboard; `copied` is true for two seconds after. Where the
/// Clipboard API is missing (plain-HTTP origins) or refuses, `unavailable` runs instead (the
/// caller selects the text for Ctrl+C).
pub fn copy_text(text: String, copied: RwSignal<bool>, unavailable: Callback<()>) {
    #[cfg(feature = "hydrate")]
    {
        let clipboard = window().navigator().clipboard();
        let usable = window().is_secure_context()
            && !wasm_bindgen::JsValue::from(clipboard.clone()).is_undefined();
        if usable {
            let promise = clipboard.write_text(&text);
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(promise).await {
                    Ok(_) => {
                        copied.set(true);
                        gloo_timers::future::TimeoutFuture::new(2_000).await;
                        copied.set(false);
                    }
                    Err(_) => unavailable.run(()),
                }
            });
        } else {
            unavailable.run(());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (text, copied, unavailable);
}

fn select_all(input: NodeRef<leptos::html::Input>) {
    if let Some(el) = input.get_untracked() {
        el.select();
    }
}

/// A dialog that makes something with a secret on the server and shows the secret once:
/// the form (or a confirmation) → the secret with Copy → Done. Generate Token, Add user and
/// Reset password. The secret lives in `action`'s value, which is cleared when the dialog
/// closes.
#[component]
pub fn CreateRevealDialog<S>(
    title: &'static str,
    /// A confirmation (`alertdialog`, Cancel focused) rather than a form.
    #[prop(optional)]
    alert: bool,
    #[prop(optional)] described_by: Option<&'static str>,
    action: ServerAction<S>,
    /// The call, from the form's current values.
    input: Callback<(), S>,
    /// From the answer: the sentence above the secret, and the secret.
    reveal: fn(&S::Output) -> (String, String),
    /// The secret field's label, e.g. "Token value".
    secret_label: &'static str,
    /// Why the secret matters, shown with the warning.
    warning: &'static str,
    /// The submit button's text, and its text while the call runs.
    submit: &'static str,
    pending: &'static str,
    on_close: Callback<()>,
    /// The form's fields, or the confirmation's text.
    children: ChildrenFn,
) -> impl IntoView
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let call = call_state(action, input);
    let answer = Signal::derive(move || {
        action.value().with(|v| v.as_ref().and_then(|r| r.as_ref().ok().map(reveal)))
    });
    view! {
        <RevealDialogView
            title
            alert
            described_by
            call
            answer
            secret_label
            warning
            submit
            pending
            on_close
            children
        />
    }
}

#[component]
fn RevealDialogView(
    title: &'static str,
    alert: bool,
    described_by: Option<&'static str>,
    call: CallState,
    /// The sentence and the secret, once the server made them.
    answer: Signal<Option<(String, String)>>,
    secret_label: &'static str,
    warning: &'static str,
    submit: &'static str,
    pending: &'static str,
    on_close: Callback<()>,
    children: ChildrenFn,
) -> impl IntoView {
    let revealed = Memo::new(move |_| answer.with(|a| a.is_some()));
    let running = call.running;
    let close = Callback::new(move |_: ()| {
        call.forget.run(());
        on_close.run(());
    });
    let submit_form = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        call.send.run(());
    };
    view! {
        <Modal title alert described_by on_close=close>
            {move || {
                if revealed.get() {
                    let message = answer.with_untracked(|a| a.as_ref().map(|(message, _)| message.clone())).unwrap_or_default();
                    let secret = Signal::derive(move || answer.with(|a| a.as_ref().map(|(_, secret)| secret.clone())).unwrap_or_default());
                    view! {
                        <p class="success">{message}</p>
                        <RevealOnce label=secret_label value=secret warning on_done=close />
                    }
                        .into_any()
                } else {
                    view! {
                        <form class="form" on:submit=submit_form novalidate>
                            {children()}
                            <DialogButtons alert error=call.other_error on_cancel=close running confirm=submit pending />
                        </form>
                        <AccessCheck call />
                    }
                        .into_any()
                }
            }}
        </Modal>
    }
}
