//! `TestBroker`: a real broker process on a fresh data directory, and helpers to talk to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use smartcode_store::testing::TestSchema;

pub const BINARY: &str = env!("CARGO_BIN_EXE_smartcode");

pub struct TestBroker {
    pub process: Option<Child>,
    pub base: String,
    pub data: PathBuf,
    pub token: String,
    /// The PostgreSQL database this broker runs on, when the suite runs on PostgreSQL.
    pub database: Option<Arc<TestSchema>>,
    _dir: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// Set to `postgres` to run every broker of this test binary on PostgreSQL instead of the
/// embedded store (`postgres::the_whole_suite_passes_on_postgresql` does, for the whole suite).
pub const STORE_VAR: &str = "SMARTCODE_TEST_STORE";

pub fn on_postgres() -> bool {
    std::env::var(STORE_VAR).as_deref() == Ok("postgres")
}

/// The schema of each data directory's broker, so a restarted broker finds its database again.
/// An entry goes when the last broker using it is dropped, and its schema with it.
static SCHEMAS: Mutex<BTreeMap<PathBuf, Arc<TestSchema>>> = Mutex::new(BTreeMap::new());

fn schema_for(data: &Path) -> Arc<TestSchema> {
    let mut schemas = SCHEMAS.lock().unwrap_or_else(|p| p.into_inner());
    schemas
        .entry(data.to_owned())
        .or_insert_with(|| Arc::new(TestSchema::create().expect("the PostgreSQL run was started only with a database")))
        .clone()
}

/// A response, with its JSON body parsed (or `Value::Null` if it was not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The problem's `code` word.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a refusal: status, problem+json content type and `code` word.
    #[track_caller]
    pub fn refused(self, status: u16, code: &str) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "refusals are problem+json");
        assert_eq!(self.code(), code, "unexpected problem code; body: {}", self.text);
        for field in ["type", "title", "status", "detail", "code"] {
            assert!(!self.body[field].is_null(), "problem lacks {field}: {}", self.text);
        }
        self
    }
}

