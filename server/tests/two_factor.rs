//! Two-factor sign-in over HTTP: no session before the second factor, codes and recovery
//! codes work once, the half-finished sign-in expires, sensitive actions need a recent
//! authentication whatever the browser does, and the organization's policy.

mod common;

use app::model::Role;
use common::{client, spawn_app, TestApp, PASSWORD};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use totp_rs::{Builder, Secret};

/// The second step of signing in, posted as the page's form posts it.
#[derive(Clone, Copy)]
enum Proof {
    Code,
    RecoveryCode,
}

async fn second_step(app: &TestApp, who: &Client, proof: Proof, value: &str) -> reqwest::Response {
    let (endpoint, field) = match proof {
        Proof::Code => ("/rpc/verify_code", "code"),
        Proof::RecoveryCode => ("/rpc/verify_recovery_code", "recovery_code"),
    };
    who.post(app.url(endpoint)).form(&[(field, value)]).send().await.unwrap()
}

/// Calls a server function without arguments (form-encoded, as the console does).
async fn call(app: &TestApp, who: &Client, name: &str) -> reqwest::Response {
    who.post(app.url(&format!("/rpc/{name}")))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
}

async fn call_ok(app: &TestApp, who: &Client, name: &str) -> Value {
    let res = call(app, who, name).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{name}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The code an authenticator app with `setup_key` shows at `at`.
fn code_at(setup_key: &str, at: u64) -> String {
    let secret = Secret::try_from_base32(setup_key).expect("the setup key is base 32");
    Builder::new().with_secret(secret).build().unwrap().generate(at).to_string()
}

/// Sets up an authenticator app for `who` and returns its setup key and recovery codes.
async fn enrol(app: &TestApp, who: &Client) -> (String, Vec<String>) {
    let setup = call_ok(app, who, "begin_authenticator_app").await;
    let key = setup["setup_key"].as_str().unwrap().to_string();
    assert!(setup["qr_code"].as_str().unwrap().starts_with("data:image/svg+xml,"));
    let wrong = app.rpc(who, "enable_authenticator_app", json!({"code": "000000"})).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let codes =
        app.rpc_ok(who, "enable_authenticator_app", json!({"code": code_at(&key, now())})).await;
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10);
    (key, codes)
}

/// Signs in with the password; for an account with a second factor the answer leads to the
/// second step and sets no session.
async fn password_step(app: &TestApp, email: &str) -> Client {
    let c = client();
    let res = app.login(&c, email, PASSWORD).await;
    let location = res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
    let cookies: Vec<String> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(location.as_deref(), Some("/login/two-factor"), "{cookies:?}");
    assert!(cookies.iter().all(|c| !c.starts_with("tokenwell_session=")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("tokenwell_pending=") && c.contains("HttpOnly")));
    c
}

async fn signed_in_as(app: &TestApp, c: &Client) -> Option<String> {
    let res = call(app, c, "current_user").await;
    if res.status() != StatusCode::OK {
        return None;
    }
    let viewer: Value = res.json().await.unwrap();
    viewer["email"].as_str().map(str::to_string)
}

