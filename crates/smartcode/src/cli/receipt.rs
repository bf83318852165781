//! `smartcode receipt RECEIPT [--verify] [--key HEX]`: a receipt fetched by id or read from a JSON
//! file, and with `--verify` its signature checked here, offline, with `smartcode-receipt`
//! against the broker's public key (from `--key`, or fetched once from `/.well-known/smartcode`).
//! Nothing is taken on the broker's word but its key.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use smartcode_client::*;

use super::{print_json, Args};

pub(super) async fn run(args: &Args, receipt: &str, verify: bool, key: Option<&str>) -> Result<()> {
    let receipt = load(args, receipt).await?;
    let checked = if verify {
        let key = match key {
            Some(hex) => hex.to_owned(),
            None => published_key(args).await?,
        };
        let key = smartcode_receipt::public_key(&key).map_err(|e| anyhow!("the broker's key: {e}"))?;
        Some(smartcode_receipt::verify(&receipt, &key))
    } else {
        None
    };
    if args.json {
        let mut out = json!({ "receipt": receipt });
        if let Some(checked) = &checked {
            out["verified"] = json!(checked.is_ok());
            match checked {
                Ok(version) => out["version"] = json!(version_word(*version)),
                Err(error) => out["error"] = json!(error.to_string()),
            }
        }
        print_json(&out)?;
    } else {
        print_text(&receipt, checked.as_ref());
    }
    match checked {
        Some(Err(error)) => bail!("the receipt does not verify: {error}"),
        _ => Ok(()),
    }
}

/// A receipt from a file (a broker's answer `{"receipt": …}` or the receipt alone), or by id from
/// the broker.
async fn load(args: &Args, receipt: &str) -> Result<ReceiptJson> {
    let path = Path::new(receipt);
    if !path.is_file() {
        let client = match args.code.as_deref() {
            // The payer reads its own receipt with its code, and sees its own id in it.
            Some(code) => Client::new(&args.broker).with_code(code).with_pin(args.pin.as_deref()),
            None => Client::new(&args.broker),
        };
        return Ok(client.receipt(receipt).await?.receipt);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = value.get("receipt").cloned().unwrap_or(value);
    serde_json::from_value(inner).with_context(|| format!("{} does not hold a receipt", path.display()))
}

async fn published_key(args: &Args) -> Result<String> {
    let metadata = Client::new(&args.broker).metadata().await?;
    metadata["receipt_signature"]["public_key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} publishes no receipt key", args.broker))
}

fn version_word(version: smartcode_receipt::Version) -> &'static str {
    match version {
        smartcode_receipt::Version::V1 => smartcode_receipt::V1,
        smartcode_receipt::Version::V2 => smartcode_receipt::V2,
    }
}

fn print_text(r: &ReceiptJson, checked: Option<&Result<smartcode_receipt::Version, smartcode_receipt::ReceiptError>>) {
    println!(
        "Receipt {}: {} {} from {} to {} at {}",
        r.id, r.amount.amount, r.amount.currency, r.payer_id, r.payee, r.created_at
    );
    if let Some(memo) = &r.memo {
        println!("  memo:     {memo}");
    }
    if let Some(category) = &r.category {
        println!("  category: {category}");
    }
    if let Some(item) = &r.item {
        println!("  item:     {item}");
    }
    match checked {
        None => println!("  signed by {} (check it with --verify)", r.broker),
        Some(Ok(version)) => {
            let batch = r
                .batch
                .as_ref()
                .map_or(String::new(), |b| format!(", one of {} in its batch", b.size));
            println!(
                "  signature verified: signed by {} ({}{batch})",
                r.broker,
                version_word(*version)
            );
        }
        Some(Err(error)) => println!("  signature DOES NOT VERIFY: {error}"),
    }
}