/// How a request proves who it is.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Code(&'a str),
    Operator,
    Raw(&'a str),
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        TestBroker::start_flagged(&[]).await
    }

    /// [`TestBroker::start`] with more flags for `serve`.
    pub async fn start_flagged(flags: &[&str]) -> TestBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut broker = TestBroker::start_in_with(&dir.path().join("data"), flags).await;
        broker._dir = Some(dir);
        broker
    }

    /// Starts (or restarts) a broker on an existing or new data directory (and, when the suite
    /// runs on PostgreSQL, on that directory's database).
    pub async fn start_in(data: &Path) -> TestBroker {
        TestBroker::start_in_with(data, &[]).await
    }

    /// [`TestBroker::start_in`] with more flags for `serve`.
    pub async fn start_in_with(data: &Path, flags: &[&str]) -> TestBroker {
        let database = on_postgres().then(|| schema_for(data));
        TestBroker::start_with(data, database, flags).await
    }

    /// Starts a broker on a data directory and, if given, a PostgreSQL database.
    pub async fn start_on(data: &Path, database: Option<Arc<TestSchema>>) -> TestBroker {
        TestBroker::start_with(data, database, &[]).await
    }

    /// The same, with more flags for `serve` (its name, domain, code format...).
    pub async fn start_with(data: &Path, database: Option<Arc<TestSchema>>, flags: &[&str]) -> TestBroker {
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--test-clock", "--data"])
            .arg(data)
            .args(flags);
        if let Some(schema) = &database {
            command.arg("--database").arg(schema.url());
        }
        let mut process = command
            .env("SMARTCODE_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the smartcode binary starts");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("serve prints its address")
            .expect("readable stdout");
        let base = first
            .rsplit(' ')
            .next()
            .expect("address at the end of the line")
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "unexpected first line: {first}");
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data.join("operator-token"))
            .expect("operator token written")
            .trim()
            .to_owned();
        let broker = TestBroker {
            process: Some(process),
            base,
            data: data.to_owned(),
            token,
            database,
            _dir: None,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if broker.call(Method::GET, "/healthz", Auth::None, None).await.status == 200 {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the broker did not become healthy");
    }

    pub async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Reply {
        self.call_with(method, path, auth, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method_name = method.as_str().to_owned();
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        request = match auth {
            Auth::None => request,
            Auth::Code(code) => request.header("Authorization", format!("Code {code}")),
            Auth::Operator => request.header("Authorization", format!("Bearer {}", self.token)),
            Auth::Raw(value) => request.header("Authorization", value),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reply = Reply {
            status,
            headers,
            body,
            text,
        };
        contract::check(&method_name, path, &reply);
        reply
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Auth<'_>, body: Value) -> Reply {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    pub async fn put(&self, path: &str, auth: Auth<'_>, body: Value) -> Reply {
        self.call(Method::PUT, path, auth, Some(body)).await
    }

    /// Issues a code as the operator; returns (secret code, id).
    pub async fn issue(&self, amount: &str, currency: &str) -> (String, String) {
        let reply = self
            .post(
                "/v1/admin/codes",
                Auth::Operator,
                json!({ "amount": amount, "currency": currency }),
            )
            .await
            .expect(201);
        (
            reply.body["code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a secret child; returns (secret code, id).
    pub async fn secret_child(&self, parent: &str, amount: &str) -> (String, String) {
        let reply = self
            .post(
                "/v1/me/children",
                Auth::Code(parent),
                json!({ "kind": "secret", "amount": amount }),
            )
            .await
            .expect(201);
        (
            reply.body["code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a public child; returns (public code, id).
    pub async fn public_child(&self, owner: &str) -> (String, String) {
        let reply = self
            .post("/v1/me/children", Auth::Code(owner), json!({ "kind": "public" }))
            .await
            .expect(201);
        (
            reply.body["public_code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A public code of `owner` that sells what `catalog` says (`{categories?, items?}`).
    pub async fn public_child_selling(&self, owner: &str, catalog: Value) -> (String, String) {
        let mut body = json!({ "kind": "public" });
        for (field, value) in catalog.as_object().expect("a catalog is an object") {
            body[field] = value.clone();
        }
        let reply = self.post("/v1/me/children", Auth::Code(owner), body).await.expect(201);
        (
            reply.body["public_code"].as_str().unwrap().to_owned(),
            reply.body["id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn pay(&self, code: &str, payee: &str, amount: &str) -> Reply {
        self.post(
            "/v1/payments",
            Auth::None,
            json!({ "code": code, "payee": payee, "amount": amount }),
        )
        .await
    }

    /// Sends `request` as raw bytes on a connection of its own and returns all the broker sent
    /// back until it closed the connection, or `None` if it had not closed it `within` that time.
    pub async fn raw_exchange(&self, request: &[u8], within: std::time::Duration) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.base.trim_start_matches("http://");
        let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
        connection.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(within, connection.read_to_end(&mut answer))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    pub async fn balance(&self, code: &str) -> String {
        let reply = self.get("/v1/me", Auth::Code(code)).await.expect(200);
        reply.body["balance"]["amount"].as_str().unwrap().to_owned()
    }

    /// Expiry sweeps this broker's store has committed (`smartcode_store_sweeps_total`).
    pub async fn sweeps(&self) -> u64 {
        let metrics = self.get("/metrics", Auth::None).await.expect(200);
        metrics
            .text
            .lines()
            .find_map(|line| line.strip_prefix("smartcode_store_sweeps_total "))
            .and_then(|count| count.trim().parse().ok())
            .expect("/metrics counts sweeps")
    }

    /// Waits (at most a minute) until the broker has committed `more` sweeps after this call:
    /// whatever they were going to do is then done.
    pub async fn wait_for_sweeps(&self, more: u64) {
        let target = self.sweeps().await + more;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.sweeps().await < target {
            assert!(
                std::time::Instant::now() < deadline,
                "{more} more sweeps did not run in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The ledger check every money-moving test ends with.
    pub async fn assert_ledger_ok(&self) -> Value {
        let reply = self.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
        assert_eq!(reply.body["ok"], true, "ledger check failed: {}", reply.text);
        reply.body
    }

    /// kill -9: the process dies at whatever instant it is in.
    /// Everything the store holds, as text: the embedded store's files (database and write-ahead
    /// log), or a `pg_dump` of this broker's PostgreSQL schema. As `(where, text)` pairs.
    pub fn stored_text(&self) -> Vec<(String, String)> {
        if let Some(schema) = &self.database {
            let dump = Command::new("pg_dump")
                .arg("--schema")
                .arg(schema.name())
                .arg(smartcode_store::testing::test_postgres_url())
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            return vec![(
                format!("pg_dump of {}", schema.name()),
                String::from_utf8_lossy(&dump.stdout).into_owned(),
            )];
        }
        let mut stored = Vec::new();
        for entry in std::fs::read_dir(&self.data).expect("the data directory") {
            let path = entry.expect("a directory entry").path();
            if path.to_string_lossy().contains("smartcode.sqlite3") {
                let bytes = std::fs::read(&path).expect("a store file");
                stored.push((path.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        stored
    }

    pub fn kill_hard(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().expect("kill the broker");
            process.wait().expect("reap the broker");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill_hard();
        if let Some(schema) = self.database.take() {
            let mut schemas = SCHEMAS.lock().unwrap_or_else(|p| p.into_inner());
            // Only the registry and this broker hold it: no broker of this directory is left.
            if Arc::strong_count(&schema) == 2 {
                schemas.remove(&self.data);
            }
        }
    }
}

/// The OpenAPI document as a contract: every reply [`TestBroker::call_with`] gets must be one the
/// document gives for its operation and status, with a body valid against that response's schema,
/// the content type it names and the headers it requires. So the document cannot drift from what
/// the broker does without some test failing.
///
/// In tests the document's object schemas are closed (`additionalProperties: false` wherever an
/// object lists its `properties` and says nothing of others), so an undocumented field fails too.
/// A 500 always fails: it is a server bug even though the document admits it can happen.
mod contract {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, OnceLock};

    use serde_json::{json, Value};

    use super::Reply;

    /// The file the broker serves at `/openapi.json` (it is compiled into the server the same way).
    const OPENAPI_JSON: &str = include_str!("../../../smartcode-server/openapi.json");

    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

    struct Contract {
        operations: Vec<Operation>,
        /// For problem+json answers outside any operation: an unknown path (404) or method (405).
        problem: Arc<jsonschema::Validator>,
    }

    struct Operation {
        /// Upper case, as on the wire.
        method: String,
        template: String,
        responses: BTreeMap<u16, Documented>,
    }

    struct Documented {
        /// Media type (without parameters), and for a JSON media type the validator of its body.
        content: Vec<(String, Option<Arc<jsonschema::Validator>>)>,
        /// Header names, lower case.
        required_headers: Vec<String>,
    }

    fn contract() -> &'static Contract {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        CONTRACT.get_or_init(Contract::load)
    }

    impl Contract {
        fn load() -> Contract {
            // Schemas refer to each other as #/components/schemas/X; each validator below carries
            // all of them under $defs, so the references become #/$defs/X.
            let text = OPENAPI_JSON.replace("\"#/components/schemas/", "\"#/$defs/");
            let document: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
            let mut defs = document["components"]["schemas"].clone();
            close_objects(&mut defs);
            let mut compiled: HashMap<String, Arc<jsonschema::Validator>> = HashMap::new();
            let mut compile = |schema: &Value, what: &str| -> Arc<jsonschema::Validator> {
                let mut schema = schema.clone();
                close_objects(&mut schema);
                let key = schema.to_string();
                if let Some(validator) = compiled.get(&key) {
                    return validator.clone();
                }
                let mut root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$defs": defs.clone(),
                });
                match schema {
                    Value::Object(map) => root.as_object_mut().unwrap().extend(map),
                    other => root["allOf"] = json!([other]),
                }
                let validator = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|error| panic!("openapi.json: the schema of {what} does not compile: {error}"));
                let validator = Arc::new(validator);
                compiled.insert(key, validator.clone());
                validator
            };
            let resolve = |value: &Value, section: &str| -> Value {
                match value.get("$ref").and_then(Value::as_str) {
                    Some(reference) => {
                        let name = reference
                            .strip_prefix(&format!("#/components/{section}/"))
                            .unwrap_or_else(|| panic!("openapi.json: {reference} is not in components/{section}"));
                        document["components"][section]
                            .get(name)
                            .unwrap_or_else(|| panic!("openapi.json: {reference} does not exist"))
                            .clone()
                    }
                    None => value.clone(),
                }
            };
            let mut operations = Vec::new();
            let paths = document["paths"].as_object().expect("openapi.json has paths");
            for (template, item) in paths {
                for method in METHODS {
                    let Some(operation) = item.get(method) else { continue };
                    let name = format!("{} {template}", method.to_ascii_uppercase());
                    let mut responses = BTreeMap::new();
                    let documented = operation["responses"].as_object().expect("responses");
                    for (status, response) in documented {
                        let status: u16 = status
                            .parse()
                            .unwrap_or_else(|_| panic!("openapi.json: {name} documents {status:?}; give every status"));
                        let response = resolve(response, "responses");
                        let mut content = Vec::new();
                        for (media, body) in response["content"].as_object().into_iter().flatten() {
                            let validator = media
                                .ends_with("json")
                                .then(|| compile(&body["schema"], &format!("{name} {status} {media}")));
                            content.push((media.clone(), validator));
                        }
                        let required_headers = response["headers"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter(|(_, header)| resolve(header, "headers")["required"] == true)
                            .map(|(header, _)| header.to_ascii_lowercase())
                            .collect();
                        responses.insert(
                            status,
                            Documented {
                                content,
                                required_headers,
                            },
                        );
                    }
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        responses,
                    });
                }
            }
            let problem = compile(&json!({ "$ref": "#/$defs/Problem" }), "Problem");
            Contract { operations, problem }
        }
    }

    /// Closes every object schema that lists its properties and says nothing of others.
    fn close_objects(schema: &mut Value) {
        match schema {
            Value::Object(map) => {
                let closable = map.get("type").and_then(Value::as_str) == Some("object")
                    && map.contains_key("properties")
                    && !map.contains_key("additionalProperties")
                    && !map.contains_key("unevaluatedProperties");
                if closable {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(close_objects);
            }
            Value::Array(items) => items.iter_mut().for_each(close_objects),
            _ => {}
        }
    }

    /// Whether a concrete path (no query) fits a template such as `/v1/me/children/{id}/fund`.
    fn fits(template: &str, path: &str) -> bool {
        let template: Vec<&str> = template.split('/').collect();
        let path: Vec<&str> = path.split('/').collect();
        template.len() == path.len()
            && template.iter().zip(&path).all(|(t, p)| {
                let parameter = t.starts_with('{') && t.ends_with('}');
                if parameter {
                    !p.is_empty()
                } else {
                    t == p
                }
            })
    }

    fn media_type(reply: &Reply) -> String {
        let value = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }

    fn schema_errors(validator: &jsonschema::Validator, reply: &Reply) -> Option<String> {
        if reply.body.is_null() {
            return Some("the body is not JSON".into());
        }
        let errors: Vec<String> = validator
            .iter_errors(&reply.body)
            .map(|error| format!("  at {:?}: {error}", error.instance_path().to_string()))
            .collect();
        (!errors.is_empty()).then(|| errors.join("\n"))
    }

    /// Fails the test, with a message saying what disagrees, if `reply` is not what openapi.json
    /// documents for `method` `path`.
    pub(super) fn check(method: &str, path: &str, reply: &Reply) {
        let contract = contract();
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let status = reply.status;
        let request = format!("{method} {path}");
        assert_ne!(
            status, 500,
            "{request} answered 500: the broker failed (a server bug); body: {}",
            reply.text
        );
        let operation = contract
            .operations
            .iter()
            .find(|op| op.method == method && fits(&op.template, path));
        let Some(operation) = operation else {
            // Not an operation of the document (the web pages, or the router's own 404 and 405):
            // only a refusal in problem+json is held to the Problem schema.
            if media_type(reply) == "application/problem+json" {
                if let Some(errors) = schema_errors(&contract.problem, reply) {
                    panic!(
                        "{request}: the {status} refusal is not a Problem of openapi.json:\n{errors}\nbody: {}",
                        reply.text
                    );
                }
            }
            return;
        };
        let operation_name = format!("{} {}", operation.method, operation.template);
        let Some(documented) = operation.responses.get(&status) else {
            let statuses: Vec<u16> = operation.responses.keys().copied().collect();
            panic!(
                "{request} answered {status}, which openapi.json does not document for {operation_name} \
                 (it documents {statuses:?}); body: {}",
                reply.text
            );
        };
        let media = media_type(reply);
        let Some((_, validator)) = documented.content.iter().find(|(documented, _)| *documented == media) else {
            let documented: Vec<&str> = documented.content.iter().map(|(m, _)| m.as_str()).collect();
            panic!(
                "{request} answered {status} as {media:?}, but openapi.json documents {documented:?} for \
                 {operation_name} {status}; body: {}",
                reply.text
            );
        };
        for header in &documented.required_headers {
            assert!(
                reply.headers.contains_key(header.as_str()),
                "{request} answered {status} without the {header} header that openapi.json requires for {operation_name}"
            );
        }
        if let Some(validator) = validator {
            if let Some(errors) = schema_errors(validator, reply) {
                panic!(
                    "{request} answered {status} with a body that does not fit openapi.json's schema for \
                     {operation_name} {status} {media}:\n{errors}\nbody: {}",
                    reply.text
                );
            }
        }
    }

    #[test]
    fn the_contract_compiles_and_closes_documented_objects() {
        let contract = contract();
        assert!(contract.operations.len() >= 20, "every operation is loaded");
        let me = contract
            .operations
            .iter()
            .find(|op| op.method == "GET" && op.template == "/v1/me")
            .expect("GET /v1/me is documented");
        let (_, validator) = &me.responses[&200].content[0];
        let validator = validator.as_ref().expect("a JSON body");
        let mut code = json!({
            "id": "c_0000000000000000", "kind": "secret", "currency": "USD", "status": "active",
            "parent_id": null, "label": null,
            "profile": { "name": null, "description": null, "url": null, "contact": null, "show_stats": false, "checked": null },
            "restrictions": {}, "expires_at": null, "irrevocable": false, "pin_set": false,
            "children_count": 0, "created_at": "2026-11-24T12:00:00Z",
            "balance": { "amount": "1.00", "currency": "USD" },
            "available": { "amount": "1.00", "currency": "USD" },
        });
        assert!(validator.is_valid(&code), "a secret code fits");
        code["colour"] = json!("red");
        assert!(!validator.is_valid(&code), "an undocumented field does not");
        code.as_object_mut().unwrap().remove("colour");
        code["balance"]["amount"] = json!(1.0);
        assert!(!validator.is_valid(&code), "an amount is a decimal string");
        code["balance"]["amount"] = json!("1.00");
        code.as_object_mut().unwrap().remove("available");
        assert!(!validator.is_valid(&code), "a secret code shows what is available");
        assert!(fits("/v1/me/children/{id}/fund", "/v1/me/children/c_1/fund"));
        assert!(!fits("/v1/me/children/{id}/fund", "/v1/me/children//fund"));
        assert!(!fits("/v1/me", "/v1/me/children"));
    }
}
