//! How both stores write a domain value into columns and read it back, written once: an account's
//! kind, and a code's columns ([`CodeColumns`]) as a neutral row that each store fills from, and
//! binds to, its own SQL types.

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::*;
use smartcode_core::money::{Amount, Currency};

/// The word in `accounts.kind` for an account: the CHECK of both schemas lists every word, and a
/// key always begins with its kind and a colon (`code:…`, `issuance:…`, `exchange:…`).
pub fn account_kind(key: &AccountKey) -> &'static str {
    match key {
        AccountKey::Code(_) => "code",
        AccountKey::Issuance(_) => "issuance",
        AccountKey::Exchange(_) => "exchange",
        AccountKey::Peer { .. } => "peer",
    }
}

/// A code's columns in both schemas, in the order both stores select and insert them (the
/// PostgreSQL store appends the row's version, `xmin`, when it selects).
pub const CODE_COLUMNS: &str =
    "id, kind, parent_id, owner_id, public_code, currency, label, profile_name, profile_description, \
     profile_url, profile_contact, show_stats, status, depth, created_at, expires_at, irrevocable, \
     pin_hash, pin_generation, pin_failures, locked, allowed_categories, allowed_payees, allowed_items, \
     amount_per_use_max, uses_max, spend_period_amount, spend_period_seconds, restricted_lineage, \
     uses, period_index, period_spent, catalog_categories, catalog_items, checked_by, checked_at, spending_rules, webhooks";

/// How many columns [`CODE_COLUMNS`] names.
pub const CODE_COLUMN_COUNT: usize = 38;

/// A code's row as plain values, between a store's row type and a [`CodeRecord`]: a store reads
/// these from its row ([`CodeColumns::into_record`] parses them) or binds them from a record
/// ([`CodeColumns::from_record`]). Lists are lists here; the embedded store joins them into text.
pub struct CodeColumns {
    pub id: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub owner_id: String,
    pub public_code: Option<String>,
    pub currency: String,
    pub label: Option<String>,
    pub profile_name: Option<String>,
    pub profile_description: Option<String>,
    pub profile_url: Option<String>,
    pub profile_contact: Option<String>,
    pub show_stats: bool,
    pub status: String,
    pub depth: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub irrevocable: bool,
    pub pin_hash: Option<String>,
    pub pin_generation: i64,
    pub pin_failures: i64,
    pub locked: bool,
    pub allowed_categories: Option<Vec<String>>,
    pub allowed_payees: Option<Vec<String>>,
    pub allowed_items: Option<Vec<String>>,
    pub amount_per_use_max: Option<i64>,
    pub uses_max: Option<i64>,
    pub spend_period_amount: Option<i64>,
    pub spend_period_seconds: Option<i64>,
    pub restricted_lineage: bool,
    pub uses: i64,
    pub period_index: i64,
    pub period_spent: i64,
    pub catalog_categories: Option<Vec<String>>,
    pub catalog_items: Option<Vec<String>>,
    /// `broker` or the checking ancestor's id; `None` when the profile is only declared.
    pub checked_by: Option<String>,
    pub checked_at: Option<i64>,
    /// The spending rules and their counters, as JSON (`crate::spending_rows`).
    pub spending_rules: Option<String>,
    /// It has webhook subscriptions.
    pub webhooks: bool,
}

fn corrupt(what: &str) -> StorageFailure {
    StorageFailure(format!("unreadable stored {what}"))
}

pub(crate) fn code_id(text: &str, what: &str) -> StoreResult<CodeId> {
    CodeId::parse(text).ok_or_else(|| corrupt(what))
}

fn public_code(text: &str, what: &str) -> StoreResult<PublicCode> {
    PublicCode::from_stored(text).ok_or_else(|| corrupt(what))
}

fn small(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what))
}

fn amount(units: Option<i64>) -> StoreResult<Option<Amount>> {
    units
        .map(|u| Amount::from_units(u).map_err(|_| corrupt("amount")))
        .transpose()
}

