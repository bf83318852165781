//! The command line's arguments, as clap reads them: the first of its two stages (the second,
//! in `cli/mod.rs`, turns them into client calls and prints the answers).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use smartcode_client::*;

use crate::serve::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "smartcode",
    version,
    about = "A micropayment broker: short secret codes that hold money, and the client to use them."
)]
pub struct Args {
    /// The broker to talk to.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080",
        env = "SMARTCODE_BROKER"
    )]
    pub(super) broker: String,
    /// The secret code to act with. Prefer the SMARTCODE_CODE variable: arguments are visible to other local users.
    #[arg(long, global = true, env = "SMARTCODE_CODE", hide_env_values = true)]
    pub(super) code: Option<String>,
    /// The code's PIN, if it has one. Prefer the SMARTCODE_PIN variable.
    #[arg(long, global = true, env = "SMARTCODE_PIN", hide_env_values = true)]
    pub(super) pin: Option<String>,
    /// A file holding the operator token (default: ./smartcode-data/operator-token if it exists).
    #[arg(long, global = true, env = "SMARTCODE_OPERATOR_TOKEN_FILE")]
    pub(super) operator_token_file: Option<PathBuf>,
    /// A seller key (`smartcode seller-key`): presents buyers' codes as that seller's server, whose
    /// wrong codes count against the seller, not the address. Prefer SMARTCODE_SELLER_KEY.
    #[arg(long, global = true, env = "SMARTCODE_SELLER_KEY", hide_env_values = true)]
    pub(super) seller_key: Option<String>,
    /// Where proofs of earlier successes are kept, one per broker (default: the XDG state
    /// directory, ~/.local/state/smartcode/proofs.json).
    #[arg(long, global = true, env = "SMARTCODE_PROOF_FILE")]
    pub(super) proof_file: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub(super) json: bool,
    /// Send this Idempotency-Key, so a retried command happens once.
    #[arg(long, global = true)]
    pub(super) idempotency_key: Option<String>,
    #[command(subcommand)]
    pub(super) command: Cmd,
}

