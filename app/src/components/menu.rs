//! The row "…" menu: a button that opens a `menu` of `menuitem`s, operable by keyboard
//! (Enter/Space open, arrows move, Escape closes and returns focus to the button).

use leptos::{ev::KeyboardEvent, prelude::*};

#[derive(Clone)]
pub struct MenuItem {
    pub label: &'static str,
    /// Shown in the danger colour (Revoke, Disable).
    pub danger: bool,
    pub on_select: Callback<()>,
}

#[component]
pub fn ActionsMenu(
    /// Accessible name of the button, e.g. "Actions for ci-token".
    #[prop(into)]
    label: String,
    items: Vec<MenuItem>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let trigger = NodeRef::<leptos::html::Button>::new();
    let list = NodeRef::<leptos::html::Ul>::new();
    let items = StoredValue::new(items);

    let focus_item = move |index: i32| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(list) = list.get_untracked() {
                if let Ok(nodes) = list.query_selector_all("[role=menuitem]") {
                    let n = nodes.length() as i32;
                    if n > 0 {
                        let i = index.rem_euclid(n) as u32;
                        if let Some(el) =
                            nodes.item(i).and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                        {
                            let _ = el.focus();
                        }
                    }
                }
            }
        }
        let _ = index;
    };
    let current_index = move || -> i32 {
        #[cfg(feature = "hydrate")]
        {
            if let (Some(list), Some(active)) = (list.get_untracked(), document().active_element())
            {
                if let Ok(nodes) = list.query_selector_all("[role=menuitem]") {
                    for i in 0..nodes.length() {
                        if nodes.item(i).is_some_and(|n| {
                            let node: &web_sys::Node = active.as_ref();
                            &n == node
                        }) {
                            return i as i32;
                        }
                    }
                }
            }
        }
        0
    };
    let close = move |refocus: bool| {
        open.set(false);
        if refocus {
            if let Some(button) = trigger.get_untracked() {
                let _ = button.focus();
            }
        }
    };

    // Focus the first item once the list is in the DOM.
    Effect::new(move |_| {
        if open.get() && list.get().is_some() {
            focus_item(0);
        }
    });

    let on_trigger_key = move |ev: KeyboardEvent| {
        if matches!(ev.key().as_str(), "ArrowDown" | "ArrowUp") {
            ev.prevent_default();
            open.set(true);
        }
    };
    let on_list_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            focus_item(current_index() + 1);
        }
        "ArrowUp" => {
            ev.prevent_default();
            focus_item(current_index() - 1);
        }
        "Home" => {
            ev.prevent_default();
            focus_item(0);
        }
        "End" => {
            ev.prevent_default();
            focus_item(-1);
        }
        "Escape" => {
            ev.prevent_default();
            close(true);
        }
        "Tab" => close(false),
        _ => {}
    };

    view! {
        <div
            class="menu"
            on:focusout=move |ev: leptos::ev::FocusEvent| {
                #[cfg(feature = "hydrate")]
                {
                    use wasm_bindgen::JsCast;
                    let inside = ev
                        .related_target()
                        .and_then(|t| t.dyn_into::<web_sys::Node>().ok())
                        .zip(ev.current_target().and_then(|t| t.dyn_into::<web_sys::Node>().ok()))
                        .is_some_and(|(to, wrap)| wrap.contains(Some(&to)));
                    if !inside {
                        open.set(false);
                    }
                }
                let _ = ev;
            }
        >
            <button
                type="button"
                class="button icon-button"
                aria-label=label
                aria-haspopup="menu"
                aria-expanded=move || open.get().to_string()
                node_ref=trigger
                on:click=move |_| open.update(|o| *o = !*o)
                on:keydown=on_trigger_key
            >
                <span aria-hidden="true">"…"</span>
            </button>
            <Show when=move || open.get()>
                <ul class="menu-list" role="menu" node_ref=list on:keydown=on_list_key>
                    {items
                        .get_value()
                        .into_iter()
                        .map(|item| {
                            view! {
                                <li role="none">
                                    <button
                                        type="button"
                                        role="menuitem"
                                        tabindex="-1"
                                        class="menu-item"
                                        class:danger=item.danger
                                        on:click=move |_| {
                                            close(true);
                                            item.on_select.run(());
                                        }
                                    >
                                        {item.label}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </Show>
        </div>
    }
}
