//! What anyone may read: a public code's page data, the broker's metadata (`/.well-known/smartcode`),
//! the OpenAPI document, the health check, and the home page.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use smartcode_core::code::PublicCode;
use smartcode_core::ledger::reports::{self, PublicView};

use super::OPENAPI_JSON;
use super::{json_bytes, json_value, read, unexpected, Entry};
use crate::extract::Segment;
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/public/{public_code}", get(handle_public_code)),
        (Method::GET, "/.well-known/smartcode", get(well_known)),
        (Method::GET, "/openapi.json", get(openapi)),
        (Method::GET, "/healthz", get(healthz)),
        (Method::GET, "/", get(crate::web::home)),
    ]
}

/// What anyone sees of a public code: its profile, its ancestry and, if shown, its statistics.
pub(crate) async fn public_code(state: &AppState, code: PublicCode) -> Result<PublicView, ApiError> {
    let reports::QueryOutcome::Public(view) = read(state, None, reports::Query::Public { code }).await? else {
        return Err(unexpected());
    };
    Ok(view)
}

async fn handle_public_code(State(state): State<AppState>, Segment(text): Segment) -> Result<Response, ApiError> {
    let code = super::aliases::payee(&state, &text)
        .await
        .map_err(|_| ApiError::not_found("public code"))?;
    let view = public_code(&state, code).await?;
    let mut ancestry: Vec<AncestorJson> = view
        .ancestry
        .iter()
        .map(|a| AncestorJson {
            depth: a.depth,
            kind: kind_word(a.kind),
            profile: a.profile.as_ref().map(|p| ProfileJson::checked(p, a.check.as_ref())),
        })
        .collect();
    ancestry.push(AncestorJson {
        depth: 0,
        kind: "broker".to_owned(),
        profile: Some(ProfileJson {
            name: Some(state.config.name.clone()),
            description: None,
            url: None,
            contact: None,
            show_stats: false,
            checked: None,
        }),
    });
    let currency = view.record.currency;
    let mut body = json!({
        "public_code": view.record.public_code.as_ref().map(ToString::to_string),
        "id": view.record.id.to_string(),
        "currency": currency.to_string(),
        "status": view.record.status_at(state.clock.now()).as_str(),
        "profile": ProfileJson::checked(&view.record.profile, view.check.as_ref()),
        "catalog": CatalogJson::from(&view.catalog),
        "ancestry": ancestry,
    });
    if let Some((payments, total_units)) = view.stats {
        body["stats"] = json!({ "payments": payments, "total": Money::new(total_units, currency) });
    }
    Ok(json_value(StatusCode::OK, body))
}

async fn well_known(State(state): State<AppState>) -> Result<Response, ApiError> {
    let peers: Vec<serde_json::Value> = super::federation::listed_peers(&state)
        .await?
        .iter()
        .map(|p| {
            json!({
                "name": p.title, "domain": p.domain, "url": p.url,
                "broker_number": p.broker_number, "fingerprint": p.fingerprint(),
            })
        })
        .collect();
    Ok(json_value(
        StatusCode::OK,
        json!({
            "name": state.config.name,
            "domain": state.config.domain,
            "api_base": "/v1",
            "openapi": "/openapi.json",
            "version": env!("CARGO_PKG_VERSION"),
            "store": state.store.kind(),
            "broker_number": state.config.broker_number.as_str(),
            "code_formats": {
                "secret": secret_format(state.config.code_format()),
                "public": { "prefix": "P-", "alphabet": "crockford-base32", "symbols": smartcode_core::code::PUBLIC_CODE_SYMBOLS, "example": "P-4WZ8N-K3QJD" },
                "numeric": numeric_formats(&state.config.broker_number),
            },
            "federation": {
                "endpoint": super::federation::ENDPOINT_PATH,
                "signing_key": hex::encode(state.keys.federation_key().to_bytes()),
                "fingerprint": smartcode_core::model::key_fingerprint(&state.keys.federation_key().to_bytes()),
                "peers": peers,
            },
            "amount_decimals": smartcode_core::money::DECIMALS,
            "currencies": "any ISO 4217 style three-letter code; each code holds one",
            "receipt_signature": receipt_signature(state.keys.verifying_key()),
            "certificate_signature": {
                "algorithm": "ed25519",
                "public_key": hex::encode(state.keys.verifying_key().to_bytes()),
                "message": smartcode_receipt::CERTIFICATE_V1,
                "format": "the line 'smartcode-certificate-v1', then one line per field in this order: id, broker, assurance_id, code_id, floor, currency, payee, issued_at, valid_until (floor is the decimal amount of the certificate's floor object). A field's line is its name, a space, the byte length of its value (UTF-8) in decimal, a space, the value and a newline. The signature (hex) is Ed25519 over those bytes with the key above, the receipts' key.",
            },
            "download_token": {
                "algorithm": "ed25519",
                "public_key": hex::encode(state.keys.verifying_key().to_bytes()),
                "message": smartcode_receipt::DOWNLOAD_V1,
                "format": "a token is v1.{item_id}.{receipt_id}.{expires_at}.{signature}: expires_at in Unix seconds (decimal), signature the hex Ed25519 signature with the key above (the receipts' key) over the message 'smartcode-download-v1\n{item_id}\n{receipt_id}\n{expires_at}\n'. A seller's server accepts it for its item before expires_at.",
                "parameter": "smartcode_token",
            },
        }),
    ))
}

