//! The Users tab: the organization's people and Forwarder Service Accounts.

use leptos::prelude::*;
use leptos_router::params::ParamsMap;

use super::settings::{shows_organization, use_current_user, ForViewer, TabHeader};
use crate::{
    api::users::{list_users, AddUser, ResetPassword, ResetTwoFactor, SetUserRole, SetUserStatus},
    components::{
        action::field_error,
        choice::EnumSelect,
        dialog::ConfirmDialog,
        field::TextField,
        filter::FilterInput,
        list::{ListData, ListView},
        menu::{ActionsMenu, MenuItem},
        pager::Pager,
        reveal_once::CreateRevealDialog,
        table::{Cell, DataTable, EmptyState},
        url_query::{page_param, search_for, UrlQuery},
    },
    model::{
        format_date, format_utc, Choice, Role, TokenQuery, TokenStatusFilter, UserKind, UserPage,
        UserQuery, UserRow, UserStatus,
    },
    routes::SettingsTab,
};

impl UrlQuery for UserQuery {
    fn from_params(m: &ParamsMap) -> UserQuery {
        UserQuery { q: m.get("q").unwrap_or_default(), page: page_param(m) }
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if !self.q.is_empty() {
            params.push(("q", self.q.clone()));
        }
        if self.page > 1 {
            params.push(("page", self.page.to_string()));
        }
        params
    }

    fn on_page(self, page: u32) -> UserQuery {
        UserQuery { page, ..self }
    }
}

/// What the admin is about to do to a user.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Role(UserRow),
    Status(UserRow),
    ResetPassword(UserRow),
    ResetTwoFactor(UserRow),
}

/// The tab's changes, each a `ServerAction` the list refreshes after.
#[derive(Clone, Copy)]
struct UserActions {
    add: ServerAction<AddUser>,
    role: ServerAction<SetUserRole>,
    status: ServerAction<SetUserStatus>,
    reset: ServerAction<ResetPassword>,
    reset_two_factor: ServerAction<ResetTwoFactor>,
}

/// The route view: the tab's list and actions, made here, outside any Suspense (see
/// `ListData::new`).
#[component]
pub fn UsersTab() -> impl IntoView {
    let actions = UserActions {
        add: ServerAction::new(),
        role: ServerAction::new(),
        status: ServerAction::new(),
        reset: ServerAction::new(),
        reset_two_factor: ServerAction::new(),
    };
    let data = ListData::new(
        use_current_user(),
        shows_organization,
        move || {
            actions.add.version().get()
                + actions.role.version().get()
                + actions.status.version().get()
                + actions.reset.version().get()
                + actions.reset_two_factor.version().get()
        },
        |q: UserQuery| list_users(q.q, q.page),
    );
    view! {
        <ForViewer shown=shows_organization>
            <UsersPanel data actions />
        </ForViewer>
    }
}

