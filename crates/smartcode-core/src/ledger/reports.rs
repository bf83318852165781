//! The queries and reports: what a holder reads of its code (itself, its children, its tree, its
//! history, its reports), what the public reads of a public code, and the operator's ledger check.

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId, PublicCode};
use crate::error::OpError;
use crate::limits::*;
use crate::model::*;

use super::checks::{standing, CheckView};
use super::rules::{effective_catalog, present, view};
use super::{CodeView, LedgerRead, TransferFilter};

#[derive(Clone, Debug)]
pub enum Query {
    Me {
        holder: CodeHash,
    },
    Children {
        holder: CodeHash,
    },
    /// The holder's descendants, breadth first, at most [`TREE_VIEW_CODES_MAX`].
    Tree {
        holder: CodeHash,
    },
    Transactions {
        holder: CodeHash,
        filter: TransferFilter,
    },
    Report {
        holder: CodeHash,
        grouping: ReportGrouping,
        filter: TransferFilter,
    },
    Public {
        code: PublicCode,
    },
    /// The code's tree: its issued ancestor (itself, for an issued code). The guessing defence
    /// counts a holder's failures per tree, so children made for the purpose add no budget.
    TreeRoot {
        holder: CodeHash,
    },
    LedgerCheck,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Code(CodeView),
    Children(Vec<CodeView>),
    Tree {
        /// Each descendant with the id of its parent, parents before their children.
        nodes: Vec<CodeView>,
        /// The tree had more codes than one view shows.
        truncated: bool,
    },
    Transactions {
        entries: Vec<Entry>,
        next_cursor: Option<i64>,
    },
    Report(Vec<ReportRow>),
    Public(PublicView),
    TreeRoot {
        id: CodeId,
        root: CodeId,
    },
    LedgerCheck {
        ok: bool,
        totals: LedgerTotals,
    },
}

/// One transfer as seen from one code: the amount is signed (negative when value left the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub transfer: Transfer,
    pub signed_units: i64,
    /// The code on the other side; `None` when it is the broker (issue, deposit), and when the
    /// broker's edge hides a payer from its seller behind `payer_pseudonym`.
    pub counterparty_id: Option<CodeId>,
    /// The other side as people know it, where this code may know it (see [`counterparty_name`]).
    pub counterparty: Option<String>,
    /// For a payment: the public code paid into, and its receipt's id.
    pub public_code: Option<PublicCode>,
    pub receipt_id: Option<String>,
    /// For a payment into this code: the payer as its seller sees it, a pseudonym per seller that
    /// the broker's edge fills in (the core holds no key to make one). Shown instead of an id.
    pub payer_pseudonym: Option<String>,
}

impl Entry {
    /// Whom this entry names on the other side by id, as its reader may see it: the payer's
    /// pseudonym for a payment received, otherwise the counterparty's id; `None` for the broker.
    pub fn counterparty_shown(&self) -> Option<String> {
        self.payer_pseudonym
            .clone()
            .or_else(|| self.counterparty_id.as_ref().map(ToString::to_string))
    }

    /// A payment into this code: its counterparty is a payer, whom the seller sees by pseudonym.
    pub fn is_payment_received(&self) -> bool {
        self.transfer.kind == TransferKind::Payment && self.signed_units > 0
    }

    /// A refund this code gave: its counterparty is a payer too.
    pub fn is_refund_given(&self) -> bool {
        self.transfer.kind == TransferKind::Refund && self.signed_units < 0
    }
}

