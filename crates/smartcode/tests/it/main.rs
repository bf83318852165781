//! The one integration-test binary of the `smartcode` crate: every test here starts the real
//! `smartcode` binary on a fresh data directory and port, and talks to it over HTTP or runs the
//! CLI against it. Every test that moves money ends with the ledger check.

mod harness;

mod api;
mod assurances;
mod authorizations;
mod catalog;
mod checks;
mod cli;
mod controls;
mod crash;
mod federation;
mod federation_instruments;
mod federation_refunds;
mod formats;
mod forms;
mod guessing;
mod holds;
mod items;
mod licenses;
mod openapi;
mod pages;
mod payout;
mod peers;
mod postgres;
mod problems;
mod purchases;
mod quotes;
mod readme;
mod receipts;
mod refunds;
mod schemathesis;
mod secrets;
mod sellers;
mod serve;
mod sessions;
mod shares;
mod shell;
mod spending_rules;
mod tidy;
mod web;
mod webhooks;
