//! The conversions between each capability's commands, queries and outcomes and the ledger's
//! [`Command`], [`Query`] and [`QueryOutcome`]: one macro line per kind, one name per capability.

use super::*;

macro_rules! from_capability {
    ($($variant:ident => $module:ident),*) => {$(
        impl From<$module::Command> for Command {
            fn from(command: $module::Command) -> Command {
                Command::$variant(command)
            }
        }
    )*};
}

from_capability!(Issuance => issuance, Tree => tree, Payments => payments, Controls => controls, Expiry => expiry, Holds => holds, Authorizations => authorizations, Aliases => aliases, Assurances => assurances, Quotes => quotes, Peers => peers, Federation => federation, Purchases => purchases, Sessions => sessions, Items => items, Shares => shares, Webhooks => webhooks, Licenses => licenses);

macro_rules! query_of {
    ($($variant:ident => $module:ident),*) => {$(
        impl From<$module::Query> for Query {
            fn from(query: $module::Query) -> Query {
                Query::$variant(query)
            }
        }
    )*};
}

query_of!(Reports => reports, Payments => payments, Holds => holds, Authorizations => authorizations, Aliases => aliases, Assurances => assurances, Quotes => quotes, Peers => peers, Federation => federation, Purchases => purchases, Items => items, Shares => shares, Sessions => sessions, Webhooks => webhooks, Licenses => licenses);

macro_rules! query_outcome_of {
    ($($variant:ident => $module:ident),*) => {$(
        impl TryFrom<QueryOutcome> for $module::QueryOutcome {
            type Error = QueryOutcome;

            /// The capability's own outcome, or the outcome back if it is another's.
            fn try_from(outcome: QueryOutcome) -> Result<$module::QueryOutcome, QueryOutcome> {
                match outcome {
                    QueryOutcome::$variant(outcome) => Ok(outcome),
                    #[allow(unreachable_patterns)]
                    other => Err(other),
                }
            }
        }
    )*};
}

query_outcome_of!(Reports => reports, Payments => payments, Holds => holds, Authorizations => authorizations, Aliases => aliases, Assurances => assurances, Quotes => quotes, Peers => peers, Federation => federation, Purchases => purchases, Sessions => sessions, Items => items, Shares => shares, Webhooks => webhooks, Licenses => licenses);