/// The word an entry names the broker by, when value came from or went to the issuance account.
pub const BROKER_COUNTERPARTY: &str = "broker";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicView {
    pub record: CodeRecord,
    /// Who stands behind its profile's name, if anyone does now.
    pub check: Option<CheckView>,
    /// What it sells, bounded by the public codes it is nested under.
    pub catalog: Catalog,
    /// From the nearest ancestor up to the depth-1 code; the broker's root is added by the edge.
    pub ancestry: Vec<Ancestor>,
    /// `(payments received, total units)`, only if the owner chose to show statistics.
    pub stats: Option<(u64, i64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub depth: u32,
    pub kind: CodeKind,
    /// `None` when the ancestor has no public profile.
    pub profile: Option<Profile>,
    /// Who stands behind that profile's name, if anyone does now.
    pub check: Option<CheckView>,
}

pub(super) fn query(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    query: &Query,
) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Me { holder } => {
            let record = present(tx, holder)?;
            Ok(QueryOutcome::Code(view(tx, now, record)?))
        }
        Query::Children { holder } => {
            let record = present(tx, holder)?;
            let children = tx.children(&record.id, CHILDREN_PER_CODE_MAX)?;
            let views = children
                .into_iter()
                .map(|child| view(tx, now, child))
                .collect::<Result<_, _>>()?;
            Ok(QueryOutcome::Children(views))
        }
        Query::Tree { holder } => {
            let record = present(tx, holder)?;
            tree(tx, now, &record)
        }
        Query::Transactions { holder, filter } => {
            let record = present(tx, holder)?;
            let account = AccountKey::Code(record.id.clone());
            let rows = tx.transfers_of(&account, filter)?;
            let next_cursor = if rows.len() as u32 == filter.limit {
                rows.last().map(|(sequence, _)| *sequence)
            } else {
                None
            };
            let mut known = Known::default();
            let entries = rows
                .into_iter()
                .map(|(_, transfer)| entry_for(tx, &mut known, &account, transfer))
                .collect::<Result<_, _>>()?;
            Ok(QueryOutcome::Transactions { entries, next_cursor })
        }
        Query::Report {
            holder,
            grouping,
            filter,
        } => {
            let record = present(tx, holder)?;
            Ok(QueryOutcome::Report(tx.report(
                &AccountKey::Code(record.id),
                *grouping,
                filter,
            )?))
        }
        Query::Public { code } => public_view(tx, now, code).map(QueryOutcome::Public),
        Query::TreeRoot { holder } => {
            let record = present(tx, holder)?;
            let mut root = record.id.clone();
            let mut next = record.parent_id;
            for _ in 0..=TREE_DEPTH_MAX {
                let Some(parent) = next else { break };
                let ancestor = tx.code_by_id(&parent)?.ok_or(OpError::NotFound("ancestor"))?;
                (root, next) = (ancestor.id, ancestor.parent_id);
            }
            Ok(QueryOutcome::TreeRoot { id: record.id, root })
        }
        Query::LedgerCheck => {
            let totals = tx.ledger_totals()?;
            let ok = totals.negative_balances == 0
                && totals.mismatched_accounts == 0
                && totals.uncovered_holds == 0
                && totals.currencies.iter().all(currency_balances);
            Ok(QueryOutcome::LedgerCheck { ok, totals })
        }
    }
}

/// Whether one currency's books balance: every account together sums to zero, the issuance
/// account owes exactly what was issued less what was paid out (its transfers, judged by their
/// kinds), and the codes, the exchange account's position and the peers' accounts hold all of it
/// (a quote moves value between a code and the exchange account in each currency; a settlement
/// between the issuance account and a peer's).
fn currency_balances(totals: &CurrencyTotals) -> bool {
    let owed = totals.issued_units.checked_sub(totals.paid_out_units);
    let held = totals
        .held_by_codes_units
        .checked_add(totals.exchange_units)
        .and_then(|held| held.checked_add(totals.peer_units));
    totals.sum_units == 0 && owed == Some(totals.outstanding_units) && held == Some(totals.outstanding_units)
}

fn tree(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, root: &CodeRecord) -> Result<QueryOutcome, OpError> {
    let mut nodes = Vec::new();
    let mut pending = std::collections::VecDeque::from([root.id.clone()]);
    let mut truncated = false;
    while let Some(parent) = pending.pop_front() {
        for child in tx.children(&parent, CHILDREN_PER_CODE_MAX)? {
            if nodes.len() == TREE_VIEW_CODES_MAX {
                truncated = true;
                break;
            }
            pending.push_back(child.id.clone());
            nodes.push(view(tx, now, child)?);
        }
        if truncated {
            break;
        }
    }
    Ok(QueryOutcome::Tree { nodes, truncated })
}

/// The codes a page of history names, each read once.
#[derive(Default)]
struct Known(std::collections::HashMap<CodeId, Option<CodeRecord>>);

impl Known {
    fn code(&mut self, tx: &mut (impl LedgerRead + ?Sized), id: &CodeId) -> Result<Option<&CodeRecord>, OpError> {
        if !self.0.contains_key(id) {
            let record = tx.code_by_id(id)?;
            self.0.insert(id.clone(), record);
        }
        Ok(self.0.get(id).and_then(Option::as_ref))
    }
}

