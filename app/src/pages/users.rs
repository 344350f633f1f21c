//! The Users tab: the organization's people and Forwarder Service Accounts.

use leptos::prelude::*;
use leptos_router::{
    hooks::{use_location, use_navigate, use_query_map},
    NavigateOptions,
};

use super::{encode_component, settings::shows_organization, ErrorBanner};
use crate::{
    api::users::{add_user, list_users, reset_password, set_user_role, set_user_status},
    components::{
        dialog::Modal,
        filter::FilterInput,
        menu::{ActionsMenu, MenuItem},
        pager::Pager,
        reveal_once::RevealOnce,
        submission::Submission,
    },
    error::AppError,
    model::{format_date, format_utc, Role, UserKind, UserPage, UserRow, UserStatus, Viewer},
};

/// What the admin is about to do to a user.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Role(UserRow),
    Status(UserRow),
    ResetPassword(UserRow),
}

/// The tab's filter, page and list. Made by `SettingsPage`, outside its Suspense (see
/// `TabData`); `None` when the viewer is not shown the tab, which then asks for nothing.
#[derive(Clone, Copy)]
pub struct UsersData {
    q: Memo<String>,
    refresh: RwSignal<u32>,
    users: Resource<Option<Result<UserPage, AppError>>>,
}

impl UsersData {
    pub fn new(viewer: Resource<Result<Viewer, AppError>>) -> UsersData {
        let params = use_query_map();
        let q = Memo::new(move |_| params.with(|m| m.get("q").unwrap_or_default()));
        let page = Memo::new(move |_| {
            params.with(|m| {
                m.get("page").and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1)
            })
        });
        let refresh = RwSignal::new(0u32);
        let users = Resource::new(
            move || (q.get(), page.get(), refresh.get()),
            move |(q, page, _)| async move {
                if shows_organization(&viewer.await) {
                    Some(list_users(q, page).await)
                } else {
                    None
                }
            },
        );
        UsersData { q, refresh, users }
    }
}

#[component]
pub fn UsersTab(data: UsersData) -> impl IntoView {
    let UsersData { q, refresh, users } = data;
    let adding = RwSignal::new(false);
    let acting = RwSignal::new(None::<Pending>);
    let changed = Callback::new(move |_: ()| refresh.update(|n| *n += 1));
    let on_action = Callback::new(move |p: Pending| acting.set(Some(p)));

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
        let search =
            if search.is_empty() { String::new() } else { format!("?{}", search.join("&")) };
        navigate(
            &format!("{}{search}", location.pathname.get_untracked()),
            NavigateOptions { replace, scroll: false, ..Default::default() },
        );
    });
    let on_page = Callback::new(move |p: u32| go.with_value(|go| go(q.get_untracked(), p, false)));

    let on_filter = Callback::new(move |text: String| {
        go.try_with_value(|go| go(text, 1, true));
    });

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
            <button type="button" class="button" on:click=move |_| adding.set(true)>
                "Add user"
            </button>
        </div>
        <div class="filters" role="search">
            <FilterInput
                id="filter-users"
                label="Filter users"
                placeholder="Search by name or email"
                value=q
                on_commit=on_filter
            />
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    None => ().into_any(),
                    Some(Ok(data)) => view! { <UserTable data on_page on_action /> }.into_any(),
                    Some(Err(error)) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
        <Show when=move || adding.get()>
            <AddUserDialog on_close=Callback::new(move |_| adding.set(false)) on_added=changed />
        </Show>
        {move || {
            acting
                .get()
                .map(|pending| {
                    let on_close = Callback::new(move |_| acting.set(None));
                    match pending {
                        Pending::Role(user) => view! { <RoleDialog user on_close on_done=changed /> }.into_any(),
                        Pending::Status(user) => view! { <StatusDialog user on_close on_done=changed /> }.into_any(),
                        Pending::ResetPassword(user) => {
                            view! { <ResetPasswordDialog user on_close on_done=changed /> }.into_any()
                        }
                    }
                })
        }}
    }
}

