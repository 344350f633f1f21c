//! User management: adding people, roles, disabling and enabling, own password.

mod common;

use app::model::Role;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn user_actions_are_admin_only_and_scoped_to_the_organization() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let max = app.add_user("Acme", "max@acme.test", Role::Member).await;
    let hank = app.add_user("Globex", "hank@globex.test", Role::Admin).await;
    let member = app.signed_in("max@acme.test").await;
    let calls = [
        ("add_user", json!({"name": "Eve", "email": "eve@acme.test", "role": "admin"})),
        ("set_user_role", json!({"id": max, "role": "admin"})),
        ("set_user_status", json!({"id": max, "active": false})),
    ];
    for (name, body) in &calls {
        assert_eq!(
            app.rpc(&member, name, body.clone()).await.status(),
            StatusCode::FORBIDDEN,
            "{name}"
        );
    }
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM users WHERE email = 'eve@acme.test' OR role = 'admin' AND id = 2"
        )
        .await,
        0
    );
    // An admin of Acme cannot touch Globex's admin: it answers like an unknown id.
    let ada = app.signed_in("ada@acme.test").await;
    for body in [json!({"id": hank, "role": "member"}), json!({"id": 99999, "role": "member"})] {
        assert_eq!(app.rpc(&ada, "set_user_role", body).await.status(), StatusCode::NOT_FOUND);
    }
    for id in [hank, 99999] {
        assert_eq!(
            app.rpc(&ada, "set_user_status", json!({"id": id, "active": false})).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM users WHERE id = {hank} AND role = 'admin' AND status = 'active'"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn guards_refuse_self_changes_and_losing_the_last_admin() {
    let app = spawn_app().await;
    let ada_id = app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let res = app.rpc(&ada, "set_user_role", json!({"id": ada_id, "role": "member"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("cannot change your own role"));
    let res = app.rpc(&ada, "set_user_status", json!({"id": ada_id, "active": false})).await;
    assert!(res.text().await.unwrap().contains("cannot disable yourself"));
    // With a second admin, Ada may be demoted by them — but then Bob is the last one.
    let bob_id = app.add_user("Acme", "bob@acme.test", Role::Admin).await;
    let bob = app.signed_in("bob@acme.test").await;
    app.rpc_ok(&bob, "set_user_role", json!({"id": ada_id, "role": "read_only"})).await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id = {ada_id}")).await;
    app.sql(&format!("UPDATE users SET status = 'disabled' WHERE id = {ada_id}")).await;
    let carol = app.add_user("Acme", "carol@acme.test", Role::Admin).await;
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {carol}")).await;
    let res = app.rpc(&bob, "set_user_role", json!({"id": bob_id, "role": "member"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'").await,
        1
    );
}

#[tokio::test]
async fn disabling_ends_sessions_and_tokens_and_enabling_restores_tokens() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let bob_id = app.add_user("Acme", "bob@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let bob = app.signed_in("bob@acme.test").await;
    let token = app.rpc_ok(&bob, "generate_token", json!({"kind": "api", "name": "bob-cli"})).await
        ["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let whoami = |t: String| {
        let url = app.url("/api/v1/whoami");
        async move { client().get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(whoami(token.clone()).await, StatusCode::OK);

    let row = app.rpc_ok(&ada, "set_user_status", json!({"id": bob_id, "active": false})).await;
    assert_eq!(row["status"], "disabled");
    assert_eq!(app.rpc(&bob, "current_user", json!({})).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(&client(), "bob@acme.test", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    app.rpc_ok(&ada, "set_user_status", json!({"id": bob_id, "active": true})).await;
    assert_eq!(whoami(token.clone()).await, StatusCode::OK);

    // Role changes apply to the next API request.
    let tokens = |t: String| {
        let url = app.url("/api/v1/tokens");
        async move { client().get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(tokens(token.clone()).await, StatusCode::OK);
    app.rpc_ok(&ada, "set_user_role", json!({"id": bob_id, "role": "member"})).await;
    assert_eq!(tokens(token.clone()).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn service_accounts_cannot_sign_in_or_get_a_role() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    app.rpc_ok(&ada, "generate_token", json!({"kind": "forwarder", "name": "dc-east"})).await;
    let svc = app.scalar("SELECT id FROM users WHERE kind = 'forwarder'").await;
    let res = app.rpc(&ada, "set_user_role", json!({"id": svc, "role": "admin"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for email in ["Forwarder: dc-east", "forwarder: dc-east", ""] {
        assert_eq!(app.login(&client(), email, "").await.status(), StatusCode::UNAUTHORIZED);
    }
    // The schema itself refuses a password or an email on a service account.
    let r = app
        .state
        .store
        .try_execute_for_test(
            "UPDATE users SET password_hash = 'x', email = 'svc@acme.test' WHERE id = $1",
            &[svc],
        )
        .await;
    assert!(r.is_err());
    // Disabling the account stops its token though the token is not revoked.
    let row = app.rpc_ok(&ada, "set_user_status", json!({"id": svc, "active": false})).await;
    assert_eq!(row["token"]["name"], "dc-east");
    assert_eq!(row["token"]["revoked"], false);
}

#[tokio::test]
async fn added_users_get_a_one_time_password_and_must_replace_it() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let res = app
        .rpc(&ada, "add_user", json!({"name": "Eve", "email": "Eve@Acme.test", "role": "admin"}))
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let new: Value = res.json().await.unwrap();
    let initial = new["initial_password"].as_str().unwrap().to_string();
    assert!(initial.len() >= 20 && initial.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(new["user"]["email"], "eve@acme.test");
    let dup = app
        .rpc(&ada, "add_user", json!({"name": "Eve 2", "email": "eve@acme.test", "role": "member"}))
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);

    let eve = client();
    assert_eq!(app.login(&eve, "eve@acme.test", &initial).await.status(), StatusCode::OK);
    let me = app.rpc_ok(&eve, "current_user", json!({})).await;
    assert_eq!(me["must_change_password"], true);
    // Until she sets her own password, the admin functions stay closed.
    assert_eq!(
        app.rpc(
            &eve,
            "list_tokens",
            json!({"query": {"q": "", "kind": null, "status": "active", "page": 1}})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let wrong = app.rpc(&eve, "change_password", json!({"current": "nope", "new": "a brand new passphrase", "confirm": "a brand new passphrase"})).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let other_session = client();
    app.login(&other_session, "eve@acme.test", &initial).await;
    app.rpc_ok(&eve, "change_password", json!({"current": initial, "new": "a brand new passphrase", "confirm": "a brand new passphrase"})).await;
    assert_eq!(
        app.rpc(
            &eve,
            "list_tokens",
            json!({"query": {"q": "", "kind": null, "status": "active", "page": 1}})
        )
        .await
        .status(),
        StatusCode::OK
    );
    // Her other session ended; the old password no longer works.
    assert_eq!(
        app.rpc(&other_session, "current_user", json!({})).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&client(), "eve@acme.test", &initial).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&client(), "eve@acme.test", "a brand new passphrase").await.status(),
        StatusCode::OK
    );
}
