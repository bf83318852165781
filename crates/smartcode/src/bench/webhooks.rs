//! What `smartcode bench` sets up for the content capabilities: `--webhooks` (payments to sellers
//! that subscribed a webhook, beside plain payments to sellers that did not, and the deliveries
//! the broker sends to a fast receiver this command runs on loopback; it starts its broker with
//! `--allow-private-callouts`) and `--items` (an item of each seller to buy).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

/// What the receiver got, and how fast the broker drained its outbox.
#[derive(Serialize, Clone, Debug)]
pub struct Deliveries {
    /// Deliveries the receiver got (each payment to a subscribed seller is one).
    pub delivered: u64,
    /// Deliveries still owed when the payments stopped.
    pub behind_when_payments_stopped: u64,
    /// Seconds after the payments stopped until the receiver had them all (`None`: not within
    /// [`DRAIN_SECONDS_MAX`]).
    pub drained_after_seconds: Option<f64>,
    /// Deliveries per second, from the first payment to the last delivery.
    pub deliveries_per_second: u64,
}

/// How long the bench waits for the outbox to drain after the payments.
pub const DRAIN_SECONDS_MAX: u64 = 300;

/// A receiver that answers every delivery `204` at once, counting them.
pub struct Receiver {
    pub url: String,
    pub count: Arc<AtomicU64>,
}

pub async fn start_receiver() -> Result<Receiver> {
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver {
        url: format!("http://{address}/hook"),
        count,
    })
}

/// Subscribes every seller's code to `payment.received` at `url`.
pub async fn subscribe(http: &reqwest::Client, base: &str, sellers: &[String], url: &str) -> Result<()> {
    for seller in sellers {
        http.post(format!("{base}/v1/me/webhooks"))
            .header("Authorization", format!("Code {seller}"))
            .json(&serde_json::json!({ "url": url, "events": ["payment.received"] }))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

/// Waits until the receiver got `expected` deliveries; `started` is when the payments began and
/// `stopped` when they ended.
pub async fn drain(receiver: &Receiver, expected: u64, started: Instant, stopped: Instant) -> Deliveries {
    let behind = expected.saturating_sub(receiver.count.load(Ordering::Relaxed));
    let mut drained = None;
    while stopped.elapsed() < Duration::from_secs(DRAIN_SECONDS_MAX) {
        if receiver.count.load(Ordering::Relaxed) >= expected {
            drained = Some(stopped.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = receiver.count.load(Ordering::Relaxed);
    let span = started.elapsed().as_micros().max(1);
    Deliveries {
        delivered,
        behind_when_payments_stopped: behind,
        drained_after_seconds: drained.map(|d| (d.as_secs_f64() * 100.0).round() / 100.0),
        deliveries_per_second: u64::try_from(u128::from(delivered) * 1_000_000 / span).unwrap_or(u64::MAX),
    }
}

/// One item of each seller, sold through its public code for a millionth of a unit, with 1 KiB
/// of content stored by the broker; answers their ids, in the payees' order.
pub async fn items_of(
    http: &reqwest::Client,
    base: &str,
    sellers: &[String],
    payees: &[String],
) -> Result<Vec<String>> {
    let mut items = Vec::with_capacity(sellers.len());
    for (seller, payee) in sellers.iter().zip(payees) {
        let made: serde_json::Value = http
            .post(format!("{base}/v1/me/items"))
            .header("Authorization", format!("Code {seller}"))
            .json(&serde_json::json!({ "title": "a song", "price": "0.000001", "public_code": payee }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = made["item"]["id"].as_str().unwrap_or_default().to_owned();
        http.put(format!("{base}/v1/me/items/{id}/content"))
            .header("Authorization", format!("Code {seller}"))
            .header("content-type", "audio/mpeg")
            .body(vec![0u8; 1024])
            .send()
            .await?
            .error_for_status()?;
        items.push(id);
    }
    Ok(items)
}
