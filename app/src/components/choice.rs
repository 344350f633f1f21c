//! A labelled `<select>` over the values of a `Choice` enum.

use leptos::prelude::*;

use super::field::Field;
use crate::model::Choice;

#[component]
pub fn EnumSelect<C: Choice>(
    id: &'static str,
    label: &'static str,
    /// The chosen value; `None` is the `all` option.
    #[prop(into)]
    selected: Signal<Option<C>>,
    /// Called with the value picked.
    on_change: Callback<Option<C>>,
    /// The label of an option for "any value" (a filter's "All types"), listed first.
    #[prop(optional)]
    all: Option<&'static str>,
    /// A sentence about the chosen value, shown under the select.
    #[prop(optional)]
    describe: Option<fn(C) -> &'static str>,
) -> impl IntoView {
    // Only this mapping depends on the enum; the markup below is compiled once.
    let options = C::ALL.iter().map(|c| (c.as_str(), c.label())).collect();
    let hint = describe
        .map(|describe| Signal::derive(move || selected.get().map(describe).unwrap_or_default()));
    view! {
        <Select
            id
            label
            options
            selected=Signal::derive(move || selected.get().map(C::as_str))
            on_change=Callback::new(move |wire: String| on_change.run(C::parse(&wire)))
            all
            hint
        />
    }
}

#[component]
fn Select(
    id: &'static str,
    label: &'static str,
    /// `(wire name, label)` of each option.
    options: Vec<(&'static str, &'static str)>,
    selected: Signal<Option<&'static str>>,
    on_change: Callback<String>,
    all: Option<&'static str>,
    hint: Option<Signal<&'static str>>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <Field id label>
            <select
                id=id
                class="input"
                aria-describedby=hint.is_some().then(|| hint_id.clone())
                on:change=move |ev| on_change.run(event_target_value(&ev))
            >
                {all
                    .map(|all| {
                        view! {
                            <option value="" selected=move || selected.get().is_none()>
                                {all}
                            </option>
                        }
                    })}
                {options
                    .into_iter()
                    .map(|(wire, text)| {
                        view! {
                            <option value=wire selected=move || selected.get() == Some(wire)>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            {hint.map(|text| view! { <p id=hint_id class="hint">{text}</p> })}
        </Field>
    }
}
