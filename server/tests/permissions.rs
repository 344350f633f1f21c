//! The permission table through both doors: for every caller (a session of each role, an
//! admin still on an initial password, an API/CLI token of each role, a File Forwarder
//! token), every console server function and every API endpoint answers as
//! `Principal::may` says: its usual answer when allowed, 403 when not. The table itself is
//! checked against the contract cell by cell in `app::server::principal`.

mod common;

use std::collections::BTreeSet;

use app::{
    api::PUBLIC_ENDPOINTS,
    error::AppError,
    model::Role,
    server::{
        principal::{Action, Principal},
        session,
        token_secret::TokenSecret,
    },
};
use common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use utoipa::OpenApi;

/// A server function: its action, and a call that changes nothing whatever the answer.
/// `allowed` is the status a caller the table lets through gets for this call.
struct Rpc {
    path: &'static str,
    action: Action,
    /// JSON arguments; `None` for a form-encoded function without arguments.
    body: Option<Value>,
    allowed: fn(StatusCode) -> bool,
}

/// Every server function that needs a session, sign-out last (it ends the session).
fn console() -> Vec<Rpc> {
    let ok = |s: StatusCode| s == StatusCode::OK;
    let invalid = |s: StatusCode| s == StatusCode::BAD_REQUEST;
    let unknown = |s: StatusCode| s == StatusCode::NOT_FOUND;
    vec![
        Rpc { path: "/rpc/current_user", action: Action::WhoAmI, body: None, allowed: ok },
        Rpc {
            path: "/rpc/list_tokens",
            action: Action::ListTokens,
            body: Some(json!({"query": {"q": "", "kind": null, "status": "active", "page": 1}})),
            allowed: ok,
        },
        Rpc {
            path: "/rpc/generate_token",
            action: Action::GenerateToken,
            body: Some(json!({"kind": "api", "name": " "})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/revoke_token",
            action: Action::RevokeToken,
            body: Some(json!({"id": 999_999})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/regenerate_token",
            action: Action::RegenerateToken,
            body: Some(json!({"id": 999_999})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/list_audit_events",
            action: Action::ListAuditEvents,
            body: Some(json!({"query": {"q": "", "action": null, "page": 1}})),
            allowed: ok,
        },
        Rpc {
            path: "/rpc/list_users",
            action: Action::ListUsers,
            body: Some(json!({"q": "", "page": 1})),
            allowed: ok,
        },
        Rpc {
            path: "/rpc/add_user",
            action: Action::AddUser,
            body: Some(json!({"name": "Nobody", "email": "not an email", "role": "member"})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/set_user_role",
            action: Action::ChangeUserRole,
            body: Some(json!({"id": 999_999, "role": "member"})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/set_user_status",
            action: Action::SetUserStatus,
            body: Some(json!({"id": 999_999, "active": false})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/reset_password",
            action: Action::ResetPassword,
            body: Some(json!({"id": 999_999})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/reset_two_factor",
            action: Action::ResetTwoFactor,
            body: Some(json!({"id": 999_999})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/change_password",
            action: Action::ChangeOwnPassword,
            body: Some(json!({"current": "not the password", "new": "x", "confirm": "x"})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/own_two_factor",
            action: Action::ManageOwnTwoFactor,
            body: None,
            allowed: ok,
        },
        Rpc {
            path: "/rpc/begin_authenticator_app",
            action: Action::ManageOwnTwoFactor,
            body: None,
            allowed: ok,
        },
        Rpc {
            path: "/rpc/enable_authenticator_app",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"code": "not a code"})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/replace_recovery_codes",
            action: Action::ManageOwnTwoFactor,
            body: None,
            // Nobody here has an authenticator app on: refused with a reason.
            allowed: |s| s == StatusCode::FORBIDDEN,
        },
        Rpc {
            path: "/rpc/turn_off_two_factor",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"password": "not the password"})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/begin_passkey_registration",
            action: Action::ManageOwnTwoFactor,
            body: None,
            allowed: ok,
        },
        Rpc {
            path: "/rpc/finish_passkey_registration",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"ceremony": "unknown", "credential": "{}"})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/rename_passkey",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"id": 999_999, "name": "Laptop"})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/remove_passkey",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"id": 999_999})),
            allowed: unknown,
        },
        Rpc {
            path: "/rpc/confirm_access",
            action: Action::ManageOwnTwoFactor,
            body: Some(json!({"password": "not the password", "code": ""})),
            allowed: invalid,
        },
        Rpc {
            path: "/rpc/two_factor_policy",
            action: Action::SetTwoFactorPolicy,
            body: None,
            allowed: ok,
        },
        Rpc {
            path: "/rpc/set_two_factor_policy",
            action: Action::SetTwoFactorPolicy,
            body: Some(json!({"required": false})),
            allowed: ok,
        },
        Rpc {
            path: "/rpc/logout",
            action: Action::SignOut,
            body: None,
            allowed: |s| s.is_success() || s.is_redirection(),
        },
    ]
}

