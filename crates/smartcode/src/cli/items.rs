//! Items from the command line: a seller's `items create|upload|list`, and a buyer's
//! `buy ITEM`, which pays for an item with the code and saves what it bought (or prints the
//! seller's address with its download token, for an item kept on the seller's server).

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
pub(super) async fn items(client: &Client, action: &ItemsAction, key: Option<&str>, json: bool) -> Result<()> {
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
