//! Peers on the command line, for the operator: `peer add URL [--name N] [--credit-limit "AMOUNT
//! CUR"]… [--key HEX]`, `peer list`, `peer suspend|resume|remove NAME`, `peer position|settle NAME`,
//! and `peer statement|reconcile|report NAME` (reconcile exits 1 on any difference).

use anyhow::Result;
use smartcode_client::{PeerJson, PeerRequest, PositionJson, SettlementRequest};

use super::args::{Args, PeerAction};
use super::{operator_client, print_json};

pub(super) async fn peer(args: &Args, action: &PeerAction) -> Result<()> {
    let client = operator_client(args)?;
    let peer = match action {
        PeerAction::Add {
            url,
            name,
            credit_limits,
            key,
            listed,
        } => {
            let limits = credit_limits
                .iter()
                .map(|text| super::quotes::price(text))
                .collect::<Result<Vec<_>>>()?;
            let request = PeerRequest {
                url: url.clone(),
                name: name.clone(),
                credit_limits: (!limits.is_empty()).then_some(limits),
                key: key.clone(),
                listed: listed.then_some(true),
            };
            client.add_peer(&request, None).await?
        }
        PeerAction::List => {
            let list = client.peers().await?;
            if args.json {
                return print_json(&list);
            }
            for peer in &list.peers {
                show(peer);
            }
            return Ok(());
        }
        PeerAction::Suspend { name } => client.peer_status(name, "suspend").await?,
        PeerAction::Resume { name } => client.peer_status(name, "resume").await?,
        PeerAction::Show { name } => client.peer_status(name, "show").await?,
        PeerAction::Hide { name } => client.peer_status(name, "hide").await?,
        PeerAction::Remove { name } => client.remove_peer(name).await?,
        PeerAction::Position { name } => {
            let position = client.peer_position(name).await?;
            if args.json {
                return print_json(&position);
            }
            show_position(&position);
            return Ok(());
        }
        PeerAction::Settle {
            name,
            amount,
            direction,
            reference,
            idempotency_key,
        } => {
            let money = super::quotes::price(amount)?;
            let request = SettlementRequest {
                amount: money.amount,
                currency: money.currency,
                direction: direction.clone(),
                reference: reference.clone(),
            };
            let settled = client.settle(name, &request, idempotency_key.as_deref()).await?;
            if args.json {
                return print_json(&settled);
            }
            println!(
                "Settlement {} {} {} {}: {}",
                settled.id, settled.direction, settled.amount.amount, settled.amount.currency, settled.reference
            );
            show_position(&settled.position);
            return Ok(());
        }
        PeerAction::Statement { name, since, until } => {
            let statement = client
                .peer_statement(name, (since.as_deref(), until.as_deref()))
                .await?;
            if args.json {
                return print_json(&statement);
            }
            println!(
                "Statement of {} with {} from {} until {} ({} lines{}), signed {}",
                statement.broker,
                statement.peer,
                statement.since.as_deref().unwrap_or("the beginning"),
                statement.until,
                statement.entries.len(),
                if statement.complete {
                    ""
                } else {
                    ", more not shown: ask for a shorter period"
                },
                statement.signature
            );
            for entry in &statement.entries {
                println!("  {}  {} {}", entry.key, entry.net.amount, entry.net.currency);
            }
            return Ok(());
        }
        PeerAction::Reconcile { name, since, until } => {
            let reconciled = client.reconcile(name, (since.as_deref(), until.as_deref())).await?;
            if args.json {
                print_json(&reconciled)?;
            } else {
                println!(
                    "{} from {} until {}: {} lines agree, {} differ",
                    reconciled.peer,
                    reconciled.since.as_deref().unwrap_or("the beginning"),
                    reconciled.until,
                    reconciled.matched,
                    reconciled.differences.len()
                );
                for d in &reconciled.differences {
                    println!(
                        "  {}  ours {} {}  theirs {} {}",
                        d.key, d.ours.amount, d.ours.currency, d.theirs.amount, d.theirs.currency
                    );
                }
            }
            if !reconciled.differences.is_empty() {
                anyhow::bail!("the statements differ on {} lines", reconciled.differences.len());
            }
            return Ok(());
        }
        PeerAction::Report { name, since, until } => {
            let report = client.peer_report(name, (since.as_deref(), until.as_deref())).await?;
            if args.json {
                return print_json(&report);
            }
            for day in &report.days {
                println!(
                    "{}  {}  {}  out {} ({})  in {} ({})",
                    report.peer,
                    day.date,
                    day.currency,
                    day.out_total.amount,
                    day.out_count,
                    day.in_total.amount,
                    day.in_count
                );
            }
            return Ok(());
        }
    };
    if args.json {
        return print_json(&peer);
    }
    show(&peer);
    Ok(())
}

fn show_position(position: &PositionJson) {
    if position.currencies.is_empty() {
        println!("{}: nothing owed either way", position.peer);
    }
    for c in &position.currencies {
        println!(
            "{}  {}  owed to us {}  owed by us {}  net {}",
            position.peer, c.currency, c.owed_to_us.amount, c.owed_by_us.amount, c.net.amount
        );
    }
}

fn show(peer: &PeerJson) {
    let limits: Vec<String> = peer
        .credit_limits
        .iter()
        .map(|m| format!("{} {}", m.amount, m.currency))
        .collect();
    println!(
        "{}  {}  {} ({}, broker number {})  credit {}",
        peer.name,
        peer.status,
        peer.url,
        peer.domain,
        peer.broker_number,
        if limits.is_empty() {
            "none".to_owned()
        } else {
            limits.join(", ")
        }
    );
    println!("  key fingerprint {}", peer.fingerprint);
}
