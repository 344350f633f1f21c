//! A search box whose text is committed (to the URL, by the owner) 300 ms after the last
//! keystroke, and which follows the committed value when it changes from outside (back
//! and forward, "Clear filters").

use std::time::Duration;

use leptos::prelude::*;

use super::field::Field;

const DEBOUNCE: Duration = Duration::from_millis(300);

#[component]
pub fn FilterInput(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    /// The committed filter (from the URL).
    #[prop(into)]
    value: Signal<String>,
    /// Called with the new text once typing pauses.
    on_commit: Callback<String>,
) -> impl IntoView {
    let text = RwSignal::new(value.get_untracked());
    Effect::watch(move || value.get(), move |v, _, _| text.set(v.clone()), false);
    let pending = StoredValue::new(None::<TimeoutHandle>);
    let on_input = move |ev: leptos::ev::Event| {
        let typed = event_target_value(&ev);
        text.set(typed.clone());
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
        // The owner may be gone when the timer fires (the user navigated away): then the
        // callback is disposed and nothing happens.
        let handle =
            set_timeout_with_handle(move || _ = on_commit.try_run(typed.clone()), DEBOUNCE);
        pending.set_value(handle.ok());
    };
    on_cleanup(move || {
        if let Some(Some(handle)) = pending.try_get_value() {
            handle.clear();
        }
    });
    view! {
        <Field id label grow=true>
            <input
                id=id
                class="input"
                type="search"
                placeholder=placeholder
                autocomplete="off"
                prop:value=move || text.get()
                on:input=on_input
            />
        </Field>
    }
}