#[tokio::test]
async fn no_session_exists_before_the_second_factor_and_each_code_works_once() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let (key, recovery) = enrol(&app, &ada).await;
    let status = call_ok(&app, &ada, "own_two_factor").await;
    assert_eq!(
        (status["authenticator_app"].as_bool(), status["recovery_codes_left"].as_u64()),
        (Some(true), Some(10))
    );

    // The secret is sealed at rest: neither its bytes nor the setup key are in the row.
    let raw = Secret::try_from_base32(&key).unwrap().as_ref().to_vec();
    let stored = app.state.store.bytes_for_test("SELECT secret FROM totp_factors").await;
    assert!(stored.len() > raw.len());
    assert!(!stored.windows(raw.len()).any(|w| w == raw.as_slice()));
    assert!(!stored.windows(key.len()).any(|w| w == key.as_bytes()));
    if app.db.backend() == "sqlite" {
        for entry in std::fs::read_dir(app.db.dir()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw.as_slice()),
                "secret in a database file"
            );
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "setup key in a database file"
            );
            for code in &recovery {
                assert!(
                    !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                    "recovery code in clear"
                );
            }
        }
    }

    // Password right: a half-finished sign-in, no session, no console.
    let bob = password_step(&app, "ada@acme.test").await;
    assert_eq!(signed_in_as(&app, &bob).await, None);
    let page = bob.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(page.headers()[header::LOCATION], "/login");
    let methods = call_ok(&app, &bob, "second_factor_methods").await;
    assert_eq!(
        (methods["authenticator_app"].as_bool(), methods["passkey"].as_bool()),
        (Some(true), Some(false))
    );
    // A wrong code, and the code that turned the app on (its step was used), are refused.
    for code in ["123456".to_string(), code_at(&key, now())] {
        let res = second_step(&app, &bob, Proof::Code, &code).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{code}");
        assert_eq!(signed_in_as(&app, &bob).await, None);
    }
    // The next step's code (within the one-step window) signs in, once.
    let next = code_at(&key, now() + 30);
    let res = second_step(&app, &bob, Proof::Code, &next).await;
    assert_eq!(
        (res.status(), res.headers()[header::LOCATION].to_str().unwrap()),
        (StatusCode::OK, "/settings")
    );
    assert_eq!(signed_in_as(&app, &bob).await.as_deref(), Some("ada@acme.test"));
    let carol = password_step(&app, "ada@acme.test").await;
    let res = second_step(&app, &carol, Proof::Code, &next).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "replayed on another sign-in");

    // A recovery code works once, however it is typed.
    let typed = recovery[0].to_uppercase().replace('-', " ");
    let res = second_step(&app, &carol, Proof::RecoveryCode, &typed).await;
    assert_eq!(
        (res.status(), res.headers()[header::LOCATION].to_str().unwrap()),
        (StatusCode::OK, "/settings")
    );
    assert_eq!(signed_in_as(&app, &carol).await.as_deref(), Some("ada@acme.test"));
    let dave = password_step(&app, "ada@acme.test").await;
    let again = recovery[0].as_str();
    let res = second_step(&app, &dave, Proof::RecoveryCode, again).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Validation"]["field"], "recovery_code");

    // The half-finished sign-in expires: after it, even a good recovery code is refused
    // (and stays unused).
    app.sql("UPDATE pending_auth SET expires_at = 0").await;
    let second = recovery[1].as_str();
    let res = second_step(&app, &dave, Proof::RecoveryCode, second).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(signed_in_as(&app, &dave).await, None);
    let left = call_ok(&app, &ada, "own_two_factor").await;
    assert_eq!(left["recovery_codes_left"].as_u64(), Some(9));
    // Without the cookie there is nothing to finish.
    let res = second_step(&app, &client(), Proof::Code, "123456").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The audit log has each step; a refused second factor is a failed sign-in (written
    // just after the answer).
    let events = app
        .scalar("SELECT count(*) FROM audit_events WHERE action IN ('two_factor_enabled', 'recovery_code_used')")
        .await;
    assert_eq!(events, 2);
    let mut failed = 0;
    for _ in 0..50 {
        failed =
            app.scalar("SELECT count(*) FROM audit_events WHERE action = 'sign_in_failed'").await;
        if failed >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failed, 4, "two wrong codes, a replayed code, a used recovery code");
    // No secret reaches the log: not the setup key, not a recovery code. (A 6-digit code
    // cannot be told from the log's own numbers, so it is not searched for.)
    let logs = common::captured_logs();
    for secret in std::iter::once(&key).chain(&recovery) {
        assert!(!logs.contains(secret.as_str()), "{secret} in the log");
    }

    // Turning it off asks for the password.
    let res = app.rpc(&ada, "turn_off_two_factor", json!({"password": "wrong password!"})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.rpc_ok(&ada, "turn_off_two_factor", json!({"password": PASSWORD})).await;
    let plain = app.signed_in("ada@acme.test").await;
    assert_eq!(signed_in_as(&app, &plain).await.as_deref(), Some("ada@acme.test"));
}

#[tokio::test]
async fn a_half_finished_sign_in_counts_as_a_failed_attempt() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    enrol(&app, &ada).await;
    let failures = || {
        app.scalar("SELECT CAST(coalesce(sum(count), 0) AS BIGINT) FROM throttle_windows WHERE key LIKE 'account:%'")
    };
    let before = failures().await;
    password_step(&app, "ada@acme.test").await;
    assert_eq!(failures().await, before + 1);
}

