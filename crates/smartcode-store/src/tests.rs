//! The store behaviour suite, one and the same for both stores: every test in `behaviour_suite!`
//! runs as `embedded::NAME` and as `postgres::NAME`, each on storage of its own (a temporary
//! directory, a fresh PostgreSQL schema). Without a database the PostgreSQL half says loudly that
//! it skipped, or fails under `CI=true` (see [`crate::testing`]). The tests named `postgres_*`
//! run two PostgreSQL stores on one schema, as two broker processes would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use smartcode_core::clock::{Clock, ManualClock, Timestamp};
use smartcode_core::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
use smartcode_core::error::OpError;
use smartcode_core::ledger::issuance::CodeRef;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::ledger::tree::ChildOptions;
use smartcode_core::ledger::{
    expiry, holds, issuance, payments, quotes, reports, tree, Command, Credential, Outcome, Query, QueryOutcome, Seed,
};
use smartcode_core::model::{QuoteRecord, TransferKind};
use smartcode_core::money::{Amount, Currency};

use crate::embedded::{EmbeddedStore, DATABASE_FILE};
use crate::postgres::PostgresStore;
use crate::testing::TestSchema;
use crate::{Idempotency, Store, StoredResponse, WriteRequest, Written};

/// Where one test's store keeps its data; the store can be opened on it as often as a test likes.
pub(crate) trait Backend {
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Store>;
    /// Runs SQL behind the broker's back, as someone with the database open could.
    fn raw(&self, sql: &str) -> Result<u64, String>;
    /// Everything the store keeps, as text, to look for secrets in.
    fn dump(&self) -> String;
}

/// Makes a backend with empty storage.
pub(crate) type Fresh<'a> = &'a dyn Fn() -> Box<dyn Backend>;

struct Embedded {
    dir: tempfile::TempDir,
}

impl Backend for Embedded {
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        Arc::new(EmbeddedStore::open(self.dir.path(), clock).expect("the embedded store opens"))
    }

    fn raw(&self, sql: &str) -> Result<u64, String> {
        let connection = rusqlite::Connection::open(self.dir.path().join(DATABASE_FILE)).map_err(|e| e.to_string())?;
        connection
            .execute(sql, [])
            .map(|rows| rows as u64)
            .map_err(|e| e.to_string())
    }

    fn dump(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        text
    }
}

struct Postgres {
    schema: TestSchema,
}

impl Backend for Postgres {
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        Arc::new(PostgresStore::open(self.schema.url(), clock).expect("the postgres store opens"))
    }

    fn raw(&self, sql: &str) -> Result<u64, String> {
        self.schema.execute(sql)
    }

    fn dump(&self) -> String {
        let mut client = self.schema.client();
        let tables = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                &[&self.schema.name()],
            )
            .unwrap();
        let mut text = String::new();
        for table in tables {
            let name: String = table.get(0);
            let rows = client
                .query_one(
                    &format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {name} t"),
                    &[],
                )
                .unwrap();
            text.push_str(&rows.get::<_, String>(0));
        }
        // What an operator's backup would hold, when the tool is here.
        text.push_str(&self.schema.pg_dump().unwrap_or_default());
        text
    }
}

pub(crate) fn fresh_embedded() -> Box<dyn Backend> {
    Box::new(Embedded {
        dir: tempfile::tempdir().unwrap(),
    })
}

pub(crate) fn fresh_postgres() -> Box<dyn Backend> {
    let schema = TestSchema::create().expect("the suite checked that PostgreSQL is there");
    Box::new(Postgres { schema })
}

/// Generates each named test twice: `embedded::NAME` and `postgres::NAME`.
macro_rules! behaviour_suite {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $test() {
                    super::$test(&super::fresh_embedded)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    if crate::testing::postgres_available() {
                        super::$test(&super::fresh_postgres)
                    }
                }
            )*
        }
    };
}

behaviour_suite!(
    random_operations_conserve_money_and_keep_balances_non_negative,
    unused_quotes_are_forgotten_once_expired_and_used_ones_kept,
    a_refused_command_in_a_batch_leaves_nothing_behind_and_others_still_commit,
    reopening_a_store_keeps_everything_and_does_not_migrate_twice,
    the_ledger_check_catches_a_tampered_balance,
    a_code_holds_at_most_the_balance_limit,
    a_cancel_stops_at_most_the_subtree_limit_and_otherwise_changes_nothing,
    an_idempotency_key_replays_its_first_response_and_refuses_another_request,
    an_expired_child_reverts_to_its_parent_by_itself,
    a_tree_larger_than_a_cancel_may_stop_still_expires,
    usage_counted_across_a_line_is_never_lost,
    reports_and_history_pages_read_the_same_on_both_stores,
    the_store_holds_no_secret_code_in_clear,
);

pub(crate) fn test_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)))
}

pub(crate) fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

pub(crate) fn cred(hash: CodeHash) -> Credential {
    Credential::new(hash, false)
}

pub(crate) fn run(store: &dyn Store, command: Command) -> Result<Outcome, OpError> {
    match store
        .write(WriteRequest {
            seed: Seed::random(),
            command,
            idempotency: None,
        })
        .blocking_recv()
        .expect("the store answers")?
    {
        Written::Done(outcome) => Ok(outcome),
        Written::Replayed(_) => unreachable!("no idempotency key was sent"),
    }
}

pub(crate) fn read(store: &dyn Store, query: Query) -> Result<QueryOutcome, OpError> {
    store.read(query).blocking_recv().expect("the store answers")
}

pub(crate) fn check(store: &dyn Store) -> smartcode_core::model::LedgerTotals {
    let QueryOutcome::Reports(reports::QueryOutcome::LedgerCheck { ok, totals }) =
        read(store, Query::Reports(reports::Query::LedgerCheck)).expect("the check runs")
    else {
        panic!("a ledger check answers with totals")
    };
    assert!(ok, "the ledger check failed: {totals:?}");
    assert_eq!(totals.negative_balances, 0);
    assert_eq!(totals.uncovered_holds, 0, "every pending hold is covered");
    totals
}

pub(crate) fn issue(store: &dyn Store, hash: CodeHash, amount: &str) -> CodeId {
    let command = Command::Issuance(issuance::Command::Issue {
        hash,
        amount: Amount::parse(amount).unwrap(),
        currency: usd(),
        label: None,
    });
    let Some(view) = run(store, command)
        .expect("the operator issues a code")
        .into_code_view()
    else {
        panic!("issuing answers with the code")
    };
    view.record.id
}

pub(crate) fn public_child(store: &dyn Store, owner: CodeHash) -> PublicCode {
    let code = PublicCode::generate();
    let command = Command::Tree(tree::Command::CreatePublicChild {
        parent: cred(owner),
        code: code.clone(),
        label: None,
        profile: Default::default(),
        catalog: Default::default(),
        under: None,
    });
    run(store, command).expect("a public child is created");
    code
}

pub(crate) fn pay_command(payer: CodeHash, payee: &PublicCode, units: i64) -> Command {
    Command::Payments(payments::Command::Pay(order(payer, payee, units)))
}

/// `payer` pays `units` to `payee`, in the payer's currency, with nothing else said.
pub(crate) fn order(payer: CodeHash, payee: &PublicCode, units: i64) -> PaymentOrder {
    PaymentOrder {
        payer: cred(payer),
        payee: payee.clone(),
        amount: Amount::from_units(units).unwrap(),
        currency: None,
        memo: None,
        category: None,
        item: None,
    }
}

pub(crate) fn balance(store: &dyn Store, holder: CodeHash) -> i64 {
    let QueryOutcome::Reports(reports::QueryOutcome::Code(view)) =
        read(store, Query::Reports(reports::Query::Me { holder })).expect("the code is there")
    else {
        panic!("me answers with the code")
    };
    view.account.expect("a secret code has an account").balance_units
}

/// Waits (a bounded time) until `done` holds, for what a background thread does.
pub(crate) fn eventually(what: &str, done: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(15), what, done)
}

