//! The token-authenticated API: one test per cell of the contract's permission table, plus
//! revocation, principals' state, malformed credentials, tenancy and "last used".

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::model::Role;
use common::*;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

struct Org {
    admin: Client,
    admin_id: i64,
}

/// An organization with a signed-in admin, plus a member and a read-only user.
async fn org(app: &TestApp, name: &str) -> Org {
    let slug = name.to_lowercase();
    let admin_id = app.add_user(name, &format!("admin@{slug}.test"), Role::Admin).await;
    app.add_user(name, &format!("member@{slug}.test"), Role::Member).await;
    app.add_user(name, &format!("reader@{slug}.test"), Role::ReadOnly).await;
    Org { admin: app.signed_in(&format!("admin@{slug}.test")).await, admin_id }
}

/// Generates a token in the console as `client`; returns (id, secret).
async fn generate(app: &TestApp, client: &Client, kind: &str, name: &str) -> (i64, String) {
    let g = app.rpc_ok(client, "generate_token", json!({"kind": kind, "name": name})).await;
    (g["token"]["id"].as_i64().unwrap(), g["secret"].as_str().unwrap().to_string())
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str) -> reqwest::Response {
    let c = client();
    let req = match method {
        "GET" => c.get(app.url(path)),
        "POST" => c.post(app.url(path)),
        "DELETE" => c.delete(app.url(path)),
        _ => unreachable!(),
    };
    req.bearer_auth(token).body("file contents").send().await.unwrap()
}

async fn status(app: &TestApp, method: &str, path: &str, token: &str) -> StatusCode {
    call(app, method, path, token).await.status()
}

/// The contract's table: endpoint × (API/CLI token by creator role, File Forwarder token).
#[tokio::test]
async fn permission_table() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let member = app.signed_in("member@acme.test").await;
    let reader = app.signed_in("reader@acme.test").await;
    // Members and read-only users cannot generate tokens in the console; their tokens come
    // from an admin who is later demoted, which is exactly what the table's rows mean.
    let (_, admin_token) = generate(&app, &acme.admin, "api", "admin-token").await;
    let (_, fwd_token) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let _ = (member, reader);
    let member_id = app.scalar("SELECT id FROM users WHERE email = 'member@acme.test'").await;
    let reader_id = app.scalar("SELECT id FROM users WHERE email = 'reader@acme.test'").await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id IN ({member_id}, {reader_id})"))
        .await;
    let m = app.signed_in("member@acme.test").await;
    let r = app.signed_in("reader@acme.test").await;
    let (_, member_token) = generate(&app, &m, "api", "member-token").await;
    let (_, reader_token) = generate(&app, &r, "api", "reader-token").await;
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {member_id}")).await;
    app.sql(&format!("UPDATE users SET role = 'read_only' WHERE id = {reader_id}")).await;

    let ok = |s: StatusCode| s.is_success();
    let forbidden = |s: StatusCode| s == StatusCode::FORBIDDEN;
    let table: [(&str, &str, [bool; 4]); 6] = [
        // (method, path, [admin, member, read-only, forwarder] allowed?)
        ("GET", "/api/v1/whoami", [true, true, true, true]),
        ("POST", "/api/v1/files?name=a.txt", [true, true, false, true]),
        ("GET", "/api/v1/files", [true, true, true, false]),
        ("GET", "/api/v1/tokens", [true, false, false, false]),
        ("POST", "/api/v1/tokens", [true, false, false, false]),
        ("DELETE", "/api/v1/tokens/999999", [true, false, false, false]),
    ];
    for (method, path, allowed) in table {
        for (token, who, allowed) in [
            (&admin_token, "admin", allowed[0]),
            (&member_token, "member", allowed[1]),
            (&reader_token, "read-only", allowed[2]),
            (&fwd_token, "forwarder", allowed[3]),
        ] {
            let res = call(&app, method, path, token).await;
            let s = res.status();
            if allowed {
                // Allowed means "not refused for rights": the POST /tokens body is not JSON (415)
                // and token 999999 does not exist (404).
                assert!(
                    ok(s) || s == StatusCode::UNSUPPORTED_MEDIA_TYPE || s == StatusCode::NOT_FOUND,
                    "{method} {path} as {who}: {s}"
                );
            } else {
                assert!(forbidden(s), "{method} {path} as {who}: {s}");
                assert!(res.headers()[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .contains("insufficient_scope"));
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "insufficient_scope");
            }
        }
    }
}

