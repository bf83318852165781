//! The JSON shapes of a smartcode broker's HTTP API, written once: the server writes responses
//! and reads requests with them, the client (and, later, a peer broker) does the opposite, so the
//! two sides cannot drift apart.
//!
//! ```
//! use smartcode_api::{PaidJson, PaymentRequest};
//!
//! // A buyer's program asks for a payment...
//! let request = PaymentRequest {
//!     code: "7KQ2-M9XD".into(),
//!     payee: "P-4WZ8N-K3QJD".into(),
//!     amount: Some("0.25".into()),
//!     currency: None,
//!     quote: None,
//!     memo: Some("a song".into()),
//!     category: None,
//!     item: None,
//!     certificate: None,
//! };
//! let body = serde_json::to_string(&request)?;
//! assert_eq!(body, r#"{"code":"7KQ2-M9XD","payee":"P-4WZ8N-K3QJD","amount":"0.25","memo":"a song"}"#);
//!
//! // ...and reads the broker's answer into the same shapes the broker wrote it from.
//! let answer = r#"{"receipt": {
//!     "id": "r_01jd5v3qz8000000000000000a", "payer_id": "c_7kq2m9xd4wz8nk3q",
//!     "payee": "P-4WZ8N-K3QJD", "payee_id": "c_0000000000000001",
//!     "amount": {"amount": "0.25", "currency": "USD"},
//!     "memo": "a song", "category": null, "item": null,
//!     "created_at": "2026-11-24T12:00:00Z", "broker": "broker.example", "version": "smartcode-receipt-v2", "signature": "00",
//!     "batch": {"root": "00", "size": 1, "index": 0, "path": []}
//! }}"#;
//! let paid: PaidJson = serde_json::from_str(answer)?;
//! assert_eq!(paid.receipt.amount.amount, "0.25");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! **API boundary.** This crate knows serde and the core's domain types, nothing else: no axum,
//! no reqwest, no store, no server. It depends on `smartcode-core` so that the conversions from
//! domain values into response shapes (`From<&CodeView> for CodeJson`, [`Money::new`],
//! `ReceiptJson::unsigned`) live beside the shapes they fill and change with them; the core does no
//! I/O, so a client pays for it only in compile time. Those conversions cannot fail. Reading a
//! request into domain types can, and the refusal (status and problem `code` word) is the
//! server's, so that half stays in the server's `wire` module.
//!
//! Requests refuse unknown fields when read and leave absent optional fields out when written;
//! responses ignore unknown fields when read, so a newer broker may add fields. Amounts are
//! decimal strings throughout, never floating point.

pub mod challenge;
mod federation;
mod from_core;
mod items;
mod licenses;
mod offers;
mod requests;
mod responses;
mod sessions;
mod spending;
pub mod webhooks;

pub use federation::*;
pub use items::*;
pub use licenses::*;
pub use offers::*;
pub use requests::*;
pub use responses::*;
pub use sessions::*;
pub use spending::*;

#[cfg(test)]
mod tests;
