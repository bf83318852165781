//! `archive-seller`: an example seller for zero-click buying. It serves an archive of short
//! articles: the list (`/`) is free, each article (`/articles/{n}`) answers `402 Payment
//! Required` with a smartcode offer until the request carries a receipt that paid it
//! (`Smartcode-Payment`), checked with the seller's broker by `smartcode-seller`'s layer. Offers
//! are negotiable at `POST /negotiate` on the same server unless `--no-negotiation`.
//!
//! It prints one line, `archive-seller listening on http://ADDR`, once it accepts connections,
//! and stops on SIGTERM or Ctrl-C after the requests in flight.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use smartcode_seller::{Amount, Floor, Paywall, Price};

#[path = "../process.rs"]
mod process;

/// An example seller: a paywalled archive of articles, paid with smartcode.
#[derive(Parser, Debug)]
#[command(name = "archive-seller", version)]
struct Args {
    /// The seller's broker, where receipts are checked.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    broker: String,
    /// The seller's public code at that broker: the payee of every offer.
    #[arg(long)]
    payee: String,
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// The archive's address as buyers reach it, for the negotiation endpoint in offers
    /// (default: http:// and the address listened on).
    #[arg(long)]
    public_url: Option<String>,
    /// The price of one article.
    #[arg(long, default_value = "0.02")]
    price: String,
    /// The price's currency.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// The category the offers name.
    #[arg(long, default_value = "news")]
    category: String,
    /// The lowest price the seller's strategy agrees to (default: half the price).
    #[arg(long)]
    floor: Option<String>,
    /// How much the counter-offer falls each round (default: from the price to the floor in
    /// --max-rounds steps).
    #[arg(long)]
    step: Option<String>,
    /// Offers are not negotiable.
    #[arg(long)]
    no_negotiation: bool,
    /// Rounds of bids an offer allows.
    #[arg(long, default_value_t = 4)]
    max_rounds: u32,
    /// How long an offer may be paid, in seconds.
    #[arg(long, default_value_t = 300)]
    offer_seconds: u64,
}

/// The archive: a title and a few sentences each.
const ARTICLES: [(&str, &str); 26] = [
    ("The Lighthouse Keeper's Last Winter", "For forty years the lamp at Cape Harrow was lit by hand. This winter an automatic beacon takes over, and its keeper tells us what the sea taught him."),
    ("A Market Town Counts Its Bridges", "Eleven bridges cross the river at Wellmouth. The council has measured each of them, and three will close for repairs in spring."),
    ("Why the Night Train Came Back", "Sleeper trains vanished from most timetables a generation ago. Rising air fares and patient travellers have brought them back."),
    ("The Bakers Who Start at Midnight", "Before the town wakes, four bakeries have already used a tonne of flour. We spent a night on the early shift."),
    ("Counting Birds from a Kitchen Window", "Thousands of volunteers counted garden birds last weekend. The sparrow is back on top, and the goldfinch keeps climbing."),
    ("A Library Without Late Fees", "The central library stopped charging for late returns a year ago. More books came back, not fewer."),
    ("The Orchard That Grows Forgotten Apples", "Sixty varieties that no supermarket sells grow on one hillside. Their keeper grafts new trees every March."),
    ("How a Village Built Its Own Broadband", "Tired of waiting for a cable, villagers dug their own trench. Two winters later every house is online."),
    ("The Ferry Captain's Logbook", "Twelve crossings a day, every day, for nineteen years. The logbook records fog, storms and one wedding on deck."),
    ("Inside the Clock Tower", "The town clock loses four seconds a week. Its volunteer winder climbs ninety steps each Sunday to set it right."),
    ("A Small Museum of Keys", "A retired locksmith has collected nine thousand keys. Some open doors that no longer exist."),
    ("The Quiet Return of the Otter", "Cleaner rivers have brought otters back to waters where none had been seen for fifty years."),
    ("What the Tide Tables Do Not Say", "Tide tables predict the water to the minute, but wind and pressure can move it by a metre. Harbour pilots explain."),
    ("The School That Teaches Sailing", "At one coastal school every pupil learns to sail before they leave. The headteacher says it teaches patience."),
    ("A Year of Repair Cafes", "Toasters, bicycles and a cello: volunteers fixed two thousand things this year that would have been thrown away."),
    ("The Map Makers of the Old Quarter", "Two cartographers are drawing every lane of the old quarter by hand, one street a week."),
    ("Winter Swimmers at Dawn", "Water at six degrees does not stop the dawn swimmers. They have met at the pier every morning for a decade."),
    ("The Last Typewriter Shop", "The shop on Mill Lane still repairs typewriters, and its waiting list is longer than ever."),
    ("A Garden on the Station Roof", "Commuters wait for their trains beneath tomatoes and beans grown on the platform roof."),
    ("The Beekeeper's Calendar", "A beekeeper's year begins in the cold, with hives that must not be opened. We followed one through the seasons."),
    ("How the Choir Found Its Tenors", "The community choir had no tenors for three years. A notice in the bakery window changed that."),
    ("The Stone Walls of the Upper Valley", "Dry stone walls run for hundreds of kilometres across the valley. A handful of wallers keep them standing."),
    ("Street Names and Their Stories", "Rope Walk, Tanner's Row, Salt Lane: the names of the old streets remember trades that left long ago."),
    ("The Harbour Seal Census", "Every August, volunteers count the seals on the sandbanks. This year there were more pups than ever recorded."),
    ("A Cinema That Shows One Film a Week", "The smallest cinema in the county has forty seats and one film a week, and it sells out every Friday."),
    ("The Weather Station on the Hill", "Since 1921 someone has read the thermometer on Beacon Hill every morning at nine. The record has never been broken."),
];