fn eventually_within(bound: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Random operations.

#[derive(Debug, Clone)]
enum Op {
    Issue {
        units: i64,
        euro: bool,
    },
    Deposit {
        code: usize,
        units: i64,
    },
    Child {
        parent: usize,
        units: i64,
        irrevocable: bool,
    },
    Public {
        owner: usize,
    },
    Fund {
        parent: usize,
        child: usize,
        units: i64,
    },
    Pay {
        payer: usize,
        payee: usize,
        units: i64,
    },
    Cancel {
        parent: usize,
        child: usize,
    },
    Payout {
        code: usize,
        units: i64,
    },
    Hold {
        payer: usize,
        payee: usize,
        units: i64,
        seconds: i64,
    },
    Capture {
        hold: usize,
        units: Option<i64>,
    },
    Void {
        hold: usize,
    },
    Refund {
        payment: usize,
        units: Option<i64>,
    },
    /// The operator sets the rate from one of the two currencies to the other.
    SetRate {
        euro_to_dollar: bool,
        rate_milli: i64,
        fee_bps: u32,
    },
    /// A quote for a price in one currency paid in the other, and the payment with it.
    Exchange {
        payer: usize,
        payee: usize,
        units: i64,
        mismatched: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let units = 1i64..5_000_000;
    prop_oneof![
        (units.clone(), any::<bool>()).prop_map(|(units, euro)| Op::Issue { units, euro }),
        (0usize..64, units.clone()).prop_map(|(code, units)| Op::Deposit { code, units }),
        (0usize..64, units.clone(), any::<bool>()).prop_map(|(parent, units, irrevocable)| {
            Op::Child {
                parent,
                units,
                irrevocable,
            }
        }),
        (0usize..64).prop_map(|owner| Op::Public { owner }),
        (0usize..64, 0usize..64, units.clone()).prop_map(|(parent, child, units)| Op::Fund { parent, child, units }),
        (0usize..64, 0usize..64, units.clone()).prop_map(|(payer, payee, units)| Op::Pay { payer, payee, units }),
        (0usize..64, 0usize..64).prop_map(|(parent, child)| Op::Cancel { parent, child }),
        (0usize..64, units.clone()).prop_map(|(code, units)| Op::Payout { code, units }),
        (0usize..64, 0usize..64, units.clone(), 1i64..7_200).prop_map(|(payer, payee, units, seconds)| Op::Hold {
            payer,
            payee,
            units,
            seconds
        }),
        (0usize..64, proptest::option::of(units.clone())).prop_map(|(hold, units)| Op::Capture { hold, units }),
        (0usize..64).prop_map(|hold| Op::Void { hold }),
        (0usize..64, proptest::option::of(1i64..5_000_000)).prop_map(|(payment, units)| Op::Refund { payment, units }),
        (any::<bool>(), 1i64..5_000, 0u32..=smartcode_core::limits::FEE_BPS_MAX).prop_map(
            |(euro_to_dollar, rate_milli, fee_bps)| Op::SetRate {
                euro_to_dollar,
                rate_milli,
                fee_bps
            }
        ),
        exchange(),
        exchange(),
        exchange(),
    ]
}

/// Exchanges, three times as likely as each other operation: they need two currencies, a shop
/// and a payer of the other currency, so many find nothing to do.
fn exchange() -> impl Strategy<Value = Op> {
    (0usize..64, 0usize..64, 1i64..5_000_000, any::<bool>()).prop_map(|(payer, payee, units, mismatched)| {
        Op::Exchange {
            payer,
            payee,
            units,
            mismatched,
        }
    })
}

struct World {
    store: Arc<dyn Store>,
    key: BrokerKey,
    secrets: Vec<(CodeHash, CodeId)>,
    /// Each public code with its owner's hash (the seller who captures).
    publics: Vec<(PublicCode, CodeHash)>,
    holds: Vec<(smartcode_core::code::HoldId, CodeHash)>,
    /// Each payment's receipt id with its seller's hash (who refunds).
    payments: Vec<(String, CodeHash)>,
    issued_units: [i64; 2],
    paid_out_units: [i64; 2],
    /// The exchange account's position per currency (USD, EUR), from the quotes paid.
    exchange_units: [i64; 2],
    /// The payments made with a quote, by receipt: what they moved, for their refunds.
    exchanged: std::collections::HashMap<String, Exchanged>,
    /// Which secret codes hold euros, by hash (the others hold dollars).
    euro_codes: std::collections::HashMap<[u8; 32], bool>,
}

/// A payment made with a quote, as the model keeps it: `pay` and `price` in micro-units, which
/// currency paid, and how much of the price was refunded so far.
struct Exchanged {
    pay: i64,
    price: i64,
    euro_pays: bool,
    refunded: i64,
}

/// The two currencies of the random world: USD at 0, EUR at 1.
fn currency_of(euro: bool) -> Currency {
    Currency::parse(if euro { "EUR" } else { "USD" }).unwrap()
}

impl World {
    fn write(&self, command: Command) -> Result<Outcome, OpError> {
        run(self.store.as_ref(), command)
    }

    fn pick<T: Clone>(list: &[T], index: usize) -> Option<T> {
        (!list.is_empty()).then(|| list[index % list.len()].clone())
    }

    fn new_secret(&self) -> (CodeHash, SecretCode) {
        let code = SecretCode::generate();
        (self.key.hash_code(&code), code)
    }

    fn apply(&mut self, op: &Op) {
        let amount = |units: i64| Amount::from_units(units).expect("positive units");
        match *op {
            Op::Issue { units, euro } => {
                let currency = Currency::parse(if euro { "EUR" } else { "USD" }).unwrap();
                let (hash, _) = self.new_secret();
                if let Ok(Outcome::Issuance(issuance::Outcome::Issued(view))) =
                    self.write(Command::Issuance(issuance::Command::Issue {
                        hash,
                        amount: amount(units),
                        currency,
                        label: None,
                    }))
                {
                    self.secrets.push((hash, view.record.id));
                    self.euro_codes.insert(hash.0, euro);
                    self.issued_units[usize::from(euro)] += units;
                }
            }
            Op::Deposit { code, units } => {
                let Some((hash, _)) = Self::pick(&self.secrets, code) else {
                    return;
                };
                for (index, name) in ["USD", "EUR"].iter().enumerate() {
                    let currency = Currency::parse(name).unwrap();
                    if self
                        .write(Command::Issuance(issuance::Command::Deposit {
                            target: CodeRef::Hash(hash),
                            amount: amount(units),
                            currency,
                        }))
                        .is_ok()
                    {
                        self.issued_units[index] += units;
                    }
                }
            }
            Op::Child {
                parent,
                units,
                irrevocable,
            } => {
                let Some((parent, _)) = Self::pick(&self.secrets, parent) else {
                    return;
                };
                let (hash, _) = self.new_secret();
                let options = ChildOptions {
                    irrevocable,
                    ..ChildOptions::default()
                };
                if let Ok(Outcome::Tree(tree::Outcome::Created(view))) =
                    self.write(Command::Tree(tree::Command::CreateSecretChild {
                        parent: cred(parent),
                        hash,
                        amount: amount(units),
                        options,
                    }))
                {
                    self.secrets.push((hash, view.record.id));
                    self.euro_codes.insert(hash.0, self.euro_codes[&parent.0]);
                }
            }
            Op::Public { owner } => {
                let Some((parent, _)) = Self::pick(&self.secrets, owner) else {
                    return;
                };
                let code = PublicCode::generate();
                let command = Command::Tree(tree::Command::CreatePublicChild {
                    parent: cred(parent),
                    code: code.clone(),
                    label: None,
                    profile: Default::default(),
                    catalog: Default::default(),
                    under: None,
                });
                if self.write(command).is_ok() {
                    self.publics.push((code, parent));
                }
            }
            Op::Fund { parent, child, units } => {
                let (Some((parent, _)), Some((_, child))) =
                    (Self::pick(&self.secrets, parent), Self::pick(&self.secrets, child))
                else {
                    return;
                };
                let _ = self.write(Command::Tree(tree::Command::FundChild {
                    parent: cred(parent),
                    child,
                    amount: amount(units),
                }));
            }
            Op::Pay { payer, payee, units } => {
                let (Some((payer, _)), Some(payee)) =
                    (Self::pick(&self.secrets, payer), Self::pick(&self.publics, payee))
                else {
                    return;
                };
                if let Ok(Outcome::Payments(payments::Outcome::Paid(receipt))) =
                    self.write(pay_command(payer, &payee.0, units))
                {
                    self.payments.push((receipt.id, payee.1));
                }
            }
            Op::Cancel { parent, child } => {
                let (Some((parent, _)), Some((_, child))) =
                    (Self::pick(&self.secrets, parent), Self::pick(&self.secrets, child))
                else {
                    return;
                };
                let _ = self.write(Command::Tree(tree::Command::CancelChild {
                    parent: cred(parent),
                    child,
                }));
            }
            Op::Payout { code, units } => {
                let Some((_, code_id)) = Self::pick(&self.secrets, code) else {
                    return;
                };
                let outcome = self.write(Command::Issuance(issuance::Command::Payout {
                    code_id,
                    amount: amount(units),
                    currency: None,
                    reference: "bank".into(),
                }));
                if let Ok(Outcome::Issuance(issuance::Outcome::PaidOut { transfer, .. })) = outcome {
                    self.paid_out_units[usize::from(transfer.currency.as_str() == "EUR")] += units;
                }
            }
            Op::Hold {
                payer,
                payee,
                units,
                seconds,
            } => {
                let (Some((payer, _)), Some((payee, seller))) =
                    (Self::pick(&self.secrets, payer), Self::pick(&self.publics, payee))
                else {
                    return;
                };
                let Command::Payments(payments::Command::Pay(order)) = pay_command(payer, &payee, units) else {
                    unreachable!("pay_command makes a payment")
                };
                let command = Command::Holds(holds::Command::Hold {
                    order,
                    expires_in_seconds: seconds,
                });
                if let Ok(Outcome::Holds(holds::Outcome::Held(hold))) = self.write(command) {
                    self.holds.push((hold.id, seller));
                }
            }
            Op::Capture { hold, units } => {
                let Some((id, seller)) = Self::pick(&self.holds, hold) else {
                    return;
                };
                let _ = self.write(Command::Holds(holds::Command::Capture {
                    seller: cred(seller),
                    hold: id,
                    amount: units.map(amount),
                }));
            }
            Op::Refund { payment, units } => {
                let Some((receipt_id, seller)) = Self::pick(&self.payments, payment) else {
                    return;
                };
                let refunded = self.write(Command::Payments(payments::Command::Refund {
                    seller: cred(seller),
                    receipt_id: receipt_id.clone(),
                    amount: units.map(amount),
                    reason: None,
                }));
                if let (Ok(Outcome::Payments(payments::Outcome::Refunded(refund))), Some(paid)) =
                    (refunded, self.exchanged.get_mut(&receipt_id))
                {
                    // Back through the exchange account: the running total at the quote, down.
                    let back_by = |units: i64| i128::from(units) * i128::from(paid.pay) / i128::from(paid.price);
                    let given = back_by(paid.refunded + refund.amount.units()) - back_by(paid.refunded);
                    paid.refunded += refund.amount.units();
                    self.exchange_units[usize::from(!paid.euro_pays)] += refund.amount.units();
                    self.exchange_units[usize::from(paid.euro_pays)] -= given as i64;
                }
            }
            Op::SetRate {
                euro_to_dollar,
                rate_milli,
                fee_bps,
            } => {
                let rate = format!("{}.{:03}", rate_milli / 1000, rate_milli % 1000);
                let _ = self.write(Command::Quotes(quotes::Command::SetRate {
                    from: currency_of(euro_to_dollar),
                    to: currency_of(!euro_to_dollar),
                    rate: smartcode_core::rate::Rate::parse(&rate).expect("a positive rate"),
                    fee_bps,
                }));
            }
            Op::Exchange {
                payer,
                payee,
                units,
                mismatched,
            } => self.exchange(payer, payee, units, mismatched),
            Op::Void { hold } => {
                let Some((id, seller)) = Self::pick(&self.holds, hold) else {
                    return;
                };
                let _ = self.write(Command::Holds(holds::Command::Void {
                    seller: cred(seller),
                    hold: id,
                }));
            }
        }
    }

    /// Asks for a quote of a small price in the currency the payer's is not, and pays with it
    /// (unless `mismatched`: then in the payer's own, which its payment refuses); what the quote
    /// moved goes into the model's position.
    fn exchange(&mut self, payer: usize, payee: usize, units: i64, mismatched: bool) {
        let Some((payee, seller)) = Self::pick(&self.publics, payee) else {
            return;
        };
        let euro_pays = !self.euro_codes[&seller.0];
        // A payer of the pay currency (or, mismatched, of the price's), if there is one.
        let mut rotated = self.secrets.iter().cycle().skip(payer).take(self.secrets.len());
        let Some((payer, _)) = rotated
            .find(|(hash, _)| self.euro_codes[&hash.0] == (euro_pays != mismatched))
            .cloned()
        else {
            return;
        };
        let units = (units / 100).max(1);
        let (from, to) = (currency_of(euro_pays), currency_of(!euro_pays));
        let Ok(QueryOutcome::Quotes(quotes::QueryOutcome::Rates(rates))) =
            read(self.store.as_ref(), Query::Quotes(quotes::Query::Rates))
        else {
            panic!("the rates read");
        };
        if !rates.iter().any(|r| (r.from, r.to) == (from, to)) {
            // The pair's first rate, so that most exchanges find one; SetRate replaces it.
            let rate = smartcode_core::rate::Rate::parse("1.234").expect("a rate");
            let set = quotes::Command::SetRate {
                from,
                to,
                rate,
                fee_bps: 25,
            };
            self.write(Command::Quotes(set)).expect("a rate is set");
        }
        let ask = Command::Quotes(quotes::Command::Quote {
            pay_currency: currency_of(euro_pays),
            price: Amount::from_units(units).expect("positive units"),
            price_currency: currency_of(!euro_pays),
            payee: Some(payee.clone()),
        });
        let Ok(Outcome::Quotes(quotes::Outcome::Quoted(quote))) = self.write(ask) else {
            return;
        };
        let pay = Command::Quotes(quotes::Command::Pay(quotes::QuotePayment {
            payer: cred(payer),
            payee,
            quote: quote.id.clone(),
            amount: None,
            currency: None,
            memo: None,
            category: None,
            item: None,
        }));
        if let Ok(Outcome::Quotes(quotes::Outcome::Paid { receipt, quote })) = self.write(pay) {
            assert!(!mismatched, "a code pays a quote only in its own currency");
            assert_eq!((receipt.amount, receipt.currency), (quote.price, quote.price_currency));
            self.exchange_units[usize::from(euro_pays)] += quote.pay.units();
            self.exchange_units[usize::from(!euro_pays)] -= quote.price.units();
            let paid = Exchanged {
                pay: quote.pay.units(),
                price: quote.price.units(),
                euro_pays,
                refunded: 0,
            };
            self.exchanged.insert(receipt.id.clone(), paid);
            self.payments.push((receipt.id, seller));
        }
    }

    fn check(&self) {
        let totals = check(self.store.as_ref());
        for currency in &totals.currencies {
            let index = usize::from(currency.currency.as_str() == "EUR");
            assert_eq!(
                currency.issued_units, self.issued_units[index],
                "issued is what the operator issued"
            );
            assert_eq!(
                currency.paid_out_units, self.paid_out_units[index],
                "paid out is what the operator paid out"
            );
            assert_eq!(
                currency.exchange_units, self.exchange_units[index],
                "the exchange account holds what quotes moved"
            );
            assert_eq!(
                currency.held_by_codes_units + currency.exchange_units,
                self.issued_units[index] - self.paid_out_units[index],
                "the codes and the exchange account hold what was issued less what was paid out"
            );
        }
    }
}

/// Conservation holds after every operation, no balance goes negative, and what the ledger says
/// was issued and paid out is what the operator issued and paid out.
fn random_operations_conserve_money_and_keep_balances_non_negative(fresh: Fresh) {
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        let backend = fresh();
        let mut world = World {
            store: backend.open(test_clock()),
            key: BrokerKey::generate(),
            secrets: Vec::new(),
            publics: Vec::new(),
            holds: Vec::new(),
            payments: Vec::new(),
            issued_units: [0, 0],
            paid_out_units: [0, 0],
            exchange_units: [0, 0],
            euro_codes: std::collections::HashMap::new(),
            exchanged: std::collections::HashMap::new(),
        };
        for op in &ops {
            world.apply(op);
            world.check();
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// The sweep forgets quotes that expired unused (anyone may ask for quotes, so the table would
/// grow without bound), and keeps a used one with its payment.
fn unused_quotes_are_forgotten_once_expired_and_used_ones_kept(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let eur = Currency::parse("EUR").unwrap();
    let (buyer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    run(
        store.as_ref(),
        Command::Issuance(issuance::Command::Issue {
            hash: buyer,
            amount: Amount::parse("20").unwrap(),
            currency: eur,
            label: None,
        }),
    )
    .expect("issued");
    issue(store.as_ref(), seller, "1");
    let shop = public_child(store.as_ref(), seller);
    let rate = smartcode_core::rate::Rate::parse("1.08").unwrap();
    let set = quotes::Command::SetRate {
        from: eur,
        to: usd(),
        rate,
        fee_bps: 0,
    };
    run(store.as_ref(), Command::Quotes(set)).expect("a rate");
    let ask = || {
        let command = Command::Quotes(quotes::Command::Quote {
            pay_currency: eur,
            price: Amount::parse("1").unwrap(),
            price_currency: usd(),
            payee: None,
        });
        match run(store.as_ref(), command) {
            Ok(Outcome::Quotes(quotes::Outcome::Quoted(quote))) => quote,
            other => panic!("a quote: {other:?}"),
        }
    };
    let pay = |quote: &QuoteRecord| {
        let payment = quotes::QuotePayment {
            payer: cred(buyer),
            payee: shop.clone(),
            quote: quote.id.clone(),
            amount: None,
            currency: None,
            memo: None,
            category: None,
            item: None,
        };
        run(store.as_ref(), Command::Quotes(quotes::Command::Pay(payment)))
    };
    let (used, unused) = (ask(), ask());
    pay(&used).expect("paid");
    let forget = quotes::Command::ForgetUnused {
        expired_before: unused.expires_at.plus_seconds(1).unwrap(),
    };
    assert_eq!(
        run(store.as_ref(), Command::Quotes(forget)),
        Ok(Outcome::Quotes(quotes::Outcome::Forgotten { quotes: 1 }))
    );
    assert_eq!(pay(&unused), Err(OpError::NotFound("quote")), "forgotten");
    assert_eq!(
        pay(&used),
        Err(OpError::Quote(smartcode_core::error::QuoteRefusal::Used)),
        "kept with its payment"
    );
    check(store.as_ref());
}

// ---------------------------------------------------------------------------------------------
// Batches, limits, tampering.

fn a_refused_command_in_a_batch_leaves_nothing_behind_and_others_still_commit(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let (payer, payee_owner) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    for hash in [payer, payee_owner] {
        issue(store.as_ref(), hash, "1");
    }
    let shop = public_child(store.as_ref(), payee_owner);
    // Queue many payments at once so they share commits; the ones beyond the balance are refused.
    let pending: Vec<_> = (0..15)
        .map(|_| {
            store.write(WriteRequest {
                seed: Seed::random(),
                command: pay_command(payer, &shop, 100_000),
                idempotency: None,
            })
        })
        .collect();
    let results: Vec<_> = pending.into_iter().map(|p| p.blocking_recv().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| matches!(r, Err(OpError::InsufficientFunds))));
    let totals = check(store.as_ref());
    assert_eq!(totals.currencies[0].transfers, 12);
}

fn reopening_a_store_keeps_everything_and_does_not_migrate_twice(fresh: Fresh) {
    let backend = fresh();
    let clock: Arc<dyn Clock> = test_clock();
    let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
    {
        let store = backend.open(clock.clone());
        issue(store.as_ref(), hash, "2");
    }
    let store = backend.open(clock);
    assert_eq!(balance(store.as_ref(), hash), 2_000_000);
    check(store.as_ref());
}

fn the_ledger_check_catches_a_tampered_balance(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
    issue(store.as_ref(), hash, "2");
    check(store.as_ref());
    // Someone edits a balance behind the broker's back: the check must say so.
    backend
        .raw("UPDATE accounts SET balance = balance + 1 WHERE kind = 'code'")
        .unwrap();
    let QueryOutcome::Reports(reports::QueryOutcome::LedgerCheck { ok, totals }) =
        read(store.as_ref(), Query::Reports(reports::Query::LedgerCheck)).unwrap()
    else {
        panic!()
    };
    assert!(!ok);
    assert_eq!(totals.mismatched_accounts, 1);
    assert_eq!(totals.currencies[0].sum_units, 1);
    // Transfers are append-only, even for someone with the database open.
    assert!(backend.raw("DELETE FROM transfers").is_err());
    assert!(backend.raw("UPDATE transfers SET amount = 1").is_err());
}

fn a_code_holds_at_most_the_balance_limit(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
    let most = Amount::from_units(smartcode_core::limits::AMOUNT_UNITS_MAX).unwrap();
    run(
        store.as_ref(),
        Command::Issuance(issuance::Command::Issue {
            hash,
            amount: most,
            currency: usd(),
            label: None,
        }),
    )
    .unwrap();
    let deposits_to_the_limit =
        smartcode_core::limits::BALANCE_UNITS_MAX / smartcode_core::limits::AMOUNT_UNITS_MAX - 1;
    let pending: Vec<_> = (0..deposits_to_the_limit)
        .map(|_| {
            let command = Command::Issuance(issuance::Command::Deposit {
                target: CodeRef::Hash(hash),
                amount: most,
                currency: usd(),
            });
            store.write(WriteRequest {
                seed: Seed::random(),
                command,
                idempotency: None,
            })
        })
        .collect();
    for answer in pending {
        answer.blocking_recv().unwrap().unwrap();
    }
    let over = run(
        store.as_ref(),
        Command::Issuance(issuance::Command::Deposit {
            target: CodeRef::Hash(hash),
            amount: Amount::from_units(1).unwrap(),
            currency: usd(),
        }),
    );
    assert!(matches!(over, Err(OpError::LimitExceeded(_))), "{over:?}");
    check(store.as_ref());
}

fn a_cancel_stops_at_most_the_subtree_limit_and_otherwise_changes_nothing(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let root = key.hash_code(&SecretCode::generate());
    issue(store.as_ref(), root, "100");
    let middle = key.hash_code(&SecretCode::generate());
    let Outcome::Tree(tree::Outcome::Created(middle_view)) = run(
        store.as_ref(),
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(root),
            hash: middle,
            amount: Amount::parse("1").unwrap(),
            options: ChildOptions::default(),
        }),
    )
    .unwrap() else {
        panic!()
    };
    // Ten secret children of `middle`, each with 1,000 public children: 10,011 codes below root.
    let mut branches = Vec::new();
    for _ in 0..10 {
        let hash = key.hash_code(&SecretCode::generate());
        let command = Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(middle),
            hash,
            amount: Amount::from_units(1).unwrap(),
            options: ChildOptions::default(),
        });
        run(store.as_ref(), command).unwrap();
        branches.push(hash);
    }
    let pending: Vec<_> = branches
        .iter()
        .flat_map(|branch| (0..1_000).map(move |_| *branch))
        .map(|branch| {
            let command = Command::Tree(tree::Command::CreatePublicChild {
                parent: cred(branch),
                code: PublicCode::generate(),
                label: None,
                profile: Default::default(),
                catalog: Default::default(),
                under: None,
            });
            store.write(WriteRequest {
                seed: Seed::random(),
                command,
                idempotency: None,
            })
        })
        .collect();
    for answer in pending {
        answer.blocking_recv().unwrap().unwrap();
    }
    // The refused cancel shares its batch with two deposits, which still happen (it is refused
    // after it has written, so the embedded writer runs the batch again with savepoints).
    let root_before = balance(store.as_ref(), root);
    let deposit = |units| {
        store.write(WriteRequest {
            seed: Seed::random(),
            command: Command::Issuance(issuance::Command::Deposit {
                target: CodeRef::Hash(root),
                amount: Amount::from_units(units).unwrap(),
                currency: usd(),
            }),
            idempotency: None,
        })
    };
    let first = deposit(7);
    let refused = store.write(WriteRequest {
        seed: Seed::random(),
        command: Command::Tree(tree::Command::CancelChild {
            parent: cred(root),
            child: middle_view.record.id.clone(),
        }),
        idempotency: None,
    });
    let last = deposit(11);
    for answer in [first, last] {
        answer.blocking_recv().unwrap().unwrap();
    }
    let refused = refused.blocking_recv().unwrap();
    assert!(matches!(refused, Err(OpError::LimitExceeded(_))), "{refused:?}");
    assert_eq!(balance(store.as_ref(), root), root_before + 18);
    // Nothing moved: the middle code still works and holds its value.
    assert_eq!(balance(store.as_ref(), middle), 1_000_000 - 10);
    // Cancelling a branch first brings the rest under the limit.
    let Outcome::Tree(tree::Outcome::Cancelled { codes_cancelled, .. }) = run(
        store.as_ref(),
        Command::Tree(tree::Command::CancelChild {
            parent: cred(middle),
            child: first_child(store.as_ref(), middle),
        }),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(codes_cancelled, 1_001);
    let Outcome::Tree(tree::Outcome::Cancelled { reclaimed_units, .. }) = run(
        store.as_ref(),
        Command::Tree(tree::Command::CancelChild {
            parent: cred(root),
            child: middle_view.record.id,
        }),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(reclaimed_units, 1_000_000);
    check(store.as_ref());
}

fn first_child(store: &dyn Store, parent: CodeHash) -> CodeId {
    let QueryOutcome::Reports(reports::QueryOutcome::Children(children)) =
        read(store, Query::Reports(reports::Query::Children { holder: parent })).unwrap()
    else {
        panic!()
    };
    children[0].record.id.clone()
}

// ---------------------------------------------------------------------------------------------
// Idempotency, expiry, usage, reports, secrets.

fn keyed(command: Command, key: u8, fingerprint: u8) -> WriteRequest {
    WriteRequest {
        seed: Seed::random(),
        command,
        idempotency: Some(Idempotency {
            key_hash: [key; 32],
            fingerprint: [fingerprint; 32],
            render: Some(Box::new(|outcome: &Outcome| StoredResponse {
                status: 201,
                body: format!("{outcome:?}").into_bytes(),
            })),
        }),
    }
}

fn written(store: &dyn Store, request: WriteRequest) -> Result<Written, OpError> {
    store.write(request).blocking_recv().expect("the store answers")
}

fn an_idempotency_key_replays_its_first_response_and_refuses_another_request(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    issue(store.as_ref(), payer, "1");
    issue(store.as_ref(), seller, "1");
    let shop = public_child(store.as_ref(), seller);

    let first = written(store.as_ref(), keyed(pay_command(payer, &shop, 300_000), 7, 1)).unwrap();
    let Written::Done(Outcome::Payments(payments::Outcome::Paid(receipt))) = first else {
        panic!("the first payment runs: {first:?}")
    };
    let again = written(store.as_ref(), keyed(pay_command(payer, &shop, 300_000), 7, 1)).unwrap();
    let Written::Replayed(stored) = again else {
        panic!("the same request replays: {again:?}")
    };
    assert_eq!(stored.status, 201);
    assert!(String::from_utf8(stored.body).unwrap().contains(&receipt.id));
    let other = written(store.as_ref(), keyed(pay_command(payer, &shop, 1), 7, 2));
    assert!(matches!(other, Err(OpError::IdempotencyConflict)), "{other:?}");
    // A refused request leaves its key free: the same key with a payment that fits runs.
    let refused = written(store.as_ref(), keyed(pay_command(payer, &shop, 5_000_000), 8, 3));
    assert!(matches!(refused, Err(OpError::InsufficientFunds)), "{refused:?}");
    let fits = written(store.as_ref(), keyed(pay_command(payer, &shop, 100_000), 8, 3)).unwrap();
    assert!(matches!(fits, Written::Done(_)), "{fits:?}");
    assert_eq!(balance(store.as_ref(), payer), 600_000);
    check(store.as_ref());
}

fn an_expired_child_reverts_to_its_parent_by_itself(fresh: Fresh) {
    let backend = fresh();
    let clock = test_clock();
    let store = backend.open(clock.clone());
    let key = BrokerKey::generate();
    let parent = key.hash_code(&SecretCode::generate());
    issue(store.as_ref(), parent, "10");
    let child = key.hash_code(&SecretCode::generate());
    let options = ChildOptions {
        expires_at: clock.now().plus_seconds(60),
        ..ChildOptions::default()
    };
    run(
        store.as_ref(),
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(parent),
            hash: child,
            amount: Amount::parse("3").unwrap(),
            options,
        }),
    )
    .unwrap();
    assert_eq!(balance(store.as_ref(), parent), 7_000_000);
    clock.advance_seconds(61);
    eventually("the revert", || balance(store.as_ref(), parent) == 10_000_000);
    let QueryOutcome::Reports(reports::QueryOutcome::Transactions { entries, .. }) = read(
        store.as_ref(),
        Query::Reports(reports::Query::Transactions {
            holder: parent,
            filter: smartcode_core::ledger::TransferFilter {
                since: None,
                until: None,
                before_sequence: None,
                limit: 50,
            },
        }),
    )
    .unwrap() else {
        panic!()
    };
    let reverts = entries
        .iter()
        .filter(|e| e.transfer.kind == TransferKind::Revert)
        .count();
    assert_eq!(reverts, 1);
    check(store.as_ref());
}

