//! The PostgreSQL store's readers: each takes queries from the shared queue and runs each in one
//! read-only snapshot on a connection of its own, made again when it was lost.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use postgres::Config;
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::OpError;
use smartcode_core::ledger::{query, Query, QueryOutcome};

use super::conn::{failure, Conn};
use super::ledger::PgLedger;
use crate::jobs::ReadJob;

/// Whether a connection must be made (again) before use.
pub(super) fn unusable(conn: Option<&Conn>) -> bool {
    conn.is_none_or(|conn| conn.is_closed())
}

pub(super) fn read_loop(
    config: Config,
    mut conn: Option<Conn>,
    receiver: Arc<Mutex<Receiver<ReadJob>>>,
    clock: Arc<dyn Clock>,
) {
    loop {
        let job = {
            let guard = receiver.lock().expect("read queue lock");
            guard.recv()
        };
        let Ok(ReadJob { query, reply }) = job else {
            return;
        };
        let now = clock.now();
        let mut result = read_snapshot(&config, &mut conn, now, &query);
        if result.is_err() && unusable(conn.as_ref()) {
            // A read is safe to repeat: once more on a new connection.
            result = read_snapshot(&config, &mut conn, now, &query);
        }
        let _ = reply.send(result);
    }
}

/// Runs one query in one read-only snapshot, so all its reads see the same committed state.
fn read_snapshot(
    config: &Config,
    slot: &mut Option<Conn>,
    now: Timestamp,
    query_: &Query,
) -> Result<QueryOutcome, OpError> {
    if unusable(slot.as_ref()) {
        *slot = None;
        *slot = Some(Conn::connect(config).map_err(|error| failure(&error))?);
    }
    let conn = slot.as_mut().expect("connected above");
    conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .map_err(|error| failure(&error))?;
    let result = query(&mut PgLedger { conn, batch: None }, now, query_);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let _ = conn.batch(end);
    result
}
