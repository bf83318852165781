//! What the command line gives shells and scripts besides its commands' output: completion
//! scripts (`smartcode completions bash|zsh|fish`) and failures as JSON under `--json`.

use std::io::Write;

use anyhow::Result;
use smartcode_client::ClientError;

use super::args::{Args, Shell};

/// Writes the completion script of every command and flag for `shell` to stdout.
pub(super) fn print_completions(shell: Shell) -> Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = <Args as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "smartcode", &mut script);
    // A reader that stops early (`| head`) is not a failure of ours.
    match std::io::stdout().write_all(&script) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// A failure as `--json` prints it on stderr: the broker's refusal (its `code` word, status and
/// detail) or, for a failure of the client itself (the broker unreachable, a missing code), `code`
/// and `status` null and what went wrong.
pub(super) fn error_json(error: &anyhow::Error) -> String {
    let problem = error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Problem { status, code, detail }) => {
                Some((Some(*status), Some(code.as_str()), detail.clone()))
            }
            _ => None,
        });
    let (status, code, detail) = problem.unwrap_or_else(|| (None, None, format!("{error:#}")));
    serde_json::json!({ "error": { "code": code, "status": status, "detail": detail } }).to_string()
}