/// An API endpoint: its action, and a call whose answer `allowed` recognises when the table
/// lets the caller through.
struct Endpoint {
    method: &'static str,
    /// As the OpenAPI document names it.
    path: &'static str,
    /// As called.
    url: &'static str,
    action: Action,
    allowed: StatusCode,
}

fn api() -> Vec<Endpoint> {
    let endpoint =
        |method, path, url, action, allowed| Endpoint { method, path, url, action, allowed };
    vec![
        endpoint("GET", "/api/v1/whoami", "/api/v1/whoami", Action::WhoAmI, StatusCode::OK),
        endpoint(
            "POST",
            "/api/v1/files",
            "/api/v1/files?name=a.txt",
            Action::UploadFile,
            StatusCode::CREATED,
        ),
        endpoint("GET", "/api/v1/files", "/api/v1/files", Action::ListFiles, StatusCode::OK),
        endpoint("GET", "/api/v1/tokens", "/api/v1/tokens", Action::ListTokens, StatusCode::OK),
        // A blank name: refused as input, after the caller's right is established.
        endpoint(
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens",
            Action::GenerateToken,
            StatusCode::BAD_REQUEST,
        ),
        endpoint(
            "DELETE",
            "/api/v1/tokens/{id}",
            "/api/v1/tokens/999999",
            Action::RevokeToken,
            StatusCode::NOT_FOUND,
        ),
        endpoint(
            "POST",
            "/api/v1/tokens/{id}/regenerate",
            "/api/v1/tokens/999999/regenerate",
            Action::RegenerateToken,
            StatusCode::NOT_FOUND,
        ),
        endpoint(
            "GET",
            "/api/v1/audit-events",
            "/api/v1/audit-events",
            Action::ListAuditEvents,
            StatusCode::OK,
        ),
    ]
}

/// The API's one endpoint without authentication: anyone may report an exposed token
/// (`server/tests/audit.rs` tries it).
const UNAUTHENTICATED_API: (&str, &str) = ("POST", "/api/v1/credentials/revoke");

/// The session cookie (`name=value`) of a fresh sign-in as `email`.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let res = app.login(&client(), email, PASSWORD).await;
    assert!(res.status().is_success(), "sign-in as {email}: {}", res.status());
    res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

/// The principal the server resolves for this session cookie.
async fn session_principal(app: &TestApp, cookie: &str) -> Principal {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::COOKIE, cookie.parse().unwrap());
    session::resolve(&app.state, &headers).await.unwrap().expect("a live session")
}

/// Generates a token in the console through `cookie`'s session; returns its secret.
async fn generate(app: &TestApp, cookie: &str, kind: &str, name: &str) -> String {
    let res =
        call_rpc(app, cookie, "/rpc/generate_token", Some(json!({"kind": kind, "name": name})))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["secret"].as_str().unwrap().to_string()
}

async fn call_rpc(
    app: &TestApp,
    cookie: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let req = client().post(app.url(path)).header(header::COOKIE, cookie);
    let req = match body {
        Some(body) => req.header(header::CONTENT_TYPE, "application/json").body(body.to_string()),
        None => req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
    };
    req.send().await.unwrap()
}

async fn call_api(
    app: &TestApp,
    endpoint: &Endpoint,
    credential: Credential<'_>,
) -> reqwest::Response {
    let c = client();
    let url = app.url(endpoint.url);
    let req = match endpoint.method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "DELETE" => c.delete(url),
        other => unreachable!("{other}"),
    };
    let req = match endpoint.action {
        Action::GenerateToken => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(json!({"type": "api", "name": " "}).to_string()),
        _ => req.body("file contents"),
    };
    let req = match credential {
        Credential::Token(secret) => req.bearer_auth(secret),
        Credential::Cookie(cookie) => req.header(header::COOKIE, cookie),
    };
    req.send().await.unwrap()
}

