//! The embedded store's own tests: durability (reads wait for syncs, a failed sync is final) and
//! batches whose transaction SQLite loses.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
use smartcode_core::error::OpError;
use smartcode_core::ledger::tree::ChildOptions;
use smartcode_core::ledger::{
    expiry, issuance, reports, tree, Command, Credential, Outcome, Query, QueryOutcome, Seed,
};
use smartcode_core::model::{AccountKey, Profile};
use smartcode_core::money::{Amount, Currency};

use super::durability::{sync_loop, Committed, Durability};
use super::writer::run_batch;
use super::{migrate, open_connection, DATABASE_FILE};
use crate::cache::WriterCache;
use crate::jobs::WriteJob;
use crate::sqlite::{HotStatements, SqliteLedger};
use crate::tests::pay_command;
use crate::WriteRequest;
use crate::{StatCounters, Written};

/// A read that may have seen batch 2 answers only once the syncer has put batch 2 on disk.
#[test]
fn a_read_waits_for_the_sync_of_what_it_may_have_seen() {
    let durability = Arc::new(Durability::default());
    durability.advance(1);
    durability.visible.store(2, Ordering::SeqCst);
    let reader = {
        let durability = durability.clone();
        std::thread::spawn(move || durability.wait_synced())
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!reader.is_finished(), "the read answered before its batch was on disk");
    durability.advance(2);
    assert!(reader.join().unwrap().is_ok());
    // Nothing newer is visible: the next read answers at once.
    assert!(durability.wait_synced().is_ok());
}

/// After a failed fsync nobody knows what is on disk: reads and writes are refused.
#[test]
fn after_a_failed_sync_reads_are_refused() {
    let durability = Durability::default();
    durability.failed.store(true, Ordering::SeqCst);
    durability.advance(1);
    assert!(durability.wait_synced().is_err());
}

const NOW: Timestamp = Timestamp(1_800_000_000_000_000);

/// A writer's connection on a new store, as `EmbeddedStore::open` makes it.
fn writer() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let connection = open_connection(&dir.path().join(DATABASE_FILE)).unwrap();
    migrate(&connection).unwrap();
    (dir, connection)
}

/// Runs exactly these jobs as one batch and returns the requests' answers, in order.
fn batch(
    connection: &Connection,
    cache: &mut WriterCache,
    durability: &Durability,
    commands: Vec<Option<Command>>,
) -> Vec<Result<Written, OpError>> {
    let jobs = commands
        .into_iter()
        .map(|command| match command {
            Some(command) => {
                let (reply, _) = tokio::sync::oneshot::channel();
                let request = WriteRequest {
                    seed: Seed::random(),
                    command,
                    idempotency: None,
                };
                WriteJob::Request { request, reply }
            }
            None => WriteJob::Sweep(crate::protocol::SweepStep::ExpireCodes),
        })
        .collect();
    let committed = run_batch(connection, cache, NOW, jobs, false, durability);
    committed.answers.into_iter().map(|(_, result)| result).collect()
}

fn balance(connection: &Connection, id: &CodeId) -> i64 {
    use smartcode_core::ledger::LedgerRead;
    let mut ledger = SqliteLedger { conn: connection };
    ledger
        .account(&AccountKey::Code(id.clone()))
        .unwrap()
        .unwrap()
        .balance_units
}

fn ledger_checks(connection: &Connection) -> bool {
    let mut ledger = SqliteLedger { conn: connection };
    match smartcode_core::ledger::query(&mut ledger, NOW, &Query::Reports(reports::Query::LedgerCheck)).unwrap() {
        QueryOutcome::Reports(reports::QueryOutcome::LedgerCheck { ok, .. }) => ok,
        other => panic!("{other:?}"),
    }
}

/// A payer holding 2 USD, and a seller's public code.
fn payer_and_shop(
    connection: &Connection,
    cache: &mut WriterCache,
    durability: &Durability,
) -> (CodeHash, CodeId, PublicCode) {
    let key = BrokerKey::generate();
    let (payer, seller) = (
        key.hash_code(&SecretCode::generate()),
        key.hash_code(&SecretCode::generate()),
    );
    let usd = Currency::parse("USD").unwrap();
    let issue = |hash| {
        Command::Issuance(issuance::Command::Issue {
            hash,
            amount: Amount::from_units(2_000_000).unwrap(),
            currency: usd,
            label: None,
        })
    };
    let shop = PublicCode::generate();
    let public = Command::Tree(tree::Command::CreatePublicChild {
        parent: Credential::new(seller, false),
        code: shop.clone(),
        label: None,
        profile: Profile::default(),
        catalog: Default::default(),
        under: None,
    });
    let answers = batch(
        connection,
        cache,
        durability,
        vec![Some(issue(payer)), Some(issue(seller)), Some(public)],
    );
    let Ok(Written::Done(Outcome::Issuance(issuance::Outcome::Issued(payer_view)))) = &answers[0] else {
        panic!("{answers:?}");
    };
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    (payer, payer_view.record.id.clone(), shop)
}

