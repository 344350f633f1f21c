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

/// Percent-encodes a query-string component for `use_query_map` to read back.
/// `%` is encoded twice: leptos_router decodes query values twice (parsing the URL, then
/// again in `ParamsMap::insert`), so a single `%25` would reach the page as `%` and turn a
/// filter such as `%41` into `A`. Other characters decode once and then stay as they are.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'%' => out.push_str("%2525"),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use leptos_router::location::RequestUrl;

    #[test]
    fn encodes_query_components() {
        assert_eq!(
            super::encode_component("Forwarder: a&b=c é"),
            "Forwarder%3A%20a%26b%3Dc%20%C3%A9"
        );
    }

    /// Found by fuzzing (fuzz/fuzz_targets/token_query.rs): a filter with `%` followed by
    /// two hex digits came back from the URL decoded one time too many.
    #[test]
    fn the_router_reads_back_what_was_encoded() {
        for value in ["%25.ype", "%41", "100%", "%", "%%2525", "a+b c", "Forwarder: a&b=c é#x"] {
            let url =
                RequestUrl::new(&format!("/settings/users?q={}", super::encode_component(value)))
                    .parse()
                    .unwrap();
            assert_eq!(url.search_params().get("q").as_deref(), Some(value));
        }
    }
}