#[derive(Clone, Copy)]
enum Credential<'a> {
    Token(&'a str),
    Cookie(&'a str),
}

#[tokio::test]
async fn every_door_answers_as_the_permission_table_says() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let max = app.add_user("Acme", "max@acme.test", Role::Member).await;
    let rex = app.add_user("Acme", "rex@acme.test", Role::ReadOnly).await;
    let eve = app.add_user("Acme", "eve@acme.test", Role::Admin).await;
    // Eve signs in with an initial password that an admin generated a moment ago.
    app.sql(&format!(
        "UPDATE users SET must_change_password = TRUE, password_set_at = {} WHERE id = {eve}",
        app::server::now()
    ))
    .await;
    let admin = sign_in(&app, "ada@acme.test").await;
    let member = sign_in(&app, "max@acme.test").await;
    let reader = sign_in(&app, "rex@acme.test").await;
    let initial = sign_in(&app, "eve@acme.test").await;

    // Only admins generate tokens; a member's or read-only user's token is one they made
    // while they were admins. Roles are read on every request, so the same sessions do.
    let admin_token = generate(&app, &admin, "api", "admin-token").await;
    let forwarder_token = generate(&app, &admin, "forwarder", "dc-east").await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id IN ({max}, {rex})")).await;
    let member_token = generate(&app, &member, "api", "member-token").await;
    let reader_token = generate(&app, &reader, "api", "reader-token").await;
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {max}")).await;
    app.sql(&format!("UPDATE users SET role = 'read_only' WHERE id = {rex}")).await;

    // Every door is walked: the lists are every registered server function and every
    // endpoint of the API's document.
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .filter(|path| !PUBLIC_ENDPOINTS.contains(&path.as_str()))
        .collect();
    let walked: BTreeSet<String> = console().iter().map(|r| r.path.to_string()).collect();
    assert_eq!(registered, walked, "give each new server function a line in console()");
    let document = serde_json::to_value(server::http::api::ApiDoc::openapi()).unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone()))
        })
        .filter(|(method, path)| (method.as_str(), path.as_str()) != UNAUTHENTICATED_API)
        .collect();
    let walked: BTreeSet<(String, String)> =
        api().iter().map(|e| (e.method.to_string(), e.path.to_string())).collect();
    assert_eq!(documented, walked, "give each new API endpoint a line in api()");

    // The console, for a session of each kind.
    for (who, cookie) in [
        ("admin", &admin),
        ("member", &member),
        ("read-only user", &reader),
        ("admin on an initial password", &initial),
    ] {
        let principal = session_principal(&app, cookie).await;
        for rpc in console() {
            let res = call_rpc(&app, cookie, rpc.path, rpc.body.clone()).await;
            let status = res.status();
            let text = res.text().await.unwrap();
            let what = format!("{} as {who}: {status} {text}", rpc.path);
            match principal.authorize(rpc.action) {
                Ok(()) => assert!((rpc.allowed)(status), "{what}"),
                Err(refusal) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    let error: AppError = serde_json::from_str(&text).expect(&what);
                    assert_eq!(error, AppError::from(refusal), "{what}");
                }
            }
        }
        // A session does not open the API, whatever the table gives its role.
        for endpoint in api() {
            let res = call_api(&app, &endpoint, Credential::Cookie(cookie)).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{} {} as {who}",
                endpoint.method,
                endpoint.path
            );
        }
    }

    // The API, for a token of each kind.
    for (who, secret) in [
        ("admin's API/CLI token", &admin_token),
        ("member's API/CLI token", &member_token),
        ("read-only user's API/CLI token", &reader_token),
        ("File Forwarder token", &forwarder_token),
    ] {
        let principal =
            Principal::from_token(&app.state, &TokenSecret::parse(secret).unwrap(), None)
                .await
                .unwrap_or_else(|e| panic!("{who}: {e:?}"));
        for endpoint in api() {
            let res = call_api(&app, &endpoint, Credential::Token(secret)).await;
            let status = res.status();
            let challenge = res.headers().get(header::WWW_AUTHENTICATE).cloned();
            let text = res.text().await.unwrap();
            let what = format!("{} {} as {who}: {status} {text}", endpoint.method, endpoint.path);
            if principal.may(endpoint.action) {
                assert_eq!(status, endpoint.allowed, "{what}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                let body: Value = serde_json::from_str(&text).expect(&what);
                assert_eq!(body["error"]["code"], "insufficient_scope", "{what}");
                assert_eq!(
                    body["error"]["message"],
                    format!("This token may not {}.", endpoint.action.what()),
                    "{what}"
                );
                assert!(
                    challenge.unwrap().to_str().unwrap().contains("insufficient_scope"),
                    "{what}"
                );
            }
        }
        // A token does not open the console.
        for rpc in console() {
            let res = client()
                .post(app.url(rpc.path))
                .bearer_auth(secret)
                .header(header::CONTENT_TYPE, "application/json")
                .body(rpc.body.unwrap_or(json!({})).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} as {who}", rpc.path);
        }
    }
}
