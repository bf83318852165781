//! Quotes across currencies (issue 14): the operator sets rates with a fee, anyone asks for a
//! quote, and a buyer pays a seller in another currency with it: the buyer's code pays `pay` into
//! the broker's exchange account in its currency, the exchange account pays the price to the
//! seller in the price's, both or neither. Both amounts are exact, each currency sums to zero,
//! the exchange account's position is the operator's report, and a quote pays once, only its
//! payee, only for 15 minutes. On both stores (these tests run again on PostgreSQL).

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, Reply, TestBroker};

async fn set_rate(broker: &TestBroker, from: &str, to: &str, body: Value) -> Reply {
    broker
        .put(&format!("/v1/admin/rates/{from}/{to}"), Auth::Operator, body)
        .await
}

async fn quote(broker: &TestBroker, body: Value) -> Reply {
    broker.post("/v1/quotes", Auth::None, body).await
}

async fn pay_with(broker: &TestBroker, code: &str, payee: &str, quote: &str) -> Reply {
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": code, "payee": payee, "quote": quote }),
        )
        .await
}

/// What the exchange account holds per currency, as the operator reads it.
async fn positions(broker: &TestBroker) -> Vec<(String, String)> {
    let report = broker.get("/v1/admin/exchange", Auth::Operator).await.expect(200);
    report.body["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["currency"].as_str().unwrap().to_owned(),
                c["position"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A buyer with 20 EUR, a seller in USD with a shop, and the rate EUR → USD 1.08 with a 0.5% fee.
struct Market {
    buyer: String,
    seller: String,
    shop: String,
}

async fn market(broker: &TestBroker) -> Market {
    set_rate(broker, "EUR", "USD", json!({ "rate": "1.08", "fee_bps": 50 }))
        .await
        .expect(200);
    let (buyer, _) = broker.issue("20", "EUR").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    Market { buyer, seller, shop }
}

#[tokio::test]
async fn a_quote_fixes_both_amounts_and_pays_through_the_exchange_account() {
    let broker = TestBroker::start().await;
    let m = market(&broker).await;
    let rates = broker.get("/v1/rates", Auth::None).await.expect(200);
    assert_eq!(
        rates.body["rates"][0],
        json!({ "from": "EUR", "to": "USD", "rate": "1.08", "fee_bps": 50, "set_at": rates.body["rates"][0]["set_at"] })
    );

    // 10 USD at 1.08 USD per EUR is 9.259259… EUR; with 0.5% it is 9.305555… EUR, rounded once,
    // up, to 9.305556: never more than a micro-unit above the exact amount.
    let quoted = quote(
        &broker,
        json!({ "pay_currency": "eur", "price": { "amount": "10", "currency": "USD" }, "payee": m.shop }),
    )
    .await
    .expect(201);
    let q = &quoted.body["quote"];
    assert_eq!(q["price"], json!({ "amount": "10.00", "currency": "USD" }));
    assert_eq!(q["pay"], json!({ "amount": "9.305556", "currency": "EUR" }));
    assert_eq!(q["rate"], "1.08");
    assert_eq!(
        q["fee"],
        json!({ "bps": 50, "amount": { "amount": "0.046296", "currency": "EUR" } }),
        "the fee is pay less the price converted without one (9.259260)"
    );
    assert_eq!(q["payee"], m.shop.as_str());
    let id = q["id"].as_str().unwrap().to_owned();

    // The payment, sent twice with one key: it happens once.
    let send = || {
        broker.call_with(
            reqwest::Method::POST,
            "/v1/payments",
            Auth::None,
            Some(json!({ "code": m.buyer, "payee": m.shop, "quote": id, "memo": "a song" })),
            &[("Idempotency-Key", "song-eur")],
        )
    };
    let paid = send().await.expect(201);
    let again = send().await.expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let receipt = paid.body["receipt"].clone();
    assert_eq!(again.body["receipt"]["id"], receipt["id"]);
    assert_eq!(
        receipt["amount"],
        json!({ "amount": "10.00", "currency": "USD" }),
        "the receipt is the seller's: the price"
    );
    assert!(receipt["payer_id"].as_str().unwrap().starts_with("pp_"));
    assert_eq!(broker.balance(&m.buyer).await, "10.694444", "20 − 9.305556 EUR");
    assert_eq!(broker.balance(&m.seller).await, "11.00", "1 + 10 USD");
    assert_eq!(
        positions(&broker).await,
        [("EUR".into(), "9.305556".into()), ("USD".into(), "-10.00".into())]
    );

    // The buyer's history shows what it paid, for which shop, with the receipt; the seller's
    // shows the price from the buyer's pseudonym, as the receipt does.
    let history = broker
        .get("/v1/me/transactions", Auth::Code(&m.buyer))
        .await
        .expect(200);
    let line = &history.body["transactions"][0];
    assert_eq!(line["kind"], "exchange");
    assert_eq!(line["amount"], "-9.305556");
    assert_eq!(line["currency"], "EUR");
    assert_eq!(line["counterparty"], m.shop.as_str());
    assert_eq!(line["receipt_id"], receipt["id"]);
    assert_eq!(line["memo"], "a song");
    let seller_history = broker
        .get("/v1/me/transactions", Auth::Code(&m.seller))
        .await
        .expect(200);
    let line = &seller_history.body["transactions"][0];
    assert_eq!(
        (
            line["kind"].as_str(),
            line["amount"].as_str(),
            line["currency"].as_str()
        ),
        (Some("payment"), Some("10.00"), Some("USD"))
    );
    assert_eq!(line["counterparty_id"], receipt["payer_id"], "the buyer's pseudonym");

    // The receipt reads back, for anyone by pseudonym and for the payer by its own id.
    let path = format!("/v1/receipts/{}", receipt["id"].as_str().unwrap());
    let read = broker.get(&path, Auth::None).await.expect(200);
    assert_eq!(read.body["receipt"]["payer_id"], receipt["payer_id"]);
    let own = broker.get(&path, Auth::Code(&m.buyer)).await.expect(200);
    let me = broker.get("/v1/me", Auth::Code(&m.buyer)).await.expect(200);
    assert_eq!(own.body["receipt"]["payer_id"], me.body["id"]);

    // Used once.
    pay_with(&broker, &m.buyer, &m.shop, &id)
        .await
        .refused(409, "quote_used");
    let check = broker.assert_ledger_ok().await;
    for currency in check["currencies"].as_array().unwrap() {
        assert_eq!(currency["sum"], "0.00");
    }
    let usd = check["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "USD")
        .unwrap();
    assert_eq!(
        (
            usd["held_by_codes"].as_str(),
            usd["exchange"].as_str(),
            usd["outstanding"].as_str()
        ),
        (Some("11.00"), Some("-10.00"), Some("1.00"))
    );
}

#[tokio::test]
async fn the_conversion_rounds_once_up_and_never_by_a_whole_micro_unit() {
    let broker = TestBroker::start().await;
    set_rate(&broker, "GBP", "USD", json!({ "rate": "3" }))
        .await
        .expect(200);
    set_rate(&broker, "USD", "JPY", json!({ "rate": "150.000", "fee_bps": 100 }))
        .await
        .expect(200);
    set_rate(&broker, "JPY", "USD", json!({ "rate": "0.0067" }))
        .await
        .expect(200);
    let pay_for = |from: &'static str, amount: &'static str, to: &'static str| {
        let broker = &broker;
        async move {
            let body = json!({ "pay_currency": from, "price": { "amount": amount, "currency": to } });
            let quoted = quote(broker, body).await.expect(201);
            let q = &quoted.body["quote"];
            (
                q["pay"]["amount"].as_str().unwrap().to_owned(),
                q["fee"]["amount"]["amount"].as_str().unwrap().to_owned(),
            )
        }
    };
    // Exact: nothing to round.
    assert_eq!(pay_for("GBP", "6", "USD").await, ("2.00".into(), "0.00".into()));
    // 1/3 = 0.333333…: up to 0.333334, never down (the buyer never underpays the exchange).
    assert_eq!(pay_for("GBP", "1", "USD").await, ("0.333334".into(), "0.00".into()));
    // The smallest price costs at least the smallest unit.
    assert_eq!(pay_for("USD", "0.000001", "JPY").await.0, "0.000001");
    // The fee goes into the one fraction, rounded once: 1 × 1.01 / 150 = 0.0067333… → 0.006734.
    // Its part: 0.006734 less 1 / 150 rounded up the same way (0.006667).
    assert_eq!(pay_for("USD", "1", "JPY").await, ("0.006734".into(), "0.000067".into()));
    // A rate below one: 1 USD at 0.0067 USD per JPY is 149.253731… JPY → 149.253732.
    assert_eq!(pay_for("JPY", "1", "USD").await.0, "149.253732");
    let listed = broker.get("/v1/rates", Auth::None).await.expect(200);
    let rates: Vec<&str> = listed.body["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rate"].as_str().unwrap())
        .collect();
    assert_eq!(rates, ["3", "0.0067", "150"], "by pair, trailing zeros dropped");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_quote_expires_after_fifteen_minutes_and_pays_only_its_payee_its_price() {
    let broker = TestBroker::start().await;
    let m = market(&broker).await;
    let (other_shop, _) = broker.public_child(&m.seller).await;
    let ask = json!({ "pay_currency": "EUR", "price": { "amount": "5", "currency": "USD" }, "payee": m.shop });
    let id = quote(&broker, ask.clone()).await.expect(201).body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    pay_with(&broker, &m.buyer, &other_shop, &id)
        .await
        .refused(409, "quote_payee_mismatch");
    let with = |extra: Value| {
        let mut body = json!({ "code": m.buyer, "payee": m.shop, "quote": id });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        broker.post("/v1/payments", Auth::None, body)
    };
    with(json!({ "amount": "4.99" })).await.refused(409, "amount_mismatch");
    with(json!({ "amount": "5", "currency": "EUR" }))
        .await
        .refused(409, "currency_mismatch");
    pay_with(&broker, &m.buyer, &m.shop, "q_0000000000000000")
        .await
        .refused(404, "not_found");
    // A payer in another currency than the quote's pays with it not at all.
    let (dollars, _) = broker.issue("50", "USD").await;
    pay_with(&broker, &dollars, &m.shop, &id)
        .await
        .refused(409, "currency_mismatch");

    // 15 minutes on, the quote is gone; nothing was paid by any of the above.
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 15 * 60 }))
        .await
        .expect(200);
    pay_with(&broker, &m.buyer, &m.shop, &id)
        .await
        .refused(410, "quote_expired");
    assert_eq!(broker.balance(&m.buyer).await, "20.00");
    assert_eq!(broker.balance(&m.seller).await, "1.00");
    assert!(positions(&broker).await.is_empty(), "no exchange yet");

    // A fresh quote with the amount given as the price, in its currency, pays.
    let id = quote(&broker, ask).await.expect(201).body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "code": m.buyer, "payee": m.shop, "quote": id, "amount": "5.00", "currency": "usd" });
    broker.post("/v1/payments", Auth::None, body).await.expect(201);
    assert_eq!(broker.balance(&m.seller).await, "6.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_quote_payment_is_judged_like_any_payment_and_leaves_nothing_when_refused() {
    let broker = TestBroker::start().await;
    let m = market(&broker).await;
    let ask = |amount: &str| json!({ "pay_currency": "EUR", "price": { "amount": amount, "currency": "USD" } });
    // More than the buyer has: 402, and neither transfer happened.
    let id = quote(&broker, ask("100")).await.expect(201).body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    pay_with(&broker, &m.buyer, &m.shop, &id)
        .await
        .refused(402, "insufficient_funds");
    // A child that may pay at most 5 EUR at a time cannot pay a quote of 9.31 EUR.
    let (parent, _) = broker.issue("15", "EUR").await;
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "kind": "secret", "amount": "10", "restrictions": { "amount_per_use_max": "5" } }),
        )
        .await
        .expect(201);
    let child = child.body["code"].as_str().unwrap().to_owned();
    let id = quote(&broker, ask("10")).await.expect(201).body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    pay_with(&broker, &child, &m.shop, &id).await.refused(403, "restricted");
    // A wrong code is a failed presentation, as anywhere.
    pay_with(&broker, "ZZZZ-ZZZZ", &m.shop, &id)
        .await
        .refused(401, "invalid_code");
    // Eight payments with one quote at once: one pays, the others find it used.
    let attempts = (0..8).map(|_| pay_with(&broker, &m.buyer, &m.shop, &id));
    let replies = futures::future::join_all(attempts).await;
    let paid = replies.iter().filter(|r| r.status == 201).count();
    let used = replies.iter().filter(|r| r.code() == "quote_used").count();
    assert_eq!((paid, used), (1, 7), "one wins: {replies:?}");
    assert_eq!(broker.balance(&m.buyer).await, "10.694444");
    assert_eq!(broker.balance(&child).await, "10.00");
    assert_eq!(broker.balance(&m.seller).await, "11.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn rates_and_quotes_refuse_what_they_cannot_take_and_name_each_limit() {
    let broker = TestBroker::start().await;
    // Only the operator sets rates.
    broker
        .put("/v1/admin/rates/EUR/USD", Auth::None, json!({ "rate": "1.08" }))
        .await
        .refused(401, "unauthorized");
    broker
        .get("/v1/admin/exchange", Auth::None)
        .await
        .refused(401, "unauthorized");
    // RATE_DECIMALS_MAX, RATE_WHOLE_DIGITS_MAX, FEE_BPS_MAX, and what no rate can be.
    for (body, status, code) in [
        (json!({ "rate": "1.0000000001" }), 400, "invalid_request"),
        (json!({ "rate": "1000000000" }), 400, "limit_exceeded"),
        (json!({ "rate": "1.08", "fee_bps": 1001 }), 400, "invalid_request"),
        (json!({ "rate": "0" }), 400, "invalid_request"),
        (json!({ "rate": "-1" }), 400, "invalid_request"),
        (json!({ "rate": "1e3" }), 400, "invalid_request"),
        (json!({ "rate": 1.08 }), 400, "invalid_request"),
        (json!({ "rate": "1.08", "spread": 1 }), 400, "invalid_request"),
    ] {
        set_rate(&broker, "EUR", "USD", body.clone())
            .await
            .refused(status, code);
    }
    set_rate(&broker, "EUR", "eur", json!({ "rate": "1" }))
        .await
        .refused(409, "conflict");
    set_rate(&broker, "EURO", "USD", json!({ "rate": "1" }))
        .await
        .refused(400, "invalid_request");
    // The bounds themselves are accepted.
    set_rate(
        &broker,
        "EUR",
        "USD",
        json!({ "rate": "999999999.999999999", "fee_bps": 1000 }),
    )
    .await
    .expect(200);
    set_rate(&broker, "USD", "EUR", json!({ "rate": "0.000000001" }))
        .await
        .expect(200);

    // Quotes: no rate for the pair, one currency, a price too large at the rate, a bad payee.
    let ask = |pay: &str, amount: &str, currency: &str| json!({ "pay_currency": pay, "price": { "amount": amount, "currency": currency } });
    quote(&broker, ask("GBP", "1", "USD"))
        .await
        .refused(422, "rate_unknown");
    quote(&broker, ask("USD", "1", "USD")).await.refused(409, "conflict");
    quote(&broker, ask("USD", "1000", "EUR"))
        .await
        .refused(422, "quote_too_large");
    quote(&broker, ask("USD", "0.0000001", "EUR"))
        .await
        .refused(400, "invalid_request");
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut for_shop = ask("USD", "1", "EUR");
    for_shop["payee"] = json!(shop);
    quote(&broker, for_shop).await.refused(409, "currency_mismatch");
    let mut nobody = ask("EUR", "1", "USD");
    nobody["payee"] = json!("P-00000-00000");
    quote(&broker, nobody).await.refused(404, "not_found");

    // RATES_MAX: a thousand pairs, and no more (replacing one is still fine).
    let letters = |n: usize| -> String {
        let a = b'A' + (n / 26) as u8;
        let b = b'A' + (n % 26) as u8;
        format!("X{}{}", a as char, b as char)
    };
    let mut set = 2;
    'pairs: for from in 0..40 {
        for to in 0..40 {
            if from == to {
                continue;
            }
            if set == smartcode_core::limits::RATES_MAX as usize {
                break 'pairs;
            }
            set_rate(&broker, &letters(from), &letters(to), json!({ "rate": "2" }))
                .await
                .expect(200);
            set += 1;
        }
    }
    set_rate(&broker, "ZZZ", "ZZY", json!({ "rate": "2" }))
        .await
        .refused(400, "limit_exceeded");
    set_rate(&broker, "EUR", "USD", json!({ "rate": "1.1" }))
        .await
        .expect(200);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_sets_rates_quotes_and_pays_with_a_quote() {
    let broker = TestBroker::start().await;
    let cli = Cli { broker: &broker };
    let (buyer, _) = broker.issue("20", "EUR").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;

    let set = cli.text(None, &["rates", "set", "EUR", "USD", "1.08", "--fee-bps", "50"]);
    assert_eq!(set.trim(), "Rate EUR to USD: 1.08 (fee 50 bps)");
    let list = cli.text(None, &["rates", "list"]);
    assert!(list.starts_with("EUR -> USD  1.08  fee 50 bps  set "), "{list}");

    let shown = cli.text(
        None,
        &["quote", "--pay-currency", "EUR", "--price", "10 USD", "--payee", &shop],
    );
    assert!(shown.contains(": 9.305556 EUR pays 10.00 USD"), "{shown}");
    assert!(
        shown.contains("rate:    1.08 USD per EUR (fee 50 bps, 0.046296 EUR)"),
        "{shown}"
    );
    let quoted = cli.json(None, &["quote", "--pay-currency", "EUR", "--price", "10USD"]);
    let id = quoted["quote"]["id"].as_str().unwrap();

    let paid = cli.text(Some(&buyer), &["pay", "--payee", &shop, "--quote", id]);
    assert!(paid.starts_with(&format!("Paid 10.00 USD to {shop}")), "{paid}");
    let again = cli.run(Some(&buyer), &["--json", "pay", "--payee", &shop, "--quote", id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("\"quote_used\""));
    let position = cli.text(None, &["rates", "position"]);
    assert_eq!(position, "EUR  9.305556\nUSD  -10.00\n");
    let check = cli.text(None, &["check"]);
    assert!(
        check.contains("USD: issued 1.00, paid out 0.00, held by codes 11.00, exchange -10.00, sum 0.00"),
        "{check}"
    );
    assert_eq!(broker.balance(&buyer).await, "10.694444");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_payment_made_with_a_quote_is_refunded_back_through_the_exchange_at_its_quote() {
    let broker = TestBroker::start().await;
    let m = market(&broker).await;
    let ask = json!({ "pay_currency": "EUR", "price": { "amount": "10", "currency": "USD" } });
    let id = quote(&broker, ask).await.expect(201).body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = pay_with(&broker, &m.buyer, &m.shop, &id).await.expect(201);
    let refund_path = format!("/v1/receipts/{}/refund", paid.body["receipt"]["id"].as_str().unwrap());
    // The rate has moved since; a refund goes back at the quote, never at today's rate.
    set_rate(&broker, "EUR", "USD", json!({ "rate": "2" }))
        .await
        .expect(200);

    // 4 of the 10 USD: 4 × 9.305556 / 10 = 3.7222224 EUR, rounded down to 3.722222.
    let first = broker
        .post(
            &refund_path,
            Auth::Code(&m.seller),
            json!({ "amount": "4", "reason": "one song" }),
        )
        .await
        .expect(201);
    assert_eq!(
        first.body["refund"]["amount"],
        json!({ "amount": "4.00", "currency": "USD" })
    );
    assert_eq!(broker.balance(&m.buyer).await, "14.416666", "10.694444 + 3.722222");
    assert_eq!(broker.balance(&m.seller).await, "7.00");
    let history = broker
        .get("/v1/me/transactions", Auth::Code(&m.buyer))
        .await
        .expect(200);
    let line = &history.body["transactions"][0];
    assert_eq!(
        (
            line["kind"].as_str(),
            line["amount"].as_str(),
            line["currency"].as_str()
        ),
        (Some("refund"), Some("3.722222"), Some("EUR"))
    );
    assert_eq!(
        line["counterparty"],
        m.shop.as_str(),
        "the buyer sees the shop that refunded"
    );
    // Refunds convert their running total, so micro-units add up: 4.000005 USD refunded in all
    // is 3.722227 EUR back, 5 more; 4.000006 would still be 3.722227, so that micro-unit is too
    // small to give anything back and is refused, moving nothing.
    broker
        .post(&refund_path, Auth::Code(&m.seller), json!({ "amount": "0.000005" }))
        .await
        .expect(201);
    assert_eq!(broker.balance(&m.buyer).await, "14.416671");
    broker
        .post(&refund_path, Auth::Code(&m.seller), json!({ "amount": "0.000001" }))
        .await
        .refused(409, "conflict");
    assert_eq!(broker.balance(&m.seller).await, "6.999995");
    // The rest gives back the rest exactly: what was paid, whatever the rounding of the first.
    broker
        .post(&refund_path, Auth::Code(&m.seller), json!({}))
        .await
        .expect(201);
    assert_eq!(broker.balance(&m.buyer).await, "20.00");
    assert_eq!(broker.balance(&m.seller).await, "1.00");
    assert_eq!(
        positions(&broker).await,
        [("EUR".into(), "0.00".into()), ("USD".into(), "0.00".into())]
    );
    broker
        .post(&refund_path, Auth::Code(&m.seller), json!({}))
        .await
        .refused(422, "refund_exceeds_payment");
    broker.assert_ledger_ok().await;
}

/// A fee in basis points is a whole number however JSON writes it (`50.0` is 50); a fraction is not.
#[tokio::test]
async fn a_fee_is_a_whole_number_however_it_is_written() {
    let broker = TestBroker::start().await;
    let set = set_rate(&broker, "EUR", "USD", json!({ "rate": "1.08", "fee_bps": 50.0 }))
        .await
        .expect(200);
    assert_eq!(set.body["fee_bps"], 50, "{}", set.text);
    set_rate(&broker, "EUR", "USD", json!({ "rate": "1.08", "fee_bps": 50.5 }))
        .await
        .refused(400, "invalid_request");
}
