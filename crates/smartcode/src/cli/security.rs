//! The guessing defence on the command line: the operator's `security` commands, a seller's
//! `seller-key`, and the proofs of earlier successes the CLI keeps per broker, so that a holder
//! whose address is shared with a guesser (or new) is counted as its code's tree, not its address.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use smartcode_client::Client;

use super::args::{Args, SecurityAction};
use super::{code_client, operator_client, print_json};

pub(super) async fn security(args: &Args, action: Option<&SecurityAction>) -> Result<()> {
    let client = operator_client(args)?;
    let answer = match action {
        Some(SecurityAction::Forgive { source }) => {
            let answer = client.forgive(source).await?;
            if !args.json {
                println!("Forgave {source}: {} budgets are full again.", answer["forgiven"]);
            }
            answer
        }
        Some(SecurityAction::EndAlarm) => {
            let answer = client.end_alarm().await?;
            if !args.json {
                if answer["alarm_was_active"] == true {
                    println!("The alarm is over: unknown sources have their free tries again.");
                } else {
                    println!("There was no alarm.");
                }
            }
            answer
        }
        None => {
            let report = client.security().await?;
            if !args.json {
                print_report(&report);
            }
            report
        }
    };
    if args.json {
        print_json(&answer)?;
    }
    Ok(())
}

fn print_report(report: &serde_json::Value) {
    match report["alarm_since"].as_str() {
        Some(since) => println!("alarm: RAISED since {since}"),
        None => println!("alarm: none"),
    }
    println!(
        "free tries left to unknown sources today: {}",
        report["unknown_sources_tries_left"]
    );
    println!("next challenge: {} bits of work", report["difficulty_bits"]);
    println!(
        "failed presentations (this process): {}, challenges asked: {}, answered: {}",
        report["failed_presentations_total"], report["challenges_total"], report["challenges_answered_total"]
    );
    let sources = report["sources"].as_array().map_or(&[][..], Vec::as_slice);
    if sources.is_empty() {
        println!("no source has failed lately");
        return;
    }
    println!("{:<40} {:<8} {:>8} {:>10}", "SOURCE", "KIND", "FAILURES", "TRIES LEFT");
    for s in sources {
        println!(
            "{:<40} {:<8} {:>8} {:>10}",
            s["source"].as_str().unwrap_or(""),
            s["kind"].as_str().unwrap_or(""),
            s["failures"],
            s["tries_left"]
        );
    }
}

pub(super) async fn seller_key(args: &Args) -> Result<()> {
    let answer = code_client(args)?.seller_key().await?;
    if args.json {
        return print_json(&answer);
    }
    println!("{}", answer["seller_key"].as_str().unwrap_or_default());
    eprintln!("Give it to your server as SMARTCODE_SELLER_KEY (or the Smartcode-Seller header): the wrong codes");
    eprintln!("it presents for buyers then count against you, not against its address or everyone.");
    Ok(())
}

fn proof_file(args: &Args) -> Option<PathBuf> {
    if let Some(path) = &args.proof_file {
        return Some(path.clone());
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state.join("smartcode").join("proofs.json"))
}

fn read_proofs(path: &PathBuf) -> BTreeMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The proof kept for this broker, if any.
pub(super) fn saved_proof(args: &Args) -> Option<String> {
    read_proofs(&proof_file(args)?).remove(args.broker.trim_end_matches('/'))
}

/// After a success, keeps a proof for this broker if none is kept yet. A proof that cannot be
/// had or kept changes nothing of the command's own result.
pub(super) async fn keep_proof(args: &Args, client: &Client) {
    let Some(path) = proof_file(args) else { return };
    if saved_proof(args).is_some() {
        return;
    }
    let Ok(answer) = client.proof().await else { return };
    let Some(proof) = answer["proof"].as_str() else { return };
    if let Err(error) = write_proof(&path, args.broker.trim_end_matches('/'), proof) {
        eprintln!(
            "note: could not keep the proof of this success in {}: {error:#}",
            path.display()
        );
    }
}

fn write_proof(path: &PathBuf, broker: &str, proof: &str) -> Result<()> {
    let mut proofs = read_proofs(path);
    proofs.insert(broker.to_owned(), proof.to_owned());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(&proofs)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&temporary, path)?;
    Ok(())
}
