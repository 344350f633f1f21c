//! The console's tables: one markup for the tokens and users lists. From 40rem of width
//! each is a table; narrower, CSS stacks each row into a card (see `.table-wrap`), where a
//! cell's visible caption stands in for its column header. The explicit roles keep it a
//! table for screen readers that drop the semantics of a table whose display changed.

use leptos::prelude::*;

#[component]
pub fn DataTable(
    /// The column headers, in order.
    headers: &'static [&'static str],
    /// The rows (`<tr role="row">`), a row header first, then `Cell`s.
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" role="table">
                <thead role="rowgroup">
                    <tr role="row">
                        {headers
                            .iter()
                            .map(|header| view! { <th scope="col" role="columnheader">{*header}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody role="rowgroup">{children()}</tbody>
            </table>
        </div>
    }
}

/// One cell with the caption it shows when its row is a card (hidden from screen readers,
/// which hear the column header instead).
#[component]
pub fn Cell(
    /// The column's header.
    label: &'static str,
    /// Lets the value wrap at spaces (long labels and names); otherwise it stays on one line.
    #[prop(optional)]
    wrap: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <td role="cell">
            <span class="cell-label" aria-hidden="true">
                {label}
            </span>
            <div class="cell-value" class:wrap=wrap>
                {children()}
            </div>
        </td>
    }
}

/// What a list shows instead of rows: a heading, a sentence, and maybe one way on.
#[component]
pub fn EmptyState(
    heading: &'static str,
    text: &'static str,
    /// A button's text, its style (`"button"` or `"button secondary"`) and what it does.
    #[prop(optional)]
    action: Option<(&'static str, &'static str, Callback<()>)>,
) -> impl IntoView {
    view! {
        <div class="empty-state">
            <h2>{heading}</h2>
            <p>{text}</p>
            {action
                .map(|(label, class, run)| {
                    view! {
                        <button type="button" class=class on:click=move |_| run.run(())>
                            {label}
                        </button>
                    }
                })}
        </div>
    }
}
