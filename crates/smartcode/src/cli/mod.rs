//! The command line: arguments in two stages (clap structs, then client calls), human output by
//! default and `--json` for scripts. Refusals print the broker's detail and `code` word and exit 1
//! (with `--json`, as one JSON object on stderr: `{"error": {"code", "status", "detail"}}`).

use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use smartcode_client::*;

use crate::serve;

mod args;
mod buying;
mod checks;
mod holds;
mod instruments;
mod items;
mod licenses;
mod operator;
mod peers;
mod quotes;
mod receipt;
mod security;
mod shell;
mod webhook;

pub use args::Args;
use args::{Cmd, PinAction};

pub async fn run(args: Args) -> ExitCode {
    let json = args.json;
    match dispatch(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<buying::ApprovalWaits>().is_some() => {
            ExitCode::from(buying::APPROVAL_WAITS_EXIT)
        }
        Err(error) => {
            if json {
                eprintln!("{}", shell::error_json(&error));
            } else {
                eprintln!("error: {error:#}");
                if let Some(hint) = hint(&error) {
                    eprintln!("hint: {hint}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// What to do about a refusal, in the command line's own words (the broker's detail names the
/// HTTP header; here the PIN comes from a flag or the environment).
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let code = error.chain().find_map(|e| e.downcast_ref::<ClientError>())?.code()?;
    match code {
        "pin_required" => Some("this code has a PIN: give it with --pin or set SMARTCODE_PIN"),
        "pin_invalid" => Some("check the PIN given with --pin or SMARTCODE_PIN; a few more wrong ones lock the code"),
        "code_locked" => Some("the code it was made from can unlock it: smartcode unlock <id>"),
        _ => None,
    }
}

fn code_client(args: &Args) -> Result<Client> {
    let code = args
        .code
        .as_deref()
        .ok_or_else(|| anyhow!("this command needs a secret code: set SMARTCODE_CODE or pass --code"))?;
    let proof = security::saved_proof(args);
    Ok(Client::new(&args.broker)
        .with_code(code)
        .with_pin(args.pin.as_deref())
        .with_proof(proof.as_deref())
        .with_seller_key(args.seller_key.as_deref()))
}

fn operator_client(args: &Args) -> Result<Client> {
    Ok(Client::new(&args.broker).with_operator_token(&operator_token(args)?))
}

fn operator_token(args: &Args) -> Result<String> {
    let token = match (&args.operator_token_file, std::env::var("SMARTCODE_OPERATOR_TOKEN")) {
        (Some(path), _) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, Ok(token)) => token,
        (None, Err(_)) => {
            let default = std::path::PathBuf::from("./smartcode-data").join(serve::OPERATOR_TOKEN_FILE);
            std::fs::read_to_string(&default).map_err(|_| {
                anyhow!(
                    "this command needs the operator token: pass --operator-token-file or set SMARTCODE_OPERATOR_TOKEN"
                )
            })?
        }
    };
    Ok(token.trim().to_owned())
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn money(m: Option<&Money>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| format!("{} {}", m.amount, m.currency))
}

/// Prints a code; `secret` is the new secret of a code just made (or rekeyed), shown this once.
/// The buyer's code a `verb` presents in its body, and the client to present it with: the
/// code's PIN, its saved proof and the seller key of a server presenting it go along.
fn buyer(args: &Args, verb: &str) -> Result<(String, Client)> {
    let code = args
        .code
        .clone()
        .ok_or_else(|| anyhow!("{verb} needs the buyer's secret code: set SMARTCODE_CODE or pass --code"))?;
    let client = Client::new(&args.broker)
        .with_pin(args.pin.as_deref())
        .with_proof(security::saved_proof(args).as_deref())
        .with_seller_key(args.seller_key.as_deref());
    Ok((code, client))
}

fn print_code(secret: Option<&str>, info: &CodeJson) {
    if let Some(code) = secret {
        println!("New secret code: {code}");
        println!("  It is shown only this once. Keep it secret: whoever holds it can spend it.");
    }
    if let Some(public) = &info.public_code {
        println!("Public code: {public}");
    }
    println!("  id:       {}", info.id);
    println!("  kind:     {}", info.kind);
    println!("  status:   {}", info.status);
    if info.kind == "secret" {
        println!("  balance:  {}", money(info.balance.as_ref()));
        if info.available != info.balance {
            println!("  available: {}", money(info.available.as_ref()));
        }
    }
    holds::print_holds(&info.holds);
    if let Some(label) = &info.label {
        println!("  label:    {label}");
    }
    if let Some(expires_at) = &info.expires_at {
        println!("  expires:  {expires_at}");
    }
    if info.irrevocable {
        println!("  irrevocable");
    }
    if !info.restrictions.is_empty() {
        // As a JSON value, so the line reads as it always has (keys in the same order).
        let rules = serde_json::to_value(&info.restrictions).unwrap_or_default();
        println!("  rules:    {rules}");
    }
    if info.pin_set {
        println!("  PIN set");
    }
    println!("  children: {}", info.children_count);
}

async fn dispatch(args: Args) -> Result<()> {
    if let Cmd::Serve(serve_args) = args.command {
        return serve::serve(serve_args).await;
    }
    if let Cmd::Completions { shell } = args.command {
        return shell::print_completions(shell);
    }
    if let Cmd::Bench(bench_args) = &args.command {
        let token = if bench_args.remote {
            Some(operator_token(&args)?)
        } else {
            None
        };
        return crate::bench::bench(bench_args.clone(), &args.broker, token, args.json).await;
    }
    let key = args.idempotency_key.as_deref();
    match &args.command {
        Cmd::Serve(_) | Cmd::Bench(_) | Cmd::Completions { .. } => {
            unreachable!("serve, bench and completions returned above")
        }
        Cmd::Issue {
            amount,
            currency,
            label,
        } => {
            let request = IssueRequest {
                amount: amount.as_str().into(),
                currency: currency.clone(),
                label: label.clone(),
            };
            let info = operator_client(&args)?.issue(&request, key).await?;
            if args.json {
                print_json(&info)
            } else {
                print_code(info.code.as_deref(), &info.view);
                Ok(())
            }
        }
        Cmd::Deposit {
            to,
            code_id,
            amount,
            currency,
        } => {
            let request = DepositRequest {
                code: to.clone(),
                code_id: code_id.clone(),
                amount: amount.as_str().into(),
                currency: currency.clone(),
            };
            let deposited = operator_client(&args)?.deposit(&request, key).await?;
            if args.json {
                return print_json(&deposited);
            }
            println!(
                "Deposited into {}: balance now {} {}",
                deposited.code_id, deposited.balance.amount, deposited.balance.currency
            );
            Ok(())
        }
        Cmd::Payout {
            code_id,
            amount,
            reference,
            currency,
        } => {
            let request = PayoutRequest {
                code_id: code_id.clone(),
                amount: amount.as_str().into(),
                currency: currency.clone(),
                reference: reference.clone(),
            };
            operator::payout(&operator_client(&args)?, &request, key, args.json).await
        }
        Cmd::Check => operator::check(&operator_client(&args)?, args.json).await,
        Cmd::Security { action } => security::security(&args, action.as_ref()).await,
        Cmd::Rates { action } => quotes::rates(&args, action).await,
        Cmd::Peer { action } => peers::peer(&args, action).await,
        Cmd::Quote {
            pay_currency,
            price,
            payee,
        } => quotes::quote(&args, pay_currency, price, payee.as_deref(), key).await,
        Cmd::SellerKey => security::seller_key(&args).await,
        Cmd::Balance => {
            let client = code_client(&args)?;
            let info = client.me().await?;
            security::keep_proof(&args, &client).await;
            if args.json {
                print_json(&info)
            } else {
                print_code(None, &info);
                Ok(())
            }
        }
        Cmd::Child {
            amount,
            public,
            label,
            expires_in,
            expires,
            irrevocable,
            uses,
            categories,
            payees,
            items,
            per_use,
            per_period,
            under,
            name,
            description,
        } => {
            let request = if *public {
                let profile = (name.is_some() || description.is_some()).then(|| ProfileRequest {
                    name: name.clone(),
                    description: description.clone(),
                    ..Default::default()
                });
                ChildRequest {
                    kind: Some("public".into()),
                    label: label.clone(),
                    under: under.clone(),
                    profile,
                    categories: (!categories.is_empty()).then(|| categories.clone()),
                    items: (!items.is_empty()).then(|| items.clone()),
                    ..Default::default()
                }
            } else {
                let amount = amount
                    .clone()
                    .ok_or_else(|| anyhow!("a secret child needs --amount (or use --public)"))?;
                ChildRequest {
                    kind: Some("secret".into()),
                    amount: Some(amount.into()),
                    label: label.clone(),
                    expires_in_seconds: *expires_in,
                    expires_at: expires.clone(),
                    irrevocable: irrevocable.then_some(true),
                    restrictions: Some(RestrictionsRequest {
                        categories: (!categories.is_empty()).then(|| categories.clone()),
                        payees: (!payees.is_empty()).then(|| payees.clone()),
                        items: (!items.is_empty()).then(|| items.clone()),
                        amount_per_use_max: per_use.clone().map(Into::into),
                        uses_max: *uses,
                        spend_per_period: per_period.clone(),
                    }),
                    ..Default::default()
                }
            };
            let info = code_client(&args)?.create_child(&request, key).await?;
            if args.json {
                print_json(&info)
            } else {
                print_code(info.code.as_deref(), &info.view);
                Ok(())
            }
        }
        Cmd::Children => {
            let children = code_client(&args)?.children().await?;
            if args.json {
                return print_json(&children);
            }
            if children.children.is_empty() {
                println!("no children");
            }
            for c in &children.children {
                let shown = c.public_code.clone().unwrap_or_else(|| money(c.balance.as_ref()));
                println!(
                    "{}  {:6}  {:9}  {}  {}",
                    c.id,
                    c.kind,
                    c.status,
                    shown,
                    c.label.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Cmd::Fund { child_id, amount } => {
            let funded = code_client(&args)?.fund(child_id, amount, key).await?;
            if args.json {
                return print_json(&funded);
            }
            println!(
                "Child {} now holds {}; this code holds {} {}",
                funded.child.id,
                money(funded.child.balance.as_ref()),
                funded.balance.amount,
                funded.balance.currency
            );
            Ok(())
        }
        Cmd::Cancel { child_id } => {
            let cancelled = code_client(&args)?.cancel(child_id, key).await?;
            if args.json {
                return print_json(&cancelled);
            }
            println!(
                "Cancelled {} code(s); reclaimed {} {}",
                cancelled.codes_cancelled, cancelled.reclaimed.amount, cancelled.reclaimed.currency
            );
            Ok(())
        }
        Cmd::Pay {
            payee,
            amount,
            quote,
            currency,
            memo,
            category,
            item,
            certificate,
        } => {
            let (code, client) = buyer(&args, "pay")?;
            let request = PaymentRequest {
                code,
                payee: payee.clone(),
                amount: amount.as_deref().map(Into::into),
                currency: currency.clone(),
                quote: quote.clone(),
                memo: memo.clone(),
                category: category.clone(),
                item: item.clone(),
                certificate: certificate.clone(),
            };
            let paid = client.pay(&request, key).await?;
            if args.json {
                return print_json(&paid);
            }
            let r = &paid.receipt;
            println!("Paid {} {} to {}", r.amount.amount, r.amount.currency, r.payee);
            println!("  receipt: {}", r.id);
            println!("  at:      {}", r.created_at);
            Ok(())
        }
        Cmd::History {
            since,
            until,
            limit,
            cursor,
            csv,
        } => {
            let params = TransactionsParams {
                since: since.clone(),
                until: until.clone(),
                limit: *limit,
                cursor: cursor.clone(),
            };
            let client = code_client(&args)?;
            if *csv {
                print!("{}", client.transactions_csv(&params).await?);
                return Ok(());
            }
            let page = client.transactions(&params).await?;
            if args.json {
                return print_json(&page);
            }
            for t in &page.transactions {
                let other = t
                    .counterparty
                    .as_deref()
                    .or(t.counterparty_id.as_deref())
                    .unwrap_or("broker");
                println!(
                    "{}  {:8}  {:>14} {}  {}  {}  {}",
                    t.at,
                    t.kind,
                    t.amount,
                    t.currency,
                    other,
                    t.receipt_id.as_deref().unwrap_or(""),
                    t.memo.as_deref().unwrap_or("")
                );
            }
            if let Some(cursor) = &page.next_cursor {
                println!("more: --cursor {cursor}");
            }
            Ok(())
        }
        Cmd::Report {
            group_by,
            since,
            until,
            csv,
        } => {
            let params = ReportParams {
                group_by: Some(group_by.clone()),
                since: since.clone(),
                until: until.clone(),
            };
            let client = code_client(&args)?;
            if *csv {
                print!("{}", client.report_csv(&params).await?);
                return Ok(());
            }
            let report = client.report(&params).await?;
            if args.json {
                return print_json(&report);
            }
            println!("{:16}  {:>6}  {:>14}  {:>14}", report.group_by, "count", "in", "out");
            for row in &report.rows {
                println!(
                    "{:16}  {:>6}  {:>14}  {:>14}",
                    row.key, row.count, row.total_in, row.total_out
                );
            }
            Ok(())
        }
        Cmd::Profile {
            child,
            name,
            description,
            url,
            contact,
            show_stats,
            categories,
            items,
        } => {
            let profile = ProfileRequest {
                name: name.clone(),
                description: description.clone(),
                url: url.clone(),
                contact: contact.clone(),
                show_stats: Some(*show_stats),
                categories: (!categories.is_empty()).then(|| categories.clone()),
                items: (!items.is_empty()).then(|| items.clone()),
            };
            let info = code_client(&args)?.set_profile(child.as_deref(), &profile).await?;
            if args.json {
                print_json(&info)
            } else {
                println!("Profile of {} saved", info.view.id);
                Ok(())
            }
        }
        Cmd::Pin { action } => {
            let client = code_client(&args)?;
            let info = match action {
                PinAction::Set(new) | PinAction::Change(new) => client.set_pin(&new.new_pin, key).await?,
                PinAction::Remove => client.remove_pin().await?,
            };
            if args.json {
                return print_json(&info);
            }
            let state = if info.view.pin_set { "has a PIN" } else { "has no PIN" };
            println!("Code {} now {state}", info.view.id);
            Ok(())
        }
        Cmd::Rekey => {
            let rekeyed = code_client(&args)?.rekey(key).await?;
            if args.json {
                return print_json(&rekeyed);
            }
            let code = rekeyed
                .code
                .as_deref()
                .ok_or_else(|| anyhow!("the broker's answer to a rekey carried no new code"))?;
            println!("New secret code: {code}");
            println!("  It replaces the old one, which no longer works. It is shown only this once.");
            println!(
                "  id: {} (unchanged, with its balance, children and history)",
                rekeyed.view.id
            );
            Ok(())
        }
        Cmd::Unlock { child_id, operator } => {
            let info = if *operator {
                operator_client(&args)?.operator_unlock(child_id, key).await?
            } else {
                code_client(&args)?.unlock(child_id, key).await?
            };
            if args.json {
                return print_json(&info);
            }
            println!("Child {} is {} again", info.view.id, info.view.status);
            Ok(())
        }
        Cmd::Hold {
            payee,
            amount,
            currency,
            memo,
            category,
            item,
            expires_in,
        } => {
            let (code, client) = buyer(&args, "hold")?;
            let request = HoldRequest {
                code,
                payee: payee.clone(),
                amount: amount.as_str().into(),
                currency: currency.clone(),
                expires_in_seconds: *expires_in,
                memo: memo.clone(),
                category: category.clone(),
                item: item.clone(),
            };
            holds::hold(&client, &request, key, args.json).await
        }
        Cmd::Authorize { .. } | Cmd::Alias { .. } => {
            instruments::run(&code_client(&args)?, &args.command, key, args.json).await
        }
        Cmd::Assurance { action } => instruments::assurance(&args, action, key).await,
        Cmd::Rules { action } => instruments::rules(&code_client(&args)?, action, key, args.json).await,
        Cmd::Fetch(fetch) => buying::fetch(&code_client(&args)?, fetch, args.json).await,
        Cmd::Approvals { action } => buying::approvals(&code_client(&args)?, action, key, args.json).await,
        Cmd::Webhook { action } => webhook::run(&args, action, key).await,
        Cmd::Sessions { action } => buying::sessions(&code_client(&args)?, action, key, args.json).await,
        Cmd::Items { action } => items::items(&args, action, key).await,
        Cmd::Buy(buy) => items::buy(&args, buy, key).await,
        Cmd::Capture { hold_id, amount } => {
            holds::capture(&code_client(&args)?, hold_id, amount.as_deref(), key, args.json).await
        }
        Cmd::Void { hold_id } => holds::void(&code_client(&args)?, hold_id, key, args.json).await,
        Cmd::Refund {
            receipt_id,
            amount,
            reason,
        } => {
            let request = RefundRequest {
                amount: amount.as_deref().map(Into::into),
                reason: reason.clone(),
            };
            holds::refund(&code_client(&args)?, receipt_id, &request, key, args.json).await
        }
        Cmd::Public { public_code } => checks::public(&args.broker, public_code, args.json).await,
        Cmd::Vouch {
            target,
            name,
            withdraw: _,
            operator,
        } => {
            let client = if *operator {
                operator_client(&args)?
            } else {
                code_client(&args)?
            };
            checks::vouch(&client, target, name.as_deref(), key, args.json).await
        }
        Cmd::Receipt { receipt, verify, key } => receipt::run(&args, receipt, *verify, key.as_deref()).await,
    }
}
