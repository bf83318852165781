//! The writer's memory against an in-memory SQLite: what it remembers, writes through, flushes and
//! forgets.

use rusqlite::Connection;
use smartcode_core::code::{BrokerKey, SecretCode};
use smartcode_core::ledger::{post, LedgerRead, LedgerTx};

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId};
use smartcode_core::ledger::TransferFilter;
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use super::{Cached, WriterCache};
use crate::sqlite::HotStatements;
use crate::sqlite::SqliteLedger;

fn database() -> Connection {
    let connection = Connection::open_in_memory().unwrap();
    for (_, sql) in crate::schema::MIGRATIONS {
        connection.execute_batch(sql).unwrap();
    }
    connection
}

fn secret_code(currency: Currency) -> CodeRecord {
    let id = CodeId::generate();
    CodeRecord {
        id: id.clone(),
        kind: CodeKind::Secret,
        parent_id: None,
        owner_id: id,
        public_code: None,
        currency,
        label: None,
        profile: Profile::default(),
        check: None,
        catalog: Catalog::default(),
        status: CodeStatus::Active,
        depth: 1,
        created_at: Timestamp(1),
        expires_at: None,
        irrevocable: false,
        restrictions: Restrictions::default(),
        restricted_lineage: false,
        usage: Usage::default(),
        pin: PinState::default(),
        spending: None,
        webhooks: false,
    }
}

fn hash() -> CodeHash {
    BrokerKey::generate().hash_code(&SecretCode::generate())
}

/// What SQLite itself holds, bypassing the memory.
fn stored(connection: &Connection, id: &CodeId) -> CodeRecord {
    SqliteLedger { conn: connection }.code_by_id(id).unwrap().unwrap()
}

#[test]
fn a_rolled_back_command_is_forgotten_and_read_again_from_sqlite() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let usd = Currency::parse("USD").unwrap();
    let record = secret_code(usd);
    let key = AccountKey::Code(record.id.clone());
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.insert_code(&record, Some(&hash())).unwrap();
        ledger.open_account(&key, usd).unwrap();
        assert_eq!(ledger.account(&key).unwrap().unwrap().balance_units, 0);
    }
    connection.execute_batch("SAVEPOINT command").unwrap();
    cache.begin_command();
    let counted = Usage {
        uses: 3,
        period_index: 1,
        period_spent_units: 7,
    };
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.set_usage(&record.id, &counted).unwrap();
        assert_eq!(ledger.code_by_id(&record.id).unwrap().unwrap().usage, counted);
    }
    connection
        .execute_batch("ROLLBACK TO command; RELEASE command")
        .unwrap();
    cache.forget_command();
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    let read = ledger.code_by_id(&record.id).unwrap().unwrap();
    assert_eq!(read.usage, Usage::default());
    assert_eq!(read, stored(&connection, &record.id));
}

#[test]
fn a_rekeyed_code_is_found_by_its_new_hash_only() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let record = secret_code(Currency::parse("EUR").unwrap());
    let (old, new) = (hash(), hash());
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    ledger.insert_code(&record, Some(&old)).unwrap();
    assert_eq!(ledger.code_by_hash(&old).unwrap().unwrap().id, record.id);
    ledger.set_code_hash(&record.id, &new).unwrap();
    assert_eq!(ledger.code_by_hash(&old).unwrap(), None);
    assert_eq!(ledger.code_by_hash(&new).unwrap().unwrap().id, record.id);
    // Forgotten (as after a failed commit), the code is read again from SQLite the same way.
    ledger.cache.clear();
    assert_eq!(ledger.code_by_hash(&old).unwrap(), None);
    assert_eq!(ledger.code_by_hash(&new).unwrap().unwrap().id, record.id);
}

/// A ledger of three accounts (issuance, a payer, a payee) with every account in memory.
fn three_accounts(connection: &Connection, cache: &mut WriterCache) -> [AccountKey; 3] {
    let usd = Currency::parse("USD").unwrap();
    let (payer, payee) = (secret_code(usd), secret_code(usd));
    let mut ledger = Cached {
        inner: SqliteLedger { conn: connection },
        cache,
    };
    let issuance = AccountKey::Issuance(usd);
    ledger.open_account(&issuance, usd).unwrap();
    for record in [&payer, &payee] {
        ledger.insert_code(record, Some(&hash())).unwrap();
        ledger.open_account(&AccountKey::Code(record.id.clone()), usd).unwrap();
    }
    let keys = [issuance, AccountKey::Code(payer.id), AccountKey::Code(payee.id)];
    for key in &keys {
        ledger.account(key).unwrap();
    }
    keys
}

