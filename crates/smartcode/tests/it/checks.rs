//! Who stands behind a name (issue 13, item 10): anyone can call a code "UNICEF"; the operator
//! marks a profile as checked by the broker, and a code marks those of codes below it. The API,
//! the CLI and the pages tell a checked name from a self-declared one, and whether a check reaches
//! the broker. Through the API and the CLI here, on both stores (these tests run again on
//! PostgreSQL), and in Chromium.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, TestBroker};
use crate::web::browser;

/// UNICEF (an issued code) with a branch below it and the branch's donation page; and someone else
/// who typed "UNICEF" as its own name, with a donation page of its own.
struct Charities {
    unicef: String,
    unicef_id: String,
    branch: String,
    branch_id: String,
    branch_page: String,
    impostor: String,
    impostor_page: String,
    impostor_page_id: String,
}

async fn named(broker: &TestBroker, code: &str, name: &str) {
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(code),
            json!({ "name": name, "url": "https://unicef.example/" }),
        )
        .await
        .expect(200);
}

async fn donation_page(broker: &TestBroker, owner: &str, name: &str) -> (String, String) {
    let reply = broker
        .post(
            "/v1/me/children",
            Auth::Code(owner),
            json!({ "kind": "public", "profile": { "name": name } }),
        )
        .await
        .expect(201);
    (
        reply.body["public_code"].as_str().unwrap().to_owned(),
        reply.body["id"].as_str().unwrap().to_owned(),
    )
}

async fn charities(broker: &TestBroker) -> Charities {
    let (unicef, unicef_id) = broker.issue("10", "USD").await;
    let (impostor, _) = broker.issue("1", "USD").await;
    named(broker, &unicef, "UNICEF").await;
    named(broker, &impostor, "UNICEF").await;
    let (branch, branch_id) = broker.secret_child(&unicef, "2").await;
    named(broker, &branch, "UNICEF India").await;
    let (branch_page, _) = donation_page(broker, &branch, "Donate to UNICEF India").await;
    let (impostor_page, impostor_page_id) = donation_page(broker, &impostor, "Donate to UNICEF").await;
    Charities {
        unicef,
        unicef_id,
        branch,
        branch_id,
        branch_page,
        impostor,
        impostor_page,
        impostor_page_id,
    }
}

async fn public(broker: &TestBroker, page: &str) -> Value {
    broker
        .get(&format!("/v1/public/{page}"), Auth::None)
        .await
        .expect(200)
        .body
}

/// The ancestry entry at `depth`'s profile.
fn at_depth(page: &Value, depth: u64) -> Value {
    let ancestry = page["ancestry"].as_array().unwrap();
    let entry = ancestry
        .iter()
        .find(|a| a["depth"] == depth)
        .expect("an ancestor at that depth");
    entry["profile"].clone()
}

