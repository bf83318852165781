//! Every shape goes through JSON and back unchanged, and the JSON is exactly what the contract
//! (API.md) says. Each case goes through `check`, so a change of format is one snapshot to edit.

use serde::de::DeserializeOwned;
use serde::Serialize;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{parse_code, CodeId, ParsedCode};
use smartcode_core::model::{Payer, Receipt};
use smartcode_core::money::{Amount, Currency};

use crate::*;

/// Serializes `value`, compares the JSON with `expected`, reads it back and compares it with
/// `value`.
#[track_caller]
fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T, expected: &str) {
    let json = serde_json::to_string_pretty(value).expect("a shape serializes");
    assert_eq!(json, expected.trim(), "the JSON changed");
    let back: T = serde_json::from_str(&json).expect("a shape reads its own JSON");
    assert_eq!(&back, value, "the round trip changed the value");
}

fn usd(amount: &str) -> Money {
    Money {
        amount: amount.into(),
        currency: "USD".into(),
    }
}

fn receipt_json() -> ReceiptJson {
    ReceiptJson {
        id: "r_01jd5v3qz8a7kq2m9xd4wz8nk3".into(),
        payer_id: "c_7kq2m9xd4wz8nk3q".into(),
        payee: "P-4WZ8N-K3QJD".into(),
        payee_id: "c_0a1b2c3d4e5f6g7h".into(),
        amount: usd("0.25"),
        memo: Some("a song".into()),
        category: None,
        item: None,
        created_at: "2026-11-24T12:00:00Z".into(),
        broker: "broker.example".into(),
        version: Some("smartcode-receipt-v2".into()),
        signature: "5f0c".into(),
        batch: Some(ReceiptBatchJson {
            root: "9a1e".into(),
            size: 3,
            index: 2,
            path: vec!["77c4".into()],
        }),
        approval: None,
    }
}

#[test]
fn a_receipt_keeps_its_exact_json() {
    check(
        &PaidJson {
            receipt: receipt_json(),
        },
        r#"
{
  "receipt": {
    "id": "r_01jd5v3qz8a7kq2m9xd4wz8nk3",
    "payer_id": "c_7kq2m9xd4wz8nk3q",
    "payee": "P-4WZ8N-K3QJD",
    "payee_id": "c_0a1b2c3d4e5f6g7h",
    "amount": {
      "amount": "0.25",
      "currency": "USD"
    },
    "memo": "a song",
    "category": null,
    "item": null,
    "created_at": "2026-11-24T12:00:00Z",
    "broker": "broker.example",
    "version": "smartcode-receipt-v2",
    "signature": "5f0c",
    "batch": {
      "root": "9a1e",
      "size": 3,
      "index": 2,
      "path": [
        "77c4"
      ]
    }
  }
}"#,
    );
}

/// A receipt of version 1 (no `version`, no `batch`) still reads.
#[test]
fn a_version_1_receipt_still_reads() {
    let old = r#"{"id": "r_1", "payer_id": "c_1", "payee": "P-4WZ8N-K3QJD", "payee_id": "c_2",
        "amount": {"amount": "0.25", "currency": "USD"}, "memo": null, "category": null, "item": null,
        "created_at": "2026-11-24T12:00:00Z", "broker": "broker.example", "signature": "5f0c"}"#;
    let read: ReceiptJson = serde_json::from_str(old).unwrap();
    assert_eq!((read.version, read.batch), (None, None));
}

/// The unsigned receipt a broker signs holds the transfer's fields and the payer as given.
#[test]
fn an_unsigned_receipt_holds_every_field_of_the_payment() {
    let ParsedCode::Public(payee) = parse_code(
        "P-4WZ8N-K3QJD",
        "broker.example",
        smartcode_core::format::CodeFormat::DEFAULT,
    )
    .unwrap() else {
        panic!("a public code parses as one");
    };
    let receipt = Receipt {
        id: "r_01jd5v3qz8a7kq2m9xd4wz8nk3".into(),
        payer: Payer::Code(CodeId::parse("c_7kq2m9xd4wz8nk3q").unwrap()),
        owner_id: CodeId::parse("c_0000000000000002").unwrap(),
        payee,
        payee_id: CodeId::parse("c_0a1b2c3d4e5f6g7h").unwrap(),
        amount: Amount::parse("0.25").unwrap(),
        currency: Currency::parse("USD").unwrap(),
        memo: Some("a song".into()),
        category: None,
        item: None,
        created_at: Timestamp::parse_rfc3339("2026-11-24T12:00:00Z").unwrap(),
    };
    let mut expected = receipt_json();
    expected.version = None;
    expected.signature = String::new();
    expected.batch = None;
    assert_eq!(
        ReceiptJson::unsigned(&receipt, "broker.example", "c_7kq2m9xd4wz8nk3q".into()),
        expected
    );
}