impl CodeColumns {
    /// Parses the columns into a record; a value no record can hold is a storage failure.
    pub fn into_record(self) -> StoreResult<CodeRecord> {
        let spend_per_period = match (amount(self.spend_period_amount)?, self.spend_period_seconds) {
            (Some(amount), Some(period_seconds)) => Some(SpendLimit { amount, period_seconds }),
            _ => None,
        };
        Ok(CodeRecord {
            id: code_id(&self.id, "code id")?,
            kind: CodeKind::parse(&self.kind).ok_or_else(|| corrupt("code kind"))?,
            parent_id: self.parent_id.map(|p| code_id(&p, "parent id")).transpose()?,
            owner_id: code_id(&self.owner_id, "owner id")?,
            public_code: self.public_code.map(|p| public_code(&p, "public code")).transpose()?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            label: self.label,
            profile: Profile {
                name: self.profile_name,
                description: self.profile_description,
                url: self.profile_url,
                contact: self.profile_contact,
                show_stats: self.show_stats,
            },
            catalog: Catalog {
                categories: self.catalog_categories,
                items: self.catalog_items,
            },
            check: match (self.checked_by, self.checked_at) {
                (Some(by), Some(at)) => Some(ProfileCheck {
                    by: Checker::parse_stored(&by).ok_or_else(|| corrupt("checked_by"))?,
                    at: Timestamp(at),
                }),
                (None, None) => None,
                _ => return Err(corrupt("check")),
            },
            status: CodeStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            depth: small(self.depth, "depth")?,
            created_at: Timestamp(self.created_at),
            expires_at: self.expires_at.map(Timestamp),
            irrevocable: self.irrevocable,
            pin: PinState {
                hash: self.pin_hash,
                generation: small(self.pin_generation, "pin generation")?,
                failures: small(self.pin_failures, "pin failures")?,
                locked: self.locked,
            },
            restrictions: Restrictions {
                categories: self.allowed_categories,
                payees: self
                    .allowed_payees
                    .map(|list| list.iter().map(|p| public_code(p, "payee")).collect())
                    .transpose()?,
                items: self.allowed_items,
                amount_per_use_max: amount(self.amount_per_use_max)?,
                uses_max: self.uses_max.map(|u| small(u, "uses_max")).transpose()?,
                spend_per_period,
            },
            restricted_lineage: self.restricted_lineage,
            usage: Usage {
                uses: small(self.uses, "uses")?,
                period_index: self.period_index,
                period_spent_units: self.period_spent,
            },
            spending: crate::spending_rows::from_text(self.spending_rules.as_deref())?,
            webhooks: self.webhooks,
        })
    }