#[tokio::test]
async fn whoami_and_files_round_trip() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (id, token) = generate(&app, &acme.admin, "api", "cli").await;
    let me: Value = call(&app, "GET", "/api/v1/whoami", &token).await.json().await.unwrap();
    assert_eq!(me["organization"]["name"], "Acme");
    assert_eq!(me["token"], json!({"id": id, "name": "cli", "type": "api"}));
    assert_eq!(me["principal"]["id"], acme.admin_id);
    assert_eq!(me["principal"]["kind"], "user");
    assert_eq!(me["principal"]["role"], "admin");

    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "dc-east").await;
    let me: Value = call(&app, "GET", "/api/v1/whoami", &fwd).await.json().await.unwrap();
    assert_eq!(me["principal"]["name"], "Forwarder: dc-east");
    assert_eq!(me["principal"]["kind"], "forwarder");
    assert_eq!(me["principal"]["role"], Value::Null);

    let res = call(&app, "POST", "/api/v1/files?name=report.pdf", &fwd).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let file: Value = res.json().await.unwrap();
    assert_eq!(file["name"], "report.pdf");
    assert_eq!(file["size"], 13);
    let sha = file["sha256"].as_str().unwrap();
    let expected: String =
        sha2::Sha256::digest(b"file contents").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha, expected);
    assert_eq!(sha.len(), 64);
    let stored = app.dir.path().join("files").join("files").join(&sha[..2]).join(sha);
    assert_eq!(std::fs::read(stored).unwrap(), b"file contents");
    let list: Value = call(&app, "GET", "/api/v1/files", &token).await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["files"][0]["sha256"], sha);
    // A bad name is refused and stores nothing.
    assert_eq!(status(&app, "POST", "/api/v1/files", &fwd).await, StatusCode::BAD_REQUEST);
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 1);
}

