//! The site's static files (`LEPTOS_SITE_ROOT`): served precompressed when the build left
//! `.br`/`.gz` copies next to them (`cargo leptos build --release --precompress`), and
//! cached for as long as their names say they may be. Any other request the router does
//! not know is the app's not-found page.

use std::{future::Future, pin::Pin};

use app::server::AppState;
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, Method, Request, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use leptos::prelude::*;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// A name cargo-leptos' `hash-files` gave: `stem.HASH.ext`, HASH being the file's MD5 in
/// unpadded base64url (22 characters). Such a file never changes; a new build gets a new name.
const HASH_LEN: usize = 22;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `/pkg/` files without a hash (a build without `hash-files`) change with every build.
const REVALIDATE: &str = "no-cache";
/// The favicon and other files of `public/`: the same name across builds.
const SHORT: &str = "public, max-age=3600";

type Handler = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The build's list of hashed names, in the site root (Cargo.toml `hash-file-name`); read at
/// start (`startup.rs`).
pub const HASH_FILE: &str = "hash.txt";

/// Files in the site root that are the build's notes to the server, not part of the site:
/// the list of hashed names and its compressed copies.
fn is_build_note(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|name| name.strip_prefix(HASH_FILE))
        .is_some_and(|rest| ["", ".br", ".gz"].contains(&rest))
}

/// The router's fallback: a file of the site when one matches a GET or HEAD, otherwise
/// leptos_axum's handler, which renders the app (its not-found page) in `shell`. A build note
/// gets the not-found page from a handler that looks up no file (leptos_axum's file handler
/// would serve it).
pub fn files_or_page<IV>(
    options: &LeptosOptions,
    context: impl Fn() + Clone + Send + Sync + 'static,
    shell: impl Fn(LeptosOptions) -> IV + Clone + Send + Sync + 'static,
) -> impl Fn(Uri, State<AppState>, Request<Body>) -> Handler + Clone + Send + 'static
where
    IV: IntoView + 'static,
{
    let not_found = leptos_axum::render_app_to_stream_with_context(context.clone(), {
        let (options, shell) = (options.clone(), shell.clone());
        move || shell(options.clone())
    });
    let files = ServeDir::new(&*options.site_root)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    let page = leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell);
    move |uri: Uri, state: State<AppState>, req: Request<Body>| {
        let files = files.clone();
        let page = page.clone();
        let not_found = not_found.clone();
        Box::pin(async move {
            if is_build_note(uri.path()) {
                return not_found(req).await;
            }
            if req.method() == Method::GET || req.method() == Method::HEAD {
                let mut probe = Request::new(Body::empty());
                *probe.method_mut() = req.method().clone();
                *probe.uri_mut() = uri.clone();
                *probe.headers_mut() = req.headers().clone();
                let Ok(found) = files.oneshot(probe).await;
                if found.status() != StatusCode::NOT_FOUND {
                    return with_cache_headers(uri.path(), found.map(Body::new));
                }
            }
            page(uri, state, req).await.into_response()
        })
    }
}

fn with_cache_headers(path: &str, mut response: Response) -> Response {
    let status = response.status();
    let headers = response.headers_mut();
    // The same URL may come brotli, gzip or plain: caches must key on what was asked for.
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(path)));
    }
    response
}

fn cache_control(path: &str) -> &'static str {
    match path.strip_prefix("/pkg/") {
        Some(name) if is_hashed(name) => IMMUTABLE,
        Some(_) => REVALIDATE,
        None => SHORT,
    }
}

fn is_hashed(name: &str) -> bool {
    let mut parts = name.rsplitn(3, '.');
    let (Some(_extension), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == HASH_LEN
        && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashed_pkg_files_are_immutable() {
        assert_eq!(cache_control("/pkg/tokenwell.Zm9vYmFyYmF6cXV4MTIzNA.wasm"), IMMUTABLE);
        assert_eq!(cache_control("/pkg/tokenwell.a-b_c-d_e-f_g-h_i-j_k-.css"), IMMUTABLE);
        assert_eq!(cache_control("/pkg/tokenwell.wasm"), REVALIDATE);
        assert_eq!(cache_control("/pkg/tokenwell_bg.wasm"), REVALIDATE);
        // One character short, or not the base64url alphabet: not a cargo-leptos hash.
        assert_eq!(cache_control("/pkg/tokenwell.Zm9vYmFyYmF6cXV4MTIzN.js"), REVALIDATE);
        assert_eq!(cache_control("/pkg/tokenwell.Zm9vYmFyYmF6cXV4MTIz+A.js"), REVALIDATE);
        assert_eq!(cache_control("/pkg/.Zm9vYmFyYmF6cXV4MTIzNA.js"), REVALIDATE);
        assert_eq!(cache_control("/favicon.svg"), SHORT);
        assert_eq!(cache_control("/tokenwell.Zm9vYmFyYmF6cXV4MTIzNA.js"), SHORT);
    }
}
