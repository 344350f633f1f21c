//! The Auth tokens tab: filter and page through tokens, generate (reveal once), revoke.
//! The filter lives in the URL (`?q=&type=&status=&page=`); filtering runs on the server.

use leptos::prelude::*;
use leptos_router::params::ParamsMap;

use super::settings::{shows_organization, use_current_user, ForViewer, TabHeader};
use crate::{
    api::tokens::{list_tokens, GenerateToken, RegenerateToken, RevokeToken},
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
        format_date, format_relative, format_utc, Choice, RevokeReason, TokenKind, TokenPage,
        TokenQuery, TokenRow, TokenStatusFilter, UserQuery,
    },
    routes::SettingsTab,
};

impl UrlQuery for TokenQuery {
    fn from_params(m: &ParamsMap) -> TokenQuery {
        TokenQuery {
            q: m.get("q").unwrap_or_default(),
            kind: m.get("type").and_then(|s| TokenKind::parse(&s)),
            status: m.get("status").and_then(|s| TokenStatusFilter::parse(&s)).unwrap_or_default(),
            page: page_param(m),
        }
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if !self.q.is_empty() {
            params.push(("q", self.q.clone()));
        }
        if let Some(kind) = self.kind {
            params.push(("type", kind.as_str().to_string()));
        }
        if self.status != TokenStatusFilter::default() {
            params.push(("status", self.status.as_str().to_string()));
        }
        if self.page > 1 {
            params.push(("page", self.page.to_string()));
        }
        params
    }

    fn on_page(self, page: u32) -> TokenQuery {
        TokenQuery { page, ..self }
    }
}

/// The route view: the tab's list and actions, made here, outside any Suspense (see
/// `ListData::new`).
#[component]
pub fn TokensTab() -> impl IntoView {
    let actions = TokenActions {
        generate: ServerAction::new(),
        regenerate: ServerAction::new(),
        revoke: ServerAction::new(),
    };
    let data = ListData::new(
        use_current_user(),
        shows_organization,
        move || {
            actions.generate.version().get()
                + actions.regenerate.version().get()
                + actions.revoke.version().get()
        },
        list_tokens,
    );
    view! {
        <ForViewer shown=shows_organization>
            <TokensPanel data actions />
        </ForViewer>
    }
}

/// The tab's changes, each a `ServerAction` the list refreshes after.
#[derive(Clone, Copy)]
struct TokenActions {
    generate: ServerAction<GenerateToken>,
    regenerate: ServerAction<RegenerateToken>,
    revoke: ServerAction<RevokeToken>,
}

/// What the admin is about to do to a token.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Regenerate(TokenRow),
    Revoke(TokenRow),
}

#[component]
fn TokensPanel(data: ListData<TokenQuery, TokenRow>, actions: TokenActions) -> impl IntoView {
    let ListData { url, list } = data;
    let query = url.query;
    let generating = RwSignal::new(false);
    let acting = RwSignal::new(None::<Pending>);
    let set_page = Callback::new(move |page: u32| url.to_page(page));
    let on_filter = Callback::new(move |q: String| url.refine(|v| v.q = q, true));
    let clear_filters = Callback::new(move |_: ()| url.go(TokenQuery::default(), false));
    let open_generate = Callback::new(move |_: ()| generating.set(true));

    view! {
        <TabHeader
            heading="Auth tokens"
            text="Tokens let scripts, the CLI and File Forwarder deployments call Tokenwell. They never expire: revoke the ones you no longer use."
            action="Generate Token"
            on_action=open_generate
        />

        <div class="filters" role="search">
            <FilterInput
                id="filter-tokens"
                label="Filter tokens"
                placeholder="Search by name"
                value=Signal::derive(move || query.get().q)
                on_commit=on_filter
            />
            <EnumSelect
                id="filter-type"
                label="Type"
                all="All types"
                selected=Signal::derive(move || query.get().kind)
                on_change=Callback::new(move |kind| url.refine(|v| v.kind = kind, false))
            />
            <EnumSelect
                id="filter-status"
                label="Status"
                selected=Signal::derive(move || Some(query.get().status))
                on_change=Callback::new(move |status: Option<TokenStatusFilter>| {
                    url.refine(|v| v.status = status.unwrap_or_default(), false)
                })
            />
        </div>

        <ListView
            list
            loading="Loading tokens…"
            rows=move |page| {
                view! {
                    <TokenTable
                        page
                        query=query.get_untracked()
                        on_action=Callback::new(move |p| acting.set(Some(p)))
                        on_page=set_page
                        on_clear=clear_filters
                        on_generate=open_generate
                    />
                }
            }
        />

        <Show when=move || generating.get()>
            <GenerateDialog action=actions.generate on_close=Callback::new(move |_| generating.set(false)) />
        </Show>
        {move || {
            acting
                .get()
                .map(|pending| {
                    let on_close = Callback::new(move |_| acting.set(None));
                    match pending {
                        Pending::Regenerate(token) => {
                            view! { <RegenerateDialog token action=actions.regenerate on_close /> }.into_any()
                        }
                        Pending::Revoke(token) => {
                            view! { <RevokeDialog token action=actions.revoke on_close /> }.into_any()
                        }
                    }
                })
        }}
    }
}

