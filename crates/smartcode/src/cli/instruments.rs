//! The instruments on a code from the command line: `authorize` (an authorization code for one
//! exact amount, listed and cancelled), `alias` (an all-digit name for a code) and `assurance`
//! (assurance codes made, listed, revoked, certified, and certificates checked offline), and
//! `rules` (the code's spending rules, shown or set from a file).

use anyhow::{anyhow, bail, Context, Result};
use smartcode_client::*;

use super::args::{AssuranceAction, Cmd, RulesAction};
use super::{code_client, print_json, Args};

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

pub(super) async fn assurance(args: &Args, action: &AssuranceAction, key: Option<&str>) -> Result<()> {
    match action {
        AssuranceAction::Create { floor, expires_in } => {
            let request = AssuranceRequest {
                floor: floor.as_str().into(),
                expires_in_seconds: *expires_in,
            };
            let made = code_client(args)?.create_assurance(&request, key).await?;
            if args.json {
                return print_json(&made);
            }
            let code = made.assurance_code.as_deref().unwrap_or("");
            println!("Assurance code (shown once; give it to sellers, it never pays by itself): {code}");
            print_assurance(&made);
            Ok(())
        }
        AssuranceAction::List => {
            let listed = code_client(args)?.assurances().await?;
            if args.json {
                return print_json(&listed);
            }
            listed.assurances.iter().for_each(print_assurance);
            Ok(())
        }
        AssuranceAction::Cancel { id } => {
            let cancelled = code_client(args)?.cancel_assurance(id, key).await?;
            if args.json {
                return print_json(&cancelled);
            }
            println!("Assurance {} revoked: no new certificates", cancelled.id);
            Ok(())
        }
        AssuranceAction::Certify { assurance_code, payee } => {
            let request = CertifyRequest {
                assurance_code: assurance_code.clone(),
                payee: payee.clone(),
            };
            let certified = Client::new(&args.broker).certify(&request).await?;
            // The certificate itself, always as JSON: it is meant to be kept and checked.
            print_json(&certified)
        }
        AssuranceAction::Verify { file, key } => verify(args, file, key.as_deref()).await,
    }
}

fn print_assurance(a: &AssuranceJson) {
    println!(
        "  {}  floor {} {}  {} until {}",
        a.id, a.floor.amount, a.floor.currency, a.status, a.expires_at
    );
}

/// Checks a certificate's signature here, with only the broker's public key.
async fn verify(args: &Args, file: &std::path::Path, key: Option<&str>) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let inner = value.get("certificate").cloned().unwrap_or(value);
    let certificate: CertificateJson =
        serde_json::from_value(inner).with_context(|| format!("{} does not hold a certificate", file.display()))?;
    let key = match key {
        Some(hex) => hex.to_owned(),
        None => {
            let metadata = Client::new(&args.broker).metadata().await?;
            // A certificate for a seller of another broker is signed with the federation key.
            let published = match certificate.payee.contains(' ') {
                true => &metadata["federation"]["signing_key"],
                false => &metadata["certificate_signature"]["public_key"],
            };
            published
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{} publishes no certificate key", args.broker))?
        }
    };
    let key = smartcode_receipt::public_key(&key).map_err(|e| anyhow!("the broker's key: {e}"))?;
    let checked = smartcode_receipt::verify_certificate(&certificate, &key);
    let valid_until = &certificate.valid_until;
    if args.json {
        let mut out = serde_json::json!({ "certificate": certificate, "verified": checked.is_ok() });
        if let Err(error) = &checked {
            out["error"] = serde_json::json!(error.to_string());
        }
        print_json(&out)?;
    } else if checked.is_ok() {
        println!(
            "Certificate {} verified: {} assures at least {} {} to {} until {valid_until}",
            certificate.id, certificate.broker, certificate.floor.amount, certificate.currency, certificate.payee
        );
    }
    match checked {
        Ok(()) => Ok(()),
        Err(error) => bail!("the certificate does not verify: {error}"),
    }
}

/// `smartcode rules show|set FILE`.
pub(super) async fn rules(client: &Client, action: &RulesAction, key: Option<&str>, json: bool) -> Result<()> {
    let rules = match action {
        RulesAction::Show => client.rules().await?,
        RulesAction::Set { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
            };
            let request: RulesRequest = serde_json::from_str(&text).map_err(|e| {
                anyhow!(
                    "{} is not {{\"rules\": [...]}} as PUT /v1/me/rules takes: {e}",
                    file.display()
                )
            })?;
            client.set_rules(&request, key).await?
        }
    };
    if json {
        return print_json(&rules);
    }
    if rules.rules.is_empty() {
        println!("No spending rules: every payment this code's holder makes is its own.");
    }
    for (n, shown) in rules.rules.iter().enumerate() {
        let rule = &shown.rule;
        let mut line = format!("{}. {} → {}", n + 1, rule.name, rule.action);
        let matches = &rule.matches;
        for (what, list) in [
            ("categories", &matches.categories),
            ("payees", &matches.payees),
            ("items", &matches.items),
        ] {
            if let Some(list) = list {
                line.push_str(&format!("  {what}: {}", list.join(", ")));
            }
        }
        if let Some(max) = &rule.max_per_payment {
            line.push_str(&format!("  at most {} {} a payment", max.0, rules.currency));
        }
        if let Some(period) = &rule.max_per_period {
            line.push_str(&format!(
                "  {} per {} s (spent {}, left {})",
                period.amount.0,
                period.period_seconds,
                shown.spent.as_deref().unwrap_or("0"),
                shown.left.as_deref().unwrap_or("0")
            ));
        }
        if let Some(rate) = &rule.max_rate {
            line.push_str(&format!(
                "  {} per {} s (now {})",
                rate.amount.0,
                rate.per_seconds,
                shown.rate_left_now.as_deref().unwrap_or("0")
            ));
        }
        println!("{line}");
    }
    Ok(())
}
