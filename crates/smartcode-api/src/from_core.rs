//! The one place the core's types fill the response shapes. Only this direction lives here:
//! a domain value always has a JSON form, so these conversions cannot fail. The other direction,
//! reading a request into domain types, can be refused, and the refusal is the server's to word.

use smartcode_core::clock::Timestamp;
use smartcode_core::ledger::checks::{CheckView, CheckedBy};
use smartcode_core::ledger::reports::Entry;
use smartcode_core::ledger::CodeView;
use smartcode_core::model::{
    AliasRecord, Catalog, CodeKind, CodeStatus, HoldKind, HoldRecord, HoldState, Profile, Receipt, ReportRow,
};
use smartcode_core::money::{format_units, Amount, Currency};

use crate::{
    AliasJson, AuthorizationJson, CatalogJson, CheckJson, CodeJson, EntryJson, FeeJson, HoldJson, Money, PeerJson,
    PositionEntryJson, PositionJson, ProfileJson, QuoteJson, RateJson, ReceiptJson, ReportRowJson, RestrictionsJson,
    SpendJson,
};

impl Money {
    /// `units` micro-units of `currency`, written as a decimal string (`250000` is `"0.25"`).
    pub fn new(units: i64, currency: Currency) -> Money {
        Money {
            amount: format_units(units),
            currency: currency.to_string(),
        }
    }
}

impl From<&Profile> for ProfileJson {
    fn from(p: &Profile) -> ProfileJson {
        ProfileJson {
            name: p.name.clone(),
            description: p.description.clone(),
            url: p.url.clone(),
            contact: p.contact.clone(),
            show_stats: p.show_stats,
            checked: None,
        }
    }
}

impl ProfileJson {
    /// A profile with the check that stands on it, if one does.
    pub fn checked(p: &Profile, check: Option<&CheckView>) -> ProfileJson {
        ProfileJson {
            checked: check.map(CheckJson::from),
            ..ProfileJson::from(p)
        }
    }
}

impl From<&CheckView> for CheckJson {
    fn from(check: &CheckView) -> CheckJson {
        let (by, depth, name) = match &check.by {
            CheckedBy::Broker => ("broker", 0, None),
            CheckedBy::Ancestor { depth, name } => ("ancestor", *depth, name.clone()),
        };
        CheckJson {
            by: by.to_owned(),
            depth,
            name,
            at: check.at.to_rfc3339(),
            reaches_broker: check.reaches_broker,
        }
    }
}

impl HoldJson {
    /// A hold in `state` (its state as of now), its payer shown as `payer` (the id, or a
    /// pseudonym for the seller).
    pub fn of(h: &HoldRecord, state: HoldState, payer: String) -> HoldJson {
        let money = |amount: Amount| Money::new(amount.units(), h.currency);
        // A hold or certificate for a seller of another broker names that seller in its memo.
        let (payee, memo) = match (&h.payee, h.kind) {
            (Some(payee), _) => (payee.payee.to_string(), h.memo.clone()),
            (None, HoldKind::Hold | HoldKind::Certificate) => (h.memo.clone().unwrap_or_default(), None),
            (None, _) => (String::new(), h.memo.clone()),
        };
        HoldJson {
            id: h.id.to_string(),
            payer_id: payer,
            payee,
            amount: money(h.amount),
            status: state.as_str().to_owned(),
            expires_at: h.expires_at.to_rfc3339(),
            created_at: h.created_at.to_rfc3339(),
            memo,
            category: h.category.clone(),
            item: h.item.clone(),
            captured: h.captured.map(money),
            receipt_id: h.receipt_id.clone(),
            resolved_at: h.resolved_at.map(Timestamp::to_rfc3339),
        }
    }
}

impl AuthorizationJson {
    /// An authorization as of `now`, for the buyer that made it.
    pub fn of(h: &HoldRecord, now: Timestamp) -> AuthorizationJson {
        let status = match h.state_at(now) {
            HoldState::Pending => "pending",
            HoldState::Captured => "used",
            _ if h.state == HoldState::Pending || smartcode_core::ledger::authorizations::expired_by_time(h) => {
                "expired"
            }
            HoldState::Voided => "cancelled",
        };
        AuthorizationJson {
            id: h.id.to_string(),
            authorization_code: None,
            amount: Money::new(h.amount.units(), h.currency),
            payee: h.payee.as_ref().map(|p| p.payee.to_string()),
            status: status.to_owned(),
            expires_at: h.expires_at.to_rfc3339(),
            created_at: h.created_at.to_rfc3339(),
            receipt_id: h.receipt_id.clone(),
            resolved_at: h.resolved_at.map(Timestamp::to_rfc3339),
        }
    }
}