#[component]
fn TokenTable(
    page: TokenPage,
    query: TokenQuery,
    on_action: Callback<Pending>,
    on_page: Callback<u32>,
    on_clear: Callback<()>,
    on_generate: Callback<()>,
) -> impl IntoView {
    if page.total == 0 {
        let unfiltered =
            query.q.is_empty() && query.kind.is_none() && query.status == TokenStatusFilter::Active;
        return if unfiltered {
            view! {
                <EmptyState
                    heading="No active tokens yet"
                    text="Generate a token for each script, integration or File Forwarder deployment, and give it a name that says what it is for."
                    action=("Generate your first token", "button", on_generate)
                />
            }
            .into_any()
        } else {
            view! {
                <EmptyState
                    heading="No tokens match these filters"
                    text="Try another name, or clear the filters to see every active token."
                    action=("Clear filters", "button secondary", on_clear)
                />
            }
            .into_any()
        };
    }
    let now = page.now;
    let shown = page.rows.len();
    // The contract's eight columns fit from 1024 px up (below 1280 px the tab navigation moves
    // above the panel to give them its width).
    view! {
        <DataTable headers=&["Name", "Type", "Token", "Created by", "Created", "Last used", "Status", "Actions"]>
            {page.rows.into_iter().map(|row| view! { <TokenRowView row now on_action /> }).collect_view()}
        </DataTable>
        <Pager page=page.page per_page=page.per_page total=page.total shown on_page />
    }
    .into_any()
}

#[component]
fn TokenRowView(row: TokenRow, now: i64, on_action: Callback<Pending>) -> impl IntoView {
    let masked = row.masked();
    let kind = row.kind.label();
    let created_by = row.created_by.clone();
    let (created, created_exact) = (format_date(row.created_at), format_utc(row.created_at));
    let last_used = match row.last_used_at {
        Some(at) => {
            let relative = format_relative(at, now);
            let exact = match &row.last_used_ip {
                Some(ip) => format!("{} from {ip}", format_utc(at)),
                None => format_utc(at),
            };
            // The address is also shown under the time, so it is seen without hovering.
            let address = row.last_used_ip.clone().map(|ip| {
                view! { <span class="cell-note">{format!("from {ip}")}</span> }
            });
            view! {
                <span class="has-tip" tabindex="0" title=exact.clone() aria-label=format!("{relative}, {exact}")>
                    {relative.clone()}
                </span>
                {address}
            }
                .into_any()
        }
        None => view! { <span class="muted">"Never"</span> }.into_any(),
    };
    let status = match row.revoked_at {
        Some(at) => view! {
            <span class="badge revoked">"Revoked"</span>
            <span class="cell-note">{revocation(&row)}</span>
            <span class="cell-note">{format!("on {}", format_utc(at))}</span>
        }
        .into_any(),
        None => view! { <span class="badge active">"Active"</span> }.into_any(),
    };
    let actions = if row.is_revoked() {
        view! { <span class="muted" aria-label="No actions">"—"</span> }.into_any()
    } else {
        let (regenerate, revoke) = (row.clone(), row.clone());
        let items = vec![
            MenuItem {
                label: "Regenerate",
                danger: false,
                on_select: Callback::new(move |_| {
                    on_action.run(Pending::Regenerate(regenerate.clone()))
                }),
            },
            MenuItem {
                label: "Revoke",
                danger: true,
                on_select: Callback::new(move |_| on_action.run(Pending::Revoke(revoke.clone()))),
            },
        ];
        view! { <ActionsMenu label=format!("Actions for {}", row.name) items /> }.into_any()
    };
    view! {
        <tr role="row" class:revoked=row.is_revoked()>
            <th scope="row" role="rowheader" class="cell-name">
                {row.name.clone()}
            </th>
            <Cell label="Type" wrap=true>
                {kind}
            </Cell>
            <Cell label="Token">
                <code class="hint-code">{masked}</code>
            </Cell>
            <Cell label="Created by" wrap=true>
                {created_by}
            </Cell>
            <Cell label="Created">
                <span title=created_exact>{created}</span>
            </Cell>
            <Cell label="Last used">{last_used}</Cell>
            <Cell label="Status">{status}</Cell>
            <td role="cell" class="cell-actions">{actions}</td>
        </tr>
    }
}

