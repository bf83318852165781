//! Filling a store in bulk for `smartcode bench --codes`: millions of spent codes, outside any
//! running broker.

use std::path::Path;

use rusqlite::params;
use smartcode_core::clock::Timestamp;
use smartcode_core::error::StorageFailure;

use super::{checkpoint, migrate, open_connection, DATABASE_FILE};
use crate::sqlite::failure;

/// Codes [`seed_spent_codes`] inserts per transaction.
const SEED_CODES_PER_COMMIT: u64 = 100_000;
/// The page cache of the seeding connection, in KiB: random inserts into the indexes stay in
/// memory, so seeding millions of codes takes minutes, not hours.
const SEED_PAGE_CACHE_KIB: u64 = 4 * 1024 * 1024;

/// Adds `count` spent codes (issued, emptied: a zero balance and no history) to the store in
/// `data_dir`, in bulk and outside any running broker. `smartcode bench --codes` uses it to measure
/// a large store. Their secrets are drawn and thrown away, so nobody can ever present them.
/// `progress` hears how many are in after each commit.
#[doc(hidden)]
pub fn seed_spent_codes(
    data_dir: &Path,
    count: u64,
    currency: smartcode_core::money::Currency,
    now: Timestamp,
    progress: impl Fn(u64),
) -> Result<(), StorageFailure> {
    use smartcode_core::code::{BrokerKey, CodeId, SecretCode};
    use smartcode_core::model::AccountKey;

    std::fs::create_dir_all(data_dir).map_err(|e| StorageFailure(format!("creating {}: {e}", data_dir.display())))?;
    let connection = open_connection(&data_dir.join(DATABASE_FILE))?;
    migrate(&connection)?;
    connection
        .execute_batch(&format!("PRAGMA cache_size = -{SEED_PAGE_CACHE_KIB}"))
        .map_err(failure)?;
    let key = BrokerKey::generate();
    let mut done = 0;
    while done < count {
        let chunk = SEED_CODES_PER_COMMIT.min(count - done);
        let run = || -> rusqlite::Result<()> {
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let mut code = connection.prepare_cached(
                "INSERT INTO codes (id, kind, owner_id, code_hash, currency, status, depth, created_at, irrevocable) \
                 VALUES (?1, 'secret', ?1, ?2, ?3, 'active', 1, ?4, 0) ON CONFLICT DO NOTHING",
            )?;
            let mut account = connection.prepare_cached(
                "INSERT INTO accounts (key, kind, currency, balance, held) VALUES (?1, 'code', ?2, 0, 0)",
            )?;
            for _ in 0..chunk {
                // A drawn code (40 bits) that is already taken is drawn again, as the broker does.
                let id = loop {
                    let id = CodeId::generate();
                    let hash = key.hash_code(&SecretCode::generate());
                    if code.execute(params![id.as_str(), hash.0.as_slice(), currency.as_str(), now.0])? == 1 {
                        break id;
                    }
                };
                account.execute(params![AccountKey::Code(id).to_stored(), currency.as_str()])?;
            }
            connection.execute_batch("COMMIT")
        };
        if let Err(error) = run() {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(failure(error));
        }
        done += chunk;
        progress(done);
    }
    checkpoint(&connection, "TRUNCATE").map_err(failure)?;
    Ok(())
}
