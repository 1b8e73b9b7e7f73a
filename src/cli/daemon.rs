//! `credd daemon`: run the agent in the foreground.

use std::path::Path;

use anyhow::{Context, Result};
use credd::agent::{AgentOptions, run as run_agent};
use credd::paths;

/// Runs the agent until it is stopped; logs go to stderr, filtered by `CREDD_LOG`.
pub fn run(socket: &Path) -> Result<()> {
    init_logging();
    let data_dir =
        paths::data_dir().context("cannot find a data directory: set XDG_DATA_HOME or HOME")?;
    let options = AgentOptions {
        socket: socket.into(),
        vault: data_dir.join("vault"),
        config: paths::config_file(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_agent(options))?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CREDD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}
