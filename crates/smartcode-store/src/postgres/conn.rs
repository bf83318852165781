//! One connection to PostgreSQL with its prepared statements, and how the store reads an error.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Statement};
use smartcode_core::error::StorageFailure;
pub use smartcode_core::limits::{CONNECT_TIMEOUT_SECONDS, LOCK_WAIT_MS_MAX};

/// What the store does after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The transaction lost a race with another process (serialization failure, deadlock, lock
    /// wait too long). Nothing of it is kept: run it again.
    Retry,
    /// The connection is gone. A transaction open on it did not commit, unless COMMIT itself was
    /// in flight, when nobody can say.
    Lost,
    /// Anything else: a bug, a full disk, a corrupted row.
    Fatal,
}

pub fn classify(error: &postgres::Error) -> ErrorKind {
    let Some(code) = error.code() else {
        let io = std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
        return if error.is_closed() || io {
            ErrorKind::Lost
        } else {
            ErrorKind::Fatal
        };
    };
    let retry = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
    ];
    if retry.contains(code) {
        return ErrorKind::Retry;
    }
    // Class 08 (connection exception) and the server going down (57P01..57P03).
    let lost = code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .contains(code);
    if lost {
        ErrorKind::Lost
    } else {
        ErrorKind::Fatal
    }
}

/// An error as the log should show it: the server's message and SQLSTATE when there is one.
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("postgres {}: {db}", db.code().code()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("postgres: {error}: {source}"),
            None => format!("postgres: {error}"),
        },
    }
}

pub fn failure(error: &postgres::Error) -> StorageFailure {
    StorageFailure(describe(error))
}

/// Parses a `postgres://` URL (or key=value string) without ever echoing it: it may hold a password.
pub fn parse_config(url: &str) -> Result<Config, StorageFailure> {
    let mut config: Config = url
        .parse()
        .map_err(|error: postgres::Error| StorageFailure(format!("the database URL is not valid: {error}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECONDS));
    }
    if config.get_application_name().is_none() {
        config.application_name("smartcode");
    }
    Ok(config)
}

/// Where a configuration points, for logs and the banner: never the password.
pub fn location(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}

pub struct Conn {
    client: Client,
    /// Prepared once per connection: a cached statement costs one round trip, not two.
    statements: HashMap<String, Statement>,
}

impl Conn {
    pub fn connect(config: &Config) -> Result<Conn, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        // `synchronous_commit = on` is PostgreSQL's default, set anyway so that neither the
        // server's configuration nor the URL can trade an acknowledged payment for speed.
        client.batch_execute(&format!(
            "SET synchronous_commit = on; SET lock_timeout = '{LOCK_WAIT_MS_MAX}ms'"
        ))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// A connection for a writer. The writer only ever reads and writes rows by key, so it tells
    /// the planner never to scan a whole table where an index serves: otherwise a statement first
    /// planned while a table was small (or before autovacuum has analyzed it) keeps a plan that
    /// scans the table, and a batch's `= ANY($1)` lookups slow down as the table grows.
    pub fn connect_writer(config: &Config) -> Result<Conn, postgres::Error> {
        let mut conn = Conn::connect(config)?;
        conn.client.batch_execute("SET enable_seqscan = off")?;
        Ok(conn)
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    pub fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params)
    }

    pub fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    pub fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    /// Runs statements without parameters in one round trip (transaction control, DDL).
    pub fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}
