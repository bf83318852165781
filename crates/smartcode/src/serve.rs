//! `smartcode serve`: the data directory (store, broker key, operator token), the listener and a
//! graceful stop on SIGTERM or Ctrl-C.
//!
//! The store is the embedded one in the data directory, or PostgreSQL when `--database` is a
//! `postgres://` URL. Several processes may share one PostgreSQL database; each keeps the broker
//! key and operator token in its own data directory (or `--broker-key-file`), and they must all
//! hold the same broker key: copy the files, never generate one per process.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rand::RngCore;
use smartcode_core::clock::{Clock, ShiftedClock, SystemClock};
use smartcode_core::code::BrokerKey;
use smartcode_core::format::{Alphabet, CodeFormat};
use smartcode_core::numeric::BrokerNumber;
use smartcode_server::keys::Keys;
use smartcode_server::{Broker, BrokerConfig};
use smartcode_store::embedded::EmbeddedStore;
use smartcode_store::postgres::PostgresStore;
use smartcode_store::Store;

pub const BROKER_KEY_FILE: &str = "broker-key";
pub const OPERATOR_TOKEN_FILE: &str = "operator-token";
/// The format of the codes this broker issued, kept beside the broker key: serving them as
/// another would make every code in circulation unreadable.
pub const CODE_FORMAT_FILE: &str = "code-format";

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The data directory: the embedded store (unless --database), the broker key and the operator token.
    #[arg(long, default_value = "./smartcode-data", env = "SMARTCODE_DATA")]
    pub data: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:8080", env = "SMARTCODE_LISTEN")]
    pub listen: String,
    /// A `postgres://` (or `postgresql://`) URL selects PostgreSQL instead of the embedded store.
    /// Its `options` (such as `-csearch_path=NAME`) apply to every connection. No TLS yet.
    #[arg(long, env = "SMARTCODE_DATABASE")]
    pub database: Option<String>,
    /// The broker key file (default: DATA/broker-key). Back it up apart from the store.
    #[arg(long, env = "SMARTCODE_BROKER_KEY_FILE")]
    pub broker_key_file: Option<PathBuf>,
    /// The broker's name, shown in metadata and at the top of every ancestry.
    #[arg(long, default_value = "smartcode broker", env = "SMARTCODE_NAME")]
    pub name: String,
    /// The name codes may carry after `@` to say they belong to this broker.
    #[arg(long, default_value = "localhost", env = "SMARTCODE_DOMAIN")]
    pub domain: String,
    /// The digits every all-digit code of this broker starts with (authorization codes, numeric
    /// aliases): 1 to 6 digits, unique among the brokers that will pay each other.
    #[arg(long, default_value = "1", env = "SMARTCODE_BROKER_NUMBER", value_parser = parse_broker_number)]
    pub broker_number: BrokerNumber,
    /// The alphabet of the secret codes this broker issues: `crockford` (base32) or `digits`.
    #[arg(long, default_value = "crockford", env = "SMARTCODE_CODE_ALPHABET", value_parser = parse_alphabet)]
    pub code_alphabet: Alphabet,
    /// Symbols in a secret code: Crockford 8 to 10 (default 8), digits 13 to 18 (default 13); the
    /// bounds keep the guessing arithmetic of the README. Fixed once codes are issued.
    #[arg(long, env = "SMARTCODE_CODE_LENGTH")]
    pub code_length: Option<usize>,
    /// A proxy (an IP address) whose X-Forwarded-For is believed for the guessing defence. Repeat
    /// for several, or give a comma-separated list. Without it, the connection's address counts.
    #[arg(long = "trusted-proxy", env = "SMARTCODE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// For tests only: let the operator move the broker's clock forward (`POST /v1/admin/clock`).
    #[arg(long)]
    pub test_clock: bool,
    /// Let calls out to sellers (negotiation endpoints) go to private, loopback and link-local
    /// addresses. Off by default: a buyer's offer must not make the broker probe its own network.
    #[arg(long, env = "SMARTCODE_ALLOW_PRIVATE_CALLOUTS")]
    pub allow_private_callouts: bool,
}