/// A cancel stops at most `CANCEL_SUBTREE_CODES_MAX` codes, but expiry has no one to refuse: an
/// expiring code with more descendants than that still expires, with all of them, and its whole
/// value reverts (the sweep takes the deepest codes first, so no code it closes has more than its
/// own not yet expired descendants to stop).
fn a_tree_larger_than_a_cancel_may_stop_still_expires(fresh: Fresh) {
    let backend = fresh();
    let clock = test_clock();
    let store = backend.open(clock.clone());
    let key = BrokerKey::generate();
    let root = key.hash_code(&SecretCode::generate());
    issue(store.as_ref(), root, "1");
    let child = |parent, hash, amount: &str| {
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(parent),
            hash,
            amount: Amount::parse(amount).unwrap(),
            options: ChildOptions::default(),
        })
    };
    let expiring = key.hash_code(&SecretCode::generate());
    let top = Command::Tree(tree::Command::CreateSecretChild {
        parent: cred(root),
        hash: expiring,
        amount: Amount::parse("0.5").unwrap(),
        options: ChildOptions {
            expires_at: clock.now().plus_seconds(60),
            ..ChildOptions::default()
        },
    });
    run(store.as_ref(), top).unwrap();
    // 11 children of 1,000 children each: 11,012 codes in the expiring tree.
    let middles: Vec<CodeHash> = (0..11).map(|_| key.hash_code(&SecretCode::generate())).collect();
    for middle in &middles {
        run(store.as_ref(), child(expiring, *middle, "0.01")).unwrap();
    }
    const _: () = assert!(11 * 1_001 + 1 > smartcode_core::limits::CANCEL_SUBTREE_CODES_MAX);
    for middle in &middles {
        let pending: Vec<_> = (0..1_000)
            .map(|_| {
                let command = child(*middle, key.hash_code(&SecretCode::generate()), "0.000001");
                store.write(WriteRequest {
                    seed: Seed::random(),
                    command,
                    idempotency: None,
                })
            })
            .collect();
        for answer in pending {
            answer
                .blocking_recv()
                .expect("the store answers")
                .expect("a grandchild is made");
        }
    }
    assert_eq!(balance(store.as_ref(), root), 500_000);
    clock.advance_seconds(61);
    // What the sweeper does in steps, at once. The background sweeper runs beside it, so on
    // PostgreSQL this batch may lose its race with it every time (the codes changed under it);
    // what it must never do is hit the cancel's limit. The sweeper then finishes the tree, a
    // thousand codes a second.
    let swept = run(
        store.as_ref(),
        Command::Expiry(expiry::Command::ExpireDue { limit: 20_000 }),
    );
    assert!(matches!(swept, Ok(_) | Err(OpError::Storage(_))), "{swept:?}");
    eventually_within(Duration::from_secs(120), "the revert", || {
        balance(store.as_ref(), root) == 1_000_000
    });
    check(store.as_ref());
}

