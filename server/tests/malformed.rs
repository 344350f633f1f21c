//! Malformed input to the console's server functions: every endpoint answers a body over
//! the limit with 413 and one it cannot decode with 400, signed in or not, with the usual
//! opaque JSON error, and never with a 5xx.

mod common;

use std::collections::BTreeSet;

use app::{api::PUBLIC_ENDPOINTS, error::AppError, model::Role};
use common::*;
use reqwest::{header, Client, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    /// `PostUrl`, the default of `#[server]`.
    Form,
    Json,
}

struct Endpoint {
    path: &'static str,
    encoding: Encoding,
    /// Bodies in the endpoint's own encoding whose fields are missing or of the wrong type.
    wrong_fields: &'static [&'static str],
}

/// Every server function the app registers. `the_list_is_every_registered_endpoint` fails
/// when one is added without a line here.
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/rpc/login",
        encoding: Encoding::Form,
        wrong_fields: &["email=ada%40acme.test", "password=x", "email[]=a&password[x]=b"],
    },
    Endpoint {
        path: "/rpc/setup",
        encoding: Encoding::Form,
        wrong_fields: &["organization=Acme&name=Ada", "email=a&password=b&confirm_password=b"],
    },
    Endpoint { path: "/rpc/logout", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint { path: "/rpc/current_user", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint {
        path: "/rpc/list_tokens",
        encoding: Encoding::Json,
        wrong_fields: &[
            r#"{"query":1}"#,
            r#"{"query":{"q":1,"kind":null,"status":"active","page":1}}"#,
            r#"{"query":{"q":"","kind":"root","status":"active","page":1}}"#,
            r#"{"query":{"q":"","kind":null,"status":"active","page":-1}}"#,
            r#"{"query":{"q":"","kind":null,"status":"active","page":99999999999}}"#,
        ],
    },
    Endpoint {
        path: "/rpc/generate_token",
        encoding: Encoding::Json,
        wrong_fields: &[
            r#"{"kind":"root","name":"x"}"#,
            r#"{"kind":"api","name":7}"#,
            r#"{"kind":"api"}"#,
        ],
    },
    Endpoint {
        path: "/rpc/revoke_token",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1"}"#, r#"{"id":1.5}"#, r#"{"id":null}"#, r#"{"id":[1]}"#],
    },
    Endpoint {
        path: "/rpc/regenerate_token",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1"}"#, r#"{"id":1.5}"#, r#"{"id":null}"#, r#"{"id":[1]}"#],
    },
    Endpoint {
        path: "/rpc/list_audit_events",
        encoding: Encoding::Json,
        wrong_fields: &[
            r#"{"query":1}"#,
            r#"{"query":{"q":1,"action":null,"page":1}}"#,
            r#"{"query":{"q":"","action":"everything","page":1}}"#,
            r#"{"query":{"q":"","action":null,"page":-1}}"#,
        ],
    },
    Endpoint {
        path: "/rpc/list_users",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"q":1,"page":1}"#, r#"{"q":"","page":-1}"#, r#"{"q":""}"#],
    },
    Endpoint {
        path: "/rpc/add_user",
        encoding: Encoding::Json,
        wrong_fields: &[
            r#"{"name":"Max","email":"max@acme.test","role":"owner"}"#,
            r#"{"name":["Max"],"email":"max@acme.test","role":"member"}"#,
        ],
    },
    Endpoint {
        path: "/rpc/set_user_role",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":1,"role":"god"}"#, r#"{"id":"1","role":"admin"}"#],
    },
    Endpoint {
        path: "/rpc/set_user_status",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":1,"active":"yes"}"#, r#"{"id":1,"active":1}"#],
    },
    Endpoint {
        path: "/rpc/change_password",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"current":1,"new":"x","confirm":"x"}"#, r#"{"current":"x"}"#],
    },
    Endpoint {
        path: "/rpc/reset_password",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1"}"#, r#"{"id":1.5}"#, r#"{}"#],
    },
    Endpoint {
        path: "/rpc/reset_two_factor",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1"}"#, r#"{"id":1.5}"#, r#"{}"#],
    },
    Endpoint { path: "/rpc/replace_recovery_codes", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint { path: "/rpc/own_two_factor", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint { path: "/rpc/begin_authenticator_app", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint {
        path: "/rpc/enable_authenticator_app",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"code":123456}"#, r#"{}"#],
    },
    Endpoint {
        path: "/rpc/turn_off_two_factor",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"password":1}"#, r#"{}"#],
    },
    Endpoint {
        path: "/rpc/begin_passkey_registration",
        encoding: Encoding::Form,
        wrong_fields: &[],
    },
    Endpoint {
        path: "/rpc/finish_passkey_registration",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"ceremony":"x"}"#, r#"{"ceremony":1,"credential":"{}"}"#],
    },
    Endpoint {
        path: "/rpc/rename_passkey",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1","name":"x"}"#, r#"{"id":1}"#],
    },
    Endpoint {
        path: "/rpc/remove_passkey",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"id":"1"}"#, r#"{}"#],
    },
    Endpoint { path: "/rpc/second_factor_methods", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint {
        path: "/rpc/verify_code",
        encoding: Encoding::Form,
        wrong_fields: &["codes=1", "code[]=1"],
    },
    Endpoint {
        path: "/rpc/verify_recovery_code",
        encoding: Encoding::Form,
        wrong_fields: &["code=1", "recovery_code[x]=1"],
    },
    Endpoint {
        path: "/rpc/begin_passkey_second_factor",
        encoding: Encoding::Form,
        wrong_fields: &[],
    },
    Endpoint {
        path: "/rpc/finish_passkey_second_factor",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"credential":1}"#, r#"{}"#],
    },
    Endpoint { path: "/rpc/begin_passkey_sign_in", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint {
        path: "/rpc/finish_passkey_sign_in",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"credential":1}"#, r#"{}"#],
    },
    Endpoint {
        path: "/rpc/confirm_access",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"password":1,"code":""}"#, r#"{"password":"x"}"#],
    },
    Endpoint { path: "/rpc/two_factor_policy", encoding: Encoding::Form, wrong_fields: &[] },
    Endpoint {
        path: "/rpc/set_two_factor_policy",
        encoding: Encoding::Json,
        wrong_fields: &[r#"{"required":"yes"}"#, r#"{}"#],
    },
];

