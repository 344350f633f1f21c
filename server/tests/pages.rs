//! Rendering the console's pages on the server.

mod common;

use std::sync::Arc;

use app::{
    model::Role,
    routes::{self, SettingsTab},
};
use common::{captured_logs, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

/// Each page makes its resources once and every server function it calls runs inside the
/// request's reactive owner. A resource made inside a Suspense's children was made (and
/// fetched) once per server-side pass over them; the extra fetches could run after their
/// pass's owner was gone and log "application state missing from context".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fetch_their_data_once_and_without_internal_errors() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Acme", "max@acme.test", Role::Member).await;
    let admin = app.signed_in("ada@acme.test").await;
    let member = app.signed_in("max@acme.test").await;
    app.rpc_ok(&admin, "generate_token", json!({"kind": "api", "name": "Laptop"})).await;

    // The current user, then the tab's list (unasked for, `None`, when the tab is not shown);
    // the account page's second factors.
    let mut pages = vec![(routes::SETTINGS, 2), (routes::ACCOUNT, 2)];
    pages.extend(SettingsTab::ALL.iter().map(|tab| (tab.path(), 2)));
    // The lost-owner failure was a race (a few renders in a hundred on a release build), so
    // each page is rendered many times.
    for (path, resources) in pages {
        for (who, client) in [("admin", &admin), ("member", &member)] {
            for _ in 0..50 {
                let res = client.get(app.url(path)).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{path} as {who}");
                let html = res.text().await.unwrap();
                assert_eq!(
                    html.matches("__RESOLVED_RESOURCES[").count(),
                    resources,
                    "resources sent with {path} as {who}"
                );
            }
        }
    }

    let logs = captured_logs();
    assert!(logs.contains("token generated"), "log capture is not working");
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("internal error")).collect();
    assert!(errors.is_empty(), "{} internal errors while rendering: {}", errors.len(), errors[0]);
}

/// An unknown tab under /settings/ is the not-found page, not one of the tabs.
#[tokio::test]
async fn an_unknown_settings_tab_is_not_found() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    for path in ["/settings/nope", "/settings/auth-tokens/nope", "/settings/users/1"] {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("Page not found"), "{path}");
        assert!(!html.contains("Auth tokens") && !html.contains("__RESOLVED_RESOURCES["), "{path}");
    }
}

/// Building a router finds the app's routes by rendering it once with resource loading
/// switched off for the whole process (leptos' `SuppressResourceLoad`), and a resource first
/// polled in that window never loads (leptos-rs/leptos#4773): a page being rendered by a
/// router built earlier stalled until its client gave up. Tests build many routers in one
/// process, so this one renders pages from four clients while, on a thread of its own, more
/// apps are built beside it; every page must come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_another_router_never_stalls_a_page() {
    let app = Arc::new(spawn_app().await);
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let builder = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for _ in 0..30 {
            drop(runtime.block_on(spawn_app()));
        }
    });
    let builder = Arc::new(builder);
    let mut clients = Vec::new();
    for client in 0..4 {
        let (app, builder) = (app.clone(), builder.clone());
        let admin = app.signed_in("ada@acme.test").await;
        clients.push(tokio::spawn(async move {
            let mut pages = 0;
            while !builder.is_finished() || pages < 5 {
                let res = admin
                    .get(app.url("/settings/auth-tokens"))
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("client {client}, page {pages} stalled: {e}"));
                assert_eq!(res.status(), StatusCode::OK);
                let html = res.text().await.unwrap();
                assert!(html.contains("__RESOLVED_RESOURCES"), "client {client}, page {pages}");
                pages += 1;
            }
            pages
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    // The clients are done with it; a panic while building the apps fails the test too.
    Arc::into_inner(builder).expect("no client holds the builder").join().unwrap();
}

/// Every tab of the route list is routed, shows its own heading, and is linked from the
/// tab navigation of every other tab, marked as the current one only on its own page.
#[tokio::test]
async fn every_settings_tab_is_routed_and_linked() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    for tab in SettingsTab::ALL {
        let res = admin.get(app.url(tab.path())).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{tab:?}");
        let html = res.text().await.unwrap();
        assert_eq!(page_heading(&html).as_deref(), Some(tab.label()), "{tab:?}");
        for other in SettingsTab::ALL {
            let href = format!("href=\"{}\"", other.path());
            let link = html
                .split("<a ")
                .filter_map(|rest| rest.split('>').next())
                .find(|tag| tag.contains("subnav-link") && tag.contains(&href))
                .unwrap_or_else(|| panic!("{other:?} not linked from {tab:?}"));
            let current = link.contains("aria-current=\"page\"");
            assert_eq!(current, other == tab, "{other:?} on {tab:?}");
        }
    }
}

/// The text of the page's `h1#page-heading`, without the renderer's markers (`<!>`, comments).
fn page_heading(html: &str) -> Option<String> {
    let start = html.find("<h1 id=\"page-heading\"")?;
    let inner = &html[start..];
    let inner = &inner[inner.find('>')? + 1..inner.find("</h1>")?];
    let mut text = String::new();
    let mut in_marker = false;
    for c in inner.chars() {
        match c {
            '<' => in_marker = true,
            '>' => in_marker = false,
            c if !in_marker => text.push(c),
            _ => {}
        }
    }
    Some(text.trim().to_string())
}
