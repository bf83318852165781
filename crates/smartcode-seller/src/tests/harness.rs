//! A real broker, started in this process on `127.0.0.1` with the embedded store in a temporary
//! directory, and the few calls of its HTTP API a seller's test needs (issue a code, make a
//! public code, pay, refund). It is stopped when dropped.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{json, Value};
use smartcode_core::clock::{Clock, SystemClock};
use smartcode_core::code::BrokerKey;
use smartcode_core::numeric::BrokerNumber;
use smartcode_server::keys::Keys;
use smartcode_server::{Broker, BrokerConfig};
use smartcode_store::embedded::EmbeddedStore;
use tokio::sync::oneshot;
use tower::ServiceExt;

pub struct LiveBroker {
    pub base: String,
    token: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for LiveBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl LiveBroker {
    pub async fn start() -> LiveBroker {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = EmbeddedStore::open(dir.path(), clock.clone()).expect("the embedded store opens");
        let token = "operator-token-of-the-seller-tests".to_owned();
        let config = BrokerConfig {
            name: "seller test broker".into(),
            domain: "localhost".into(),
            broker_number: BrokerNumber::parse("1").expect("a broker number"),
            trusted_proxies: Vec::new(),
            allow_private_callouts: true,
        };
        let state = Broker::new(
            config,
            Arc::new(store),
            Keys::derive(BrokerKey::generate()),
            clock,
            None,
            &token,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let router = smartcode_server::router(state);
        tokio::spawn(smartcode_server::listen::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        LiveBroker {
            base,
            token,
            http: reqwest::Client::new(),
            stop: Some(stop),
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, authorization: Option<&str>, body: Value) -> Value {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status();
        let body: Value = response.json().await.expect("the broker answers JSON");
        assert!(status.is_success(), "POST {path} answered {status}: {body}");
        body
    }

    /// A new secret code holding `amount`.
    pub async fn issue(&self, amount: &str, currency: &str) -> String {
        let body = json!({ "amount": amount, "currency": currency });
        let created = self
            .post("/v1/admin/codes", Some(&format!("Bearer {}", self.token)), body)
            .await;
        created["code"].as_str().expect("a code").to_owned()
    }

    /// A new public code owned by the secret code `owner`.
    pub async fn public_code(&self, owner: &str) -> String {
        let created = self
            .post(
                "/v1/me/children",
                Some(&format!("Code {owner}")),
                json!({ "kind": "public" }),
            )
            .await;
        created["public_code"].as_str().expect("a public code").to_owned()
    }

    /// Pays `payee` from `code`, with `memo`; answers the receipt's id.
    pub async fn pay(&self, code: &str, payee: &str, amount: &str, memo: Option<&str>) -> String {
        let mut body = json!({ "code": code, "payee": payee, "amount": amount });
        if let Some(memo) = memo {
            body["memo"] = json!(memo);
        }
        let paid = self.post("/v1/payments", None, body).await;
        paid["receipt"]["id"].as_str().expect("a receipt id").to_owned()
    }

    /// The seller (`owner` of the payee) refunds `amount` of a receipt.
    pub async fn refund(&self, owner: &str, receipt_id: &str, amount: &str) {
        let path = format!("/v1/receipts/{receipt_id}/refund");
        self.post(&path, Some(&format!("Code {owner}")), json!({ "amount": amount }))
            .await;
    }
}

/// What a seller's service answered.
pub struct Answered {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answered {
    /// The `reason` of a refused payment.
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or("")
    }
}

/// Sends `GET path` (with `Smartcode-Payment` if given) to a seller's router, in process.
pub async fn get(app: &axum::Router, path: &str, payment: Option<&str>) -> Answered {
    let mut request = Request::get(path);
    if let Some(receipt) = payment {
        request = request.header("Smartcode-Payment", receipt);
    }
    send(app, request.body(Body::empty()).expect("a request")).await
}

pub async fn send(app: &axum::Router, request: Request<Body>) -> Answered {
    let response = app.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answered {
        status,
        headers,
        body,
        text,
    }
}
