//! Holds and refunds on the command line: `hold` (as the buyer's code, or a seller's server
//! presenting it), `capture`, `void` and `refund` (as the seller), and the pending holds `balance`
//! lists.

use anyhow::Result;
use smartcode_client::{Client, HoldJson, HoldRequest, RefundRequest};

use super::print_json;

pub(super) async fn hold(client: &Client, request: &HoldRequest, key: Option<&str>, json: bool) -> Result<()> {
    let held = client.hold(request, key).await?;
    if json {
        return print_json(&held);
    }
    let h = &held.hold;
    println!("Held {} {} for {}", h.amount.amount, h.amount.currency, h.payee);
    println!("  hold:    {}", h.id);
    println!("  expires: {}", h.expires_at);
    Ok(())
}

pub(super) async fn capture(
    client: &Client,
    hold_id: &str,
    amount: Option<&str>,
    key: Option<&str>,
    json: bool,
) -> Result<()> {
    let paid = client.capture(hold_id, amount, key).await?;
    if json {
        return print_json(&paid);
    }
    let r = &paid.receipt;
    println!(
        "Captured {} {} of hold {hold_id} for {}",
        r.amount.amount, r.amount.currency, r.payee
    );
    println!("  receipt: {}", r.id);
    Ok(())
}

pub(super) async fn void(client: &Client, hold_id: &str, key: Option<&str>, json: bool) -> Result<()> {
    let voided = client.void(hold_id, key).await?;
    if json {
        return print_json(&voided);
    }
    let h = &voided.hold;
    println!(
        "Hold {} {}: {} {} back to the buyer",
        h.id, h.status, h.amount.amount, h.amount.currency
    );
    Ok(())
}

pub(super) async fn refund(
    client: &Client,
    receipt_id: &str,
    request: &RefundRequest,
    key: Option<&str>,
    json: bool,
) -> Result<()> {
    let refunded = client.refund(receipt_id, request, key).await?;
    if json {
        return print_json(&refunded);
    }
    let r = &refunded.refund;
    println!("Refunded {} {} of {}", r.amount.amount, r.amount.currency, r.receipt_id);
    println!("  refund:  {}", r.id);
    Ok(())
}

/// The pending holds of a code, one line each.
pub(super) fn print_holds(holds: &[HoldJson]) {
    for h in holds {
        println!(
            "  hold:     {} {} {} for {} until {}",
            h.id, h.amount.amount, h.amount.currency, h.payee, h.expires_at
        );
    }
}
