//! The seller's side of a negotiation: the buyer's broker POSTs bids (`BidJson`) to the offer's
//! endpoint, and the seller answers each (`BidAnswerJson`) as its [`SellerStrategy`] decides.
//!
//! The paywall keeps the rules every strategy lives under, so a strategy cannot break them:
//! rounds are counted by the seller (the bid's own `round` is only read to recognise a retry),
//! a bid past the offer's `max_rounds` is rejected, a counter never rises above the lowest price
//! offered before, a counter at or below the bid is taken as accepting the bid, and an accepted
//! price closes the negotiation. Every price the seller accepts or counters stays one it will
//! be paid at: a receipt for it opens the resource.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use smartcode_api::{BidAnswerJson, BidJson};
use smartcode_core::money::{Amount, Currency};

use crate::book::{Answer, Haggle, LastBid};
use crate::{problem, Paywall};

/// Bytes of a bid's body the endpoint reads; a bid is a few dozen.
pub const BID_BODY_BYTES_MAX: usize = 4 * 1024;

/// What a strategy is told about a bid. All amounts are in the offer's currency.
#[derive(Clone, Copy, Debug)]
pub struct BidContext<'a> {
    pub offer_id: &'a str,
    /// The offer's item (its path, without the leading `/`).
    pub item: &'a str,
    /// The offer's price.
    pub list_price: Amount,
    /// The lowest price offered so far: the list price, or the last counter.
    pub ask: Amount,
    /// What the buyer's broker offers to pay.
    pub bid: Amount,
    /// This bid's round as the seller counted it, from 1.
    pub round: u32,
    /// The offer's `max_rounds`: no bid comes after the round of this number.
    pub max_rounds: u32,
}

impl BidContext<'_> {
    pub fn is_last_round(&self) -> bool {
        self.round >= self.max_rounds
    }
}

/// A strategy's answer to a bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Sell at the bid.
    Accept,
    /// Ask this price instead.
    Counter(Amount),
    /// No deal in this negotiation (the offer can still be paid at the lowest price offered).
    Reject,
}

/// How a seller answers bids. It is called under the paywall's lock, once per bid: keep it
/// quick, and do no I/O in it.
pub trait SellerStrategy: Send + Sync + 'static {
    fn decide(&self, bid: &BidContext<'_>) -> Decision;
}

/// Any `Fn(&BidContext) -> Decision` is a strategy.
impl<F> SellerStrategy for F
where
    F: Fn(&BidContext<'_>) -> Decision + Send + Sync + 'static,
{
    fn decide(&self, bid: &BidContext<'_>) -> Decision {
        self(bid)
    }
}

/// A floor and a step: accept a bid at or above the current ask; otherwise counter with the list
/// price lowered by `step` per round, never below `floor`, and accept a bid at or above that
/// counter. In the last round a bid at or above the floor is accepted (better sold at the floor
/// than not at all). A bid below `reject_below_percent` of the floor (default 50) is rejected
/// outright.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    floor: Amount,
    step: Amount,
    reject_below_percent: u32,
}

impl Floor {
    pub fn new(floor: Amount, step: Amount) -> Floor {
        Floor {
            floor,
            step,
            reject_below_percent: 50,
        }
    }

    /// Bids below this percentage of the floor are rejected outright (0: none are).
    pub fn reject_below_percent(mut self, percent: u32) -> Floor {
        self.reject_below_percent = percent;
        self
    }

    /// The counter of a round: the list price less `round` steps, not below the floor.
    pub fn counter_in_round(&self, list_price: Amount, round: u32) -> Amount {
        let lowered = list_price
            .units()
            .saturating_sub(self.step.units().saturating_mul(i64::from(round)));
        let units = lowered.max(self.floor.units());
        Amount::from_units(units).expect("at least the floor, which is an amount")
    }
}

impl SellerStrategy for Floor {
    fn decide(&self, bid: &BidContext<'_>) -> Decision {
        // Integer arithmetic in i128: a bid and a floor below the amount limit times 100 fit.
        let insulting =
            i128::from(bid.bid.units()) * 100 < i128::from(self.floor.units()) * i128::from(self.reject_below_percent);
        if insulting {
            return Decision::Reject;
        }
        if bid.bid >= bid.ask || (bid.is_last_round() && bid.bid >= self.floor) {
            return Decision::Accept;
        }
        let counter = self.counter_in_round(bid.list_price, bid.round);
        if bid.bid >= counter {
            return Decision::Accept;
        }
        Decision::Counter(counter)
    }
}

