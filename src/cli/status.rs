//! `credd status`: locked or unlocked, and when the agent locks itself.

use std::path::Path;

use anyhow::Result;
use credd_protocol::{LockState, Operation, StatusResult};

use super::connect;

/// Options of `credd status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the agent's answer as JSON
    #[arg(long)]
    json: bool,
}

/// Prints the status; it does not count as use, so it never delays the idle lock.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let status: StatusResult = connect(socket)?.call(Operation::Status)?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    println!("agent: pid {} on {}", status.pid, socket.display());
    match status.state {
        LockState::Unlocked => println!(
            "state: unlocked, {} entries; locks after {} idle, at most in {}",
            status.entries.unwrap_or(0),
            duration(status.idle_lock_in),
            duration(status.max_lock_in),
        ),
        _ if !status.vault => println!("state: locked; no vault yet: run 'credd init'"),
        _ => println!("state: locked; run 'credd unlock'"),
    }
    Ok(())
}

fn duration(secs: Option<u64>) -> String {
    let secs = secs.unwrap_or(0);
    format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60)
}
