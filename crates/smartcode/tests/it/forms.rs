//! Every POST form of the pages, without a browser: refused without its CSRF token (and then
//! changing nothing), and acting once when the same form (its one-time nonce) is sent twice.

use serde_json::{json, Value};

use crate::harness::{Auth, TestBroker};

/// A browser as far as the forms care: its CSRF cookie and token, and a session cookie once in.
pub(crate) struct Visitor {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookie: String,
    pub(crate) token: String,
}

impl Visitor {
    /// Opens the home page: the broker sets the CSRF cookie and puts its token in the forms.
    pub(crate) async fn arrive(broker: &TestBroker) -> Visitor {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let home = http.get(&broker.base).send().await.unwrap();
        let set_cookie = home.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let page = home.text().await.unwrap();
        let token = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the home page's form carries the CSRF token")
            .to_owned();
        Visitor {
            http,
            base: broker.base.clone(),
            cookie,
            token,
        }
    }

    /// Sends a form as a browser would; `with_token` says whether the CSRF token goes with it.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)], with_token: bool) -> reqwest::Response {
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if with_token {
            form.push(("csrf".into(), self.token.clone()));
        }
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Logs in through `path` (a code's `/enter` or the operator's login) and keeps the session.
    pub(crate) async fn log_in(&mut self, path: &str, fields: &[(&str, &str)]) {
        let entered = self.post(path, fields, true).await;
        assert_eq!(entered.status(), 303, "{path} opens a session");
        let session = entered.headers()["set-cookie"].to_str().unwrap().to_owned();
        self.cookie = format!("{}; {}", self.cookie, session.split(';').next().unwrap());
    }

    /// A page's markup, with this visitor's cookies.
    pub(crate) async fn get(&self, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }
}

async fn children(broker: &TestBroker, code: &str) -> Vec<Value> {
    let reply = broker.get("/v1/me/children", Auth::Code(code)).await.expect(200);
    reply.body["children"].as_array().unwrap().clone()
}

async fn issued(broker: &TestBroker) -> Value {
    let check = broker.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
    check.body["currencies"].clone()
}

