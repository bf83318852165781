//! Who stands behind a name, on the command line: `vouch` marks a profile as checked (or takes the
//! mark back), and `public` shows each name with who checked it, or says it is only declared.

use anyhow::Result;
use smartcode_client::{CheckJson, Client, ProfileJson};

use super::print_json;

/// `vouch CODE --name NAME` / `vouch CODE --withdraw`, as the code or (`operator`) as the broker.
pub(super) async fn vouch(
    client: &Client,
    code: &str,
    name: Option<&str>,
    idempotency_key: Option<&str>,
    json: bool,
) -> Result<()> {
    let answer = client.set_check(code, name, idempotency_key).await?;
    if json {
        return print_json(&answer);
    }
    let view = &answer.view;
    let named = view.profile.name.as_deref().unwrap_or("(no name)");
    match &view.profile.checked {
        Some(check) => println!("{:?} ({}) is {}", named, view.id, checked_by(check)),
        None => println!(
            "{:?} ({}) is not checked: its name is only what its holder declared",
            named, view.id
        ),
    }
    Ok(())
}

/// "checked by the broker", or "checked by "UNICEF" (depth 1, itself checked by the broker)".
pub(super) fn checked_by(check: &CheckJson) -> String {
    if check.by == "broker" {
        return "checked by the broker".to_owned();
    }
    let name = check
        .name
        .as_deref()
        .map_or("an unnamed code".to_owned(), |n| format!("{n:?}"));
    let standing = if check.reaches_broker {
        "whose own name the broker stands behind"
    } else {
        "whose own name nobody checked"
    };
    format!("checked by {name} (depth {}, {standing})", check.depth)
}

/// A profile's name with what stands behind it.
fn name_line(profile: &ProfileJson) -> String {
    let name = profile.name.as_deref().unwrap_or("-");
    match (&profile.checked, &profile.name) {
        (Some(check), _) => format!("{name}  [{}]", checked_by(check)),
        (None, Some(_)) => format!("{name}  [self-declared: nobody checked this name]"),
        (None, None) => name.to_owned(),
    }
}

/// `public CODE`: the profile, the ancestry with each name's standing, and the statistics.
pub(super) async fn public(broker: &str, public_code: &str, json: bool) -> Result<()> {
    let info = Client::new(broker).public(public_code).await?;
    if json {
        return print_json(&info);
    }
    println!("{}  ({})", info.public_code, info.status);
    println!("  name:  {}", name_line(&info.profile));
    if let Some(description) = &info.profile.description {
        println!("  about: {description}");
    }
    for a in &info.ancestry {
        let name = match &a.profile {
            _ if a.kind == "broker" => a.profile.as_ref().and_then(|p| p.name.clone()).unwrap_or_default(),
            Some(profile) => name_line(profile),
            None => "(no public profile)".to_owned(),
        };
        println!("  ancestor at depth {}: {} {}", a.depth, a.kind, name);
    }
    if let Some(stats) = &info.stats {
        println!(
            "  received {} payments, {} {}",
            stats.payments, stats.total.amount, stats.total.currency
        );
    }
    Ok(())
}
