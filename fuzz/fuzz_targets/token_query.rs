//! The decoding of user-supplied filter state:
//! - the tokens table's URL (`?q=&type=&status=&page=`), read into a `TokenQuery`
//!   by the router's own parsing (`UrlQuery::from_params`), and written back by
//!   `search_for`;
//! - the JSON body of the `list_tokens` and `generate_token` server functions;
//! - the names of the enums that filters and forms send (`Role`, `TokenKind`, …).
#![no_main]

use app::{
    api::tokens::{GenerateToken, ListTokens},
    domain::TokenName,
    components::url_query::{search_for, UrlQuery},
    model::{Choice, Role, TokenKind, TokenQuery, TokenStatusFilter, UserKind, UserStatus},
};
use leptos_router::location::RequestUrl;
use libfuzzer_sys::fuzz_target;

/// Reads a query string the way the router does on the server (`use_query_map`).
fn read_url(search: &str) -> Option<TokenQuery> {
    let url = RequestUrl::new(&format!(
        "/settings/auth-tokens?{}",
        search.strip_prefix('?').unwrap_or(search)
    ))
    .parse()
    .ok()?;
    Some(TokenQuery::from_params(url.search_params()))
}

/// Any query string gives a valid view, and writing that view back to the URL and
/// reading it again gives the same view (a reload shows the same table).
fn check_query_string(raw: &[u8]) {
    let Some(query) = read_url(&String::from_utf8_lossy(raw)) else { return };
    assert!(query.page >= 1);
    let search = search_for(&query);
    assert_eq!(read_url(&search), Some(query), "{search}");
}

/// Any view the page can navigate to survives the URL unchanged.
fn check_view(data: &[u8]) {
    let [kind, status, p0, p1, p2, p3, q @ ..] = data else { return };
    let query = TokenQuery {
        q: String::from_utf8_lossy(q).into_owned(),
        kind: [None, Some(TokenKind::Api), Some(TokenKind::Forwarder)][*kind as usize % 3],
        status: TokenStatusFilter::ALL[*status as usize % 4],
        page: u32::from_le_bytes([*p0, *p1, *p2, *p3]).max(1),
    };
    let search = search_for(&query);
    assert_eq!(read_url(&search), Some(query), "{search}");
}

/// Server function arguments: decoding never panics, and what decodes re-encodes to
/// the same value.
fn check_server_fn_bodies(body: &[u8]) {
    if let Ok(args) = serde_json::from_slice::<ListTokens>(body) {
        let again: ListTokens =
            serde_json::from_str(&serde_json::to_string(&args).expect("encode")).expect("decode");
        assert_eq!(again.query, args.query);
    }
    if let Ok(args) = serde_json::from_slice::<GenerateToken>(body) {
        let again: GenerateToken =
            serde_json::from_str(&serde_json::to_string(&args).expect("encode")).expect("decode");
        assert_eq!((again.kind, &again.name), (args.kind, &args.name));
        let _ = TokenName::parse(&args.name);
    }
}

/// Each enum accepts exactly its own names.
fn check_enum_names(raw: &str) {
    if let Some(v) = Role::parse(raw) {
        assert_eq!(v.as_str(), raw);
    }
    if let Some(v) = TokenKind::parse(raw) {
        assert_eq!(v.as_str(), raw);
    }
    if let Some(v) = TokenStatusFilter::parse(raw) {
        assert_eq!(v.as_str(), raw);
    }
    if let Some(v) = UserKind::parse(raw) {
        assert_eq!(v.as_str(), raw);
    }
    if let Some(v) = UserStatus::parse(raw) {
        assert_eq!(v.as_str(), raw);
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    match mode % 4 {
        0 => check_query_string(rest),
        1 => check_view(rest),
        2 => check_server_fn_bodies(rest),
        _ => check_enum_names(&String::from_utf8_lossy(rest)),
    }
});