/// A parent limited to three uses, paid through by its children: the fourth payment is refused,
/// however the payments are batched.
fn usage_counted_across_a_line_is_never_lost(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let (root, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    issue(store.as_ref(), root, "10");
    issue(store.as_ref(), seller, "1");
    let shop = public_child(store.as_ref(), seller);
    let limited = key.hash_code(&SecretCode::generate());
    let mut options = ChildOptions::default();
    options.restrictions.uses_max = Some(3);
    let created = run(
        store.as_ref(),
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(root),
            hash: limited,
            amount: Amount::parse("5").unwrap(),
            options,
        }),
    );
    created.unwrap();
    let children: Vec<CodeHash> = (0..3)
        .map(|_| {
            let hash = key.hash_code(&SecretCode::generate());
            let command = Command::Tree(tree::Command::CreateSecretChild {
                parent: cred(limited),
                hash,
                amount: Amount::parse("1").unwrap(),
                options: ChildOptions::default(),
            });
            run(store.as_ref(), command).unwrap();
            hash
        })
        .collect();
    let pending: Vec<_> = children
        .iter()
        .cycle()
        .take(6)
        .map(|child| {
            store.write(WriteRequest {
                seed: Seed::random(),
                command: pay_command(*child, &shop, 10_000),
                idempotency: None,
            })
        })
        .collect();
    let answers: Vec<_> = pending.into_iter().map(|p| p.blocking_recv().unwrap()).collect();
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 3, "{answers:?}");
    assert!(answers
        .iter()
        .filter(|a| a.is_err())
        .all(|a| matches!(a, Err(OpError::Restricted(_)))));
    let QueryOutcome::Reports(reports::QueryOutcome::Code(view)) =
        read(store.as_ref(), Query::Reports(reports::Query::Me { holder: limited })).unwrap()
    else {
        panic!()
    };
    assert_eq!(view.record.usage.uses, 3);
    check(store.as_ref());
}

