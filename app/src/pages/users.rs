//! The Users tab: the organization's people and Forwarder Service Accounts.

use leptos::prelude::*;
use leptos_router::{
    hooks::{use_location, use_navigate, use_query_map},
    NavigateOptions,
};

use super::{encode_component, ErrorBanner};
use crate::{
    api::users::list_users,
    components::pager::Pager,
    model::{format_date, format_utc, UserPage, UserStatus, USERS_PER_PAGE},
};

#[component]
pub fn UsersTab() -> impl IntoView {
    let params = use_query_map();
    let q = Memo::new(move |_| params.with(|m| m.get("q").unwrap_or_default()));
    let page = Memo::new(move |_| {
        params.with(|m| m.get("page").and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1))
    });
    let users = Resource::new(move || (q.get(), page.get()), |(q, page)| list_users(q, page));

    let location = use_location();
    let navigate = use_navigate();
    let go = StoredValue::new(move |q: String, page: u32, replace: bool| {
        let mut search = Vec::new();
        if !q.is_empty() {
            search.push(format!("q={}", encode_component(&q)));
        }
        if page > 1 {
            search.push(format!("page={page}"));
        }
        let search = if search.is_empty() { String::new() } else { format!("?{}", search.join("&")) };
        navigate(
            &format!("{}{search}", location.pathname.get_untracked()),
            NavigateOptions { replace, scroll: false, ..Default::default() },
        );
    });
    let on_page = Callback::new(move |p: u32| go.with_value(|go| go(q.get_untracked(), p, false)));

    let text = RwSignal::new(q.get_untracked());
    Effect::watch(move || q.get(), move |q, _, _| text.set(q.clone()), false);
    let debounce = StoredValue::new(None::<TimeoutHandle>);
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        text.set(value.clone());
        if let Some(handle) = debounce.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(
            move || go.with_value(|go| go(value.clone(), 1, true)),
            std::time::Duration::from_millis(300),
        );
        debounce.set_value(handle.ok());
    };

    view! {
        <div class="tab-header">
            <div>
                <h1 id="page-heading" tabindex="-1">
                    "Users"
                </h1>
                <p class="muted">
                    "People who can sign in, and the Forwarder Service Accounts that File Forwarder tokens act as."
                </p>
            </div>
        </div>
        <div class="filters" role="search">
            <div class="field grow">
                <label for="filter-users" class="field-label">
                    "Filter users"
                </label>
                <input
                    id="filter-users"
                    class="input"
                    type="search"
                    placeholder="Search by name or email"
                    autocomplete="off"
                    prop:value=move || text.get()
                    on:input=on_input
                />
            </div>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(data) => view! { <UserTable data on_page /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn UserTable(data: UserPage, on_page: Callback<u32>) -> impl IntoView {
    if data.total == 0 {
        return view! {
            <div class="empty-state">
                <h2>"No users match this filter"</h2>
                <p>"Try part of a name or an email address."</p>
            </div>
        }
        .into_any();
    }
    let page = (data.offset / USERS_PER_PAGE as u64) as u32 + 1;
    let shown = data.rows.len();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody>
                    {data
                        .rows
                        .into_iter()
                        .map(|u| {
                            let active = u.status == UserStatus::Active;
                            view! {
                                <tr>
                                    <th scope="row" class="cell-name">
                                        {u.name}
                                    </th>
                                    <td>{u.email.unwrap_or_default()}</td>
                                    <td>{u.kind.label()}</td>
                                    <td>{u.role.map(|r| r.label()).unwrap_or("—")}</td>
                                    <td>
                                        <span class="badge" class:active=active class:revoked=!active>
                                            {u.status.label()}
                                        </span>
                                    </td>
                                    <td>
                                        <span title=format_utc(u.created_at)>{format_date(u.created_at)}</span>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <Pager page per_page=USERS_PER_PAGE total=data.total shown on_page />
    }
    .into_any()
}