fn transfer(id: &str, debit: &AccountKey, credit: &AccountKey, units: i64, public_code: Option<&CodeId>) -> Transfer {
    Transfer {
        id: id.into(),
        at: Timestamp(2),
        kind: TransferKind::Payment,
        debit: debit.clone(),
        credit: credit.clone(),
        amount: smartcode_core::money::Amount::from_units(units).unwrap(),
        currency: Currency::parse("USD").unwrap(),
        memo: None,
        public_code_id: public_code.cloned(),
        category: None,
        item: None,
    }
}

/// The ids of an account's transfers as SQLite's history chain gives them, newest first.
fn history(connection: &Connection, key: &AccountKey) -> Vec<String> {
    let filter = TransferFilter {
        since: None,
        until: None,
        before_sequence: None,
        limit: 10,
    };
    let mut ledger = SqliteLedger { conn: connection };
    ledger
        .transfers_of(key, &filter)
        .unwrap()
        .into_iter()
        .map(|(_, t)| t.id)
        .collect()
}

fn balance_in_sqlite(connection: &Connection, key: &AccountKey) -> i64 {
    SqliteLedger { conn: connection }
        .account(key)
        .unwrap()
        .unwrap()
        .balance_units
}

#[test]
fn balances_in_memory_reach_sqlite_when_flushed() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let [issuance, from, to] = three_accounts(&connection, &mut cache);
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    post(&mut ledger, transfer("t_1", &issuance, &from, 500, None)).unwrap();
    post(&mut ledger, transfer("t_2", &from, &to, 120, None)).unwrap();
    for (key, units) in [(&issuance, -500), (&from, 380), (&to, 120)] {
        assert_eq!(ledger.account(key).unwrap().unwrap().balance_units, units);
        assert_eq!(balance_in_sqlite(&connection, key), 0, "not written before the flush");
    }
    ledger.cache.flush(&ledger.inner).unwrap();
    for (key, units) in [(&issuance, -500), (&from, 380), (&to, 120)] {
        assert_eq!(balance_in_sqlite(&connection, key), units);
    }
    // The chains were linked from memory: each account's history, newest first.
    assert_eq!(history(&connection, &from), ["t_2", "t_1"]);
    assert_eq!(history(&connection, &to), ["t_2"]);
    assert_eq!(history(&connection, &issuance), ["t_1"]);
}

#[test]
fn a_busy_payee_is_written_once_per_flush_and_reads_through_sqlite_flush_first() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let [issuance, from, to] = three_accounts(&connection, &mut cache);
    let public_code = CodeId::generate();
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    post(&mut ledger, transfer("t_0", &issuance, &from, 1000, None)).unwrap();
    for n in 1..=10 {
        let id = format!("t_{n}");
        post(&mut ledger, transfer(&id, &from, &to, 7, Some(&public_code))).unwrap();
    }
    let before = connection.total_changes();
    // A read of the totals goes to SQLite, so memory is written first: three balances and one
    // public code's totals, one row each however many payments they took.
    assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (10, 70));
    assert_eq!(connection.total_changes() - before, 4);
    assert_eq!(balance_in_sqlite(&connection, &to), 70);
    assert_eq!(balance_in_sqlite(&connection, &from), 930);
    // Nothing is left to write.
    ledger.cache.flush(&ledger.inner).unwrap();
    assert_eq!(connection.total_changes() - before, 4);
    // The totals' row now exists and is updated in place; forgotten memory reads it back.
    post(&mut ledger, transfer("t_11", &from, &to, 5, Some(&public_code))).unwrap();
    assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (11, 75));
    ledger.cache.clear();
    post(&mut ledger, transfer("t_12", &from, &to, 5, Some(&public_code))).unwrap();
    assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (12, 80));
    assert_eq!(balance_in_sqlite(&connection, &to), 80);
}

