//! A code's webhook subscriptions: subscribe, list, test, rotate, remove, and read deliveries.

use reqwest::Method;
use smartcode_api::webhooks::{DeliveriesJson, DeliveryJson, WebhookJson, WebhookRequest, WebhooksJson};

use crate::{Client, ClientError};

impl Client {
    /// Subscribes `request.url` to events of this code's public codes; the answer holds the
    /// signing secret, shown this once.
    pub async fn subscribe_webhook(
        &self,
        request: &WebhookRequest,
        idempotency_key: Option<&str>,
    ) -> Result<WebhookJson, ClientError> {
        Self::send(self.post("/v1/me/webhooks", request, idempotency_key)).await
    }

    pub async fn webhooks(&self) -> Result<WebhooksJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/webhooks")).await
    }

    /// Queues a ping behind what the subscription is owed.
    pub async fn test_webhook(&self, id: &str, idempotency_key: Option<&str>) -> Result<DeliveryJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/webhooks/{id}/test"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    /// A new signing secret (the answer holds it, shown this once).
    pub async fn rotate_webhook(&self, id: &str, idempotency_key: Option<&str>) -> Result<WebhookJson, ClientError> {
        Self::send(self.post(
            &format!("/v1/me/webhooks/{id}/rotate"),
            &serde_json::json!({}),
            idempotency_key,
        ))
        .await
    }

    pub async fn remove_webhook(&self, id: &str) -> Result<WebhookJson, ClientError> {
        Self::send(self.request(Method::DELETE, &format!("/v1/me/webhooks/{id}"))).await
    }

    /// The subscription's latest deliveries, newest first.
    pub async fn webhook_deliveries(&self, id: &str) -> Result<DeliveriesJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/me/webhooks/{id}/deliveries"))).await
    }
}
