//! Licenses from the command line: `smartcode items license ITEM --copies N` (or `--work TITLE
//! --price P --payee P-…` for a work not sold here) pays for the copies and prints the license
//! code and its page; `smartcode items license-show CODE` reads a license as anyone can and checks
//! its receipt's signature here, offline, against the key the broker publishes.

use anyhow::{anyhow, bail, Result};
use smartcode_client::*;

#[derive(clap::Args, Debug)]
pub struct LicenseArgs {
    /// The item's id (it_…); leave it out with --work.
    pub item: Option<String>,
    #[arg(long)]
    pub copies: u32,
    /// A named work not sold here (with --price of one copy and --payee).
    #[arg(long)]
    pub work: Option<String>,
    #[arg(long)]
    pub price: Option<String>,
    #[arg(long)]
    pub payee: Option<String>,
    /// Who the license is for (a company's name), shown on its page.
    #[arg(long)]
    pub licensee: Option<String>,
}

fn describe(license: &LicenseJson) -> String {
    format!(
        "License {}: {} copies of \"{}\" ({}), {} {} paid by {}{} to {} at {}",
        license.license_code,
        license.copies,
        license.licensed.title,
        license.licensed.kind,
        license.total.amount,
        license.total.currency,
        license.paid_by,
        license
            .licensee
            .as_deref()
            .map_or(String::new(), |who| format!(" for {who}")),
        license.payee,
        license.created_at
    )
}

/// `smartcode items license`.
pub(super) async fn buy(client: &Client, args: &LicenseArgs, key: Option<&str>, json: bool) -> Result<()> {
    if args.item.is_some() == args.work.is_some() {
        bail!("name an item (it_…) or a --work, one of the two");
    }
    let request = LicenseRequest {
        item_id: args.item.clone(),
        work: args.work.clone(),
        price: args.price.as_deref().map(Into::into),
        payee: args.payee.clone(),
        copies: args.copies,
        licensee: args.licensee.clone(),
    };
    let bought = client.buy_license(&request, key).await?;
    if json {
        return super::print_json(&bought);
    }
    println!("{}", describe(&bought.license));
    println!("  page:    {}{}", client.base(), bought.license.page);
    println!("  receipt: {}", bought.receipt.id);
    Ok(())
}

/// `smartcode items license-show CODE`.
pub(super) async fn show(client: &Client, license_code: &str, json: bool) -> Result<()> {
    let read = client.license(license_code).await?;
    let metadata = client.metadata().await?;
    let key = metadata["receipt_signature"]["public_key"]
        .as_str()
        .ok_or_else(|| anyhow!("{} publishes no receipt key", client.base()))?;
    let key = smartcode_receipt::public_key(key).map_err(|e| anyhow!("the broker's key: {e}"))?;
    let checked = smartcode_receipt::verify(&read.receipt, &key);
    let same_payment = read.receipt.amount == read.license.total && read.receipt.payee == read.license.payee;
    if json {
        let mut out = serde_json::to_value(&read)?;
        out["verified"] = serde_json::json!(checked.is_ok() && same_payment);
        super::print_json(&out)?;
    } else {
        println!("{}", describe(&read.license));
        match &checked {
            Ok(_) if same_payment => println!("  receipt {}: signature verified", read.receipt.id),
            Ok(_) => println!("  receipt {}: signed, but for another payment", read.receipt.id),
            Err(error) => println!("  receipt {}: does not verify ({error})", read.receipt.id),
        }
    }
    match checked {
        Err(error) => bail!("the license's receipt does not verify: {error}"),
        Ok(_) if !same_payment => bail!("the license's receipt is for another payment"),
        Ok(_) => Ok(()),
    }
}
