//! A typed HTTP client for a smartcode broker, as used by the `smartcode` command line. It
//! speaks in the shapes of `smartcode-api`, the same ones the broker writes its answers from,
//! and re-exports them so a caller needs only this crate.
//!
//! ```no_run
//! # async fn example() -> Result<(), smartcode_client::ClientError> {
//! use smartcode_client::{Client, PaymentRequest};
//! let broker = Client::new("http://127.0.0.1:8080");
//! let request = PaymentRequest {
//!     code: "7KQ2-M9XD".into(),
//!     payee: "P-4WZ8N-K3QJD".into(),
//!     amount: Some("0.25".into()),
//!     currency: None,
//!     quote: None,
//!     memo: None,
//!     category: None,
//!     item: None,
//!     certificate: None,
//! };
//! let paid = broker.pay(&request, None).await?;
//! println!("receipt {}", paid.receipt.id);
//! # Ok(()) }
//! ```

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use smartcode_api::*;

mod items;
mod peers;
mod purchases;
mod subscriptions;

pub use items::Download;
pub use purchases::offer_of;

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

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Credential,
    /// Sent as `Smartcode-Pin` with every request, for a code that has a PIN.
    pin: Option<String>,
    /// Sent as `Smartcode-Proof`: a proof of an earlier success, so the guessing defence counts
    /// this client as its tree, not its address.
    proof: Option<String>,
    /// Sent as `Smartcode-Seller`: a seller's server presenting its buyers' codes.
    seller_key: Option<String>,
}

/// The most work the client does by itself to answer a broker's challenge: 2^28 hashes, a few
/// seconds of one core. A broker under a larger attack is answered with its refusal.
pub const CHALLENGE_BITS_MAX: u32 = 28;

