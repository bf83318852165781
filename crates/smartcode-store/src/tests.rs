//! The embedded store under random sequences of operations: conservation holds after every one,
//! no balance goes negative, and what the ledger says was issued is what the operator issued.

use std::sync::Arc;

use proptest::prelude::*;
use smartcode_core::clock::{Clock, ManualClock, Timestamp};
use smartcode_core::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
use smartcode_core::error::OpError;
use smartcode_core::ledger::{ChildOptions, CodeRef, Command, Credential, Outcome, PaymentOrder, Query, QueryOutcome};
use smartcode_core::money::{Amount, Currency};

use crate::embedded::EmbeddedStore;
use crate::{Store, WriteRequest, Written};

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
        (0usize..64, 0usize..64, units).prop_map(|(payer, payee, units)| Op::Pay { payer, payee, units }),
        (0usize..64, 0usize..64).prop_map(|(parent, child)| Op::Cancel { parent, child }),
    ]
}

struct World {
    store: EmbeddedStore,
    key: BrokerKey,
    secrets: Vec<(CodeHash, CodeId)>,
    publics: Vec<PublicCode>,
    issued_units: [i64; 2],
}

impl World {
    fn write(&self, command: Command) -> Result<Outcome, OpError> {
        match self
            .store
            .write(WriteRequest {
                command,
                idempotency: None,
            })
            .blocking_recv()
            .expect("the store answers")?
        {
            Written::Done(outcome) => Ok(outcome),
            Written::Replayed(_) => panic!("no idempotency key was sent"),
        }
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
                if let Ok(Outcome::Code(view)) = self.write(Command::Issue {
                    hash,
                    amount: amount(units),
                    currency,
                    label: None,
                }) {
                    self.secrets.push((hash, view.record.id));
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
                        .write(Command::Deposit {
                            target: CodeRef::Hash(hash),
                            amount: amount(units),
                            currency,
                        })
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
                if let Ok(Outcome::Code(view)) = self.write(Command::CreateSecretChild {
                    parent: cred(parent),
                    hash,
                    amount: amount(units),
                    options,
                }) {
                    self.secrets.push((hash, view.record.id));
                }
            }
            Op::Public { owner } => {
                let Some((parent, _)) = Self::pick(&self.secrets, owner) else {
                    return;
                };
                let code = PublicCode::generate();
                let command = Command::CreatePublicChild {
                    parent: cred(parent),
                    code: code.clone(),
                    label: None,
                    profile: Default::default(),
                    under: None,
                };
                if self.write(command).is_ok() {
                    self.publics.push(code);
                }
            }
            Op::Fund { parent, child, units } => {
                let (Some((parent, _)), Some((_, child))) =
                    (Self::pick(&self.secrets, parent), Self::pick(&self.secrets, child))
                else {
                    return;
                };
                let _ = self.write(Command::FundChild {
                    parent: cred(parent),
                    child,
                    amount: amount(units),
                });
            }
            Op::Pay { payer, payee, units } => {
                let (Some((payer, _)), Some(payee)) =
                    (Self::pick(&self.secrets, payer), Self::pick(&self.publics, payee))
                else {
                    return;
                };
                let order = PaymentOrder {
                    payer: cred(payer),
                    payee,
                    amount: amount(units),
                    currency: None,
                    memo: None,
                    category: None,
                    item: None,
                };
                let _ = self.write(Command::Pay(order));
            }
            Op::Cancel { parent, child } => {
                let (Some((parent, _)), Some((_, child))) =
                    (Self::pick(&self.secrets, parent), Self::pick(&self.secrets, child))
                else {
                    return;
                };
                let _ = self.write(Command::CancelChild {
                    parent: cred(parent),
                    child,
                });
            }
        }
    }

    fn check(&self) {
        let outcome = self
            .store
            .read(Query::LedgerCheck)
            .blocking_recv()
            .expect("the store answers")
            .expect("the check runs");
        let QueryOutcome::LedgerCheck { ok, totals } = outcome else {
            panic!("a ledger check answers with totals")
        };
        assert!(ok, "the ledger check failed: {totals:?}");
        assert_eq!(totals.negative_balances, 0);
        for currency in &totals.currencies {
            let index = usize::from(currency.currency.as_str() == "EUR");
            assert_eq!(
                currency.issued_units, self.issued_units[index],
                "issued is what the operator issued"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_conserve_money_and_keep_balances_non_negative(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)));
        let mut world = World { store: EmbeddedStore::open(dir.path(), clock).unwrap(), key: BrokerKey::generate(), secrets: Vec::new(), publics: Vec::new(), issued_units: [0, 0] };
        for op in &ops {
            world.apply(op);
            world.check();
        }
        world.store.close();
    }
}