#[tokio::test]
async fn every_code_form_is_refused_without_its_token_and_changes_nothing() {
    let broker = TestBroker::start().await;
    let (code, code_id) = broker.issue("5", "USD").await;
    let (child, child_id) = broker.secret_child(&code, "1").await;
    let (shop, _) = broker.public_child(&code).await;
    for named in [&code, &child] {
        let profile = json!({ "name": "Ann" });
        broker
            .put("/v1/me/profile", Auth::Code(named), profile)
            .await
            .expect(200);
    }
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &code)]).await;
    let fund = format!("/me/children/{child_id}/fund");
    let check = format!("/me/children/{child_id}/check");
    let cancel = format!("/me/children/{child_id}/cancel");
    let unlock = format!("/me/children/{child_id}/unlock");
    let profile = format!("/me/children/{child_id}/profile");
    let pay = format!("/p/{shop}/pay");
    let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/enter", vec![("code", &code)]),
        ("/logout", vec![]),
        ("/me/children", vec![("amount", "0.5"), ("nonce", "n-child")]),
        (&fund, vec![("amount", "0.5"), ("nonce", "n-fund")]),
        (&cancel, vec![("nonce", "n-cancel")]),
        (&unlock, vec![("nonce", "n-unlock")]),
        (&profile, vec![("name", "forged"), ("nonce", "n-profile")]),
        (&check, vec![("name", "Ann"), ("nonce", "n-check")]),
        ("/me/profile", vec![("name", "forged"), ("nonce", "n-own-profile")]),
        ("/me/pin", vec![("new_pin", "482916"), ("nonce", "n-pin")]),
        ("/me/rekey", vec![("nonce", "n-rekey")]),
        ("/me/authorizations", vec![("amount", "0.5"), ("nonce", "n-authorize")]),
        ("/me/alias", vec![("nonce", "n-alias")]),
        ("/me/assurances", vec![("floor", "1"), ("nonce", "n-assure")]),
        (
            "/me/rules",
            vec![("name", "forged"), ("action", "pay"), ("nonce", "n-rule")],
        ),
        (
            "/me/rules/remove",
            vec![("index", "0"), ("name", "forged"), ("nonce", "n-unrule")],
        ),
        (
            "/me/approvals/ap_x/approve",
            vec![("make_rule", "yes"), ("nonce", "n-approve")],
        ),
        ("/me/approvals/ap_x/decline", vec![("nonce", "n-decline")]),
        ("/me/sessions/se_x/close", vec![("nonce", "n-close-session")]),
        (&pay, vec![("code", &child), ("amount", "0.25"), ("nonce", "n-pay")]),
        ("/operator/login", vec![("token", &broker.token)]),
        (
            "/operator/issue",
            vec![("amount", "1"), ("currency", "USD"), ("nonce", "n-issue")],
        ),
        (
            "/operator/deposit",
            vec![
                ("target", &code),
                ("amount", "1"),
                ("currency", "USD"),
                ("nonce", "n-deposit"),
            ],
        ),
        (
            "/operator/payout",
            vec![
                ("code_id", &code_id),
                ("amount", "1"),
                ("reference", "forged"),
                ("nonce", "n-payout"),
            ],
        ),
        (
            "/operator/check",
            vec![("code", &code_id), ("name", "Ann"), ("nonce", "n-operator-check")],
        ),
    ];
    let before = (
        broker.balance(&code).await,
        broker.balance(&child).await,
        children(&broker, &code).await,
    );
    for (path, fields) in &forms {
        let refused = visitor.post(path, fields, false).await;
        assert_eq!(refused.status(), 403, "{path} without its CSRF token is refused");
    }
    let after = (
        broker.balance(&code).await,
        broker.balance(&child).await,
        children(&broker, &code).await,
    );
    assert_eq!(before, after, "a refused form changed nothing");
    let me = broker.get("/v1/me", Auth::Code(&code)).await.expect(200);
    assert_eq!(me.body["pin_set"], false, "nor set a PIN");
    assert_eq!(me.body["profile"]["checked"], Value::Null, "nor checked a name");
    let rules = broker.get("/v1/me/rules", Auth::Code(&code)).await.expect(200);
    assert_eq!(rules.body["rules"], json!([]), "nor added a rule");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_form_sent_twice_acts_once() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("5", "USD").await;
    let (buyer, buyer_id) = broker.issue("2", "USD").await;
    let (shop, _) = broker.public_child(&code).await;
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &code)]).await;

    // A new child, twice with one nonce: one child, its value taken once.
    for _ in 0..2 {
        let sent = visitor
            .post("/me/children", &[("amount", "0.5"), ("nonce", "twice-child")], true)
            .await;
        assert!(
            sent.status().is_success() || sent.status().is_redirection(),
            "{}",
            sent.status()
        );
    }
    let made = children(&broker, &code).await;
    let secret: Vec<&Value> = made.iter().filter(|c| c["kind"] == "secret").collect();
    assert_eq!(secret.len(), 1, "one child: {made:?}");
    assert_eq!(broker.balance(&code).await, "4.50");

    // Funding it, twice with one nonce: funded once.
    let child_id = secret[0]["id"].as_str().unwrap().to_owned();
    let fund = format!("/me/children/{child_id}/fund");
    for _ in 0..2 {
        visitor
            .post(&fund, &[("amount", "0.25"), ("nonce", "twice-fund")], true)
            .await;
    }
    assert_eq!(broker.balance(&code).await, "4.25");

    // Paying on the public page, twice with one nonce: paid once.
    let pay = format!("/p/{shop}/pay");
    for _ in 0..2 {
        let paid = visitor
            .post(
                &pay,
                &[("code", &buyer), ("amount", "0.5"), ("nonce", "twice-pay")],
                true,
            )
            .await;
        assert_eq!(paid.status(), 200, "the receipt page, first and again");
    }
    assert_eq!(broker.balance(&buyer).await, "1.50");
    assert_eq!(broker.balance(&code).await, "4.75");

    // The operator's issue and deposit, twice each with one nonce: once each.
    let mut operator = Visitor::arrive(&broker).await;
    operator.log_in("/operator/login", &[("token", &broker.token)]).await;
    let before = issued(&broker).await;
    for _ in 0..2 {
        operator
            .post(
                "/operator/issue",
                &[("amount", "3"), ("currency", "USD"), ("nonce", "twice-issue")],
                true,
            )
            .await;
        operator
            .post(
                "/operator/deposit",
                &[
                    ("target", &buyer),
                    ("amount", "1"),
                    ("currency", "USD"),
                    ("nonce", "twice-deposit"),
                ],
                true,
            )
            .await;
    }
    assert_eq!(broker.balance(&buyer).await, "2.50", "deposited once");
    let after = issued(&broker).await;
    assert_eq!(
        micro_units(&after, "issued") - micro_units(&before, "issued"),
        4_000_000,
        "one issue of 3 and one deposit of 1: {before} -> {after}"
    );

    // A payout, twice with one nonce: paid out once.
    for _ in 0..2 {
        let sent = operator
            .post(
                "/operator/payout",
                &[
                    ("code_id", &buyer_id),
                    ("amount", "0.75"),
                    ("reference", "bank 3"),
                    ("nonce", "twice-payout"),
                ],
                true,
            )
            .await;
        assert_eq!(sent.status(), 303, "back to the console");
    }
    assert_eq!(broker.balance(&buyer).await, "1.75", "paid out once");
    assert_eq!(micro_units(&issued(&broker).await, "paid_out"), 750_000);
    broker.assert_ledger_ok().await;
}

