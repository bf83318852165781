//! Negotiation at the buyer's broker (API.md, "Negotiation at the buyer's broker"): when an offer
//! is negotiable and its price is over what the buyer's spending rules let through with no one
//! asked (their room), the broker bids for the buyer against the seller's endpoint.
//!
//! ```text
//! round r (1 ..= min(max_rounds, NEGOTIATION_ROUNDS_MAX)), within NEGOTIATION_MILLIS in all:
//!   POST endpoint {offer_id, round: r, bid: strategy.bid(r, room)}   (NEGOTIATION_CALL_MILLIS)
//!   {accept: true, price} with price <= bid  --> agreed at price
//!   {counter}, taken by the strategy, <= room --> agreed at counter (a counter is the seller's
//!                                                standing offer: it sells at that price)
//!   {counter}, not taken                     --> next round (or no deal, the counter kept)
//!   {reject: true}                           --> no deal
//!   silence, an error, garbage, too large    --> no deal (the last counter kept)
//! ```
//!
//! Nothing is held or moved while negotiating: an agreement is then bought through the rules like
//! any purchase (`ledger::purchases`), and no deal queues the offer for approval with the seller's
//! last counter. So a seller that misbehaves can make a purchase wait, never leave it half done.

pub mod callout;
pub mod strategy;

use std::time::{Duration, Instant};

use smartcode_api::{BidAnswerJson, BidJson, Money, OfferJson};
use smartcode_core::limits::*;
use smartcode_core::money::{format_units, Amount, Currency};

use self::callout::CallError;
use self::strategy::Strategy;

/// How a negotiation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Both sides agreed on this price (units), after this many rounds.
    Agreed { units: i64, rounds: u32 },
    /// No agreement: the seller's last counter (units), the rounds made, and why.
    NoDeal {
        counter: Option<i64>,
        rounds: u32,
        why: String,
    },
}

/// Negotiates `offer` for a buyer whose rules leave `room` (units, more than zero and less than
/// the price), in `currency`.
pub async fn negotiate(
    offer: &OfferJson,
    (room, currency): (i64, Currency),
    strategy: &dyn Strategy,
    allow_private: bool,
) -> Ending {
    let Some(negotiable) = &offer.negotiable else {
        return no_deal(None, 0, "the offer is not negotiable".into());
    };
    let (url, address) = match callout::check_endpoint(&negotiable.endpoint, allow_private).await {
        Ok(checked) => checked,
        Err(error) => return no_deal(None, 0, error.describe().to_owned()),
    };
    let rounds = negotiable.max_rounds.clamp(1, NEGOTIATION_ROUNDS_MAX);
    let deadline = Instant::now() + Duration::from_millis(NEGOTIATION_MILLIS);
    let mut counter = None;
    for round in 1..=rounds {
        let bid = strategy.bid(round, room).clamp(1, room);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return no_deal(
                counter,
                round - 1,
                format!("no agreement within {NEGOTIATION_MILLIS} ms"),
            );
        }
        let message = BidJson {
            offer_id: offer.id.clone(),
            round,
            bid: money(bid, currency),
        };
        let body = serde_json::to_vec(&message).expect("a bid serializes");
        let timeout = left.min(Duration::from_millis(NEGOTIATION_CALL_MILLIS));
        let answer = match callout::post(&url, address, body, timeout).await {
            Ok(answer) => answer,
            Err(CallError::Refused(why) | CallError::NoAnswer(why)) => return no_deal(counter, round, why),
        };
        let Some(answer) = read_answer(&answer, currency) else {
            return no_deal(
                counter,
                round,
                "the seller's answer is not one of accept, counter or reject".into(),
            );
        };
        match answer {
            Answer::Accept(price) if price <= bid => {
                return Ending::Agreed {
                    units: price,
                    rounds: round,
                }
            }
            Answer::Accept(price) | Answer::Counter(price) => {
                counter = Some(price);
                if strategy.takes(price, round, rounds, room) && price <= room {
                    return Ending::Agreed {
                        units: price,
                        rounds: round,
                    };
                }
            }
            Answer::Reject => return no_deal(counter, round, "the seller rejected the bids".into()),
        }
    }
    no_deal(counter, rounds, format!("no agreement in {rounds} rounds"))
}

fn no_deal(counter: Option<i64>, rounds: u32, why: String) -> Ending {
    Ending::NoDeal { counter, rounds, why }
}

fn money(units: i64, currency: Currency) -> Money {
    Money {
        amount: format_units(units),
        currency: currency.to_string(),
    }
}

enum Answer {
    Accept(i64),
    Counter(i64),
    Reject,
}

/// The seller's answer, if it is exactly one of the three, its price positive and in the offer's
/// currency.
fn read_answer(bytes: &[u8], currency: Currency) -> Option<Answer> {
    let answer: BidAnswerJson = serde_json::from_slice(bytes).ok()?;
    let units = |money: &Money| {
        let amount = Amount::parse(&money.amount).ok()?;
        (money.currency == currency.as_str() && amount.units() > 0).then_some(amount.units())
    };
    match (answer.accept, &answer.price, &answer.counter, answer.reject) {
        (true, Some(price), None, false) => units(price).map(Answer::Accept),
        (false, None, Some(counter), false) => units(counter).map(Answer::Counter),
        (false, None, None, true) => Some(Answer::Reject),
        _ => None,
    }
}
