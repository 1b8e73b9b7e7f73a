//! `credd lock`: wipe every secret from the agent.

use std::path::Path;

use anyhow::Result;
use credd::client::{Client, ClientError};
use credd_protocol::{Done, Operation};

/// Locks a running agent; with no agent running there is nothing to wipe.
pub fn run(socket: &Path) -> Result<()> {
    match Client::connect(socket) {
        Ok(mut client) => {
            client.call::<Done>(Operation::Lock)?;
            eprintln!("credd: locked");
        }
        Err(ClientError::NotRunning(_)) => eprintln!("credd: no agent is running, nothing to lock"),
        Err(error) => return Err(error.into()),
    }
    Ok(())
}