#[tokio::test]
async fn oversized_upload_is_413() {
    let app = spawn_app_with(|a| a.max_upload_bytes = 1024).await;
    let acme = org(&app, "Acme").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let res = client()
        .post(app.url("/api/v1/files?name=big.bin"))
        .bearer_auth(&fwd)
        .body(vec![0u8; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 0);
    let res = client()
        .post(app.url("/api/v1/files?name=ok.bin"))
        .bearer_auth(&fwd)
        .body(vec![0u8; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn tokens_endpoints_match_the_console() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, admin) = generate(&app, &acme.admin, "api", "automation").await;
    let c = client();
    let res = c
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"type": "forwarder", "name": "dc-west"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("twf_") && secret.len() == 42);
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM users WHERE name = 'Forwarder: dc-west' AND kind = 'forwarder'"
        )
        .await,
        1
    );
    // Same validation as the console.
    let dup = c
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"type": "api", "name": "DC-WEST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let bad = c
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"type": "api", "name": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let list: Value = c
        .get(app.url("/api/v1/tokens?q=dc"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(secret), "listing must not carry secrets");
    let id = created["token"]["id"].as_i64().unwrap();
    let first: Value = c
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["revoked_now"], true);
    let second: Value = c
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["revoked_now"], false);
    assert_eq!(status(&app, "GET", "/api/v1/whoami", secret).await, StatusCode::UNAUTHORIZED);

    // A bearer token is never sent by a browser on its own, so the console's cross-site
    // check does not apply: automation may send any Origin.
    let foreign = c
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .header("origin", "https://ci.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"type": "api", "name": "from-ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::CREATED);
    // The same headers as every response, and the same 64 KiB limit on JSON bodies.
    assert_eq!(foreign.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(foreign.headers().get("x-request-id").is_some());
    let huge = json!({"type": "api", "name": "x".repeat(100 * 1024)});
    let res =
        c.post(app.url("/api/v1/tokens")).bearer_auth(&admin).json(&huge).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn revoked_in_the_console_means_401_on_the_next_request_even_under_load() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (id, token) = generate(&app, &acme.admin, "api", "busy").await;
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &token).await, StatusCode::OK);

    let revoked_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let results: Arc<Mutex<Vec<(Instant, StatusCode)>>> = Arc::default();
    let stop = Instant::now() + Duration::from_secs(3);
    let mut workers = Vec::new();
    for _ in 0..50 {
        let (url, token, results, revoked_at) =
            (app.url("/api/v1/whoami"), token.clone(), results.clone(), revoked_at.clone());
        workers.push(tokio::spawn(async move {
            let c = client();
            while Instant::now() < stop {
                let started = Instant::now();
                let s = c.get(&url).bearer_auth(&token).send().await.unwrap().status();
                results.lock().unwrap().push((started, s));
                if revoked_at
                    .lock()
                    .unwrap()
                    .is_some_and(|t| started > t + Duration::from_millis(300))
                {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app.rpc(&acme.admin, "revoke_token", json!({"id": id})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done = Instant::now();
    *revoked_at.lock().unwrap() = Some(done);
    for w in workers {
        w.await.unwrap();
    }
    let results = results.lock().unwrap();
    let after: Vec<_> = results.iter().filter(|(t, _)| *t > done).collect();
    assert!(!after.is_empty(), "some requests must start after the revoke");
    assert!(
        after.iter().all(|(_, s)| *s == StatusCode::UNAUTHORIZED),
        "a request after the revoke succeeded"
    );
    assert!(results.iter().any(|(t, s)| *t < done && *s == StatusCode::OK));
}

#[tokio::test]
async fn creator_role_and_status_apply_at_once() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, token) = generate(&app, &acme.admin, "api", "ops").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "dc").await;
    assert_eq!(status(&app, "GET", "/api/v1/tokens", &token).await, StatusCode::OK);
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {}", acme.admin_id)).await;
    assert_eq!(status(&app, "GET", "/api/v1/tokens", &token).await, StatusCode::FORBIDDEN);
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &token).await, StatusCode::OK);
    app.sql(&format!(
        "UPDATE users SET role = 'admin', status = 'disabled' WHERE id = {}",
        acme.admin_id
    ))
    .await;
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &token).await, StatusCode::UNAUTHORIZED);
    // The forwarder token acts as its own account, not as the disabled creator.
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &fwd).await, StatusCode::OK);
    app.sql(&format!("UPDATE users SET status = 'active' WHERE id = {}", acme.admin_id)).await;
    assert_eq!(status(&app, "GET", "/api/v1/tokens", &token).await, StatusCode::OK);

    app.sql("UPDATE users SET status = 'disabled' WHERE name = 'Forwarder: dc'").await;
    assert_eq!(status(&app, "POST", "/api/v1/files?name=x", &fwd).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.scalar("SELECT count(*) FROM tokens WHERE name = 'dc' AND revoked_at IS NULL").await,
        1
    );
    app.sql("UPDATE users SET status = 'active' WHERE name = 'Forwarder: dc'").await;
    assert_eq!(status(&app, "POST", "/api/v1/files?name=x", &fwd).await, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_credentials_are_refused_without_a_database_query() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, token) = generate(&app, &acme.admin, "api", "cli").await;
    let mut changed = token.clone().into_bytes();
    changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).unwrap();
    let wrong_prefix = token.replacen("twa_", "twx_", 1);
    let huge = format!("Bearer {}", "a".repeat(10_000));
    let basic = "Basic YWRtaW46cGFzc3dvcmQ=".to_string();
    let before = app.state.store.token_lookups();
    let c = client();
    for header_value in [
        Some(format!("Bearer {changed}")),
        Some(format!("Bearer {wrong_prefix}")),
        Some(String::new()),
        Some(basic),
        Some(huge),
        None,
        Some("Bearer".into()),
    ] {
        let mut req = c.get(app.url("/api/v1/whoami"));
        if let Some(v) = &header_value {
            req = req.header(header::AUTHORIZATION, v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{:?}",
            header_value.map(|v| v.chars().take(30).collect::<String>())
        );
        assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token");
    }
    assert_eq!(app.state.store.token_lookups(), before, "a malformed token reached the database");
    // A well-formed, checksummed token that does not exist does query (once).
    let unknown = app_secret_like(&token);
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &unknown).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.store.token_lookups(), before + 1);
}

/// A valid-looking API token that was never issued.
fn app_secret_like(_: &str) -> String {
    app::server::token_secret::TokenSecret::generate(app::model::TokenKind::Api)
        .unwrap()
        .expose()
        .to_string()
}

