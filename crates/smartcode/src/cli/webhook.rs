//! `smartcode webhook`: the owner of public codes subscribes a URL to their events, lists, tests,
//! rotates and removes subscriptions, reads deliveries, and (for a receiver's tests) verifies a
//! delivery's signature without the broker.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use smartcode_client::webhooks::{verify, WebhookJson, WebhookRequest};
use smartcode_core::limits::WEBHOOK_SIGNATURE_TOLERANCE_SECONDS;

use super::Args;

#[derive(Subcommand, Debug)]
pub enum WebhookAction {
    /// Subscribe URL to events of this code's public codes; prints the signing secret once.
    Add {
        url: String,
        /// Comma-separated: payment.received, refund.created, hold.captured, hold.voided, share.used_up, license.bought.
        #[arg(long, value_delimiter = ',', default_value = "payment.received")]
        events: Vec<String>,
        /// Only this public code's events.
        #[arg(long)]
        public_code: Option<String>,
    },
    /// This code's subscriptions.
    List,
    /// Queue a ping delivery to a subscription.
    Test { id: String },
    /// A new signing secret for a subscription (printed once; the old one stops signing).
    Rotate { id: String },
    /// End a subscription.
    Remove { id: String },
    /// A subscription's latest deliveries and their status.
    Deliveries { id: String },
    /// Check a delivery's Smartcode-Signature against its body under a secret, as a receiver must.
    Verify {
        /// The subscription's secret (whsec_…). Prefer SMARTCODE_WEBHOOK_SECRET.
        #[arg(long, env = "SMARTCODE_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The Smartcode-Signature header's value.
        #[arg(long)]
        signature: String,
        /// A file holding the body exactly as received (`-` for standard input).
        #[arg(long, default_value = "-")]
        body: PathBuf,
        /// The time to judge the signature's age at, in unix seconds (default: now).
        #[arg(long)]
        now: Option<i64>,
    },
}

fn show(webhook: &WebhookJson) {
    let only = webhook
        .public_code
        .as_deref()
        .map_or(String::new(), |p| format!(" (only {p})"));
    println!("{}  {}  {}{only}", webhook.id, webhook.url, webhook.events.join(","));
    if let Some(secret) = &webhook.secret {
        println!("  secret: {secret}\n  (shown once: keep it where the receiver can check signatures with it)");
    }
}

pub(super) async fn run(args: &Args, action: &WebhookAction, key: Option<&str>) -> Result<()> {
    let client = || super::code_client(args);
    let json = args.json;
    let print = |webhook: &WebhookJson| {
        if json {
            super::print_json(webhook)
        } else {
            show(webhook);
            Ok(())
        }
    };
    match action {
        WebhookAction::Verify {
            secret,
            signature,
            body,
            now,
        } => verify_body(secret, signature, body, *now),
        WebhookAction::Add {
            url,
            events,
            public_code,
        } => {
            let request = WebhookRequest {
                url: url.clone(),
                events: events.clone(),
                public_code: public_code.clone(),
            };
            print(&client()?.subscribe_webhook(&request, key).await?)
        }
        WebhookAction::List => {
            let listed = client()?.webhooks().await?;
            if json {
                return super::print_json(&listed);
            }
            if listed.webhooks.is_empty() {
                println!("No webhook subscriptions.");
            }
            listed.webhooks.iter().for_each(show);
            Ok(())
        }
        WebhookAction::Test { id } => {
            let ping = client()?.test_webhook(id, key).await?;
            if json {
                return super::print_json(&ping);
            }
            println!("Queued ping {} to {id}.", ping.event_id);
            Ok(())
        }
        WebhookAction::Rotate { id } => print(&client()?.rotate_webhook(id, key).await?),
        WebhookAction::Remove { id } => {
            let removed = client()?.remove_webhook(id).await?;
            if json {
                return super::print_json(&removed);
            }
            println!("Removed {}: nothing more is sent to {}.", removed.id, removed.url);
            Ok(())
        }
        WebhookAction::Deliveries { id } => {
            let listed = client()?.webhook_deliveries(id).await?;
            if json {
                return super::print_json(&listed);
            }
            for d in &listed.deliveries {
                let status = d.last_status.map_or(String::new(), |s| format!(" {s}"));
                let error = d.last_error.as_deref().map_or(String::new(), |e| format!(" ({e})"));
                println!(
                    "{}  {}  {}  after {} attempts{status}{error}",
                    d.event_id, d.kind, d.state, d.attempts
                );
            }
            Ok(())
        }
    }
}

/// `smartcode webhook verify`: the receiver's check, without the broker.
fn verify_body(secret: &str, signature: &str, body: &Path, now: Option<i64>) -> Result<()> {
    let bytes = if body.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(body).with_context(|| format!("reading {}", body.display()))?
    };
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = now.unwrap_or_else(|| i64::try_from(unix).unwrap_or(i64::MAX));
    match verify(secret, signature, &bytes, now, WEBHOOK_SIGNATURE_TOLERANCE_SECONDS) {
        Ok(()) => {
            println!("valid: signed with this secret, within {WEBHOOK_SIGNATURE_TOLERANCE_SECONDS} s");
            Ok(())
        }
        Err(why) => bail!("invalid: {why}"),
    }
}