#[test]
fn a_forgotten_command_takes_its_unwritten_balances_with_it() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let [issuance, from, to] = three_accounts(&connection, &mut cache);
    let public_code = CodeId::generate();
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        post(&mut ledger, transfer("t_1", &issuance, &from, 500, None)).unwrap();
        ledger.cache.flush(&ledger.inner).unwrap();
    }
    connection.execute_batch("SAVEPOINT command").unwrap();
    cache.begin_command();
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        post(&mut ledger, transfer("t_2", &from, &to, 120, Some(&public_code))).unwrap();
    }
    connection
        .execute_batch("ROLLBACK TO command; RELEASE command")
        .unwrap();
    cache.forget_command();
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    ledger.cache.flush(&ledger.inner).unwrap();
    for (key, units) in [(&issuance, -500), (&from, 500), (&to, 0)] {
        assert_eq!(ledger.account(key).unwrap().unwrap().balance_units, units);
        assert_eq!(balance_in_sqlite(&connection, key), units);
    }
    assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (0, 0));
    // The next transfer links to the last one SQLite kept, not to the forgotten one.
    post(&mut ledger, transfer("t_3", &from, &to, 50, None)).unwrap();
    ledger.cache.flush(&ledger.inner).unwrap();
    assert_eq!(history(&connection, &from), ["t_3", "t_1"]);
}

fn pending_hold(payer: &CodeId, payee: &CodeRecord, currency: Currency) -> HoldRecord {
    HoldRecord {
        id: smartcode_core::code::HoldId::generate_at(Timestamp(1)),
        kind: HoldKind::Hold,
        payer_id: payer.clone(),
        payee: Some(HoldPayee {
            owner_id: payee.owner_id.clone(),
            payee: payee.public_code.clone().unwrap(),
            payee_id: payee.id.clone(),
        }),
        amount: smartcode_core::money::Amount::from_units(5).unwrap(),
        currency,
        memo: None,
        category: None,
        item: None,
        created_at: Timestamp(1),
        expires_at: Timestamp(1_000_000),
        state: HoldState::Pending,
        resolved_at: None,
        captured: None,
        receipt_id: None,
        release_to: None,
        assurance_id: None,
    }
}

/// A currency, a buyer's secret code and a seller's public code (neither written anywhere).
fn payer_and_payee() -> (Currency, CodeRecord, CodeRecord) {
    let usd = Currency::parse("USD").unwrap();
    let payer = secret_code(usd);
    let mut payee = secret_code(usd);
    payee.kind = CodeKind::Public;
    payee.public_code = Some(smartcode_core::code::PublicCode::generate());
    (usd, payer, payee)
}

#[test]
fn a_pending_hold_is_remembered_until_resolved_and_forgotten_with_its_command() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let (usd, payer, payee) = payer_and_payee();
    let mut hold = pending_hold(&payer.id, &payee, usd);
    let sqlite_has = |id: &smartcode_core::code::HoldId| SqliteLedger { conn: &connection }.hold_by_id(id).unwrap();
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.insert_hold(&hold, None).unwrap();
    }
    assert_eq!(cache.memory.hold(&hold.id), Some(&hold), "made here, remembered");
    assert_eq!(sqlite_has(&hold.id).as_ref(), Some(&hold), "and written at once");
    // A capture rolled back to its savepoint: memory forgets, and reads SQLite's row again.
    connection.execute_batch("SAVEPOINT command").unwrap();
    cache.begin_command();
    let mut captured = hold.clone();
    captured.state = HoldState::Captured;
    captured.resolved_at = Some(Timestamp(2));
    captured.captured = Some(hold.amount);
    captured.receipt_id = Some("r_x".into());
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.update_hold(&captured).unwrap();
        assert_eq!(ledger.hold_by_id(&hold.id).unwrap().unwrap().state, HoldState::Captured);
    }
    connection
        .execute_batch("ROLLBACK TO command; RELEASE command")
        .unwrap();
    cache.forget_command();
    assert_eq!(cache.memory.hold(&hold.id), None);
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        assert_eq!(
            ledger.hold_by_id(&hold.id).unwrap().as_ref(),
            Some(&hold),
            "pending again"
        );
        // Resolved for good, it leaves memory: what SQLite has is the only copy.
        ledger.cache.begin_command();
        hold = captured;
        ledger.update_hold(&hold).unwrap();
    }
    assert_eq!(cache.memory.hold(&hold.id), None);
    assert_eq!(sqlite_has(&hold.id), Some(hold));
}

