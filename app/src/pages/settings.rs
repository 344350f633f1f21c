//! `/settings`: the signed-in shell (left menu, top bar) and the Organization section with
//! its tabs. Members and read-only users get the admins-only page and no data.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use super::{
    account::ChangePassword,
    tokens::{TokensData, TokensTab},
    users::{UsersData, UsersTab},
    ErrorBanner,
};
use crate::{
    api::auth::{current_user, Logout},
    components::icons::{GearIcon, KeyIcon},
    error::AppError,
    model::Viewer,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Tokens,
    Users,
    /// The signed-in user's own account (any role).
    Account,
}

/// The data of the page's tab.
///
/// Made once per page, here and not inside the Suspense below: on the server, Suspense runs
/// its children more than once (to find the resources they read, then to render), and a
/// resource made in there was made, and fetched, once per run. The extra fetches ran on
/// after their run's reactive owner was gone, where a server function finds neither the
/// application state nor the request; and the browser, which runs the children once, read
/// the first run's data while the HTML showed the last one's.
#[derive(Clone, Copy)]
enum TabData {
    Tokens(TokensData),
    Users(UsersData),
    None,
}

/// Whether the page shows the Organization section (and so fetches its tab's list): the
/// same rule as `Shell`'s.
pub(crate) fn shows_organization(viewer: &Result<Viewer, AppError>) -> bool {
    matches!(viewer, Ok(v) if v.is_admin() && !v.must_change_password)
}

#[component]
pub fn SettingsPage(tab: Tab) -> impl IntoView {
    let viewer = Resource::new_blocking(|| (), |_| current_user());
    let data = match tab {
        Tab::Tokens => TabData::Tokens(TokensData::new(viewer)),
        Tab::Users => TabData::Users(UsersData::new(viewer)),
        Tab::Account => TabData::None,
    };
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(viewer) => view! { <Shell viewer tab data /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login" /> }.into_any(),
                    Err(error) => {
                        view! {
                            <main class="center-page">
                                <ErrorBanner error />
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn Shell(viewer: Viewer, tab: Tab, data: TabData) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let organization = shows_organization(&Ok(viewer.clone()));
    let must_change = viewer.must_change_password;
    provide_context(viewer.clone());
    view! {
        <div class="app">
            <nav class="sidebar" aria-label="Main">
                <span class="sidebar-brand" title="Tokenwell">
                    <KeyIcon />
                    <span class="sidebar-brand-name">"Tokenwell"</span>
                </span>
                <a href="/settings" class="sidebar-link" aria-current=(tab != Tab::Account).then_some("page")>
                    <GearIcon />
                    <span>"Settings"</span>
                </a>
            </nav>
            <div class="main-column">
                <header class="topbar">
                    <span class="topbar-org">{viewer.organization_name.clone()}</span>
                    <span class="topbar-user">
                        <a href="/account" class="topbar-email" title="Your account">
                            {viewer.email.clone()}
                        </a>
                        <ActionForm action=logout>
                            <button type="submit" class="button secondary small">
                                "Sign out"
                            </button>
                        </ActionForm>
                    </span>
                </header>
                <main class="content" id="main">
                    {if must_change {
                        view! { <ChangePassword forced=true /> }.into_any()
                    } else if tab == Tab::Account {
                        view! { <ChangePassword forced=false /> }.into_any()
                    } else if organization {
                        view! { <Organization tab data /> }.into_any()
                    } else {
                        view! { <AdminsOnly viewer /> }.into_any()
                    }}
                </main>
            </div>
        </div>
    }
}

#[component]
fn Organization(tab: Tab, data: TabData) -> impl IntoView {
    let current = move |t: Tab| if t == tab { Some("page") } else { None };
    view! {
        <div class="settings">
            <nav class="subnav" aria-labelledby="organization-heading">
                <h2 id="organization-heading" class="subnav-heading">
                    "Organization"
                </h2>
                <ul>
                    <li>
                        <a href="/settings/users" class="subnav-link" aria-current=current(Tab::Users)>
                            "Users"
                        </a>
                    </li>
                    <li>
                        <a href="/settings/auth-tokens" class="subnav-link" aria-current=current(Tab::Tokens)>
                            "Auth tokens"
                        </a>
                    </li>
                </ul>
            </nav>
            <section class="tab-panel">
                {match data {
                    TabData::Tokens(data) => view! { <TokensTab data /> }.into_any(),
                    TabData::Users(data) => view! { <UsersTab data /> }.into_any(),
                    TabData::None => ().into_any(),
                }}
            </section>
        </div>
    }
}

#[component]
fn AdminsOnly(viewer: Viewer) -> impl IntoView {
    view! {
        <div class="card narrow admins-only">
            <h1 id="page-heading">"Admins only"</h1>
            <p>"Only admins can manage organization settings."</p>
            <p class="muted">
                {format!(
                    "You are signed in as {} with the {} role. If you need an auth token or a change to your account, ask an admin of {}.",
                    viewer.email,
                    viewer.role.label(),
                    viewer.organization_name,
                )}
            </p>
        </div>
    }
}
