#![recursion_limit = "256"]
//! Tokenwell's console: the page shell, the routes, and everything shared by the server
//! (feature `ssr`) and the browser (feature `hydrate`).

pub mod api;
pub mod components;
pub mod domain;
pub mod error;
pub mod model;
pub mod pages;
pub mod routes;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Redirect, Route, Router, Routes},
    SsrMode, StaticSegment,
};

use pages::{
    login::LoginPage,
    settings::{AccountPage, Organization, Shell, Tab},
    setup::SetupPage,
    two_factor::SecondFactorPage,
    NotFound,
};
use routes::{segment, SettingsTab};

/// The HTML document around the app. On the server it also sets the Content-Security-Policy,
/// whose per-response nonce is the only way an inline script (hydration's) may run.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    server_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HashedStylesheet options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn server_csp() {
    use http::{header::CONTENT_SECURITY_POLICY, HeaderValue};
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Lets tests and scripts know the page is interactive.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title text="Tokenwell" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=|| view! { <Redirect path=routes::SETTINGS /> } />
                <Route path=StaticSegment(segment(routes::LOGIN)) view=LoginPage />
                <Route path=StaticSegment(segment(routes::SETUP)) view=SetupPage />
                <Route
                    path=(StaticSegment(segment(routes::LOGIN)), StaticSegment("two-factor"))
                    view=SecondFactorPage
                    ssr=SsrMode::Async
                />
                // The shell (and the current user) stays while moving between the pages in it.
                <ParentRoute path=StaticSegment("") view=Shell ssr=SsrMode::Async>
                    <ParentRoute path=StaticSegment(segment(routes::SETTINGS)) view=Organization ssr=SsrMode::Async>
                        <Route
                            path=StaticSegment("")
                            view=|| view! { <Tab tab=SettingsTab::DEFAULT /> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=StaticSegment(SettingsTab::Users.segment())
                            view=|| view! { <Tab tab=SettingsTab::Users /> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=StaticSegment(SettingsTab::Tokens.segment())
                            view=|| view! { <Tab tab=SettingsTab::Tokens /> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=StaticSegment(SettingsTab::AuditLog.segment())
                            view=|| view! { <Tab tab=SettingsTab::AuditLog /> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=StaticSegment(SettingsTab::Security.segment())
                            view=|| view! { <Tab tab=SettingsTab::Security /> }
                            ssr=SsrMode::Async
                        />
                    </ParentRoute>
                    <Route path=StaticSegment(segment(routes::ACCOUNT)) view=AccountPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