#[tokio::test]
async fn sessions_do_not_open_the_api_and_tokens_do_not_open_the_console() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, token) = generate(&app, &acme.admin, "api", "cli").await;
    assert_eq!(
        acme.admin.get(app.url("/api/v1/whoami")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let res = client()
        .post(app.url("/rpc/list_tokens"))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"query":{"q":"","kind":null,"status":"active","page":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn organizations_cannot_reach_each_other() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let globex = org(&app, "Globex").await;
    let (acme_id, acme_token) = generate(&app, &acme.admin, "api", "acme-admin").await;
    let (_, globex_token) = generate(&app, &globex.admin, "api", "globex-admin").await;
    let (_, acme_fwd) = generate(&app, &acme.admin, "forwarder", "acme-fwd").await;
    assert_eq!(
        status(&app, "POST", "/api/v1/files?name=secret.txt", &acme_fwd).await,
        StatusCode::CREATED
    );

    let list: Value =
        call(&app, "GET", "/api/v1/tokens?status=all", &globex_token).await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains("acme"));
    let files: Value =
        call(&app, "GET", "/api/v1/files", &globex_token).await.json().await.unwrap();
    assert_eq!(files["total"], 0);
    let foreign = call(&app, "DELETE", &format!("/api/v1/tokens/{acme_id}"), &globex_token).await;
    let unknown = call(&app, "DELETE", "/api/v1/tokens/987654", &globex_token).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(foreign.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &acme_token).await, StatusCode::OK);
    // The console's revoke answers a foreign id exactly like an unknown one, too.
    let foreign = app.rpc(&globex.admin, "revoke_token", json!({"id": acme_id})).await;
    let unknown = app.rpc(&globex.admin, "revoke_token", json!({"id": 987654})).await;
    assert_eq!(
        (foreign.status(), unknown.status()),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(foreign.text().await.unwrap(), unknown.text().await.unwrap());
}

#[tokio::test]
async fn last_used_is_written_once_for_a_burst_and_shown_in_the_listing() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (id, token) = generate(&app, &acme.admin, "api", "burst").await;
    let before = app.state.last_used.writes();
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (c, url, token) = (c.clone(), app.url("/api/v1/whoami"), token.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                assert_eq!(
                    c.get(&url).bearer_auth(&token).send().await.unwrap().status(),
                    StatusCode::OK
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The write happens in the background; give it a moment.
    for _ in 0..50 {
        if app.state.last_used.writes() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        app.state.last_used.writes() - before,
        1,
        "1,000 requests within a minute, one write"
    );
    let listed = app
        .rpc_ok(
            &acme.admin,
            "list_tokens",
            json!({"query": {"q": "burst", "kind": null, "status": "active", "page": 1}}),
        )
        .await;
    let row = &listed["rows"][0];
    assert_eq!(row["id"], id);
    assert!(row["last_used_at"].as_i64().is_some());
    assert_eq!(row["last_used_ip"], "127.0.0.1");
    // "Unused 90+ days" lists never-used tokens, not this one.
    let (_, _) = generate(&app, &acme.admin, "api", "idle").await;
    let unused = app
        .rpc_ok(
            &acme.admin,
            "list_tokens",
            json!({"query": {"q": "", "kind": null, "status": "unused", "page": 1}}),
        )
        .await;
    let names: Vec<_> = unused["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"idle".to_string()) && !names.contains(&"burst".to_string()),
        "{names:?}"
    );
    app.sql(&format!("UPDATE tokens SET last_used_at = last_used_at - 91 * 86400 WHERE id = {id}"))
        .await;
    let unused = app
        .rpc_ok(
            &acme.admin,
            "list_tokens",
            json!({"query": {"q": "burst", "kind": null, "status": "unused", "page": 1}}),
        )
        .await;
    assert_eq!(unused["total"], 1);
}

#[tokio::test]
async fn openapi_describes_the_endpoints() {
    let app = spawn_app().await;
    let doc: Value =
        client().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/whoami", "/api/v1/files", "/api/v1/tokens", "/api/v1/tokens/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn logs_never_contain_secrets_passwords_or_session_ids() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (id, token) = generate(&app, &acme.admin, "api", "logged").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "logged-fwd").await;
    status(&app, "GET", "/api/v1/whoami", &token).await;
    status(&app, "POST", "/api/v1/files?name=x", &fwd).await;
    status(&app, "GET", "/api/v1/files", &fwd).await;
    let mut typo = token.clone();
    typo.replace_range(20..21, if &token[20..21] == "x" { "y" } else { "x" });
    status(&app, "GET", "/api/v1/whoami", &typo).await;
    let created: Value = client()
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .json(&json!({"type": "api", "name": "via-api"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_secret = created["secret"].as_str().unwrap().to_string();
    app.rpc(&acme.admin, "revoke_token", json!({"id": id})).await;
    status(&app, "GET", "/api/v1/whoami", &token).await;
    app.login(&client(), "admin@acme.test", "a wrong password here").await;
    let res = app.login(&client(), "member@acme.test", PASSWORD).await;
    let cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_string();
    // Initial passwords (added, reset, expired) and a refused weak password.
    let added = app
        .rpc_ok(
            &acme.admin,
            "add_user",
            json!({"name": "Logan", "email": "logan@acme.test", "role": "member"}),
        )
        .await;
    let initial = added["initial_password"].as_str().unwrap().to_string();
    let logan = client();
    app.login(&logan, "logan@acme.test", &initial).await;
    app.rpc(
        &logan,
        "change_password",
        json!({"current": initial, "new": "password1234", "confirm": "password1234"}),
    )
    .await;
    let reset = app.rpc_ok(&acme.admin, "reset_password", json!({"id": added["user"]["id"]})).await;
    let reset_to = reset["initial_password"].as_str().unwrap().to_string();
    app.sql("UPDATE users SET password_set_at = 0 WHERE email = 'logan@acme.test'").await;
    app.login(&client(), "logan@acme.test", &reset_to).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let logs = captured_logs();
    assert!(
        logs.contains("token generated") && logs.contains("API authentication failed"),
        "log capture is not working"
    );
    assert!(
        logs.contains("revoked token") && logs.contains(&format!("token_id=Some({id})")),
        "revoked use is audited with its id"
    );
    let secret_shape = regex_lite::Regex::new(r"tw[af]_[0-9A-Za-z]{38}").unwrap();
    assert!(secret_shape.find(&logs).is_none(), "a token secret reached the log");
    assert!(
        logs.contains("password reset") && logs.contains("expired initial password"),
        "log capture is not working"
    );
    for needle in [
        &token,
        &fwd,
        &api_secret,
        &typo,
        &cookie,
        &PASSWORD.to_string(),
        &"a wrong password here".to_string(),
        &initial,
        &reset_to,
        &"password1234".to_string(),
    ] {
        if let Some(at) = logs.find(needle.as_str()) {
            let line_start = logs[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let line: String =
                logs[line_start..].lines().next().unwrap_or_default().chars().take(300).collect();
            panic!("a secret reached the log: {}", line.replace(needle.as_str(), "[SECRET]"));
        }
    }
}

// ---------- uploads ----------

/// A raw HTTP/1.1 upload, for what an HTTP client library will not do: hold the body back,
/// stop in the middle of it, or send it in chunks without a length. `headers` end in CRLF.
async fn raw_upload(
    app: &TestApp,
    token: &str,
    name: &str,
    headers: &str,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /api/v1/files?name={name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Writes what it can; the server may already have answered and closed.
async fn send(stream: &mut tokio::net::TcpStream, bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.write_all(bytes).await;
}

/// One chunk of a `Transfer-Encoding: chunked` body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    [format!("{:x}\r\n", bytes.len()).as_bytes(), bytes, b"\r\n"].concat()
}

/// The first response on `stream`: status, head and body. None if none came within `within`.
async fn response(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> Option<(u16, String, String)> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&received[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    let body =
                        String::from_utf8_lossy(&received[end + 4..end + 4 + length]).to_string();
                    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                    return Some((status, head, body));
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

/// Every file under the data dir that is not a stored blob (`files/ab/<sha256>`) or the
/// secret key generated at start (`secret.key`).
fn leftovers(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n == "secret.key") {
                continue;
            } else {
                out.push(path);
            }
        }
    }
    let data_dir = app.dir.path().join("files");
    let mut files = Vec::new();
    walk(&data_dir, &mut files);
    let blob = regex_lite::Regex::new(r"^files/([0-9a-f]{2})/([0-9a-f]{64})$").unwrap();
    files
        .into_iter()
        .filter(|path| {
            let relative = path.strip_prefix(&data_dir).unwrap().to_string_lossy().to_string();
            !blob.captures(&relative).is_some_and(|c| c[2].starts_with(&c[1]))
        })
        .collect()
}

/// Waits until an upload is being received into a file (past every check made before).
async fn receiving(app: &TestApp) {
    let incoming = app.dir.path().join("files").join("incoming");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&incoming).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "no upload started receiving");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn blob_path(app: &TestApp, sha: &str) -> std::path::PathBuf {
    app.dir.path().join("files").join("files").join(&sha[..2]).join(sha)
}

async fn upload(app: &TestApp, token: &str, name: &str, body: &[u8]) -> reqwest::Response {
    let url = reqwest::Url::parse_with_params(&app.url("/api/v1/files"), [("name", name)]).unwrap();
    client().post(url).bearer_auth(token).body(body.to_vec()).send().await.unwrap()
}

#[tokio::test]
async fn a_forbidden_upload_is_refused_before_its_body_is_read() {
    // The production limit, so a body of 20 MiB is one the server would otherwise accept.
    let app = spawn_app_with(|a| a.max_upload_bytes = 32 * 1024 * 1024).await;
    let acme = org(&app, "Acme").await;
    let (_, token) = generate(&app, &acme.admin, "api", "demoted").await;
    app.sql(&format!("UPDATE users SET role = 'read_only' WHERE id = {}", acme.admin_id)).await;
    let twenty_mib = "Content-Length: 20971520\r\n";

    // A client that asks before sending: the server never asks for the body (no
    // "100 Continue", which it sends when a handler first reads the body).
    let mut asking =
        raw_upload(&app, &token, "big.bin", &format!("{twenty_mib}Expect: 100-continue\r\n")).await;
    let (status, head, body) =
        response(&mut asking, Duration::from_secs(5)).await.expect("an answer without the body");
    assert_eq!(status, 403, "{head}");
    assert!(body.contains("insufficient_scope"), "{body}");

    // A client that sends at once: 64 KiB of the 20 MiB declared, then nothing. The answer
    // comes anyway, so the server did not wait for (or read) the rest.
    let mut pushing = raw_upload(&app, &token, "big.bin", twenty_mib).await;
    send(&mut pushing, &vec![0u8; 64 * 1024]).await;
    let (status, _, _) = response(&mut pushing, Duration::from_secs(5))
        .await
        .expect("an answer before the body ends");
    assert_eq!(status, 403);

    // Nor is anything checked after reading: a bad name is refused just as early.
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id = {}", acme.admin_id)).await;
    let mut nameless = raw_upload(
        &app,
        &token,
        "%E2%80%AEfdp.exe",
        &format!("{twenty_mib}Expect: 100-continue\r\n"),
    )
    .await;
    let (status, head, _) =
        response(&mut nameless, Duration::from_secs(5)).await.expect("an answer without the body");
    assert_eq!(status, 400, "{head}");
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 0);
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
}

#[tokio::test]
async fn uploads_beyond_the_concurrency_cap_get_503_with_retry_after() {
    let app = spawn_app_with(|a| a.max_concurrent_uploads = 1).await;
    let acme = org(&app, "Acme").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let mut first = raw_upload(&app, &fwd, "first.bin", "Content-Length: 20\r\n").await;
    send(&mut first, b"0123456789").await;
    // It holds the only slot once it is receiving into a file.
    receiving(&app).await;

    let busy = upload(&app, &fwd, "second.bin", b"second").await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_uploads");
    // Other endpoints do not queue behind uploads.
    assert_eq!(status(&app, "GET", "/api/v1/whoami", &fwd).await, StatusCode::OK);

    send(&mut first, b"0123456789").await;
    let (status, _, body) = response(&mut first, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 201, "{body}");
    // The slot is free again.
    assert_eq!(upload(&app, &fwd, "third.bin", b"third").await.status(), StatusCode::CREATED);
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 2);
}

#[tokio::test]
async fn each_organization_has_a_storage_quota() {
    let app = spawn_app_with(|a| a.org_quota_bytes = 100).await;
    let acme = org(&app, "Acme").await;
    let globex = org(&app, "Globex").await;
    let (_, acme_fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let (_, globex_fwd) = generate(&app, &globex.admin, "forwarder", "fwd").await;

    assert_eq!(upload(&app, &acme_fwd, "a.bin", &[1u8; 60]).await.status(), StatusCode::CREATED);
    // Declared too large for the room left: refused before the body is read.
    let res = upload(&app, &acme_fwd, "b.bin", &[2u8; 41]).await;
    assert_eq!(res.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("quota of 100 bytes"), "{body}");
    // Sent without a length: refused as soon as it outgrows the room.
    let mut chunked = raw_upload(&app, &acme_fwd, "c.bin", "Transfer-Encoding: chunked\r\n").await;
    send(&mut chunked, &chunk(&[3u8; 30])).await;
    send(&mut chunked, &chunk(&[3u8; 30])).await;
    let (status, _, body) = response(&mut chunked, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 507, "{body}");
    // Exactly up to the quota is fine, and the same bytes count each time they are recorded.
    assert_eq!(upload(&app, &acme_fwd, "d.bin", &[1u8; 40]).await.status(), StatusCode::CREATED);
    assert_eq!(upload(&app, &acme_fwd, "e.bin", &[]).await.status(), StatusCode::CREATED);
    assert_eq!(
        upload(&app, &acme_fwd, "a-again.bin", &[1u8; 60]).await.status(),
        StatusCode::INSUFFICIENT_STORAGE
    );
    // Another organization has its own quota.
    assert_eq!(upload(&app, &globex_fwd, "g.bin", &[1u8; 100]).await.status(), StatusCode::CREATED);
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 4);
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
}

#[tokio::test]
async fn failed_uploads_leave_no_partial_file_behind() {
    let app = spawn_app_with(|a| {
        a.max_upload_bytes = 1024;
        a.org_quota_bytes = 4096;
        a.upload_idle_secs = 1;
    })
    .await;
    let acme = org(&app, "Acme").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;

    // The client goes away in the middle of the body.
    let mut gone = raw_upload(&app, &fwd, "gone.bin", "Content-Length: 1000\r\n").await;
    send(&mut gone, &[7u8; 500]).await;
    drop(gone);
    // Too large, sent without a length: stopped at the limit.
    let mut large = raw_upload(&app, &fwd, "large.bin", "Transfer-Encoding: chunked\r\n").await;
    for _ in 0..4 {
        send(&mut large, &chunk(&[8u8; 512])).await;
    }
    let (status, _, body) = response(&mut large, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    // Stalled: no byte for longer than the idle timeout.
    let mut stalled = raw_upload(&app, &fwd, "stalled.bin", "Content-Length: 100\r\n").await;
    send(&mut stalled, &[9u8; 10]).await;
    let (status, _, _) = response(&mut stalled, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 408);
    // Over the quota once received: there was room when it began, and another upload
    // took it meanwhile.
    for (name, byte) in [("one.bin", 1u8), ("two.bin", 2), ("three.bin", 3)] {
        assert_eq!(upload(&app, &fwd, name, &[byte; 1000]).await.status(), StatusCode::CREATED);
    }
    let mut overtaken =
        raw_upload(&app, &fwd, "overtaken.bin", "Transfer-Encoding: chunked\r\n").await;
    send(&mut overtaken, &chunk(&[4u8; 500])).await;
    receiving(&app).await;
    assert_eq!(upload(&app, &fwd, "four.bin", &[5u8; 1000]).await.status(), StatusCode::CREATED);
    send(&mut overtaken, &chunk(&[4u8; 500])).await;
    send(&mut overtaken, b"0\r\n\r\n").await;
    let (status, _, _) = response(&mut overtaken, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 507);
    // The database refuses the row: a generic 500, and still no partial file.
    if app.db.backend() == "postgres" {
        app.sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$").await;
        app.sql("CREATE TRIGGER refuse_files BEFORE INSERT ON files FOR EACH ROW EXECUTE FUNCTION refuse()").await;
    } else {
        app.sql("CREATE TRIGGER refuse_files BEFORE INSERT ON files BEGIN SELECT RAISE(ABORT, 'refused'); END").await;
    }
    let res = upload(&app, &fwd, "refused.bin", b"refused").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = res.json().await.unwrap();
    assert!(!body.to_string().contains("refused."), "database text reached the client: {body}");

    // The abandoned upload is noticed when its connection closes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !leftovers(&app).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(leftovers(&app).is_empty(), "partial uploads remain: {:?}", leftovers(&app));
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 4);
}

#[tokio::test]
async fn a_stored_copy_that_does_not_match_its_digest_is_replaced() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let contents = b"quarterly report";
    let sha = sha256_hex(contents);
    assert_eq!(upload(&app, &fwd, "q.txt", contents).await.status(), StatusCode::CREATED);
    let blob = blob_path(&app, &sha);
    assert_eq!(std::fs::read(&blob).unwrap(), contents);

    // A sound copy is kept as it is.
    let before = std::fs::metadata(&blob).unwrap().modified().unwrap();
    assert_eq!(upload(&app, &fwd, "q2.txt", contents).await.status(), StatusCode::CREATED);
    assert_eq!(std::fs::metadata(&blob).unwrap().modified().unwrap(), before);

    // Same size, other bytes; then a truncated copy: each is replaced by the upload.
    for tampered in [b"QUARTERLY REPORT".as_slice(), b"quarterly".as_slice()] {
        std::fs::write(&blob, tampered).unwrap();
        let res = upload(&app, &fwd, "q3.txt", contents).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let file: Value = res.json().await.unwrap();
        assert_eq!(file["sha256"], sha);
        assert_eq!(std::fs::read(&blob).unwrap(), contents);
    }
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
}

#[tokio::test]
async fn names_that_can_disguise_themselves_are_refused() {
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, admin) = generate(&app, &acme.admin, "api", "admin").await;
    let refused = [
        "invoice\u{202e}fdp.exe", // right-to-left override: shows as "invoiceexe.pdf"
        "a\u{202a}b",
        "a\u{202b}b",
        "a\u{202c}b",
        "a\u{202d}b",
        "a\u{2066}b",
        "a\u{2067}b",
        "a\u{2068}b",
        "a\u{2069}b",
        "a\u{200e}b",
        "a\u{200f}b",
        "a\u{61c}b",
        "pay\u{200b}roll.csv", // zero-width space
        "a\u{feff}b",
        "a\u{ad}b",
        "a\u{2060}b",
        "report\u{e0041}.pdf", // invisible tag character
        "line\nbreak",
        "tab\tbed",
        "nul\u{0}",
        "a\u{85}b",
        "a\u{2028}b",
        " ",
        "\u{3000}",
    ];
    for name in refused {
        let res = upload(&app, &admin, name, b"x").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let token = client()
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&admin)
            .json(&json!({"type": "api", "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), StatusCode::BAD_REQUEST, "token named {name:?}");
        // The console applies the same rule.
        let console =
            app.rpc(&acme.admin, "generate_token", json!({"kind": "api", "name": name})).await;
        assert_eq!(
            console.status(),
            StatusCode::BAD_REQUEST,
            "token named {name:?} in the console"
        );
    }
    assert_eq!(
        upload(&app, &admin, &"n".repeat(256), b"x").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM tokens").await, 1, "only the token named admin");

    for name in ["résumé 2024.pdf", "日本語.txt", "עברית.txt", "emoji 📄.pdf", &"n".repeat(255)]
    {
        let res = upload(&app, &admin, name, b"x").await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name:?}");
    }
    let res = upload(&app, &admin, "  padded.txt ", b"x").await;
    let file: Value = res.json().await.unwrap();
    assert_eq!(file["name"], "padded.txt");
}

#[tokio::test]
async fn a_file_at_the_upload_limit_is_stored_whole() {
    // The harness's limit is 1 MiB, far above the 64 KiB every other body may have.
    let app = spawn_app().await;
    let acme = org(&app, "Acme").await;
    let (_, fwd) = generate(&app, &acme.admin, "forwarder", "fwd").await;
    let contents: Vec<u8> =
        (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let res = upload(&app, &fwd, "full.bin", &contents).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let file: Value = res.json().await.unwrap();
    let sha = sha256_hex(&contents);
    assert_eq!(
        (file["size"].as_u64(), file["sha256"].as_str()),
        (Some(contents.len() as u64), Some(sha.as_str()))
    );
    assert_eq!(std::fs::read(blob_path(&app, &sha)).unwrap(), contents);
    assert_eq!(
        upload(&app, &fwd, "over.bin", &[contents.as_slice(), b"!"].concat()).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

/// A client sending bad tokens as fast as it can does not fill the log: each client address
/// gets ten warnings a minute, then one line saying the rest are not logged; another address
/// is logged meanwhile, and every request still gets its 401. (Throttled sign-ins and refused
/// cross-site requests: `password_guessing.rs`.)
#[tokio::test]
async fn refused_tokens_are_logged_within_a_budget_per_client() {
    let app = spawn_app().await;
    let from = |addr: &str| {
        Client::builder().local_address(addr.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
    };
    let made_up = "twa_0000000000000000000000000000000000000";
    let flood = from("127.0.0.77");
    for _ in 0..40 {
        let res = flood.get(app.url("/api/v1/whoami")).bearer_auth(made_up).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let other = from("127.0.0.78");
    let res = other.get(app.url("/api/v1/whoami")).bearer_auth(made_up).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let logs = captured_logs();
    let lines = |client: &str, message: &str| {
        logs.lines().filter(|l| l.contains(message) && l.contains(client)).count()
    };
    let failed = "API authentication failed";
    assert_eq!(lines("client=Some(127.0.0.77)", failed), 10);
    assert_eq!(lines("client=Some(127.0.0.77)", "a client is causing many warnings"), 1);
    assert_eq!(lines("client=Some(127.0.0.78)", failed), 1);
}
