//! The step-up a publish credential needs: the vault passphrase, typed by the person on the
//! terminal (`/dev/tty`) at a prompt that names what is asked, sent with the request. The agent
//! checks it; a client that skips the prompt gets nothing. Without a terminal the request fails
//! at once with the agent's words on how to go on (`credd allow --once NAME`).

use std::path::Path;
use std::time::Duration;

use credd_protocol::{
    Ask, ErrorKind, ErrorReply, Front, GetResult, Lookup, Operation, Secret, StatusResult,
};

use crate::client::{Client, ClientError, KDF_TIMEOUT};
use crate::on_demand::{UnlockError, with_unlocked_agent};
use crate::tty;

/// How long the step-up prompt waits for a person to type.
pub const TYPING_WAIT: Duration = Duration::from_secs(60);

/// Why no credential was handed out.
#[derive(Debug, thiserror::Error)]
pub enum StepUpError {
    /// The agent (or reaching it) failed, a wrong passphrase included.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A publish credential was asked for where no terminal can prompt.
    #[error("{what}: {reason} There is no terminal here to ask on.")]
    NoTerminal {
        /// What was asked, e.g. `cargo publish foo 1.2.3 to corp`.
        what: String,
        /// The agent's message: why, and what to do.
        reason: String,
    },
    /// The terminal could not be read, or nobody typed in time.
    #[error("cannot read the credd passphrase from the terminal: {0}")]
    Terminal(std::io::Error),
    /// A locked agent could not be unlocked.
    #[error(transparent)]
    Unlock(UnlockError),
}

impl StepUpError {
    /// The agent's error kind, when the agent answered with an error.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Client(error) => error.kind(),
            Self::NoTerminal { .. } => Some(ErrorKind::StepUpRequired),
            Self::Terminal(_) => None,
            Self::Unlock(UnlockError::Client(error)) => error.kind(),
            Self::Unlock(_) => None,
        }
    }
}

/// `get`s `lookup` through `front` for `operation`; when the agent wants a step-up, asks
/// `<what>: enter the credd passphrase to allow: ` on the terminal (naming the grace window when
/// the agent has one) and asks again with it.
pub fn get(
    client: &mut Client,
    lookup: &Lookup,
    front: Front,
    operation: &str,
    what: &str,
) -> Result<GetResult, StepUpError> {
    match client.call::<GetResult>(request(lookup, front, operation, None)) {
        Err(ClientError::Agent(refused)) if refused.kind == ErrorKind::StepUpRequired => {
            after_refusal(client, lookup, front, operation, what, refused)
        }
        other => Ok(other?),
    }
}

/// [`get`] for the fronts a tool runs: the agent is started or unlocked first as
/// [`with_unlocked_agent`] does, then the step-up follows on a connection of its own to the
/// agent that refused, which may listen elsewhere than `socket` (the vault's own agent).
pub fn get_unlocked(
    socket: &Path,
    lookup: &Lookup,
    front: Front,
    operation: &str,
    what: &str,
) -> Result<GetResult, StepUpError> {
    let first = with_unlocked_agent(socket, |client| {
        match client.call::<GetResult>(request(lookup, front, operation, None)) {
            Err(ClientError::Agent(refused)) if refused.kind == ErrorKind::StepUpRequired => {
                Ok(Err((refused, client.socket().to_owned())))
            }
            other => other.map(Ok),
        }
    })
    .map_err(StepUpError::Unlock)?;
    match first {
        Ok(found) => Ok(found),
        Err((refused, refused_on)) => {
            let mut client = Client::connect(&refused_on)?;
            after_refusal(&mut client, lookup, front, operation, what, refused)
        }
    }
}

/// Goes on after the agent answered `refused` (`step-up-required`) to a plain `get`: fails at
/// once without a terminal, else asks for the passphrase and sends the request again with it.
fn after_refusal(
    client: &mut Client,
    lookup: &Lookup,
    front: Front,
    operation: &str,
    what: &str,
    refused: ErrorReply,
) -> Result<GetResult, StepUpError> {
    if !tty::has_tty() {
        return Err(StepUpError::NoTerminal {
            what: what.to_owned(),
            reason: refused.message,
        });
    }
    let status: StatusResult = client.call(Operation::Status)?;
    let passphrase = read_passphrase(&prompt(what, status.step_up_grace))?;
    // A person may have taken longer than the agent waits on an idle connection.
    client.reconnect()?;
    let request = request(lookup, front, operation, Some(passphrase));
    Ok(client.call_within(request, KDF_TIMEOUT)?)
}

/// The step-up prompt: what is asked, and the grace window the agent then opens, if any.
fn prompt(what: &str, grace: Option<u64>) -> String {
    match grace {
        None => format!("{what}: enter the credd passphrase to allow: "),
        Some(secs) => format!(
            "{what}: enter the credd passphrase to allow (then allowed for {} for this \
             terminal): ",
            duration_words(secs)
        ),
    }
}

/// `5 min`, or `90 s` when not whole minutes.
fn duration_words(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// The `get` of `lookup` through `front` for `operation`, with the step-up `passphrase` if any.
fn request(
    lookup: &Lookup,
    front: Front,
    operation: &str,
    passphrase: Option<Secret>,
) -> Operation {
    Operation::Get {
        lookup: lookup.clone(),
        ask: Ask {
            front: Some(front),
            operation: Some(operation.to_owned()),
            passphrase,
        },
    }
}

/// Reads the passphrase at `prompt` on the terminal, within [`TYPING_WAIT`].
pub fn read_passphrase(prompt: &str) -> Result<Secret, StepUpError> {
    let typed = tty::read_hidden_within(prompt, TYPING_WAIT).map_err(StepUpError::Terminal)?;
    Ok(Secret::new(typed.trim_end_matches(['\n', '\r'])))
}
