//! The writer's batch on PostgreSQL, driven one batch at a time (a writer of the test's own beside
//! the store's): what a command of a batch writes, the commands after it in the same batch read,
//! before the batch sends it. Through the store, which batch a command lands in is up to its
//! writers; here every command listed is one batch, in order.

use std::sync::Arc;

use smartcode_core::clock::{Clock, ManualClock};
use smartcode_core::code::{BrokerKey, CodeHash, HoldId, SecretCode};
use smartcode_core::error::{HoldRefusal, Limit, OpError};
use smartcode_core::ledger::tree::ChildOptions;
use smartcode_core::ledger::{authorizations, holds, tree, Command, Draws, Outcome, Seed};
use smartcode_core::limits::HOLDS_PER_CODE_MAX;
use smartcode_core::money::Amount;
use tokio::sync::oneshot;

use super::*;
use crate::testing::TestSchema;
use crate::tests::{balance, check, cred, issue, order, pay_command, public_child, run, test_clock};
use crate::{WriteRequest, Written};

struct Setup {
    _schema: TestSchema,
    store: PostgresStore,
    writer: Writer,
    clock: Arc<ManualClock>,
    key: BrokerKey,
}

fn setup() -> Option<Setup> {
    let schema = TestSchema::create()?;
    let clock = test_clock();
    let store = PostgresStore::open(schema.url(), clock.clone()).expect("the store opens");
    let config = conn::parse_config(schema.url()).unwrap();
    let mut conn = connected(Conn::connect_writer(&config), "test").unwrap();
    let scope = lock_scope(&mut conn).unwrap();
    let writer = Writer {
        config,
        conn: Some(conn),
        scope,
        counters: Arc::new(StatCounters::default()),
    };
    Some(Setup {
        _schema: schema,
        store,
        writer,
        clock,
        key: BrokerKey::generate(),
    })
}

impl Setup {
    fn code(&self) -> CodeHash {
        self.key.hash_code(&SecretCode::generate())
    }

    /// Runs `commands` as one batch, in order, and answers each.
    fn batch(&mut self, commands: Vec<(Seed, Command)>) -> Vec<Result<Outcome, OpError>> {
        let (jobs, replies): (Vec<_>, Vec<_>) = commands
            .into_iter()
            .map(|(seed, command)| {
                let (reply, answer) = oneshot::channel();
                let request = WriteRequest {
                    command,
                    seed,
                    idempotency: None,
                };
                (WriteJob::Request { request, reply }, answer)
            })
            .unzip();
        run_batch(&mut self.writer, self.clock.as_ref(), jobs, false);
        replies
            .into_iter()
            .map(
                |mut answer| match answer.try_recv().expect("the batch answered every command") {
                    Ok(Written::Done(outcome)) => Ok(outcome),
                    Ok(Written::Replayed(_)) => unreachable!("no idempotency key was sent"),
                    Err(error) => Err(error),
                },
            )
            .collect()
    }

    /// A hold of `units` on `payer` for `payee`, with the seed (and so the id) it will have.
    fn hold(&self, payer: CodeHash, payee: &smartcode_core::code::PublicCode, units: i64) -> (HoldId, (Seed, Command)) {
        let seed = Seed::random();
        let id = HoldId::draw_at(self.clock.now(), &mut Draws::new(Seed(seed.0)));
        let command = Command::Holds(holds::Command::Hold {
            order: order(payer, payee, units),
            expires_in_seconds: 600,
        });
        (id, (seed, command))
    }
}

fn seeded(command: Command) -> (Seed, Command) {
    (Seed::random(), command)
}

const UNIT: i64 = 1_000_000;

