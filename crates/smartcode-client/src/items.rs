//! Items: a seller makes one, uploads its content and lists its items; a buyer buys one with its
//! code and fetches the download the purchase granted.

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use super::{refusal, Client, ClientError};
use crate::{
    BoughtJson, ItemEnvelopeJson, ItemPurchaseRequest, ItemRequest, ItemsJson, LicenseBoughtJson, LicenseEnvelopeJson,
    LicenseRequest, ShareCreatedJson, ShareRequest, SharesJson,
};

impl Client {
    /// Puts an item up for sale from one of this code's public codes.
    pub async fn create_item(
        &self,
        request: &ItemRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ItemEnvelopeJson, ClientError> {
        Self::send(self.post("/v1/me/items", request, idempotency_key)).await
    }

    /// Stores an item's content (`content_type` is what downloads are served as).
    pub async fn upload_item(
        &self,
        id: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<ItemEnvelopeJson, ClientError> {
        let request = self
            .request(Method::PUT, &format!("/v1/me/items/{id}/content"))
            .header(CONTENT_TYPE, content_type)
            .body(bytes);
        Self::send(request).await
    }

    /// The items this code sells.
    pub async fn my_items(&self) -> Result<ItemsJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/items")).await
    }

    /// Pays for `request.uses` downloads of an item and gets them as one link (`/s/{code}`).
    pub async fn share_item(
        &self,
        request: &ShareRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ShareCreatedJson, ClientError> {
        Self::send(self.post("/v1/me/shares", request, idempotency_key)).await
    }

    /// Pays for copies of an item or a named work: the answer names the license's public code.
    pub async fn buy_license(
        &self,
        request: &LicenseRequest,
        idempotency_key: Option<&str>,
    ) -> Result<LicenseBoughtJson, ClientError> {
        Self::send(self.post("/v1/me/licenses", request, idempotency_key)).await
    }

    /// A license as anyone reads it, with its payment's signed receipt.
    pub async fn license(&self, license_code: &str) -> Result<LicenseEnvelopeJson, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/licenses/{license_code}"))).await
    }

    /// The shares this code gave, with how many of each were used.
    pub async fn my_shares(&self) -> Result<SharesJson, ClientError> {
        Self::send(self.request(Method::GET, "/v1/me/shares")).await
    }

    /// Buys an item with `code` (this client's PIN, if any, goes as `Smartcode-Pin`).
    pub async fn buy_item(
        &self,
        id: &str,
        code: &str,
        idempotency_key: Option<&str>,
    ) -> Result<BoughtJson, ClientError> {
        let body = ItemPurchaseRequest {
            code: code.to_owned(),
            pin: None,
        };
        Self::send(self.post(&format!("/v1/items/{id}/purchase"), &body, idempotency_key)).await
    }

    /// Fetches a download (`path` as the purchase answered it): the bytes of a stored item, or
    /// for one kept on its seller's server the address with its token.
    pub async fn download(&self, path: &str) -> Result<Download, ClientError> {
        // A redirect is the answer itself (the seller's address with its token), never followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let response = http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status();
        if status == reqwest::StatusCode::SEE_OTHER {
            let location = response.headers().get(reqwest::header::LOCATION);
            let location = location.and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
            return Ok(Download::Elsewhere(location));
        }
        let bytes = response.bytes().await?;
        if status.is_success() {
            return Ok(Download::Bytes(bytes.to_vec()));
        }
        Err(refusal(status, &bytes))
    }
}

/// What a download answered.
pub enum Download {
    Bytes(Vec<u8>),
    /// The seller's url, with the broker's signed token as `smartcode_token`.
    Elsewhere(String),
}
