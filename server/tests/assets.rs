//! The site's static files: content-hashed names, precompressed copies, cache headers.

mod common;

use std::path::Path;

use app::model::Role;
use common::{client, spawn_app_with, TestApp};
use reqwest::{header, StatusCode};

const JS: &str = "tokenwell.SnNKc0pzSnNKc0pzSnNKcw.js";
const WASM: &str = "tokenwell.V2FzbVdhc21XYXNtV2FzbQ.wasm";
const CSS: &str = "tokenwell.Q3NzQ3NzQ3NzQ3NzQ3NzQw.css";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A built site as `cargo leptos build --release --precompress` leaves it, with contents
/// that tell the plain, brotli and gzip copies apart.
fn write_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for name in [JS, WASM, CSS] {
        std::fs::write(pkg.join(name), format!("plain {name}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.br")), format!("brotli {name}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.gz")), format!("gzip {name}")).unwrap();
    }
    std::fs::write(
        root.join("hash.txt"),
        "js: SnNKc0pzSnNKc0pzSnNKcw\nwasm: V2FzbVdhc21XYXNtV2FzbQ\ncss: Q3NzQ3NzQ3NzQ3NzQ3NzQw\n",
    )
    .unwrap();
    for copy in ["hash.txt.br", "hash.txt.gz"] {
        std::fs::write(root.join(copy), "compressed").unwrap();
    }
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
}

async fn app_with_site() -> (TestApp, tempfile::TempDir) {
    let site = tempfile::tempdir().unwrap();
    write_site(site.path());
    let root = site.path().to_path_buf();
    let app = spawn_app_with(|args| args.site_root = root).await;
    (app, site)
}

fn header_of(res: &reqwest::Response, name: header::HeaderName) -> Option<&str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn hashed_files_come_precompressed_and_cached_for_a_year() {
    let (app, _site) = app_with_site().await;
    let c = client();
    for name in [JS, WASM, CSS] {
        let url = app.url(&format!("/pkg/{name}"));
        for (accept, encoding, body) in [
            (Some("gzip, deflate, br"), Some("br"), format!("brotli {name}")),
            (Some("gzip"), Some("gzip"), format!("gzip {name}")),
            (None, None, format!("plain {name}")),
            (Some("identity"), None, format!("plain {name}")),
        ] {
            let mut req = c.get(&url);
            if let Some(accept) = accept {
                req = req.header(header::ACCEPT_ENCODING, accept);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{name} {accept:?}");
            assert_eq!(header_of(&res, header::CONTENT_ENCODING), encoding, "{name} {accept:?}");
            assert_eq!(header_of(&res, header::CACHE_CONTROL), Some(IMMUTABLE), "{name}");
            let vary: Vec<&str> =
                res.headers().get_all(header::VARY).iter().map(|v| v.to_str().unwrap()).collect();
            assert!(
                vary.iter().any(|v| v.eq_ignore_ascii_case("accept-encoding")),
                "{name}: Vary {vary:?}"
            );
            assert_eq!(res.text().await.unwrap(), body, "{name} {accept:?}");
        }
    }
    let wasm = c.get(app.url(&format!("/pkg/{WASM}"))).send().await.unwrap();
    assert_eq!(header_of(&wasm, header::CONTENT_TYPE), Some("application/wasm"));

    // A browser revalidating a file it holds gets 304, not a page.
    let res = c.get(app.url(&format!("/pkg/{JS}"))).send().await.unwrap();
    let modified = header_of(&res, header::LAST_MODIFIED).unwrap().to_string();
    let res = c
        .get(app.url(&format!("/pkg/{JS}")))
        .header(header::IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn other_files_are_cached_briefly_and_missing_ones_not_at_all() {
    let (app, _site) = app_with_site().await;
    let c = client();
    let res = c.get(app.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CACHE_CONTROL), Some("public, max-age=3600"));

    // Missing, and the build's own list of hashed names, which is in the site root but is
    // not part of the site.
    for path in [
        "/pkg/tokenwell.js",
        "/pkg/tokenwell.SnNKc0pzSnNKc0pzSnNKcQ.js",
        "/pkg",
        "/hash.txt",
        "/hash.txt.br",
        "/hash.txt.gz",
    ] {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_ne!(header_of(&res, header::CACHE_CONTROL), Some(IMMUTABLE), "{path}");
        assert!(res.text().await.unwrap().contains("Page not found"), "{path}");
    }
}

#[tokio::test]
async fn pages_link_the_hashed_names_and_are_never_stored() {
    let (app, _site) = app_with_site().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let signed_out = client();
    let admin = app.signed_in("ada@acme.test").await;
    for (path, c) in [("/login", &signed_out), ("/settings/auth-tokens", &admin)] {
        let res = c.get(app.url(path)).header(header::ACCEPT_ENCODING, "br").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&res, header::CACHE_CONTROL), Some("no-store"), "{path}");
        let html = res.text().await.unwrap();
        for name in [JS, WASM, CSS] {
            assert!(html.contains(&format!("/pkg/{name}")), "{path} does not link {name}");
        }
        assert!(!html.contains("/pkg/tokenwell.css"), "{path} links the unhashed stylesheet");
    }
}