#[component]
fn UserTable(
    data: UserPage,
    on_page: Callback<u32>,
    on_action: Callback<Pending>,
) -> impl IntoView {
    if data.total == 0 {
        return view! {
            <div class="empty-state">
                <h2>"No users match this filter"</h2>
                <p>"Try part of a name or an email address."</p>
            </div>
        }
        .into_any();
    }
    let page = data.page;
    let shown = data.rows.len();
    // The email sits under the name, so six columns fit a 1024 px window; narrower, CSS
    // stacks each row into a card (see `.table-wrap`), and the explicit roles keep it a table
    // for screen readers that drop the semantics of a table whose display changed.
    view! {
        <div class="table-wrap">
            <table class="table" role="table">
                <thead role="rowgroup">
                    <tr role="row">
                        <th scope="col" role="columnheader">"Name"</th>
                        <th scope="col" role="columnheader">"Type"</th>
                        <th scope="col" role="columnheader">"Role"</th>
                        <th scope="col" role="columnheader">"Status"</th>
                        <th scope="col" role="columnheader">"Created"</th>
                        <th scope="col" role="columnheader">"Actions"</th>
                    </tr>
                </thead>
                <tbody role="rowgroup">
                    {data
                        .rows
                        .into_iter()
                        .map(|u| view! { <UserRowView user=u on_action /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <Pager page per_page=data.per_page total=data.total shown on_page />
    }
    .into_any()
}

#[component]
fn UserRowView(user: UserRow, on_action: Callback<Pending>) -> impl IntoView {
    let active = user.status == UserStatus::Active;
    let mut items = Vec::new();
    if user.kind == UserKind::User {
        let target = user.clone();
        items.push(MenuItem {
            label: "Change role",
            danger: false,
            on_select: Callback::new(move |_| on_action.run(Pending::Role(target.clone()))),
        });
        let target = user.clone();
        items.push(MenuItem {
            label: "Reset password",
            danger: false,
            on_select: Callback::new(move |_| {
                on_action.run(Pending::ResetPassword(target.clone()))
            }),
        });
    }
    let target = user.clone();
    items.push(MenuItem {
        label: if active { "Disable" } else { "Enable" },
        danger: active,
        on_select: Callback::new(move |_| on_action.run(Pending::Status(target.clone()))),
    });
    // A break opportunity before each "@" and ".", so a long address wraps between its parts
    // rather than inside one.
    let email = user.email.clone().map(|email| {
        let mut cuts =
            email.match_indices(['@', '.']).map(|(i, _)| i).filter(|i| *i > 0).peekable();
        let first = email[..cuts.peek().copied().unwrap_or(email.len())].to_string();
        let mut rest = Vec::new();
        while let Some(at) = cuts.next() {
            rest.push(email[at..cuts.peek().copied().unwrap_or(email.len())].to_string());
        }
        view! {
            <span class="cell-note">
                {first} {rest.into_iter().map(|part| view! { <wbr /> {part} }).collect_view()}
            </span>
        }
    });
    let token = user.token.clone().map(|t| {
        let href = format!("/settings/auth-tokens?q={}&status=all", encode_component(&t.name));
        view! {
            <span class="cell-note">
                "Token: " <a href=href>{t.name}</a> {if t.revoked { " (Revoked)" } else { " (Active)" }}
            </span>
        }
    });
    // Each cell's caption shows only when the row is a card; screen readers hear the column
    // header instead, so it is hidden from them.
    view! {
        <tr role="row">
            <th scope="row" role="rowheader" class="cell-name">
                {user.name.clone()}
                {email}
                {token}
            </th>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Type"</span>
                <div class="cell-value wrap">{user.kind.label()}</div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Role"</span>
                <div class="cell-value">{user.role.map(|r| r.label()).unwrap_or("—")}</div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Status"</span>
                <div class="cell-value">
                    <span class="badge" class:active=active class:revoked=!active>
                        {user.status.label()}
                    </span>
                </div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Created"</span>
                <div class="cell-value">
                    <span title=format_utc(user.created_at)>{format_date(user.created_at)}</span>
                </div>
            </td>
            <td role="cell" class="cell-actions">
                <ActionsMenu label=format!("Actions for {}", user.name) items />
            </td>
        </tr>
    }
}

#[component]
fn AddUserDialog(on_close: Callback<()>, on_added: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Member);
    let submission = Submission::new();
    let pending = submission.pending;
    // The initial password lives only here, and only while the dialog is open.
    let created = RwSignal::new(None::<(UserRow, String)>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let call = add_user(name.get_untracked(), email.get_untracked(), role.get_untracked());
        submission.run(call, move |new| {
            created.set(Some((new.user, new.initial_password)));
            on_added.run(());
        });
    };
    let close = Callback::new(move |_: ()| {
        created.set(None);
        on_close.run(());
    });
    let field_error = move |field: &'static str| move || submission.field_error(field);
    let other = move || submission.other_error();

    view! {
        <Modal title="Add user" on_close=close>
            {move || match created.with(|c| c.as_ref().map(|(u, _)| u.clone())) {
                Some(user) => {
                    let secret = Signal::derive(move || created.with(|c| c.as_ref().map(|(_, p)| p.clone()).unwrap_or_default()));
                    view! {
                        <p class="success">
                            {format!("{} was added as {}.", user.name, user.role.map(|r| r.label()).unwrap_or("—"))}
                        </p>
                        <RevealOnce
                            label="Initial password"
                            value=secret
                            warning="Give it to them over a trusted channel; they must choose their own password when they first sign in."
                            on_done=close
                        />
                    }
                        .into_any()
                }
                None => {
                    view! {
                        <form class="form" on:submit=submit novalidate>
                            <div class="field">
                                <label for="user-name" class="field-label">
                                    "Name"
                                </label>
                                <input
                                    id="user-name"
                                    class="input"
                                    type="text"
                                    autocomplete="off"
                                    data-autofocus
                                    aria-invalid=move || field_error("name")().is_some().to_string()
                                    aria-describedby="user-name-error"
                                    prop:value=move || name.get()
                                    on:input=move |ev| name.set(event_target_value(&ev))
                                />
                                <p id="user-name-error" class="field-error">
                                    {field_error("name")}
                                </p>
                            </div>
                            <div class="field">
                                <label for="user-email" class="field-label">
                                    "Email"
                                </label>
                                <input
                                    id="user-email"
                                    class="input"
                                    type="email"
                                    autocomplete="off"
                                    aria-invalid=move || field_error("email")().is_some().to_string()
                                    aria-describedby="user-email-error"
                                    prop:value=move || email.get()
                                    on:input=move |ev| email.set(event_target_value(&ev))
                                />
                                <p id="user-email-error" class="field-error">
                                    {field_error("email")}
                                </p>
                            </div>
                            <RoleSelect id="user-role" role />
                            {move || other().map(|error| view! { <ErrorBanner error /> })}
                            <div class="modal-actions">
                                <button type="button" class="button secondary" on:click=move |_| close.run(())>
                                    "Cancel"
                                </button>
                                <button type="submit" class="button" disabled=move || pending.get()>
                                    "Add user"
                                </button>
                            </div>
                        </form>
                    }
                        .into_any()
                }
            }}
        </Modal>
    }
}

#[component]
fn RoleSelect(id: &'static str, role: RwSignal<Role>) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id class="field-label">
                "Role"
            </label>
            <select
                id=id
                class="input"
                on:change=move |ev| role.set(Role::parse(&event_target_value(&ev)).unwrap_or(Role::Member))
            >
                {Role::ALL
                    .into_iter()
                    .map(|r| view! { <option value=r.as_str() selected=move || role.get() == r>{r.label()}</option> })
                    .collect_view()}
            </select>
            <p class="hint">
                {move || match role.get() {
                    Role::Admin => "Admins manage organization settings: users and auth tokens.",
                    Role::Member => "Members use the product and its API, but not organization settings.",
                    Role::ReadOnly => "Read-only users can look, not change or upload.",
                }}
            </p>
        </div>
    }
}

/// Runs one change against the server; on success refreshes the table and closes.
fn run_change(
    submission: Submission,
    on_done: Callback<()>,
    on_close: Callback<()>,
    change: impl std::future::Future<Output = Result<UserRow, AppError>> + 'static,
) {
    submission.run(change, move |_| {
        on_done.run(());
        on_close.run(());
    });
}

#[component]
fn RoleDialog(user: UserRow, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let role = RwSignal::new(user.role.unwrap_or(Role::Member));
    let submission = Submission::new();
    let pending = submission.pending;
    let id = user.id;
    view! {
        <Modal title="Change role" described_by="role-description" on_close>
            <p id="role-description">
                {format!(
                    "Choose the role of {}. It applies at once: to their next page, and to the next request of every API/CLI token they generated.",
                    user.name,
                )}
            </p>
            <RoleSelect id="change-role" role />
            {move || submission.error.get().map(|error| view! { <ErrorBanner error /> })}
            <div class="modal-actions">
                <button type="button" class="button secondary" on:click=move |_| on_close.run(())>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class="button"
                    disabled=move || pending.get()
                    on:click=move |_| run_change(submission, on_done, on_close, set_user_role(id, role.get_untracked()))
                >
                    "Change role"
                </button>
            </div>
        </Modal>
    }
}

#[component]
fn StatusDialog(user: UserRow, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let disabling = user.status == UserStatus::Active;
    let service = user.kind == UserKind::Forwarder;
    let submission = Submission::new();
    let pending = submission.pending;
    let id = user.id;
    let (title, action) = match (disabling, service) {
        (true, false) => ("Disable user", "Disable"),
        (true, true) => ("Disable service account", "Disable"),
        (false, false) => ("Enable user", "Enable"),
        (false, true) => ("Enable service account", "Enable"),
    };
    let explanation = match (disabling, service) {
        (true, false) => format!(
            "Disabling {} signs them out everywhere and stops every API/CLI token they generated, immediately. Enabling them later restores the tokens that were not revoked.",
            user.name
        ),
        (true, true) => format!(
            "Disabling {} stops its File Forwarder token immediately. Enabling it later restores the token unless it was revoked.",
            user.name
        ),
        (false, false) => format!(
            "Enabling {} lets them sign in again, and their API/CLI tokens that were not revoked work again.",
            user.name
        ),
        (false, true) => format!("Enabling {} makes its File Forwarder token work again, unless it was revoked.", user.name),
    };
    view! {
        <Modal title=title alert=true described_by="status-description" on_close>
            <p id="status-description">{explanation}</p>
            {move || submission.error.get().map(|error| view! { <ErrorBanner error /> })}
            <div class="modal-actions">
                <button type="button" class="button secondary" data-autofocus on:click=move |_| on_close.run(())>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class=if disabling { "button danger" } else { "button" }
                    disabled=move || pending.get()
                    on:click=move |_| run_change(submission, on_done, on_close, set_user_status(id, !disabling))
                >
                    {action}
                </button>
            </div>
        </Modal>
    }
}

/// A new initial password for someone who forgot theirs or let the first one expire.
#[component]
fn ResetPasswordDialog(
    user: UserRow,
    on_close: Callback<()>,
    on_done: Callback<()>,
) -> impl IntoView {
    let submission = Submission::new();
    let pending = submission.pending;
    // The new password lives only here, and only while the dialog is open.
    let password = RwSignal::new(None::<String>);
    let id = user.id;
    let reset = move |_| {
        submission.run(reset_password(id), move |new| {
            password.set(Some(new.initial_password));
            on_done.run(());
        });
    };
    let close = Callback::new(move |_: ()| {
        password.set(None);
        on_close.run(());
    });
    let name = user.name.clone();
    view! {
        <Modal title="Reset password" alert=true described_by="reset-description" on_close=close>
            {move || match password.get().is_some() {
                true => {
                    let secret = Signal::derive(move || password.get().unwrap_or_default());
                    view! {
                        <RevealOnce
                            label="Initial password"
                            value=secret
                            warning="Give it to them over a trusted channel; they must choose their own password when they next sign in."
                            on_done=close
                        />
                    }
                        .into_any()
                }
                false => {
                    view! {
                        <p id="reset-description">
                            {format!(
                                "{name} gets a new initial password, shown to you once. Their current password stops working and they are signed out everywhere; their API/CLI tokens keep working.",
                            )}
                        </p>
                        {move || submission.error.get().map(|error| view! { <ErrorBanner error /> })}
                        <div class="modal-actions">
                            <button type="button" class="button secondary" data-autofocus on:click=move |_| close.run(())>
                                "Cancel"
                            </button>
                            <button type="button" class="button" disabled=move || pending.get() on:click=reset>
                                "Reset password"
                            </button>
                        </div>
                    }
                        .into_any()
                }
            }}
        </Modal>
    }
}