fn entry_for(
    tx: &mut (impl LedgerRead + ?Sized),
    known: &mut Known,
    account: &AccountKey,
    transfer: Transfer,
) -> Result<Entry, OpError> {
    let outgoing = &transfer.debit == account;
    let (signed_units, other) = if outgoing {
        (-transfer.amount.units(), &transfer.credit)
    } else {
        (transfer.amount.units(), &transfer.debit)
    };
    // Paid through the exchange account: the payer is the one who paid its pair in.
    let paid_in;
    let other = if transfer.kind == TransferKind::Payment && matches!(other, AccountKey::Exchange(_)) && !outgoing {
        paid_in = super::quotes::payer_of(tx, &transfer.id)?;
        &paid_in
    } else {
        other
    };
    let counterparty_id = other.code_id().cloned();
    let public_code = match &transfer.public_code_id {
        Some(id) => known.code(tx, id)?.and_then(|record| record.public_code.clone()),
        None => None,
    };
    let counterparty = match (&counterparty_id, other) {
        // Across brokers: the seller at the peer (its public code is the transfer's memo at the
        // buyer's broker), or the buyer's broker, whose code stays unknown here.
        (None, AccountKey::Peer { peer, .. }) => Some(match (transfer.kind, outgoing) {
            (TransferKind::Payment, false) | (TransferKind::Refund, true) => format!("a code of broker {peer}"),
            _ => format!("{} at broker {peer}", transfer.memo.as_deref().unwrap_or("a seller")),
        }),
        (id, _) => match id {
            // A buyer's payment into the exchange account, and a refund through it, name the shop.
            None if matches!(transfer.kind, TransferKind::Exchange | TransferKind::Refund) => {
                counterparty_name(transfer.kind, outgoing, None, public_code.as_ref())
            }
            None => Some(BROKER_COUNTERPARTY.to_owned()),
            Some(id) => {
                let record = known.code(tx, id)?;
                counterparty_name(transfer.kind, outgoing, record, public_code.as_ref())
            }
        },
    };
    let receipt_id = match transfer.kind {
        // A charge for a seller of a peer's has its receipt there.
        TransferKind::Payment if transfer.credit.code_id().is_none() => None,
        TransferKind::Payment => Some(transfer.id.clone()),
        TransferKind::Exchange => super::quotes::receipt_of_exchange_leg(&transfer.id),
        _ => None,
    };
    Ok(Entry {
        transfer,
        signed_units,
        counterparty_id,
        counterparty,
        public_code,
        receipt_id,
        payer_pseudonym: None,
    })
}

/// How an entry names the code on the other side, by what this code may know of it: a code it
/// made (a child it funds, a descendant whose value comes back) by the label it gave it; a code
/// above it (whose label is its own holder's business) by its public profile name, if it has one;
/// a seller by the public code paid. A payer is someone else's code and keeps its id only.
pub fn counterparty_name(
    kind: TransferKind,
    outgoing: bool,
    other: Option<&CodeRecord>,
    public_code: Option<&PublicCode>,
) -> Option<String> {
    let below = matches!(
        (kind, outgoing),
        (TransferKind::Fund, true) | (TransferKind::Reclaim, false) | (TransferKind::Revert, false)
    );
    match kind {
        TransferKind::Payment if outgoing => public_code.map(ToString::to_string),
        TransferKind::Payment => None,
        // A refund comes back from the shop that was paid; the seller's side names no payer.
        TransferKind::Refund if !outgoing => public_code.map(ToString::to_string),
        TransferKind::Refund => None,
        TransferKind::Exchange if outgoing => public_code.map(ToString::to_string),
        TransferKind::Exchange => None,
        _ if below => other.and_then(|record| record.label.clone()),
        _ => other.and_then(|record| record.profile.name.clone()),
    }
}

fn public_view(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, code: &PublicCode) -> Result<PublicView, OpError> {
    let record = tx.code_by_public(code)?.ok_or(OpError::NotFound("public code"))?;
    if record.status_at(now) == CodeStatus::Cancelled {
        return Err(OpError::NotFound("public code"));
    }
    let mut ancestry = Vec::new();
    let mut next = record.parent_id.clone();
    while let Some(id) = next {
        let ancestor = tx.code_by_id(&id)?.ok_or(OpError::NotFound("ancestor"))?;
        let profile = (!ancestor.profile.is_empty()).then(|| ancestor.profile.clone());
        let check = standing(tx, now, &ancestor)?;
        ancestry.push(Ancestor {
            depth: ancestor.depth,
            kind: ancestor.kind,
            profile,
            check,
        });
        next = ancestor.parent_id;
        assert!(
            ancestry.len() <= TREE_DEPTH_MAX as usize + 1,
            "the code tree has no cycles"
        );
    }
    let stats = if record.profile.show_stats {
        Some(tx.public_code_stats(&record.id)?)
    } else {
        None
    };
    let catalog = effective_catalog(tx, &record)?;
    let check = standing(tx, now, &record)?;
    Ok(PublicView {
        check,
        record,
        catalog,
        ancestry,
        stats,
    })
}
