//! "Showing a–b of N" with "Previous page" / "Next page".

use leptos::prelude::*;

use crate::model::Page;

/// The rows a page shows, 1-based: `(first, last)`.
fn shown_range(page: u32, per_page: u32, shown: usize) -> (u64, u64) {
    let first = (page as u64 - 1) * per_page as u64 + 1;
    (first, first + shown as u64 - 1)
}

/// What a list announces after it changed, e.g. "73 results, rows 26 to 50".
pub fn announcement<T>(page: &Page<T>) -> String {
    let (first, last) = shown_range(page.page, page.per_page, page.rows.len());
    match page.total {
        total if page.more => {
            format!("More than {} results, rows {first} to {last}", grouped(total))
        }
        0 => "No results".to_string(),
        1 => "1 result".to_string(),
        total if page.rows.len() as u64 == total => format!("{total} results"),
        total => format!("{total} results, rows {first} to {last}"),
    }
}

/// 10000 → "10,000".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[component]
pub fn Pager(
    /// 1-based page shown.
    page: u32,
    per_page: u32,
    total: u64,
    /// Rows on this page.
    shown: usize,
    /// More match than `total` (see `Page::more`).
    #[prop(optional)]
    more: bool,
    /// Called with the page to go to.
    on_page: Callback<u32>,
) -> impl IntoView {
    let (first, last) = shown_range(page, per_page, shown);
    let has_prev = page > 1;
    let has_next = last < total;
    // Not a live region: the list announces its count in one that outlives its pages.
    view! {
        <nav class="pager" aria-label="Pagination">
            <p class="pager-count">
                {if more {
                    format!("Showing {first}–{last} of more than {}", grouped(total))
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

#[cfg(test)]
mod tests {
    use super::announcement;
    use crate::model::Page;

    fn page(total: u64, page: u32, rows: usize) -> Page<()> {
        Page { rows: vec![(); rows], total, more: false, page, per_page: 25, now: 0 }
    }

    #[test]
    fn announces_the_count_and_which_rows_when_there_are_more() {
        assert_eq!(announcement(&page(0, 1, 0)), "No results");
        assert_eq!(announcement(&page(1, 1, 1)), "1 result");
        assert_eq!(announcement(&page(7, 1, 7)), "7 results");
        assert_eq!(announcement(&page(73, 2, 25)), "73 results, rows 26 to 50");
        assert_eq!(announcement(&page(73, 3, 23)), "73 results, rows 51 to 73");
        let capped = Page { more: true, ..page(10_000, 2, 25) };
        assert_eq!(announcement(&capped), "More than 10,000 results, rows 26 to 50");
        assert_eq!(super::grouped(1_234_567), "1,234,567");
        assert_eq!(super::grouped(999), "999");
    }
}
