//! The SQLite ledger's own tests: the plans of the statements that must stay cheap.

use rusqlite::Connection;

/// The ledger check reads the transfers in one pass, whatever the number of accounts: its plan
/// has no subquery run once per account (a correlated scan of every transfer for each account
/// took minutes on a store of 30,000 transfers, and held a reader all that time).
#[test]
fn the_ledger_check_sums_the_transfers_once() {
    let connection = Connection::open_in_memory().unwrap();
    for (_, sql) in crate::schema::MIGRATIONS {
        connection.execute_batch(sql).unwrap();
    }
    let mut statement = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {}", super::MISMATCHED_ACCOUNTS))
        .unwrap();
    let plan: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !plan.iter().any(|step| step.contains("CORRELATED")),
        "a subquery runs once per account: {plan:#?}"
    );
    let transfer_scans = plan.iter().filter(|step| step.contains("transfers")).count();
    assert!(transfer_scans <= 2, "{plan:#?}");
}
