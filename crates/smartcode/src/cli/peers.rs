//! Peers on the command line, for the operator: `peer add URL [--name N] [--credit-limit "AMOUNT
//! CUR"]… [--key HEX]`, `peer list`, `peer suspend|resume|remove NAME`.

use anyhow::Result;
use smartcode_client::{PeerJson, PeerRequest};

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
        PeerAction::Remove { name } => client.remove_peer(name).await?,
    };
    if args.json {
        return print_json(&peer);
    }
    show(&peer);
    Ok(())
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
