//! Quotes across currencies on the command line: `rates set|list|position` (setting a rate and
//! the position are the operator's) and `quote` (anyone); paying with a quote is `pay --quote`.

use anyhow::{anyhow, Result};
use smartcode_client::{Client, MoneyRequest, QuoteRequest, RateRequest};

use super::args::{Args, RatesAction};
use super::{operator_client, print_json};

/// A rate is set with PUT, idempotent by itself: no Idempotency-Key.
pub(super) async fn rates(args: &Args, action: &RatesAction) -> Result<()> {
    match action {
        RatesAction::Set {
            from,
            to,
            rate,
            fee_bps,
        } => {
            let request = RateRequest {
                rate: rate.clone(),
                fee_bps: *fee_bps,
            };
            let set = operator_client(args)?.set_rate(from, to, &request).await?;
            if args.json {
                return print_json(&set);
            }
            println!(
                "Rate {} to {}: {} (fee {} bps)",
                set.from, set.to, set.rate, set.fee_bps
            );
            Ok(())
        }
        RatesAction::List => {
            let list = Client::new(&args.broker).rates().await?;
            if args.json {
                return print_json(&list);
            }
            for r in &list.rates {
                println!(
                    "{} -> {}  {}  fee {} bps  set {}",
                    r.from, r.to, r.rate, r.fee_bps, r.set_at
                );
            }
            Ok(())
        }
        RatesAction::Position => {
            let exchange = operator_client(args)?.exchange().await?;
            if args.json {
                return print_json(&exchange);
            }
            for c in &exchange.currencies {
                println!("{}  {}", c.currency, c.position);
            }
            Ok(())
        }
    }
}

/// Reads "10 USD" (or "10USD") into an amount and a currency.
pub(super) fn price(text: &str) -> Result<MoneyRequest> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("--price is an amount and a currency, such as \"10 USD\""))?;
    let (amount, currency) = text.split_at(split);
    Ok(MoneyRequest {
        amount: amount.trim().into(),
        currency: currency.trim().to_owned(),
    })
}

pub(super) async fn quote(
    args: &Args,
    pay_currency: &str,
    price_text: &str,
    payee: Option<&str>,
    key: Option<&str>,
) -> Result<()> {
    let request = QuoteRequest {
        pay_currency: pay_currency.to_owned(),
        price: price(price_text)?,
        payee: payee.map(str::to_owned),
    };
    let quoted = Client::new(&args.broker).quote(&request, key).await?;
    if args.json {
        return print_json(&quoted);
    }
    let q = &quoted.quote;
    println!(
        "Quote {}: {} {} pays {} {}",
        q.id, q.pay.amount, q.pay.currency, q.price.amount, q.price.currency
    );
    println!(
        "  rate:    {} {} per {} (fee {} bps, {} {})",
        q.rate, q.price.currency, q.pay.currency, q.fee.bps, q.fee.amount.amount, q.fee.amount.currency
    );
    if let Some(payee) = &q.payee {
        println!("  payee:   {payee}");
    }
    println!("  expires: {}", q.expires_at);
    Ok(())
}