fn reports_and_history_pages_read_the_same_on_both_stores(fresh: Fresh) {
    let backend = fresh();
    let clock = test_clock();
    let store = backend.open(clock.clone());
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    issue(store.as_ref(), payer, "10");
    issue(store.as_ref(), seller, "1");
    let (shop, stall) = (
        public_child(store.as_ref(), seller),
        public_child(store.as_ref(), seller),
    );
    // Five payments on one day, three on the next month's first day.
    for units in 1..=5 {
        run(store.as_ref(), pay_command(payer, &shop, units * 1_000)).unwrap();
    }
    clock.advance_seconds(40 * 24 * 3600);
    for units in 1..=3 {
        run(store.as_ref(), pay_command(payer, &stall, units * 10_000)).unwrap();
    }
    let filter = |limit| smartcode_core::ledger::TransferFilter {
        since: None,
        until: None,
        before_sequence: None,
        limit,
    };
    let report = |grouping| {
        let query = Query::Reports(reports::Query::Report {
            holder: seller,
            grouping,
            filter: filter(100),
        });
        let QueryOutcome::Reports(reports::QueryOutcome::Report(rows)) = read(store.as_ref(), query).unwrap() else {
            panic!()
        };
        rows.into_iter()
            .map(|r| (r.key, r.count, r.total_in_units, r.total_out_units))
            .collect::<Vec<_>>()
    };
    use smartcode_core::model::ReportGrouping;
    let start = Timestamp(1_800_000_000_000_000);
    let later = Timestamp(start.0 + 40 * 24 * 3600 * 1_000_000);
    let days = report(ReportGrouping::Day);
    assert_eq!(
        days,
        vec![(start.day(), 6, 1_000_000 + 15_000, 0), (later.day(), 3, 60_000, 0)]
    );
    let months = report(ReportGrouping::Month);
    assert_eq!(months.len(), 2);
    assert_eq!(months[0].0, start.month());
    let mut by_code = report(ReportGrouping::PublicCode);
    by_code.sort();
    let mut expected = vec![(shop.to_string(), 5, 15_000, 0), (stall.to_string(), 3, 60_000, 0)];
    expected.sort();
    assert_eq!(by_code, expected);
    // History in pages of three, newest first, through the cursor.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::Reports(reports::Query::Transactions {
            holder: payer,
            filter: smartcode_core::ledger::TransferFilter {
                before_sequence: cursor,
                ..filter(3)
            },
        });
        let QueryOutcome::Reports(reports::QueryOutcome::Transactions { entries, next_cursor }) =
            read(store.as_ref(), query).unwrap()
        else {
            panic!()
        };
        seen.extend(entries.iter().map(|e| e.signed_units));
        match next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![-30_000, -20_000, -10_000, -5_000, -4_000, -3_000, -2_000, -1_000, 10_000_000]
    );
    let window = Query::Reports(reports::Query::Transactions {
        holder: payer,
        filter: smartcode_core::ledger::TransferFilter {
            since: Some(later),
            ..filter(50)
        },
    });
    let QueryOutcome::Reports(reports::QueryOutcome::Transactions { entries, .. }) =
        read(store.as_ref(), window).unwrap()
    else {
        panic!()
    };
    assert_eq!(entries.len(), 3);
    check(store.as_ref());
}

fn the_store_holds_no_secret_code_in_clear(fresh: Fresh) {
    let backend = fresh();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let (payer, seller, child) = (SecretCode::generate(), SecretCode::generate(), SecretCode::generate());
    issue(store.as_ref(), key.hash_code(&payer), "5");
    issue(store.as_ref(), key.hash_code(&seller), "1");
    let shop = public_child(store.as_ref(), key.hash_code(&seller));
    run(
        store.as_ref(),
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(key.hash_code(&payer)),
            hash: key.hash_code(&child),
            amount: Amount::parse("1").unwrap(),
            options: ChildOptions::default(),
        }),
    )
    .unwrap();
    run(store.as_ref(), pay_command(key.hash_code(&child), &shop, 10_000)).unwrap();
    let dump = backend.dump();
    assert!(
        dump.contains(shop.as_stored()),
        "the dump holds the data: public codes are public"
    );
    for code in [&payer, &seller, &child] {
        assert!(!dump.contains(code.expose()), "a secret code is stored in clear");
        assert!(!dump.contains(&code.reveal()), "a secret code is stored in clear");
    }
    check(store.as_ref());
}

// ---------------------------------------------------------------------------------------------
// The embedded store alone.

/// An embedded store's directory as schema `version` left it, holding what `rows` inserts, and
/// the path of its database; opening an `EmbeddedStore` on it upgrades it.
fn embedded_store_at(version: u32, rows: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let old = rusqlite::Connection::open(&path).unwrap();
    for (_, sql) in crate::schema::MIGRATIONS.iter().filter(|(v, _)| *v <= version) {
        old.execute_batch(sql).unwrap();
    }
    old.execute("INSERT INTO meta VALUES ('schema_version', ?1)", [version.to_string()])
        .unwrap();
    old.execute_batch(rows).unwrap();
    (dir, path)
}

#[test]
fn embedded_a_batch_whose_balances_cannot_be_written_happens_not_at_all() {
    let backend = fresh_embedded();
    let store = backend.open(test_clock());
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    issue(store.as_ref(), payer, "2");
    issue(store.as_ref(), seller, "1");
    let payee = public_child(store.as_ref(), seller);
    // The database refuses the payer's new balance when the writer flushes it at the end of the
    // batch (a trigger stands in for a failing disk).
    backend
        .raw(
            "CREATE TRIGGER refuse BEFORE UPDATE OF balance ON accounts WHEN NEW.balance = 1500000 \
             BEGIN SELECT RAISE(ABORT, 'the disk refused'); END",
        )
        .unwrap();
    let refused = run(store.as_ref(), pay_command(payer, &payee, 500_000));
    assert!(matches!(refused, Err(OpError::Storage(_))), "{refused:?}");
    // Nothing of the payment happened: not in SQLite, and not in the writer's memory either,
    // or the next payment would start from the balance the failed one left there.
    assert_eq!(balance(store.as_ref(), payer), 2_000_000);
    assert_eq!(balance(store.as_ref(), seller), 1_000_000);
    backend.raw("DROP TRIGGER refuse").unwrap();
    run(store.as_ref(), pay_command(payer, &payee, 500_000)).expect("the store goes on");
    run(store.as_ref(), pay_command(payer, &payee, 250_000)).expect("the store goes on");
    assert_eq!(balance(store.as_ref(), payer), 1_250_000);
    assert_eq!(balance(store.as_ref(), seller), 1_750_000);
    check(store.as_ref());
}

#[test]
fn embedded_an_unreadable_schema_version_refuses_to_open() {
    use rusqlite::OptionalExtension;

    // A store at version 2 whose recorded version is gone or garbled: it must not be taken as 0
    // (which reruns the first migration), but refused with an error that says what is wrong.
    for garbled in [Some(""), Some("two"), Some("-1"), Some("2.0"), None] {
        let (dir, path) = embedded_store_at(2, "");
        let old = rusqlite::Connection::open(&path).unwrap();
        match garbled {
            Some(value) => old
                .execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", [value])
                .unwrap(),
            None => old
                .execute("DELETE FROM meta WHERE key = 'schema_version'", [])
                .unwrap(),
        };
        drop(old);
        let error = EmbeddedStore::open(dir.path(), test_clock())
            .err()
            .unwrap_or_else(|| panic!("a store whose version is {garbled:?} opened"));
        assert!(
            error.0.contains("schema version") && error.0.contains("cannot be read"),
            "{garbled:?}: {error}"
        );
        let after = rusqlite::Connection::open(&path).unwrap();
        let kept: Option<String> = after
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| {
                row.get(0)
            })
            .optional()
            .unwrap();
        assert_eq!(kept.as_deref(), garbled, "the recorded version is left as it was");
        let stats_table: i64 = after
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'public_code_stats'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stats_table, 0, "no migration ran");
    }
}

