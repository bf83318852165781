//! What every program of this crate does as a process: logs to stderr (`SMARTCODE_LOG`, colours
//! only at a terminal) and stops on SIGTERM or Ctrl-C. Shared by `smartcode` and `archive-seller`.

/// Logs to stderr at `SMARTCODE_LOG` (default `info`), in colour only for a person at a
/// terminal: a file or a log collector gets plain text.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SMARTCODE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// Resolves at SIGTERM or Ctrl-C, whichever comes first, so a server finishes the requests in
/// flight and stops.
pub async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("stop requested: finishing requests in flight");
}
