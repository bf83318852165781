//! For tests only: a fresh PostgreSQL schema per test, and the rule for when there is no database.
//!
//! The database comes from `SMARTCODE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached, a test under `CI=true`
//! fails; anywhere else it says loudly on stderr that it skipped and returns, so a machine without
//! PostgreSQL still runs the rest. Used by this crate's behaviour suite and by the binary's
//! integration tests, which hand [`TestSchema::url`] to `smartcode serve --database`.
//!
//! Everything here may be called from async tests: the blocking client runs a runtime of its own,
//! which cannot start inside tokio's, so the work is done on a thread of its own. (The client
//! [`TestSchema::client`] hands out is for blocking code only.)

use std::sync::OnceLock;
use std::time::Duration;

/// The variable naming the database tests may create schemas in.
pub const TEST_POSTGRES_VAR: &str = "SMARTCODE_TEST_POSTGRES";
pub const TEST_POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long a test waits for the database before calling it unreachable.
pub const TEST_CONNECT_SECONDS_MAX: u64 = 3;

/// The base URL tests use, from the environment or the default.
pub fn test_postgres_url() -> String {
    std::env::var(TEST_POSTGRES_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| TEST_POSTGRES_DEFAULT.to_owned())
}

/// Whether skipping is forbidden (`CI=true` or `CI=1`): then a test that cannot run fails.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Runs `work` on a thread of its own, off any async runtime; a panic in it carries on here.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn admin_client(url: &str) -> Result<::postgres::Client, String> {
    let mut config: ::postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(TEST_CONNECT_SECONDS_MAX));
    config
        .connect(::postgres::NoTls)
        .map_err(|error| match (error.as_db_error(), std::error::Error::source(&error)) {
            (Some(db), _) => db.to_string(),
            (None, Some(source)) => format!("{error}: {source}"),
            (None, None) => error.to_string(),
        })
}

/// Whether the test database answers; asked once per test binary. Under `CI=true` an unreachable
/// database panics (the run fails); elsewhere this prints the skip line and returns `false`.
pub fn postgres_available() -> bool {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let url = test_postgres_url();
    let reachable = REACHABLE.get_or_init(|| off_runtime(|| admin_client(&url).map(drop)));
    match reachable {
        Ok(()) => true,
        Err(reason) if in_ci() => {
            panic!("PostgreSQL tests need a database and CI=true forbids skipping them: {reason} ({TEST_POSTGRES_VAR})")
        }
        Err(reason) => {
            skipped(&format!(
                "PostgreSQL tests (no database at {}: {reason}; set {TEST_POSTGRES_VAR})",
                redact(&url)
            ));
            false
        }
    }
}

/// Says loudly that the current test skipped `what`, in a line that shows on a passing run too:
/// straight to the process's stderr, since the test harness captures `eprintln!`.
pub fn skipped(what: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!("*** SKIPPED: {what}: {test} ***\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// A URL without its password, if it has one.
fn redact(url: &str) -> String {
    match url.parse::<::postgres::Config>() {
        Ok(config) if config.get_password().is_some() => {
            let user = config.get_user().unwrap_or("");
            format!("a database as {user} with a password")
        }
        _ => url.to_owned(),
    }
}

/// A schema of its own for one test, dropped (with everything in it) when this is dropped.
pub struct TestSchema {
    name: String,
    base_url: String,
    url: String,
}

impl TestSchema {
    /// A new empty schema, or `None` (after the skip line) when there is no database and no CI.
    pub fn create() -> Option<TestSchema> {
        if !postgres_available() {
            return None;
        }
        Some(off_runtime(TestSchema::create_here))
    }

    fn create_here() -> TestSchema {
        let base_url = test_postgres_url();
        let mut client = admin_client(&base_url).expect("the test database answered a moment ago");
        let row = client
            .query_one(
                "SELECT 't_' || substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 20)",
                &[],
            )
            .expect("the test database draws a schema name");
        let name: String = row.get(0);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("the test database creates a schema");
        let url = with_search_path(&base_url, &name);
        TestSchema { name, base_url, url }
    }

    /// The URL whose connections use this schema (through `options=-csearch_path=…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain client on this schema, for looking at (or tampering with) what a store wrote.
    /// Blocking code only: from async code use [`TestSchema::execute`] or `spawn_blocking`.
    pub fn client(&self) -> ::postgres::Client {
        admin_client(&self.url).expect("the test database answers")
    }

    /// Runs one statement on this schema (from async code too): the rows it changed, or the
    /// database's refusal.
    pub fn execute(&self, sql: &str) -> Result<u64, String> {
        off_runtime(|| {
            let mut client = admin_client(&self.url)?;
            client.execute(sql, &[]).map_err(|error| match error.as_db_error() {
                Some(db) => db.to_string(),
                None => error.to_string(),
            })
        })
    }

    /// What `pg_dump` writes of this schema, as an operator's backup would hold it; `None` when the
    /// tool is not installed.
    pub fn pg_dump(&self) -> Option<String> {
        let output = std::process::Command::new("pg_dump")
            .args(["--dbname", &self.base_url, "--schema", &self.name])
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "pg_dump fails: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        off_runtime(|| {
            let Ok(mut client) = admin_client(&self.base_url) else {
                return;
            };
            // A store still connected holds no lock once idle; a stuck one must not hang the test.
            let drop = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            if let Err(error) = client.batch_execute(&drop) {
                eprintln!("test schema {} was left behind: {error}", self.name);
            }
        })
    }
}

/// `url` with its connections' `search_path` set to `schema` (URL or key=value form).
pub fn with_search_path(url: &str, schema: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options=-csearch_path%3D{schema}")
    } else {
        format!("{url} options='-csearch_path={schema}'")
    }
}