#[tokio::main]
async fn main() -> std::process::ExitCode {
    process::init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("archive-seller: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let price = Price::parse(&args.price, &args.currency).context("--price and --currency")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let public_url = match &args.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", reachable(address)),
    };
    let paywall = paywall(&args, price, &public_url)?;
    let app = archive(&paywall);
    // The one line tests wait for; written with errors ignored, so a closed stdout stops nothing.
    let _ = writeln!(std::io::stdout(), "archive-seller listening on http://{address}")
        .and_then(|()| std::io::stdout().flush());
    tracing::info!(listen = %address, broker = %paywall.broker(), payee = %paywall.payee(), price = %args.price, "archive-seller started");
    axum::serve(listener, app)
        .with_graceful_shutdown(process::stop_signal())
        .await
        .context("serving")?;
    tracing::info!("archive-seller stopped");
    Ok(())
}

/// The paywall of the articles, negotiable at `{public_url}/negotiate` unless told otherwise.
fn paywall(args: &Args, price: Price, public_url: &str) -> Result<Paywall> {
    let describe = |path: &str| match article_number(path).and_then(article) {
        Some((title, _)) => format!("An article of the archive: {title}"),
        None => format!("Access to {path}"),
    };
    let mut builder = Paywall::builder(&args.broker, &args.payee, price)
        .category(&args.category)
        .describe(describe)
        .offer_lifetime(Duration::from_secs(args.offer_seconds));
    if !args.no_negotiation {
        let strategy = floor_strategy(args, price)?;
        builder = builder.negotiable(format!("{public_url}/negotiate"), args.max_rounds, strategy);
    }
    builder.build().context("configuring the paywall")
}

/// `--floor` (default half the price) and `--step` (default the way down in `--max-rounds`
/// equal steps, at least one micro-unit).
fn floor_strategy(args: &Args, price: Price) -> Result<Floor> {
    let list = price.amount().units();
    let floor = match &args.floor {
        Some(text) => Amount::parse(text).context("--floor")?,
        None => Amount::from_units((list / 2).max(1)).context("half the price")?,
    };
    if floor.units() > list {
        bail!("--floor {floor} is above the price {}", price.amount());
    }
    let step = match &args.step {
        Some(text) => Amount::parse(text).context("--step")?,
        None => {
            let rounds = i64::from(args.max_rounds.max(1));
            Amount::from_units(((list - floor.units()) / rounds).max(1)).context("the step")?
        }
    };
    Ok(Floor::new(floor, step))
}

/// The whole site: the free list, the paywalled articles, the negotiation endpoint.
fn archive(paywall: &Paywall) -> Router {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }));
    // One route per article, so only articles that exist are behind the paywall (any other
    // path is a plain 404, never an offer for nothing).
    for number in 1..=ARTICLES.len() {
        let page = move || async move { article_page(number) };
        router = router.route(&format!("/articles/{number}"), get(page).layer(paywall.layer()));
    }
    if paywall.negotiates() {
        router = router.route("/negotiate", paywall.negotiation_route());
    }
    router
}

async fn index() -> Html<String> {
    let mut list = String::new();
    for (index, (title, _)) in ARTICLES.iter().enumerate() {
        let number = index + 1;
        list.push_str(&format!(
            "<li><a href=\"/articles/{number}\">{}</a></li>\n",
            escape(title)
        ));
    }
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>The archive</title></head><body>\n\
         <h1>The archive</h1>\n<p>{} articles. Each is sold on its own: request it and pay the offer of its \
         402 answer with smartcode, then request it again with <code>Smartcode-Payment</code>.</p>\n<ol>\n{list}</ol>\n</body></html>\n",
        ARTICLES.len()
    ))
}

fn article_page(number: usize) -> Html<String> {
    let (title, body) = article(number).expect("a route exists only for an article");
    let title = escape(title);
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\n\
         <article>\n<h1>{title}</h1>\n<p>{}</p>\n</article>\n<p><a href=\"/\">The archive</a></p>\n</body></html>\n",
        escape(body)
    ))
}

/// The article of a number, from 1.
fn article(number: usize) -> Option<(&'static str, &'static str)> {
    ARTICLES.get(number.checked_sub(1)?).copied()
}

fn article_number(path: &str) -> Option<usize> {
    path.strip_prefix("/articles/")?.parse().ok()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An address a client on this machine can connect to: a wildcard listen address becomes the
/// loopback address of its family.
fn reachable(address: SocketAddr) -> SocketAddr {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, address.port())
}
