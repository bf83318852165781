//! Items from the command line: a seller's `items create|upload|list`, a buyer's
//! `buy ITEM`, which pays for an item with the code and saves what it bought (or prints the
//! seller's address with its download token, for an item kept on the seller's server), and a
//! giver's `items share ITEM --uses N` (free downloads for whoever opens the printed link) and
//! `items shares` (how many of each were used); `items license|license-show` are in
//! [`super::licenses`].

use anyhow::{Context, Result};
use clap::Subcommand;
use smartcode_client::*;

#[derive(Subcommand, Debug)]
pub enum ItemsAction {
    /// Put an item up for sale from one of this code's public codes; without --url, upload its
    /// content next (`items upload`).
    Create {
        #[arg(long)]
        title: String,
        #[arg(long)]
        price: String,
        /// The public code (P-…) paid for it.
        #[arg(long = "public")]
        public_code: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        category: Option<String>,
        /// Where your own server keeps the content: buyers get a signed token for it.
        #[arg(long)]
        url: Option<String>,
    },
    /// Upload an item's content from FILE (at most 4 MiB).
    Upload {
        id: String,
        file: std::path::PathBuf,
        /// The type downloads are served as.
        #[arg(long = "type", default_value = "application/octet-stream")]
        content_type: String,
    },
    /// The items this code sells.
    List,
    /// Pay for USES downloads of an item and print the link that gives them free to whoever opens
    /// it; at its expiry what is left comes back to this code.
    Share {
        id: String,
        #[arg(long)]
        uses: u32,
        /// Seconds until the link ends (default 30 days).
        #[arg(long = "expires-in", default_value_t = 30 * 24 * 3600)]
        expires_in: i64,
    },
    /// The shares this code gave, with how many of each were used.
    Shares,
    /// Pay for COPIES of an item (or, with --work, a named work at --price to --payee) and get a
    /// license code whose page says who paid for how many copies of what.
    License(super::licenses::LicenseArgs),
    /// A license as anyone reads it, its receipt's signature checked here against the broker's key.
    LicenseShow { license_code: String },
}

fn describe_share(share: &ShareJson) -> String {
    format!(
        "{}  {}  used {} of {}  left {} {}  {}  until {}",
        share.id,
        share.item_title,
        share.used,
        share.uses,
        share.left.amount,
        share.left.currency,
        share.status,
        share.expires_at.as_deref().unwrap_or("-")
    )
}

/// `smartcode items share|shares`.
async fn shares(client: &Client, action: &ItemsAction, key: Option<&str>, json: bool) -> Result<()> {
    if let ItemsAction::Share { id, uses, expires_in } = action {
        let request = ShareRequest {
            item_id: id.clone(),
            uses: *uses,
            expires_in_seconds: *expires_in,
        };
        let made = client.share_item(&request, key).await?;
        if json {
            return super::print_json(&made);
        }
        println!("{}", describe_share(&made.share));
        println!("Link (it carries the share's code; anyone who opens it downloads free):");
        println!("{}{}", client.base(), made.link);
        return Ok(());
    }
    let given = client.my_shares().await?;
    if json {
        return super::print_json(&given);
    }
    if given.shares.is_empty() {
        println!("No shares.");
    }
    for share in &given.shares {
        println!("{}", describe_share(share));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct BuyArgs {
    /// The item's id (it_…).
    pub item: String,
    /// Where to save what was bought; without it, the download's address is printed.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

fn describe(item: &ItemJson) -> String {
    let content = item
        .content
        .as_ref()
        .map_or(String::new(), |c| format!(", {} bytes, sha256 {}", c.bytes, c.sha256));
    format!(
        "{}  {} {}  {}  ({}{content})  {}",
        item.id, item.price.amount, item.price.currency, item.title, item.delivery, item.page
    )
}

/// `smartcode items create|upload|list`.
pub(super) async fn items(args: &super::args::Args, action: &ItemsAction, key: Option<&str>) -> Result<()> {
    // A license is read by anyone; everything else here is the code's own.
    let client = match action {
        ItemsAction::LicenseShow { .. } => Client::new(&args.broker),
        _ => super::code_client(args)?,
    };
    let (client, json) = (&client, args.json);
    let answered = match action {
        ItemsAction::Create {
            title,
            price,
            public_code,
            description,
            category,
            url,
        } => {
            let request = ItemRequest {
                title: title.clone(),
                description: description.clone(),
                price: price.as_str().into(),
                category: category.clone(),
                public_code: public_code.clone(),
                url: url.clone(),
            };
            vec![client.create_item(&request, key).await?.item]
        }
        ItemsAction::Upload { id, file, content_type } => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            vec![client.upload_item(id, content_type, bytes).await?.item]
        }
        ItemsAction::List => client.my_items().await?.items,
        ItemsAction::Share { .. } | ItemsAction::Shares => return shares(client, action, key, json).await,
        ItemsAction::License(args) => return super::licenses::buy(client, args, key, json).await,
        ItemsAction::LicenseShow { license_code } => return super::licenses::show(client, license_code, json).await,
    };
    if json {
        return match action {
            ItemsAction::List => super::print_json(&ItemsJson { items: answered }),
            _ => super::print_json(&answered[0]),
        };
    }
    if answered.is_empty() {
        println!("No items.");
    }
    for item in &answered {
        println!("{}", describe(item));
    }
    Ok(())
}

/// `smartcode buy ITEM [--out FILE]`.
pub(super) async fn buy(cli: &super::args::Args, args: &BuyArgs, key: Option<&str>) -> Result<()> {
    let json = cli.json;
    let (code, client) = super::buyer(cli, "buy")?;
    let bought = client.buy_item(&args.item, &code, key).await?;
    let Some(out) = &args.out else {
        if json {
            return super::print_json(&bought);
        }
        println!(
            "Paid {} {} (receipt {}). Download: {} ({} fetches, until {})",
            bought.receipt.amount.amount,
            bought.receipt.amount.currency,
            bought.receipt.id,
            bought.download.url,
            bought.download.fetches_left,
            bought.download.expires_at
        );
        return Ok(());
    };
    match client.download(&bought.download.url).await? {
        Download::Bytes(bytes) => {
            std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "Paid {} {} (receipt {}); saved {} bytes to {}.",
                bought.receipt.amount.amount,
                bought.receipt.amount.currency,
                bought.receipt.id,
                bytes.len(),
                out.display()
            );
        }
        Download::Elsewhere(location) => println!("Paid; the seller serves it at {location}"),
    }
    Ok(())
}