#[component]
fn UsersPanel(data: ListData<UserQuery, UserRow>, actions: UserActions) -> impl IntoView {
    let ListData { url, list } = data;
    let adding = RwSignal::new(false);
    let acting = RwSignal::new(None::<Pending>);
    let on_action = Callback::new(move |p: Pending| acting.set(Some(p)));
    let on_page = Callback::new(move |page: u32| url.to_page(page));
    let on_filter = Callback::new(move |q: String| url.refine(|v| v.q = q, true));

    view! {
        <TabHeader
            heading="Users"
            text="People who can sign in, and the Forwarder Service Accounts that File Forwarder tokens act as."
            action="Add user"
            on_action=Callback::new(move |_| adding.set(true))
        />
        <div class="filters" role="search">
            <FilterInput
                id="filter-users"
                label="Filter users"
                placeholder="Search by name or email"
                value=Signal::derive(move || url.query.get().q)
                on_commit=on_filter
            />
        </div>
        <ListView list loading="Loading users…" rows=move |data| view! { <UserTable data on_page on_action /> } />
        <Show when=move || adding.get()>
            <AddUserDialog action=actions.add on_close=Callback::new(move |_| adding.set(false)) />
        </Show>
        {move || {
            acting
                .get()
                .map(|pending| {
                    let on_close = Callback::new(move |_| acting.set(None));
                    match pending {
                        Pending::Role(user) => view! { <RoleDialog user action=actions.role on_close /> }.into_any(),
                        Pending::Status(user) => {
                            view! { <StatusDialog user action=actions.status on_close /> }.into_any()
                        }
                        Pending::ResetPassword(user) => {
                            view! { <ResetPasswordDialog user action=actions.reset on_close /> }.into_any()
                        }
                        Pending::ResetTwoFactor(user) => {
                            view! { <ResetTwoFactorDialog user action=actions.reset_two_factor on_close /> }.into_any()
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
        return view! { <EmptyState heading="No users match this filter" text="Try part of a name or an email address." /> }
            .into_any();
    }
    let page = data.page;
    let shown = data.rows.len();
    view! {
        <DataTable headers=&["Name", "Email", "Type", "Role", "Two-factor", "Status", "Created", "Actions"]>
            {data.rows.into_iter().map(|u| view! { <UserRowView user=u on_action /> }).collect_view()}
        </DataTable>
        <Pager page per_page=data.per_page total=data.total shown on_page />
    }
    .into_any()
}

#[component]
fn UserRowView(user: UserRow, on_action: Callback<Pending>) -> impl IntoView {
    let (kind, status) = (user.kind.label(), user.status.label());
    let role = user.role.map(|r| r.label()).unwrap_or("—");
    let (created, created_exact) = (format_date(user.created_at), format_utc(user.created_at));
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
        if user.two_factor {
            let target = user.clone();
            items.push(MenuItem {
                label: "Reset two-factor",
                danger: false,
                on_select: Callback::new(move |_| {
                    on_action.run(Pending::ResetTwoFactor(target.clone()))
                }),
            });
        }
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
        view! { {first} {rest.into_iter().map(|part| view! { <wbr /> {part} }).collect_view()} }
    });
    let token = user.token.clone().map(|t| {
        let filter = TokenQuery { q: t.name.clone(), status: TokenStatusFilter::All, ..Default::default() };
        let href = format!("{}{}", SettingsTab::Tokens.path(), search_for(&filter));
        view! {
            <span class="cell-note">
                "Token: " <a href=href>{t.name}</a> {if t.revoked { " (Revoked)" } else { " (Active)" }}
            </span>
        }
    });
    view! {
        <tr role="row">
            <th scope="row" role="rowheader" class="cell-name">
                {user.name.clone()}
                {token}
            </th>
            <Cell label="Email" wrap=true>
                {email}
            </Cell>
            <Cell label="Type" wrap=true>
                {kind}
            </Cell>
            <Cell label="Role">{role}</Cell>
            <Cell label="Two-factor">
                {match user.kind {
                    // A service account never signs in: nothing to secure with a second factor.
                    UserKind::Forwarder => "—",
                    UserKind::User if user.two_factor => "On",
                    UserKind::User => "Off",
                }}
            </Cell>
            <Cell label="Status">
                <span class="badge" class:active=active class:revoked=!active>
                    {status}
                </span>
            </Cell>
            <Cell label="Created">
                <span title=created_exact>{created}</span>
            </Cell>
            <td role="cell" class="cell-actions">
                <ActionsMenu label=format!("Actions for {}", user.name) items />
            </td>
        </tr>
    }
}

#[component]
fn AddUserDialog(action: ServerAction<AddUser>, on_close: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Member);
    view! {
        <CreateRevealDialog
            title="Add user"
            action
            input=Callback::new(move |_| AddUser {
                name: name.get_untracked(),
                email: email.get_untracked(),
                role: role.get_untracked(),
            })
            reveal=|added| {
                let role = added.user.role.map(|r| r.label()).unwrap_or("—");
                (format!("{} was added as {role}.", added.user.name), added.initial_password.clone())
            }
            secret_label="Initial password"
            warning="Give it to them over a trusted channel; they must choose their own password when they first sign in."
            submit="Add user"
            pending="Adding…"
            on_close
        >
            <TextField id="user-name" label="Name" value=name autocomplete="off" autofocus=true error=field_error(action, "name") />
            <TextField
                id="user-email"
                label="Email"
                kind="email"
                value=email
                autocomplete="off"
                error=field_error(action, "email")
            />
            <RoleSelect id="user-role" role />
        </CreateRevealDialog>
    }
}

/// What the role select says about each role.
fn describe_role(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admins manage organization settings: users and auth tokens.",
        Role::Member => "Members use the product and its API, but not organization settings.",
        Role::ReadOnly => "Read-only users can look, not change or upload.",
    }
}

#[component]
fn RoleSelect(id: &'static str, role: RwSignal<Role>) -> impl IntoView {
    view! {
        <EnumSelect
            id
            label="Role"
            selected=Signal::derive(move || Some(role.get()))
            on_change=Callback::new(move |r: Option<Role>| role.set(r.unwrap_or(Role::Member)))
            describe=describe_role
        />
    }
}

#[component]
fn RoleDialog(
    user: UserRow,
    action: ServerAction<SetUserRole>,
    on_close: Callback<()>,
) -> impl IntoView {
    let role = RwSignal::new(user.role.unwrap_or(Role::Member));
    let id = user.id;
    view! {
        <ConfirmDialog
            title="Change role"
            described_by="role-description"
            action
            input=Callback::new(move |_| SetUserRole { id, role: role.get_untracked() })
            confirm="Change role"
            pending="Changing…"
            on_close
        >
            <p id="role-description">
                {format!(
                    "Choose the role of {}. It applies at once: to their next page, and to the next request of every API/CLI token they generated.",
                    user.name,
                )}
            </p>
            <RoleSelect id="change-role" role />
        </ConfirmDialog>
    }
}

#[component]
fn StatusDialog(
    user: UserRow,
    action: ServerAction<SetUserStatus>,
    on_close: Callback<()>,
) -> impl IntoView {
    let disabling = user.status == UserStatus::Active;
    let service = user.kind == UserKind::Forwarder;
    let id = user.id;
    let (title, confirm) = match (disabling, service) {
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
        <ConfirmDialog
            title
            alert=true
            described_by="status-description"
            action
            input=Callback::new(move |_| SetUserStatus { id, active: !disabling })
            confirm
            pending=if disabling { "Disabling…" } else { "Enabling…" }
            danger=disabling
            on_close
        >
            <p id="status-description">{explanation}</p>
        </ConfirmDialog>
    }
}

/// Removes the second factors of someone who lost their phone and their recovery codes.
#[component]
fn ResetTwoFactorDialog(
    user: UserRow,
    action: ServerAction<ResetTwoFactor>,
    on_close: Callback<()>,
) -> impl IntoView {
    let id = user.id;
    view! {
        <ConfirmDialog
            title="Reset two-factor authentication"
            alert=true
            described_by="reset-two-factor-description"
            action
            input=Callback::new(move |_| ResetTwoFactor { id })
            confirm="Reset two-factor"
            pending="Resetting…"
            danger=true
            on_close
        >
            <p id="reset-two-factor-description">
                {format!(
                    "{}'s authenticator app, recovery codes and passkeys will be removed, and they will be signed out everywhere. Their password alone will sign them in until they set up two-factor again. Do this only when you are sure it is them asking.",
                    user.name
                )}
            </p>
        </ConfirmDialog>
    }
}

/// A new initial password for someone who forgot theirs or let the first one expire.
#[component]
fn ResetPasswordDialog(
    user: UserRow,
    action: ServerAction<ResetPassword>,
    on_close: Callback<()>,
) -> impl IntoView {
    let id = user.id;
    view! {
        <CreateRevealDialog
            title="Reset password"
            alert=true
            described_by="reset-description"
            action
            input=Callback::new(move |_| ResetPassword { id })
            reveal=|reset| {
                (format!("{} has a new initial password.", reset.user.name), reset.initial_password.clone())
            }
            secret_label="Initial password"
            warning="Give it to them over a trusted channel; they must choose their own password when they next sign in."
            submit="Reset password"
            pending="Resetting…"
            on_close
        >
            <p id="reset-description">
                {format!(
                    "{} gets a new initial password, shown to you once. Their current password stops working and they are signed out everywhere; their API/CLI tokens keep working.",
                    user.name,
                )}
            </p>
        </CreateRevealDialog>
    }
}
