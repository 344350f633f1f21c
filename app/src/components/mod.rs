//! Reusable pieces of the console: one component per recurring shape.

pub mod access;
pub mod action;
pub mod choice;
pub mod dialog;
pub mod field;
pub mod filter;
pub mod icons;
pub mod list;
pub mod menu;
pub mod pager;
pub mod passkey;
pub mod reveal_once;
pub mod table;
pub mod url_query;

use leptos::prelude::*;

use crate::error::AppError;

/// A banner for an error that is not about one form field.
#[component]
pub fn ErrorBanner(error: AppError) -> impl IntoView {
    view! {
        <div class="banner error" role="alert">
            {error.to_string()}
        </div>
    }
}

/// Browser-only helpers; on the server they do nothing.
pub mod dom {
    /// Moves keyboard focus to the element with this id, if it exists.
    pub fn focus_id(_id: &str) {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(el) = leptos::prelude::document()
                .get_element_by_id(_id)
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = el.focus();
            }
        }
    }
}
