#![recursion_limit = "256"]
//! Tokenwell's console: the page shell, the routes, and everything shared by the server
//! (feature `ssr`) and the browser (feature `hydrate`).

pub mod api;
pub mod components;
pub mod domain;
pub mod error;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    path, SsrMode,
};

use pages::{login::LoginPage, settings::SettingsPage, settings::Tab, setup::SetupPage, NotFound};

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
                <Route path=path!("/") view=|| view! { <Redirect path="/settings" /> } />
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/setup") view=SetupPage />
                <Route
                    path=path!("/settings")
                    view=|| view! { <SettingsPage tab=Tab::Tokens /> }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/settings/auth-tokens")
                    view=|| view! { <SettingsPage tab=Tab::Tokens /> }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/account")
                    view=|| view! { <SettingsPage tab=Tab::Account /> }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/settings/users")
                    view=|| view! { <SettingsPage tab=Tab::Users /> }
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}