    /// The columns of a record, for an insert.
    pub fn from_record(r: &CodeRecord) -> CodeColumns {
        let restrictions = &r.restrictions;
        CodeColumns {
            id: r.id.as_str().to_owned(),
            kind: r.kind.as_str().to_owned(),
            parent_id: r.parent_id.as_ref().map(|p| p.as_str().to_owned()),
            owner_id: r.owner_id.as_str().to_owned(),
            public_code: r.public_code.as_ref().map(|p| p.as_stored().to_owned()),
            currency: r.currency.as_str().to_owned(),
            label: r.label.clone(),
            profile_name: r.profile.name.clone(),
            profile_description: r.profile.description.clone(),
            profile_url: r.profile.url.clone(),
            profile_contact: r.profile.contact.clone(),
            show_stats: r.profile.show_stats,
            status: r.status.as_str().to_owned(),
            depth: i64::from(r.depth),
            created_at: r.created_at.0,
            expires_at: r.expires_at.map(|t| t.0),
            irrevocable: r.irrevocable,
            pin_hash: r.pin.hash.clone(),
            pin_generation: i64::from(r.pin.generation),
            pin_failures: i64::from(r.pin.failures),
            locked: r.pin.locked,
            allowed_categories: restrictions.categories.clone(),
            allowed_payees: (restrictions.payees.as_ref())
                .map(|list| list.iter().map(|p| p.as_stored().to_owned()).collect()),
            allowed_items: restrictions.items.clone(),
            amount_per_use_max: restrictions.amount_per_use_max.map(Amount::units),
            uses_max: restrictions.uses_max.map(i64::from),
            spend_period_amount: restrictions.spend_per_period.map(|l| l.amount.units()),
            spend_period_seconds: restrictions.spend_per_period.map(|l| l.period_seconds),
            restricted_lineage: r.restricted_lineage,
            uses: i64::from(r.usage.uses),
            period_index: r.usage.period_index,
            period_spent: r.usage.period_spent_units,
            catalog_categories: r.catalog.categories.clone(),
            catalog_items: r.catalog.items.clone(),
            checked_by: r.check.as_ref().map(|c| c.by.as_stored().to_owned()),
            checked_at: r.check.as_ref().map(|c| c.at.0),
            spending_rules: crate::spending_rows::to_text(r.spending.as_ref()),
            webhooks: r.webhooks,
        }
    }
}

/// A hold's columns in both schemas, in the order both stores select and insert them.
pub const HOLD_COLUMNS: &str = "id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item, \
     created_at, expires_at, state, resolved_at, captured, receipt_id, release_to, kind, assurance_id";

/// How many columns [`HOLD_COLUMNS`] names.
pub const HOLD_COLUMN_COUNT: usize = 19;

/// A hold's row as plain values, as [`CodeColumns`] is a code's.
pub struct HoldColumns {
    pub id: String,
    pub payer_id: String,
    /// The payee and its owner: all three set, or (an authorization made for no payee and not
    /// used yet) none.
    pub owner_id: Option<String>,
    pub payee: Option<String>,
    pub payee_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: String,
    pub resolved_at: Option<i64>,
    pub captured: Option<i64>,
    pub receipt_id: Option<String>,
    pub release_to: Option<String>,
    pub kind: String,
    pub assurance_id: Option<String>,
}

