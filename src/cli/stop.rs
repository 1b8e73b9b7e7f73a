//! `credd stop`: wipe every secret and end the agent.

use std::path::Path;

use anyhow::Result;
use credd::client::{Client, ClientError};
use credd_protocol::{Done, Operation};

/// Stops a running agent; with none running there is nothing to do.
pub fn run(socket: &Path) -> Result<()> {
    match Client::connect(socket) {
        Ok(mut client) => {
            client.call::<Done>(Operation::Stop)?;
            eprintln!("credd: agent stopped");
        }
        Err(ClientError::NotRunning(_)) => eprintln!("credd: no agent is running"),
        Err(error) => return Err(error.into()),
    }
    Ok(())
}
