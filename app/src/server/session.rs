//! Session cookies and the "who is calling" check that every page and server function uses.

use http::{header, HeaderMap, HeaderValue};
use leptos::prelude::*;
use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};

use super::{internal, now, request_parts, AppState};
use crate::{
    error::AppError,
    model::{UserId, Viewer},
    server::db::StoreError,
};

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
pub fn new_session_id() -> Result<(String, Vec<u8>), AppError> {
    let mut bytes = [0u8; 16];
    OsRng.try_fill_bytes(&mut bytes).map_err(internal)?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = hash_id(&value);
    Ok((value, hash))
}

fn hash_id(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The hash of the session id the request's cookie carries, if any.
pub fn session_hash(headers: &HeaderMap, secure: bool) -> Option<Vec<u8>> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, v)| hash_id(v))
}

/// The signed-in user for these request headers: the session must exist, be within its
/// idle and absolute lifetimes, and belong to an active user. Read fresh each time.
pub async fn viewer_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, StoreError> {
    let Some(hash) = session_hash(headers, state.security.secure_cookies) else {
        return Ok(None);
    };
    let idle = state.security.session_idle.as_secs() as i64;
    let initial = state.security.initial_password_lifetime.as_secs() as i64;
    Ok(state.store.session_user(&hash, now(), idle, initial).await?.map(|s| s.viewer))
}

/// Set by the HTTP layer once it has checked the session of a request, so that the
/// server function does not query it a second time.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Viewer);

/// The signed-in user, or `Unauthorized`.
pub async fn require_user() -> Result<Viewer, AppError> {
    let parts = request_parts().ok_or_else(|| internal("request parts missing from context"))?;
    if let Some(Authenticated(viewer)) = parts.extensions.get::<Authenticated>() {
        return Ok(viewer.clone());
    }
    let state = super::state()?;
    viewer_from_headers(&state, &parts.headers)
        .await
        .map_err(internal)?
        .ok_or(AppError::Unauthorized)
}

/// The signed-in user if they are an admin; `Forbidden` for members and read-only users.
/// An admin who still has to replace an initial password must do that first.
pub async fn require_admin() -> Result<Viewer, AppError> {
    let viewer = require_user().await?;
    if !viewer.is_admin() {
        Err(AppError::Forbidden)
    } else if viewer.must_change_password {
        Err(AppError::Refused("Set a new password first.".into()))
    } else {
        Ok(viewer)
    }
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, AppError> {
    let secure = state.security.secure_cookies;
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" },
    );
    HeaderValue::from_str(&cookie).map_err(internal)
}

/// Starts a new session for `user_id` and sets its cookie on the response.
pub async fn start_session(state: &AppState, user_id: UserId) -> Result<(), AppError> {
    let (value, hash) = new_session_id()?;
    let absolute = state.security.session_absolute.as_secs() as i64;
    state.store.create_session(&hash, user_id, now(), absolute).await.map_err(internal)?;
    let opts = expect_context::<leptos_axum::ResponseOptions>();
    opts.append_header(header::SET_COOKIE, cookie(state, &value, absolute)?);
    Ok(())
}

/// Deletes the request's session server-side and clears the cookie.
pub async fn end_session(state: &AppState) -> Result<(), AppError> {
    let parts = request_parts().ok_or_else(|| internal("request parts missing from context"))?;
    if let Some(hash) = session_hash(&parts.headers, state.security.secure_cookies) {
        state.store.delete_session(&hash).await.map_err(internal)?;
    }
    let opts = expect_context::<leptos_axum::ResponseOptions>();
    opts.append_header(header::SET_COOKIE, cookie(state, "", 0)?);
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
