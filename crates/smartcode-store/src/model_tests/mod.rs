//! The ledger's model test: random work from several clients at once, many commands per batch, on
//! both stores, every outcome checked against a plain model of the balances kept by the test.
//!
//! Design. Three clients run on their own threads against one store. Each owns a disjoint set of
//! codes (two issued roots, their children, and a seller root with a public shop code), so their
//! interleaving cannot change any outcome. A client works in rounds: it submits every command of a
//! round at once (`Store::write` answers with a receiver, so the writer batches them) and only
//! then awaits them all. No two commands of a round touch the same paying or funded code (each
//! command names the codes it touches and a command whose code is taken waits for a later round),
//! so each outcome is predictable whatever order the store (PostgreSQL has four writers) runs them
//! in. Credits to the client's seller commute, so any number of payments may land on its shop.
//! After a round every outcome is compared with the model's: accepted, or the exact `OpError`
//! (`InsufficientFunds`, `Restricted(UsesSpent | AmountPerUse)`, `PinRequired`, `InvalidCode` for
//! a cancelled code, `NotRevocable`, `NotFound` for funding a cancelled child), and then every
//! code's balance and status is read back (`reports::Query::Me`) and compared with the model.
//!
//! Operations: payments (roots, and children restricted by `uses_max` and `amount_per_use_max`),
//! children made, funded and cancelled (a cancel that succeeds reclaims the child's balance to its
//! parent in the model; an irrevocable child refuses), PINs (a hash is set; a payment without the
//! PIN is `PinRequired`, one the edge verified for the current generation runs; argon2 is the
//! edge's job), idempotent retries (a keyed payment sent again in a later round replays and moves
//! no money), and expiry: each client has a child expiring in an hour; once every client has
//! finished its rounds the clock moves past it, its payments are `Expired` at once, and after the
//! sweep (background, waited for with a bounded loop) its value is back at its parent.
//!
//! Each case ends with the ledger check. Failing cases are kept for replay in
//! `proptest-regressions/model_tests.txt` (commit that file when it appears).

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use smartcode_core::clock::{Clock, ManualClock};
use smartcode_core::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
use smartcode_core::error::{OpError, Restriction};
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::ledger::tree::ChildOptions;
use smartcode_core::ledger::{
    controls, payments, reports, tree, Command, Credential, Outcome, PinPresented, Query, QueryOutcome, Seed,
};
use smartcode_core::model::{CodeStatus, Restrictions};
use smartcode_core::money::Amount;

use crate::tests::{
    check, cred, eventually, fresh_embedded, fresh_postgres, issue, public_child, read, test_clock, Fresh,
};
use crate::{Idempotency, Pending, Store, StoredResponse, WriteRequest, Written};

const CLIENTS: usize = 3;
const ROOT_UNITS: i64 = 10_000_000;
const EXPIRING_UNITS: i64 = 2_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// `code` pays `units` to the client's shop; `keyed` sends an idempotency key.
    Pay {
        code: usize,
        units: i64,
        pin_shown: bool,
        keyed: bool,
    },
    /// A root makes a child, perhaps restricted, perhaps irrevocable.
    Create {
        root: usize,
        units: i64,
        uses_max: Option<u32>,
        amount_max: Option<i64>,
        irrevocable: bool,
    },
    Fund {
        code: usize,
        units: i64,
    },
    Cancel {
        code: usize,
    },
    SetPin {
        code: usize,
    },
    /// A keyed payment of an earlier round, sent again.
    Retry {
        which: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let units = 1i64..1_500_000;
    prop_oneof![
        6 => (0usize..64, units.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(code, units, pin_shown, keyed)| Op::Pay { code, units, pin_shown, keyed }),
        2 => (0usize..2, units.clone(), proptest::option::of(1u32..3), proptest::option::of(1i64..2_000_000), any::<bool>())
            .prop_map(|(root, units, uses_max, amount_max, irrevocable)| Op::Create { root, units, uses_max, amount_max, irrevocable }),
        1 => (0usize..64, units).prop_map(|(code, units)| Op::Fund { code, units }),
        1 => (0usize..64).prop_map(|code| Op::Cancel { code }),
        1 => (0usize..64).prop_map(|code| Op::SetPin { code }),
        1 => (0usize..64).prop_map(|which| Op::Retry { which }),
    ]
}