#[test]
fn embedded_an_upgrade_counts_the_payments_made_before_it_into_the_public_stats() {
    // A store as schema version 2 left it, with three payments through two public codes.
    let (dir, path) = embedded_store_at(
        2,
        "INSERT INTO transfers (id, at, kind, debit, credit, amount, currency, public_code_id) VALUES
               ('t_1', 1, 'payment', 'code:a', 'code:b', 100, 'USD', 'c_p'),
               ('t_2', 2, 'payment', 'code:a', 'code:b', 250, 'USD', 'c_p'),
               ('t_3', 3, 'payment', 'code:a', 'code:c', 7, 'USD', 'c_q'),
               ('t_4', 4, 'deposit', 'issuance:USD', 'code:a', 9, 'USD', NULL);",
    );
    drop(EmbeddedStore::open(dir.path(), test_clock()).unwrap());
    let upgraded = rusqlite::Connection::open(&path).unwrap();
    let stats: Vec<(String, i64, i64)> = upgraded
        .prepare("SELECT code_id, payments, units FROM public_code_stats ORDER BY code_id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stats, vec![("c_p".into(), 2, 350), ("c_q".into(), 1, 7)]);
    let version: String = upgraded
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(version, crate::schema::latest_version().to_string());
}

#[test]
fn embedded_an_upgrade_gives_every_account_its_kind_and_keeps_its_row() {
    let (dir, path) = embedded_store_at(
        4,
        "INSERT INTO accounts (key, currency, balance) VALUES
               ('issuance:USD', 'USD', -7), ('code:c_aaaaaaaaaaaaaaaa', 'USD', 7);",
    );
    let rows = |connection: &rusqlite::Connection, columns: &str| -> Vec<(i64, String, String)> {
        connection
            .prepare(&format!("SELECT rowid, key, {columns} FROM accounts ORDER BY key"))
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = rows(&rusqlite::Connection::open(&path).unwrap(), "currency");
    drop(EmbeddedStore::open(dir.path(), test_clock()).unwrap());
    let upgraded = rusqlite::Connection::open(&path).unwrap();
    let after = rows(&upgraded, "kind");
    assert_eq!(
        after,
        vec![
            (before[0].0, "code:c_aaaaaaaaaaaaaaaa".into(), "code".into()),
            (before[1].0, "issuance:USD".into(), "issuance".into()),
        ],
        "every account keeps its row id (the writer's memory finds rows by it) and gets its kind"
    );
    // A kind the schema does not know, or a key that does not begin with its kind, is refused.
    for (key, kind) in [("bank:x", "bank"), ("code:c_bbbbbbbbbbbbbbbb", "issuance")] {
        let inserted = upgraded.execute(
            "INSERT INTO accounts (key, kind, currency, balance) VALUES (?1, ?2, 'USD', 0)",
            [key, kind],
        );
        assert!(inserted.is_err(), "{key} as {kind}");
    }
}

#[test]
fn embedded_an_upgrade_keeps_every_hold_and_its_checks() {
    use smartcode_core::ledger::LedgerRead;
    // A store as schema version 11 left it: a seller's hold (with an id of the older, random-only
    // shape) and an authorization with its keyed hash.
    let payee = PublicCode::generate();
    let (dir, path) = embedded_store_at(
        11,
        &format!(
            "INSERT INTO holds (id, payer_id, owner_id, payee, payee_id, amount, currency, created_at,
                                expires_at, state, kind, code_hash) VALUES
               ('h_aaaaaaaaaaaaaaaa', 'c_aaaaaaaaaaaaaaaa', 'c_bbbbbbbbbbbbbbbb', '{}',
                'c_cccccccccccccccc', 30, 'USD', 1, 2, 'pending', 'hold', NULL),
               ('h_bbbbbbbbbbbbbbbb', 'c_aaaaaaaaaaaaaaaa', NULL, NULL, NULL, 5, 'USD', 1, 2, 'voided',
                'authorization', x'01');",
            payee.as_stored()
        ),
    );
    drop(EmbeddedStore::open(dir.path(), test_clock()).unwrap());
    let upgraded = rusqlite::Connection::open(&path).unwrap();
    let mut ledger = crate::sqlite::SqliteLedger { conn: &upgraded };
    let hold = ledger
        .hold_by_id(&smartcode_core::code::HoldId::parse("h_aaaaaaaaaaaaaaaa").unwrap())
        .unwrap()
        .expect("the hold is kept, and its id still reads");
    assert_eq!(
        (hold.amount.units(), hold.state, hold.payee.map(|p| p.payee)),
        (30, smartcode_core::model::HoldState::Pending, Some(payee))
    );
    let kinds: Vec<(String, String)> = upgraded
        .prepare("SELECT id, kind FROM holds ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds.len(), 2);
    // The checks written as comparisons refuse what the lists did; the keyed hash stays unique.
    let insert = |id: &str, state: &str, kind: &str, hash: Option<&[u8]>| {
        upgraded.execute(
            "INSERT INTO holds (id, payer_id, amount, currency, created_at, expires_at, state, kind, code_hash)
             VALUES (?1, 'c_aaaaaaaaaaaaaaaa', 1, 'USD', 1, 2, ?2, ?3, ?4)",
            rusqlite::params![id, state, kind, hash],
        )
    };
    assert!(
        insert("h_c", "lost", "authorization", Some(&[2])).is_err(),
        "an unknown state"
    );
    assert!(insert("h_d", "pending", "gift", Some(&[3])).is_err(), "an unknown kind");
    assert!(
        insert("h_e", "pending", "authorization", Some(&[1])).is_err(),
        "a hash twice"
    );
    assert!(insert("h_f", "pending", "authorization", Some(&[4])).is_ok());
}

#[test]
fn embedded_an_upgrade_links_every_account_s_history_into_a_chain() {
    use smartcode_core::ledger::{LedgerRead, TransferFilter};
    use smartcode_core::model::AccountKey;

    // A store as schema version 3 left it: history found through indexes by account.
    let (dir, path) = embedded_store_at(
        3,
        "INSERT INTO accounts (key, currency, balance) VALUES
               ('issuance:USD', 'USD', -100), ('code:c_aaaaaaaaaaaaaaaa', 'USD', 88),
               ('code:c_bbbbbbbbbbbbbbbb', 'USD', 7), ('code:c_cccccccccccccccc', 'USD', 5),
               ('code:c_dddddddddddddddd', 'USD', 0);
             INSERT INTO transfers (seq, id, at, kind, debit, credit, amount, currency) VALUES
               (1, 't_1', 1, 'issue', 'issuance:USD', 'code:c_aaaaaaaaaaaaaaaa', 100, 'USD'),
               (2, 't_2', 2, 'payment', 'code:c_aaaaaaaaaaaaaaaa', 'code:c_bbbbbbbbbbbbbbbb', 10, 'USD'),
               (3, 't_3', 3, 'payment', 'code:c_aaaaaaaaaaaaaaaa', 'code:c_cccccccccccccccc', 5, 'USD'),
               (4, 't_4', 4, 'payment', 'code:c_bbbbbbbbbbbbbbbb', 'code:c_aaaaaaaaaaaaaaaa', 3, 'USD');",
    );
    drop(EmbeddedStore::open(dir.path(), test_clock()).unwrap());
    let upgraded = rusqlite::Connection::open(&path).unwrap();
    let links: Vec<(i64, Option<i64>, Option<i64>)> = upgraded
        .prepare("SELECT seq, debit_prev, credit_prev FROM transfers ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        links,
        vec![
            (1, None, None),
            (2, Some(1), None),
            (3, Some(2), None),
            (4, Some(2), Some(3))
        ]
    );
    let mut ledger = crate::sqlite::SqliteLedger { conn: &upgraded };
    let history = |ledger: &mut crate::sqlite::SqliteLedger, id: &str, filter: TransferFilter| -> Vec<i64> {
        let account = AccountKey::Code(CodeId::parse(id).unwrap());
        ledger
            .transfers_of(&account, &filter)
            .unwrap()
            .into_iter()
            .map(|(seq, _)| seq)
            .collect()
    };
    let all = TransferFilter {
        since: None,
        until: None,
        before_sequence: None,
        limit: 10,
    };
    assert_eq!(
        history(&mut ledger, "c_aaaaaaaaaaaaaaaa", all.clone()),
        vec![4, 3, 2, 1]
    );
    assert_eq!(history(&mut ledger, "c_bbbbbbbbbbbbbbbb", all.clone()), vec![4, 2]);
    assert_eq!(history(&mut ledger, "c_cccccccccccccccc", all.clone()), vec![3]);
    assert_eq!(
        history(&mut ledger, "c_dddddddddddddddd", all.clone()),
        Vec::<i64>::new()
    );
    // Pages, cursors and windows walk the same chain.
    let page = TransferFilter {
        limit: 2,
        ..all.clone()
    };
    assert_eq!(history(&mut ledger, "c_aaaaaaaaaaaaaaaa", page.clone()), vec![4, 3]);
    let next = TransferFilter {
        before_sequence: Some(3),
        ..page
    };
    assert_eq!(history(&mut ledger, "c_aaaaaaaaaaaaaaaa", next), vec![2, 1]);
    // A cursor that is not one of the account's transfers still starts the page below it.
    let foreign = TransferFilter {
        before_sequence: Some(4),
        ..all.clone()
    };
    assert_eq!(history(&mut ledger, "c_cccccccccccccccc", foreign), vec![3]);
    let beyond = TransferFilter {
        before_sequence: Some(3),
        ..all.clone()
    };
    assert_eq!(history(&mut ledger, "c_cccccccccccccccc", beyond), Vec::<i64>::new());
    let window = TransferFilter {
        since: Some(Timestamp(2)),
        until: Some(Timestamp(4)),
        ..all
    };
    assert_eq!(history(&mut ledger, "c_aaaaaaaaaaaaaaaa", window), vec![3, 2]);
    // A new transfer continues the chains where the upgrade left them.
    let last: Option<i64> = upgraded
        .query_row(
            "SELECT last_seq FROM accounts WHERE key = 'code:c_cccccccccccccccc'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(last, Some(3));
}

// ---------------------------------------------------------------------------------------------
// Two PostgreSQL stores on one schema: two broker processes.

/// Two broker processes on one schema. The stores are dropped (closed) before the schema.
struct TwoProcesses {
    a: Arc<PostgresStore>,
    b: Arc<PostgresStore>,
    clock: Arc<ManualClock>,
    schema: TestSchema,
}

fn two_processes() -> Option<TwoProcesses> {
    let schema = TestSchema::create()?;
    let clock = test_clock();
    let a = Arc::new(PostgresStore::open(schema.url(), clock.clone()).unwrap());
    let b = Arc::new(PostgresStore::open(schema.url(), clock.clone()).unwrap());
    Some(TwoProcesses { a, b, clock, schema })
}

#[test]
fn postgres_two_processes_share_codes_and_idempotency_keys() {
    let Some(processes) = two_processes() else {
        return;
    };
    let (a, b) = (&processes.a, &processes.b);
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    // A code issued on one process works on the other at once.
    issue(a.as_ref(), payer, "1");
    assert_eq!(balance(b.as_ref(), payer), 1_000_000);
    issue(b.as_ref(), seller, "1");
    let shop = public_child(a.as_ref(), seller);
    // A key used on one process replays on the other, and binds its request there too.
    let first = written(a.as_ref(), keyed(pay_command(payer, &shop, 250_000), 9, 1)).unwrap();
    assert!(matches!(first, Written::Done(_)), "{first:?}");
    let again = written(b.as_ref(), keyed(pay_command(payer, &shop, 250_000), 9, 1)).unwrap();
    assert!(matches!(again, Written::Replayed(_)), "{again:?}");
    let other = written(b.as_ref(), keyed(pay_command(payer, &shop, 1), 9, 2));
    assert!(matches!(other, Err(OpError::IdempotencyConflict)), "{other:?}");
    // The same key on both at the same moment runs once.
    let pending: Vec<_> = (0..20)
        .map(|n| {
            let store = if n % 2 == 0 { &a } else { &b };
            store.write(keyed(pay_command(payer, &shop, 1_000), 10, 3))
        })
        .collect();
    let results: Vec<_> = pending
        .into_iter()
        .map(|p| p.blocking_recv().unwrap().unwrap())
        .collect();
    let done = results.iter().filter(|r| matches!(r, Written::Done(_))).count();
    assert_eq!(done, 1, "{results:?}");
    assert_eq!(balance(a.as_ref(), payer), 1_000_000 - 250_000 - 1_000);
    check(a.as_ref());
    check(b.as_ref());
}

/// Many codes pay one hot payee through both processes at once, from many threads, each code
/// through both processes and beyond its balance: every payment that fits lands exactly once,
/// none overdraws, and the ledger check passes from either process.
#[test]
fn postgres_concurrent_payments_through_two_processes_land_exactly_once() {
    let Some(processes) = two_processes() else {
        return;
    };
    let (a, b, schema) = (&processes.a, &processes.b, &processes.schema);
    const PAYERS: usize = 120;
    const FITTING: usize = 10;
    const TRIED: usize = 13;
    const THREADS: usize = 8;
    let key = BrokerKey::generate();
    let seller = key.hash_code(&SecretCode::generate());
    issue(a.as_ref(), seller, "1");
    let shop = public_child(b.as_ref(), seller);
    let payers: Vec<CodeHash> = (0..PAYERS).map(|_| key.hash_code(&SecretCode::generate())).collect();
    let issued: Vec<_> = payers
        .iter()
        .enumerate()
        .map(|(n, hash)| {
            let store = if n % 2 == 0 { &a } else { &b };
            store.write(WriteRequest {
                seed: Seed::random(),
                command: Command::Issuance(issuance::Command::Issue {
                    hash: *hash,
                    amount: Amount::parse("1").unwrap(),
                    currency: usd(),
                    label: None,
                }),
                idempotency: None,
            })
        })
        .collect();
    for answer in issued {
        answer.blocking_recv().unwrap().unwrap();
    }
    // Each payment is a tenth of a payer's balance; each payer tries thirteen.
    let each = 1_000_000 / FITTING as i64;
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (a, b, shop) = (a.clone(), b.clone(), shop.clone());
            let mine: Vec<CodeHash> = payers.iter().skip(thread).step_by(THREADS).copied().collect();
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for payer in mine {
                    let pending: Vec<_> = (0..TRIED)
                        .map(|n| {
                            let store: &dyn Store = if n % 2 == 0 { a.as_ref() } else { b.as_ref() };
                            store.write(WriteRequest {
                                seed: Seed::random(),
                                command: pay_command(payer, &shop, each),
                                idempotency: None,
                            })
                        })
                        .collect();
                    let answers: Vec<_> = pending.into_iter().map(|p| p.blocking_recv().unwrap()).collect();
                    outcomes.push((payer, answers));
                }
                outcomes
            })
        })
        .collect();
    for thread in threads {
        for (payer, answers) in thread.join().unwrap() {
            let paid = answers.iter().filter(|r| r.is_ok()).count();
            let refused = answers
                .iter()
                .filter(|r| matches!(r, Err(OpError::InsufficientFunds)))
                .count();
            assert_eq!((paid, refused), (FITTING, TRIED - FITTING), "{answers:?}");
            assert_eq!(balance(a.as_ref(), payer), 0);
        }
    }
    let expected = 1_000_000 + (PAYERS as i64) * 1_000_000;
    assert_eq!(balance(b.as_ref(), seller), expected);
    let mut client = schema.client();
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT id) FROM transfers WHERE kind = 'payment'",
            &[],
        )
        .unwrap();
    let (payments, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(payments, (PAYERS * FITTING) as i64);
    assert_eq!(distinct, payments);
    check(a.as_ref());
    check(b.as_ref());
}