impl Endpoint {
    fn content_type(&self) -> &'static str {
        match self.encoding {
            Encoding::Form => "application/x-www-form-urlencoded",
            Encoding::Json => "application/json",
        }
    }

    /// Bodies no server function of this encoding decodes, with the content type to send
    /// them under (`None`: no `Content-Type` header).
    fn undecodable(&self) -> Vec<(Option<&'static str>, Vec<u8>)> {
        let own = Some(self.content_type());
        let mut cases: Vec<(Option<&'static str>, Vec<u8>)> = vec![
            // Not UTF-8.
            (own, vec![0xff, 0xfe, 0x00, 0xc3]),
            // Content types no server function reads, even around a body that would decode.
            (Some("text/plain"), b"{}".to_vec()),
            (Some("application/xml"), b"<login/>".to_vec()),
            (
                Some("multipart/form-data; boundary=x"),
                b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n".to_vec(),
            ),
            (Some("application/json-patch+json"), b"[]".to_vec()),
            (None, b"email=a&password=b".to_vec()),
        ];
        cases.extend(self.wrong_fields.iter().map(|body| (own, body.as_bytes().to_vec())));
        match self.encoding {
            Encoding::Json => {
                let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
                for body in [
                    "",
                    "{",
                    r#"{"id":"#,
                    "not json",
                    "null",
                    "[]",
                    "7",
                    "email=a&password=b",
                    &deep,
                ] {
                    cases.push((own, body.as_bytes().to_vec()));
                }
                cases.push((Some("application/x-www-form-urlencoded"), b"{\"x\":1}".to_vec()));
            }
            Encoding::Form if !self.wrong_fields.is_empty() => {
                // JSON where a form is expected: no field of the form is there.
                cases.push((own, br#"{"email":"ada@acme.test","password":"x"}"#.to_vec()));
                cases.push((
                    Some("application/json"),
                    br#"{"email":"ada@acme.test","password":"x"}"#.to_vec(),
                ));
                cases.push((own, b"".to_vec()));
            }
            Encoding::Form => {}
        }
        cases
    }

    fn is_public(&self) -> bool {
        PUBLIC_ENDPOINTS.contains(&self.path)
    }
}

#[test]
fn the_list_is_every_registered_endpoint() {
    let registered: BTreeSet<(String, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path.to_string(), method.to_string()))
        .collect();
    let listed: BTreeSet<(String, String)> =
        ENDPOINTS.iter().map(|e| (e.path.to_string(), "POST".to_string())).collect();
    assert_eq!(
        registered, listed,
        "add each new server function to ENDPOINTS with its malformed inputs"
    );
}