/// The secret codes this broker issues (`serve --code-alphabet`, `--code-length`).
fn secret_format(format: smartcode_core::format::CodeFormat) -> serde_json::Value {
    use smartcode_core::format::Alphabet;
    let alphabet = match format.alphabet() {
        Alphabet::Crockford => "crockford-base32",
        Alphabet::Digits => "digits",
    };
    json!({ "alphabet": alphabet, "symbols": format.length(), "example": format.example() })
}

/// The all-digit codes: the broker's number, random digits, a Luhn check digit.
fn numeric_formats(broker: &smartcode_core::numeric::BrokerNumber) -> serde_json::Value {
    use smartcode_core::numeric::NumericKind;
    let shape = |kind: NumericKind| {
        json!({
            "digits": broker.length(kind),
            "random_digits": broker.random_digits(kind),
        })
    };
    json!({
        "prefix": broker.as_str(),
        "check_digit": "luhn",
        "authorization": shape(NumericKind::Authorization),
        "secret_alias": shape(NumericKind::SecretAlias),
        "public_alias": shape(NumericKind::PublicAlias),
    })
}

/// The receipt whose message `/.well-known/smartcode` shows as an example.
fn example_receipt() -> ReceiptJson {
    ReceiptJson {
        id: "r_1".into(),
        payer_id: "pp_1".into(),
        payee: "P-4WZ8N-K3QJD".into(),
        payee_id: "c_1".into(),
        amount: Money {
            amount: "0.25".into(),
            currency: "USD".into(),
        },
        memo: Some("a song".into()),
        category: None,
        item: None,
        created_at: "2026-12-02T08:00:00Z".into(),
        broker: "broker.example".into(),
        version: None,
        signature: String::new(),
        batch: None,
        approval: None,
    }
}

/// How a receipt is checked, exactly: what `smartcode-receipt` implements, written for anyone
/// who checks one with other tools.
fn receipt_signature(key: ed25519_dalek::VerifyingKey) -> serde_json::Value {
    json!({
        "algorithm": "ed25519",
        "public_key": hex::encode(key.to_bytes()),
        "message": smartcode_receipt::V2,
        "versions": {
            "smartcode-receipt-v2": {
                "message": "the line 'smartcode-receipt-v2', then one line per field in this order: id, broker, payer_id, payee, payee_id, amount, currency, memo, category, item, created_at (amount and currency are the fields of the receipt's amount object). A field's line is its name, a space, the byte length of its value (UTF-8, as in the JSON) in decimal, a space, the value and a newline; a null field is its name, a space, '-' and a newline.",
                "example": String::from_utf8(smartcode_receipt::message_v2(&example_receipt())).expect("UTF-8 in, UTF-8 out"),
                "leaf": "SHA-256(0x00 || message)",
                "node": "SHA-256(0x01 || left || right)",
                "tree": "the leaves of a signing batch in order (batch.index), paired level by level; the last node of a level with an odd count goes up unchanged; batch.path lists the sibling hashes (hex) from the leaf up, none for a level where the node has no sibling",
                "signed": "smartcode-receipt-v2-root\n{batch.size}\n{root, lowercase hex}\n",
                "signature": "the receipt's signature field: Ed25519 over the signed root message, hex; batch.root is the root it names",
            },
            "smartcode-receipt-v1": {
                "message": "smartcode-receipt-v1\n{id}\n{payer_id}\n{payee}\n{amount}\n{currency}\n{created_at}\n",
                "signature": "Ed25519 over the message, hex; a receipt without a version field is of version 1; no longer issued, still verifiable",
            },
        },
    })
}

/// The OpenAPI document; a broker of another code format describes the secret codes it reads.
async fn openapi(State(state): State<AppState>) -> Response {
    let format = state.config.code_format();
    if format == smartcode_core::format::CodeFormat::DEFAULT {
        return json_bytes(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec());
    }
    let mut document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("the document is JSON");
    let input = &mut document["components"]["schemas"]["CodeInput"];
    input["pattern"] = format.input_pattern().into();
    input["examples"] = json!([format.example()]);
    if let Some(description) = input["description"].as_str() {
        let rest = description.split_once(". ").map_or("", |(_, rest)| rest);
        input["description"] = format!(
            "A secret code of this broker as a person typed it: {format} (code_formats in \
             /.well-known/smartcode); case, spaces, tabs and hyphens are ignored, `O` reads as `0` and \
             `I`/`L` as `1`. {rest}"
        )
        .into();
    }
    json_value(StatusCode::OK, document)
}

async fn healthz() -> Response {
    json_value(StatusCode::OK, json!({ "ok": true }))
}