#[test]
fn a_codes_pending_holds_are_read_from_sqlite_once_and_then_kept_as_sqlite_has_them() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let (usd, payer, payee) = payer_and_payee();
    let first = pending_hold(&payer.id, &payee, usd);
    // Written before this writer's memory began (another writer's cache, since dropped).
    let mut before = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut before,
    }
    .insert_hold(&first, None)
    .unwrap();
    drop(before);
    let sqlite_has = || {
        SqliteLedger { conn: &connection }
            .holds_pending_of(&payer.id, 100)
            .unwrap()
    };
    let mut ledger = Cached {
        inner: SqliteLedger { conn: &connection },
        cache: &mut cache,
    };
    assert_eq!(
        ledger.cache.memory.pending_of(&payer.id),
        None,
        "not known before it is read"
    );
    assert_eq!(
        ledger.pending_holds(&payer.id, 100).unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        ledger.cache.memory.pending_of(&payer.id),
        Some(vec![first.clone()]),
        "known once read"
    );
    // A new hold joins the list, a captured one leaves it: memory answers as SQLite would.
    let mut second = pending_hold(&payer.id, &payee, usd);
    second.created_at = Timestamp(2);
    ledger.cache.begin_command();
    ledger.insert_hold(&second, None).unwrap();
    assert_eq!(ledger.pending_holds(&payer.id, 100).unwrap(), sqlite_has());
    assert_eq!(
        ledger.pending_holds(&payer.id, 1).unwrap(),
        std::slice::from_ref(&first),
        "oldest first, up to the limit"
    );
    let mut captured = first.clone();
    captured.state = HoldState::Captured;
    captured.resolved_at = Some(Timestamp(3));
    captured.captured = Some(first.amount);
    captured.receipt_id = Some("r_x".into());
    ledger.cache.begin_command();
    ledger.update_hold(&captured).unwrap();
    assert_eq!(ledger.pending_holds(&payer.id, 100).unwrap(), [second.clone()]);
    assert_eq!(sqlite_has(), [second.clone()]);
    // A command rolled back takes the list with it: it is read from SQLite again.
    connection.execute_batch("SAVEPOINT command").unwrap();
    ledger.cache.begin_command();
    let mut third = pending_hold(&payer.id, &payee, usd);
    third.created_at = Timestamp(4);
    ledger.insert_hold(&third, None).unwrap();
    connection
        .execute_batch("ROLLBACK TO command; RELEASE command")
        .unwrap();
    ledger.cache.forget_command();
    assert_eq!(ledger.cache.memory.pending_of(&payer.id), None);
    assert_eq!(ledger.pending_holds(&payer.id, 100).unwrap(), [second]);
}

fn webhook(owner: &CodeId, url: &str) -> smartcode_core::webhook::WebhookRecord {
    smartcode_core::webhook::WebhookRecord {
        id: smartcode_core::code::WebhookId::generate(),
        owner_id: owner.clone(),
        public_code_id: None,
        url: url.into(),
        events: vec![smartcode_core::webhook::EventKind::PaymentReceived],
        generation: 1,
        created_at: Timestamp(1),
        removed_at: None,
        leased_until: Timestamp(0),
        settled_through: 0,
    }
}

#[test]
fn an_owners_subscriptions_are_kept_as_sqlite_has_them_and_forgotten_with_a_rolled_back_change() {
    let connection = database();
    let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
    let owner = CodeId::generate();
    let first = webhook(&owner, "https://a.example/");
    let ledger = |cache: &mut WriterCache<'_>| -> Vec<String> {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache,
        };
        ledger.webhooks_of(&owner).unwrap().into_iter().map(|w| w.url).collect()
    };
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.put_webhook(&first).unwrap();
    }
    cache.begin_command();
    assert_eq!(ledger(&mut cache), ["https://a.example/"]);
    // Kept: a row SQLite gains behind the writer's back (never in the product) is not seen...
    connection
        .execute(
            "UPDATE webhooks SET url = 'https://elsewhere.example/' WHERE id = ?1",
            [first.id.as_str()],
        )
        .unwrap();
    assert_eq!(ledger(&mut cache), ["https://a.example/"]);
    connection
        .execute(
            "UPDATE webhooks SET url = 'https://a.example/' WHERE id = ?1",
            [first.id.as_str()],
        )
        .unwrap();
    // ...and a command that writes one and rolls back leaves memory as SQLite is after it.
    connection.execute_batch("SAVEPOINT command").unwrap();
    cache.begin_command();
    {
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.put_webhook(&webhook(&owner, "https://b.example/")).unwrap();
        assert_eq!(ledger.webhooks_of(&owner).unwrap().len(), 2, "the command sees its own");
    }
    connection
        .execute_batch("ROLLBACK TO command; RELEASE command")
        .unwrap();
    cache.forget_command();
    cache.begin_command();
    assert_eq!(ledger(&mut cache), ["https://a.example/"]);
}
