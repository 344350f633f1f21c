//! Sign-in and password rules under attack: concurrent guessing, lock-out by a stranger,
//! guessable passwords, expired initial passwords, session ids across a password change.

mod common;

use std::net::IpAddr;

use app::model::Role;
use common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

/// A browser-like client whose connections come from `addr` (any of 127.0.0.0/8).
/// `n` sign-ins as Ada with a wrong password, one after another; their statuses.
async fn wrong_passwords_for_ada(
    app: &TestApp,
    client: &reqwest::Client,
    n: usize,
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(app.login(client, "ada@acme.test", "not her password").await.status());
    }
    statuses
}

fn client_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(addr.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tokenwell_session=") && !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn sixty_concurrent_guesses_reach_the_password_check_at_most_five_times() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let before = app.state.passwords.verifications();
    let guesses = (0..60).map(|i| {
        let app_url = app.url("/rpc/login");
        async move {
            client()
                .post(app_url)
                .form(&[
                    ("email", "ada@acme.test"),
                    ("password", &format!("guess number {i:02} x")),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let answers = futures_join_all(guesses).await;
    let verified = app.state.passwords.verifications() - before;
    assert!(verified <= 5, "{verified} guesses reached password verification");
    let mut refused = 0;
    for res in answers {
        let status = res.status();
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    res.headers().contains_key(header::RETRY_AFTER),
                    "{status} without Retry-After"
                );
                refused += 1;
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert!(refused >= 55, "only {refused} of 60 refused");
}

/// `futures::future::join_all` without the dependency: spawn each and await in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn failures_from_one_address_do_not_keep_the_owner_out_from_another() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let attacker = client_from("127.0.0.2");
    let statuses = wrong_passwords_for_ada(&app, &attacker, 8).await;
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(&statuses[5..], &[StatusCode::TOO_MANY_REQUESTS; 3]);
    // The attacker's address stays blocked for this account, even with the right password…
    assert_eq!(
        app.login(&attacker, "ada@acme.test", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // …but the owner, elsewhere, signs in.
    let owner = client_from("127.0.0.3");
    assert_eq!(app.login(&owner, "ada@acme.test", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.rpc_ok(&owner, "current_user", json!({})).await["email"], "ada@acme.test");
}

#[tokio::test]
async fn guesses_from_many_addresses_are_spaced_out_while_the_owner_walks_in() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    // Ada has signed in from her usual address before.
    assert_eq!(
        app.login(&client_from("127.0.0.4"), "ada@acme.test", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Twenty guesses from four other addresses, all at once.
    let guesses = (0..20).map(|i| {
        let url = app.url("/rpc/login");
        async move {
            let res = client_from(&format!("127.0.1.{}", 10 + i % 4))
                .post(url)
                .form(&[("email", "ada@acme.test"), ("password", "not her password")])
                .send()
                .await
                .unwrap();
            (res.status(), res.headers().contains_key(header::RETRY_AFTER))
        }
    });
    let guesses: Vec<_> = guesses.collect();
    let attack = tokio::spawn(futures_join_all(guesses));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // While the guesses queue up, Ada signs in from her usual address without waiting in line…
    assert_eq!(
        app.login(&client_from("127.0.0.4"), "ada@acme.test", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert!(!attack.is_finished(), "the guesses should still be waiting for their turns");
    let answers = attack.await.unwrap();
    // …while the guesses reached the password check one turn at a time, and those whose turn
    // was too far away were refused outright.
    let checked = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
    let refused =
        answers.iter().filter(|(s, retry)| *s == StatusCode::TOO_MANY_REQUESTS && *retry).count();
    assert_eq!(checked + refused, 20, "{answers:?}");
    assert!((5..=12).contains(&checked), "{checked} guesses were checked: {answers:?}");
}

#[tokio::test]
async fn an_over_long_email_is_refused_before_any_work() {
    let app = spawn_app().await;
    let before = app.state.passwords.verifications();
    let email = format!("{}@acme.test", "a".repeat(250));
    let res = app.login(&client(), &email, "whatever whatever").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("BadCredentials"));
    assert_eq!(app.state.passwords.verifications(), before);
}

async fn field_error(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (status, body["Validation"].clone())
}

#[tokio::test]
async fn guessable_passwords_are_refused_at_setup_first_change_and_account() {
    let app = spawn_app().await;
    let setup = |password: &'static str| {
        let url = app.url("/rpc/setup");
        async move {
            client()
                .post(url)
                .form(&[
                    ("organization", "Acme"),
                    ("name", "Ada"),
                    ("email", "ada@acme.test"),
                    ("password", password),
                    ("confirm_password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for weak in ["aaaaaaaaaaaa", "password1234", "ada@acme.test1"] {
        let (status, error) = field_error(setup(weak).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}");
        assert_eq!(error["field"], "password");
        assert!(error["message"].as_str().unwrap().contains("too easy to guess"), "{error}");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 0);
    assert_eq!(setup(PASSWORD).await.status(), StatusCode::OK);

    // Ada's own change on /account.
    let ada = app.signed_in("ada@acme.test").await;
    let change = |c: &reqwest::Client, current: &str, new: &str| {
        let body = json!({"current": current, "new": new, "confirm": new});
        let (app, c) = (&app, c.clone());
        async move { app.rpc(&c, "change_password", body).await }
    };
    let (status, error) = field_error(change(&ada, PASSWORD, "qwertyuiop123").await).await;
    assert_eq!((status, error["field"].as_str()), (StatusCode::BAD_REQUEST, Some("new")));

    // A user she adds must replace the initial password with a strong one.
    let new: Value = app
        .rpc_ok(
            &ada,
            "add_user",
            json!({"name": "Max", "email": "max@acme.test", "role": "member"}),
        )
        .await;
    let initial = new["initial_password"].as_str().unwrap().to_string();
    let max = client();
    assert_eq!(app.login(&max, "max@acme.test", &initial).await.status(), StatusCode::OK);
    let (status, error) = field_error(change(&max, &initial, "maxmaxmaxmax").await).await;
    assert_eq!((status, error["field"].as_str()), (StatusCode::BAD_REQUEST, Some("new")));
    assert_eq!(
        change(&max, &initial, "plinth marmot sixty quarrel").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_initial_password_is_refused_until_an_admin_resets_it() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let new: Value = app
        .rpc_ok(
            &ada,
            "add_user",
            json!({"name": "Max", "email": "max@acme.test", "role": "member"}),
        )
        .await;
    let initial = new["initial_password"].as_str().unwrap().to_string();
    let id = new["user"]["id"].as_i64().unwrap();
    let early = client();
    assert_eq!(app.login(&early, "max@acme.test", &initial).await.status(), StatusCode::OK);
    // 72 hours and a minute later.
    app.sql(&format!(
        "UPDATE users SET password_set_at = password_set_at - {} WHERE id = {id}",
        72 * 3600 + 60
    ))
    .await;
    let res = app.login(&client(), "max@acme.test", &initial).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert!(res.text().await.unwrap().contains("expired"));
    // A session opened with it before it expired ends with it.
    assert_eq!(app.rpc(&early, "current_user", json!({})).await.status(), StatusCode::UNAUTHORIZED);
    // A wrong password still gets the usual answer: expiry is told only to who knows it.
    let res = app.login(&client(), "max@acme.test", "plinth marmot sixty quarrel").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let reset: Value = app.rpc_ok(&ada, "reset_password", json!({"id": id})).await;
    let fresh = reset["initial_password"].as_str().unwrap();
    assert_ne!(fresh, initial);
    let max = client();
    assert_eq!(app.login(&max, "max@acme.test", fresh).await.status(), StatusCode::OK);
    assert_eq!(app.rpc_ok(&max, "current_user", json!({})).await["must_change_password"], true);
    // Nobody resets their own password this way, nor a service account's, nor another
    // organization's user's.
    let own = app
        .rpc(
            &ada,
            "reset_password",
            json!({"id": app.scalar("SELECT id FROM users WHERE email = 'ada@acme.test'").await}),
        )
        .await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN);
    let other = app.add_user("Initech", "bill@initech.test", Role::Member).await;
    assert_eq!(
        app.rpc(&ada, "reset_password", json!({"id": other})).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.rpc(&max, "reset_password", json!({"id": id})).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_password_change_gives_a_new_session_id_and_ends_every_old_one() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = client();
    let old = session_cookie(&app.login(&ada, "ada@acme.test", PASSWORD).await).unwrap();
    let res = app
        .rpc(&ada, "change_password", json!({"current": PASSWORD, "new": "plinth marmot sixty quarrel", "confirm": "plinth marmot sixty quarrel"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = session_cookie(&res).expect("a new session cookie");
    assert_ne!(new, old);
    let raw = reqwest::Client::new();
    let status_with = |cookie: String| {
        let req = raw.post(app.url("/rpc/current_user")).header(header::COOKIE, cookie);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(status_with(old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(new).await, StatusCode::OK);
    // The client that made the change carries on with the new cookie.
    assert_eq!(app.rpc(&ada, "current_user", json!({})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_per_user() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let ada = app.signed_in("ada@acme.test").await;
    let body = |current: &str| json!({"current": current, "new": "plinth marmot sixty quarrel", "confirm": "plinth marmot sixty quarrel"});
    for _ in 0..5 {
        assert_eq!(
            app.rpc(&ada, "change_password", body("a wrong guess")).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let res = app.rpc(&ada, "change_password", body(PASSWORD)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn an_admin_can_probe_for_taken_emails_only_a_few_times() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Initech", "bill@initech.test", Role::Member).await;
    let ada = app.signed_in("ada@acme.test").await;
    let probe = json!({"name": "Bill", "email": "bill@initech.test", "role": "member"});
    for _ in 0..10 {
        assert_eq!(app.rpc(&ada, "add_user", probe.clone()).await.status(), StatusCode::CONFLICT);
    }
    assert_eq!(app.rpc(&ada, "add_user", probe).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Warnings a stranger can cause once per request reach the log within a budget of ten a
/// minute per client address (then one line saying the rest are not logged): throttled
/// sign-ins, and refused cross-site requests. Every request still gets its answer.
#[tokio::test]
async fn a_client_that_keeps_being_refused_does_not_fill_the_log() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let statuses = wrong_passwords_for_ada(&app, &client_from("127.0.0.79"), 30).await;
    assert!(statuses[5..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");

    let forger = client_from("127.0.0.80");
    for _ in 0..30 {
        let res = forger
            .post(app.url("/rpc/login"))
            .header(header::ORIGIN, "http://evil.example")
            .form(&[("email", "ada@acme.test"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }

    let logs = captured_logs();
    let lines = |client: &str, message: &str| {
        logs.lines().filter(|l| l.contains(message) && l.contains(client)).count()
    };
    assert_eq!(lines("client=Some(127.0.0.79)", "sign-in throttled"), 10);
    assert_eq!(lines("client=Some(127.0.0.79)", "a client is causing many warnings"), 1);
    assert_eq!(lines("client=Some(127.0.0.80)", "cross-site request refused"), 10);
    assert_eq!(lines("client=Some(127.0.0.80)", "a client is causing many warnings"), 1);
}
