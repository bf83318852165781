//! Zero-click buying from the command line: `fetch URL` (fetch a resource, and on `402 Payment
//! Required` buy its offer under the code's spending rules, then fetch it again with the receipt,
//! or for an offer priced per minute with the session it opened), `approvals` (the purchases the
//! rules did not settle: list, approve, decline) and `sessions` (metered sessions: list, close).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use smartcode_client::*;

/// The most `fetch` reads of a resource, and how long it waits for one.
const FETCH_BYTES_MAX: usize = 64 * 1024 * 1024;
const FETCH_SECONDS: u64 = 60;

/// What `fetch` says when a purchase waits for approval: its exit status.
pub const APPROVAL_WAITS_EXIT: u8 = 3;

/// `fetch` bought nothing: an approval waits (said on stderr already). Exits with
/// [`APPROVAL_WAITS_EXIT`].
#[derive(Debug)]
pub struct ApprovalWaits;

impl std::fmt::Display for ApprovalWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an approval waits")
    }
}

impl std::error::Error for ApprovalWaits {}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// The resource to fetch (http or https).
    pub url: String,
    /// How the broker bids when the offer is negotiable: `plain`, or `concede:START:STEP`.
    #[arg(long)]
    pub strategy: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ApprovalsAction {
    /// The purchases waiting for this code's approval, then those settled.
    List,
    /// Pay a waiting purchase; --make-rule makes its kind zero-click from then on, --at-counter
    /// pays the seller's counter-offer.
    Approve {
        id: String,
        #[arg(long)]
        make_rule: bool,
        #[arg(long)]
        at_counter: bool,
    },
    /// Decline a waiting purchase: nothing is paid.
    Decline { id: String },
}

#[derive(Subcommand, Debug)]
pub enum SessionsAction {
    /// This code's metered sessions, open ones first, with what each charged of its cap.
    List,
    /// Close a session: its seller charges nothing more.
    Close { id: String },
}

fn strategy(text: Option<&str>) -> Result<Option<StrategyJson>> {
    let Some(text) = text else { return Ok(None) };
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("plain"), None, None, None) => Ok(Some(StrategyJson {
            name: "plain".into(),
            start: None,
            step: None,
        })),
        (Some("concede"), Some(start), Some(step), None) => Ok(Some(StrategyJson {
            name: "concede".into(),
            start: Some(start.into()),
            step: Some(step.into()),
        })),
        _ => bail!("--strategy is plain or concede:START:STEP (for example concede:0.01:0.005)"),
    }
}

/// Fetches `url`; on 402, buys the offer with no one asked and fetches it again with the receipt,
/// printing the content; [`ApprovalWaits`] when the rules did not settle the purchase.
pub(super) async fn fetch(client: &Client, args: &FetchArgs, json: bool) -> Result<()> {
    let strategy = strategy(args.strategy.as_deref())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(FETCH_SECONDS))
        .build()
        .context("an HTTP client")?;
    let (status, headers, body) = get(&http, &args.url, None).await?;
    if status != reqwest::StatusCode::PAYMENT_REQUIRED {
        return done(status, &body, None, json);
    }
    let offer = offer_of(&headers, &body).ok_or_else(|| anyhow!("{} answered 402 without an offer", args.url))?;
    // The offer's fingerprint as the key: fetching the same offer again pays once.
    let key = format!("offer-{}", &offer.fingerprint()[..32]);
    let request = PurchaseRequest { offer, strategy };
    let purchase = client.purchase(&request, Some(&key)).await?;
    if let Some(session) = &purchase.session {
        eprintln!(
            "Opened metered session {} at {} {} a minute (cap {} {}); the seller charges it as you use it.",
            session.id,
            session.price_per_minute.amount,
            session.price_per_minute.currency,
            session.cap.amount,
            session.cap.currency
        );
        let (status, _, body) = get(&http, &args.url, Some((SESSION_HEADER, &session.id))).await?;
        return done(status, &body, None, json);
    }
    let Some(receipt) = &purchase.receipt else {
        let id = purchase.approval_id.as_deref().unwrap_or("?");
        if json {
            println!("{}", serde_json::to_string_pretty(&purchase)?);
        } else {
            let why = purchase.approval.as_ref().map_or("", |a| a.why.as_str());
            eprintln!(
                "Not bought: an approval waits ({why}).\nApprove it with `smartcode approvals approve {id}` \
                 (add --make-rule to make this kind of purchase zero-click), or in the control center of {}",
                client.base_url()
            );
        }
        return Err(ApprovalWaits.into());
    };
    let (status, _, body) = get(&http, &args.url, Some((PAYMENT_HEADER, &receipt.id))).await?;
    done(status, &body, Some(&purchase), json)
}

