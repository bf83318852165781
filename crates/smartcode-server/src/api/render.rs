//! The JSON of every write's outcome ([`render_outcome`]), in one place so that a first answer
//! and its replay agree, with the pieces other answers share: a refund and a receipt as the seller
//! sees them.

use serde_json::json;
use smartcode_core::code::SecretCode;
use smartcode_core::ledger::{
    aliases, assurances, authorizations, controls, expiry, federation, holds, issuance, payments, peers, quotes, tree,
    CodeView, Outcome,
};

use smartcode_core::model::ChargeState;

use super::submit::Shown;
use crate::wire::*;
use crate::Broker;

/// The JSON of every write's outcome, in one place so first answers and replays agree.
pub(super) fn render_outcome(state: &Broker, outcome: &Outcome, secret: &Shown) -> Vec<u8> {
    let created = |view: &CodeView| {
        let mut value = serde_json::to_value(CreatedJson {
            code: secret.code.as_ref().map(SecretCode::reveal),
            view: CodeJson::from(view),
        })
        .expect("code JSON serializes");
        // A rekey's new alias, shown once beside the new code.
        if let (Some(alias), Some(shown)) = (&view.alias, &secret.alias) {
            value["alias"] = json!({
                "alias": shown.reveal(),
                "code_id": alias.code_id.to_string(),
                "created_at": alias.created_at.to_rfc3339(),
            });
        }
        value
    };
    let now = state.clock.now();
    let value = match outcome {
        Outcome::Purchases(outcome) => super::purchases::render(state, outcome),
        Outcome::Sessions(outcome) => super::sessions::render(state, outcome),
        Outcome::Webhooks(outcome) => super::webhooks::render(state, outcome),
        Outcome::Items(outcome) => super::items::render(state, outcome),
        Outcome::Shares(outcome) => super::shares::render(state, outcome, secret.code.as_ref()),
        Outcome::Licenses(outcome) => super::licenses::render(state, outcome),
        Outcome::Issuance(issuance::Outcome::Issued(view))
        | Outcome::Tree(tree::Outcome::Created(view) | tree::Outcome::ProfileSet(view))
        | Outcome::Controls(controls::Outcome::Changed(view)) => created(view),
        Outcome::Issuance(issuance::Outcome::Deposited { transfer_id, code }) => json!({
            "id": transfer_id,
            "code_id": code.record.id.to_string(),
            "balance": code.account.map(|a| Money::new(a.balance_units, code.record.currency)),
        }),
        Outcome::Issuance(issuance::Outcome::PaidOut { transfer, code }) => {
            let currency = code.record.currency;
            serde_json::to_value(PaidOutJson {
                id: transfer.id.clone(),
                code_id: code.record.id.to_string(),
                amount: Money::new(transfer.amount.units(), currency),
                reference: transfer.memo.clone().unwrap_or_default(),
                balance: Money::new(code.account.map_or(0, |a| a.balance_units), currency),
                created_at: transfer.at.to_rfc3339(),
            })
            .expect("payout JSON serializes")
        }
        Outcome::Tree(tree::Outcome::Funded { child, parent }) => json!({
            "child": CodeJson::from(&**child),
            "balance": parent.account.map(|a| Money::new(a.balance_units, parent.record.currency)),
        }),
        Outcome::Tree(tree::Outcome::Cancelled {
            reclaimed_units,
            currency,
            codes_cancelled,
        }) => json!({
            "reclaimed": Money::new(*reclaimed_units, *currency),
            "codes_cancelled": codes_cancelled,
        }),
        Outcome::Payments(payments::Outcome::Paid(receipt)) => json!({ "receipt": receipt_json(state, receipt) }),
        Outcome::Payments(payments::Outcome::Refunded(refund)) => json!({ "refund": refund_json(refund) }),
        Outcome::Controls(controls::Outcome::PinCounted { locked, .. }) => json!({ "locked": locked }),
        Outcome::Controls(controls::Outcome::RulesSet(view)) => {
            serde_json::to_value(super::spending::rules_json(&view.record, now)).expect("rules serialize")
        }
        Outcome::Expiry(expiry::Outcome::Swept { codes }) => json!({ "codes_expired": codes }),
        Outcome::Holds(holds::Outcome::Held(hold) | holds::Outcome::Voided(hold)) => {
            let at = hold.resolved_at.unwrap_or(hold.created_at);
            json!({ "hold": super::holds::hold_json(state, hold, at) })
        }
        Outcome::Holds(holds::Outcome::Captured { receipt, .. }) => json!({ "receipt": receipt_json(state, receipt) }),
        Outcome::Holds(holds::Outcome::Swept { holds }) => json!({ "holds_expired": holds }),
        Outcome::Authorizations(authorizations::Outcome::Authorized(made)) => {
            let mut shown = AuthorizationJson::of(made, now);
            shown.authorization_code = secret.code.as_ref().map(SecretCode::reveal);
            serde_json::to_value(shown).expect("authorization JSON serializes")
        }
        Outcome::Authorizations(authorizations::Outcome::Cancelled(made)) => {
            serde_json::to_value(AuthorizationJson::of(made, now)).expect("authorization JSON serializes")
        }
        Outcome::Authorizations(authorizations::Outcome::Used { receipt, .. }) => {
            json!({ "receipt": receipt_json(state, receipt) })
        }
        Outcome::Aliases(aliases::Outcome::Set(alias)) => {
            let mut shown = AliasJson::from(alias);
            if let Some(secret) = &secret.alias {
                shown.alias = Some(secret.reveal());
            }
            serde_json::to_value(shown).expect("alias JSON serializes")
        }
        Outcome::Aliases(aliases::Outcome::Removed { existed, .. }) => json!({ "removed": existed }),
        Outcome::Assurances(assurances::Outcome::Created(made)) => {
            let mut shown = super::assurances::assurance_json(state, made);
            shown.assurance_code = secret.assurance.as_ref().map(|code| code.reveal());
            serde_json::to_value(shown).expect("assurance JSON serializes")
        }
        Outcome::Assurances(assurances::Outcome::Cancelled(made)) => {
            serde_json::to_value(super::assurances::assurance_json(state, made)).expect("assurance JSON serializes")
        }
        Outcome::Assurances(assurances::Outcome::Certified { certificate, assurance }) => {
            json!({ "certificate": super::assurances::certificate_json(state, certificate, assurance) })
        }
        Outcome::Assurances(assurances::Outcome::Paid { receipt, .. }) => {
            json!({ "receipt": receipt_json(state, receipt) })
        }
        Outcome::Quotes(quotes::Outcome::RateSet(rate)) => json!(RateJson::from(rate)),
        Outcome::Peers(peers::Outcome::Added(peer) | peers::Outcome::Changed(peer) | peers::Outcome::Removed(peer)) => {
            json!(PeerJson::from(&**peer))
        }
        Outcome::Peers(peers::Outcome::Settled { transfer, position }) => {
            let (peer, received) = match (&transfer.debit, &transfer.credit) {
                (_, smartcode_core::model::AccountKey::Peer { peer, .. }) => (peer, true),
                (smartcode_core::model::AccountKey::Peer { peer, .. }, _) => (peer, false),
                _ => unreachable!("a settlement moves value into or out of a peer's account"),
            };
            json!(SettledJson {
                id: transfer.id.clone(),
                peer: peer.clone(),
                amount: Money::new(transfer.amount.units(), transfer.currency),
                direction: if received { "received" } else { "paid" }.to_owned(),
                reference: transfer.memo.clone().unwrap_or_default(),
                created_at: transfer.at.to_rfc3339(),
                position: PositionJson::of(peer, position),
            })
        }
        Outcome::Quotes(quotes::Outcome::Quoted(quote)) => json!({ "quote": QuoteJson::from(&**quote) }),
        Outcome::Quotes(quotes::Outcome::Paid { receipt, .. }) => json!({ "receipt": receipt_json(state, receipt) }),
        Outcome::Quotes(quotes::Outcome::Forgotten { quotes }) => json!({ "quotes_forgotten": quotes }),
        Outcome::Federation(federation::Outcome::Credited(receipt)) => {
            json!({ "receipt": receipt_json(state, receipt) })
        }
        Outcome::Federation(federation::Outcome::Certified { certificate, assurance }) => {
            json!({ "certificate": super::assurances::certificate_json(state, certificate, assurance) })
        }
        // A hold across brokers, as its seller is told when it is made.
        Outcome::Federation(federation::Outcome::Charge(charge)) if charge.state == ChargeState::Held => {
            json!({ "hold": super::federation::hold_json(charge, charge.changed_at) })
        }
        Outcome::Federation(federation::Outcome::Charge(charge)) => json!({
            "id": charge.id,
            "peer": charge.peer,
            "state": charge.state.as_str(),
        }),
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// A refund as both sides see it (the code credited is not shown: the seller sees payers only by
/// pseudonym, and the buyer knows where its money went from its history).
pub(crate) fn refund_json(refund: &smartcode_core::model::RefundRecord) -> serde_json::Value {
    let mut value = json!({
        "id": refund.id,
        "receipt_id": refund.receipt_id,
        "amount": Money::new(refund.amount.units(), refund.currency),
        "created_at": refund.created_at.to_rfc3339(),
    });
    if let Some(reason) = &refund.reason {
        value["reason"] = json!(reason);
    }
    value
}

/// A receipt as its seller sees it, unsigned (see [`Reply::signed`]): the payer by its pseudonym
/// for that seller ([`keys::Keys::payer_pseudonym`]), never by its id. A payment's answer goes to
/// whoever presented the buyer's code, a seller's server first.
pub(crate) fn receipt_json(state: &Broker, receipt: &smartcode_core::model::Receipt) -> ReceiptJson {
    // A code of another broker is named by that broker (`ReceiptJson::unsigned`).
    let payer = match &receipt.payer {
        smartcode_core::model::Payer::Code(payer) => state.keys.payer_pseudonym(&receipt.owner_id, payer),
        smartcode_core::model::Payer::Peer { .. } => String::new(),
    };
    ReceiptJson::unsigned(receipt, &state.config.domain, payer)
}
