//! The few house rules a test can hold (rust-analyzer's tidy test): every module opens with a `//!`
//! paragraph saying what it is for, no file of production code outgrows what a reader can hold
//! (`PRODUCTION_LINES_MAX`), and no function takes `&Option<T>` (take `Option<&T>`).

use std::path::{Path, PathBuf};

/// Lines of production code in one file: code before its `#[cfg(test)]` module, tests excluded.
const PRODUCTION_LINES_MAX: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under the crates' `src/` and `tests/` folders.
fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![workspace().join("crates")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("target") {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "the crates were found: {files:?}");
    files
}

fn is_test_file(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.contains("/tests/")
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == "tests.rs" || n == "testing.rs" || n.ends_with("_tests.rs"))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace()).unwrap_or(path).display().to_string()
}

#[test]
fn every_module_opens_with_a_doc_paragraph() {
    let undocumented: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| relative(&path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "modules without a //! paragraph: {undocumented:?}"
    );
}

#[test]
fn no_production_file_outgrows_its_reader() {
    let oversized: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| !is_test_file(path))
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let production = text.split("\n#[cfg(test)]").next().unwrap_or("");
            let lines = production.lines().count();
            (lines > PRODUCTION_LINES_MAX).then(|| format!("{} ({lines} lines)", relative(&path)))
        })
        .collect();
    assert!(
        oversized.is_empty(),
        "production files over {PRODUCTION_LINES_MAX} lines: {oversized:?}"
    );
}

#[test]
fn no_function_takes_a_reference_to_an_option() {
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| !path.ends_with("tidy.rs"))
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.contains(": &Option<"))
                .map(|(number, _)| format!("{}:{}", relative(&path), number + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offenders.is_empty(), "take Option<&T>, not &Option<T>: {offenders:?}");
}