#[test]
fn a_batch_reads_the_holds_it_wrote_before_it_sends_them() {
    let Some(mut s) = setup() else { return };
    let (parent, seller) = (s.code(), s.code());
    issue(&s.store, parent, "10");
    issue(&s.store, seller, "1");
    let shop = public_child(&s.store, seller);
    let child = s.code();
    let made = run(
        &s.store,
        Command::Tree(tree::Command::CreateSecretChild {
            parent: cred(parent),
            hash: child,
            amount: Amount::from_units(5 * UNIT).unwrap(),
            options: ChildOptions::default(),
        }),
    )
    .unwrap();
    let child_id = made.into_code_view().unwrap().record.id;

    // One batch: two holds, the first captured and then voided (too late), the code cancelled
    // (its reclaim must leave what the second still holds), and a hold on the cancelled code.
    let (first, hold_first) = s.hold(child, &shop, 2 * UNIT);
    let (second, hold_second) = s.hold(child, &shop, 2 * UNIT);
    let capture = |hold: &HoldId| {
        seeded(Command::Holds(holds::Command::Capture {
            seller: cred(seller),
            hold: hold.clone(),
            amount: None,
        }))
    };
    let void = |hold: &HoldId| {
        seeded(Command::Holds(holds::Command::Void {
            seller: cred(seller),
            hold: hold.clone(),
        }))
    };
    let cancel = seeded(Command::Tree(tree::Command::CancelChild {
        parent: cred(parent),
        child: child_id,
    }));
    let (_, late) = s.hold(child, &shop, UNIT);
    let answers = s.batch(vec![
        hold_first,
        hold_second,
        capture(&first),
        void(&first),
        cancel,
        late,
    ]);
    assert!(matches!(&answers[0], Ok(Outcome::Holds(holds::Outcome::Held(h))) if h.id == first));
    assert!(matches!(&answers[1], Ok(Outcome::Holds(holds::Outcome::Held(h))) if h.id == second));
    assert!(
        answers[2].is_ok(),
        "the capture reads the hold made before it: {:?}",
        answers[2]
    );
    assert!(
        matches!(answers[3], Err(OpError::Hold(HoldRefusal::NotPending { .. }))),
        "the void reads the capture before it: {:?}",
        answers[3]
    );
    assert!(
        matches!(
            answers[4],
            Ok(Outcome::Tree(tree::Outcome::Cancelled {
                reclaimed_units,
                ..
            })) if reclaimed_units == UNIT
        ),
        "the cancel leaves what the pending hold sets aside: {:?}",
        answers[4]
    );
    assert!(answers[5].is_err(), "a cancelled code holds nothing");

    // The second hold, marked by the cancel in the batch, releases to the parent when voided.
    let voided = s.batch(vec![void(&second)]);
    assert!(voided[0].is_ok(), "{:?}", voided[0]);
    assert_eq!(balance(&s.store, parent), (10 - 5 + 1 + 2) * UNIT);
    assert_eq!(balance(&s.store, seller), 3 * UNIT);

    // An authorization made and used in one batch: found by its hash before it is sent.
    let buyer = s.code();
    issue(&s.store, buyer, "4");
    let digits = s.code();
    let authorize = seeded(Command::Authorizations(authorizations::Command::Authorize {
        payer: cred(buyer),
        hash: digits,
        amount: Amount::from_units(3 * UNIT).unwrap(),
        currency: None,
        payee: None,
        expires_in_seconds: 600,
    }));
    let use_it = || {
        seeded(Command::Authorizations(authorizations::Command::Use(order(
            digits,
            &shop,
            3 * UNIT,
        ))))
    };
    let answers = s.batch(vec![authorize, use_it(), use_it()]);
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    assert!(answers[2].is_err(), "it pays once");
    assert_eq!(balance(&s.store, buyer), UNIT);
    assert_eq!(balance(&s.store, seller), 6 * UNIT);
    check(&s.store);
}

#[test]
fn a_batch_counts_its_own_holds_against_the_limit_of_holds_per_code() {
    let Some(mut s) = setup() else { return };
    let (payer, seller) = (s.code(), s.code());
    issue(&s.store, payer, "1000");
    issue(&s.store, seller, "1");
    let shop = public_child(&s.store, seller);
    // One more hold than a code may have, and then a payment of one unit more than they leave.
    let mut commands: Vec<_> = (0..=HOLDS_PER_CODE_MAX).map(|_| s.hold(payer, &shop, UNIT).1).collect();
    let left = (1000 - i64::from(HOLDS_PER_CODE_MAX)) * UNIT;
    commands.push(seeded(pay_command(payer, &shop, left + 1)));
    let answers = s.batch(commands);
    let held = &answers[..=HOLDS_PER_CODE_MAX as usize];
    assert_eq!(held.iter().filter(|a| a.is_ok()).count(), HOLDS_PER_CODE_MAX as usize);
    assert!(matches!(
        held.last(),
        Some(Err(OpError::LimitExceeded(Limit::HoldsPerCode)))
    ));
    assert!(matches!(answers.last(), Some(Err(OpError::InsufficientFunds))));
    check(&s.store);
}
