//! Restrictions that only narrow down a tree, usage counted across a code's line, and the PIN's
//! shape. Called from the tree (a child's rules), payments (what a payment may do) and controls.
//!
//! Static rules (categories, payees, items, amount per use) are narrowed when a child is created
//! and stored on the child already intersected with its parent's, so a payment checks only the
//! payer's own record. Usage rules (number of uses, spending per period) are counted per code; a
//! payment counts against the payer and every ancestor that has such a rule, so a restricted
//! parent cannot be escaped by spending through a child. Spending rules (`crate::spending`) are
//! judged the same way, for the payer and every ancestor that has them, nearest first: each level
//! must allow the payment, so a child's rules can only narrow what its parent's allow.

use crate::clock::Timestamp;
use crate::code::CodeId;
use crate::error::{Invalid, Limit, OpError, Restriction};
use crate::limits::{CATEGORY_CHARS_MAX, EXPIRY_SECONDS_MAX, RESTRICTION_ENTRIES_MAX, TREE_DEPTH_MAX};

use super::payments::PaymentOrder;
use super::{LedgerRead, LedgerTx, UsageLeft};

pub use crate::limits::{PIN_DIGITS_MAX, PIN_DIGITS_MIN, PIN_FAILURES_MAX};
use crate::model::{Catalog, CodeRecord, Restrictions, Usage};
use crate::spending::{self, Judgement};

/// A PIN as presented: digits only. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn parse(text: &str) -> Option<Pin> {
        let text = text.trim();
        let digits =
            text.len() >= PIN_DIGITS_MIN && text.len() <= PIN_DIGITS_MAX && text.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| Pin(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// Checks a list of categories or items, asked as a rule or declared as a catalog: bounded, of
/// sane entries.
fn check_list(field: &'static str, list: Option<&Vec<String>>) -> Result<(), OpError> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > RESTRICTION_ENTRIES_MAX {
        return Err(OpError::LimitExceeded(Limit::ListEntries { field }));
    }
    for entry in list {
        if entry.is_empty() || entry.chars().count() > CATEGORY_CHARS_MAX || entry.chars().any(char::is_control) {
            return Err(OpError::InvalidRequest(Invalid::ListEntry {
                field,
                chars_max: CATEGORY_CHARS_MAX,
            }));
        }
    }
    Ok(())
}

/// Checks what an owner declares a public code sells: bounded lists of sane entries.
pub fn check_catalog(catalog: &Catalog) -> Result<(), OpError> {
    check_list("categories", catalog.categories.as_ref())?;
    check_list("items", catalog.items.as_ref())
}

/// Checks the rules a holder asked for a new child: bounded lists of sane entries, positive counts.
pub fn check_requested(requested: &Restrictions) -> Result<(), OpError> {
    check_list("categories", requested.categories.as_ref())?;
    check_list("items", requested.items.as_ref())?;
    if requested
        .payees
        .as_ref()
        .is_some_and(|p| p.len() > RESTRICTION_ENTRIES_MAX)
    {
        return Err(OpError::LimitExceeded(Limit::ListEntries { field: "payees" }));
    }
    if requested.uses_max == Some(0) {
        return Err(OpError::InvalidRequest(Invalid::UsesMaxZero));
    }
    if let Some(limit) = requested.spend_per_period {
        if limit.period_seconds < 1 || limit.period_seconds > EXPIRY_SECONDS_MAX {
            return Err(OpError::InvalidRequest(Invalid::PeriodOutOfRange {
                max: EXPIRY_SECONDS_MAX,
            }));
        }
    }
    Ok(())
}

