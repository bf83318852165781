//! The command line for shells and scripts: completion scripts that a shell loads and that
//! complete the commands and flags, and failures that obey `--json` (one JSON object on stderr,
//! with the broker's `code` word, exit 1).

use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{TestBroker, BINARY};

fn smartcode(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("SMARTCODE_CODE")
        .env_remove("SMARTCODE_OPERATOR_TOKEN")
        .env_remove("SMARTCODE_OPERATOR_TOKEN_FILE")
        .env_remove("SMARTCODE_BROKER")
        .output()
        .expect("the smartcode binary runs")
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_command() {
    for (shell, marker) in [
        ("bash", "_smartcode()"),
        ("zsh", "#compdef smartcode"),
        ("fish", "complete -c smartcode"),
    ] {
        let output = smartcode(&["completions", shell]);
        assert!(
            output.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["payout", "issue", "receipt", "completions", "idempotency-key"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    // Bash loads the script and completes a command from its first letters.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <('{BINARY}' completions bash) && COMP_WORDS=(smartcode pay) && COMP_CWORD=1 && \
             _smartcode smartcode pay smartcode && echo \"${{COMPREPLY[@]}}\""
        ))
        .output()
        .expect("bash runs");
    let words = String::from_utf8(completed.stdout).unwrap();
    let mut words: Vec<&str> = words.split_whitespace().collect();
    words.sort();
    assert_eq!(
        words,
        ["pay", "payout"],
        "{}",
        String::from_utf8_lossy(&completed.stderr)
    );
    let refused = smartcode(&["completions", "powershell-9"]);
    assert_eq!(refused.status.code(), Some(2), "an unknown shell is a usage error");
}

#[track_caller]
fn error_of(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    serde_json::from_str(stderr.trim()).unwrap_or_else(|_| panic!("one JSON object on stderr: {stderr}"))
}

#[tokio::test]
async fn failures_obey_json() {
    let broker = TestBroker::start().await;
    let token = broker.data.join("operator-token");
    let token = token.to_str().unwrap();
    let base = broker.base.as_str();

    // The broker's refusal: its word, status and detail.
    let refused = smartcode(&[
        "--json",
        "--broker",
        base,
        "--operator-token-file",
        token,
        "payout",
        "c_0000000000000000",
        "--amount",
        "1",
        "--reference",
        "r",
    ]);
    let error = error_of(&refused);
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(error["error"]["status"], 404);
    assert_eq!(error["error"]["detail"], "code not found");
    let unusable = smartcode(&["--json", "--broker", base, "--code", "ZZZZ-ZZZZ", "balance"]);
    assert_eq!(error_of(&unusable)["error"]["code"], "invalid_code");

    // A failure of the client itself: no word, and what went wrong.
    let no_code = smartcode(&["--json", "--broker", base, "balance"]);
    let error = error_of(&no_code);
    assert!(
        error["error"]["code"].is_null() && error["error"]["status"].is_null(),
        "{error}"
    );
    assert!(
        error["error"]["detail"].as_str().unwrap().contains("SMARTCODE_CODE"),
        "{error}"
    );
    let unreachable = smartcode(&[
        "--json",
        "--broker",
        "http://127.0.0.1:1",
        "--code",
        "ZZZZ-ZZZZ",
        "balance",
    ]);
    assert!(error_of(&unreachable)["error"]["detail"]
        .as_str()
        .unwrap()
        .contains("could not reach"));

    // Without --json, the same refusal is a sentence naming the word.
    let text = smartcode(&["--broker", base, "--code", "ZZZZ-ZZZZ", "balance"]);
    assert_eq!(text.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("(invalid_code, HTTP 401)"),
        "{stderr}"
    );
    broker.assert_ledger_ok().await;
}