fn parse_alphabet(text: &str) -> Result<Alphabet, String> {
    Alphabet::parse(text).ok_or_else(|| "an alphabet is crockford or digits".to_owned())
}

/// The code format asked for, checked against the broker number and against what the data
/// directory says this broker issued before (recorded there the first time; a broker whose key
/// is older than the record issued the default format).
fn code_format(args: &ServeArgs, key_existed: bool) -> Result<BrokerNumber> {
    let length = args.code_length.unwrap_or(*args.code_alphabet.lengths().start());
    let format = CodeFormat::new(args.code_alphabet, length).map_err(|e| anyhow::anyhow!("--code-length: {e}"))?;
    let number = args
        .broker_number
        .clone()
        .for_format(format)
        .map_err(anyhow::Error::msg)?;
    let path = args.data.join(CODE_FORMAT_FILE);
    let issued = match fs::read_to_string(&path) {
        Ok(text) => Some(
            text.parse::<CodeFormat>()
                .map_err(|e| anyhow::anyhow!("{} is unreadable: {e}", path.display()))?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => key_existed.then_some(CodeFormat::DEFAULT),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    if let Some(issued) = issued {
        if issued != format {
            bail!(
                "this broker issues codes of format {issued} ({}); serving it as {format} would make every \
                 code in circulation unreadable. Start it with --code-alphabet {} --code-length {}",
                path.display(),
                issued.alphabet().as_str(),
                issued.length()
            );
        }
    }
    if !path.exists() {
        fs::write(&path, format!("{format}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(number)
}

fn parse_broker_number(text: &str) -> Result<BrokerNumber, String> {
    BrokerNumber::parse(text).ok_or_else(|| {
        format!(
            "a broker number is {} to {} digits",
            smartcode_core::numeric::BROKER_NUMBER_DIGITS_MIN,
            smartcode_core::numeric::BROKER_NUMBER_DIGITS_MAX
        )
    })
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let database = args.database.as_deref().filter(|url| !url.trim().is_empty());
    if let Some(url) = database {
        check_database_url(url)?;
    }
    create_private_dir(&args.data)?;
    let key_path = args
        .broker_key_file
        .clone()
        .unwrap_or_else(|| args.data.join(BROKER_KEY_FILE));
    let token_path = args.data.join(OPERATOR_TOKEN_FILE);
    let key_existed = key_path.exists();
    let broker_key = load_or_create_broker_key(&key_path)?;
    let broker_number = code_format(&args, key_existed)?;
    let operator_token = load_or_create_operator_token(&token_path)?;

    let test_clock = args.test_clock.then(|| Arc::new(ShiftedClock::default()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(shifted) => {
            tracing::warn!("test clock enabled: the operator can move this broker's time forward");
            shifted.clone()
        }
        None => Arc::new(SystemClock),
    };
    let store = OpenStore::open(database, &args.data, clock.clone())?;
    let config = BrokerConfig {
        name: args.name.clone(),
        domain: args.domain.clone(),
        broker_number,
        trusted_proxies: args.trusted_proxies.clone(),
        allow_private_callouts: args.allow_private_callouts,
    };
    let state = Broker::new(
        config,
        store.shared(),
        Keys::derive(broker_key),
        clock,
        test_clock,
        &operator_token,
    );

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Written with errors ignored: a closed stdout must not stop a broker.
    let banner = banner(address, &token_path, &store.describe());
    let _ = std::io::stdout()
        .write_all(banner.as_bytes())
        .and_then(|()| std::io::stdout().flush());
    tracing::info!(listen = %address, store = store.kind(), "broker started");
    tokio::spawn(smartcode_server::resolve_charges_in_doubt(state.clone()));
    tokio::spawn(smartcode_server::webhooks::deliver(state.clone()));

    smartcode_server::listen::serve(listener, smartcode_server::router(state), crate::process::stop_signal()).await;
    // Requests in flight are done; let the writer commit what it holds, then stop.
    store.close();
    tracing::info!("broker stopped");
    Ok(())
}

/// What `serve` prints when it listens: where it is, where the operator token and the store are,
/// and the lines to paste into another terminal so the client talks to this broker (from any
/// directory: the token file's path is absolute there).
fn banner(address: std::net::SocketAddr, token_path: &Path, store: &str) -> String {
    let url = format!("http://{}", reachable(address));
    let token_file = fs::canonicalize(token_path).unwrap_or_else(|_| token_path.to_owned());
    format!(
        "smartcode broker listening on http://{address}\n  web page:       {url}/\n  operator token: {}\n  store:          {store}\n\n\
         To use this broker from another terminal, paste:\n  export SMARTCODE_BROKER={url}\n  export SMARTCODE_OPERATOR_TOKEN_FILE={}\n",
        token_path.display(),
        token_file.display(),
    )
}

/// An address a client on this machine can connect to: a wildcard listen address (`0.0.0.0`,
/// `[::]`) becomes the loopback address of its family.
fn reachable(address: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, address.port())
}

/// The store `serve` runs on.
enum OpenStore {
    Embedded(Arc<EmbeddedStore>),
    Postgres(Arc<PostgresStore>),
}

impl OpenStore {
    fn open(database: Option<&str>, data: &Path, clock: Arc<dyn Clock>) -> Result<OpenStore> {
        match database {
            None => {
                let store = EmbeddedStore::open(data, clock).map_err(|e| anyhow::anyhow!("opening the store: {e}"))?;
                Ok(OpenStore::Embedded(Arc::new(store)))
            }
            // The error never repeats the URL: it may hold a password.
            Some(url) => {
                let store = PostgresStore::open(url, clock)
                    .map_err(|e| anyhow::anyhow!("opening the PostgreSQL store: {e}"))?;
                Ok(OpenStore::Postgres(Arc::new(store)))
            }
        }
    }

    fn shared(&self) -> Arc<dyn Store> {
        match self {
            OpenStore::Embedded(store) => store.clone(),
            OpenStore::Postgres(store) => store.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        self.shared().kind()
    }

    /// Where the store is, for the banner: a file, or a database without its password.
    fn describe(&self) -> String {
        match self {
            OpenStore::Embedded(store) => store.database_path().display().to_string(),
            OpenStore::Postgres(store) => store.location().to_owned(),
        }
    }

    fn close(&self) {
        match self {
            OpenStore::Embedded(store) => store.close(),
            OpenStore::Postgres(store) => store.close(),
        }
    }
}

/// Only PostgreSQL is a database `serve` can use; anything else is refused before any file is made.
fn check_database_url(url: &str) -> Result<()> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
        return Ok(());
    }
    let shown = if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') {
        "that value".to_owned()
    } else {
        format!("a {scheme}:// URL")
    };
    bail!(
        "--database takes a postgres:// or postgresql:// URL, not {shown}; leave it out to use the embedded store in the data directory"
    )
}

fn create_private_dir(path: &Path) -> Result<()> {
    if !path.exists() {
        fs::create_dir_all(path).with_context(|| format!("creating the data directory {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a new file readable by its owner only, refusing to overwrite one that exists.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn warn_if_shared(path: &Path) -> Result<()> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "secret file is readable by others; chmod 600 it");
    }
    Ok(())
}

fn load_or_create_broker_key(path: &Path) -> Result<BrokerKey> {
    if !path.exists() {
        let key = BrokerKey::generate();
        write_private(path, &format!("{}\n", hex::encode(key.expose_bytes())))?;
        tracing::info!(file = %path.display(), "created a new broker key; back it up apart from the store");
        return Ok(key);
    }
    warn_if_shared(path)?;
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    let Some(bytes) = bytes else {
        bail!("{} must hold 64 hex digits (a 256-bit key)", path.display())
    };
    Ok(BrokerKey::from_bytes(bytes))
}

fn load_or_create_operator_token(path: &Path) -> Result<String> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        write_private(path, &format!("{token}\n"))?;
        return Ok(token);
    }
    warn_if_shared(path)?;
    let token = fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned();
    if token.len() < 16 {
        bail!("{} must hold a token of at least 16 characters", path.display());
    }
    Ok(token)
}
