//! One module per route.

pub mod account;
pub mod login;
pub mod settings;
pub mod setup;
pub mod tokens;
pub mod users;

use leptos::prelude::*;

use crate::error::AppError;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="center-page">
            <div class="card narrow">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address."</p>
                <a class="button" href="/settings">
                    "Go to Settings"
                </a>
            </div>
        </main>
    }
}

/// A banner for an error that is not about one form field.
#[component]
pub fn ErrorBanner(error: AppError) -> impl IntoView {
    view! {
        <div class="banner error" role="alert">
            {error.to_string()}
        </div>
    }
}

/// Percent-encodes a query-string component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_query_components() {
        assert_eq!(super::encode_component("Forwarder: a&b=c é"), "Forwarder%3A%20a%26b%3Dc%20%C3%A9");
    }
}
