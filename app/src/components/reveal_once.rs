//! Shows a secret exactly once: a read-only field, a "Copy" button, the warning that it
//! will not be shown again, and "Done". Used for token values and initial passwords.

use leptos::prelude::*;

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
        #[cfg(feature = "hydrate")]
        {
            let text = value.get_untracked();
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
                        Err(_) => {
                            fallback.set(true);
                            select_all(input);
                        }
                    }
                });
            } else {
                // Plain-HTTP origins have no Clipboard API: select the text for Ctrl+C.
                fallback.set(true);
                select_all(input);
            }
        }
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

fn select_all(input: NodeRef<leptos::html::Input>) {
    if let Some(el) = input.get_untracked() {
        el.select();
    }
}