/// Why a revoked token stopped working: "by Ada", "Regenerated by Ada", "Reported exposed".
fn revocation(row: &TokenRow) -> String {
    let by = row.revoked_by.as_deref().unwrap_or("an admin");
    match row.revoked_reason {
        Some(RevokeReason::Regenerated) => format!("Regenerated by {by}"),
        Some(RevokeReason::ReportedExposed) => "Reported exposed".to_string(),
        Some(RevokeReason::Revoked) | None => format!("by {by}"),
    }
}

/// What the type select says about each token type.
fn describe_kind(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Api => "For API requests and the Tokenwell CLI. Acts with your permissions.",
        TokenKind::Forwarder => {
            "For a File Forwarder deployment. Acts as a new Forwarder Service Account that may only ingest files."
        }
    }
}

#[component]
fn GenerateDialog(action: ServerAction<GenerateToken>, on_close: Callback<()>) -> impl IntoView {
    let kind = RwSignal::new(TokenKind::Api);
    let name = RwSignal::new(String::new());
    view! {
        <CreateRevealDialog
            title="Generate Token"
            action
            input=Callback::new(move |_| GenerateToken { kind: kind.get_untracked(), name: name.get_untracked() })
            reveal=|g| {
                (
                    format!("Your {} \u{201c}{}\u{201d} is ready.", g.token.kind.label(), g.token.name),
                    g.secret.clone(),
                )
            }
            secret_label="Token value"
            warning="Store it in your secrets manager or the integration's configuration."
            submit="Generate"
            pending="Generating…"
            on_close
        >
            <EnumSelect
                id="token-type"
                label="Token type"
                selected=Signal::derive(move || Some(kind.get()))
                on_change=Callback::new(move |k: Option<TokenKind>| kind.set(k.unwrap_or(TokenKind::Api)))
                describe=describe_kind
            />
            <TextField
                id="token-name"
                label="Name"
                value=name
                maxlength=200
                autocomplete="off"
                autofocus=true
                description="Use a name that says what the token is for, e.g. Tines-integration-prod or forwarder-dc-east. It makes tokens easier to audit and revoke later."
                error=field_error(action, "name")
            />
        </CreateRevealDialog>
    }
}

#[component]
fn RevokeDialog(
    token: TokenRow,
    action: ServerAction<RevokeToken>,
    on_close: Callback<()>,
) -> impl IntoView {
    let id = token.id;
    let account = format!("Forwarder: {}", token.name);
    let users_link = format!(
        "{}{}",
        SettingsTab::Users.path(),
        search_for(&UserQuery { q: account.clone(), page: 1 })
    );
    view! {
        <ConfirmDialog
            title="Revoke token"
            alert=true
            described_by="revoke-description"
            action
            input=Callback::new(move |_| RevokeToken { id })
            confirm="Revoke token"
            pending="Revoking…"
            danger=true
            on_close
        >
            <div id="revoke-description">
                <p>
                    "You are about to revoke the " {token.kind.label()} " " <strong>{format!("\u{201c}{}\u{201d}", token.name)}</strong>
                    " (" <code>{token.masked()}</code> ")."
                </p>
                <p>
                    "Revoking a token is permanent and cannot be undone. Any scripts, automations or integrations that use it will stop working immediately."
                </p>
                {(token.kind == TokenKind::Forwarder)
                    .then(|| {
                        view! {
                            <p class="note">
                                "Its Forwarder Service Account, " <strong>{account.clone()}</strong>
                                ", stays enabled. To fully clean up access, disable the account as well under "
                                <a href=users_link.clone()>"Users"</a> "."
                            </p>
                        }
                    })}
            </div>
        </ConfirmDialog>
    }
}

#[component]
fn RegenerateDialog(
    token: TokenRow,
    action: ServerAction<RegenerateToken>,
    on_close: Callback<()>,
) -> impl IntoView {
    let id = token.id;
    view! {
        <CreateRevealDialog
            title="Regenerate token"
            alert=true
            described_by="regenerate-description"
            action
            input=Callback::new(move |_| RegenerateToken { id })
            reveal=|g| {
                (
                    format!("\u{201c}{}\u{201d} has a new value. The old one no longer works.", g.token.name),
                    g.secret.clone(),
                )
            }
            secret_label="Token value"
            warning="Put it where the old value was: the integration's configuration or your secrets manager."
            submit="Regenerate token"
            pending="Regenerating…"
            on_close
        >
            <div id="regenerate-description">
                <p>
                    "You are about to regenerate the " {token.kind.label()} " " <strong>{format!("\u{201c}{}\u{201d}", token.name)}</strong>
                    " (" <code>{token.masked()}</code> ")."
                </p>
                <p>
                    "Its current value stops working immediately. A new value with the same name and permissions is shown once; anything that uses the token needs the new value."
                </p>
            </div>
        </CreateRevealDialog>
    }
}