#[derive(Subcommand, Debug)]
pub(super) enum Cmd {
    /// Run the broker.
    Serve(ServeArgs),
    /// Measure payments per second and latency (of a broker it starts, or --remote at --broker).
    Bench(crate::bench::BenchArgs),
    /// Operator: issue a new code for money received outside the system.
    Issue {
        #[arg(long)]
        amount: String,
        #[arg(long)]
        currency: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Operator: add money to an existing code (by its secret with --to, or by --code-id).
    Deposit {
        #[arg(long, conflicts_with = "code_id")]
        to: Option<String>,
        #[arg(long)]
        code_id: Option<String>,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        currency: String,
    },
    /// Operator: pay value out of a code to its holder outside the system (it goes back to the issuance account).
    Payout {
        /// The code to pay out of, by its id (c_…).
        code_id: String,
        #[arg(long)]
        amount: String,
        /// Your record of the payment outside the system, such as a bank transfer's reference.
        #[arg(long)]
        reference: String,
        /// The code's currency, checked if given.
        #[arg(long)]
        currency: Option<String>,
    },
    /// Operator: prove that every currency sums to zero, that what was issued less what was paid out is held by codes, and that no balance is negative.
    Check,
    /// Operator: the guessing defence: who failed lately, the alarm, and what to do about them.
    Security {
        #[command(subcommand)]
        action: Option<SecurityAction>,
    },
    /// The seller key of this code's tree, for a server that presents its buyers' codes.
    SellerKey,
    /// A code's balance and status.
    #[command(alias = "show")]
    Balance,
    /// Create a child: secret with --amount, or public with --public.
    Child {
        #[arg(long, conflicts_with = "public")]
        amount: Option<String>,
        #[arg(long)]
        public: bool,
        #[arg(long)]
        label: Option<String>,
        /// Seconds until the child expires and its value reverts to this code.
        #[arg(long, conflicts_with_all = ["public", "expires"])]
        expires_in: Option<i64>,
        /// When the child expires (RFC 3339, such as 2027-01-31T00:00:00Z).
        #[arg(long, conflicts_with = "public")]
        expires: Option<String>,
        /// The child cannot be cancelled by this code: its value is its holder's for good.
        #[arg(long, conflicts_with = "public")]
        irrevocable: bool,
        /// How many payments the child may make.
        #[arg(long, conflicts_with = "public")]
        uses: Option<u32>,
        /// A secret child: a category it may pay for. A public code: a category it sells, which
        /// the broker stamps on each payment into it (repeat for several).
        #[arg(long = "category")]
        categories: Vec<String>,
        /// A public code the child may pay (repeat for several).
        #[arg(long = "payee", conflicts_with = "public")]
        payees: Vec<String>,
        /// A secret child: an item it may pay for. A public code: an item it sells (repeat for
        /// several).
        #[arg(long = "item")]
        items: Vec<String>,
        /// The most one payment may be.
        #[arg(long, conflicts_with = "public")]
        per_use: Option<String>,
        /// The most the child may spend per period: AMOUNT/SECONDS, or AMOUNT/hour|day|week.
        #[arg(long, conflicts_with = "public", value_parser = parse_per_period)]
        per_period: Option<SpendRequest>,
        /// Nest the new public code under one of this code's public codes (its id).
        #[arg(long, requires = "public")]
        under: Option<String>,
        /// Profile name shown on the public code's page.
        #[arg(long, requires = "public")]
        name: Option<String>,
        #[arg(long, requires = "public")]
        description: Option<String>,
    },
    /// This code's direct children.
    Children,
    /// Move more value into a child.
    Fund {
        child_id: String,
        #[arg(long)]
        amount: String,
    },
    /// The broker's exchange rates: `rates set FROM TO RATE [--fee-bps N]`, `rates list`, and
    /// the operator's `rates position`.
    Rates {
        #[command(subcommand)]
        action: RatesAction,
    },
    /// Operator: the other brokers this one federates with: `peer add URL`, `peer list`,
    /// `peer suspend|resume|remove|position NAME`, `peer settle NAME`.
    Peer {
        #[command(subcommand)]
        action: PeerAction,
    },
    /// What a price in one currency costs in another, fee included, fixed for 15 minutes; pay it
    /// with `smartcode pay --payee P --quote ID`.
    Quote {
        /// The currency the buyer pays in.
        #[arg(long)]
        pay_currency: String,
        /// The price, as "AMOUNT CURRENCY" ("10 USD").
        #[arg(long)]
        price: String,
        /// The only public code the quote will pay.
        #[arg(long)]
        payee: Option<String>,
    },
    /// Cancel a child and everything below it, and take back what they held.
    Cancel { child_id: String },
    /// Pay a public code with this code (--code or SMARTCODE_CODE is the buyer's code): --amount
    /// in the code's currency, or with --quote the quote's price in another (this code pays the
    /// quote's amount in its own).
    Pay {
        #[arg(long)]
        payee: String,
        #[arg(long, required_unless_present = "quote")]
        amount: Option<String>,
        /// A quote's id (from `smartcode quote`): pays its price, in the price's currency.
        #[arg(long)]
        quote: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        memo: Option<String>,
        /// Which of the payee's categories this is for; checked against what the payee sells
        /// (the broker stamps the payee's category, never the payer's word).
        #[arg(long)]
        category: Option<String>,
        /// Which of the payee's items this buys; checked against what the payee sells.
        #[arg(long)]
        item: Option<String>,
        /// With an assurance code as the code: the certificate this payment is made under.
        #[arg(long)]
        certificate: Option<String>,
    },
    /// Set value aside on this code (--code or SMARTCODE_CODE, the buyer's) for a seller, who
    /// captures or voids it later; it voids by itself after --expires-in seconds (default 3600).
    Hold {
        #[arg(long)]
        payee: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        memo: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        item: Option<String>,
        /// Seconds until the hold voids by itself (at most 30 days).
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// As the seller (the code that owns the payee): take a hold, or --amount of it, as a payment.
    Capture {
        hold_id: String,
        #[arg(long)]
        amount: Option<String>,
    },
    /// As the seller: give a hold back whole.
    Void { hold_id: String },
    /// As the seller (the code that owns the payee): give back a payment, or --amount of it,
    /// within 180 days; it goes to the paying code.
    Refund {
        receipt_id: String,
        #[arg(long)]
        amount: Option<String>,
        /// Why, shown in both sides' history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Make an authorization code for exactly AMOUNT on this code (--code or SMARTCODE_CODE): an
    /// all-digit code a seller presents once, like a secret code; it gives its value back when it
    /// expires (--expires-in seconds, default 900, at most 86400). --list shows them; --cancel ID
    /// gives one's value back at once.
    Authorize {
        #[arg(required_unless_present_any = ["list", "cancel"])]
        amount: Option<String>,
        /// The only public code it may pay.
        #[arg(long)]
        payee: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        expires_in: Option<i64>,
        #[arg(long, conflicts_with_all = ["amount", "cancel"])]
        list: bool,
        #[arg(long, conflicts_with = "amount")]
        cancel: Option<String>,
    },
    /// Give this code (or --public CHILD_ID, one of its public codes) an all-digit alias, usable
    /// wherever the code is; it replaces any alias the code had. --remove takes it away.
    Alias {
        #[arg(long)]
        public: Option<String>,
        #[arg(long)]
        remove: bool,
    },
    /// This code's spending rules (zero-click buying): `show` them with what each has spent and
    /// left, or `set` them from a JSON file (`{"rules": [...]}`, as PUT /v1/me/rules; `-` reads
    /// standard input).
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Fetch a URL; on 402 Payment Required, buy its offer under this code's spending rules with
    /// no one asked and print the content, or say that an approval waits (exit status 3).
    Fetch(super::buying::FetchArgs),
    /// The purchases this code's spending rules did not settle: list, approve or decline them.
    Approvals {
        #[command(subcommand)]
        action: super::buying::ApprovalsAction,
    },
    /// Webhooks: subscribe a URL to this code's public codes' events, and verify deliveries.
    Webhook {
        #[command(subcommand)]
        action: super::webhook::WebhookAction,
    },
    /// This code's metered sessions (offers priced per minute): list them, or close one.
    Sessions {
        #[command(subcommand)]
        action: super::buying::SessionsAction,
    },
    /// Items this code sells: create one, upload its content, list them.
    Items {
        #[command(subcommand)]
        action: super::items::ItemsAction,
    },
    /// Buy an item with this code and save it (--out FILE) or print its download's address.
    Buy(super::items::BuyArgs),
    /// Assurance codes: the broker certifies to a seller that at least a floor remains on this code.
    Assurance {
        #[command(subcommand)]
        action: AssuranceAction,
    },
    /// This code's transactions, newest first.
    History {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
        /// Print every transaction of the window as CSV (up to 10,000; without --limit).
        #[arg(long)]
        csv: bool,
    },
    /// Totals in and out, by day, month or public code.
    Report {
        #[arg(long = "by", default_value = "day", value_parser = ["day", "month", "public_code"])]
        group_by: String,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// Print CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Edit the public profile of this code, or of one of its public codes with --child.
    Profile {
        #[arg(long)]
        child: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        contact: Option<String>,
        #[arg(long)]
        show_stats: bool,
        /// A category the public code sells (repeat for several); the profile is replaced whole,
        /// so give every category each time.
        #[arg(long = "category", requires = "child")]
        categories: Vec<String>,
        /// An item the public code sells (repeat for several).
        #[arg(long = "item", requires = "child")]
        items: Vec<String>,
    },
    /// Set, change or remove this code's PIN (the current one goes in --pin or SMARTCODE_PIN).
    Pin {
        #[command(subcommand)]
        action: PinAction,
    },
    /// Replace this code's secret with a new one; id, balance, children and history stay.
    Rekey,
    /// Let a child locked by wrong PINs work again (with --operator: any code, by the operator).
    Unlock {
        child_id: String,
        /// Act as the operator: for an issued code, which has no parent to unlock it.
        #[arg(long)]
        operator: bool,
    },
    /// Stand behind a name: mark a descendant's profile as checked by this code (with --operator,
    /// any code's, by the broker). Its pages then show the name as checked, not self-declared.
    Vouch {
        /// The code whose profile you checked: its id (c_…) or, for a public code, the public code.
        #[arg(value_name = "CODE")]
        target: String,
        /// The name you checked; refused if the profile's name is another by now.
        #[arg(long, required_unless_present = "withdraw")]
        name: Option<String>,
        /// Take the mark back (yours, or one made below you).
        #[arg(long, conflicts_with = "name")]
        withdraw: bool,
        /// Act as the operator: check as the broker, any code.
        #[arg(long)]
        operator: bool,
    },
    /// Look up a public code: its profile and ancestry, and who checked each name.
    Public { public_code: String },
    /// Look up a receipt by id, or read one from a JSON file; --verify checks its signature offline.
    Receipt {
        /// A receipt id (`r_…`), or the path of a file holding a receipt's JSON (as the broker
        /// answered it, or the receipt object alone).
        receipt: String,
        /// Check the signature here, against the broker's published key: fails (exit 1) if it
        /// does not verify.
        #[arg(long)]
        verify: bool,
        /// The broker's public key (hex) to check against, instead of fetching
        /// `/.well-known/smartcode` from --broker.
        #[arg(long, value_name = "HEX")]
        key: Option<String>,
    },
    /// Print shell completions: `smartcode completions bash > ~/.local/share/bash-completion/completions/smartcode`.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// The shells `completions` writes for.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Debug)]
pub(super) enum RatesAction {
    /// Operator: set the rate from FROM to TO (RATE units of TO per unit of FROM) and its fee.
    Set {
        from: String,
        to: String,
        rate: String,
        /// The fee a quote adds, in basis points (50 is 0.5%).
        #[arg(long)]
        fee_bps: Option<u32>,
    },
    /// Every rate the broker keeps.
    List,
    /// Operator: the exchange account's position per currency.
    Position,
}

#[derive(Subcommand, Debug)]
pub(super) enum PeerAction {
    /// Add the broker at URL as a peer: reads its /.well-known/smartcode, shows its key's
    /// fingerprint and pins the key.
    Add {
        url: String,
        /// The name to know it by (default: its domain).
        #[arg(long)]
        name: Option<String>,
        /// The most it may owe this broker, such as "1000 USD"; repeat for each currency.
        #[arg(long = "credit-limit")]
        credit_limits: Vec<String>,
        /// Its signing key (64 hex digits), checked out of band: refused if it publishes another.
        #[arg(long)]
        key: Option<String>,
        /// Show it on this broker's page and in its metadata.
        #[arg(long)]
        listed: bool,
    },
    /// Every peer, with its status and key fingerprint.
    List,
    /// Refuse the peer's messages, both ways, until resumed.
    Suspend { name: String },
    /// Take a suspended peer's messages again.
    Resume { name: String },
    /// Show the peer on this broker's page (/broker) and in its metadata.
    Show { name: String },
    /// Stop showing the peer.
    Hide { name: String },
    /// Forget the peer (once its position is settled).
    Remove { name: String },
    /// Where this broker stands with the peer, per currency.
    Position { name: String },
    /// Record money paid between this broker and the peer outside the system.
    Settle {
        name: String,
        /// The amount and currency, such as "250 USD".
        #[arg(long)]
        amount: String,
        /// `received` (the peer paid this broker) or `paid` (this broker paid the peer).
        #[arg(long)]
        direction: String,
        /// The record of the payment (a bank transfer's id).
        #[arg(long)]
        reference: String,
        /// Send this Idempotency-Key, so a retried settlement is recorded once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// This broker's signed statement of every charge and settlement with the peer.
    Statement {
        name: String,
        /// The beginning of the statement's period, RFC 3339 (default: the first charge).
        #[arg(long)]
        since: Option<String>,
        /// The end of the statement, RFC 3339 (default: a minute ago).
        #[arg(long)]
        until: Option<String>,
    },
    /// Fetch the peer's statement and compare it with this broker's: exits 1 on any difference.
    Reconcile {
        name: String,
        /// The beginning of both statements' period, RFC 3339 (default: the first charge).
        #[arg(long)]
        since: Option<String>,
        /// The end of both statements, RFC 3339 (default: a minute ago).
        #[arg(long)]
        until: Option<String>,
    },
    /// What crossed between this broker and the peer, each way, per day and currency.
    Report {
        name: String,
        /// RFC 3339 (default: the first charge).
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339 (default: now).
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum SecurityAction {
    /// Forget the failures of an address (192.0.2.7), a network (192.0.2.0/24), a tree (c_…) or
    /// a peer broker (peer:NAME).
    Forgive { source: String },
    /// End the alarm: unknown sources get their free tries back, and no work is asked.
    EndAlarm,
}

#[derive(Subcommand, Debug)]
pub(super) enum PinAction {
    /// Give a code without a PIN its first one.
    Set(NewPin),
    /// Replace the PIN; the current one goes in --pin or SMARTCODE_PIN.
    Change(NewPin),
    /// Remove the PIN; the current one goes in --pin or SMARTCODE_PIN.
    Remove,
}

#[derive(clap::Args, Debug)]
pub(super) struct NewPin {
    /// The new PIN, 4 to 12 digits. Prefer the SMARTCODE_NEW_PIN variable.
    #[arg(long, env = "SMARTCODE_NEW_PIN", hide_env_values = true)]
    pub(super) new_pin: String,
}

/// Reads `AMOUNT/SECONDS` or `AMOUNT/hour|day|week`.
fn parse_per_period(text: &str) -> Result<SpendRequest, String> {
    let (amount, period) = text
        .split_once('/')
        .ok_or_else(|| "write AMOUNT/SECONDS or AMOUNT/hour|day|week, such as 5/day".to_owned())?;
    let period_seconds = match period {
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        seconds => seconds
            .parse::<i64>()
            .map_err(|_| format!("{seconds:?} is not a number of seconds, hour, day or week"))?,
    };
    Ok(SpendRequest {
        amount: amount.into(),
        period_seconds,
    })
}

/// `smartcode rules`.
#[derive(Subcommand, Debug)]
pub enum RulesAction {
    /// The rules, in order, with what each has spent and has left now.
    Show,
    /// Replace the rules with those of FILE (`{"rules": [...]}`; `{"rules": []}` removes them).
    Set { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum AssuranceAction {
    /// Make an assurance code with --floor on this code (--code or SMARTCODE_CODE); shown once.
    Create {
        #[arg(long)]
        floor: String,
        /// Seconds it lasts (default 30 days).
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// This code's assurances.
    List,
    /// Revoke an assurance: no new certificates.
    Cancel { id: String },
    /// As a seller: have an assurance code certified for --payee; prints the signed certificate.
    Certify {
        assurance_code: String,
        #[arg(long)]
        payee: String,
    },
    /// Check a certificate (a JSON file, as `certify` printed it or the broker answered it) offline
    /// against the broker's public key (--key, or fetched once from --broker's metadata).
    Verify {
        file: PathBuf,
        #[arg(long)]
        key: Option<String>,
    },
}