fn code() -> CodeJson {
    CodeJson {
        id: "c_7kq2m9xd4wz8nk3q".into(),
        kind: "secret".into(),
        public_code: None,
        balance: Some(usd("1.75")),
        available: Some(usd("1.75")),
        currency: "USD".into(),
        status: "active".into(),
        parent_id: Some("c_0a1b2c3d4e5f6g7h".into()),
        label: Some("pocket money".into()),
        profile: ProfileJson::default(),
        catalog: None,
        restrictions: RestrictionsJson {
            uses_max: Some(2),
            uses_left: Some(1),
            ..Default::default()
        },
        expires_at: None,
        irrevocable: false,
        pin_set: true,
        children_count: 0,
        created_at: "2026-11-24T12:00:00Z".into(),
        holds: Vec::new(),
        authorizations: Vec::new(),
        alias: None,
    }
}

#[test]
fn a_new_code_carries_its_secret_beside_its_view_and_a_shown_code_does_not() {
    let created = CreatedJson {
        code: Some("7KQ2-M9XD".into()),
        view: code(),
    };
    check(
        &created,
        r#"
{
  "code": "7KQ2-M9XD",
  "id": "c_7kq2m9xd4wz8nk3q",
  "kind": "secret",
  "balance": {
    "amount": "1.75",
    "currency": "USD"
  },
  "available": {
    "amount": "1.75",
    "currency": "USD"
  },
  "currency": "USD",
  "status": "active",
  "parent_id": "c_0a1b2c3d4e5f6g7h",
  "label": "pocket money",
  "profile": {
    "name": null,
    "description": null,
    "url": null,
    "contact": null,
    "show_stats": false,
    "checked": null
  },
  "restrictions": {
    "uses_max": 2,
    "uses_left": 1
  },
  "expires_at": null,
  "irrevocable": false,
  "pin_set": true,
  "children_count": 0,
  "created_at": "2026-11-24T12:00:00Z"
}"#,
    );
    let shown: CreatedJson = serde_json::from_str(&serde_json::to_string(&code()).unwrap()).unwrap();
    assert_eq!(shown.code, None);
    assert_eq!(shown.view, code());
}

#[test]
fn every_other_answer_goes_through_json_and_back() {
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }
    round_trip(ChildrenJson { children: vec![code()] });
    round_trip(DepositedJson {
        id: "t_0a1b2c3d4e5f6g7h".into(),
        code_id: "c_7kq2m9xd4wz8nk3q".into(),
        balance: usd("13.00"),
    });
    round_trip(PaidOutJson {
        id: "t_0a1b2c3d4e5f6g7h".into(),
        code_id: "c_7kq2m9xd4wz8nk3q".into(),
        amount: usd("2.00"),
        reference: "bank transfer 2026-118".into(),
        balance: usd("11.00"),
        created_at: "2026-11-24T12:00:00Z".into(),
    });
    round_trip(FundedJson {
        child: code(),
        balance: usd("8.25"),
    });
    round_trip(CancelledJson {
        reclaimed: usd("2.75"),
        codes_cancelled: 3,
    });
    round_trip(TransactionsJson {
        transactions: vec![EntryJson {
            id: "r_01jd5v3qz8a7kq2m9xd4wz8nk3".into(),
            at: "2026-11-24T12:00:00Z".into(),
            kind: "payment".into(),
            amount: "-0.25".into(),
            currency: "USD".into(),
            counterparty_id: Some("c_0a1b2c3d4e5f6g7h".into()),
            counterparty: Some("P-4WZ8N-K3QJD".into()),
            memo: None,
            public_code_id: None,
            public_code: Some("P-4WZ8N-K3QJD".into()),
            receipt_id: Some("r_01jd5v3qz8a7kq2m9xd4wz8nk3".into()),
            category: Some("music".into()),
            item: None,
        }],
        next_cursor: Some("42".into()),
    });
    round_trip(ReportJson {
        group_by: "month".into(),
        rows: vec![ReportRowJson {
            key: "2026-11".into(),
            count: 1,
            total_in: "1.25".into(),
            total_out: "0.00".into(),
        }],
        truncated: false,
    });
    round_trip(LedgerCheckJson {
        ok: true,
        currencies: vec![CurrencyCheckJson {
            currency: "USD".into(),
            issued: "12.00".into(),
            paid_out: "1.00".into(),
            outstanding: "11.00".into(),
            held_by_codes: "11.00".into(),
            exchange: "0.00".into(),
            sum: "0.00".into(),
            accounts: 3,
            transfers: 4,
        }],
        negative_balances: 0,
        mismatched_accounts: 0,
        uncovered_holds: 0,
        checked_at: "2026-11-24T12:00:00Z".into(),
    });
    round_trip(QuotedJson {
        quote: QuoteJson {
            id: "q_0a1b2c3d4e5f6g7h".into(),
            price: usd("10.00"),
            pay: Money::new(9_305_556, Currency::parse("EUR").unwrap()),
            rate: "1.08".into(),
            fee: FeeJson {
                bps: 50,
                amount: Money::new(46_296, Currency::parse("EUR").unwrap()),
            },
            payee: None,
            created_at: "2026-11-24T12:00:00Z".into(),
            expires_at: "2026-11-24T12:15:00Z".into(),
        },
    });
    round_trip(RatesJson {
        rates: vec![RateJson {
            from: "EUR".into(),
            to: "USD".into(),
            rate: "1.08".into(),
            fee_bps: 50,
            set_at: "2026-11-24T12:00:00Z".into(),
        }],
    });
    round_trip(ExchangeJson {
        currencies: vec![ExchangePositionJson {
            currency: "USD".into(),
            position: "-10.00".into(),
        }],
    });
    round_trip(PublicJson {
        public_code: "P-4WZ8N-K3QJD".into(),
        id: "c_0a1b2c3d4e5f6g7h".into(),
        currency: "USD".into(),
        status: "active".into(),
        profile: ProfileJson {
            name: Some("Ann".into()),
            show_stats: true,
            checked: Some(CheckJson {
                by: "ancestor".into(),
                depth: 1,
                name: Some("Ann's shops".into()),
                at: "2026-11-24T12:00:00Z".into(),
                reaches_broker: false,
            }),
            ..Default::default()
        },
        catalog: CatalogJson {
            categories: Some(vec!["music".into()]),
            items: None,
        },
        ancestry: vec![AncestorJson {
            depth: 0,
            kind: "broker".into(),
            profile: None,
        }],
        stats: Some(StatsJson {
            payments: 1,
            total: usd("0.25"),
        }),
    });
}

