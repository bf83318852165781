//! What `smartcode serve` prints for a person: the banner with the lines to paste into another
//! terminal, and its log (plain text when not written to a terminal, one line per request at
//! `info` with the route, the status and the duration).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::BINARY;

/// A broker started as a person would (log at `info`), its stdout read line by line and its
/// stderr written to a file, as a service manager or `2> log` would.
struct Served {
    process: std::process::Child,
    banner: Vec<String>,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let mut process = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .env("SMARTCODE_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the smartcode binary starts");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let last = line.contains("SMARTCODE_OPERATOR_TOKEN_FILE=");
            banner.push(line);
            if last {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Served {
            process,
            banner,
            log,
            _dir: dir,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn serve_prints_the_lines_to_paste_and_logs_each_request_in_plain_text() {
    let served = Served::start();
    let base = served.banner[0].rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{:?}", served.banner);
    assert!(
        served.banner.contains(&format!("  export SMARTCODE_BROKER={base}")),
        "the banner says what to paste: {:?}",
        served.banner
    );
    let token_line = served.banner.last().unwrap();
    let token_file = token_line
        .trim()
        .strip_prefix("export SMARTCODE_OPERATOR_TOKEN_FILE=")
        .unwrap();
    assert!(
        token_file.starts_with('/'),
        "an absolute path, usable from anywhere: {token_line}"
    );

    // The pasted lines work: the client, from another directory, finds the broker and the token.
    let elsewhere = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "the broker answers");
    let checked = Command::new(BINARY)
        .arg("check")
        .current_dir(elsewhere.path())
        .env_remove("SMARTCODE_OPERATOR_TOKEN")
        .env("SMARTCODE_BROKER", &base)
        .env("SMARTCODE_OPERATOR_TOKEN_FILE", token_file)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(String::from_utf8_lossy(&checked.stdout).starts_with("ledger OK"));
    let refused = http.get(format!("{base}/v1/me")).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // One line per request, naming the route (never the raw path), the status and the duration.
    let mut log = String::new();
    for _ in 0..50 {
        log = served.log_text();
        if log.contains("http.status=401") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answered: Vec<&str> = log.lines().filter(|l| l.contains("answered")).collect();
    let me = answered
        .iter()
        .find(|l| l.contains("http.route=/v1/me"))
        .unwrap_or_else(|| panic!("a line for GET /v1/me: {log}"));
    assert!(me.contains(" INFO "), "{me}");
    assert!(me.contains("http.method=GET") && me.contains("http.status=401"), "{me}");
    let duration = me.split("duration_ms=").nth(1).expect("a duration").trim();
    let (whole, fraction) = duration.split_once('.').expect("milliseconds with microseconds");
    assert!(whole.parse::<u64>().is_ok() && fraction.len() == 3, "{me}");
    assert!(
        answered
            .iter()
            .any(|l| l.contains("http.route=/v1/admin/ledger/check") && l.contains("http.status=200")),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log written to a file: {log:?}"
    );
}