#[tokio::test]
async fn sensitive_actions_need_a_recent_authentication_whatever_the_browser_does() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let max = app.add_user("Acme", "max@acme.test", Role::Member).await;
    let ada = app.signed_in("ada@acme.test").await;
    let token = app.rpc_ok(&ada, "generate_token", json!({"kind": "api", "name": "ci"})).await;
    let token_id = token["token"]["id"].clone();
    // The sign-in was long ago.
    app.sql("UPDATE sessions SET authenticated_at = 0").await;
    let refused = [
        ("generate_token", json!({"kind": "api", "name": "deploy"})),
        ("regenerate_token", json!({"id": token_id})),
        ("add_user", json!({"name": "Eve", "email": "eve@acme.test", "role": "member"})),
        ("set_user_role", json!({"id": max, "role": "admin"})),
        ("set_user_status", json!({"id": max, "active": false})),
        ("reset_password", json!({"id": max})),
    ];
    for (name, body) in &refused {
        let res = app.rpc(&ada, name, body.clone()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!("ReauthRequired"), "{name}");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM tokens").await, 1, "nothing was made");
    assert_eq!(app.scalar("SELECT count(*) FROM users WHERE role = 'admin'").await, 1);
    // Not sensitive: listing, revoking, enabling.
    app.rpc_ok(
        &ada,
        "list_tokens",
        json!({"query": {"q": "", "kind": null, "status": "all", "page": 1}}),
    )
    .await;
    app.rpc_ok(&ada, "set_user_status", json!({"id": max, "active": true})).await;
    // "Confirm access" with a wrong password changes nothing; the right one opens them again.
    let res =
        app.rpc(&ada, "confirm_access", json!({"password": "not my password", "code": ""})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.rpc(&ada, "generate_token", json!({"kind": "api", "name": "deploy"})).await.status(),
        StatusCode::FORBIDDEN
    );
    app.rpc_ok(&ada, "confirm_access", json!({"password": PASSWORD, "code": ""})).await;
    for (name, body) in refused {
        let res = app.rpc(&ada, name, body).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}: {}", res.text().await.unwrap());
    }
}

#[tokio::test]
async fn confirm_access_takes_an_authenticator_code_once() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let (key, _) = enrol(&app, &ada).await;
    app.sql("UPDATE sessions SET authenticated_at = 0").await;
    let code = code_at(&key, now() + 30);
    app.rpc_ok(&ada, "confirm_access", json!({"password": "", "code": code})).await;
    app.rpc_ok(&ada, "generate_token", json!({"kind": "api", "name": "deploy"})).await;
    app.sql("UPDATE sessions SET authenticated_at = 0").await;
    let res = app.rpc(&ada, "confirm_access", json!({"password": "", "code": code})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "replayed");
}