/// Answers one bid on an offer whose negotiation stands at `haggle`, and records the answer.
pub(crate) fn settle(
    haggle: &mut Haggle,
    context: BidContext<'_>,
    claimed_round: u32,
    strategy: &dyn SellerStrategy,
) -> Answer {
    if let Some(last) = haggle.last {
        if last.round == claimed_round && last.bid == context.bid {
            return last.answer;
        }
    }
    let answer = decide_counted(haggle, context, strategy);
    haggle.last = Some(LastBid {
        round: claimed_round,
        bid: context.bid,
        answer,
    });
    assert!(haggle.ask <= context.list_price, "a negotiation never raises the price");
    answer
}

fn decide_counted(haggle: &mut Haggle, context: BidContext<'_>, strategy: &dyn SellerStrategy) -> Answer {
    if let Some(agreed) = haggle.agreed {
        return if context.bid >= agreed {
            Answer::Accept(agreed)
        } else {
            Answer::Reject
        };
    }
    if haggle.bids >= context.max_rounds {
        return Answer::Reject;
    }
    haggle.bids += 1;
    let context = BidContext {
        ask: haggle.ask,
        round: haggle.bids,
        ..context
    };
    let accept = |haggle: &mut Haggle| {
        haggle.agreed = Some(context.bid);
        haggle.ask = haggle.ask.min(context.bid);
        Answer::Accept(context.bid)
    };
    match strategy.decide(&context) {
        Decision::Accept => accept(haggle),
        Decision::Counter(counter) if counter <= context.bid => accept(haggle),
        Decision::Counter(counter) => {
            haggle.ask = haggle.ask.min(counter);
            Answer::Counter(haggle.ask)
        }
        Decision::Reject => Answer::Reject,
    }
}

impl Paywall {
    /// The negotiation endpoint, to mount at the path of the URL given to
    /// [`PaywallBuilder::negotiable`](crate::PaywallBuilder::negotiable):
    /// `router.route("/negotiate", paywall.negotiation_route())`. It reads at most
    /// [`BID_BODY_BYTES_MAX`] bytes; a body that is not a bid is `400 invalid_request`.
    pub fn negotiation_route<S>(&self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let paywall = self.clone();
        post(move |body: Bytes| {
            let paywall = paywall.clone();
            async move { paywall.answer_bid_body(&body) }
        })
        .layer(DefaultBodyLimit::max(BID_BODY_BYTES_MAX))
    }

    fn answer_bid_body(&self, body: &[u8]) -> Response {
        match serde_json::from_slice::<BidJson>(body) {
            Ok(bid) => Json(self.answer_bid(&bid)).into_response(),
            Err(error) => problem::invalid_bid(&error.to_string()),
        }
    }

    /// Answers a bid, without HTTP: what [`Paywall::negotiation_route`] answers. An offer this
    /// seller did not issue, or that expired, a bid in another currency or not an amount, and
    /// any bid when the offers are not negotiable, are rejected.
    pub fn answer_bid(&self, bid: &BidJson) -> BidAnswerJson {
        let currency = self.shared.config.price.currency();
        let answer = self.settle_bid(bid, currency);
        let (word, price) = match answer {
            Answer::Accept(price) => ("accept", Some(price)),
            Answer::Counter(price) => ("counter", Some(price)),
            Answer::Reject => ("reject", None),
        };
        let shown = price.map_or_else(String::new, |p| p.to_string());
        tracing::info!(offer.id = %bid.offer_id, bid.round = bid.round, bid.amount = %bid.bid.amount, answer = word, answer.price = %shown, "bid answered");
        let money = |amount: Amount| self.shared.config.price.with_amount(amount).to_money();
        match answer {
            Answer::Accept(price) => BidAnswerJson::accept(money(price)),
            Answer::Counter(price) => BidAnswerJson::counter(money(price)),
            Answer::Reject => BidAnswerJson::reject(),
        }
    }

    fn settle_bid(&self, bid: &BidJson, currency: Currency) -> Answer {
        let Some(negotiation) = &self.shared.config.negotiation else {
            return Answer::Reject;
        };
        let same_currency = Currency::parse(&bid.bid.currency).is_ok_and(|c| c == currency);
        let Ok(amount) = Amount::parse(&bid.bid.amount) else {
            return Answer::Reject;
        };
        if !same_currency {
            return Answer::Reject;
        }
        let now = self.shared.clock.now();
        let mut book = self.shared.lock_book();
        let Some(offer) = book.offers.get_mut(&bid.offer_id, now) else {
            return Answer::Reject;
        };
        if offer.expires_at < now {
            return Answer::Reject;
        }
        let context = BidContext {
            offer_id: &bid.offer_id,
            item: &offer.item,
            list_price: offer.list_price,
            ask: offer.haggle.ask,
            bid: amount,
            round: offer.haggle.bids + 1,
            max_rounds: negotiation.max_rounds,
        };
        settle(&mut offer.haggle, context, bid.round, negotiation.strategy.as_ref())
    }
}
