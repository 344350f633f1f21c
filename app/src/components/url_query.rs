//! A list's view (filter, page) kept in the URL's query string, so that it survives reload,
//! back and forward, and can be linked to. Filtering and paging run on the server.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::{
    hooks::{use_location, use_navigate, use_query_map},
    params::ParamsMap,
    NavigateOptions,
};

/// The view of a list that a URL's query string holds.
pub trait UrlQuery: Clone + PartialEq + Send + Sync + 'static {
    /// The view `params` ask for; anything unknown or malformed falls back to its default.
    fn from_params(params: &ParamsMap) -> Self;
    /// The parameters that differ from their defaults, in a fixed order, unencoded.
    fn to_params(&self) -> Vec<(&'static str, String)>;
    /// The same view on another page (1-based).
    fn on_page(self, page: u32) -> Self;
}

/// The query string (with its `?`, empty for the default view) that `from_params` reads back
/// as `q`.
pub fn search_for<Q: UrlQuery>(q: &Q) -> String {
    let parts: Vec<String> = q
        .to_params()
        .into_iter()
        .map(|(key, value)| format!("{key}={}", encode_component(&value)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The query string for an address the server reads itself (a download), not the router:
/// each component percent-encoded once.
pub fn server_search_for<Q: UrlQuery>(q: &Q) -> String {
    let parts: Vec<String> = q
        .to_params()
        .into_iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(&value, "%25")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The `page` parameter: a number from 1, else 1.
pub fn page_param(params: &ParamsMap) -> u32 {
    params.get("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1)
}

/// Percent-encodes a query-string component for `use_query_map` to read back.
/// `%` is encoded twice: leptos_router decodes query values twice (parsing the URL, then
/// again in `ParamsMap::insert`), so a single `%25` would reach the page as `%` and turn a
/// filter such as `%41` into `A`. Other characters decode once and then stay as they are.
pub fn encode_component(s: &str) -> String {
    percent_encode(s, "%2525")
}

/// Percent-encodes `s`, writing `%` itself as `percent`.
fn percent_encode(s: &str, percent: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'%' => out.push_str(percent),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

type Navigate = Arc<dyn Fn(&str, NavigateOptions) + Send + Sync>;

/// The current view of a list and the way to show another one.
pub struct UrlState<Q: UrlQuery> {
    pub query: Memo<Q>,
    navigate: StoredValue<Navigate>,
    path: Memo<String>,
}

impl<Q: UrlQuery> Clone for UrlState<Q> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Q: UrlQuery> Copy for UrlState<Q> {}

impl<Q: UrlQuery> UrlState<Q> {
    /// Shows `next`: a new history entry (Back returns to this view), or, with `replace`, in
    /// place of this one (each pause in typing a filter).
    pub fn go(self, next: Q, replace: bool) {
        let (Some(path), Some(navigate)) =
            (self.path.try_get_untracked(), self.navigate.try_get_value())
        else {
            // The page is gone (a debounced filter fired after navigating away).
            return;
        };
        navigate(
            &format!("{path}{}", search_for(&next)),
            NavigateOptions { replace, scroll: false, ..Default::default() },
        );
    }

    /// Shows the current view changed by `change`, from its first page.
    pub fn refine(self, change: impl FnOnce(&mut Q), replace: bool) {
        let Some(mut next) = self.query.try_get_untracked() else { return };
        change(&mut next);
        self.go(next.on_page(1), replace);
    }

    pub fn to_page(self, page: u32) {
        if let Some(current) = self.query.try_get_untracked() {
            self.go(current.on_page(page), false);
        }
    }
}

/// The list view in the current URL.
pub fn use_url_query<Q: UrlQuery>() -> UrlState<Q> {
    let params = use_query_map();
    let location = use_location();
    let navigate = use_navigate();
    UrlState {
        query: Memo::new(move |_| params.with(Q::from_params)),
        navigate: StoredValue::new(Arc::new(navigate) as Navigate),
        path: Memo::new(move |_| location.pathname.get()),
    }
}

#[cfg(test)]
mod tests {
    use leptos_router::location::RequestUrl;

    use super::{search_for, UrlQuery};
    use crate::model::{Choice, TokenKind, TokenQuery, TokenStatusFilter, UserQuery};

    /// What a page reads back from the URL it wrote for `q`.
    fn read_back<Q: UrlQuery>(q: &Q) -> Q {
        let url = RequestUrl::new(&format!("/settings/x{}", search_for(q))).parse().unwrap();
        Q::from_params(url.search_params())
    }

    const FILTERS: [&str; 7] =
        ["", "dc east", "%25.ype", " 50% off ", "a&b=c#d", "é?/+", "Forwarder: x"];

    #[test]
    fn every_token_view_survives_the_url() {
        let kinds = std::iter::once(None).chain(TokenKind::ALL.iter().copied().map(Some));
        for kind in kinds {
            for &status in TokenStatusFilter::ALL {
                for q in FILTERS {
                    for page in [1, 2, 2_019_648_896] {
                        let view = TokenQuery { q: q.into(), kind, status, page };
                        assert_eq!(read_back(&view), view);
                    }
                }
            }
        }
    }

    #[test]
    fn every_user_view_survives_the_url() {
        for q in FILTERS {
            for page in [1, 7] {
                let view = UserQuery { q: q.into(), page };
                assert_eq!(read_back(&view), view);
            }
        }
    }

    #[test]
    fn defaults_stay_out_of_the_url_and_nonsense_falls_back() {
        assert_eq!(search_for(&TokenQuery { page: 1, ..Default::default() }), "");
        assert_eq!(search_for(&UserQuery { q: String::new(), page: 1 }), "");
        let view = TokenQuery {
            q: "dc east".into(),
            kind: Some(TokenKind::Forwarder),
            status: TokenStatusFilter::All,
            page: 3,
        };
        assert_eq!(search_for(&view), "?q=dc%20east&type=forwarder&status=all&page=3");
        let url =
            RequestUrl::new("/settings/auth-tokens?type=nope&status=&page=0").parse().unwrap();
        assert_eq!(
            TokenQuery::from_params(url.search_params()),
            TokenQuery { page: 1, ..Default::default() }
        );
        let url = RequestUrl::new("/settings/users?page=-3&q").parse().unwrap();
        assert_eq!(
            UserQuery::from_params(url.search_params()),
            UserQuery { q: String::new(), page: 1 }
        );
    }

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
