//! The operator's commands that move money out of the system: `payout`.

use anyhow::Result;
use smartcode_client::{Client, PayoutRequest};

use super::print_json;

/// Pays value out of a code back to the issuance account and says what the code holds after.
pub(super) async fn payout(
    client: &Client,
    request: &PayoutRequest,
    idempotency_key: Option<&str>,
    json: bool,
) -> Result<()> {
    let paid_out = client.payout(request, idempotency_key).await?;
    if json {
        return print_json(&paid_out);
    }
    println!(
        "Paid {} {} out of {}: balance now {} {}",
        paid_out.amount.amount,
        paid_out.amount.currency,
        paid_out.code_id,
        paid_out.balance.amount,
        paid_out.balance.currency
    );
    println!("  payout:    {}", paid_out.id);
    println!("  reference: {}", paid_out.reference);
    Ok(())
}
