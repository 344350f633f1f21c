//! "Showing a–b of N" with "Previous page" / "Next page".

use leptos::prelude::*;

#[component]
pub fn Pager(
    /// 1-based page shown.
    page: u32,
    per_page: u32,
    total: u64,
    /// Rows on this page.
    shown: usize,
    /// Called with the page to go to.
    on_page: Callback<u32>,
) -> impl IntoView {
    let first = (page as u64 - 1) * per_page as u64 + 1;
    let last = first + shown as u64 - 1;
    let has_prev = page > 1;
    let has_next = last < total;
    view! {
        <nav class="pager" aria-label="Pagination">
            <p class="pager-count" aria-live="polite">
                {if total == 0 {
                    "No results".to_string()
                } else {
                    format!("Showing {first}–{last} of {total}")
                }}
            </p>
            <div class="pager-buttons">
                <button
                    type="button"
                    class="button secondary"
                    disabled=!has_prev
                    on:click=move |_| on_page.run(page - 1)
                >
                    "Previous page"
                </button>
                <button
                    type="button"
                    class="button secondary"
                    disabled=!has_next
                    on:click=move |_| on_page.run(page + 1)
                >
                    "Next page"
                </button>
            </div>
        </nav>
    }
}