#[tokio::test]
async fn the_policy_sends_people_without_a_second_factor_to_set_one_up_first() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Acme", "grace@acme.test", Role::Admin).await;
    app.add_user("Acme", "max@acme.test", Role::Member).await;
    let ada = app.signed_in("ada@acme.test").await;
    // Not without a second factor of one's own.
    let res = app.rpc(&ada, "set_two_factor_policy", json!({"required": true})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(call_ok(&app, &ada, "two_factor_policy").await, json!(false));
    let (key, _) = enrol(&app, &ada).await;
    app.rpc_ok(&ada, "set_two_factor_policy", json!({"required": true})).await;
    assert_eq!(call_ok(&app, &ada, "two_factor_policy").await, json!(true));
    // Members may not change it.
    let max = app.signed_in("max@acme.test").await;
    assert_eq!(
        app.rpc(&max, "set_two_factor_policy", json!({"required": false})).await.status(),
        StatusCode::FORBIDDEN
    );
    // Without a factor: every page leads to the account page, where it is set up; admin
    // actions are refused until then.
    for path in ["/settings", "/settings/auth-tokens", "/"] {
        let page = max.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            page.headers().get(header::LOCATION).map(|v| v.to_str().unwrap()),
            Some("/account"),
            "{path}"
        );
    }
    assert_eq!(max.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    let grace = app.signed_in("grace@acme.test").await;
    let res = app
        .rpc(
            &grace,
            "list_tokens",
            json!({"query": {"q": "", "kind": null, "status": "all", "page": 1}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert!(body["Refused"].as_str().unwrap().contains("requires two-factor"), "{body}");
    let viewer = call_ok(&app, &max, "current_user").await;
    assert_eq!(
        (viewer["two_factor_required"].as_bool(), viewer["two_factor"].as_bool()),
        (Some(true), Some(false))
    );
    // Set up, the console opens.
    enrol(&app, &max).await;
    assert_eq!(max.get(app.url("/settings")).send().await.unwrap().status(), StatusCode::OK);
    // The Users tab shows who has it.
    let users = app.rpc_ok(&ada, "list_users", json!({"q": "", "page": 1})).await;
    let on: Vec<(String, bool)> = users["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap().to_string(), u["two_factor"].as_bool().unwrap()))
        .collect();
    assert!(
        on.contains(&("grace@acme.test".into(), false))
            && on.contains(&("max@acme.test".into(), true)),
        "{on:?}"
    );
    // While required, nobody turns theirs off.
    let res = app.rpc(&max, "turn_off_two_factor", json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let _ = key;
}

#[tokio::test]
async fn passkey_ceremonies_are_for_the_public_host_and_refuse_made_up_answers() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let challenge = call_ok(&app, &ada, "begin_passkey_registration").await;
    let options: Value = serde_json::from_str(challenge["options"].as_str().unwrap()).unwrap();
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
    let made_up = json!({"id": "x", "rawId": "eA", "type": "public-key",
        "response": {"clientDataJSON": "e30", "attestationObject": "oA"}});
    let res = app
        .rpc(
            &ada,
            "finish_passkey_registration",
            json!({"ceremony": challenge["ceremony"], "credential": made_up.to_string()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The ceremony ended with that answer.
    assert_eq!(
        app.scalar("SELECT count(*) FROM pending_auth WHERE purpose = 'passkey_registration'")
            .await,
        0
    );
    assert_eq!(app.scalar("SELECT count(*) FROM passkeys").await, 0);

    let stranger = client();
    let options = call_ok(&app, &stranger, "begin_passkey_sign_in").await;
    let options: Value = serde_json::from_str(options.as_str().unwrap()).unwrap();
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert!(options.get("mediation").is_none());
    let made_up = json!({"id": "x", "rawId": "eA", "type": "public-key",
        "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA", "userHandle": "AA"}});
    let res = app
        .rpc(&stranger, "finish_passkey_sign_in", json!({"credential": made_up.to_string()}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(signed_in_as(&app, &stranger).await, None);
    // Anyone may start one, so each address may start only so many: each keeps a challenge.
    for _ in 1..app::server::throttle::PASSKEY_SIGN_IN_LIMIT {
        call_ok(&app, &stranger, "begin_passkey_sign_in").await;
    }
    let res = call(&app, &stranger, "begin_passkey_sign_in").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn an_admin_resets_the_second_factor_someone_lost() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let tess = app.add_user("Acme", "tess@acme.test", Role::Member).await;
    let ada = app.signed_in("ada@acme.test").await;
    let tess_client = app.signed_in("tess@acme.test").await;
    enrol(&app, &tess_client).await;
    // Members may not; nobody resets their own here; a session must be recent.
    let res = app.rpc(&tess_client, "reset_two_factor", json!({"id": tess})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let ada_id = app.scalar("SELECT id FROM users WHERE email = 'ada@acme.test'").await;
    let res = app.rpc(&ada, "reset_two_factor", json!({"id": ada_id})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.sql("UPDATE sessions SET authenticated_at = 0").await;
    let res = app.rpc(&ada, "reset_two_factor", json!({"id": tess})).await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!("ReauthRequired"));
    app.rpc_ok(&ada, "confirm_access", json!({"password": PASSWORD, "code": ""})).await;
    let row = app.rpc_ok(&ada, "reset_two_factor", json!({"id": tess})).await;
    assert_eq!(row["two_factor"], json!(false));
    // Her sessions ended; her password alone signs her in again.
    assert_eq!(signed_in_as(&app, &tess_client).await, None);
    let again = app.signed_in("tess@acme.test").await;
    assert_eq!(signed_in_as(&app, &again).await.as_deref(), Some("tess@acme.test"));
    let detail = app
        .scalar("SELECT count(*) FROM audit_events WHERE action = 'two_factor_disabled' AND detail = 'reset by an admin'")
        .await;
    assert_eq!(detail, 1);
    // Nothing left to reset.
    let res = app.rpc(&ada, "reset_two_factor", json!({"id": tess})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones_after_a_recent_authentication() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    // Without an authenticator app there is nothing to replace.
    assert_eq!(call(&app, &ada, "replace_recovery_codes").await.status(), StatusCode::FORBIDDEN);
    let (_, old) = enrol(&app, &ada).await;
    app.sql("UPDATE sessions SET authenticated_at = 0").await;
    let res = call(&app, &ada, "replace_recovery_codes").await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!("ReauthRequired"));
    app.rpc_ok(&ada, "confirm_access", json!({"password": PASSWORD, "code": ""})).await;
    let new: Vec<String> =
        serde_json::from_value(call_ok(&app, &ada, "replace_recovery_codes").await).unwrap();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let events = app
        .scalar("SELECT count(*) FROM audit_events WHERE action = 'recovery_codes_replaced'")
        .await;
    assert_eq!(events, 1);
    // An old code no longer signs in; a new one does.
    let bob = password_step(&app, "ada@acme.test").await;
    let res = second_step(&app, &bob, Proof::RecoveryCode, &old[0]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = second_step(&app, &bob, Proof::RecoveryCode, &new[0]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(signed_in_as(&app, &bob).await.as_deref(), Some("ada@acme.test"));
}
