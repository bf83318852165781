//! The instruments on a code from the command line: `authorize` (an authorization code for one
//! exact amount, listed and cancelled) and `alias` (an all-digit name for a code).

use anyhow::Result;
use smartcode_client::{AuthorizationJson, AuthorizationRequest, Client};

use super::args::Cmd;
use super::print_json;

pub(super) async fn run(client: &Client, command: &Cmd, key: Option<&str>, json: bool) -> Result<()> {
    match command {
        Cmd::Authorize { list: true, .. } => {
            let listed = client.authorizations().await?;
            if json {
                return print_json(&listed);
            }
            for a in &listed.authorizations {
                print_authorization(a);
            }
            Ok(())
        }
        Cmd::Authorize { cancel: Some(id), .. } => {
            let cancelled = client.cancel_authorization(id, key).await?;
            if json {
                return print_json(&cancelled);
            }
            println!(
                "Authorization {} cancelled: {} {} available again",
                cancelled.id, cancelled.amount.amount, cancelled.amount.currency
            );
            Ok(())
        }
        Cmd::Authorize {
            amount,
            payee,
            currency,
            expires_in,
            ..
        } => {
            let request = AuthorizationRequest {
                amount: amount.as_deref().unwrap_or_default().into(),
                currency: currency.clone(),
                payee: payee.clone(),
                expires_in_seconds: *expires_in,
            };
            let made = client.authorize(&request, key).await?;
            if json {
                return print_json(&made);
            }
            let code = made.authorization_code.as_deref().unwrap_or("");
            println!("Authorization code (shown once; it pays exactly this amount, once): {code}");
            print_authorization(&made);
            Ok(())
        }
        Cmd::Alias { public, remove: true } => {
            let removed = client.remove_alias(public.as_deref()).await?;
            if json {
                return print_json(&removed);
            }
            println!(
                "{}",
                if removed.removed {
                    "Alias removed"
                } else {
                    "There was no alias"
                }
            );
            Ok(())
        }
        Cmd::Alias { public, .. } => {
            let alias = client.set_alias(public.as_deref(), key).await?;
            if json {
                return print_json(&alias);
            }
            let shown = alias.alias.as_deref().unwrap_or("");
            if public.is_some() {
                println!("Numeric alias of {}: {shown}", alias.code_id);
            } else {
                println!("Numeric alias (shown once; it works like the code itself): {shown}");
            }
            Ok(())
        }
        _ => unreachable!("only authorize and alias come here"),
    }
}

fn print_authorization(a: &AuthorizationJson) {
    let payee = a.payee.as_deref().map(|p| format!(" for {p}")).unwrap_or_default();
    println!(
        "  {}  {} {}{payee}  {} until {}",
        a.id, a.amount.amount, a.amount.currency, a.status, a.expires_at
    );
}
