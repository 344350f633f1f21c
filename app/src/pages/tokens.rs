//! The Auth tokens tab: filter and page through tokens, generate (reveal once), revoke.
//! The filter lives in the URL (`?q=&type=&status=&page=`); filtering runs on the server.

use leptos::prelude::*;
use leptos_router::{
    hooks::{use_location, use_navigate, use_query_map},
    params::ParamsMap,
    NavigateOptions,
};

use super::{encode_component, settings::shows_organization, ErrorBanner};
use crate::{
    api::tokens::{generate_token, list_tokens, revoke_token},
    components::{
        dialog::Modal,
        filter::FilterInput,
        menu::{ActionsMenu, MenuItem},
        pager::Pager,
        reveal_once::RevealOnce,
        submission::Submission,
    },
    error::AppError,
    model::{
        format_date, format_relative, format_utc, TokenKind, TokenPage, TokenQuery, TokenRow,
        TokenStatusFilter, Viewer,
    },
};

/// The URL's query string for a view of the table (defaults are left out).
pub fn search_for(q: &TokenQuery) -> String {
    let mut parts = Vec::new();
    if !q.q.is_empty() {
        parts.push(format!("q={}", encode_component(&q.q)));
    }
    if let Some(kind) = q.kind {
        parts.push(format!("type={}", kind.as_str()));
    }
    if q.status != TokenStatusFilter::Active {
        parts.push(format!("status={}", q.status.as_str()));
    }
    if q.page > 1 {
        parts.push(format!("page={}", q.page));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The view of the table that the URL's query parameters ask for, the inverse of
/// `search_for`. Anything unknown or malformed falls back to its default.
pub fn query_from_params(m: &ParamsMap) -> TokenQuery {
    TokenQuery {
        q: m.get("q").unwrap_or_default(),
        kind: m.get("type").and_then(|s| TokenKind::parse(&s)),
        status: m.get("status").and_then(|s| TokenStatusFilter::parse(&s)).unwrap_or_default(),
        page: m.get("page").and_then(|s| s.parse().ok()).filter(|p| *p >= 1).unwrap_or(1),
    }
}

/// The tab's view of the table and its list. Made by `SettingsPage`, outside its Suspense (see
/// `TabData`); `None` when the viewer is not shown the tab, which then asks for nothing.
#[derive(Clone, Copy)]
pub struct TokensData {
    query: Memo<TokenQuery>,
    refresh: RwSignal<u32>,
    tokens: Resource<Option<Result<TokenPage, AppError>>>,
}

impl TokensData {
    pub fn new(viewer: Resource<Result<Viewer, AppError>>) -> TokensData {
        let params = use_query_map();
        let query = Memo::new(move |_| params.with(query_from_params));
        let refresh = RwSignal::new(0u32);
        let tokens = Resource::new(
            move || (query.get(), refresh.get()),
            move |(q, _)| async move {
                if shows_organization(&viewer.await) {
                    Some(list_tokens(q).await)
                } else {
                    None
                }
            },
        );
        TokensData { query, refresh, tokens }
    }
}

#[component]
pub fn TokensTab(data: TokensData) -> impl IntoView {
    let TokensData { query, refresh, tokens } = data;

    let location = use_location();
    let navigate = use_navigate();
    let go = move |next: TokenQuery, replace: bool| {
        let url = format!("{}{}", location.pathname.get_untracked(), search_for(&next));
        navigate(&url, NavigateOptions { replace, scroll: false, ..Default::default() });
    };
    let go = StoredValue::new(go);
    let set_page = Callback::new(move |page: u32| {
        go.with_value(|go| go(TokenQuery { page, ..query.get_untracked() }, false))
    });

    let on_filter = Callback::new(move |q: String| {
        if let Some(current) = query.try_get_untracked() {
            go.try_with_value(|go| go(TokenQuery { q, page: 1, ..current }, true));
        }
    });

    let generating = RwSignal::new(false);
    let revoking = RwSignal::new(None::<TokenRow>);
    let clear_filters =
        Callback::new(move |_: ()| go.with_value(|go| go(TokenQuery::default(), false)));
    let open_generate = Callback::new(move |_: ()| generating.set(true));

    view! {
        <div class="tab-header">
            <div>
                <h1 id="page-heading" tabindex="-1">
                    "Auth tokens"
                </h1>
                <p class="muted">
                    "Tokens let scripts, the CLI and File Forwarder deployments call Tokenwell. They never expire: revoke the ones you no longer use."
                </p>
            </div>
            <button type="button" class="button" on:click=move |_| generating.set(true)>
                "Generate Token"
            </button>
        </div>

        <div class="filters" role="search">
            <FilterInput
                id="filter-tokens"
                label="Filter tokens"
                placeholder="Search by name"
                value=Signal::derive(move || query.get().q)
                on_commit=on_filter
            />
            <div class="field">
                <label for="filter-type" class="field-label">
                    "Type"
                </label>
                <select
                    id="filter-type"
                    class="input"
                    on:change=move |ev| {
                        let kind = TokenKind::parse(&event_target_value(&ev));
                        go.with_value(|go| go(TokenQuery { kind, page: 1, ..query.get_untracked() }, false));
                    }
                >
                    <option value="" selected=move || query.get().kind.is_none()>
                        "All types"
                    </option>
                    {TokenKind::ALL
                        .into_iter()
                        .map(|k| {
                            view! {
                                <option value=k.as_str() selected=move || query.get().kind == Some(k)>
                                    {k.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-status" class="field-label">
                    "Status"
                </label>
                <select
                    id="filter-status"
                    class="input"
                    on:change=move |ev| {
                        let status = TokenStatusFilter::parse(&event_target_value(&ev)).unwrap_or_default();
                        go.with_value(|go| go(TokenQuery { status, page: 1, ..query.get_untracked() }, false));
                    }
                >
                    {TokenStatusFilter::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <option value=s.as_str() selected=move || query.get().status == s>
                                    {s.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
        </div>

        <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    None => ().into_any(),
                    Some(Ok(page)) => {
                        view! {
                            <TokenTable
                                page
                                query=query.get_untracked()
                                on_revoke=Callback::new(move |row| revoking.set(Some(row)))
                                on_page=set_page
                                on_clear=clear_filters
                                on_generate=open_generate
                            />
                        }
                            .into_any()
                    }
                    Some(Err(error)) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>

        <Show when=move || generating.get()>
            <GenerateDialog
                on_close=Callback::new(move |_| generating.set(false))
                on_generated=Callback::new(move |_| refresh.update(|n| *n += 1))
            />
        </Show>
        {move || {
            revoking
                .get()
                .map(|token| {
                    view! {
                        <RevokeDialog
                            token
                            on_close=Callback::new(move |_| revoking.set(None))
                            on_revoked=Callback::new(move |_| refresh.update(|n| *n += 1))
                        />
                    }
                })
        }}
    }
}

#[component]
fn TokenTable(
    page: TokenPage,
    query: TokenQuery,
    on_revoke: Callback<TokenRow>,
    on_page: Callback<u32>,
    on_clear: Callback<()>,
    on_generate: Callback<()>,
) -> impl IntoView {
    if page.total == 0 {
        let unfiltered =
            query.q.is_empty() && query.kind.is_none() && query.status == TokenStatusFilter::Active;
        return if unfiltered {
            view! {
                <div class="empty-state">
                    <h2>"No active tokens yet"</h2>
                    <p>
                        "Generate a token for each script, integration or File Forwarder deployment, and give it a name that says what it is for."
                    </p>
                    <button type="button" class="button" on:click=move |_| on_generate.run(())>
                        "Generate your first token"
                    </button>
                </div>
            }
                .into_any()
        } else {
            view! {
                <div class="empty-state">
                    <h2>"No tokens match these filters"</h2>
                    <p>"Try another name, or clear the filters to see every active token."</p>
                    <button type="button" class="button secondary" on:click=move |_| on_clear.run(())>
                        "Clear filters"
                    </button>
                </div>
            }
                .into_any()
        };
    }
    let now = page.now;
    let shown = page.rows.len();
    // Six columns, each holding what belongs together (the type with the token's hint, the
    // date with its creator, the last use with its address), fit a 1024 px window. Where the
    // table is narrower than it needs, CSS stacks each row into a card (see `.table-wrap`);
    // the explicit roles keep it a table for screen readers that drop the semantics of a
    // table whose display changed.
    view! {
        <div class="table-wrap">
            <table class="table" role="table">
                <thead role="rowgroup">
                    <tr role="row">
                        <th scope="col" role="columnheader">"Name"</th>
                        <th scope="col" role="columnheader">"Type"</th>
                        <th scope="col" role="columnheader">"Created"</th>
                        <th scope="col" role="columnheader">"Last used"</th>
                        <th scope="col" role="columnheader">"Status"</th>
                        <th scope="col" role="columnheader">"Actions"</th>
                    </tr>
                </thead>
                <tbody role="rowgroup">
                    {page
                        .rows
                        .into_iter()
                        .map(|row| view! { <TokenRowView row now on_revoke /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <Pager page=page.page per_page=page.per_page total=page.total shown on_page />
    }
    .into_any()
}

#[component]
fn TokenRowView(row: TokenRow, now: i64, on_revoke: Callback<TokenRow>) -> impl IntoView {
    let masked = row.masked();
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
    let status = match (row.revoked_at, row.revoked_by.clone()) {
        (Some(at), by) => view! {
            <span class="badge revoked">"Revoked"</span>
            <span class="cell-note">{format!("by {}", by.unwrap_or_else(|| "an admin".into()))}</span>
            <span class="cell-note">{format!("on {}", format_utc(at))}</span>
        }
        .into_any(),
        (None, _) => view! { <span class="badge active">"Active"</span> }.into_any(),
    };
    let actions = if row.is_revoked() {
        view! { <span class="muted" aria-label="No actions">"—"</span> }.into_any()
    } else {
        let target = row.clone();
        view! {
            <ActionsMenu
                label=format!("Actions for {}", row.name)
                items=vec![MenuItem { label: "Revoke", danger: true, on_select: Callback::new(move |_| on_revoke.run(target.clone())) }]
            />
        }
        .into_any()
    };
    // Each cell's caption shows only when the row is a card; screen readers hear the column
    // header instead, so it is hidden from them.
    view! {
        <tr role="row" class:revoked=row.is_revoked()>
            <th scope="row" role="rowheader" class="cell-name">
                {row.name.clone()}
            </th>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Type"</span>
                <div class="cell-value wrap">
                    {row.kind.label()}
                    <code class="cell-note hint-code">{masked}</code>
                </div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Created"</span>
                <div class="cell-value">
                    <span title=format_utc(row.created_at)>{format_date(row.created_at)}</span>
                    <span class="cell-note">{format!("by {}", row.created_by)}</span>
                </div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Last used"</span>
                <div class="cell-value">{last_used}</div>
            </td>
            <td role="cell">
                <span class="cell-label" aria-hidden="true">"Status"</span>
                <div class="cell-value">{status}</div>
            </td>
            <td role="cell" class="cell-actions">{actions}</td>
        </tr>
    }
}

#[component]
fn GenerateDialog(on_close: Callback<()>, on_generated: Callback<()>) -> impl IntoView {
    let kind = RwSignal::new(TokenKind::Api);
    let name = RwSignal::new(String::new());
    let submission = Submission::new();
    let pending = submission.pending;
    // The secret lives only here, and only while the dialog is open.
    let generated = RwSignal::new(None::<(TokenRow, String)>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submission.run(generate_token(kind.get_untracked(), name.get_untracked()), move |g| {
            generated.set(Some((g.token, g.secret)));
            on_generated.run(());
        });
    };
    let close = Callback::new(move |_: ()| {
        generated.set(None);
        on_close.run(());
    });
    let name_error = move || submission.field_error("name");
    let other_error = move || submission.other_error();

    view! {
        <Modal title="Generate Token" on_close=close>
            {move || match generated.with(|g| g.as_ref().map(|(t, _)| t.clone())) {
                Some(token) => {
                    let secret = Signal::derive(move || generated.with(|g| g.as_ref().map(|(_, s)| s.clone()).unwrap_or_default()));
                    view! {
                        <p class="success">
                            {format!("Your {} \u{201c}{}\u{201d} is ready.", token.kind.label(), token.name)}
                        </p>
                        <RevealOnce
                            label="Token value"
                            value=secret
                            warning="Store it in your secrets manager or the integration's configuration."
                            on_done=close
                        />
                    }
                        .into_any()
                }
                None => {
                    view! {
                        <form class="form" on:submit=submit novalidate>
                            <div class="field">
                                <label for="token-type" class="field-label">
                                    "Token type"
                                </label>
                                <select
                                    id="token-type"
                                    class="input"
                                    on:change=move |ev| {
                                        kind.set(TokenKind::parse(&event_target_value(&ev)).unwrap_or(TokenKind::Api))
                                    }
                                >
                                    {TokenKind::ALL
                                        .into_iter()
                                        .map(|k| {
                                            view! {
                                                <option value=k.as_str() selected=move || kind.get() == k>
                                                    {k.label()}
                                                </option>
                                            }
                                        })
                                        .collect_view()}
                                </select>
                                <p class="hint">
                                    {move || match kind.get() {
                                        TokenKind::Api => "For API requests and the Tokenwell CLI. Acts with your permissions.",
                                        TokenKind::Forwarder => "For a File Forwarder deployment. Acts as a new Forwarder Service Account that may only ingest files.",
                                    }}
                                </p>
                            </div>
                            <div class="field">
                                <label for="token-name" class="field-label">
                                    "Name"
                                </label>
                                <input
                                    id="token-name"
                                    class="input"
                                    type="text"
                                    maxlength="200"
                                    autocomplete="off"
                                    data-autofocus
                                    aria-invalid=move || name_error().is_some().to_string()
                                    aria-describedby="token-name-tip token-name-error"
                                    prop:value=move || name.get()
                                    on:input=move |ev| name.set(event_target_value(&ev))
                                />
                                <p id="token-name-tip" class="hint">
                                    "Use a name that says what the token is for, e.g. Tines-integration-prod or forwarder-dc-east. It makes tokens easier to audit and revoke later."
                                </p>
                                <p id="token-name-error" class="field-error">
                                    {name_error}
                                </p>
                            </div>
                            {move || other_error().map(|error| view! { <ErrorBanner error /> })}
                            <div class="modal-actions">
                                <button type="button" class="button secondary" on:click=move |_| close.run(())>
                                    "Cancel"
                                </button>
                                <button type="submit" class="button" disabled=move || pending.get()>
                                    {move || if pending.get() { "Generating…" } else { "Generate" }}
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
fn RevokeDialog(
    token: TokenRow,
    on_close: Callback<()>,
    on_revoked: Callback<()>,
) -> impl IntoView {
    let submission = Submission::new();
    let pending = submission.pending;
    let id = token.id;
    let confirm = move |_| {
        submission.run(revoke_token(id), move |_| {
            on_revoked.run(());
            on_close.run(());
        })
    };
    let account = format!("Forwarder: {}", token.name);
    let users_link = format!("/settings/users?q={}", encode_component(&account));
    view! {
        <Modal title="Revoke token" alert=true described_by="revoke-description" on_close>
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
            {move || submission.error.get().map(|error| view! { <ErrorBanner error /> })}
            <div class="modal-actions">
                <button type="button" class="button secondary" data-autofocus on:click=move |_| on_close.run(())>
                    "Cancel"
                </button>
                <button type="button" class="button danger" disabled=move || pending.get() on:click=confirm>
                    {move || if pending.get() { "Revoking…" } else { "Revoke token" }}
                </button>
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_leaves_defaults_out_and_encodes_the_filter() {
        assert_eq!(search_for(&TokenQuery { page: 1, ..Default::default() }), "");
        let q = TokenQuery {
            q: "dc east".into(),
            kind: Some(TokenKind::Forwarder),
            status: TokenStatusFilter::All,
            page: 3,
        };
        assert_eq!(search_for(&q), "?q=dc%20east&type=forwarder&status=all&page=3");
    }

    #[test]
    fn the_view_survives_the_url() {
        let read = |search: &str| {
            let url =
                leptos_router::location::RequestUrl::new(&format!("/settings/auth-tokens{search}"))
                    .parse()
                    .unwrap();
            query_from_params(url.search_params())
        };
        // Found by fuzzing: `%25` in a filter came back as `%`.
        let q = TokenQuery {
            q: "%25.ype".into(),
            kind: None,
            status: TokenStatusFilter::Active,
            page: 2_019_648_896,
        };
        assert_eq!(read(&search_for(&q)), q);
        let q = TokenQuery {
            q: " 50% off ".into(),
            kind: Some(TokenKind::Api),
            status: TokenStatusFilter::Unused,
            page: 1,
        };
        assert_eq!(read(&search_for(&q)), q);
        assert_eq!(read("?type=nope&status=&page=0"), TokenQuery { page: 1, ..Default::default() });
    }
}
