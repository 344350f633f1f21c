//! A labelled text input with its description and its inline error, wired for assistive
//! technology (`aria-invalid`, `aria-describedby`).

use leptos::prelude::*;

/// A label and its control (`children`: the control, then any hint or error under it).
#[component]
pub fn Field(
    /// The control's id.
    id: &'static str,
    label: &'static str,
    /// Takes the room left in a row of fields (a filter's search box).
    #[prop(optional)]
    grow: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field" class:grow=grow>
            <label for=id class="field-label">
                {label}
            </label>
            {children()}
        </div>
    }
}

#[component]
pub fn TextField(
    id: &'static str,
    label: &'static str,
    /// The input's `type`.
    #[prop(default = "text")]
    kind: &'static str,
    /// The field's name in a form posted as is (`ActionForm`).
    #[prop(optional)]
    name: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    /// A sentence under the field about what to enter.
    #[prop(optional)]
    description: Option<&'static str>,
    /// The text, for a form that reads its fields from signals; the field also follows it
    /// when the owner changes it (e.g. clears it).
    #[prop(optional)]
    value: Option<RwSignal<String>>,
    /// The server's message about this field, if any.
    #[prop(optional, into)]
    error: Option<Signal<Option<String>>>,
    #[prop(optional)] required: bool,
    /// Takes focus when its dialog opens.
    #[prop(optional)]
    autofocus: bool,
    #[prop(optional)] maxlength: Option<u32>,
) -> impl IntoView {
    let description_id = format!("{id}-description");
    let error_id = format!("{id}-error");
    let described_by =
        [description.map(|_| description_id.clone()), error.map(|_| error_id.clone())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
    let input = NodeRef::<leptos::html::Input>::new();
    if let Some(value) = value {
        // Set from here rather than with `prop:value`, so that a field without a signal is
        // left alone (what someone typed before the page hydrated stays).
        Effect::new(move |_| {
            let text = value.get();
            if let Some(el) = input.get() {
                if el.value() != text {
                    el.set_value(&text);
                }
            }
        });
    }
    view! {
        <Field id label>
            <input
                id=id
                class="input"
                type=kind
                name=name
                autocomplete=autocomplete
                required=required
                maxlength=maxlength
                data-autofocus=autofocus.then_some("")
                aria-invalid=move || error.and_then(|e| e.get()).is_some().then_some("true")
                aria-describedby=(!described_by.is_empty()).then_some(described_by)
                node_ref=input
                on:input=move |ev| {
                    if let Some(value) = value {
                        value.set(event_target_value(&ev));
                    }
                }
            />
            {description.map(|text| view! { <p id=description_id class="hint">{text}</p> })}
            {error.map(|message| view! { <p id=error_id class="field-error">{message}</p> })}
        </Field>
    }
}
