//! The operator's commands that move money out of the system and check it: `payout`, `check`.

use anyhow::{anyhow, Result};
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

/// The ledger check, per currency (with the exchange account's position where quotes moved
/// value through it); fails unless it is OK.
pub(super) async fn check(client: &Client, json: bool) -> Result<()> {
    let check = client.ledger_check().await?;
    if json {
        print_json(&check)?;
    } else {
        println!("ledger {}", if check.ok { "OK" } else { "NOT OK" });
        for c in &check.currencies {
            let exchange = if c.exchange.trim_start_matches(['-', '0', '.']).is_empty() {
                String::new()
            } else {
                format!(", exchange {}", c.exchange)
            };
            println!(
                "  {}: issued {}, paid out {}, held by codes {}{exchange}, sum {} ({} accounts, {} transfers)",
                c.currency, c.issued, c.paid_out, c.held_by_codes, c.sum, c.accounts, c.transfers
            );
        }
        println!(
            "  negative balances: {}, mismatched accounts: {}, uncovered holds: {}",
            check.negative_balances, check.mismatched_accounts, check.uncovered_holds
        );
    }
    if check.ok {
        Ok(())
    } else {
        Err(anyhow!("the ledger check failed"))
    }
}