#[test]
fn postgres_processes_starting_together_migrate_once() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let url = schema.url().to_owned();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&url, test_clock()).map(drop))
        })
        .collect();
    for start in starts {
        start.join().unwrap().expect("every process starts");
    }
    let mut client = schema.client();
    let row = client
        .query_one("SELECT count(*), max(version) FROM schema_version", &[])
        .unwrap();
    let (count, latest): (i64, i32) = (row.get(0), row.get(1));
    assert_eq!(latest, crate::postgres::latest_version());
    assert_eq!(count, i64::from(latest));
    // A schema newer than this program is refused, not used.
    client
        .execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(latest + 1)])
        .unwrap();
    let newer = PostgresStore::open(&url, test_clock());
    assert!(newer.is_err_and(|e| e.0.contains("newer")));
}

#[test]
fn postgres_the_sweep_reverts_an_expired_child_once_across_processes() {
    let Some(processes) = two_processes() else {
        return;
    };
    let (a, b, clock, schema) = (&processes.a, &processes.b, &processes.clock, &processes.schema);
    let key = BrokerKey::generate();
    let parent = key.hash_code(&SecretCode::generate());
    issue(a.as_ref(), parent, "10");
    for store in [&a, &b, &a, &b] {
        let options = ChildOptions {
            expires_at: clock.now().plus_seconds(60),
            ..ChildOptions::default()
        };
        let command = Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(parent),
            hash: key.hash_code(&SecretCode::generate()),
            amount: Amount::parse("1").unwrap(),
            options,
        });
        run(store.as_ref(), command).unwrap();
    }
    assert_eq!(balance(a.as_ref(), parent), 6_000_000);
    clock.advance_seconds(61);
    eventually("the reverts", || balance(b.as_ref(), parent) == 10_000_000);
    // More sweeps, on both processes, find nothing left to expire.
    for store in [&a, &b] {
        let again = run(
            store.as_ref(),
            Command::Expiry(expiry::Command::ExpireDue { limit: 1_000 }),
        );
        assert_eq!(
            again,
            Ok(Outcome::Expiry(expiry::Outcome::Swept { codes: 0 })),
            "a code expires once"
        );
    }
    let row = schema
        .client()
        .query_one("SELECT count(*) FROM transfers WHERE kind = 'revert'", &[])
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 4);
    check(a.as_ref());
}

/// A code cancelled on one process while another pays into it: the payment lands before the
/// cancel (and is reclaimed) or is refused, never on the cancelled code.
#[test]
fn postgres_value_never_lands_on_a_code_another_process_closed() {
    let Some(processes) = two_processes() else {
        return;
    };
    let (a, b) = (&processes.a, &processes.b);
    let key = BrokerKey::generate();
    let (root, payer) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    issue(a.as_ref(), root, "100");
    issue(a.as_ref(), payer, "100");
    for _ in 0..10 {
        let seller = key.hash_code(&SecretCode::generate());
        let Outcome::Tree(tree::Outcome::Created(view)) = run(
            a.as_ref(),
            Command::Tree(tree::Command::CreateSecretChild {
                parent: cred(root),
                hash: seller,
                amount: Amount::from_units(1).unwrap(),
                options: ChildOptions::default(),
            }),
        )
        .unwrap() else {
            panic!()
        };
        let shop = public_child(a.as_ref(), seller);
        let payments: Vec<_> = (0..20)
            .map(|_| {
                b.write(WriteRequest {
                    seed: Seed::random(),
                    command: pay_command(payer, &shop, 1_000),
                    idempotency: None,
                })
            })
            .collect();
        let cancel = run(
            a.as_ref(),
            Command::Tree(tree::Command::CancelChild {
                parent: cred(root),
                child: view.record.id,
            }),
        );
        cancel.unwrap();
        for payment in payments {
            let _ = payment.blocking_recv().unwrap();
        }
        // Whatever was paid before the cancel went back to the root with it.
        let QueryOutcome::Reports(reports::QueryOutcome::Children(children)) =
            read(a.as_ref(), Query::Reports(reports::Query::Children { holder: root })).unwrap()
        else {
            panic!()
        };
        for child in children {
            assert_eq!(child.account.map(|a| a.balance_units), Some(0), "{child:?}");
        }
    }
    check(a.as_ref());
}