/// The session cookie of a fresh sign-in as `email`.
async fn session_cookie(app: &TestApp, email: &str) -> String {
    let res = app.login(&client(), email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

/// Checks that `res` is the opaque JSON error `expected` and nothing else.
async fn assert_opaque(res: reqwest::Response, expected: &[AppError], what: &str) {
    let status = res.status();
    let content_type =
        res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap();
    let error: AppError =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {status} {text:?}: {e}"));
    assert!(expected.contains(&error), "{what}: {status} {error:?}");
    assert_eq!(status.as_u16(), error.status(), "{what}: {text}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
}

/// Posts `body` in chunked encoding (no `Content-Length`) on a fresh connection, as a
/// client streaming its upload would; returns the status code and the body of the answer.
async fn post_chunked(
    app: &TestApp,
    path: &str,
    content_type: &str,
    cookie: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let host = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{cookie}\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        // The server may answer and close before the last chunks; that is fine.
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no answer: {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn oversized_bodies_get_413_on_every_endpoint() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let cookie = session_cookie(&app, "ada@acme.test").await;
    let raw = Client::new();
    for endpoint in ENDPOINTS {
        let big = match endpoint.encoding {
            Encoding::Form => format!("email={}&password=x", "a".repeat(100 * 1024)),
            Encoding::Json => format!(r#"{{"name":"{}"}}"#, "a".repeat(100 * 1024)),
        };
        for session in [Some(cookie.as_str()), None] {
            let what = format!(
                "{} {}",
                endpoint.path,
                if session.is_some() { "signed in" } else { "signed out" }
            );
            let mut req = raw
                .post(app.url(endpoint.path))
                .header(header::CONTENT_TYPE, endpoint.content_type());
            if let Some(cookie) = session {
                req = req.header(header::COOKIE, cookie);
            }
            let res = req.body(big.clone()).send().await.unwrap();
            assert_opaque(res, &[AppError::TooLarge], &what).await;

            let (status, answer) =
                post_chunked(&app, endpoint.path, endpoint.content_type(), session, big.as_bytes())
                    .await;
            assert_eq!(status, 413, "{what}, chunked: {answer}");
            assert!(answer.contains("\"TooLarge\""), "{what}, chunked: {answer}");
        }
    }
    // Just under the limit is read and decoded as usual: the name is refused for its length.
    let res = raw
        .post(app.url("/rpc/generate_token"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie)
        .body(format!(r#"{{"kind":"api","name":"{}"}}"#, "a".repeat(60 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let error: AppError = res.json().await.unwrap();
    assert!(error.field_message("name").is_some(), "{error:?}");
    assert_eq!(app.scalar("SELECT count(*) FROM tokens").await, 0);
}

#[tokio::test]
async fn undecodable_bodies_get_400_on_every_endpoint_and_change_nothing() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let cookie = session_cookie(&app, "ada@acme.test").await;
    let raw = Client::new();
    let mut checked = 0;
    for endpoint in ENDPOINTS {
        for (content_type, body) in endpoint.undecodable() {
            for session in [Some(cookie.as_str()), None] {
                let what = format!(
                    "{} {} {content_type:?} {:?}",
                    endpoint.path,
                    if session.is_some() { "signed in" } else { "signed out" },
                    String::from_utf8_lossy(&body[..body.len().min(60)])
                );
                let mut req = raw.post(app.url(endpoint.path)).body(body.clone());
                if let Some(content_type) = content_type {
                    req = req.header(header::CONTENT_TYPE, content_type);
                }
                if let Some(cookie) = session {
                    req = req.header(header::COOKIE, cookie);
                }
                let res = req.send().await.unwrap();
                assert!(!res.status().is_server_error(), "{what}: {}", res.status());
                // Signed out, the session gate may answer first: it reads no arguments.
                let expected: &[AppError] = if session.is_some() || endpoint.is_public() {
                    &[AppError::BadRequest]
                } else {
                    &[AppError::BadRequest, AppError::Unauthorized]
                };
                assert_opaque(res, expected, &what).await;
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "{checked} cases");
    // Nothing ran: the session still works and nothing was created.
    let res = raw
        .post(app.url("/rpc/current_user"))
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.scalar("SELECT count(*) FROM tokens").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 1);
    // No 5xx was logged for any of them.
    assert!(!captured_logs().contains("request failed"), "a request failed");
}
