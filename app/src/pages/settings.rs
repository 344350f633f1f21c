//! The signed-in console: the shell (left menu, top bar) around every signed-in page, and
//! Settings › Organization with its tabs. Both are parent routes: the shell and the current
//! user load once, and a tab switch renders only the tab.
//!
//! Each route view makes its resources in its own body, outside any Suspense, and the
//! `<Outlet/>`s stay outside Suspense too: on the server a Suspense runs its children more
//! than once, and a resource made in there (or a child route rendered in there) was made,
//! and fetched, once per run. Each part that depends on the user waits for it in a Suspense
//! of its own instead.

use leptos::prelude::*;
use leptos_router::{
    components::{Outlet, Redirect},
    hooks::use_location,
};

use super::{
    account::ChangePassword, audit::AuditLogTab, tokens::TokensTab, two_factor::SecurityTab,
    two_factor::TwoFactorSection, users::UsersTab,
};
use crate::{
    api::auth::{current_user, Logout},
    components::{
        icons::{GearIcon, KeyIcon},
        ErrorBanner,
    },
    error::AppError,
    model::{Choice, Viewer},
    routes::{self, SettingsTab},
};

/// The signed-in user, loaded once by the shell for every page inside it.
#[derive(Clone, Copy)]
struct CurrentUser(Resource<Result<Viewer, AppError>>);

pub fn use_current_user() -> Resource<Result<Viewer, AppError>> {
    expect_context::<CurrentUser>().0
}

/// Whether the viewer sees the Organization section (and so its tabs' lists).
pub fn shows_organization(viewer: &Result<Viewer, AppError>) -> bool {
    matches!(viewer, Ok(v) if v.is_admin() && !v.must_change_password && !v.must_set_up_two_factor())
}

/// Whether the viewer sees their own account page (the forced password change replaces it).
pub fn shows_account(viewer: &Result<Viewer, AppError>) -> bool {
    matches!(viewer, Ok(v) if !v.must_change_password)
}

/// Shows `children` once the current user is known, and only to a viewer `shown` allows.
///
/// A Transition, not a Suspense: a Suspense also falls back while a resource read inside
/// it reloads (a tab's list after each change), which takes its children out of the page
/// and puts them back, and a modal `<dialog>` put back is no longer modal.
#[component]
pub fn ForViewer(
    shown: fn(&Result<Viewer, AppError>) -> bool,
    children: ChildrenFn,
) -> impl IntoView {
    let viewer = use_current_user();
    let children = StoredValue::new(children);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                shown(&viewer.await).then(|| children.with_value(|children| children()))
            })}
        </Transition>
    }
}

/// The shell around every signed-in page.
#[component]
pub fn Shell() -> impl IntoView {
    let viewer = Resource::new_blocking(|| (), |_| current_user());
    provide_context(CurrentUser(viewer));
    let logout = ServerAction::<Logout>::new();
    let location = use_location();
    let in_settings = move || location.pathname.get().starts_with(routes::SETTINGS);
    let on_account = move || location.pathname.get() == routes::ACCOUNT;
    view! {
        <div class="app">
            <nav class="sidebar" aria-label="Main">
                <span class="sidebar-brand" title="Tokenwell">
                    <KeyIcon />
                    <span class="sidebar-brand-name">"Tokenwell"</span>
                </span>
                <a href=routes::SETTINGS class="sidebar-link" aria-current=move || in_settings().then_some("page")>
                    <GearIcon />
                    <span>"Settings"</span>
                </a>
            </nav>
            <div class="main-column">
                <header class="topbar">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            viewer
                                .await
                                .ok()
                                .map(|viewer| {
                                    view! {
                                        <span class="topbar-org">{viewer.organization_name}</span>
                                        <span class="topbar-user">
                                            <a href=routes::ACCOUNT class="topbar-email" title="Your account">
                                                {viewer.email}
                                            </a>
                                            <ActionForm action=logout>
                                                <button type="submit" class="button secondary small">
                                                    "Sign out"
                                                </button>
                                            </ActionForm>
                                        </span>
                                    }
                                })
                        })}
                    </Suspense>
                </header>
                <main class="content" id="main">
                    <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                        {move || {
                            let settings = in_settings();
                            let account = on_account();
                            Suspend::new(async move {
                                match viewer.await {
                                    Ok(viewer) if viewer.must_change_password => {
                                        view! { <ChangePassword forced=true /> }.into_any()
                                    }
                                    // The organization requires a second factor: set it up first.
                                    Ok(viewer) if viewer.must_set_up_two_factor() && !account => {
                                        view! { <Redirect path=routes::ACCOUNT /> }.into_any()
                                    }
                                    Ok(viewer) if settings && !viewer.is_admin() => {
                                        view! { <AdminsOnly viewer /> }.into_any()
                                    }
                                    Ok(_) => ().into_any(),
                                    Err(AppError::Unauthorized) => view! { <Redirect path=routes::LOGIN /> }.into_any(),
                                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                                }
                            })
                        }}
                    </Suspense>
                    <Outlet />
                </main>
            </div>
        </div>
    }
}

/// Settings › Organization: the tab navigation and the tab.
#[component]
pub fn Organization() -> impl IntoView {
    let location = use_location();
    let current = move |tab: SettingsTab| {
        let path = location.pathname.get();
        let shown = path == tab.path() || (path == routes::SETTINGS && tab == SettingsTab::DEFAULT);
        shown.then_some("page")
    };
    view! {
        <div class="settings">
            <ForViewer shown=shows_organization>
                <nav class="subnav" aria-labelledby="organization-heading">
                    <h2 id="organization-heading" class="subnav-heading">
                        "Organization"
                    </h2>
                    <ul>
                        {SettingsTab::ALL
                            .into_iter()
                            .map(|tab| {
                                view! {
                                    <li>
                                        <a href=tab.path() class="subnav-link" aria-current=move || current(tab)>
                                            {tab.label()}
                                        </a>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </nav>
            </ForViewer>
            <section class="tab-panel">
                <Outlet />
            </section>
        </div>
    }
}

/// The route view of one tab.
#[component]
pub fn Tab(tab: SettingsTab) -> impl IntoView {
    match tab {
        SettingsTab::Users => view! { <UsersTab /> }.into_any(),
        SettingsTab::Tokens => view! { <TokensTab /> }.into_any(),
        SettingsTab::AuditLog => view! { <AuditLogTab /> }.into_any(),
        SettingsTab::Security => view! { <SecurityTab /> }.into_any(),
    }
}

/// The top of a tab: its heading (where focus lands when a dialog's opener is gone), what
/// the tab is for, and its main action.
#[component]
pub fn TabHeader(
    heading: &'static str,
    text: &'static str,
    /// The tab's main button and what it does; some tabs have none.
    #[prop(optional)]
    action: Option<&'static str>,
    #[prop(optional)] on_action: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        <div class="tab-header">
            <div>
                <h1 id="page-heading" tabindex="-1">
                    {heading}
                </h1>
                <p class="muted">{text}</p>
            </div>
            {action
                .map(|action| {
                    view! {
                        <button
                            type="button"
                            class="button"
                            on:click=move |_| {
                                if let Some(run) = on_action {
                                    run.run(())
                                }
                            }
                        >
                            {action}
                        </button>
                    }
                })}
        </div>
    }
}

/// `/account`: the signed-in user's own password and second factors. The two-factor
/// section makes its resource here, in the route's body (see the module's note); it shows
/// itself only to a viewer `shows_account` allows.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <div class="account-page">
            <ForViewer shown=shows_account>
                <ChangePassword forced=false />
            </ForViewer>
            <TwoFactorSection />
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