/// Stands in for an error after which SQLite rolls the whole transaction back by itself (a
/// full disk, an I/O error, no memory): a trigger on `table` that raises ROLLBACK `when`.
fn rollback_by_sqlite(connection: &Connection, on: &str) {
    connection
        .execute_batch(&format!(
            "CREATE TRIGGER stand_in_for_io_error BEFORE UPDATE OF {on} \
             BEGIN SELECT RAISE(ROLLBACK, 'stand-in for an I/O error'); END"
        ))
        .unwrap();
}

/// A batch running again with savepoints meets a statement after which SQLite rolls back the
/// whole transaction. The batch is refused whole, and nothing after it runs outside the
/// transaction: the payment answered with an error moved no money.
#[test]
fn a_transaction_sqlite_rolls_back_in_a_savepoint_run_refuses_the_batch_whole() {
    let (_dir, connection) = writer();
    let durability = Durability::default();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let (payer, payer_id, shop) = payer_and_shop(&connection, &mut cache, &durability);
    rollback_by_sqlite(&connection, "profile_name ON codes");
    let too_much = Command::Tree(tree::Command::CreateSecretChild {
        parent: Credential::new(payer, false),
        hash: BrokerKey::generate().hash_code(&SecretCode::generate()),
        amount: Amount::from_units(5_000_000).unwrap(),
        options: ChildOptions::default(),
    });
    let rename = Command::Tree(tree::Command::SetProfile {
        holder: Credential::new(payer, false),
        target: None,
        profile: Profile {
            name: Some("x".into()),
            ..Profile::default()
        },
        catalog: Default::default(),
    });
    // The child fails after writing its code, so the batch runs again with savepoints; then
    // the renaming loses the transaction.
    let answers = batch(
        &connection,
        &mut cache,
        &durability,
        vec![Some(too_much), Some(rename), Some(pay_command(payer, &shop, 500_000))],
    );
    assert!(
        answers.iter().all(|answer| matches!(answer, Err(OpError::Storage(_)))),
        "{answers:?}"
    );
    assert!(connection.is_autocommit());
    assert_eq!(
        balance(&connection, &payer_id),
        2_000_000,
        "a refused payment moved money"
    );
    assert!(ledger_checks(&connection));
    goes_on(&connection, &mut cache, &durability, (payer, &payer_id), &shop);
}

/// Without savepoints, a flush (here the sweep's) meets a statement after which SQLite rolls
/// back the whole transaction. The payment after it does not run outside the transaction
/// (where it would link itself to a transfer that no longer exists), and memory forgets the
/// payment before it.
#[test]
fn a_transaction_sqlite_rolls_back_at_a_flush_leaves_no_transfer_behind() {
    let (_dir, connection) = writer();
    let durability = Durability::default();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let (payer, payer_id, shop) = payer_and_shop(&connection, &mut cache, &durability);
    rollback_by_sqlite(&connection, "balance ON accounts WHEN NEW.balance = 1500000");
    let answers = batch(
        &connection,
        &mut cache,
        &durability,
        vec![
            Some(pay_command(payer, &shop, 500_000)),
            None,
            Some(pay_command(payer, &shop, 250_000)),
        ],
    );
    assert!(answers.iter().all(Result::is_err), "{answers:?}");
    let transfers: i64 = connection
        .query_row("SELECT count(*) FROM transfers WHERE kind = 'payment'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(transfers, 0, "refused payments left transfers behind");
    assert_eq!(balance(&connection, &payer_id), 2_000_000);
    assert!(ledger_checks(&connection));
    goes_on(&connection, &mut cache, &durability, (payer, &payer_id), &shop);
}

/// Once the stand-in error is gone, the writer goes on from what SQLite holds: its memory
/// forgot the lost batch, so a payment of 2 USD, the payer's whole balance, happens once.
fn goes_on(
    connection: &Connection,
    cache: &mut WriterCache,
    durability: &Durability,
    (payer, payer_id): (CodeHash, &CodeId),
    shop: &PublicCode,
) {
    connection.execute_batch("DROP TRIGGER stand_in_for_io_error").unwrap();
    let answers = batch(
        connection,
        cache,
        durability,
        vec![Some(pay_command(payer, shop, 2_000_000))],
    );
    assert!(answers[0].is_ok(), "{answers:?}");
    assert_eq!(balance(connection, payer_id), 0);
    assert!(ledger_checks(connection));
}

/// Once an fsync of the log failed, a batch committed before the writer heard of it is not
/// answered as done when a later fsync succeeds: the log before it may be gone from the disk.
#[test]
fn no_batch_is_answered_done_after_a_failed_sync() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    // A link to itself: opening it fails, as the first sync will.
    std::os::unix::fs::symlink(&wal, &wal).unwrap();
    let durability = Arc::new(Durability::default());
    let (sender, receiver) = mpsc::sync_channel(4);
    let syncer = {
        let (durability, wal) = (durability.clone(), wal.clone());
        std::thread::spawn(move || sync_loop(&wal, receiver, &durability, &StatCounters::default()))
    };
    let answer = |batch: u64| {
        let (reply, answered) = tokio::sync::oneshot::channel();
        let done = Ok(Written::Done(Outcome::Expiry(expiry::Outcome::Swept { codes: 0 })));
        sender
            .send(Committed {
                sweeps: 0,
                batch,
                answers: vec![(reply, done)],
            })
            .unwrap();
        answered.blocking_recv().unwrap()
    };
    assert!(answer(1).is_err());
    assert!(durability.failed.load(Ordering::SeqCst));
    std::fs::remove_file(&wal).unwrap();
    std::fs::write(&wal, b"").unwrap();
    let second = answer(2);
    drop(sender);
    syncer.join().unwrap();
    assert!(second.is_err(), "answered {second:?} after the log was known broken");
}