/// The child's stored rules: what it asked for, intersected with what its parent may do. A rule
/// whose intersection is empty would make the child unable to pay at all; it is refused instead.
pub fn narrow(parent: &CodeRecord, requested: &Restrictions) -> Result<Restrictions, OpError> {
    let allowed = &parent.restrictions;
    Ok(Restrictions {
        categories: intersect("categories", allowed.categories.as_ref(), requested.categories.as_ref())?,
        payees: intersect("payees", allowed.payees.as_ref(), requested.payees.as_ref())?,
        items: intersect("items", allowed.items.as_ref(), requested.items.as_ref())?,
        amount_per_use_max: match (allowed.amount_per_use_max, requested.amount_per_use_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        uses_max: requested.uses_max,
        spend_per_period: requested.spend_per_period,
    })
}

fn intersect<T: Clone + PartialEq>(
    field: &'static str,
    allowed: Option<&Vec<T>>,
    asked: Option<&Vec<T>>,
) -> Result<Option<Vec<T>>, OpError> {
    match (allowed, asked) {
        (None, asked) => Ok(asked.cloned()),
        (Some(allowed), None) => Ok(Some(allowed.clone())),
        (Some(allowed), Some(asked)) => {
            let both: Vec<T> = asked.iter().filter(|entry| allowed.contains(entry)).cloned().collect();
            if both.is_empty() {
                return Err(OpError::Restricted(Restriction::NoneAllowed { field }));
            }
            Ok(Some(both))
        }
    }
}

/// What a payment is for, as the broker stamps it from the payee's catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamped {
    pub category: Option<String>,
    pub item: Option<String>,
}

/// A payment checked against the payer's rules: what it is for, and the usage to record.
pub struct Checked {
    pub stamped: Stamped,
    /// What to record for each code of the payer's line that counts usage or has spending rules,
    /// written after the payment posts (see [`Checked::record`]).
    pub counted: Vec<Counted>,
}

/// One code's count of a payment: its usage, and its spending rules' counters with the payment
/// counted (each `None` when it has none to count).
pub struct Counted {
    pub id: CodeId,
    pub usage: Option<Usage>,
    pub rules: Option<spending::Rules>,
}

impl Checked {
    /// Writes what the payment counted, once it posts.
    pub fn record(&self, tx: &mut (impl LedgerTx + ?Sized)) -> Result<(), OpError> {
        for counted in &self.counted {
            if let Some(usage) = &counted.usage {
                tx.set_usage(&counted.id, usage)?;
            }
            if let Some(rules) = &counted.rules {
                tx.set_spending(&counted.id, Some(rules))?;
            }
        }
        Ok(())
    }
}

/// Checks a payment against the payer's rules and its ancestors' usage rules. Its category and
/// item come from `sold`, the payee's effective catalog: a payer's rule on categories or items is
/// judged against what the seller declared, never against what the payer says.
pub fn check_payment(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    (order, consent): (&PaymentOrder, Consent),
    sold: &Catalog,
) -> Result<Checked, OpError> {
    check_priced(tx, now, payer, (order, consent, false), sold)
}

/// [`check_payment`], or with `per_minute` the opening of a metered session checked as a payment
/// of one minute's price (`order.amount`), each rule's rate compared as a rate
/// (`spending::Asked::per_minute`). Nothing is spent by opening: what it counted is not recorded.
pub fn check_priced(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    (order, consent, per_minute): (&PaymentOrder, Consent, bool),
    sold: &Catalog,
) -> Result<Checked, OpError> {
    check_use(tx, now, payer, (&Use::of(order, per_minute), consent), sold)
}

/// The most a metered session opened now may charge in all: the payer's available balance, and
/// for each code of its line (above the approver, for a session approved at `approved_at_depth`)
/// what the spending rule that pays it has left in its period and what the code's own spending
/// limit has left. A rule's rate bounds the speed of charges, not their total, so it is no cap.
pub fn session_cap(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    asked: &spending::Asked<'_>,
    approved_at_depth: Option<u32>,
) -> Result<i64, OpError> {
    let available = tx
        .account(&crate::model::AccountKey::Code(payer.id.clone()))?
        .map_or(0, |account| account.available_units());
    let mut cap = available.max(0);
    for code in usage_line(tx, payer)? {
        if approved_at_depth.is_some_and(|depth| code.depth >= depth) {
            continue;
        }
        if let Some(limit) = code.restrictions.spend_per_period {
            cap = cap.min(limit.amount.units() - code.usage_at(now).period_spent_units);
        }
        let Some(rules) = &code.spending else { continue };
        if let Some(index) = spending::counting_rule(rules, asked) {
            let (rule, counters) = &rules[index];
            if let Some(left) = spending::left(rule, counters, now).period_units {
                cap = cap.min(left);
            }
        }
    }
    Ok(cap.max(0))
}

