//! Several `tokenwell serve` processes on one database, as behind a load balancer: what one
//! instance changes, the other enforces on the very next request. Runs on the test backend
//! (PostgreSQL under `make test`, where several instances are the point; SQLite otherwise,
//! whose file several processes on one machine may share too).

mod common;

use std::{process::Stdio, time::Duration};

use app::server::db::test_support::TestDatabase;
use common::{client, listening, PASSWORD};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use tokio::{
    io::AsyncWriteExt,
    process::{Child, Command},
};

/// One server process.
struct Instance {
    base: String,
    _child: Child,
}

fn tokenwell(db: &TestDatabase, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokenwell"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("LEPTOS_SITE_ROOT", db.dir().join("site"))
        .env("TOKENWELL_DATA_DIR", db.dir().join("files"))
        .env("TOKENWELL_LOG", "info")
        .env_remove("TOKENWELL_NO_MIGRATE")
        .env_remove("TOKENWELL_METRICS_ADDR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run(db: &TestDatabase, args: &[&str], stdin: &str) {
    let mut child = tokenwell(db, args).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A migrated database with an admin (Ada) and a second admin (Bob), and two instances
/// started without migrating, as a multi-instance deploy runs them.
async fn two_instances() -> (TestDatabase, [Instance; 2]) {
    let db = TestDatabase::create().await;
    std::fs::create_dir_all(db.dir().join("site")).unwrap();
    run(&db, &["migrate"], "").await;
    for (email, name) in [("ada@acme.test", "Ada"), ("bob@acme.test", "Bob")] {
        let args = ["create-admin", "--org", "Acme", "--email", email, "--name", name];
        run(&db, &args, &format!("{PASSWORD}\n")).await;
    }
    let mut instances = Vec::new();
    for _ in 0..2 {
        let mut child =
            tokenwell(&db, &["serve", "--no-migrate", "--addr", "127.0.0.1:0"]).spawn().unwrap();
        let base = listening(&mut child).await;
        instances.push(Instance { base, _child: child });
    }
    let [a, b]: [Instance; 2] = instances.try_into().ok().unwrap();
    (db, [a, b])
}

async fn sign_in(instance: &Instance, email: &str) -> Client {
    let c = client();
    let res = c
        .post(format!("{}/rpc/login", instance.base))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    c
}

async fn rpc(c: &Client, instance: &Instance, name: &str, body: Value) -> Value {
    let res = c
        .post(format!("{}/rpc/{name}", instance.base))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{name}: {}", res.status());
    res.json().await.unwrap()
}

/// Generates a token through `instance`'s console; returns its secret.
async fn generate(c: &Client, instance: &Instance, kind: &str, name: &str) -> String {
    let created = rpc(c, instance, "generate_token", json!({"kind": kind, "name": name})).await;
    created["secret"].as_str().unwrap().to_string()
}

async fn whoami(instance: &Instance, secret: &str) -> StatusCode {
    let url = format!("{}/api/v1/whoami", instance.base);
    client().get(url).bearer_auth(secret).send().await.unwrap().status()
}

#[tokio::test]
async fn a_revocation_reaches_every_instance_on_the_very_next_request() {
    let (_db, instances) = two_instances().await;
    let ada = sign_in(&instances[0], "ada@acme.test").await;
    let admin_token = generate(&ada, &instances[0], "api", "admin").await;
    let control = generate(&ada, &instances[1], "api", "control").await;
    for round in 0..100 {
        let (one, other) = (&instances[round % 2], &instances[(round + 1) % 2]);
        let created: Value = client()
            .post(format!("{}/api/v1/tokens", one.base))
            .bearer_auth(&admin_token)
            .json(&json!({"type": "api", "name": format!("round-{round}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (id, secret) = (&created["token"]["id"], created["secret"].as_str().unwrap());
        assert_eq!(whoami(other, secret).await, StatusCode::OK, "round {round}");
        let revoke = client()
            .delete(format!("{}/api/v1/tokens/{id}", one.base))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), StatusCode::OK);
        // The very next request, to either instance.
        let next = &instances[(round / 2) % 2];
        assert_eq!(whoami(next, secret).await, StatusCode::UNAUTHORIZED, "round {round}");
        assert_eq!(whoami(other, secret).await, StatusCode::UNAUTHORIZED, "round {round}");
        assert_eq!(whoami(one, &control).await, StatusCode::OK, "round {round}");
    }
}

#[tokio::test]
async fn disabling_the_principal_and_demoting_the_creator_reach_every_instance() {
    let (_db, instances) = two_instances().await;
    let ada = sign_in(&instances[0], "ada@acme.test").await;
    let bob = sign_in(&instances[1], "bob@acme.test").await;
    let forwarder = generate(&ada, &instances[0], "forwarder", "dc-east").await;
    let bobs = generate(&bob, &instances[1], "api", "bob-cli").await;
    let control = generate(&ada, &instances[1], "api", "control").await;
    let users = rpc(&ada, &instances[0], "list_users", json!({"q": "", "page": 1})).await;
    let id_of = |name: &str| {
        users["rows"].as_array().unwrap().iter().find(|u| u["name"] == name).unwrap()["id"].clone()
    };
    let (service_account, bob_id) = (id_of("Forwarder: dc-east"), id_of("Bob"));
    let list_tokens = |instance: &Instance| {
        client().get(format!("{}/api/v1/tokens", instance.base)).bearer_auth(&bobs).send()
    };
    for round in 0..20 {
        let (one, other) = (&instances[round % 2], &instances[(round + 1) % 2]);
        // Disable the Forwarder Service Account through one instance: its token fails on both.
        rpc(&ada, one, "set_user_status", json!({"id": service_account, "active": false})).await;
        assert_eq!(whoami(other, &forwarder).await, StatusCode::UNAUTHORIZED, "round {round}");
        assert_eq!(whoami(one, &forwarder).await, StatusCode::UNAUTHORIZED, "round {round}");
        rpc(&ada, other, "set_user_status", json!({"id": service_account, "active": true})).await;
        assert_eq!(whoami(one, &forwarder).await, StatusCode::OK, "round {round}");
        // Demote Bob through one instance: his token loses the admin's rights on both.
        assert_eq!(list_tokens(other).await.unwrap().status(), StatusCode::OK, "round {round}");
        rpc(&ada, one, "set_user_role", json!({"id": bob_id, "role": "member"})).await;
        assert_eq!(list_tokens(other).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(list_tokens(one).await.unwrap().status(), StatusCode::FORBIDDEN);
        rpc(&ada, other, "set_user_role", json!({"id": bob_id, "role": "admin"})).await;
        assert_eq!(whoami(other, &control).await, StatusCode::OK, "round {round}");
    }
}

/// Counts the writes of `last_used_at` (test instrumentation, in the backend's dialect).
async fn count_last_used_writes(db: &TestDatabase) {
    use sqlx::Connection;
    if db.backend() == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for statement in [
            "CREATE TABLE use_writes (token_id BIGINT NOT NULL)",
            "CREATE FUNCTION note_use() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN INSERT INTO use_writes VALUES (NEW.id); RETURN NEW; END $$",
            "CREATE TRIGGER note_use AFTER UPDATE OF last_used_at ON tokens \
             FOR EACH ROW EXECUTE FUNCTION note_use()",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        for statement in [
            "CREATE TABLE use_writes (token_id INTEGER NOT NULL)",
            "CREATE TRIGGER note_use AFTER UPDATE OF last_used_at ON tokens \
             BEGIN INSERT INTO use_writes VALUES (NEW.id); END",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
    }
}

async fn scalar(db: &TestDatabase, statement: &str) -> i64 {
    let store = app::server::Store::open_existing(&db.url).await.unwrap();
    let value = store.scalar_for_test(statement, &[]).await;
    store.close().await;
    value
}

#[tokio::test]
async fn last_used_is_written_once_for_a_burst_over_both_instances() {
    let (db, instances) = two_instances().await;
    count_last_used_writes(&db).await;
    let ada = sign_in(&instances[0], "ada@acme.test").await;
    let created =
        rpc(&ada, &instances[0], "generate_token", json!({"kind": "api", "name": "ci"})).await;
    let (id, secret) =
        (created["token"]["id"].as_i64().unwrap(), created["secret"].as_str().unwrap());
    for i in 0..60 {
        assert_eq!(whoami(&instances[i % 2], secret).await, StatusCode::OK);
    }
    // Both instances' writers run off the request path: wait for them to settle.
    let writes = format!("SELECT count(*) FROM use_writes WHERE token_id = {id}");
    for _ in 0..50 {
        if scalar(&db, &writes).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(scalar(&db, &writes).await, 1, "one write within the minute, whichever instance");
    let used = format!("SELECT count(*) FROM tokens WHERE id = {id} AND last_used_at IS NOT NULL");
    assert_eq!(scalar(&db, &used).await, 1);
}

#[tokio::test]
async fn sign_in_failures_count_on_every_instance() {
    let (_db, instances) = two_instances().await;
    let attempt = |instance: &Instance, password: &str| {
        client()
            .post(format!("{}/rpc/login", instance.base))
            .form(&[("email", "ada@acme.test"), ("password", password)])
            .send()
    };
    // Five wrong passwords, alternating instances: the pair limit is reached in total.
    for i in 0..5 {
        let res = attempt(&instances[i % 2], "not the password at all").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for instance in &instances {
        let res = attempt(instance, PASSWORD).await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{}", instance.base);
    }
}