#[tokio::test]
async fn the_broker_and_codes_above_stand_behind_names_and_anyone_else_only_declares_one() {
    let broker = TestBroker::start().await;
    let c = charities(&broker).await;

    // Before anyone checks: two "UNICEF"s, both only declared.
    let impostor = public(&broker, &c.impostor_page).await;
    assert_eq!(at_depth(&impostor, 1)["name"], "UNICEF");
    assert_eq!(at_depth(&impostor, 1)["checked"], Value::Null);
    assert_eq!(impostor["profile"]["checked"], Value::Null);

    // The operator checks UNICEF; a name it did not see is refused, naming the one there is.
    let checked = broker
        .put(
            &format!("/v1/admin/codes/{}/check", c.unicef_id),
            Auth::Operator,
            json!({ "name": "UNICEF" }),
        )
        .await
        .expect(200);
    let check = &checked.body["profile"]["checked"];
    assert_eq!(
        (check["by"].as_str(), check["depth"].as_u64()),
        (Some("broker"), Some(0))
    );
    assert_eq!(check["reaches_broker"], true);
    let stale = broker
        .put(
            &format!("/v1/admin/codes/{}/check", c.impostor_page_id),
            Auth::Operator,
            json!({ "name": "Donate to UNICEF International" }),
        )
        .await
        .refused(409, "conflict");
    assert!(
        stale.body["detail"].as_str().unwrap().contains("Donate to UNICEF"),
        "{}",
        stale.body
    );
    broker
        .put(
            &format!("/v1/admin/codes/{}/check", c.unicef_id),
            Auth::Operator,
            json!({ "name": "  " }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .put(
            "/v1/admin/codes/c_nosuchcode0000/check",
            Auth::Operator,
            json!({ "name": "UNICEF" }),
        )
        .await
        .refused(404, "not_found");
    broker
        .put(
            &format!("/v1/admin/codes/{}/check", c.unicef_id),
            Auth::None,
            json!({ "name": "UNICEF" }),
        )
        .await
        .refused(401, "unauthorized");

    // UNICEF vouches for its branch (by id) and the branch's page (by public code); the impostor
    // cannot vouch for what is not below it, nor UNICEF for itself.
    let vouched = broker
        .put(
            &format!("/v1/me/children/{}/check", c.branch_id),
            Auth::Code(&c.unicef),
            json!({ "name": "UNICEF India" }),
        )
        .await
        .expect(200);
    let check = &vouched.body["profile"]["checked"];
    assert_eq!(check["by"], "ancestor");
    assert_eq!(
        (check["depth"].as_u64(), check["name"].as_str()),
        (Some(1), Some("UNICEF"))
    );
    assert_eq!(check["reaches_broker"], true, "UNICEF's own name is the broker's");
    broker
        .put(
            &format!("/v1/me/children/{}/check", c.branch_page),
            Auth::Code(&c.unicef),
            json!({ "name": "Donate to UNICEF India" }),
        )
        .await
        .expect(200);
    broker
        .put(
            &format!("/v1/me/children/{}/check", c.branch_id),
            Auth::Code(&c.impostor),
            json!({ "name": "UNICEF India" }),
        )
        .await
        .refused(404, "not_found");
    broker
        .put(
            &format!("/v1/me/children/{}/check", c.unicef_id),
            Auth::Code(&c.unicef),
            json!({ "name": "UNICEF" }),
        )
        .await
        .refused(404, "not_found");

    // Anyone now tells the two apart, down the whole ancestry.
    let real = public(&broker, &c.branch_page).await;
    assert_eq!(real["profile"]["checked"]["reaches_broker"], true);
    assert_eq!(at_depth(&real, 2)["checked"]["by"], "ancestor");
    assert_eq!(at_depth(&real, 1)["checked"]["by"], "broker");
    let impostor = public(&broker, &c.impostor_page).await;
    assert_eq!(at_depth(&impostor, 1)["checked"], Value::Null);
    let me = broker.get("/v1/me", Auth::Code(&c.branch)).await.expect(200);
    assert_eq!(
        me.body["profile"]["checked"]["name"], "UNICEF",
        "the holder sees who checked it"
    );

    // Authority runs down the tree: UNICEF cannot withdraw the broker's check of its branch.
    broker
        .put(
            &format!("/v1/admin/codes/{}/check", c.branch_id),
            Auth::Operator,
            json!({ "name": "UNICEF India" }),
        )
        .await
        .expect(200);
    let withdraw = format!("/v1/me/children/{}/check", c.branch_id);
    broker
        .call(Method::DELETE, &withdraw, Auth::Code(&c.unicef), None)
        .await
        .refused(409, "conflict");
    let operator_withdraw = format!("/v1/admin/codes/{}/check", c.branch_id);
    let withdrawn = broker
        .call(Method::DELETE, &operator_withdraw, Auth::Operator, None)
        .await
        .expect(200);
    assert_eq!(withdrawn.body["profile"]["checked"], Value::Null);
    broker
        .put(&withdraw, Auth::Code(&c.unicef), json!({ "name": "UNICEF India" }))
        .await
        .expect(200);
    let withdrawn = broker
        .call(Method::DELETE, &withdraw, Auth::Code(&c.unicef), None)
        .await
        .expect(200);
    assert_eq!(withdrawn.body["profile"]["checked"], Value::Null);
    broker
        .put(&withdraw, Auth::Code(&c.unicef), json!({ "name": "UNICEF India" }))
        .await
        .expect(200);

    // A check covers what the checker saw: a new description keeps it, a new name ends it.
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&c.branch),
            json!({ "name": "UNICEF India", "url": "https://unicef.example/", "description": "Delhi office" }),
        )
        .await
        .expect(200);
    assert_eq!(
        at_depth(&public(&broker, &c.branch_page).await, 2)["checked"]["by"],
        "ancestor"
    );
    named(&broker, &c.branch, "UNICEF Global").await;
    let renamed = public(&broker, &c.branch_page).await;
    assert_eq!(at_depth(&renamed, 2)["name"], "UNICEF Global");
    assert_eq!(
        at_depth(&renamed, 2)["checked"],
        Value::Null,
        "a new name is only declared"
    );
    named(&broker, &c.branch, "UNICEF India").await;
    assert_eq!(
        at_depth(&public(&broker, &c.branch_page).await, 2)["checked"],
        Value::Null,
        "and going back to the old name does not bring the check back"
    );

    // Checks are kept with the codes: they survive a restart.
    let mut broker = broker;
    broker.kill_hard();
    let restarted = TestBroker::start_in(&broker.data).await;
    let after = public(&restarted, &c.branch_page).await;
    assert_eq!(after["profile"]["checked"]["by"], "ancestor");
    assert_eq!(at_depth(&after, 1)["checked"]["by"], "broker");
    restarted.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_vouches_and_shows_who_stands_behind_each_name() {
    let broker = TestBroker::start().await;
    let c = charities(&broker).await;
    let cli = Cli { broker: &broker };

    let out = cli.text(None, &["vouch", &c.unicef_id, "--name", "UNICEF", "--operator"]);
    assert!(
        out.contains("\"UNICEF\"") && out.contains("checked by the broker"),
        "{out}"
    );
    let out = cli.text(Some(&c.unicef), &["vouch", &c.branch_id, "--name", "UNICEF India"]);
    assert!(
        out.contains("checked by \"UNICEF\" (depth 1, whose own name the broker stands behind)"),
        "{out}"
    );
    let wrong = cli.run(Some(&c.unicef), &["vouch", &c.branch_id, "--name", "UNICEF Indonesia"]);
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("UNICEF India") && stderr.contains("conflict"),
        "{stderr}"
    );

    let real = cli.text(None, &["public", &c.branch_page]);
    assert!(
        real.contains("ancestor at depth 1: secret UNICEF  [checked by the broker]"),
        "{real}"
    );
    assert!(real.contains("UNICEF India  [checked by \"UNICEF\""), "{real}");
    let fake = cli.text(None, &["public", &c.impostor_page]);
    assert!(
        fake.contains("ancestor at depth 1: secret UNICEF  [self-declared: nobody checked this name]"),
        "{fake}"
    );

    let json = cli.json(Some(&c.unicef), &["vouch", &c.branch_id, "--withdraw"]);
    assert_eq!(json["profile"]["checked"], Value::Null);
    let out = cli.text(None, &["vouch", &c.unicef_id, "--withdraw", "--operator"]);
    assert!(out.contains("is not checked"), "{out}");
    let page = cli.json(None, &["public", &c.branch_page]);
    assert_eq!(at_depth(&page, 1)["checked"], Value::Null);
    let neither = cli.run(Some(&c.unicef), &["vouch", &c.branch_id]);
    assert_eq!(neither.status.code(), Some(2), "a name or --withdraw is required");
}

