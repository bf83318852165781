//! A code's spending rules, its purchases of sellers' offers, its approval queue and its metered
//! sessions (zero-click buying, with the seller's charge of a session), and the buyer's side of the 402 flow: read an offer from a `402 Payment Required`
//! answer.

use reqwest::Method;

use crate::{
    ApprovalQueueJson, ApproveRequest, ApprovedJson, ChargeRequest, ChargedJson, Client, ClientError, OfferJson,
    PurchaseJson, PurchaseRequest, RulesJson, RulesRequest, SessionEnvelopeJson, SessionsJson, OFFER_HEADER,
};

impl Client {
    /// This code's spending rules, each with what it has spent and left.
    pub async fn rules(&self) -> Result<RulesJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/rules")).await
    }

    /// Replaces this code's spending rules (`rules: []` removes them).
    pub async fn set_rules(
        &self,
        rules: &RulesRequest,
        idempotency_key: Option<&str>,
    ) -> Result<RulesJson, ClientError> {
        let mut request = self.request(Method::PUT, "/v1/me/rules").json(rules);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    /// Buys `request.offer` under this code's spending rules: `status` is `paid` (with the
    /// receipt) or `needs_approval` (with the approval's id).
    pub async fn purchase(
        &self,
        request: &PurchaseRequest,
        idempotency_key: Option<&str>,
    ) -> Result<PurchaseJson, ClientError> {
        Self::send(self.post("/v1/me/purchases", request, idempotency_key)).await
    }

    /// The purchases waiting for this code's approval, then those settled.
    pub async fn approvals(&self) -> Result<ApprovalQueueJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/approvals")).await
    }

    /// Approves a waiting purchase (paying it), and with `make_rule` makes its kind zero-click.
    pub async fn approve(
        &self,
        id: &str,
        request: &ApproveRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ApprovedJson, ClientError> {
        Self::send(self.post(&format!("/v1/me/approvals/{id}/approve"), request, idempotency_key)).await
    }

    pub async fn decline(&self, id: &str, idempotency_key: Option<&str>) -> Result<ApprovedJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/approvals/{id}/decline"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// This code's metered sessions, open ones first.
    pub async fn sessions(&self) -> Result<SessionsJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/sessions")).await
    }

    /// Closes one of this code's sessions: its seller charges nothing more.
    pub async fn close_session(
        &self,
        id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<SessionEnvelopeJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/sessions/{id}/close"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// As the seller (this client's code owns the session's payee): a session, as it stands.
    pub async fn session(&self, id: &str) -> Result<SessionEnvelopeJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/sessions/{id}"))).await
    }

    /// As the seller: charges `request.amount` of what the session's use has accrued.
    pub async fn charge_session(
        &self,
        id: &str,
        request: &ChargeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ChargedJson, ClientError> {
        Self::send(self.post(&format!("/v1/sessions/{id}/charge"), request, idempotency_key)).await
    }
}

/// The offer of a `402 Payment Required` answer: from its `Smartcode-Offer` header, or else its
/// body (the JSON offer itself, or an object with the offer under `offer`).
pub fn offer_of(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<OfferJson> {
    let from_header = headers
        .get(OFFER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(OfferJson::from_header);
    from_header.or_else(|| {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let offer = value.get("offer").cloned().unwrap_or(value);
        serde_json::from_value(offer).ok()
    })
}
