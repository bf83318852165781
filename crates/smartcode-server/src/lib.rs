//! The HTTP API of a smartcode broker, on axum.
//!
//! Handlers parse requests into domain values ([`extract`], [`wire`]), hand a command or a query to
//! the [`Store`], and render the answer. They never see SQL, and every refusal leaves through
//! [`problem::ApiError`] as problem+json.

mod api;
pub mod extract;
pub mod guard;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod negotiation;
pub mod problem;
pub mod receipts;
pub mod web;
pub mod webhooks;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::Router;
use sha2::{Digest, Sha256};
use smartcode_core::clock::{Clock, ShiftedClock};
use smartcode_store::Store;
use tower_http::trace::TraceLayer;

pub use api::route_table;

use crate::guard::GuessGuard;
use crate::keys::Keys;

/// What the broker says about itself.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// A human name, shown in metadata and at the top of every ancestry.
    pub name: String,
    /// The name codes may carry after `@` (`7KQ2-M9XD@broker.example`).
    pub domain: String,
    /// The digits every all-digit code of this broker starts with, for its code format.
    pub broker_number: smartcode_core::numeric::BrokerNumber,
    /// Proxies whose `X-Forwarded-For` is believed; anyone else's address is the connection's.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Calls out to sellers may go to private and loopback addresses (`serve --allow-private-callouts`).
    pub allow_private_callouts: bool,
}

impl BrokerConfig {
    /// The format of the secret codes this broker issues and reads.
    pub fn code_format(&self) -> smartcode_core::format::CodeFormat {
        self.broker_number.format()
    }
}

pub struct Broker {
    pub config: BrokerConfig,
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    /// Set under `serve --test-clock`: the operator may move the broker's clock forward.
    pub test_clock: Option<Arc<ShiftedClock>>,
    pub guard: GuessGuard,
    /// Browser sessions of the web pages.
    pub sessions: web::session::Sessions,
    /// Signs receipts, a batch at a time.
    pub signer: receipts::ReceiptSigner,
    /// Calls out to peers (federation), bounded in time, following no redirect.
    pub federation_client: reqwest::Client,
    /// Charges waiting to go to each peer, a message at a time.
    pub federation_batches: api::federation::Batches,
    operator_token_digest: [u8; 32],
}

pub type AppState = Arc<Broker>;

impl Broker {
    pub fn new(
        config: BrokerConfig,
        store: Arc<dyn Store>,
        keys: Keys,
        clock: Arc<dyn Clock>,
        test_clock: Option<Arc<ShiftedClock>>,
        operator_token: &str,
    ) -> AppState {
        Arc::new(Broker {
            signer: receipts::ReceiptSigner::start(keys.receipt_signing_key()),
            federation_client: api::federation::client(),
            federation_batches: api::federation::Batches::default(),
            config,
            keys,
            guard: GuessGuard::new(clock.clone(), store.guard_counters()),
            store,
            sessions: web::session::Sessions::default(),
            clock,
            test_clock,
            operator_token_digest: Sha256::digest(operator_token.as_bytes()).into(),
        })
    }

    /// Compares digests, so the comparison takes the same time whatever the presented token.
    pub fn operator_token_matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        !presented.is_empty() && digest == self.operator_token_digest
    }
}

/// The whole application: API, metadata and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    // Log the route template, never the raw path: a careless client might put a code in a URL.
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("<unmatched>", |m| m.as_str())
            .to_owned();
        tracing::info_span!("request", http.method = %request.method(), http.route = %route)
    });
    // One line per request at `info`, inside the span above (so it names the method and route):
    // the status and how long the answer took, in milliseconds with microseconds.
    let trace = trace.on_response(|response: &Response, latency: Duration, _: &tracing::Span| {
        let micros = latency.as_micros();
        tracing::info!(
            http.status = response.status().as_u16(),
            duration_ms = %format_args!("{}.{:03}", micros / 1_000, micros % 1_000),
            "answered"
        );
    });
    api::build(state)
        .layer(axum::middleware::map_response(web::security_headers))
        .layer(trace)
}

/// Voids the charges left in doubt with peers, every second, for as long as the broker runs
/// (every process runs one; see ARCHITECTURE.md, "A payment across two brokers").
pub async fn resolve_charges_in_doubt(state: AppState) {
    api::federation::resolve_in_doubt(state).await
}

/// Methods and paths, for tests that compare the router with the OpenAPI document.
pub fn describe_route(method: &Method, path: &str) -> String {
    format!("{} {}", method.as_str().to_ascii_lowercase(), path)
}
