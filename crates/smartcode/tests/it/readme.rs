//! The README's walk-through, run as a new user would (issue 13, item 9): the broker started with
//! `serve` in an empty directory, its banner compared with the README's, the two `export` lines
//! it prints pasted into bash, then every command of the README's command-line and HTTP blocks
//! run in that one shell. After each command, its `#   ` lines must appear, in order, among the
//! lines it printed (whitespace runs count as one space): `...` stands for what differs from run to
//! run, and a code, id or receipt the README shows stands for the real one, bound where it first
//! appears in an output and put in its place in every later command and expected line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use regex::Regex;

use crate::harness::BINARY;

const README: &str = include_str!("../../../../README.md");

/// The values a README example stands for: secret and public codes, and ids of codes, transfers,
/// receipts and payer pseudonyms; and `...`.
const CLASSES: [&str; 5] = [
    r"P-[0-9A-Z]{5}-[0-9A-Z]{5}",
    r"[0-9A-Z]{4}-[0-9A-Z]{4}",
    r"(?:c|t|pp)_[0-9a-z]{16}",
    r"r_[0-9a-z]{26}",
    r"\.\.\.",
];

fn tokens() -> Regex {
    Regex::new(&CLASSES.join("|")).unwrap()
}

/// One command of a block, with the output lines the README says it prints.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The fenced block that follows `marker` (its opening fence line included in `marker`).
fn block_after<'a>(marker: &str) -> &'a str {
    let start = README
        .find(marker)
        .unwrap_or_else(|| panic!("the README has {marker:?}"))
        + marker.len();
    let rest = &README[start..];
    &rest[..rest.find("\n```").expect("the block ends")]
}

fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continued: Option<String> = None;
    for line in block.lines() {
        if let Some(expected) = line.strip_prefix("#   ") {
            steps
                .last_mut()
                .expect("output follows a command")
                .expected
                .push(expected.to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let command = match continued.take() {
            Some(start) => format!("{start}\n{line}"),
            None => line.to_owned(),
        };
        if command.ends_with('\\') {
            continued = Some(command);
            continue;
        }
        steps.push(Step {
            command,
            expected: Vec::new(),
        });
    }
    steps
}

/// A bash that runs one command at a time and answers what it printed and its exit status.
struct Shell {
    process: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

const DONE: &str = "__readme_step_done__";

impl Shell {
    fn start(dir: &std::path::Path) -> Shell {
        let mut process = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .env("HOME", dir)
            .env("NO_COLOR", "1")
            .env_remove("SMARTCODE_CODE")
            .env_remove("SMARTCODE_PIN")
            .env_remove("SMARTCODE_BROKER")
            .env_remove("SMARTCODE_OPERATOR_TOKEN_FILE")
            .env_remove("SMARTCODE_PROOF_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash runs");
        let stdin = process.stdin.take().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut shell = Shell { process, stdin, lines };
        shell.run("exec 2>&1; shopt -s expand_aliases");
        shell
    }

    /// Runs `command` and answers its lines and exit status.
    fn run(&mut self, command: &str) -> (Vec<String>, i32) {
        writeln!(self.stdin, "{command}\nprintf '\\n{DONE} %s\\n' \"$?\"").unwrap();
        self.stdin.flush().unwrap();
        let mut printed = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{command:?} finishes within a minute; it printed {printed:?}"));
            if let Some(status) = line.strip_prefix(DONE) {
                return (printed, status.trim().parse().unwrap());
            }
            printed.push(line);
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// README examples and the real values they stand for.
#[derive(Default)]
struct Bindings(HashMap<String, String>);

impl Bindings {
    fn apply(&self, text: &str) -> String {
        let tokens = tokens();
        tokens
            .replace_all(text, |m: &regex::Captures| {
                self.0.get(&m[0]).cloned().unwrap_or_else(|| m[0].to_owned())
            })
            .into_owned()
    }

    /// Whether `line` is what `expected` says, binding what it shows for the first time.
    fn matches(&mut self, expected: &str, line: &str) -> bool {
        let tokens = tokens();
        let mut pattern = String::from("^");
        let mut unbound = Vec::new();
        let mut last = 0;
        let spaces = Regex::new(r"\s+").unwrap();
        let literal = |text: &str| spaces.replace_all(&regex::escape(text), r"\s+").into_owned();
        let expected = expected.trim();
        for m in tokens.find_iter(expected) {
            pattern.push_str(&literal(&expected[last..m.start()]));
            let token = m.as_str();
            match self.0.get(token) {
                _ if token == "..." => pattern.push_str(".*?"),
                Some(real) => pattern.push_str(&regex::escape(real)),
                None => {
                    let class = CLASSES
                        .iter()
                        .find(|class| Regex::new(&format!("^(?:{class})$")).unwrap().is_match(token))
                        .unwrap();
                    pattern.push_str(&format!("({class})"));
                    unbound.push(token.to_owned());
                }
            }
            last = m.end();
        }
        pattern.push_str(&literal(&expected[last..]));
        pattern.push('$');
        let Some(captures) = Regex::new(&pattern).unwrap().captures(line.trim()) else {
            return false;
        };
        for (i, token) in unbound.into_iter().enumerate() {
            self.0.insert(token, captures[i + 1].to_owned());
        }
        true
    }

    /// Checks that every expected line appears, in order, among `printed`.
    #[track_caller]
    fn check(&mut self, step: &Step, printed: &[String]) {
        let mut from = 0;
        for expected in &step.expected {
            let found = (from..printed.len()).find(|&i| self.matches(expected, &printed[i]));
            let Some(at) = found else {
                panic!(
                    "the README says {:?} prints\n  {expected}\nbut it printed:\n{}",
                    step.command,
                    printed.join("\n")
                );
            };
            from = at + 1;
        }
    }
}

#[test]
fn the_readme_walk_through_prints_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    // The broker as the README starts it, in a directory of its own (on a free port).
    let mut serve = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("SMARTCODE_DATA")
        .env_remove("SMARTCODE_DATABASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the smartcode binary starts");
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
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
    let port = banner[0].rsplit(':').next().unwrap().to_owned();
    let cwd = dir.path().canonicalize().unwrap();
    let said: Vec<String> = block_after("prints where the operator token and the web address are:\n\n```text\n")
        .lines()
        .map(|l| {
            l.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
                .replace("/home/you", &cwd.display().to_string())
        })
        .collect();
    assert_eq!(banner, said, "serve prints what the README shows");

    let mut shell = Shell::start(dir.path());
    for export in banner.iter().filter(|l| l.trim().starts_with("export ")) {
        assert_eq!(shell.run(export.trim()).1, 0);
    }
    let mut bindings = Bindings::default();
    let blocks = [
        block_after("looks for the operator token in `./smartcode-data`):\n\n```sh\n"),
        block_after("The same over HTTP (see `API` below):\n\n```sh\n"),
    ];
    let all: Vec<Step> = blocks.iter().flat_map(|block| steps(block)).collect();
    assert!(all.len() >= 15, "the walk-through has its commands: {all:?}");
    assert!(all.iter().filter(|s| !s.expected.is_empty()).count() >= 12);
    for step in &all {
        let command = bindings
            .apply(&step.command)
            .replace("./target/release/smartcode", BINARY)
            .replace("localhost:8080", &format!("127.0.0.1:{port}"));
        let (printed, status) = shell.run(&command);
        assert_eq!(status, 0, "{command:?} succeeds; it printed:\n{}", printed.join("\n"));
        bindings.check(step, &printed);
    }
    let csv = std::fs::read_to_string(dir.path().join("pocket.csv")).unwrap();
    assert!(csv.starts_with("id,at,kind,amount"), "{csv}");
    let _ = serve.kill();
    let _ = serve.wait();
}
