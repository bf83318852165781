//! Numeric aliases: an all-digit name for a secret or public code, for keyboards that cannot type
//! the code alphabet (see [`crate::numeric`] for their shape). A code has at most one; asking again
//! replaces it, and a rekey replaces a secret code's alias with the new secret.
//!
//! The store keeps an alias as the keyed hash of its digits, like a secret code. A secret alias is
//! presented like the code itself: [`super::rules::present`] finds the code by its alias when no
//! code has the presented hash, so an alias works wherever its code does and is judged by the same
//! PIN, restrictions and guessing defence. A public alias is resolved to its public code at the edge
//! ([`Query::Public`]); its digits are public and kept so its owner and its page can show them.

use crate::code::{CodeHash, CodeId, PublicCode};
use crate::error::OpError;
use crate::model::*;

use super::rules::{authenticate, descendant};
use super::{Context, Credential, LedgerRead, LedgerTx};

#[derive(Clone, Debug)]
pub enum Command {
    /// Gives the holder's code (or, with `public`, one of its public codes) the alias whose keyed
    /// hash is `hash`; a public alias's `digits` are kept to be shown.
    Set {
        holder: Credential,
        public: Option<CodeId>,
        hash: CodeHash,
        digits: Option<String>,
    },
    /// Removes the alias of the holder's code or of one of its public codes.
    Remove { holder: Credential, public: Option<CodeId> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Set(AliasRecord),
    Removed { code_id: CodeId, existed: bool },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The public code a public alias names.
    Public { hash: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Public(PublicCode),
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Set {
            holder,
            public,
            hash,
            digits,
        } => {
            let code = target(tx, cx, holder, public.as_ref())?;
            let alias = AliasRecord {
                code_id: code.id,
                hash: *hash,
                public_digits: digits.clone().filter(|_| code.kind == CodeKind::Public),
                created_at: cx.now,
            };
            replace(tx, &alias)?;
            Ok(Outcome::Set(alias))
        }
        Command::Remove { holder, public } => {
            let code = target(tx, cx, holder, public.as_ref())?;
            let existed = tx.alias_of(&code.id)?.is_some();
            tx.set_alias(&code.id, None)?;
            Ok(Outcome::Removed {
                code_id: code.id,
                existed,
            })
        }
    }
}

/// The holder's own code, or a public code below it.
fn target(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &Context,
    holder: &Credential,
    public: Option<&CodeId>,
) -> Result<CodeRecord, OpError> {
    let holder = authenticate(tx, holder, cx.now)?;
    let Some(public) = public else { return Ok(holder) };
    let code = descendant(tx, &holder, public)?;
    if code.kind != CodeKind::Public || code.status_at(cx.now) != CodeStatus::Active {
        return Err(OpError::NotFound("public code"));
    }
    Ok(code)
}

/// Stores `alias` in place of its code's, unless its hash is already taken (by a code or another
/// alias): then the edge draws new digits.
pub(super) fn replace(tx: &mut (impl LedgerTx + ?Sized), alias: &AliasRecord) -> Result<(), OpError> {
    if tx.code_by_hash(&alias.hash)?.is_some() || tx.alias_target(&alias.hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    tx.set_alias(&alias.code_id, Some(alias))?;
    Ok(())
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Public { hash } => {
            let code = tx
                .alias_target(hash)?
                .map(|id| tx.code_by_id(&id))
                .transpose()?
                .flatten()
                .filter(|c| c.status != CodeStatus::Cancelled)
                .and_then(|c| c.public_code)
                .ok_or(OpError::NotFound("public code"))?;
            Ok(QueryOutcome::Public(code))
        }
    }
}

/// The secret code a presented hash names through its alias, if any.
pub(super) fn by_alias(tx: &mut (impl LedgerRead + ?Sized), hash: &CodeHash) -> Result<Option<CodeRecord>, OpError> {
    let Some(id) = tx.alias_target(hash)? else {
        return Ok(None);
    };
    Ok(tx.code_by_id(&id)?.filter(|c| c.kind == CodeKind::Secret))
}