/// Who consented to a payment: what decides whether spending rules that match nothing, or ask,
/// let it through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// Its code was presented (to a seller, or by its holder): rules that match judge it, and
    /// where none matches there is no one to ask.
    Presented,
    /// A purchase made with no one asked (zero click): some rule of the payer's line must pay it,
    /// and none may ask.
    ZeroClick,
    /// The holder of the code at `depth` in the payer's line (the payer, or a code above it)
    /// approved it: the rules of that code and of the codes below it count it but do not ask;
    /// the rules above judge it as ever, and a rule that refuses still refuses.
    ApprovedAt { depth: u32 },
}

/// A payment to a seller of another broker (a charge, [`super::federation`]): its public code is
/// none of this broker's, so a payer restricted to some payees, categories or items may not make
/// it (nothing here can check what that seller sells); its amount and usage rules hold as ever.
pub fn check_payment_elsewhere(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    amount: crate::money::Amount,
) -> Result<Checked, OpError> {
    let asked = Use {
        payee: None,
        amount,
        category: None,
        item: None,
        per_minute: false,
    };
    check_use(tx, now, payer, (&asked, Consent::Presented), &Catalog::default())
}

/// What a payment asks of the payer's rules: its payee (`None`: a seller of another broker), its
/// amount, and what the payer says it is for.
struct Use<'a> {
    payee: Option<&'a crate::code::PublicCode>,
    amount: crate::money::Amount,
    category: Option<&'a str>,
    item: Option<&'a str>,
    per_minute: bool,
}

impl Use<'_> {
    fn of(order: &PaymentOrder, per_minute: bool) -> Use<'_> {
        Use {
            payee: Some(&order.payee),
            amount: order.amount,
            category: order.category.as_deref(),
            item: order.item.as_deref(),
            per_minute,
        }
    }
}

