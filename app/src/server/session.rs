//! Session cookies, and the session's principal that every page and server function reads.

use http::{header, HeaderMap, HeaderValue};
use leptos::prelude::*;
use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};

use super::{
    db::StoreError, error::ServiceError, internal, now, principal::Principal, request_parts,
    AppState,
};
use crate::error::AppError;

/// The cookie's name. Over HTTPS the `__Host-` prefix pins it to this host and path.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tokenwell_session"
    } else {
        "tokenwell_session"
    }
}

/// A new session id: 128 bits from the OS CSPRNG, hex-encoded for the cookie, plus the
/// SHA-256 the database keeps.
pub fn new_session_id() -> Result<(String, Vec<u8>), ServiceError> {
    let mut bytes = [0u8; 16];
    OsRng.try_fill_bytes(&mut bytes).map_err(ServiceError::internal)?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = hash_id(&value);
    Ok((value, hash))
}

/// The SHA-256 the database keeps of a random id (a session's, a half-finished sign-in's).
pub fn hash_id(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The cookie of a half-finished sign-in (password right, second factor to come).
pub fn pending_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tokenwell_pending"
    } else {
        "tokenwell_pending"
    }
}

/// The hash of the session id the request's cookie carries, if any.
pub fn session_hash(headers: &HeaderMap, secure: bool) -> Option<Vec<u8>> {
    id_cookie(headers, cookie_name(secure))
}

/// The hash of the random id in cookie `name`, when it holds a well-formed one.
fn id_cookie(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, v)| hash_id(v))
}

/// The principal of the session these request headers carry: the session must exist, be
/// within its idle and absolute lifetimes, and belong to an active user. The HTTP layer
/// calls this once per console request (`SessionPrincipal`).
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, StoreError> {
    let Some(hash) = session_hash(headers, state.security.secure_cookies) else {
        return Ok(None);
    };
    state.session_lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let idle = state.security.session_idle.as_secs() as i64;
    let initial = state.security.initial_password_lifetime.as_secs() as i64;
    let found = state.store.session_user(&hash, now(), idle, initial).await?;
    Ok(found.map(|s| Principal::Session(s.viewer)))
}

/// A console request's session, as the HTTP layer resolved it: the request extension that
/// the page gate, the pages and the server functions read.
#[derive(Clone, Debug)]
pub struct SessionPrincipal(pub Option<Principal>);

/// The signed-in caller of this console request, or `Unauthorized`.
pub fn principal() -> Result<Principal, AppError> {
    let resolved = with_context::<http::request::Parts, _>(|parts| {
        parts.extensions.get::<SessionPrincipal>().map(|s| s.0.clone())
    });
    match resolved {
        Some(Some(Some(principal))) => Ok(principal),
        Some(Some(None)) => Err(AppError::Unauthorized),
        Some(None) => Err(internal("the session of this request was not resolved")),
        None => Err(internal("request parts missing from context")),
    }
}

/// The hash of the session id this request's cookie carries, if any.
pub fn request_session_hash(state: &AppState) -> Option<Vec<u8>> {
    request_parts().and_then(|p| session_hash(&p.headers, state.security.secure_cookies))
}

/// The hash of the half-finished sign-in's id this request's cookie carries, if any.
pub fn request_pending_hash(state: &AppState) -> Option<Vec<u8>> {
    let name = pending_cookie_name(state.security.secure_cookies);
    request_parts().and_then(|p| id_cookie(&p.headers, name))
}

/// A session just started. Its id goes into the cookie and nowhere else.
pub struct NewSession(pub(super) String);

fn cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
) -> Result<HeaderValue, ServiceError> {
    let secure = state.security.secure_cookies;
    let cookie = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" },
    );
    HeaderValue::from_str(&cookie).map_err(ServiceError::internal)
}

fn append_cookie(value: HeaderValue) {
    let opts = expect_context::<leptos_axum::ResponseOptions>();
    opts.append_header(header::SET_COOKIE, value);
}

/// Sets the cookie of a session just started on the response, and ends any half-finished
/// sign-in's cookie.
pub fn set_cookie(state: &AppState, session: &NewSession) -> Result<(), ServiceError> {
    let absolute = state.security.session_absolute.as_secs() as i64;
    let secure = state.security.secure_cookies;
    append_cookie(cookie(state, cookie_name(secure), &session.0, absolute)?);
    if request_pending_hash(state).is_some() {
        append_cookie(cookie(state, pending_cookie_name(secure), "", 0)?);
    }
    Ok(())
}

/// Clears the session cookie on the response.
pub fn clear_cookie(state: &AppState) -> Result<(), ServiceError> {
    append_cookie(cookie(state, cookie_name(state.security.secure_cookies), "", 0)?);
    Ok(())
}

/// Sets the cookie of a half-finished sign-in (it lives as long as the sign-in may).
pub fn set_pending_cookie(
    state: &AppState,
    pending: &super::two_factor::NewPending,
) -> Result<(), ServiceError> {
    let name = pending_cookie_name(state.security.secure_cookies);
    append_cookie(cookie(state, name, &pending.0, super::two_factor::PENDING_LIFETIME)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_bit_hex_and_only_well_formed_cookies_count() {
        let (a, ha) = new_session_id().unwrap();
        let (b, _) = new_session_id().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("x=1; tokenwell_session={a}").parse().unwrap());
        assert_eq!(session_hash(&headers, false), Some(ha));
        assert_eq!(session_hash(&headers, true), None);
        headers.insert(header::COOKIE, "tokenwell_session=../../etc".parse().unwrap());
        assert_eq!(session_hash(&headers, false), None);
    }
}