#[test]
fn a_refused_command_in_a_batch_leaves_nothing_behind_and_others_still_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)));
    let store = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
    let key = BrokerKey::generate();
    let usd = Currency::parse("USD").unwrap();
    let (payer, payee_owner) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    for hash in [payer, payee_owner] {
        let issued = store.write(WriteRequest {
            command: Command::Issue {
                hash,
                amount: Amount::parse("1").unwrap(),
                currency: usd,
                label: None,
            },
            idempotency: None,
        });
        issued.blocking_recv().unwrap().unwrap();
    }
    let shop = PublicCode::generate();
    let create = Command::CreatePublicChild {
        parent: cred(payee_owner),
        code: shop.clone(),
        label: None,
        profile: Default::default(),
        under: None,
    };
    store
        .write(WriteRequest {
            command: create,
            idempotency: None,
        })
        .blocking_recv()
        .unwrap()
        .unwrap();
    // Queue many payments at once so they share commits; the ones beyond the balance are refused.
    let pay = |units: i64| {
        let order = PaymentOrder {
            payer: cred(payer),
            payee: shop.clone(),
            amount: Amount::from_units(units).unwrap(),
            currency: None,
            memo: None,
            category: None,
            item: None,
        };
        store.write(WriteRequest {
            command: Command::Pay(order),
            idempotency: None,
        })
    };
    let pending: Vec<_> = (0..15).map(|_| pay(100_000)).collect();
    let results: Vec<_> = pending.into_iter().map(|p| p.blocking_recv().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| matches!(r, Err(OpError::InsufficientFunds))));
    let QueryOutcome::LedgerCheck { ok, totals } = store.read(Query::LedgerCheck).blocking_recv().unwrap().unwrap()
    else {
        panic!()
    };
    assert!(ok);
    assert_eq!(totals.currencies[0].transfers, 12);
}

#[test]
fn reopening_a_store_keeps_everything_and_does_not_migrate_twice() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)));
    let key = BrokerKey::generate();
    let hash = key.hash_code(&SecretCode::generate());
    {
        let store = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
        let command = Command::Issue {
            hash,
            amount: Amount::parse("2").unwrap(),
            currency: Currency::parse("USD").unwrap(),
            label: None,
        };
        store
            .write(WriteRequest {
                command,
                idempotency: None,
            })
            .blocking_recv()
            .unwrap()
            .unwrap();
        store.close();
    }
    let store = EmbeddedStore::open(dir.path(), clock).unwrap();
    let QueryOutcome::Code(view) = store.read(Query::Me { holder: hash }).blocking_recv().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(view.account.unwrap().balance_units, 2_000_000);
}

#[test]
fn the_ledger_check_catches_a_tampered_balance() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)));
    let store = EmbeddedStore::open(dir.path(), clock).unwrap();
    let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
    let command = Command::Issue {
        hash,
        amount: Amount::parse("2").unwrap(),
        currency: Currency::parse("USD").unwrap(),
        label: None,
    };
    store
        .write(WriteRequest {
            command,
            idempotency: None,
        })
        .blocking_recv()
        .unwrap()
        .unwrap();
    let check = |store: &EmbeddedStore| match store.read(Query::LedgerCheck).blocking_recv().unwrap().unwrap() {
        QueryOutcome::LedgerCheck { ok, totals } => (ok, totals),
        other => panic!("unexpected {other:?}"),
    };
    assert!(check(&store).0);
    // Someone edits a balance behind the broker's back: the check must say so.
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    raw.execute("UPDATE accounts SET balance = balance + 1 WHERE key LIKE 'code:%'", [])
        .unwrap();
    let (ok, totals) = check(&store);
    assert!(!ok);
    assert_eq!(totals.mismatched_accounts, 1);
    assert_eq!(totals.currencies[0].sum_units, 1);
    // Transfers are append-only, even for someone with the database open.
    assert!(raw.execute("DELETE FROM transfers", []).is_err());
    assert!(raw.execute("UPDATE transfers SET amount = 1", []).is_err());
}

fn blank_store() -> EmbeddedStore {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000_000)));
    // The directory is removed when the test ends; the store keeps its files open until then.
    let store = EmbeddedStore::open(dir.path(), clock).unwrap();
    std::mem::forget(dir);
    store
}

fn run(store: &EmbeddedStore, command: Command) -> Result<Outcome, OpError> {
    match store
        .write(WriteRequest {
            command,
            idempotency: None,
        })
        .blocking_recv()
        .unwrap()?
    {
        Written::Done(outcome) => Ok(outcome),
        Written::Replayed(_) => unreachable!("no idempotency key was sent"),
    }
}

