//! `TestBroker`: a real broker process on a fresh data directory, and helpers to talk to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

pub const BINARY: &str = env!("CARGO_BIN_EXE_smartcode");

pub struct TestBroker {
    pub process: Option<Child>,
    pub base: String,
    pub data: PathBuf,
    pub token: String,
    _dir: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// A response, with its JSON body parsed (or `Value::Null` if it was not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The problem's `code` word.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a refusal: status, problem+json content type and `code` word.
    #[track_caller]
    pub fn refused(self, status: u16, code: &str) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "refusals are problem+json");
        assert_eq!(self.code(), code, "unexpected problem code; body: {}", self.text);
        for field in ["type", "title", "status", "detail", "code"] {
            assert!(!self.body[field].is_null(), "problem lacks {field}: {}", self.text);
        }
        self
    }
}

/// How a request proves who it is.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Code(&'a str),
    Operator,
    Raw(&'a str),
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let mut broker = TestBroker::start_in(&data).await;
        broker._dir = Some(dir);
        broker
    }

    /// Starts (or restarts) a broker on an existing or new data directory.
    pub async fn start_in(data: &Path) -> TestBroker {
        let mut process = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-clock", "--data"])
            .arg(data)
            .env("SMARTCODE_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the smartcode binary starts");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("serve prints its address")
            .expect("readable stdout");
        let base = first
            .rsplit(' ')
            .next()
            .expect("address at the end of the line")
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "unexpected first line: {first}");
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data.join("operator-token"))
            .expect("operator token written")
            .trim()
            .to_owned();
        let broker = TestBroker {
            process: Some(process),
            base,
            data: data.to_owned(),
            token,
            _dir: None,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if broker.call(Method::GET, "/healthz", Auth::None, None).await.status == 200 {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the broker did not become healthy");
    }

    pub async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Reply {
        self.call_with(method, path, auth, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        request = match auth {
            Auth::None => request,
            Auth::Code(code) => request.header("Authorization", format!("Code {code}")),
            Auth::Operator => request.header("Authorization", format!("Bearer {}", self.token)),
            Auth::Raw(value) => request.header("Authorization", value),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Auth<'_>, body: Value) -> Reply {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    pub async fn put(&self, path: &str, auth: Auth<'_>, body: Value) -> Reply {
        self.call(Method::PUT, path, auth, Some(body)).await
    }

    /// Issues a code as the operator; returns (secret code, id).
    pub async fn issue(&self, amount: &str, currency: &str) -> (String, String) {
        let reply = self
            .post(
                "/v1/admin/codes",
                Auth::Operator,
                json!({ "amount": amount, "currency": currency }),
            )
            .await
            .expect(201);
        (
            reply.body["code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a secret child; returns (secret code, id).
    pub async fn secret_child(&self, parent: &str, amount: &str) -> (String, String) {
        let reply = self
            .post(
                "/v1/me/children",
                Auth::Code(parent),
                json!({ "kind": "secret", "amount": amount }),
            )
            .await
            .expect(201);
        (
            reply.body["code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a public child; returns (public code, id).
    pub async fn public_child(&self, owner: &str) -> (String, String) {
        let reply = self
            .post("/v1/me/children", Auth::Code(owner), json!({ "kind": "public" }))
            .await
            .expect(201);
        (
            reply.body["public_code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn pay(&self, code: &str, payee: &str, amount: &str) -> Reply {
        self.post(
            "/v1/payments",
            Auth::None,
            json!({ "code": code, "payee": payee, "amount": amount }),
        )
        .await
    }

    pub async fn balance(&self, code: &str) -> String {
        let reply = self.get("/v1/me", Auth::Code(code)).await.expect(200);
        reply.body["balance"]["amount"].as_str().unwrap().to_owned()
    }

    /// The ledger check every money-moving test ends with.
    pub async fn assert_ledger_ok(&self) -> Value {
        let reply = self.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
        assert_eq!(reply.body["ok"], true, "ledger check failed: {}", reply.text);
        reply.body
    }

    /// kill -9: the process dies at whatever instant it is in.
    pub fn kill_hard(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().expect("kill the broker");
            process.wait().expect("reap the broker");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill_hard();
    }
}