/// Fetches `url`, with `proof` (a header and its value: the receipt that paid, or the session).
async fn get(
    http: &reqwest::Client,
    url: &str,
    proof: Option<(&str, &str)>,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
    let mut request = http.get(url);
    if let Some((header, value)) = proof {
        request = request.header(header, value);
    }
    let mut response = request.send().await.with_context(|| format!("fetching {url}"))?;
    let (status, headers) = (response.status(), response.headers().clone());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.with_context(|| format!("reading {url}"))? {
        if body.len() + chunk.len() > FETCH_BYTES_MAX {
            bail!("{url} is larger than {FETCH_BYTES_MAX} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn done(status: reqwest::StatusCode, body: &[u8], purchase: Option<&PurchaseJson>, json: bool) -> Result<()> {
    if !status.is_success() {
        bail!(
            "the seller answered {status}{}: {}",
            if purchase.is_some() { " after the payment" } else { "" },
            String::from_utf8_lossy(body).chars().take(500).collect::<String>()
        );
    }
    use std::io::Write;
    std::io::stdout().write_all(body)?;
    if let (Some(purchase), true) = (purchase, json) {
        eprintln!("{}", serde_json::to_string(purchase)?);
    } else if let Some(purchase) = purchase {
        let price = purchase
            .price
            .as_ref()
            .map_or(String::new(), |p| format!("{} {}", p.amount, p.currency));
        let receipt = purchase.receipt.as_ref().map_or("", |r| r.id.as_str());
        eprintln!("Paid {price} with no one asked (receipt {receipt}).");
    }
    Ok(())
}

/// `smartcode approvals list|approve|decline`.
pub(super) async fn approvals(client: &Client, action: &ApprovalsAction, key: Option<&str>, json: bool) -> Result<()> {
    match action {
        ApprovalsAction::List => {
            let queue = client.approvals().await?;
            if json {
                return super::print_json(&queue);
            }
            if queue.approvals.is_empty() {
                println!("No purchases wait for approval.");
            }
            for a in &queue.approvals {
                let counter = a.counter.as_ref().map_or(String::new(), |c| {
                    format!(", counter-offer {} {}", c.amount, c.currency)
                });
                println!(
                    "{}  {}  {} {} to {} for {:?}{counter}\n    {} (until {})",
                    a.id,
                    a.status,
                    a.offer.price.amount,
                    a.offer.price.currency,
                    a.offer.payee,
                    a.offer.description,
                    a.why,
                    a.expires_at
                );
            }
            Ok(())
        }
        ApprovalsAction::Approve {
            id,
            make_rule,
            at_counter,
        } => {
            let request = ApproveRequest {
                make_rule: *make_rule,
                at_counter: *at_counter,
            };
            let approved = client.approve(id, &request, key).await?;
            if json {
                return super::print_json(&approved);
            }
            match (&approved.receipt, &approved.session) {
                (Some(receipt), _) => println!(
                    "Paid {} {} (receipt {}).",
                    receipt.amount.amount, receipt.amount.currency, receipt.id
                ),
                (None, Some(session)) => println!(
                    "Opened metered session {} (cap {} {}).",
                    session.id, session.cap.amount, session.cap.currency
                ),
                (None, None) => println!(
                    "Approved here; a rule above this code still asks: {}",
                    approved.approval.why
                ),
            }
            if let Some(rule) = &approved.rule_added {
                println!("Rule added: {rule:?}, so the same kind of purchase is zero-click from now on.");
            }
            Ok(())
        }
        ApprovalsAction::Decline { id } => {
            let declined = client.decline(id, key).await?;
            if json {
                return super::print_json(&declined);
            }
            println!("Declined {}.", declined.approval.id);
            Ok(())
        }
    }
}

/// `smartcode sessions list|close`.
pub(super) async fn sessions(client: &Client, action: &SessionsAction, key: Option<&str>, json: bool) -> Result<()> {
    match action {
        SessionsAction::List => {
            let listed = client.sessions().await?;
            if json {
                return super::print_json(&listed);
            }
            if listed.sessions.is_empty() {
                println!("No metered sessions.");
            }
            for s in &listed.sessions {
                let reason = s.closed_reason.as_deref().map_or(String::new(), |r| format!(" ({r})"));
                println!(
                    "{}  {}{reason}  {} {} a minute to {}, charged {} of {} (until {})",
                    s.id,
                    s.state,
                    s.price_per_minute.amount,
                    s.price_per_minute.currency,
                    s.payee,
                    s.charged.amount,
                    s.cap.amount,
                    s.expires_at
                );
            }
            Ok(())
        }
        SessionsAction::Close { id } => {
            let closed = client.close_session(id, key).await?;
            if json {
                return super::print_json(&closed);
            }
            let s = &closed.session;
            println!(
                "Closed {}: charged {} {} in all.",
                s.id, s.charged.amount, s.charged.currency
            );
            Ok(())
        }
    }
}