#[test]
fn a_code_holds_at_most_the_balance_limit() {
    let store = blank_store();
    let hash = BrokerKey::generate().hash_code(&SecretCode::generate());
    let usd = Currency::parse("USD").unwrap();
    let most = Amount::from_units(smartcode_core::limits::AMOUNT_UNITS_MAX).unwrap();
    run(
        &store,
        Command::Issue {
            hash,
            amount: most,
            currency: usd,
            label: None,
        },
    )
    .unwrap();
    let deposits_to_the_limit =
        smartcode_core::limits::BALANCE_UNITS_MAX / smartcode_core::limits::AMOUNT_UNITS_MAX - 1;
    let pending: Vec<_> = (0..deposits_to_the_limit)
        .map(|_| {
            let command = Command::Deposit {
                target: CodeRef::Hash(hash),
                amount: most,
                currency: usd,
            };
            store.write(WriteRequest {
                command,
                idempotency: None,
            })
        })
        .collect();
    for answer in pending {
        answer.blocking_recv().unwrap().unwrap();
    }
    let over = run(
        &store,
        Command::Deposit {
            target: CodeRef::Hash(hash),
            amount: Amount::from_units(1).unwrap(),
            currency: usd,
        },
    );
    assert!(matches!(over, Err(OpError::LimitExceeded(_))), "{over:?}");
    let QueryOutcome::LedgerCheck { ok, .. } = store.read(Query::LedgerCheck).blocking_recv().unwrap().unwrap() else {
        panic!()
    };
    assert!(ok);
}

#[test]
fn a_cancel_stops_at_most_the_subtree_limit_and_otherwise_changes_nothing() {
    let store = blank_store();
    let key = BrokerKey::generate();
    let usd = Currency::parse("USD").unwrap();
    let root = key.hash_code(&SecretCode::generate());
    run(
        &store,
        Command::Issue {
            hash: root,
            amount: Amount::parse("100").unwrap(),
            currency: usd,
            label: None,
        },
    )
    .unwrap();
    let middle = key.hash_code(&SecretCode::generate());
    let Outcome::Code(middle_view) = run(
        &store,
        Command::CreateSecretChild {
            parent: cred(root),
            hash: middle,
            amount: Amount::parse("1").unwrap(),
            options: ChildOptions::default(),
        },
    )
    .unwrap() else {
        panic!()
    };
    // Ten secret children of `middle`, each with 1,000 public children: 10,011 codes below root.
    let mut branches = Vec::new();
    for _ in 0..10 {
        let hash = key.hash_code(&SecretCode::generate());
        let command = Command::CreateSecretChild {
            parent: cred(middle),
            hash,
            amount: Amount::from_units(1).unwrap(),
            options: ChildOptions::default(),
        };
        run(&store, command).unwrap();
        branches.push(hash);
    }
    let pending: Vec<_> = branches
        .iter()
        .flat_map(|branch| (0..1_000).map(move |_| *branch))
        .map(|branch| {
            let command = Command::CreatePublicChild {
                parent: cred(branch),
                code: PublicCode::generate(),
                label: None,
                profile: Default::default(),
                under: None,
            };
            store.write(WriteRequest {
                command,
                idempotency: None,
            })
        })
        .collect();
    for answer in pending {
        answer.blocking_recv().unwrap().unwrap();
    }
    let refused = run(
        &store,
        Command::CancelChild {
            parent: cred(root),
            child: middle_view.record.id.clone(),
        },
    );
    assert!(matches!(refused, Err(OpError::LimitExceeded(_))), "{refused:?}");
    // Nothing moved: the middle code still works and holds its value.
    let QueryOutcome::Code(view) = store
        .read(Query::Me { holder: middle })
        .blocking_recv()
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(view.account.unwrap().balance_units, 1_000_000 - 10);
    // Cancelling a branch first brings the rest under the limit.
    let Outcome::Cancelled { codes_cancelled, .. } = run(
        &store,
        Command::CancelChild {
            parent: cred(middle),
            child: first_child(&store, middle),
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(codes_cancelled, 1_001);
    let Outcome::Cancelled { reclaimed_units, .. } = run(
        &store,
        Command::CancelChild {
            parent: cred(root),
            child: middle_view.record.id,
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(reclaimed_units, 1_000_000);
}

fn first_child(store: &EmbeddedStore, parent: CodeHash) -> CodeId {
    let QueryOutcome::Children(children) = store
        .read(Query::Children { holder: parent })
        .blocking_recv()
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    children[0].record.id.clone()
}

fn cred(hash: CodeHash) -> Credential {
    Credential::new(hash, false)
}
