//! `smartcode bench --in-process`: the embedded store and the ledger driven directly, without
//! HTTP, to show what the core itself can do.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use smartcode_core::clock::{Clock, SystemClock};
use smartcode_core::code::{BrokerKey, CodeHash, PublicCode, SecretCode};
use smartcode_core::ledger::payments::{self, PaymentOrder};
use smartcode_core::ledger::QueryOutcome::Reports;
use smartcode_core::ledger::{controls, holds, issuance, reports, tree, Command as LedgerCommand, Credential, Outcome};
use smartcode_core::model::SpendLimit;
use smartcode_core::money::{Amount, Currency};
use smartcode_core::spending::{RateLimit, RuleAction, RuleMatch, SpendingRule};
use smartcode_store::embedded::EmbeddedStore;
use smartcode_store::{answer, Store, WriteRequest, Written};

use super::*;

pub(super) async fn in_process(args: &BenchArgs) -> Result<Report> {
    let temporary = tempfile::tempdir()?;
    let dir = args.data.clone().unwrap_or_else(|| temporary.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let already_there = bytes_already_there(&dir);
    seed(args, &dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<EmbeddedStore> =
        Arc::new(EmbeddedStore::open(&dir, clock).map_err(|e| anyhow!("opening the store: {e}"))?);
    let key = BrokerKey::generate();
    let currency = Currency::parse("USD").map_err(|e| anyhow!("{e}"))?;
    eprintln!("creating {} payers and {} payees…", args.payers, args.payees);
    let payers = issue_in_process(&store, &key, currency, args.payers).await?;
    let sellers = issue_in_process(&store, &key, currency, args.payees).await?;
    if args.rules {
        for payer in &payers {
            write(&store, spending_rules(*payer)?.into()).await?;
        }
    }
    let mut payees = Vec::with_capacity(sellers.len());
    for seller in &sellers {
        let code = PublicCode::generate();
        let command = tree::Command::CreatePublicChild {
            parent: Credential::new(*seller, false),
            code: code.clone(),
            label: None,
            profile: Default::default(),
            catalog: Default::default(),
            under: None,
        };
        write(&store, command.into()).await?;
        payees.push(code);
    }
    let bytes_before = store_bytes(&dir);
    let commits_before = store.stats();
    let tally = Arc::new(Tally::default());
    let payers = Arc::new(payers);
    let payees = Arc::new(payees);
    let sellers = Arc::new(sellers);
    let two_phase = args.two_phase;
    let amount = Amount::from_units(1).map_err(|e| anyhow!("{e:?}"))?;
    let hot = args.hot;
    let connections = args.connections;
    let epoch = Instant::now();
    let elapsed = run_for(args, tally.clone(), |index, stop| {
        let (store, tally, payers, payees, sellers) = (
            store.clone(),
            tally.clone(),
            payers.clone(),
            payees.clone(),
            sellers.clone(),
        );
        let mut pace = Pace::new(args, index, epoch);
        async move {
            let mut turn = index;
            while !stop.load(Ordering::Relaxed) {
                let payer = payers[turn % payers.len()];
                let which = if hot { 0 } else { turn % payees.len() };
                let payee = payees[which].clone();
                turn += connections;
                let order = PaymentOrder {
                    payer: Credential::new(payer, false),
                    payee,
                    amount,
                    currency: None,
                    memo: None,
                    category: None,
                    item: None,
                };
                let started = Pace::due(&mut pace).await;
                let result = if two_phase {
                    hold_then_capture(&store, order, sellers[which]).await
                } else {
                    write(&store, payments::Command::Pay(order).into()).await.map(|_| ())
                }
                .map_err(|e| e.to_string());
                tally.record(started, result);
            }
        }
    })
    .await;
    let commits = store.stats().since(&commits_before);
    let mut report = summarize(args, "in-process", "embedded".into(), &tally, elapsed);
    report.payments_per_commit = commits.commands_per_commit();
    let grown = store_bytes(&dir).saturating_sub(bytes_before);
    report.bytes_on_disk_per_payment = (report.payments > 0).then(|| grown / report.payments);
    report.bytes_on_disk_per_code = Some(bytes_per_code(args, already_there, bytes_before));
    if two_phase {
        let parties = (&payers, &payees, &sellers);
        report.phases = Some(phases(&store, parties, connections, report.payments).await?);
    }
    let check = answer(store.read(reports::Query::LedgerCheck.into())).await;
    report.ledger_ok = matches!(check, Ok(Reports(reports::QueryOutcome::LedgerCheck { ok: true, .. })));
    store.close();
    Ok(report)
}

/// The payers' codes, the payees, and the payees' sellers' codes, shared by the tasks.
type Parties<'a> = (&'a Arc<Vec<CodeHash>>, &'a Arc<Vec<PublicCode>>, &'a Arc<Vec<CodeHash>>);

/// At most this many commands in each of [`phases`]: fewer than the writer's memory keeps of
/// pending holds (`CACHE_HOLDS_MAX`), so every capture finds its hold there, as in a two-phase run.
const PHASE_COMMANDS_MAX: u64 = 100_000;

/// Plain payments, then holds, then the captures of those holds, `commands` of each (as many as
/// the run made pairs, at most [`PHASE_COMMANDS_MAX`] and half the holds the payers may have) over `connections` at once, each phase
/// timed alone: what a hold and a capture cost in payments.
async fn phases(
    store: &Arc<EmbeddedStore>,
    (payers, payees, sellers): Parties<'_>,
    connections: usize,
    commands: u64,
) -> Result<Phases> {
    // Half of what a code may hold at once, so no hold meets the limit of pending holds.
    let per_payer = u64::from(smartcode_core::limits::HOLDS_PER_CODE_MAX / 2);
    let most = PHASE_COMMANDS_MAX.min(per_payer.saturating_mul(payers.len() as u64));
    let commands = usize::try_from(commands.clamp(1, most))?;
    let amount = Amount::from_units(1).map_err(|e| anyhow!("{e:?}"))?;
    let order = {
        let (payers, payees) = (payers.clone(), payees.clone());
        move |turn: usize| PaymentOrder {
            payer: Credential::new(payers[turn % payers.len()], false),
            payee: payees[turn % payees.len()].clone(),
            amount,
            currency: None,
            memo: None,
            category: None,
            item: None,
        }
    };
    let (paying, _) = timed(connections, |index| {
        let (store, order) = (store.clone(), order.clone());
        async move {
            for turn in (index..commands).step_by(connections) {
                write(&store, payments::Command::Pay(order(turn)).into()).await?;
            }
            Ok(Vec::<()>::new())
        }
    })
    .await?;
    let (holding, held) = timed(connections, |index| {
        let (store, order) = (store.clone(), order.clone());
        async move {
            let mut held = Vec::new();
            for turn in (index..commands).step_by(connections) {
                let command = holds::Command::Hold {
                    order: order(turn),
                    expires_in_seconds: 600,
                };
                let Outcome::Holds(holds::Outcome::Held(hold)) = write(&store, command.into()).await? else {
                    return Err(anyhow!("a hold answers the hold"));
                };
                held.push((hold.id, turn));
            }
            Ok(held)
        }
    })
    .await?;
    let mut held = held.into_iter();
    let (capturing, _) = timed(connections, |_| {
        let (store, sellers, mine) = (store.clone(), sellers.clone(), held.next().unwrap_or_default());
        async move {
            for (hold, turn) in mine {
                let capture = holds::Command::Capture {
                    seller: Credential::new(sellers[turn % sellers.len()], false),
                    hold,
                    amount: None,
                };
                write(&store, capture.into()).await?;
            }
            Ok(Vec::<()>::new())
        }
    })
    .await?;
    let per_second = |elapsed: Duration| {
        u64::try_from(commands as u128 * 1_000_000 / elapsed.as_micros().max(1)).unwrap_or(u64::MAX)
    };
    let in_payments = |elapsed: Duration| elapsed.as_secs_f64() / paying.as_secs_f64().max(f64::EPSILON);
    Ok(Phases {
        commands: commands as u64,
        payments_per_second: per_second(paying),
        holds_per_second: per_second(holding),
        captures_per_second: per_second(capturing),
        capture_in_payments: in_payments(capturing),
        hold_in_payments: in_payments(holding),
    })
}

/// Runs one task per connection to its end and returns how long they took and what each gave.
async fn timed<F, Fut, T>(connections: usize, mut worker: F) -> Result<(Duration, Vec<Vec<T>>)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>>> + Send + 'static,
    T: Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections).map(|index| tokio::spawn(worker(index))).collect();
    let mut outputs = Vec::with_capacity(connections);
    for task in tasks {
        outputs.push(task.await??);
    }
    Ok((started.elapsed(), outputs))
}

