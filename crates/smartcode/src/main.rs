//! `smartcode`: the broker (`smartcode serve`) and its command-line client (every other command).

mod bench;
mod cli;
mod process;
mod serve;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    process::init_logging();
    cli::run(args).await
}