#[test]
fn a_problem_writes_its_kind_as_type() {
    check(
        &ProblemJson {
            kind: "/problems/insufficient_funds".into(),
            title: "Payment Required".into(),
            status: 402,
            detail: "the code's available balance is below the amount".into(),
            code: "insufficient_funds".into(),
            tries_left: None,
            difficulty_bits: None,
        },
        r#"
{
  "type": "/problems/insufficient_funds",
  "title": "Payment Required",
  "status": 402,
  "detail": "the code's available balance is below the amount",
  "code": "insufficient_funds"
}"#,
    );
}

#[test]
fn an_answer_with_fields_this_crate_does_not_know_still_reads() {
    let mut json = serde_json::to_value(CancelledJson {
        reclaimed: usd("1.00"),
        codes_cancelled: 1,
    })
    .unwrap();
    json["added_by_a_newer_broker"] = serde_json::json!(true);
    let read: CancelledJson = serde_json::from_value(json).unwrap();
    assert_eq!(read.codes_cancelled, 1);
}

#[test]
fn a_request_leaves_out_what_it_does_not_say_and_reads_back_the_same() {
    let request = ChildRequest {
        kind: Some("secret".into()),
        amount: Some("2".into()),
        restrictions: Some(RestrictionsRequest {
            categories: Some(vec!["music".into()]),
            spend_per_period: Some(SpendRequest {
                amount: "1.50".into(),
                period_seconds: 86_400,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"secret","amount":"2","restrictions":{"categories":["music"],"spend_per_period":{"amount":"1.50","period_seconds":86400}}}"#
    );
    assert_eq!(serde_json::from_str::<ChildRequest>(&json).unwrap(), request);
}

#[test]
fn a_request_amount_is_a_decimal_string_and_counts_are_whole_numbers() {
    let text: FundRequest = serde_json::from_str(r#"{"amount": "0.25"}"#).unwrap();
    assert_eq!(text.amount, RequestAmount("0.25".into()));
    assert_eq!(serde_json::to_string(&text).unwrap(), r#"{"amount":"0.25"}"#);
    for number in [r#"{"amount": 10}"#, r#"{"amount": 0.25}"#] {
        assert!(
            serde_json::from_str::<FundRequest>(number).is_err(),
            "never a number: {number}"
        );
    }
    let clock: ClockRequest = serde_json::from_str(r#"{"advance_seconds": 484.0}"#).unwrap();
    assert_eq!(
        clock.advance_seconds, 484,
        "a whole number may be written with a zero fraction"
    );
    assert!(serde_json::from_str::<ClockRequest>(r#"{"advance_seconds": 1.5}"#).is_err());
}

#[test]
fn a_request_with_a_misspelt_field_is_refused() {
    let misspelt =
        serde_json::from_str::<PaymentRequest>(r#"{"code":"7KQ2-M9XD","payee":"P-4WZ8N-K3QJD","amont":"1"}"#);
    assert!(misspelt.is_err());
    let profile = serde_json::from_str::<ProfileRequest>(r#"{"nmae":"Ann"}"#);
    assert!(profile.is_err());
}

#[test]
fn a_double_is_read_as_a_whole_number_from_its_bits() {
    use crate::requests::whole_from_bits;
    let cases = [
        (0.0_f64, Some(0)),
        (-0.0, Some(0)),
        (1.0, Some(1)),
        (484.0, Some(484)),
        (-60.0, Some(-60)),
        (4_503_599_627_370_496.0, Some(4_503_599_627_370_496)),
        (9_007_199_254_740_992.0, Some(9_007_199_254_740_992)),
        (0.5, None),
        (3600.5, None),
        (1e-300, None),
        (1e300, None),
        (f64::INFINITY, None),
        (f64::NAN, None),
    ];
    for (value, expected) in cases {
        assert_eq!(whole_from_bits(value.to_bits()), expected, "{value}");
    }
}