fn check_use(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    (order, consent): (&Use<'_>, Consent),
    sold: &Catalog,
) -> Result<Checked, OpError> {
    let rules = &payer.restrictions;
    let stamped = stamped_use(payer, order, sold)?;
    if let Some(max) = rules.amount_per_use_max {
        if order.amount > max {
            return Err(OpError::Restricted(Restriction::AmountPerUse {
                max_units: max.units(),
            }));
        }
    }
    let mut counted = Vec::new();
    let asked = spending::Asked {
        payee: order.payee,
        category: stamped.category.as_deref(),
        item: stamped.item.as_deref(),
        amount: order.amount,
        per_minute: order.per_minute,
    };
    let mut paid_by_a_rule = false;
    for code in usage_line(tx, payer)? {
        let usage = code
            .restrictions
            .counts_usage()
            .then(|| count_usage(&code, now, order.amount))
            .transpose()?;
        let rules = match (&code.spending, consent) {
            (Some(rules), Consent::ApprovedAt { depth }) if code.depth >= depth => {
                spending::count_approved(rules, &asked, now)
                    .map_err(|rule| refused_by(rule, &code))?
                    .map(std::sync::Arc::new)
            }
            (Some(rules), _) => judged(rules, &code, &asked, now)?,
            (None, _) => None,
        };
        paid_by_a_rule |= rules.is_some();
        counted.push(Counted {
            id: code.id.clone(),
            usage,
            rules,
        });
    }
    if consent == Consent::ZeroClick && !paid_by_a_rule {
        return Err(OpError::ApprovalRequired {
            rule: None,
            code: payer.id.to_string(),
            why: "no spending rule covers it".to_owned(),
        });
    }
    Ok(Checked { stamped, counted })
}

fn refused_by(rule: String, code: &CodeRecord) -> OpError {
    OpError::Restricted(Restriction::Rule {
        rule,
        code: code.id.to_string(),
    })
}

/// What a payment is for, stamped from what the payee sells, once the payer's static
/// restrictions on payees, categories and items allow it.
fn stamped_use(payer: &CodeRecord, order: &Use<'_>, sold: &Catalog) -> Result<Stamped, OpError> {
    let rules = &payer.restrictions;
    if let Some(payees) = &rules.payees {
        if !order.payee.is_some_and(|payee| payees.contains(payee)) {
            return Err(OpError::Restricted(Restriction::Payee));
        }
    }
    Ok(Stamped {
        category: stamp(
            "categories",
            sold.categories.as_ref(),
            rules.categories.as_ref(),
            order.category,
        )?,
        item: stamp("items", sold.items.as_ref(), rules.items.as_ref(), order.item)?,
    })
}

/// The most a purchase of what `order` is for (its amount is not read) may cost now with no one
/// asked, by the payer's restrictions and the spending rules of its line: `None` when no rule
/// pays it, or one asks or refuses whatever the price. What a negotiation bids within.
pub fn zero_click_room(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    order: &PaymentOrder,
    sold: &Catalog,
) -> Result<Option<i64>, OpError> {
    let stamped = stamped_use(payer, &Use::of(order, false), sold)?;
    let asked = spending::Asked {
        payee: Some(&order.payee),
        category: stamped.category.as_deref(),
        item: stamped.item.as_deref(),
        amount: order.amount,
        per_minute: false,
    };
    let mut most = payer.restrictions.amount_per_use_max.map(|max| max.units());
    let mut paid_by_a_rule = false;
    for code in usage_line(tx, payer)? {
        let Some(rules) = &code.spending else { continue };
        match spending::room(rules, &asked, now) {
            spending::Room::Unmatched => {}
            spending::Room::Pays { units_max } => {
                paid_by_a_rule = true;
                most = Some(most.map_or(units_max, |most| most.min(units_max)));
            }
            spending::Room::Asks | spending::Room::Refuses => return Ok(None),
        }
    }
    Ok(if paid_by_a_rule { most } else { None })
}

/// `code`'s usage with one more use of `amount` counted, unless that passes one of its usage rules.
fn count_usage(code: &CodeRecord, now: Timestamp, amount: crate::money::Amount) -> Result<Usage, OpError> {
    let mut usage = code.usage_at(now);
    if let Some(uses_max) = code.restrictions.uses_max {
        if usage.uses >= uses_max {
            return Err(OpError::Restricted(Restriction::UsesSpent { uses_max }));
        }
        usage.uses += 1;
    }
    if let Some(limit) = code.restrictions.spend_per_period {
        let spent = usage.period_spent_units.saturating_add(amount.units());
        if spent > limit.amount.units() {
            return Err(OpError::Restricted(Restriction::SpendPerPeriod {
                amount_units: limit.amount.units(),
                period_seconds: limit.period_seconds,
            }));
        }
        usage.period_spent_units = spent;
    }
    Ok(usage)
}

/// What `code`'s spending rules say of a payment: its rules with the payment counted when one
/// pays it, `None` when none matches (a code's holder presented the code: nothing to ask), and
/// the refusal or the question otherwise.
fn judged(
    rules: &spending::Rules,
    code: &CodeRecord,
    asked: &spending::Asked<'_>,
    now: Timestamp,
) -> Result<Option<spending::Rules>, OpError> {
    match spending::judge(rules, asked, now) {
        Judgement::Unmatched => Ok(None),
        Judgement::Pays { index, counters } => {
            let mut next = (**rules).clone();
            next[index].1 = counters;
            Ok(Some(std::sync::Arc::new(next)))
        }
        Judgement::Asks { rule, why } => Err(OpError::ApprovalRequired {
            rule: Some(rule),
            code: code.id.to_string(),
            why: why.describe(),
        }),
        Judgement::Refuses { rule } => Err(refused_by(rule, code)),
    }
}

/// A payment's category (or item), stamped from what the payee sells, and checked against what
/// the payer may pay for (`allowed`, `None` for no rule).
///
/// - A payee that declares nothing gives the payment none; a name the payer gives proves nothing
///   and is dropped, and a payer restricted to some is refused.
/// - A name the payer gives must be one the payee sells (else refused), and is then the stamp.
/// - Otherwise the stamp is what the payee sells and the payer may pay for: the one such entry, or
///   when there are several, the first if the payer's rule needs one and none if it has no rule
///   (the broker does not guess which of a seller's categories an unrestricted payment was for).
fn stamp(
    field: &'static str,
    sold: Option<&Vec<String>>,
    allowed: Option<&Vec<String>>,
    named: Option<&str>,
) -> Result<Option<String>, OpError> {
    let Some(sold) = sold else {
        return match allowed {
            Some(_) => Err(OpError::Restricted(Restriction::Undeclared { field })),
            None => Ok(None),
        };
    };
    let stamped = match named {
        Some(name) if sold.iter().any(|s| s == name) => Some(name.to_owned()),
        Some(_) => {
            return Err(OpError::Restricted(Restriction::NotSold {
                field,
                sold: if sold.is_empty() {
                    "nothing".to_owned()
                } else {
                    sold.join(", ")
                },
            }))
        }
        None => {
            let mut payable = sold.iter().filter(|s| allowed.is_none_or(|a| a.contains(s)));
            match (payable.next(), payable.next()) {
                (Some(only), None) => Some(only.clone()),
                (Some(first), Some(_)) if allowed.is_some() => Some(first.clone()),
                _ => None,
            }
        }
    };
    match (allowed, &stamped) {
        (Some(allowed), Some(entry)) if !allowed.contains(entry) => {
            Err(OpError::Restricted(Restriction::NotAllowed { field }))
        }
        (Some(_), None) => Err(OpError::Restricted(Restriction::NotAllowed { field })),
        _ => Ok(stamped),
    }
}

/// What a released hold gives back of the usage it counted when it was made: its use (`use_too`,
/// for a void; a capture is a use) and, in a period that is still the one it was counted in, the
/// released spending, for the payer and each ancestor that counts usage; and to the spending rule
/// of each that counted it (the first that matches what it was `for_what`, if it pays), what it
/// released.
pub(super) fn give_back(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    (held_at, released_units): (Timestamp, i64),
    use_too: bool,
    for_what: &spending::Asked<'_>,
) -> Result<(), OpError> {
    for code in usage_line(tx, payer)? {
        let mut usage = code.usage_at(now);
        if use_too && code.restrictions.uses_max.is_some() {
            usage.uses = usage.uses.saturating_sub(1);
        }
        if code.restrictions.spend_per_period.is_some() && code.usage_at(held_at).period_index == usage.period_index {
            usage.period_spent_units = usage.period_spent_units.saturating_sub(released_units).max(0);
        }
        if usage != code.usage {
            tx.set_usage(&code.id, &usage)?;
        }
        let Some(rules) = &code.spending else { continue };
        if let Some(index) = spending::counting_rule(rules, for_what) {
            let mut next = (**rules).clone();
            let (rule, counters) = &next[index];
            next[index].1 = spending::give_back(rule, counters, held_at, released_units, now);
            tx.set_spending(&code.id, Some(&std::sync::Arc::new(next)))?;
        }
    }
    Ok(())
}

/// The payer and each ancestor that counts usage or has spending rules, nearest first.
fn usage_line(tx: &mut (impl LedgerRead + ?Sized), payer: &CodeRecord) -> Result<Vec<CodeRecord>, OpError> {
    let mut line = Vec::new();
    if !payer.restricted_lineage {
        return Ok(line);
    }
    let mut cursor = payer.clone();
    loop {
        if cursor.restrictions.counts_usage() || cursor.spending.is_some() {
            line.push(cursor.clone());
        }
        let Some(parent_id) = cursor.parent_id.clone() else {
            break;
        };
        let parent = tx.code_by_id(&parent_id)?.ok_or(OpError::NotFound("ancestor"))?;
        if !parent.restricted_lineage {
            break;
        }
        cursor = parent;
        assert!(line.len() <= TREE_DEPTH_MAX as usize, "the code tree has no cycles");
    }
    Ok(line)
}

/// What is left of the usage rules over a code's line, for showing to its holder.
pub fn usage_left(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    record: &CodeRecord,
) -> Result<Option<UsageLeft>, OpError> {
    let line = usage_line(tx, record)?;
    if line.is_empty() {
        return Ok(None);
    }
    let mut left = UsageLeft::default();
    for code in &line {
        let usage = code.usage_at(now);
        if let Some(uses_max) = code.restrictions.uses_max {
            let uses = uses_max.saturating_sub(usage.uses);
            left.uses = Some(left.uses.map_or(uses, |u| u.min(uses)));
        }
        if let Some(limit) = code.restrictions.spend_per_period {
            let spend = (limit.amount.units() - usage.period_spent_units).max(0);
            left.spend_units = Some(left.spend_units.map_or(spend, |s| s.min(spend)));
        }
    }
    Ok(Some(left))
}
