//! Reusable pieces of the console.

pub mod dialog;
pub mod filter;
pub mod icons;
pub mod menu;
pub mod pager;
pub mod reveal_once;
pub mod submission;

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