/// Per client: rounds of commands.
fn work() -> impl Strategy<Value = Vec<Vec<Vec<Op>>>> {
    proptest::collection::vec(
        proptest::collection::vec(proptest::collection::vec(op(), 6..20), 3..7),
        CLIENTS,
    )
}

/// One code as the model sees it.
#[derive(Clone, Debug)]
struct Code {
    hash: CodeHash,
    /// Index of the parent in the client's codes; `None` for a root.
    parent: Option<usize>,
    id: CodeId,
    balance: i64,
    status: CodeStatus,
    uses_max: Option<u32>,
    uses: u32,
    amount_max: Option<i64>,
    irrevocable: bool,
    pin_generation: Option<u32>,
    generation: u32,
    expiring: bool,
}

/// A keyed payment that ran, to be sent again.
#[derive(Clone, Debug)]
struct Keyed {
    payer: usize,
    units: i64,
    key: [u8; 32],
    /// The receipt of its first run, which a replay must answer with.
    receipt: String,
}

struct Client<'a> {
    store: &'a dyn Store,
    key: BrokerKey,
    number: u8,
    codes: Vec<Code>,
    seller: CodeHash,
    seller_balance: i64,
    shop: PublicCode,
    keyed: Vec<Keyed>,
    next_key: u32,
}

/// What the model does when a command it expected to run did, given the command's outcome.
type Apply = Box<dyn FnOnce(&mut Client, &Outcome)>;

/// What the model expects of one command.
#[derive(Debug)]
enum Expect {
    Ok,
    /// The request ran before, with this receipt.
    Replayed(String),
    Err(OpError),
}

fn root_code(store: &dyn Store, key: &BrokerKey) -> Code {
    let hash = key.hash_code(&SecretCode::generate());
    let id = issue(store, hash, "10");
    Code {
        hash,
        parent: None,
        id,
        balance: ROOT_UNITS,
        status: CodeStatus::Active,
        uses_max: None,
        uses: 0,
        amount_max: None,
        irrevocable: false,
        pin_generation: None,
        generation: 0,
        expiring: false,
    }
}

fn view_of(outcome: &Outcome) -> CodeId {
    outcome
        .code_view()
        .expect("the command answers with a code")
        .record
        .id
        .clone()
}

fn paying(payer: Credential, payee: &PublicCode, units: i64) -> Command {
    Command::Payments(payments::Command::Pay(PaymentOrder {
        payer,
        payee: payee.clone(),
        amount: Amount::from_units(units).unwrap(),
        currency: None,
        memo: None,
        category: None,
        item: None,
    }))
}

fn keyed_request(command: Command, key: [u8; 32]) -> WriteRequest {
    WriteRequest {
        seed: Seed::random(),
        command,
        idempotency: Some(Idempotency {
            key_hash: key,
            fingerprint: key,
            render: Some(Box::new(|outcome: &Outcome| StoredResponse {
                status: 201,
                body: format!("{outcome:?}").into_bytes(),
            })),
        }),
    }
}

mod client;

fn one_case(fresh: Fresh, work: &[Vec<Vec<Op>>]) {
    let backend = fresh();
    let clock = test_clock();
    let store = backend.open(clock.clone());
    let store = store.as_ref();
    let mut clients: Vec<Client> = (0..CLIENTS).map(|n| Client::new(store, n as u8 + 1, &clock)).collect();
    std::thread::scope(|scope| {
        for (client, rounds) in clients.iter_mut().zip(work) {
            scope.spawn(move || {
                for ops in rounds {
                    client.round(ops);
                }
            });
        }
    });
    check(store);
    clock.advance_seconds(3601);
    for client in &mut clients {
        client.expired_now();
    }
    for client in &mut clients {
        eventually("the expired child's revert", || client.reverted());
        client.compare();
    }
    check(store);
}

fn model_agrees(fresh: Fresh) {
    let config = ProptestConfig {
        cases: 6,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model_tests.txt",
        ))),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&work(), |work| {
        one_case(fresh, &work);
        Ok(())
    }) {
        panic!("{failure}");
    }
}

#[test]
fn embedded_model_agrees_with_the_store() {
    model_agrees(&fresh_embedded);
}

#[test]
fn postgres_model_agrees_with_the_store() {
    if crate::testing::postgres_available() {
        model_agrees(&fresh_postgres);
    }
}
