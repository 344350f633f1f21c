//! The Audit log tab: who did what to which token or user, from where, newest first.
//! The filter lives in the URL (`?q=&action=&page=`); filtering runs on the server, and
//! "Download CSV" exports what the filter selects.

use leptos::prelude::*;
use leptos_router::params::ParamsMap;

use super::settings::{shows_organization, use_current_user, ForViewer, TabHeader};
use crate::{
    api::audit::list_audit_events,
    components::{
        choice::EnumSelect,
        filter::FilterInput,
        list::{ListData, ListView},
        pager::Pager,
        table::{Cell, DataTable, EmptyState},
        url_query::{page_param, server_search_for, UrlQuery},
    },
    model::{format_utc, AuditAction, AuditEvent, AuditPage, AuditQuery, Choice},
    routes,
};

impl UrlQuery for AuditQuery {
    fn from_params(m: &ParamsMap) -> AuditQuery {
        AuditQuery {
            q: m.get("q").unwrap_or_default(),
            action: m.get("action").and_then(|s| AuditAction::parse(&s)),
            page: page_param(m),
        }
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if !self.q.is_empty() {
            params.push(("q", self.q.clone()));
        }
        if let Some(action) = self.action {
            params.push(("action", action.as_str().to_string()));
        }
        if self.page > 1 {
            params.push(("page", self.page.to_string()));
        }
        params
    }

    fn on_page(self, page: u32) -> AuditQuery {
        AuditQuery { page, ..self }
    }
}

/// The route view: the tab's list, made here, outside any Suspense (see `ListData::new`).
/// The log changes only through the other tabs, so nothing here refreshes it.
#[component]
pub fn AuditLogTab() -> impl IntoView {
    let data = ListData::new(use_current_user(), shows_organization, || 0, list_audit_events);
    view! {
        <ForViewer shown=shows_organization>
            <AuditPanel data />
        </ForViewer>
    }
}

#[component]
fn AuditPanel(data: ListData<AuditQuery, AuditEvent>) -> impl IntoView {
    let ListData { url, list } = data;
    let query = url.query;
    let on_page = Callback::new(move |page: u32| url.to_page(page));
    let on_filter = Callback::new(move |q: String| url.refine(|v| v.q = q, true));
    // The export takes the filter, not the page.
    let csv = move || {
        let q = query.get();
        format!("{}{}", routes::AUDIT_CSV, server_search_for(&AuditQuery { page: 1, ..q }))
    };
    view! {
        <TabHeader
            heading="Audit log"
            text="Who did what to which token or user, and from where. Events cannot be changed or deleted."
        />
        <div class="filters" role="search">
            <FilterInput
                id="filter-events"
                label="Filter events"
                placeholder="Search by actor or target"
                value=Signal::derive(move || query.get().q)
                on_commit=on_filter
            />
            <EnumSelect
                id="filter-action"
                label="Action"
                all="All actions"
                selected=Signal::derive(move || query.get().action)
                on_change=Callback::new(move |action| url.refine(|v| v.action = action, false))
            />
            // A download, not a page: the router must not take it (rel="external").
            <a class="button secondary filters-end" href=csv download="tokenwell-audit-log.csv" rel="external">
                "Download CSV"
            </a>
        </div>
        <ListView list loading="Loading events…" rows=move |page| view! { <EventTable page on_page /> } />
    }
}

#[component]
fn EventTable(page: AuditPage, on_page: Callback<u32>) -> impl IntoView {
    if page.total == 0 {
        return view! {
            <EmptyState
                heading="No events match these filters"
                text="Try part of a name, or another action."
            />
        }
        .into_any();
    }
    let shown = page.rows.len();
    view! {
        <DataTable headers=&["Time", "Actor", "Action", "Target", "Address"]>
            {page.rows.into_iter().map(|event| view! { <EventRow event /> }).collect_view()}
        </DataTable>
        <Pager page=page.page per_page=page.per_page total=page.total more=page.more shown on_page />
    }
    .into_any()
}

#[component]
fn EventRow(event: AuditEvent) -> impl IntoView {
    let target = match (&event.target, event.target_kind) {
        (Some(name), Some(kind)) => format!("{} {name}", kind.label()),
        (Some(name), None) => name.clone(),
        (None, _) => "—".to_string(),
    };
    let detail = (!event.detail.is_empty())
        .then(|| view! { <span class="cell-note">{event.detail.clone()}</span> });
    let address = event.address.clone().unwrap_or_else(|| "—".to_string());
    view! {
        <tr role="row">
            <th scope="row" role="rowheader" class="cell-time">
                {format_utc(event.at)}
            </th>
            <Cell label="Actor" wrap=true>
                {event.actor.clone()}
            </Cell>
            <Cell label="Action" wrap=true>
                {event.action.label()}
                {detail}
            </Cell>
            <Cell label="Target" wrap=true>
                {target}
            </Cell>
            <Cell label="Address">
                <code class="hint-code">{address}</code>
            </Cell>
        </tr>
    }
}