impl HoldColumns {
    pub fn into_record(self) -> StoreResult<HoldRecord> {
        let payee = match (&self.owner_id, &self.payee, &self.payee_id) {
            (Some(owner), Some(payee), Some(payee_id)) => Some(HoldPayee {
                owner_id: code_id(owner, "hold owner")?,
                payee: public_code(payee, "hold payee")?,
                payee_id: code_id(payee_id, "hold payee id")?,
            }),
            (None, None, None) => None,
            _ => return Err(corrupt("hold payee")),
        };
        Ok(HoldRecord {
            id: smartcode_core::code::HoldId::parse(&self.id).ok_or_else(|| corrupt("hold id"))?,
            kind: HoldKind::parse(&self.kind).ok_or_else(|| corrupt("hold kind"))?,
            payer_id: code_id(&self.payer_id, "hold payer")?,
            payee,
            amount: amount(Some(self.amount))?.ok_or_else(|| corrupt("hold amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            memo: self.memo,
            category: self.category,
            item: self.item,
            created_at: Timestamp(self.created_at),
            expires_at: Timestamp(self.expires_at),
            state: HoldState::parse(&self.state).ok_or_else(|| corrupt("hold state"))?,
            resolved_at: self.resolved_at.map(Timestamp),
            captured: amount(self.captured)?,
            receipt_id: self.receipt_id,
            release_to: self.release_to.map(|id| code_id(&id, "hold release_to")).transpose()?,
            assurance_id: self
                .assurance_id
                .map(|id| smartcode_core::code::AssuranceId::parse(&id).ok_or_else(|| corrupt("hold assurance")))
                .transpose()?,
        })
    }

    pub fn from_record(h: &HoldRecord) -> HoldColumns {
        HoldColumns {
            id: h.id.as_str().to_owned(),
            payer_id: h.payer_id.as_str().to_owned(),
            owner_id: h.payee.as_ref().map(|p| p.owner_id.as_str().to_owned()),
            payee: h.payee.as_ref().map(|p| p.payee.as_stored().to_owned()),
            payee_id: h.payee.as_ref().map(|p| p.payee_id.as_str().to_owned()),
            amount: h.amount.units(),
            currency: h.currency.as_str().to_owned(),
            memo: h.memo.clone(),
            category: h.category.clone(),
            item: h.item.clone(),
            created_at: h.created_at.0,
            expires_at: h.expires_at.0,
            state: h.state.as_str().to_owned(),
            resolved_at: h.resolved_at.map(|t| t.0),
            captured: h.captured.map(Amount::units),
            receipt_id: h.receipt_id.clone(),
            release_to: h.release_to.as_ref().map(|id| id.as_str().to_owned()),
            kind: h.kind.as_str().to_owned(),
            assurance_id: h.assurance_id.as_ref().map(|id| id.as_str().to_owned()),
        }
    }
}

/// An alias read back from either store.
pub fn alias(code: &CodeId, hash: &[u8], public_digits: Option<String>, created_at: i64) -> StoreResult<AliasRecord> {
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt("alias hash"))?;
    Ok(AliasRecord {
        code_id: code.clone(),
        hash: smartcode_core::code::CodeHash(hash),
        public_digits,
        created_at: Timestamp(created_at),
    })
}

/// An assurance's columns in both schemas, in the order both stores select them.
pub const ASSURANCE_COLUMNS: &str = "id, code_id, floor, currency, created_at, expires_at, cancelled_at";

/// An assurance's row as plain values.
pub struct AssuranceColumns {
    pub id: String,
    pub code_id: String,
    pub floor: i64,
    pub currency: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub cancelled_at: Option<i64>,
}

impl AssuranceColumns {
    pub fn into_record(self) -> StoreResult<AssuranceRecord> {
        Ok(AssuranceRecord {
            id: smartcode_core::code::AssuranceId::parse(&self.id).ok_or_else(|| corrupt("assurance id"))?,
            code_id: code_id(&self.code_id, "assurance code")?,
            floor: amount(Some(self.floor))?.ok_or_else(|| corrupt("assurance floor"))?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            created_at: Timestamp(self.created_at),
            expires_at: Timestamp(self.expires_at),
            cancelled_at: self.cancelled_at.map(Timestamp),
        })
    }
}

/// A refund's columns in both schemas, in the order both stores select and insert them.
pub const REFUND_COLUMNS: &str = "id, receipt_id, seq, amount, currency, reason, credited, created_at";

/// A refund's row as plain values.
pub struct RefundColumns {
    pub id: String,
    pub receipt_id: String,
    pub seq: i64,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub credited: String,
    pub created_at: i64,
}

impl RefundColumns {
    pub fn into_record(self) -> StoreResult<RefundRecord> {
        Ok(RefundRecord {
            id: self.id,
            receipt_id: self.receipt_id,
            seq: small(self.seq, "refund seq")?,
            amount: amount(Some(self.amount))?.ok_or_else(|| corrupt("refund amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            reason: self.reason,
            credited: refund_credited(&self.credited)?,
            created_at: Timestamp(self.created_at),
        })
    }

    pub fn from_record(r: &RefundRecord) -> RefundColumns {
        RefundColumns {
            id: r.id.clone(),
            receipt_id: r.receipt_id.clone(),
            seq: i64::from(r.seq),
            amount: r.amount.units(),
            currency: r.currency.as_str().to_owned(),
            reason: r.reason.clone(),
            credited: match &r.credited {
                AccountKey::Code(id) => id.as_str().to_owned(),
                other => other.to_stored(),
            },
            created_at: r.created_at.0,
        }
    }
}

/// The account a refund credited, as stored: a code's bare id (as every refund before refunds
/// across brokers stored it), or another account as [`AccountKey::to_stored`] writes it (a peer's,
/// for a payment by a code of another broker's).
fn refund_credited(text: &str) -> StoreResult<AccountKey> {
    match text.contains(':') {
        true => AccountKey::from_stored(text).ok_or_else(|| corrupt("refund credited")),
        false => code_id(text, "refund credited").map(AccountKey::Code),
    }
}

/// A rate's columns in both schemas, in the order both stores select and insert them.
pub const RATE_COLUMNS: &str = "from_currency, to_currency, rate, fee_bps, set_at";

/// A rate's row as plain values (the rate as its decimal string: exact, and readable in a dump).
pub struct RateColumns {
    pub from_currency: String,
    pub to_currency: String,
    pub rate: String,
    pub fee_bps: i64,
    pub set_at: i64,
}

fn currency(text: &str) -> StoreResult<Currency> {
    Currency::parse(text).map_err(|_| corrupt("currency"))
}

fn rate(text: &str) -> StoreResult<smartcode_core::rate::Rate> {
    smartcode_core::rate::Rate::parse(text).map_err(|_| corrupt("rate"))
}

impl RateColumns {
    pub fn into_record(self) -> StoreResult<RateRecord> {
        Ok(RateRecord {
            from: currency(&self.from_currency)?,
            to: currency(&self.to_currency)?,
            rate: rate(&self.rate)?,
            fee_bps: small(self.fee_bps, "fee")?,
            set_at: Timestamp(self.set_at),
        })
    }

    pub fn from_record(r: &RateRecord) -> RateColumns {
        RateColumns {
            from_currency: r.from.as_str().to_owned(),
            to_currency: r.to.as_str().to_owned(),
            rate: r.rate.to_string(),
            fee_bps: i64::from(r.fee_bps),
            set_at: r.set_at.0,
        }
    }
}

/// A quote's columns in both schemas, in the order both stores select and insert them.
pub const QUOTE_COLUMNS: &str = "id, pay, pay_currency, price, price_currency, rate, fee_bps, payee, created_at, \
                                 expires_at, used_at, receipt_id, payer_id";

/// How many columns [`QUOTE_COLUMNS`] names.
pub const QUOTE_COLUMN_COUNT: usize = 13;

/// A quote's row as plain values; `used_at`, `receipt_id` and `payer_id` are all set or none.
pub struct QuoteColumns {
    pub id: String,
    pub pay: i64,
    pub pay_currency: String,
    pub price: i64,
    pub price_currency: String,
    pub rate: String,
    pub fee_bps: i64,
    pub payee: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub receipt_id: Option<String>,
    pub payer_id: Option<String>,
}

impl QuoteColumns {
    pub fn into_record(self) -> StoreResult<QuoteRecord> {
        let used = match (self.used_at, self.receipt_id, self.payer_id) {
            (None, None, None) => None,
            (Some(at), Some(receipt_id), Some(payer)) => Some(QuoteUse {
                receipt_id,
                payer: match payer.strip_prefix("peer:") {
                    Some(peer) => smartcode_core::model::Payer::Peer {
                        peer: peer.to_owned(),
                        approval: None,
                    },
                    None => smartcode_core::model::Payer::Code(code_id(&payer, "quote payer")?),
                },
                at: Timestamp(at),
            }),
            _ => return Err(corrupt("quote use")),
        };
        Ok(QuoteRecord {
            id: smartcode_core::code::QuoteId::parse(&self.id).ok_or_else(|| corrupt("quote id"))?,
            pay: amount(Some(self.pay))?.ok_or_else(|| corrupt("quote pay"))?,
            pay_currency: currency(&self.pay_currency)?,
            price: amount(Some(self.price))?.ok_or_else(|| corrupt("quote price"))?,
            price_currency: currency(&self.price_currency)?,
            rate: rate(&self.rate)?,
            fee_bps: small(self.fee_bps, "fee")?,
            payee: self.payee.map(|p| public_code(&p, "quote payee")).transpose()?,
            created_at: Timestamp(self.created_at),
            expires_at: Timestamp(self.expires_at),
            used,
        })
    }

    pub fn from_record(q: &QuoteRecord) -> QuoteColumns {
        QuoteColumns {
            id: q.id.as_str().to_owned(),
            pay: q.pay.units(),
            pay_currency: q.pay_currency.as_str().to_owned(),
            price: q.price.units(),
            price_currency: q.price_currency.as_str().to_owned(),
            rate: q.rate.to_string(),
            fee_bps: i64::from(q.fee_bps),
            payee: q.payee.as_ref().map(|p| p.as_stored().to_owned()),
            created_at: q.created_at.0,
            expires_at: q.expires_at.0,
            used_at: q.used.as_ref().map(|u| u.at.0),
            receipt_id: q.used.as_ref().map(|u| u.receipt_id.clone()),
            payer_id: q.used.as_ref().map(|u| match &u.payer {
                smartcode_core::model::Payer::Code(id) => id.as_str().to_owned(),
                smartcode_core::model::Payer::Peer { peer, .. } => format!("peer:{peer}"),
            }),
        }
    }
}

/// A peer's columns in both schemas, in the order both stores select and insert them.
pub const PEER_COLUMNS: &str =
    "name, url, title, domain, broker_number, signing_key, credit_limits, status, added_at, changed_at, listed";

/// A peer's row as plain values; its credit limits as `CUR units` lines.
pub struct PeerColumns {
    pub name: String,
    pub url: String,
    pub title: String,
    pub domain: String,
    pub broker_number: String,
    pub signing_key: Vec<u8>,
    pub credit_limits: String,
    pub status: String,
    pub added_at: i64,
    pub changed_at: i64,
    pub listed: bool,
}

impl PeerColumns {
    pub fn into_record(self) -> StoreResult<PeerRecord> {
        let credit_limits = self
            .credit_limits
            .lines()
            .map(|line| {
                let (cur, units) = line.split_once(' ').ok_or_else(|| corrupt("credit limit"))?;
                Ok((currency(cur)?, units.parse().map_err(|_| corrupt("credit limit"))?))
            })
            .collect::<StoreResult<_>>()?;
        Ok(PeerRecord {
            name: self.name,
            url: self.url,
            title: self.title,
            domain: self.domain,
            broker_number: self.broker_number,
            signing_key: <[u8; 32]>::try_from(self.signing_key).map_err(|_| corrupt("signing key"))?,
            credit_limits,
            status: PeerStatus::parse(&self.status).ok_or_else(|| corrupt("peer status"))?,
            listed: self.listed,
            added_at: Timestamp(self.added_at),
            changed_at: Timestamp(self.changed_at),
        })
    }

    pub fn from_record(r: &PeerRecord) -> PeerColumns {
        let limits: Vec<String> = r
            .credit_limits
            .iter()
            .map(|(cur, units)| format!("{cur} {units}"))
            .collect();
        PeerColumns {
            name: r.name.clone(),
            url: r.url.clone(),
            title: r.title.clone(),
            domain: r.domain.clone(),
            broker_number: r.broker_number.clone(),
            signing_key: r.signing_key.to_vec(),
            credit_limits: limits.join("\n"),
            status: r.status.as_str().to_owned(),
            added_at: r.added_at.0,
            changed_at: r.changed_at.0,
            listed: r.listed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_columns_list_as_many_columns_as_a_row_has() {
        assert_eq!(CODE_COLUMNS.split(',').count(), CODE_COLUMN_COUNT);
        assert_eq!(HOLD_COLUMNS.split(',').count(), HOLD_COLUMN_COUNT);
        assert_eq!(QUOTE_COLUMNS.split(',').count(), QUOTE_COLUMN_COUNT);
    }
}