impl From<&AliasRecord> for AliasJson {
    fn from(a: &AliasRecord) -> AliasJson {
        AliasJson {
            alias: a.public_digits.as_deref().map(smartcode_core::numeric::grouped),
            code_id: a.code_id.to_string(),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

impl From<&Catalog> for CatalogJson {
    fn from(c: &Catalog) -> CatalogJson {
        CatalogJson {
            categories: c.categories.clone(),
            items: c.items.clone(),
        }
    }
}

impl From<&CodeView> for CodeJson {
    fn from(view: &CodeView) -> CodeJson {
        let r = &view.record;
        let money = |units: i64| Money::new(units, r.currency);
        // A locked code is active underneath: its parent's unlock makes it work again.
        let status = if r.pin.locked && view.status == CodeStatus::Active {
            "locked"
        } else {
            view.status.as_str()
        };
        CodeJson {
            id: r.id.to_string(),
            kind: r.kind.as_str().to_owned(),
            public_code: r.public_code.as_ref().map(ToString::to_string),
            balance: view.account.map(|a| money(a.balance_units)),
            available: view.account.map(|a| money(a.available_units())),
            currency: r.currency.to_string(),
            status: status.to_owned(),
            parent_id: r.parent_id.as_ref().map(ToString::to_string),
            label: r.label.clone(),
            profile: ProfileJson::checked(&r.profile, view.check.as_ref()),
            catalog: (r.kind == CodeKind::Public).then(|| CatalogJson::from(&r.catalog)),
            restrictions: restrictions_json(view),
            expires_at: r.expires_at.map(Timestamp::to_rfc3339),
            irrevocable: r.irrevocable,
            pin_set: r.pin.hash.is_some(),
            children_count: view.children,
            created_at: r.created_at.to_rfc3339(),
            // A seller's hold, or an assurance's certificate (what it still sets aside for its
            // seller): what makes `available` less than `balance`, with the authorizations below.
            holds: view
                .holds
                .iter()
                .filter(|h| h.kind != HoldKind::Authorization)
                .map(|h| {
                    let mut shown = HoldJson::of(h, HoldState::Pending, h.payer_id.to_string());
                    shown.amount = Money::new(h.held_units(), h.currency);
                    shown
                })
                .collect(),
            authorizations: view
                .holds
                .iter()
                .filter(|h| h.kind == HoldKind::Authorization)
                .map(|h| AuthorizationJson::of(h, h.created_at))
                .collect(),
            alias: view.alias.as_ref().map(AliasJson::from),
        }
    }
}

fn restrictions_json(view: &CodeView) -> RestrictionsJson {
    let r = &view.record.restrictions;
    let currency = view.record.currency;
    RestrictionsJson {
        categories: r.categories.clone(),
        payees: r.payees.as_ref().map(|p| p.iter().map(ToString::to_string).collect()),
        items: r.items.clone(),
        amount_per_use_max: r.amount_per_use_max.map(|a| Money::new(a.units(), currency)),
        uses_max: r.uses_max,
        spend_per_period: r.spend_per_period.map(|l| SpendJson {
            amount: Money::new(l.amount.units(), currency),
            period_seconds: l.period_seconds,
        }),
        uses_left: view.usage_left.and_then(|u| u.uses),
        spend_left: view
            .usage_left
            .and_then(|u| u.spend_units)
            .map(|units| Money::new(units, currency)),
    }
}

impl From<&Entry> for EntryJson {
    fn from(entry: &Entry) -> EntryJson {
        let t = &entry.transfer;
        EntryJson {
            id: t.id.clone(),
            at: t.at.to_rfc3339(),
            kind: t.kind.as_str().to_owned(),
            amount: format_units(entry.signed_units),
            currency: t.currency.to_string(),
            counterparty_id: entry.counterparty_shown(),
            counterparty: entry.counterparty.clone(),
            memo: t.memo.clone(),
            public_code_id: t.public_code_id.as_ref().map(ToString::to_string),
            public_code: entry.public_code.as_ref().map(ToString::to_string),
            receipt_id: entry.receipt_id.clone(),
            category: t.category.clone(),
            item: t.item.clone(),
        }
    }
}

impl From<&ReportRow> for ReportRowJson {
    fn from(row: &ReportRow) -> ReportRowJson {
        ReportRowJson {
            key: row.key.clone(),
            count: row.count,
            total_in: format_units(row.total_in_units),
            total_out: format_units(row.total_out_units),
        }
    }
}

impl ReceiptJson {
    /// A receipt as `broker` shows it, with `payer_id` as its reader may see it (the payer's id, or
    /// the pseudonym its seller knows it by), not yet signed: signing fills `version`, `signature`
    /// and `batch` (the crate `smartcode-receipt` signs and checks them).
    /// A payment by a code of another broker names that broker as its payer (`peer:` and its
    /// domain, as its approval gives it) and carries the approval.
    pub fn unsigned(receipt: &Receipt, broker: &str, payer_id: String) -> ReceiptJson {
        let (payer_id, approval) = match &receipt.payer {
            smartcode_core::model::Payer::Code(_) => (payer_id, None),
            smartcode_core::model::Payer::Peer { peer, approval } => {
                let approval: Option<crate::ApprovalJson> =
                    approval.as_deref().and_then(|a| serde_json::from_str(a).ok());
                let from = approval.as_ref().map_or(peer.as_str(), |a| a.broker.as_str());
                (format!("peer:{from}"), approval)
            }
        };
        ReceiptJson {
            id: receipt.id.clone(),
            payer_id,
            payee: receipt.payee.to_string(),
            payee_id: receipt.payee_id.to_string(),
            amount: Money::new(receipt.amount.units(), receipt.currency),
            memo: receipt.memo.clone(),
            category: receipt.category.clone(),
            item: receipt.item.clone(),
            created_at: receipt.created_at.to_rfc3339(),
            broker: broker.to_owned(),
            version: None,
            signature: String::new(),
            batch: None,
            approval,
        }
    }
}

impl From<&smartcode_core::model::RateRecord> for RateJson {
    fn from(r: &smartcode_core::model::RateRecord) -> RateJson {
        RateJson {
            from: r.from.to_string(),
            to: r.to.to_string(),
            rate: r.rate.to_string(),
            fee_bps: r.fee_bps,
            set_at: r.set_at.to_rfc3339(),
        }
    }
}

impl From<&smartcode_core::model::QuoteRecord> for QuoteJson {
    fn from(q: &smartcode_core::model::QuoteRecord) -> QuoteJson {
        QuoteJson {
            id: q.id.to_string(),
            price: Money::new(q.price.units(), q.price_currency),
            pay: Money::new(q.pay.units(), q.pay_currency),
            rate: q.rate.to_string(),
            fee: FeeJson {
                bps: q.fee_bps,
                amount: Money::new(q.fee_units(), q.pay_currency),
            },
            payee: q.payee.as_ref().map(ToString::to_string),
            created_at: q.created_at.to_rfc3339(),
            expires_at: q.expires_at.to_rfc3339(),
        }
    }
}

impl From<&smartcode_core::model::PeerRecord> for PeerJson {
    fn from(p: &smartcode_core::model::PeerRecord) -> PeerJson {
        PeerJson {
            name: p.name.clone(),
            url: p.url.clone(),
            title: p.title.clone(),
            domain: p.domain.clone(),
            broker_number: p.broker_number.clone(),
            key: p.key_hex(),
            fingerprint: p.fingerprint(),
            status: p.status.as_str().to_owned(),
            listed: p.listed,
            credit_limits: p
                .credit_limits
                .iter()
                .map(|(cur, units)| Money::new(*units, *cur))
                .collect(),
            added_at: p.added_at.to_rfc3339(),
            changed_at: p.changed_at.to_rfc3339(),
        }
    }
}

impl PositionJson {
    /// From the balances of the peer's accounts: a balance above zero is what this broker owes.
    pub fn of(peer: &str, balances: &[(Currency, i64)]) -> PositionJson {
        PositionJson {
            peer: peer.to_owned(),
            currencies: balances
                .iter()
                .map(|&(currency, balance)| PositionEntryJson {
                    currency: currency.to_string(),
                    owed_to_us: Money::new(balance.min(0).saturating_neg(), currency),
                    owed_by_us: Money::new(balance.max(0), currency),
                    net: Money::new(balance.saturating_neg(), currency),
                })
                .collect(),
        }
    }
}
