//! What a seller configures, read once into checked values: the broker it is paid at, its public
//! code, its price, and how its offers look and last ([`PaywallBuilder`]). Everything a seller
//! types is parsed here, so the rest of the crate holds only values that are already right.

use std::sync::Arc;
use std::time::Duration;

use smartcode_api::Money;
use smartcode_core::clock::{Clock, SystemClock};
use smartcode_core::code::{parse_code, ParsedCode, PublicCode};
use smartcode_core::format::CodeFormat;
use smartcode_core::money::{Amount, AmountError, Currency};

use crate::negotiation::SellerStrategy;
use crate::Paywall;

/// How long an offer may be paid by default: five minutes.
pub const OFFER_LIFETIME_SECONDS_DEFAULT: i64 = 5 * 60;
/// The longest lifetime a seller may give its offers: one day.
pub const OFFER_LIFETIME_SECONDS_MAX: i64 = 24 * 3600;
/// The most rounds an offer may allow; the buyer's broker bids no more than this anyway.
pub const MAX_ROUNDS_MAX: u32 = 10;
/// A category's length, as the broker bounds it.
pub const CATEGORY_CHARS_MAX: usize = 100;

/// A price: an exact amount of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    amount: Amount,
    currency: Currency,
}

impl Price {
    pub fn new(amount: Amount, currency: Currency) -> Price {
        Price { amount, currency }
    }

    /// Reads a decimal amount (`"0.02"`) and a three-letter currency (`"USD"`).
    pub fn parse(amount: &str, currency: &str) -> Result<Price, ConfigError> {
        let amount = Amount::parse(amount.trim()).map_err(ConfigError::Amount)?;
        let currency = Currency::parse(currency.trim()).map_err(|_| ConfigError::Currency)?;
        Ok(Price { amount, currency })
    }

    pub fn amount(&self) -> Amount {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The same currency, another amount.
    pub fn with_amount(&self, amount: Amount) -> Price {
        Price { amount, ..*self }
    }

    /// As the JSON writes it: `{"amount": "0.02", "currency": "USD"}`.
    pub fn to_money(&self) -> Money {
        Money {
            amount: self.amount.to_string(),
            currency: self.currency.to_string(),
        }
    }
}

/// Why a paywall's configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the broker's address must be an absolute http:// or https:// URL without query or fragment, such as http://127.0.0.1:8080")]
    BrokerUrl,
    #[error("the payee must be a public code, such as P-4WZ8N-K3QJD")]
    Payee,
    #[error("price: {0}")]
    Amount(AmountError),
    #[error("the currency must be three letters, such as USD")]
    Currency,
    #[error("a category is 1 to {CATEGORY_CHARS_MAX} characters, none of them control characters")]
    Category,
    #[error("an offer lasts from 1 second to {OFFER_LIFETIME_SECONDS_MAX} seconds")]
    OfferLifetime,
    #[error("the negotiation endpoint must be an absolute http:// or https:// URL, such as https://seller.example/negotiate")]
    Endpoint,
    #[error("an offer allows 1 to {MAX_ROUNDS_MAX} rounds of negotiation")]
    MaxRounds,
    #[error("no HTTP client for the broker: {0}")]
    HttpClient(String),
}

/// Where and how the seller negotiates, once checked.
#[derive(Clone)]
pub(crate) struct Negotiation {
    pub endpoint: String,
    pub max_rounds: u32,
    pub strategy: Arc<dyn SellerStrategy>,
}

/// Names what a path sells, for the offer's description.
pub(crate) type Describe = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A paywall's configuration, checked.
#[derive(Clone)]
pub(crate) struct Config {
    /// The broker's base URL, without a trailing `/`.
    pub broker: String,
    pub payee: PublicCode,
    pub price: Price,
    pub category: Option<String>,
    pub describe: Describe,
    pub offer_lifetime_seconds: i64,
    pub verify_signatures: bool,
    pub negotiation: Option<Negotiation>,
}

/// Builds a [`Paywall`]: [`Paywall::builder`], a few optional settings, then [`PaywallBuilder::build`],
/// which checks everything at once.
pub struct PaywallBuilder {
    broker: String,
    payee: String,
    price: Price,
    category: Option<String>,
    describe: Describe,
    offer_lifetime: Duration,
    verify_signatures: bool,
    negotiation: Option<(String, u32, Arc<dyn SellerStrategy>)>,
    clock: Arc<dyn Clock>,
}

