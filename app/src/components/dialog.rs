//! A modal dialog on the platform's `<dialog>`, opened with `showModal()`: the browser
//! makes the rest of the page inert, puts the dialog in the top layer and turns Escape into
//! a `cancel` event. We add what it leaves to us: focus on the right control when it opens,
//! Tab kept among its controls, and focus back on the control that opened it when it goes.

use leptos::{prelude::*, server_fn::ServerFn};

use super::{
    access::AccessCheck,
    action::{call_state, CallState},
    ErrorBanner,
};
use crate::error::AppError;

#[component]
pub fn Modal(
    /// The heading, which also names the dialog.
    #[prop(into)]
    title: String,
    /// `alertdialog` (a confirmation that interrupts) instead of `dialog`.
    #[prop(optional)]
    alert: bool,
    /// Id of the element that describes the dialog, for `aria-describedby`.
    #[prop(optional_no_strip)]
    described_by: Option<&'static str>,
    /// Asked to close (Escape). The owner decides and unmounts the dialog.
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    // From the title, so that a dialog opened over another ("Confirm access") has its own.
    let title_id = format!(
        "dialog-title-{}",
        title
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect::<String>()
    );
    let labelled_by = title_id.clone();

    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let opener = send_wrapper::SendWrapper::new(document().active_element());
        Effect::new(move |_| {
            let Some(dialog) = dialog.get() else { return };
            if !dialog.open() {
                let _ = dialog.show_modal();
            }
            // The control marked `data-autofocus` (a form's first field, or Cancel in a
            // confirmation), not whatever comes first.
            if let Some(el) = dialog
                .query_selector("[data-autofocus]")
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = el.focus();
            }
        });
        on_cleanup(move || {
            let opener = opener.take();
            // Once the dialog has left the page: until then everything outside it is inert
            // and cannot take focus.
            set_timeout(
                move || match opener.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                    Some(el) if el.is_connected() => {
                        let _ = el.focus();
                    }
                    // The opener is gone (its row left the filtered list): the page heading.
                    _ => super::dom::focus_id("page-heading"),
                },
                std::time::Duration::ZERO,
            );
        });
    }

    view! {
        <dialog
            class="modal"
            role=alert.then_some("alertdialog")
            aria-labelledby=labelled_by
            aria-describedby=described_by
            node_ref=dialog
            on:cancel=move |ev: leptos::ev::Event| {
                // Escape: the owner unmounts the dialog (and drops any secret in it).
                ev.prevent_default();
                on_close.run(());
            }
            // A second Escape in a row may close it without a cancelable `cancel`.
            on:close=move |_| on_close.run(())
            on:keydown=move |ev| keep_tab_inside(&ev, dialog)
        >
            <h2 id=title_id class="modal-title">
                {title}
            </h2>
            {children()}
        </dialog>
    }
}

/// Wraps Tab and Shift+Tab around the dialog's own controls. The browser lets them
/// continue from the last control to its own address bar; a modal dialog should not.
fn keep_tab_inside(ev: &leptos::ev::KeyboardEvent, dialog: NodeRef<leptos::html::Dialog>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if ev.key() != "Tab" {
            return;
        }
        let Some(dialog) = dialog.get_untracked() else { return };
        let Ok(list) = dialog.query_selector_all(FOCUSABLE) else { return };
        let items: Vec<web_sys::HtmlElement> = (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .collect();
        let (Some(first), Some(last)) = (items.first(), items.last()) else { return };
        let active = document().active_element();
        let is = |el: &web_sys::HtmlElement| {
            active.as_ref().is_some_and(|a| a == el.unchecked_ref::<web_sys::Element>())
        };
        let wrap_to = if ev.shift_key() && is(first) {
            Some(last)
        } else if !ev.shift_key() && is(last) {
            Some(first)
        } else {
            None
        };
        if let Some(target) = wrap_to {
            ev.prevent_default();
            let _ = target.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, dialog);
}

/// Controls that take keyboard focus, in document order.
#[cfg(feature = "hydrate")]
const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
                         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/// A dialog that asks before one change: its text (`children`), Cancel, and the button that
/// makes the change. It closes once the change is through; an error stays in it.
#[component]
pub fn ConfirmDialog<S>(
    #[prop(into)] title: String,
    /// A confirmation that interrupts (`alertdialog`, Cancel focused) rather than a choice.
    #[prop(optional)]
    alert: bool,
    /// Id of the text that says what will happen.
    described_by: &'static str,
    action: ServerAction<S>,
    /// The change, from the dialog's current values.
    input: Callback<(), S>,
    /// The button's text, and its text while the change runs.
    #[prop(into)]
    confirm: String,
    #[prop(into)] pending: String,
    /// The button in the danger colour (revoke, disable).
    #[prop(optional)]
    danger: bool,
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let call = call_state(action, input);
    let done = Signal::derive(move || action.value().with(|v| matches!(v, Some(Ok(_)))));
    view! { <ConfirmView title alert described_by call done confirm pending danger on_close children /> }
}

#[component]
fn ConfirmView(
    title: String,
    alert: bool,
    described_by: &'static str,
    call: CallState,
    done: Signal<bool>,
    confirm: String,
    pending: String,
    danger: bool,
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    Effect::new(move |_| {
        if done.get() {
            on_close.run(());
        }
    });
    let running = call.running;
    view! {
        <Modal title alert described_by=Some(described_by) on_close>
            {children()}
            <DialogButtons
                alert
                error=call.other_error
                on_cancel=on_close
                running
                confirm
                pending
                danger
                on_confirm=call.send
            />
            <AccessCheck call />
        </Modal>
    }
}

/// A dialog's Cancel and its one action, whose text changes while it runs, under the call's
/// error that belongs to no field. Without `on_confirm` the action submits the dialog's form.
#[component]
pub fn DialogButtons(
    /// In a confirmation Cancel takes the focus, so that Enter does not confirm by accident.
    alert: bool,
    /// The call's error that is not shown under a field (`CallState::other_error`).
    #[prop(into)]
    error: Signal<Option<AppError>>,
    on_cancel: Callback<()>,
    running: Signal<bool>,
    #[prop(into)] confirm: String,
    #[prop(into)] pending: String,
    #[prop(optional)] danger: bool,
    #[prop(optional)] on_confirm: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        {move || error.get().map(|error| view! { <ErrorBanner error /> })}
        <div class="modal-actions">
            <button
                type="button"
                class="button secondary"
                data-autofocus=alert.then_some("")
                on:click=move |_| on_cancel.run(())
            >
                "Cancel"
            </button>
            <button
                type=if on_confirm.is_some() { "button" } else { "submit" }
                class=if danger { "button danger" } else { "button" }
                disabled=move || running.get()
                on:click=move |_| {
                    if let Some(confirm) = on_confirm {
                        confirm.run(());
                    }
                }
            >
                {move || if running.get() { pending.clone() } else { confirm.clone() }}
            </button>
        </div>
    }
}
