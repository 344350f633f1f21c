//! A modal dialog: focus moves in when it opens and is trapped inside, Escape closes it,
//! and focus returns to the control that opened it when it closes.

#[cfg(feature = "hydrate")]
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

/// Elements that take keyboard focus, in document order.
#[cfg(feature = "hydrate")]
const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
                         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

#[component]
pub fn Modal(
    /// The heading, which also names the dialog.
    #[prop(into)]
    title: String,
    /// `alertdialog` (a confirmation that interrupts) instead of `dialog`.
    #[prop(optional)]
    alert: bool,
    /// Id of the element that describes the dialog, for `aria-describedby`.
    #[prop(optional, into)]
    described_by: Option<String>,
    /// Asked to close (Escape). The owner decides and unmounts the dialog.
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let panel = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let opener = send_wrapper::SendWrapper::new(document().active_element());
        Effect::new(move |_| {
            if let Some(panel) = panel.get() {
                let target = panel
                    .query_selector("[data-autofocus]")
                    .ok()
                    .flatten()
                    .or_else(|| panel.query_selector(FOCUSABLE).ok().flatten());
                if let Some(el) = target.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                    let _ = el.focus();
                }
            }
        });
        on_cleanup(move || {
            let opener = opener.take();
            match opener.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                Some(el) if el.is_connected() => {
                    let _ = el.focus();
                }
                // The opener is gone (its row left the filtered list): land on the page heading.
                _ => super::dom::focus_id("page-heading"),
            }
        });
    }

    // Listen on the window, not the dialog: when the dialog's content changes (the form
    // gives way to the generated secret) focus may fall to <body>, and Escape and Tab
    // must still work.
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| match ev
            .key()
            .as_str()
        {
            "Escape" => {
                ev.prevent_default();
                on_close.run(());
            }
            "Tab" => trap_tab(&ev, panel),
            _ => {}
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = on_close;

    view! {
        <div class="modal-backdrop">
            <div
                class="modal"
                role=if alert { "alertdialog" } else { "dialog" }
                aria-modal="true"
                aria-labelledby="dialog-title"
                aria-describedby=described_by
                node_ref=panel
            >
                <h2 id="dialog-title" class="modal-title">
                    {title}
                </h2>
                {children()}
            </div>
        </div>
    }
}

/// Keeps Tab and Shift+Tab cycling through the dialog's own controls.
#[cfg(feature = "hydrate")]
fn trap_tab(ev: &KeyboardEvent, panel: NodeRef<leptos::html::Div>) {
    use wasm_bindgen::JsCast;
    let Some(panel) = panel.get_untracked() else { return };
    let Ok(list) = panel.query_selector_all(FOCUSABLE) else { return };
    let items: Vec<web_sys::HtmlElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        ev.prevent_default();
        return;
    };
    let active = document().active_element();
    let is = |el: &web_sys::HtmlElement| {
        active.as_ref().is_some_and(|a| a == el.unchecked_ref::<web_sys::Element>())
    };
    let inside = active.as_ref().is_some_and(|a| panel.contains(Some(a)));
    if ev.shift_key() && (is(first) || !inside) {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && (is(last) || !inside) {
        ev.prevent_default();
        let _ = first.focus();
    }
}