impl Client {
    /// The broker's address this client speaks to, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            credential: Credential::None,
            pin: None,
            proof: None,
            seller_key: None,
        }
    }

    /// The same client, sending this proof of an earlier success (see [`Client::proof`]).
    pub fn with_proof(&self, proof: Option<&str>) -> Client {
        Client {
            proof: proof.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The broker this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The same client, as a seller's server (see [`Client::seller_key`]).
    pub fn with_seller_key(&self, key: Option<&str>) -> Client {
        Client {
            seller_key: key.map(str::to_owned),
            ..self.clone()
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
        if let Some(proof) = self.proof.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            headers.insert("smartcode-proof", proof);
        }
        if let Some(key) = self.seller_key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
            headers.insert("smartcode-seller", key);
        }
        self.http
            .request(method, format!("{}{}", self.base, path))
            .headers(headers)
    }

    /// Sends a request; answers a challenge by itself (within [`CHALLENGE_BITS_MAX`]) and sends
    /// the request once more with the answer.
    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ClientError> {
        let again = request.try_clone();
        let mut response = request.send().await?;
        let challenge = (response.status() == StatusCode::TOO_MANY_REQUESTS)
            .then(|| response.headers().get(challenge::CHALLENGE_HEADER)?.to_str().ok())
            .flatten()
            .and_then(challenge::ChallengeJson::from_header)
            .filter(|c| c.difficulty_bits <= CHALLENGE_BITS_MAX);
        if let (Some(challenge), Some(again)) = (challenge, again) {
            let answer = tokio::task::spawn_blocking(move || challenge.answer(CHALLENGE_BITS_MAX))
                .await
                .ok()
                .flatten();
            if let Some(answer) = answer {
                response = again
                    .header(challenge::CHALLENGE_RESPONSE_HEADER, answer)
                    .send()
                    .await?;
            }
        }
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| ClientError::Unexpected {
                status: status.as_u16(),
            });
        }
        Err(refusal(status, &bytes))
    }

    fn post<B: Serialize>(&self, path: &str, body: &B, idempotency_key: Option<&str>) -> RequestBuilder {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request
    }

    pub async fn issue(
        &self,
        request: &IssueRequest,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedJson, ClientError> {
        Self::send(self.post("/v1/admin/codes", request, idempotency_key)).await
    }

    pub async fn deposit(
        &self,
        request: &DepositRequest,
        idempotency_key: Option<&str>,
    ) -> Result<DepositedJson, ClientError> {
        Self::send(self.post("/v1/admin/deposits", request, idempotency_key)).await
    }

    pub async fn payout(
        &self,
        request: &PayoutRequest,
        idempotency_key: Option<&str>,
    ) -> Result<PaidOutJson, ClientError> {
        Self::send(self.post("/v1/admin/payouts", request, idempotency_key)).await
    }

    pub async fn ledger_check(&self) -> Result<LedgerCheckJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/ledger/check")).await
    }

    pub async fn security(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/security")).await
    }

    /// Operator: forgets the failures of an address, a network or a tree.
    pub async fn forgive(&self, source: &str) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({ "source": source });
        Self::send(self.request(Method::POST, "/v1/admin/security/forgive").json(&body)).await
    }

    /// Operator: ends the guessing alarm.
    pub async fn end_alarm(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.request(Method::DELETE, "/v1/admin/security/alarm")).await
    }

    /// A proof that this code was presented successfully (`proof`, `expires_at`): keep it and send
    /// it with [`Client::with_proof`].
    pub async fn proof(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.post("/v1/me/proof", &serde_json::json!({}), None)).await
    }

    /// The seller key of this code's tree (`seller_key`), for a server that presents its buyers' codes.
    pub async fn seller_key(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.post("/v1/me/seller-key", &serde_json::json!({}), None)).await
    }

    pub async fn me(&self) -> Result<CodeJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me")).await
    }

    pub async fn create_child(
        &self,
        request: &ChildRequest,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedJson, ClientError> {
        Self::send(self.post("/v1/me/children", request, idempotency_key)).await
    }

    pub async fn children(&self) -> Result<ChildrenJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/children")).await
    }

    pub async fn fund(
        &self,
        child_id: &str,
        amount: &str,
        idempotency_key: Option<&str>,
    ) -> Result<FundedJson, ClientError> {
        let body = FundRequest { amount: amount.into() };
        Self::send(self.post(&format!("/v1/me/children/{child_id}/fund"), &body, idempotency_key)).await
    }

    pub async fn cancel(&self, child_id: &str, idempotency_key: Option<&str>) -> Result<CancelledJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/children/{child_id}/cancel"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Sets the profile of a public child (`Some(id)`) or of this code itself (`None`).
    pub async fn set_profile(
        &self,
        child_id: Option<&str>,
        profile: &ProfileRequest,
    ) -> Result<CreatedJson, ClientError> {
        let path = match child_id {
            Some(id) => format!("/v1/me/children/{id}/profile"),
            None => "/v1/me/profile".to_owned(),
        };
        Self::send(self.request(Method::PUT, &path).json(profile)).await
    }

    /// Sets or changes this code's PIN (a PIN already set goes with [`Client::with_pin`]).
    pub async fn set_pin(&self, new_pin: &str, idempotency_key: Option<&str>) -> Result<CreatedJson, ClientError> {
        let body = PinRequest {
            pin: new_pin.to_owned(),
        };
        let mut request = self.request(Method::PUT, "/v1/me/pin").json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    /// Removes this code's PIN; the current one goes with [`Client::with_pin`].
    pub async fn remove_pin(&self) -> Result<CreatedJson, ClientError> {
        Self::send(self.request(Method::DELETE, "/v1/me/pin")).await
    }

    /// Replaces this code's secret with a new one (in `code`); the old one stops working at once.
    pub async fn rekey(&self, idempotency_key: Option<&str>) -> Result<CreatedJson, ClientError> {
        Self::send(self.post("/v1/me/rekey", &serde_json::json!({}), idempotency_key)).await
    }

    /// Lets a child locked by wrong PINs work again.
    pub async fn unlock(&self, child_id: &str, idempotency_key: Option<&str>) -> Result<CreatedJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/children/{child_id}/unlock"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Operator: lets any code locked by wrong PINs work again.
    pub async fn operator_unlock(
        &self,
        code_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/admin/codes/{code_id}/unlock"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Marks a code's profile as checked, naming the name checked (`Some`), or withdraws the mark
    /// (`None`): a descendant's, as this code; or any code's, as the broker, with an operator token.
    pub async fn set_check(
        &self,
        code: &str,
        name: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedJson, ClientError> {
        let path = match self.credential {
            Credential::Operator(_) => format!("/v1/admin/codes/{code}/check"),
            _ => format!("/v1/me/children/{code}/check"),
        };
        let mut request = match name {
            Some(name) => self
                .request(Method::PUT, &path)
                .json(&CheckRequest { name: name.to_owned() }),
            None => self.request(Method::DELETE, &path),
        };
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    pub async fn transactions(&self, params: &TransactionsParams) -> Result<TransactionsJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/transactions").query(params)).await
    }

    /// The transactions as CSV text (every one in the window, up to the broker's bound, without
    /// a `limit`).
    pub async fn transactions_csv(&self, params: &TransactionsParams) -> Result<String, ClientError> {
        self.csv("/v1/me/transactions", params).await
    }

    pub async fn report(&self, params: &ReportParams) -> Result<ReportJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/report").query(params)).await
    }

    /// The report as CSV text.
    pub async fn report_csv(&self, params: &ReportParams) -> Result<String, ClientError> {
        self.csv("/v1/me/report", params).await
    }

    async fn csv(&self, path: &str, params: &impl serde::Serialize) -> Result<String, ClientError> {
        let response = self
            .request(Method::GET, path)
            .query(params)
            .header("Accept", "text/csv")
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            let bytes = response.bytes().await?;
            return Err(refusal(status, &bytes));
        }
        Ok(response.text().await?)
    }

    pub async fn pay(&self, request: &PaymentRequest, idempotency_key: Option<&str>) -> Result<PaidJson, ClientError> {
        Self::send(self.post("/v1/payments", request, idempotency_key)).await
    }

    /// As the seller (this client's code owns the payee): refunds all or part of a payment.
    pub async fn refund(
        &self,
        receipt_id: &str,
        request: &RefundRequest,
        idempotency_key: Option<&str>,
    ) -> Result<RefundedJson, ClientError> {
        Self::send(self.post(&format!("/v1/receipts/{receipt_id}/refund"), request, idempotency_key)).await
    }

    /// As the operator: sets the rate from `from` to `to` (units of `to` per unit of `from`).
    pub async fn set_rate(&self, from: &str, to: &str, request: &RateRequest) -> Result<RateJson, ClientError> {
        Self::send(
            self.request(Method::PUT, &format!("/v1/admin/rates/{from}/{to}"))
                .json(request),
        )
        .await
    }

    /// Every rate the broker keeps (anyone may read them).
    pub async fn rates(&self) -> Result<RatesJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/rates")).await
    }

    /// What a price costs in another currency, fixed for a while (anyone may ask).
    pub async fn quote(
        &self,
        request: &QuoteRequest,
        idempotency_key: Option<&str>,
    ) -> Result<QuotedJson, ClientError> {
        Self::send(self.post("/v1/quotes", request, idempotency_key)).await
    }

    /// As the operator: the exchange account's position per currency.
    pub async fn exchange(&self) -> Result<ExchangeJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/exchange")).await
    }

    /// Sets value aside on the code in `request` for its payee.
    pub async fn hold(&self, request: &HoldRequest, idempotency_key: Option<&str>) -> Result<HeldJson, ClientError> {
        Self::send(self.post("/v1/holds", request, idempotency_key)).await
    }

    /// As the seller (this client's code owns the payee): takes `amount` of a hold, or all of it.
    pub async fn capture(
        &self,
        hold_id: &str,
        amount: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<PaidJson, ClientError> {
        let request = CaptureRequest {
            amount: amount.map(Into::into),
        };
        Self::send(self.post(&format!("/v1/holds/{hold_id}/capture"), &request, idempotency_key)).await
    }

    /// As the seller: gives a hold back whole.
    pub async fn void(&self, hold_id: &str, idempotency_key: Option<&str>) -> Result<HeldJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/holds/{hold_id}/void"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Makes an authorization code for one exact amount on this client's code.
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
        idempotency_key: Option<&str>,
    ) -> Result<AuthorizationJson, ClientError> {
        Self::send(self.post("/v1/me/authorizations", request, idempotency_key)).await
    }

    pub async fn authorizations(&self) -> Result<AuthorizationsJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/authorizations")).await
    }

    pub async fn cancel_authorization(
        &self,
        id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<AuthorizationJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/authorizations/{id}/cancel"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// Gives this client's code (or, with `public`, one of its public codes, by id) a new
    /// numeric alias.
    pub async fn set_alias(
        &self,
        public: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<AliasJson, ClientError> {
        Self::send(self.post(&alias_path(public), &serde_json::json!({}), idempotency_key)).await
    }

    /// Removes the numeric alias of this client's code (or of its public code `public`).
    pub async fn remove_alias(&self, public: Option<&str>) -> Result<AliasRemovedJson, ClientError> {
        Self::send(self.request(Method::DELETE, &alias_path(public))).await
    }

    /// Makes an assurance code with `floor` on this client's code.
    pub async fn create_assurance(
        &self,
        request: &AssuranceRequest,
        idempotency_key: Option<&str>,
    ) -> Result<AssuranceJson, ClientError> {
        Self::send(self.post("/v1/me/assurances", request, idempotency_key)).await
    }

    pub async fn assurances(&self) -> Result<AssurancesJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/assurances")).await
    }

    pub async fn cancel_assurance(
        &self,
        id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<AssuranceJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/assurances/{id}/cancel"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// As a seller: has an assurance code certified for `request.payee`.
    pub async fn certify(&self, request: &CertifyRequest) -> Result<CertifiedJson, ClientError> {
        Self::send(self.post("/v1/assurances/certify", request, None)).await
    }

    pub async fn receipt(&self, id: &str) -> Result<PaidJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/receipts/{id}"))).await
    }

    pub async fn public(&self, public_code: &str) -> Result<PublicJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/public/{public_code}"))).await
    }

    pub async fn metadata(&self) -> Result<serde_json::Value, ClientError> {
        Self::send(self.request(Method::GET, "/.well-known/smartcode")).await
    }
}

/// A refusal: the broker's problem+json, or, if the body is not one, the bare status.
fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ProblemJson>(body) {
        Ok(problem) => ClientError::Problem {
            status: status.as_u16(),
            code: problem.code,
            detail: problem.detail,
        },
        Err(_) => ClientError::Unexpected {
            status: status.as_u16(),
        },
    }
}

fn alias_path(public: Option<&str>) -> String {
    match public {
        Some(id) => format!("/v1/me/children/{id}/alias"),
        None => "/v1/me/alias".to_owned(),
    }
}
