//! The audit log, Regenerate and the public exposure report, over HTTP: regenerating kills
//! the old value and keeps the token's name and principal; an exposure report answers the
//! same whatever it holds and revokes only real, active tokens; reports are throttled per
//! address; the audit API and the CSV export are admins' and see one organization; no
//! token value reaches the audit log, its export or the server log.

mod common;

use std::net::IpAddr;

use app::{
    model::{Role, TokenKind},
    server::{throttle::EXPOSURE_REPORT_LIMIT, token_secret::TokenSecret},
};
use common::*;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};

const SECRET_SHAPE: &str = r"tw[af]_[0-9A-Za-z]{38}";

/// Generates a token in the console as `admin`; returns (id, secret).
async fn generate(app: &TestApp, admin: &Client, kind: &str, name: &str) -> (i64, String) {
    let g = app.rpc_ok(admin, "generate_token", json!({"kind": kind, "name": name})).await;
    (g["token"]["id"].as_i64().unwrap(), g["secret"].as_str().unwrap().to_string())
}

async fn whoami(app: &TestApp, secret: &str) -> (StatusCode, Value) {
    let res = client().get(app.url("/api/v1/whoami")).bearer_auth(secret).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get_json(app: &TestApp, path: &str, secret: &str) -> (StatusCode, Value) {
    let res = client().get(app.url(path)).bearer_auth(secret).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Sends an exposure report from `from` (a loopback address); returns status, headers that
/// matter and body.
async fn report(app: &TestApp, from: &str, body: &str) -> (StatusCode, Option<String>, String) {
    let c = Client::builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap();
    let res = c
        .post(app.url("/api/v1/credentials/revoke"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry = res.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
    (status, retry, res.text().await.unwrap())
}

async fn events(app: &TestApp, secret: &str, query: &str) -> Vec<Value> {
    let (status, body) = get_json(app, &format!("/api/v1/audit-events{query}"), secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn regenerating_kills_the_old_value_and_keeps_name_type_and_principal() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let (_, admin_token) = generate(&app, &ada, "api", "automation").await;
    let (id, old) = generate(&app, &ada, "api", "ci").await;
    let (_, before) = whoami(&app, &old).await;

    // Through the API, with an admin's token.
    let res = client()
        .post(app.url(&format!("/api/v1/tokens/{id}/regenerate")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = res.json().await.unwrap();
    let new = body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        (body["token"]["name"].as_str(), body["token"]["type"].as_str()),
        (Some("ci"), Some("api"))
    );
    assert_eq!(whoami(&app, &old).await.0, StatusCode::UNAUTHORIZED);
    let (status, after) = whoami(&app, &new).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["token"]["name"], "ci");
    assert_eq!(after["principal"], before["principal"]);
    // The old token is listed as regenerated; regenerating it again finds nothing.
    let (_, revoked) = get_json(&app, "/api/v1/tokens?status=revoked", &admin_token).await;
    let old_row = &revoked["tokens"][0];
    assert_eq!(
        (old_row["id"].as_i64(), old_row["revoked_reason"].as_str()),
        (Some(id), Some("regenerated"))
    );
    let again = client()
        .post(app.url(&format!("/api/v1/tokens/{id}/regenerate")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Through the console, a File Forwarder token keeps its Forwarder Service Account.
    let (fid, fold) = generate(&app, &ada, "forwarder", "dc-east").await;
    let (_, fbefore) = whoami(&app, &fold).await;
    let g = app.rpc_ok(&ada, "regenerate_token", json!({"id": fid})).await;
    let fnew = g["secret"].as_str().unwrap();
    assert!(fnew.starts_with("twf_"));
    assert_eq!(whoami(&app, &fold).await.0, StatusCode::UNAUTHORIZED);
    let (status, fafter) = whoami(&app, fnew).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fafter["principal"], fbefore["principal"]);
    assert_eq!(fafter["principal"]["kind"], "forwarder");
    assert_eq!(app.scalar("SELECT count(*) FROM users WHERE kind = 'forwarder'").await, 1);
}

#[tokio::test]
async fn an_exposure_report_answers_the_same_whatever_it_holds_and_revokes_only_real_tokens() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let (_, admin_token) = generate(&app, &ada, "api", "automation").await;
    let (real_id, real) = generate(&app, &ada, "api", "leaked-in-a-gist").await;
    let (revoked_id, revoked) = generate(&app, &ada, "forwarder", "old-forwarder").await;
    app.rpc_ok(&ada, "revoke_token", json!({"id": revoked_id})).await;
    let made_up = TokenSecret::generate(TokenKind::Api).unwrap().expose().to_string();
    let malformed = format!("{}x", &real[..real.len() - 1]);

    let mut answers = Vec::new();
    for credential in [&real, &revoked, &made_up, &malformed, &"not a token at all".to_string()] {
        let body = json!({"credentials": [credential]}).to_string();
        answers.push(report(&app, "127.0.0.1", &body).await);
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0], "every well-formed report gets the same answer");
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);

    // Only the real, active token died; the admin's own token works on.
    assert_eq!(whoami(&app, &real).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, &admin_token).await.0, StatusCode::OK);
    let (_, listed) = get_json(&app, "/api/v1/tokens?status=revoked", &admin_token).await;
    let reasons: Vec<(i64, String)> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["revoked_reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        reasons,
        // Newest first.
        vec![(revoked_id, "revoked".to_string()), (real_id, "reported_exposed".to_string())]
    );
    let exposed = events(&app, &admin_token, "?action=token_reported_exposed").await;
    assert_eq!(exposed.len(), 1);
    assert_eq!(
        (
            exposed[0]["actor"].as_str(),
            exposed[0]["target"].as_str(),
            exposed[0]["address"].as_str()
        ),
        (Some("Anonymous reporter"), Some("leaked-in-a-gist"), Some("127.0.0.1"))
    );

    // Malformed JSON is a 400, more than 100 credentials a 413: neither revokes anything.
    let (_, other) = generate(&app, &ada, "api", "other").await;
    assert_eq!(
        report(&app, "127.0.0.1", "{\"credentials\": \"twa_x\"}").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(report(&app, "127.0.0.1", "not json").await.0, StatusCode::BAD_REQUEST);
    let many: Vec<&str> = std::iter::repeat_n(other.as_str(), 101).collect();
    let (status, _, _) = report(&app, "127.0.0.1", &json!({"credentials": many}).to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(whoami(&app, &other).await.0, StatusCode::OK);
}

#[tokio::test]
async fn exposure_reports_are_throttled_per_client_address() {
    let app = spawn_app().await;
    let body = json!({"credentials": ["twa_nothing"]}).to_string();
    for _ in 0..EXPOSURE_REPORT_LIMIT {
        assert_eq!(report(&app, "127.0.0.3", &body).await.0, StatusCode::ACCEPTED);
    }
    let (status, retry_after, _) = report(&app, "127.0.0.3", &body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.unwrap().parse::<u32>().unwrap() > 0);
    // Malformed reports count too, and another address is not held back.
    assert_eq!(report(&app, "127.0.0.3", "not json").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(report(&app, "127.0.0.4", &body).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_audit_log_is_admins_only_and_shows_one_organization() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Acme", "max@acme.test", Role::Member).await;
    app.add_user("Globex", "hank@globex.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let hank = app.signed_in("hank@globex.test").await;
    let (_, acme_token) = generate(&app, &ada, "api", "acme-automation").await;
    let (_, globex_token) = generate(&app, &hank, "api", "globex-automation").await;
    generate(&app, &hank, "api", "globex-secret-project").await;

    let acme = events(&app, &acme_token, "").await;
    let text = serde_json::to_string(&acme).unwrap();
    assert!(text.contains("acme-automation") && !text.contains("globex"), "{text}");
    // Newest first: ada's token, ada's sign-in, then what the command line did.
    let actions: Vec<&str> = acme.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["token_generated", "signed_in", "user_added", "user_added", "organization_created"]
    );
    assert_eq!(acme[0]["actor"], "ada");
    assert_eq!(acme[0]["address"], "127.0.0.1");
    let theirs = events(&app, &globex_token, "?action=token_generated&q=SECRET").await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["target"], "globex-secret-project");
    let (status, _) = get_json(&app, "/api/v1/audit-events?action=everything", &acme_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A member's token (made while they were an admin) and a File Forwarder token: 403.
    let max_id = app.scalar("SELECT id FROM users WHERE email = 'max@acme.test'").await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id = {max_id}")).await;
    let max = app.signed_in("max@acme.test").await;
    let (_, member_token) = generate(&app, &max, "api", "max-token").await;
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {max_id}")).await;
    let (_, forwarder) = generate(&app, &ada, "forwarder", "dc-east").await;
    for secret in [&member_token, &forwarder] {
        assert_eq!(get_json(&app, "/api/v1/audit-events", secret).await.0, StatusCode::FORBIDDEN);
    }

    // The console's export: the admin's own organization, filtered; members are refused and
    // someone signed out is sent to sign in.
    let res = ada
        .get(app.url("/settings/audit-log/events.csv?action=token_generated"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(res.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,actor,action,target,address,detail");
    assert_eq!(lines.len(), 1 + 3, "{csv}");
    assert!(lines[1..].iter().all(|l| l.contains("Token generated")), "{csv}");
    assert!(!csv.contains("globex"), "{csv}");
    let member = app.signed_in("max@acme.test").await;
    let refused = member.get(app.url("/settings/audit-log/events.csv")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let signed_out = client().get(app.url("/settings/audit-log/events.csv")).send().await.unwrap();
    assert!(signed_out.status().is_redirection());
    assert_eq!(signed_out.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn no_token_value_reaches_the_audit_log_its_export_or_the_server_log() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let (_, admin_token) = generate(&app, &ada, "api", "automation").await;
    let (id, old) = generate(&app, &ada, "api", "ci").await;
    let g = app.rpc_ok(&ada, "regenerate_token", json!({"id": id})).await;
    let new = g["secret"].as_str().unwrap().to_string();
    let made_up = TokenSecret::generate(TokenKind::Forwarder).unwrap().expose().to_string();
    let body = json!({"credentials": [new, old, made_up]}).to_string();
    assert_eq!(report(&app, "127.0.0.5", &body).await.0, StatusCode::ACCEPTED);
    app.login(&client(), "ada@acme.test", "not the password").await;
    // A failed sign-in is recorded just after its answer.
    let mut waited = 0;
    while events(&app, &admin_token, "?action=sign_in_failed").await.is_empty() {
        assert!(waited < 100, "the failed sign-in was never recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    let failed = events(&app, &admin_token, "?action=sign_in_failed").await;
    assert_eq!(
        (failed[0]["actor"].as_str(), failed[0]["target"].as_str()),
        (Some("Anonymous"), Some("ada"))
    );
    let events = events(&app, &admin_token, "").await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in
        ["token_generated", "token_regenerated", "token_reported_exposed", "sign_in_failed"]
    {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let csv = ada
        .get(app.url("/settings/audit-log/events.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret_shape = regex_lite::Regex::new(SECRET_SHAPE).unwrap();
    let json = serde_json::to_string(&events).unwrap();
    for (what, text) in
        [("the audit API", &json), ("the CSV export", &csv), ("the server log", &captured_logs())]
    {
        assert!(secret_shape.find(text).is_none(), "a token value reached {what}");
        for secret in [&admin_token, &new, &made_up] {
            assert!(!text.contains(secret.as_str()), "a token value reached {what}");
        }
    }
    assert!(captured_logs().contains("exposure report"), "log capture is not working");
}