impl PaywallBuilder {
    pub(crate) fn new(broker: String, payee: String, price: Price) -> PaywallBuilder {
        PaywallBuilder {
            broker,
            payee,
            price,
            category: None,
            describe: Arc::new(|path: &str| format!("Access to {path}")),
            offer_lifetime: Duration::from_secs(OFFER_LIFETIME_SECONDS_DEFAULT as u64),
            verify_signatures: true,
            negotiation: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The category the offers name (a buyer's spending rules match on it).
    pub fn category(mut self, category: impl Into<String>) -> PaywallBuilder {
        self.category = Some(category.into());
        self
    }

    /// The offer's description for a request path (default: `Access to {path}`); cut to the
    /// broker's bound.
    pub fn describe(mut self, describe: impl Fn(&str) -> String + Send + Sync + 'static) -> PaywallBuilder {
        self.describe = Arc::new(describe);
        self
    }

    /// How long an offer may be paid (default five minutes, whole seconds, at most a day).
    pub fn offer_lifetime(mut self, lifetime: Duration) -> PaywallBuilder {
        self.offer_lifetime = lifetime;
        self
    }

    /// Whether a receipt's Ed25519 signature is checked against the key the broker publishes in
    /// `/.well-known/smartcode` (default: yes).
    pub fn verify_signatures(mut self, verify: bool) -> PaywallBuilder {
        self.verify_signatures = verify;
        self
    }

    /// Makes the offers negotiable: bids go to `endpoint` (the absolute URL where the seller
    /// mounts [`Paywall::negotiation_route`]), at most `max_rounds` of them per offer, answered
    /// by `strategy`.
    pub fn negotiable(
        mut self,
        endpoint: impl Into<String>,
        max_rounds: u32,
        strategy: impl SellerStrategy,
    ) -> PaywallBuilder {
        self.negotiation = Some((endpoint.into(), max_rounds, Arc::new(strategy)));
        self
    }

    /// The clock offers expire by (default: the system's); tests give a manual one.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> PaywallBuilder {
        self.clock = clock;
        self
    }

    /// Checks the configuration and makes the paywall.
    pub fn build(self) -> Result<Paywall, ConfigError> {
        let broker = http_url(&self.broker).ok_or(ConfigError::BrokerUrl)?;
        let payee = public_code(&self.payee).ok_or(ConfigError::Payee)?;
        let category = match self.category {
            Some(category) => Some(checked_category(category)?),
            None => None,
        };
        let seconds = self.offer_lifetime.as_secs();
        if seconds == 0 || seconds > OFFER_LIFETIME_SECONDS_MAX as u64 {
            return Err(ConfigError::OfferLifetime);
        }
        let negotiation = match self.negotiation {
            Some((endpoint, max_rounds, strategy)) => Some(Negotiation {
                endpoint: http_url(&endpoint).ok_or(ConfigError::Endpoint)?,
                max_rounds: checked_rounds(max_rounds)?,
                strategy,
            }),
            None => None,
        };
        let config = Config {
            broker,
            payee,
            price: self.price,
            category,
            describe: self.describe,
            offer_lifetime_seconds: seconds as i64,
            verify_signatures: self.verify_signatures,
            negotiation,
        };
        Paywall::from_config(config, self.clock)
    }
}

/// Reads a seller's public code as a person may type it (case, spaces and hyphens ignored).
pub(crate) fn public_code(text: &str) -> Option<PublicCode> {
    match parse_code(text.trim(), "", CodeFormat::DEFAULT) {
        Ok(ParsedCode::Public(code)) => Some(code),
        _ => None,
    }
}

/// An absolute `http` or `https` URL with a host and no query or fragment, as text without a
/// trailing `/`.
fn http_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    let fits = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    fits.then(|| url.as_str().trim_end_matches('/').to_owned())
}

fn checked_category(category: String) -> Result<String, ConfigError> {
    let length = category.chars().count();
    if length == 0 || length > CATEGORY_CHARS_MAX || category.chars().any(char::is_control) {
        return Err(ConfigError::Category);
    }
    Ok(category)
}

fn checked_rounds(max_rounds: u32) -> Result<u32, ConfigError> {
    if max_rounds == 0 || max_rounds > MAX_ROUNDS_MAX {
        return Err(ConfigError::MaxRounds);
    }
    Ok(max_rounds)
}