#[tokio::test]
async fn pages_show_a_checked_name_and_a_self_declared_one_differently() {
    let Some(browser) = browser().await else { return };
    let broker = TestBroker::start().await;
    let c = charities(&broker).await;

    // The operator checks UNICEF from the console; a name it did not see is refused.
    browser.open(&format!("{}/operator", broker.base)).await;
    browser.fill("#token", &broker.token).await;
    browser.click("form[action='/operator/login'] button").await;
    let form = "#check-profile";
    browser.fill(&format!("{form} input[name=code]"), &c.unicef_id).await;
    browser.fill(&format!("{form} input[name=name]"), "UNICEF Intl").await;
    browser.click(&format!("{form} button")).await;
    let refused = browser.text(".notice.error").await;
    assert!(refused.contains("UNICEF"), "{refused}");
    browser.forget_refused_status().await;
    browser.fill(&format!("{form} input[name=code]"), &c.unicef_id).await;
    browser.fill(&format!("{form} input[name=name]"), "UNICEF").await;
    browser.click(&format!("{form} button")).await;
    let notice = browser.text(".notice").await;
    assert!(notice.contains("checked by the broker"), "{notice}");
    browser.check_page_basics("the operator console").await;

    // UNICEF vouches for its branch from the control center.
    browser.open(&broker.base).await;
    browser.fill("#code", &c.unicef).await;
    browser.click("form[action='/enter'] button").await;
    assert!(
        browser.text("#own-standing").await.contains("checked by the broker"),
        "the holder sees its own name's standing"
    );
    let vouch = format!("details.node[data-id='{}'] form.vouch button", c.branch_id);
    browser
        .js(&format!(
            "document.querySelector(\"details.node[data-id='{}']\").open = true; return true",
            c.branch_id
        ))
        .await;
    assert!(browser.text(&vouch).await.contains("UNICEF India"));
    browser.click(&vouch).await;
    assert!(browser
        .text(".notice")
        .await
        .contains("You stand behind “UNICEF India”"));
    browser.check_page_basics("the control center").await;

    // The real branch's page and the impostor's: the same word, visibly not the same standing.
    browser.open(&format!("{}/p/{}", broker.base, c.branch_page)).await;
    let real = browser
        .js("var m = Array.from(document.querySelectorAll('ol.ancestry .standing')).map(e => [e.dataset.standing, e.textContent, getComputedStyle(e).backgroundColor, getComputedStyle(e).borderTopStyle]); return m")
        .await;
    browser.check_page_basics("a checked public page").await;
    browser.screenshot("standing-checked").await;
    browser.open(&format!("{}/p/{}", broker.base, c.impostor_page)).await;
    let fake = browser
        .js("var m = Array.from(document.querySelectorAll('ol.ancestry .standing')).map(e => [e.dataset.standing, e.textContent, getComputedStyle(e).backgroundColor, getComputedStyle(e).borderTopStyle]); return m")
        .await;
    let fake_name = browser.text("ol.ancestry li:first-child .standing-name").await;
    browser.check_page_basics("a self-declared public page").await;
    browser.screenshot("standing-declared").await;

    // The branch's page: the branch checked by UNICEF, UNICEF by the broker, both green.
    assert_eq!(real[0][0], "broker", "{real}");
    assert!(
        real[0][1]
            .as_str()
            .unwrap()
            .contains("checked by “UNICEF”, a code above it"),
        "{real}"
    );
    assert_eq!(real[1][0], "broker", "{real}");
    assert!(real[1][1].as_str().unwrap().contains("checked by the broker"), "{real}");
    // The impostor's page: "UNICEF" in quotes, marked self-declared, styled apart.
    assert_eq!(fake[0][0], "declared", "{fake}");
    assert!(fake[0][1].as_str().unwrap().contains("self-declared"), "{fake}");
    assert!(fake_name.contains("“UNICEF”"), "{fake_name}");
    assert_ne!(real[1][2], fake[0][2], "a different background: {real} {fake}");
    assert_ne!(
        real[1][3], fake[0][3],
        "a solid border against a dashed one: {real} {fake}"
    );
    broker.assert_ledger_ok().await;
}