/// Each step of the sweep is a job in its own savepoint: a step that fails (here the codes'
/// expiry, refused by a stand-in trigger) neither stops nor undoes the others, and runs again
/// once it can.
#[test]
fn a_failing_step_of_the_sweep_does_not_stop_the_others() {
    use smartcode_core::ledger::holds;
    use smartcode_core::ledger::payments::PaymentOrder;
    let (_dir, connection) = writer();
    let durability = Durability::default();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let (payer, payer_id, shop) = payer_and_shop(&connection, &mut cache, &durability);
    let child = Command::Tree(tree::Command::CreateSecretChild {
        parent: Credential::new(payer, false),
        hash: BrokerKey::generate().hash_code(&SecretCode::generate()),
        amount: Amount::from_units(500_000).unwrap(),
        options: ChildOptions {
            expires_at: Some(Timestamp(NOW.0 + 1_000_000)),
            ..ChildOptions::default()
        },
    });
    let hold = Command::Holds(holds::Command::Hold {
        order: PaymentOrder {
            payer: Credential::new(payer, false),
            payee: shop,
            amount: Amount::from_units(250_000).unwrap(),
            currency: None,
            memo: None,
            category: None,
            item: None,
        },
        expires_in_seconds: 1,
    });
    let answers = batch(&connection, &mut cache, &durability, vec![Some(child), Some(hold)]);
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    connection
        .execute_batch(
            "CREATE TRIGGER stand_in_for_a_failing_expiry BEFORE UPDATE OF status ON codes \
             BEGIN SELECT RAISE(ABORT, 'stand-in for a failing expiry'); END",
        )
        .unwrap();
    let later = Timestamp(NOW.0 + 2_000_000);
    let sweep = |connection: &Connection, cache: &mut WriterCache| {
        let jobs = crate::protocol::SweepStep::ALL
            .into_iter()
            .map(WriteJob::Sweep)
            .collect();
        run_batch(connection, cache, later, jobs, true, &durability)
    };
    let count =
        |connection: &Connection, sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
    let committed = sweep(&connection, &mut cache);
    assert_eq!(committed.sweeps, 1, "the sweep ran to its last step");
    assert_eq!(
        count(&connection, "SELECT count(*) FROM holds WHERE state = 'voided'"),
        1
    );
    assert_eq!(
        count(&connection, "SELECT count(*) FROM codes WHERE status = 'expired'"),
        0
    );
    assert_eq!(
        balance(&connection, &payer_id),
        1_500_000,
        "the child's value is not back yet"
    );
    connection
        .execute_batch("DROP TRIGGER stand_in_for_a_failing_expiry")
        .unwrap();
    sweep(&connection, &mut cache);
    assert_eq!(
        count(&connection, "SELECT count(*) FROM codes WHERE status = 'expired'"),
        1
    );
    assert_eq!(balance(&connection, &payer_id), 2_000_000);
    assert!(ledger_checks(&connection));
}
