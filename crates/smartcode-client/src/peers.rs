//! The operator's calls about peers: other brokers, their positions and settlements.

use reqwest::Method;

use crate::{
    Client, ClientError, PeerJson, PeerReportJson, PeerRequest, PeersJson, PositionJson, ReconcileJson, SettledJson,
    SettlementRequest, StatementJson,
};

/// A period of statements and reports: `since` and `until`, RFC 3339, either left out.
pub type Period<'a> = (Option<&'a str>, Option<&'a str>);

impl Client {
    /// As the operator: adds the broker at `request.url` as a peer, its key pinned.
    pub async fn add_peer(
        &self,
        request: &PeerRequest,
        idempotency_key: Option<&str>,
    ) -> Result<PeerJson, ClientError> {
        Self::send(self.post("/v1/admin/peers", request, idempotency_key)).await
    }

    /// As the operator: every peer.
    pub async fn peers(&self) -> Result<PeersJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/admin/peers")).await
    }

    /// As the operator: suspends (`"suspend"`) or resumes (`"resume"`) the peer `name`, or shows
    /// (`"show"`) or hides (`"hide"`) it on this broker's page.
    pub async fn peer_status(&self, name: &str, verb: &str) -> Result<PeerJson, ClientError> {
        Self::send(self.post(&format!("/v1/admin/peers/{name}/{verb}"), &serde_json::json!({}), None)).await
    }

    /// As the operator: where this broker stands with the peer `name`, per currency.
    pub async fn peer_position(&self, name: &str) -> Result<PositionJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/admin/peers/{name}/position"))).await
    }

    /// As the operator: records money paid between this broker and the peer outside the system.
    pub async fn settle(
        &self,
        name: &str,
        request: &SettlementRequest,
        idempotency_key: Option<&str>,
    ) -> Result<SettledJson, ClientError> {
        Self::send(self.post(&format!("/v1/admin/peers/{name}/settlements"), request, idempotency_key)).await
    }

    /// As the operator: this broker's signed statement with the peer `name` for a period (from
    /// `since`, or the beginning, to `until`, or a minute ago).
    pub async fn peer_statement(&self, name: &str, period: Period<'_>) -> Result<StatementJson, ClientError> {
        Self::send(self.over(&format!("/v1/admin/peers/{name}/statement"), period)).await
    }

    /// As the operator: both brokers' statements for a period, compared.
    pub async fn reconcile(&self, name: &str, period: Period<'_>) -> Result<ReconcileJson, ClientError> {
        Self::send(self.over(&format!("/v1/admin/peers/{name}/reconcile"), period)).await
    }

    /// As the operator: what crossed with the peer `name` per day, for a period (by default
    /// every charge so far).
    pub async fn peer_report(&self, name: &str, period: Period<'_>) -> Result<PeerReportJson, ClientError> {
        Self::send(self.over(&format!("/v1/admin/peers/{name}/report"), period)).await
    }

    fn over(&self, path: &str, (since, until): Period<'_>) -> reqwest::RequestBuilder {
        let asked: Vec<(&str, &str)> = [("since", since), ("until", until)]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect();
        self.request(Method::GET, path).query(&asked)
    }

    /// As the operator: removes the peer `name`.
    pub async fn remove_peer(&self, name: &str) -> Result<PeerJson, ClientError> {
        Self::send(self.request(Method::DELETE, &format!("/v1/admin/peers/{name}"))).await
    }
}
