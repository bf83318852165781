//! The operator's calls about peers: other brokers, their positions and settlements.

use reqwest::Method;

use crate::{Client, ClientError, PeerJson, PeerRequest, PeersJson, PositionJson, SettledJson, SettlementRequest};

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

    /// As the operator: suspends (`"suspend"`) or resumes (`"resume"`) the peer `name`.
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

    /// As the operator: removes the peer `name`.
    pub async fn remove_peer(&self, name: &str) -> Result<PeerJson, ClientError> {
        Self::send(self.request(Method::DELETE, &format!("/v1/admin/peers/{name}"))).await
    }
}