/// A payment in two phases: the hold, then its capture by the payee's seller.
async fn hold_then_capture(store: &EmbeddedStore, order: PaymentOrder, seller: CodeHash) -> Result<()> {
    let held = write(
        store,
        holds::Command::Hold {
            order,
            expires_in_seconds: 600,
        }
        .into(),
    )
    .await?;
    let Outcome::Holds(holds::Outcome::Held(hold)) = held else {
        return Err(anyhow!("a hold answers the hold"));
    };
    let capture = holds::Command::Capture {
        seller: Credential::new(seller, false),
        hold: hold.id,
        amount: None,
    };
    write(store, capture.into()).await.map(|_| ())
}

/// One rule every payment of the bench matches and counts in, with caps it never reaches.
fn spending_rules(payer: CodeHash) -> Result<controls::Command> {
    let amount = |text: &str| Amount::parse(text).map_err(|e| anyhow!("{e}"));
    let rule = SpendingRule {
        name: "everything".into(),
        matches: RuleMatch::default(),
        max_per_payment: Some(amount("1")?),
        max_per_period: Some(SpendLimit {
            amount: amount("1000")?,
            period_seconds: 86_400,
        }),
        max_rate: Some(RateLimit {
            amount: amount("1000")?,
            per_seconds: 60,
        }),
        action: RuleAction::Pay,
    };
    Ok(controls::Command::SetSpendingRules {
        holder: Credential::new(payer, false),
        rules: vec![rule],
    })
}

async fn write(store: &EmbeddedStore, command: LedgerCommand) -> Result<Outcome> {
    match answer(store.write(WriteRequest::new(command))).await {
        Ok(Written::Done(outcome)) => Ok(outcome),
        Ok(Written::Replayed(_)) => Err(anyhow!("unexpected replay")),
        Err(error) => Err(anyhow!("{error}")),
    }
}

async fn issue_in_process(
    store: &EmbeddedStore,
    key: &BrokerKey,
    currency: Currency,
    count: usize,
) -> Result<Vec<CodeHash>> {
    let amount = Amount::parse("1000").map_err(|e| anyhow!("{e}"))?;
    let mut pending = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let hash = key.hash_code(&SecretCode::generate());
        hashes.push(hash);
        pending.push(store.write(WriteRequest::new(issuance::Command::Issue {
            hash,
            amount,
            currency,
            label: None,
        })));
    }
    for answer_of in pending {
        answer(answer_of).await.map_err(|e| anyhow!("issuing a code: {e}"))?;
    }
    Ok(hashes)
}
