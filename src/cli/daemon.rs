//! `credd daemon`: run the agent in the foreground.

use std::path::Path;

use anyhow::{Context, Result};
use credd::agent::{AgentOptions, run as run_agent, systemd};
use credd::paths;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Runs the agent until it is stopped; logs go to journald when systemd connected stderr to the
/// journal, to stderr otherwise (nowhere when stderr is /dev/null), filtered by `CREDD_LOG`.
pub fn run(socket: &Path) -> Result<()> {
    init_logging();
    // SAFETY: no other thread runs yet; the runtime starts below.
    let ready = unsafe { credd::ready::take_from_env() };
    // A second handle on the pipe, to say why the agent failed when it could not start.
    let report = ready.as_ref().and_then(|pipe| pipe.try_clone().ok());
    // SAFETY: as above.
    let result = unsafe { systemd::take_listener() }
        .map_err(anyhow::Error::from)
        .and_then(|activated| serve(socket, activated, ready));
    if let (Err(error), Some(pipe)) = (&result, report) {
        credd::ready::report_failure(pipe, &format_args!("{error:#}"));
    }
    result
}

fn serve(
    socket: &Path,
    activated: Option<std::os::unix::net::UnixListener>,
    ready: Option<std::fs::File>,
) -> Result<()> {
    let vault =
        paths::vault_file().context("cannot find a data directory: set XDG_DATA_HOME or HOME")?;
    let options = AgentOptions {
        socket: socket.into(),
        vault,
        config: paths::config_file(),
        activated,
        ready,
        memory: false,
    };
    let runtime = credd::agent::runtime().context("cannot start the async runtime")?;
    let result = runtime.block_on(run_agent(options));
    // Secrets are wiped by now; a keychain or KDF call that never returns must not keep the
    // process alive (dropping the runtime would wait for its blocking threads forever).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result?;
    Ok(())
}

fn init_logging() {
    // An agent a client started has its stderr on /dev/null: formatting and writing a line per
    // lookup there is work nobody can read (the audit records stay in memory for `credd log`).
    if credd::sys::stderr_is_dev_null() {
        return;
    }
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("CREDD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // At trace level the HTTP client dumps every request and answer byte for byte, tokens and
    // secrets included: whatever CREDD_LOG asks, it logs no more than its debug lines (which
    // redact credential headers).
    for quiet in ["ureq=debug", "ureq_proto=debug"] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    if let Some(journald) = journald_layer() {
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// The journald layer, when stderr is the journal stream systemd set up: `JOURNAL_STREAM`
/// names its device and inode (a child that inherited the variable has another stderr).
fn journald_layer() -> Option<tracing_journald::Layer> {
    let stream = std::env::var("JOURNAL_STREAM").ok()?;
    let (device, inode) = stream.split_once(':')?;
    let (stderr_device, stderr_inode) = credd::sys::stderr_device_and_inode()?;
    if device.parse() != Ok(stderr_device) || inode.parse() != Ok(stderr_inode) {
        return None;
    }
    // Unreachable journald: stderr still leads to the journal, as plain text.
    let layer = tracing_journald::layer().ok()?;
    Some(layer.with_syslog_identifier("credd".into()))
}