/// What the ledger check says of the first currency (`field`: issued, paid out), in micro-units
/// (exact, no float).
fn micro_units(currencies: &Value, field: &str) -> i64 {
    let value = &currencies[0][field];
    let text = value["amount"].as_str().or(value.as_str()).expect("an amount");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    whole.parse::<i64>().unwrap() * 1_000_000 + format!("{fraction:0<6}").parse::<i64>().unwrap()
}

/// Whether a response opened a page session (set its cookie).
fn opened_session(response: &reqwest::Response) -> bool {
    response.headers().get_all("set-cookie").iter().any(|value| {
        value.to_str().unwrap_or("").starts_with("sc_session=") && !value.to_str().unwrap().contains("Max-Age=0")
    })
}

#[tokio::test]
async fn the_login_checks_the_pin_as_get_me_with_it_would() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("5", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), serde_json::json!({ "pin": "2468" }))
        .await
        .expect(200);
    let visitor = Visitor::arrive(&broker).await;

    // The API: no PIN reads, the right one reads, a wrong one is refused.
    broker.get("/v1/me", Auth::Code(&code)).await.expect(200);
    let me = |pin: &'static str| {
        let broker = &broker;
        let code = code.clone();
        async move {
            broker
                .call_with(
                    reqwest::Method::GET,
                    "/v1/me",
                    Auth::Code(&code),
                    None,
                    &[("smartcode-pin", pin)],
                )
                .await
        }
    };
    me("2468").await.expect(200);

    // A wrong PIN at the login is refused there, and counts as a try: five lock the code, as five
    // wrong PINs through the API would. Before, each opened a session.
    for attempt in 1..=5 {
        let entered = visitor.post("/enter", &[("code", &code), ("pin", "1357")], true).await;
        assert!(!opened_session(&entered), "wrong PIN {attempt} opened no session");
        let expected = if attempt < 5 { 403 } else { 423 };
        assert_eq!(entered.status(), expected, "wrong PIN {attempt} at the login");
    }
    let locked = broker.get("/v1/me", Auth::Code(&code)).await.expect(200);
    assert_eq!(
        locked.body["status"], "locked",
        "five wrong PINs at the login lock the code"
    );
    let right = visitor.post("/enter", &[("code", &code), ("pin", "2468")], true).await;
    assert_eq!(right.status(), 423, "a locked code's PIN is not judged at the login");
    assert!(!opened_session(&right));
    me("2468").await.refused(423, "code_locked");

    // A code with a PIN: the API refuses a wrong one; the login needs the PIN and takes the right one.
    let (other, _) = broker.issue("1", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&other), serde_json::json!({ "pin": "97531" }))
        .await
        .expect(200);
    broker
        .call_with(
            reqwest::Method::GET,
            "/v1/me",
            Auth::Code(&other),
            None,
            &[("smartcode-pin", "13579")],
        )
        .await
        .refused(403, "pin_invalid");
    let without = visitor.post("/enter", &[("code", &other)], true).await;
    assert_eq!(without.status(), 403, "a code with a PIN needs it at the login");
    assert!(!opened_session(&without));
    let entered = visitor
        .post("/enter", &[("code", &other), ("pin", "97531")], true)
        .await;
    assert_eq!(entered.status(), 303, "the right PIN opens the session");
    assert!(opened_session(&entered));

    // A PIN for a code that has none: refused by the API and at the login alike.
    let (plain, _) = broker.issue("1", "USD").await;
    broker
        .call_with(
            reqwest::Method::GET,
            "/v1/me",
            Auth::Code(&plain),
            None,
            &[("smartcode-pin", "1234")],
        )
        .await
        .refused(409, "conflict");
    let entered = visitor.post("/enter", &[("code", &plain), ("pin", "1234")], true).await;
    assert_eq!(
        entered.status(),
        409,
        "a PIN for a code without one is refused at the login"
    );
    assert!(!opened_session(&entered));
    let entered = visitor.post("/enter", &[("code", &plain)], true).await;
    assert_eq!(entered.status(), 303, "without a PIN it opens");
    broker.assert_ledger_ok().await;
}