#[test]
fn postgres_a_store_whose_schema_version_is_unreadable_refuses_to_open() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    drop(PostgresStore::open(schema.url(), test_clock()).unwrap());
    // The store's tables are there, but the versions that made them are gone: that is not a
    // store at version 0, and the first migration must not run again.
    schema.execute("DELETE FROM schema_version").unwrap();
    let error = PostgresStore::open(schema.url(), test_clock())
        .err()
        .expect("a store with no recorded version opened");
    assert!(
        error.0.contains("schema version") && error.0.contains("cannot be read"),
        "{error}"
    );
    let versions = schema
        .client()
        .query_one("SELECT count(*) FROM schema_version", &[])
        .unwrap();
    assert_eq!(versions.get::<_, i64>(0), 0, "no migration ran");
    // A version table of another shape is refused the same way, not read as something else.
    schema
        .execute("ALTER TABLE schema_version ALTER COLUMN version TYPE BIGINT")
        .unwrap();
    schema
        .execute("INSERT INTO schema_version (version) VALUES (1)")
        .unwrap();
    let error = PostgresStore::open(schema.url(), test_clock())
        .err()
        .expect("a store whose version table has another shape opened");
    assert!(
        error.0.contains("schema version") && error.0.contains("cannot be read"),
        "{error}"
    );
}

#[test]
fn postgres_an_upgrade_counts_the_payments_made_before_it_into_the_public_stats() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    // A database as schema version 1 left it, with three payments through two public codes.
    let (_, version_1) = crate::postgres::schema::MIGRATIONS[0];
    schema
        .client()
        .batch_execute(&format!(
            "{}; {version_1}; INSERT INTO schema_version (version) VALUES (1);",
            crate::postgres::schema::VERSION_TABLE
        ))
        .unwrap();
    schema
        .execute(
            "INSERT INTO transfers (id, at, kind, debit, credit, amount, currency, public_code_id) VALUES \
               ('t_1', 1, 'payment', 'code:a', 'code:b', 100, 'USD', 'c_p'), \
               ('t_2', 2, 'payment', 'code:a', 'code:b', 250, 'USD', 'c_p'), \
               ('t_3', 3, 'payment', 'code:a', 'code:c', 7, 'USD', 'c_q'), \
               ('t_4', 4, 'deposit', 'issuance:USD', 'code:a', 9, 'USD', NULL)",
        )
        .unwrap();
    drop(PostgresStore::open(schema.url(), test_clock()).unwrap());
    let rows = schema
        .client()
        .query(
            "SELECT code_id, payments, units FROM public_code_stats ORDER BY code_id",
            &[],
        )
        .unwrap();
    let stats: Vec<(String, i64, i64)> = rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(stats, vec![("c_p".into(), 2, 350), ("c_q".into(), 1, 7)]);
}

#[test]
fn postgres_an_upgrade_gives_every_account_its_kind() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    // A database as schema version 2 left it, with an issuance account and a code's account.
    let migrations = &crate::postgres::schema::MIGRATIONS[..2];
    let mut setup = crate::postgres::schema::VERSION_TABLE.to_owned();
    for (version, sql) in migrations {
        setup.push_str(&format!(
            "; {sql}; INSERT INTO schema_version (version) VALUES ({version})"
        ));
    }
    schema.client().batch_execute(&setup).unwrap();
    schema
        .execute(
            "INSERT INTO accounts (key, currency, balance) VALUES \
               ('issuance:USD', 'USD', -7), ('code:c_aaaaaaaaaaaaaaaa', 'USD', 7)",
        )
        .unwrap();
    drop(PostgresStore::open(schema.url(), test_clock()).unwrap());
    let rows = schema
        .client()
        .query("SELECT key, kind FROM accounts ORDER BY key COLLATE \"C\"", &[])
        .unwrap();
    let kinds: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        kinds,
        vec![
            ("code:c_aaaaaaaaaaaaaaaa".into(), "code".into()),
            ("issuance:USD".into(), "issuance".into())
        ]
    );
    // A kind the schema does not know, or a key that does not begin with its kind, is refused;
    // a code's balance still may not go below zero.
    for (key, kind, balance) in [
        ("bank:x", "bank", 0),
        ("code:c_bbbbbbbbbbbbbbbb", "issuance", 0),
        ("code:c_cccccccccccccccc", "code", -1),
    ] {
        let inserted = schema.execute(&format!(
            "INSERT INTO accounts (key, kind, currency, balance) VALUES ('{key}', '{kind}', 'USD', {balance})"
        ));
        assert!(inserted.is_err(), "{key} as {kind} with {balance}");
    }
}

/// The broker opens, uses and closes the store from async code, where the blocking client may not
/// start its own runtime; the test helpers are used from async tests the same way.
#[test]
fn postgres_the_store_works_from_async_code() {
    if !crate::testing::postgres_available() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let schema = TestSchema::create().expect("the database is there");
        let store = PostgresStore::open(schema.url(), test_clock()).expect("the store opens inside a runtime");
        let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
        let command = Command::Issuance(issuance::Command::Issue {
            hash,
            amount: Amount::parse("1").unwrap(),
            currency: usd(),
            label: None,
        });
        let issued = crate::answer(store.write(WriteRequest {
            seed: Seed::random(),
            command,
            idempotency: None,
        }))
        .await;
        assert!(matches!(issued, Ok(Written::Done(_))), "{issued:?}");
        let rows = schema.execute("UPDATE accounts SET held = held WHERE kind = 'code'");
        assert_eq!(rows, Ok(1));
        // The ledger check, awaited: `check` blocks, which async code may not.
        let checked = crate::answer(store.read(Query::Reports(reports::Query::LedgerCheck))).await;
        assert!(
            matches!(
                &checked,
                Ok(QueryOutcome::Reports(reports::QueryOutcome::LedgerCheck { ok: true, totals }))
                    if totals.negative_balances == 0
            ),
            "{checked:?}"
        );
        drop(store);
        drop(schema);
    });
}

/// Someone else's transaction locks the two accounts of a payment in the opposite order to the
/// store's: PostgreSQL breaks the deadlock by failing one side, and if that is the store's batch,
/// the store runs it again. Either way the payment is answered once, and not with an error.
#[test]
fn postgres_a_deadlock_is_retried_inside_the_store() {
    let Some(processes) = two_processes() else {
        return;
    };
    let (store, schema) = (&processes.a, &processes.schema);
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    let payer_id = issue(store.as_ref(), payer, "1");
    let seller_id = issue(store.as_ref(), seller, "1");
    let shop = public_child(store.as_ref(), seller);
    let mut accounts = [format!("code:{payer_id}"), format!("code:{seller_id}")];
    accounts.sort();
    let [first, last] = accounts;
    let deadlocks = |client: &mut ::postgres::Client| -> i64 {
        let row = client
            .query_one(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .unwrap();
        row.get(0)
    };
    let mut other = schema.client();
    let before = deadlocks(&mut other);
    other.batch_execute("BEGIN").unwrap();
    other
        .execute("SELECT 1 FROM accounts WHERE key = $1 FOR UPDATE", &[&last])
        .unwrap();
    // The store locks `first`, then waits for `last`; then the other side asks for `first`.
    let payment = store.write(WriteRequest {
        seed: Seed::random(),
        command: pay_command(payer, &shop, 100_000),
        idempotency: None,
    });
    std::thread::sleep(Duration::from_millis(300));
    let crossed = other.execute("SELECT 1 FROM accounts WHERE key = $1 FOR UPDATE", &[&first]);
    let _ = other.batch_execute(if crossed.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let paid = payment.blocking_recv().unwrap();
    assert!(
        matches!(paid, Ok(Written::Done(Outcome::Payments(payments::Outcome::Paid(_))))),
        "{paid:?}"
    );
    assert_eq!(balance(store.as_ref(), payer), 900_000);
    // pg_stat_database is updated a moment after the fact.
    eventually("the deadlock to be counted", || deadlocks(&mut other) > before);
    check(store.as_ref());
}

#[test]
fn embedded_an_upgrade_lets_peers_have_accounts_and_keeps_every_account_s_row() {
    // A store as schema version 13 left it: a code's account and the issuance account.
    let (dir, path) = embedded_store_at(
        13,
        "INSERT INTO accounts (rowid, key, kind, currency, balance) VALUES
               (7, 'code:c_aaaaaaaaaaaaaaaa', 'code', 'USD', 5), (9, 'issuance:USD', 'issuance', 'USD', -5);",
    );
    drop(EmbeddedStore::open(dir.path(), test_clock()).unwrap());
    let upgraded = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(i64, String)> = upgraded
        .prepare("SELECT rowid, key FROM accounts ORDER BY rowid")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![(7, "code:c_aaaaaaaaaaaaaaaa".into()), (9, "issuance:USD".into())]
    );
    let insert = |key: &str, kind: &str, balance: i64| {
        upgraded.execute(
            "INSERT INTO accounts (key, kind, currency, balance) VALUES (?1, ?2, 'USD', ?3)",
            rusqlite::params![key, kind, balance],
        )
    };
    assert!(
        insert("peer:a.test:USD", "peer", -3).is_ok(),
        "a peer's account may go below zero"
    );
    assert!(
        insert("code:c_bbbbbbbbbbbbbbbb", "code", -1).is_err(),
        "a code's may not"
    );
    assert!(insert("bank:x", "bank", 0).is_err(), "an unknown kind");
    assert!(
        insert("peer:b.test:USD", "exchange", 0).is_err(),
        "a key of another kind"
    );
}
