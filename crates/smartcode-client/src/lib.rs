//! A typed HTTP client for a smartcode broker, as used by the `smartcode` command line.
//!
//! ```no_run
//! # async fn example() -> Result<(), smartcode_client::ClientError> {
//! use smartcode_client::{Client, PaymentRequest};
//! let broker = Client::new("http://127.0.0.1:8080");
//! let paid = broker
//!     .pay(&PaymentRequest { code: "7KQ2-M9XD".into(), payee: "P-4WZ8N-K3QJD".into(), amount: "0.25".into(), ..Default::default() }, None)
//!     .await?;
//! println!("receipt {}", paid.receipt.id);
//! # Ok(()) }
//! ```

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How the client proves who it is.
#[derive(Clone)]
pub enum Credential {
    None,
    Code(String),
    Operator(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not reach the broker: {0}")]
    Transport(#[from] reqwest::Error),
    /// The broker refused, with its problem+json.
    #[error("{detail} ({code}, HTTP {status})")]
    Problem { status: u16, code: String, detail: String },
    #[error("the broker answered HTTP {status} with a body this client does not understand")]
    Unexpected { status: u16 },
}

impl ClientError {
    /// The problem's stable `code` word, if the broker refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default)]
    pub show_stats: bool,
}

/// A code as its holder (or its parent) sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeInfo {
    pub id: String,
    pub kind: String,
    /// The secret, present only in the answer that created the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<Money>,
    pub currency: String,
    pub status: String,
    pub parent_id: Option<String>,
    pub label: Option<String>,
    pub profile: Profile,
    /// The code's effective rules and what is left of them (uses, spending in this period).
    #[serde(default)]
    pub restrictions: serde_json::Value,
    pub expires_at: Option<String>,
    pub irrevocable: bool,
    pub pin_set: bool,
    pub children_count: u32,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deposited {
    pub id: String,
    pub code_id: String,
    pub balance: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Children {
    pub children: Vec<CodeInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Funded {
    pub child: CodeInfo,
    pub balance: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cancelled {
    pub reclaimed: Money,
    pub codes_cancelled: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub id: String,
    pub payer_id: String,
    pub payee: String,
    pub payee_id: String,
    pub amount: Money,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: String,
    pub broker: String,
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paid {
    pub receipt: Receipt,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub amount: String,
    pub currency: String,
    pub counterparty_id: Option<String>,
    pub memo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transactions {
    pub transactions: Vec<Transaction>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRow {
    pub key: String,
    pub count: u64,
    pub total_in: String,
    pub total_out: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub group_by: String,
    pub rows: Vec<ReportRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurrencyCheck {
    pub currency: String,
    pub issued: String,
    pub held_by_codes: String,
    pub sum: String,
    pub accounts: u64,
    pub transfers: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerCheck {
    pub ok: bool,
    pub currencies: Vec<CurrencyCheck>,
    pub negative_balances: u64,
    pub mismatched_accounts: u64,
    pub checked_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ancestor {
    pub depth: u32,
    pub kind: String,
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub payments: u64,
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicInfo {
    pub public_code: String,
    pub id: String,
    pub currency: String,
    pub status: String,
    pub profile: Profile,
    pub ancestry: Vec<Ancestor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct IssueRequest {
    pub amount: String,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DepositRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ChildRequest {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irrevocable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub under: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<Restrictions>,
}

/// The rules of a new secret child; every field optional, and a child is never allowed more
/// than its parent.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Restrictions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_per_use_max: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses_max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_per_period: Option<SpendPerPeriod>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpendPerPeriod {
    pub amount: String,
    pub period_seconds: i64,
}

/// The answer to a rekey: the new secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rekeyed {
    pub code: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PaymentRequest {
    pub code: String,
    pub payee: String,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

#[derive(Deserialize)]
struct Problem {
    code: String,
    detail: String,
}

/// A window and page over history or a report.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl Window {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(since) = &self.since {
            pairs.push(("since", since.clone()));
        }
        if let Some(until) = &self.until {
            pairs.push(("until", until.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Credential,
    /// Sent as `Smartcode-Pin` with every request, for a code that has a PIN.
    pin: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            credential: Credential::None,
            pin: None,
        }
    }

    /// The same client, sending this PIN with its code.
    pub fn with_pin(&self, pin: Option<&str>) -> Client {
        Client {
            pin: pin.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same client, presenting a secret code.
    pub fn with_code(&self, code: &str) -> Client {
        Client {
            credential: Credential::Code(code.to_owned()),
            ..self.clone()
        }
    }

    /// The same client, as the operator.
    pub fn with_operator_token(&self, token: &str) -> Client {
        Client {
            credential: Credential::Operator(token.to_owned()),
            ..self.clone()
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut headers = HeaderMap::new();
        let authorization = match &self.credential {
            Credential::None => None,
            Credential::Code(code) => Some(format!("Code {code}")),
            Credential::Operator(token) => Some(format!("Bearer {token}")),
        };
        if let Some(value) = authorization.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(pin) = self.pin.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            headers.insert("smartcode-pin", pin);
        }
        self.http
            .request(method, format!("{}{}", self.base, path))
            .headers(headers)
    }

    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ClientError> {
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| ClientError::Unexpected {
                status: status.as_u16(),
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ClientError::Problem {
                status: status.as_u16(),
                code: problem.code,
                detail: problem.detail,
            }),
            Err(_) => Err(ClientError::Unexpected {
                status: status.as_u16(),
            }),
        }
    }

    fn post<B: Serialize>(&self, path: &str, body: &B, idempotency_key: Option<&str>) -> RequestBuilder {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request
    }

    pub async fn issue(&self, request: &IssueRequest, idempotency_key: Option<&str>) -> Result<CodeInfo, ClientError> {
        Self::send(self.post("/v1/admin/codes", request, idempotency_key)).await
    }

    pub async fn deposit(
        &self,
        request: &DepositRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Deposited, ClientError> {
        Self::send(self.post("/v1/admin/deposits", request, idempotency_key)).await
    }

    pub async fn ledger_check(&self) -> Result<LedgerCheck, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/ledger/check")).await
    }

    pub async fn security(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/security")).await
    }

    pub async fn me(&self) -> Result<CodeInfo, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me")).await
    }

    pub async fn create_child(
        &self,
        request: &ChildRequest,
        idempotency_key: Option<&str>,
    ) -> Result<CodeInfo, ClientError> {
        Self::send(self.post("/v1/me/children", request, idempotency_key)).await
    }

    pub async fn children(&self) -> Result<Children, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/children")).await
    }

    pub async fn fund(
        &self,
        child_id: &str,
        amount: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Funded, ClientError> {
        let body = serde_json::json!({ "amount": amount });
        Self::send(self.post(&format!("/v1/me/children/{child_id}/fund"), &body, idempotency_key)).await
    }

    pub async fn cancel(&self, child_id: &str, idempotency_key: Option<&str>) -> Result<Cancelled, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/children/{child_id}/cancel"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Sets the profile of a public child (`Some(id)`) or of this code itself (`None`).
    pub async fn set_profile(&self, child_id: Option<&str>, profile: &Profile) -> Result<CodeInfo, ClientError> {
        let path = match child_id {
            Some(id) => format!("/v1/me/children/{id}/profile"),
            None => "/v1/me/profile".to_owned(),
        };
        Self::send(self.request(Method::PUT, &path).json(profile)).await
    }

    /// Sets or changes this code's PIN (a PIN already set goes with [`Client::with_pin`]).
    pub async fn set_pin(&self, new_pin: &str, idempotency_key: Option<&str>) -> Result<CodeInfo, ClientError> {
        let mut request = self
            .request(Method::PUT, "/v1/me/pin")
            .json(&serde_json::json!({ "pin": new_pin }));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    /// Removes this code's PIN; the current one goes with [`Client::with_pin`].
    pub async fn remove_pin(&self) -> Result<CodeInfo, ClientError> {
        Self::send(self.request(Method::DELETE, "/v1/me/pin")).await
    }

    /// Replaces this code's secret with a new one; the old one stops working at once.
    pub async fn rekey(&self, idempotency_key: Option<&str>) -> Result<Rekeyed, ClientError> {
        Self::send(self.post("/v1/me/rekey", &serde_json::json!({}), idempotency_key)).await
    }

    /// Lets a child locked by wrong PINs work again.
    pub async fn unlock(&self, child_id: &str, idempotency_key: Option<&str>) -> Result<CodeInfo, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/children/{child_id}/unlock"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Operator: lets any code locked by wrong PINs work again.
    pub async fn operator_unlock(&self, code_id: &str, idempotency_key: Option<&str>) -> Result<CodeInfo, ClientError> {
        Self::send(self.post(
            &format!("/v1/admin/codes/{code_id}/unlock"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    pub async fn transactions(&self, window: &Window) -> Result<Transactions, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/transactions").query(&window.pairs())).await
    }

    pub async fn report(&self, group_by: &str, window: &Window) -> Result<Report, ClientError> {
        let mut pairs = window.pairs();
        pairs.push(("group_by", group_by.to_owned()));
        Self::send(self.request(Method::GET, "/v1/me/report").query(&pairs)).await
    }

    /// The report as CSV text.
    pub async fn report_csv(&self, group_by: &str, window: &Window) -> Result<String, ClientError> {
        let mut pairs = window.pairs();
        pairs.push(("group_by", group_by.to_owned()));
        let response = self
            .request(Method::GET, "/v1/me/report")
            .query(&pairs)
            .header("Accept", "text/csv")
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            let bytes = response.bytes().await?;
            return match serde_json::from_slice::<Problem>(&bytes) {
                Ok(problem) => Err(ClientError::Problem {
                    status: status.as_u16(),
                    code: problem.code,
                    detail: problem.detail,
                }),
                Err(_) => Err(ClientError::Unexpected {
                    status: status.as_u16(),
                }),
            };
        }
        Ok(response.text().await?)
    }

    pub async fn pay(&self, request: &PaymentRequest, idempotency_key: Option<&str>) -> Result<Paid, ClientError> {
        Self::send(self.post("/v1/payments", request, idempotency_key)).await
    }

    pub async fn receipt(&self, id: &str) -> Result<Paid, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/receipts/{id}"))).await
    }

    pub async fn public(&self, public_code: &str) -> Result<PublicInfo, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/public/{public_code}"))).await
    }

    pub async fn metadata(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.request(Method::GET, "/.well-known/smartcode")).await
    }
}
