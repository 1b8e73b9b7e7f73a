//! Reaching an unlocked agent on behalf of a tool that runs credd in the background: the Cargo
//! provider and the native `keyring` command. The agent is started when none runs; a locked one
//! is unlocked from the OS keychain when it can be, else with the passphrase asked on the
//! terminal when there is one, else the tool gets credd's "locked" error at once. Every wait is
//! bounded: a tool such as pip or uv has no timeout of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use credd_protocol::{Done, ErrorKind, LockState, Operation, Secret, StatusResult};

use crate::client::{Client, ClientError, KDF_TIMEOUT};
use crate::tty;

/// How long a process waits for another one that is showing the passphrase prompt.
const PROMPT_WAIT: Duration = Duration::from_secs(120);

/// How long the prompt waits for a person to type the passphrase, each try.
const TYPING_WAIT: Duration = Duration::from_secs(60);

/// Wrong passphrases allowed at one prompt.
const PROMPT_TRIES: u32 = 3;

/// Why no unlocked agent answered.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    /// The agent (or reaching it) failed; a `locked` error when there was no way to unlock.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The terminal could not be read.
    #[error("cannot read the passphrase from the terminal: {0}")]
    Terminal(std::io::Error),
    /// Nobody typed at the prompt in time.
    #[error("no passphrase was typed within {0:?}: run 'credd unlock'")]
    NotTyped(Duration),
    /// Another process held the prompt for too long.
    #[error("another program is asking for credd's passphrase: answer it, or run 'credd unlock'")]
    PromptBusy,
    /// The prompt's lock file could not be opened.
    #[error("cannot open {}: {source}", .path.display())]
    PromptLock {
        /// The lock file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Every try at the prompt had a wrong passphrase.
    #[error("credd is locked: run 'credd unlock'")]
    StillLocked,
}

impl UnlockError {
    /// The agent's error kind, when the agent answered with an error.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Client(error) => error.kind(),
            _ => None,
        }
    }
}

/// Runs `call` against the agent (starting it if needed). When the agent is locked, it first
/// tries the OS keychain (the keyring store, or a vault key kept by `credd unlock --remember`);
/// then, with a terminal, asks for the passphrase there; without one it fails at once with the
/// agent's `locked` error, which names the fix.
pub fn with_unlocked_agent<T>(
    socket: &Path,
    mut call: impl FnMut(&mut Client) -> Result<T, ClientError>,
) -> Result<T, UnlockError> {
    let mut client = Client::connect_or_start(socket)?;
    match call(&mut client) {
        Err(error) if error.kind() == Some(ErrorKind::Locked) => {
            let from_keychain = client.call::<Done>(Operation::UnlockKeychain).is_ok();
            if !from_keychain && !tty::has_tty() {
                return Err(error.into());
            }
            if !from_keychain {
                unlock_on_tty(&mut client, socket)?;
            }
            Ok(call(&mut client)?)
        }
        other => Ok(other?),
    }
}

/// Asks for the passphrase on the terminal and unlocks. Several processes may get here at once
/// (cargo runs in parallel in a workspace, uv asks for several indexes): a lock file lets one
/// prompt while the others wait and then find the agent unlocked.
fn unlock_on_tty(client: &mut Client, socket: &Path) -> Result<(), UnlockError> {
    let _prompt = take_prompt_lock(socket)?;
    for attempt in 1..=PROMPT_TRIES {
        // Waiting for the lock or for a person to type can outlast the agent's read timeout.
        client.reconnect()?;
        let status: StatusResult = client.call(Operation::Status)?;
        if status.state == LockState::Unlocked {
            return Ok(());
        }
        let typed =
            tty::read_hidden_within("credd is locked; passphrase: ", TYPING_WAIT).map_err(|e| {
                match e.kind() {
                    std::io::ErrorKind::TimedOut => UnlockError::NotTyped(TYPING_WAIT),
                    _ => UnlockError::Terminal(e),
                }
            })?;
        let passphrase = Secret::new(typed.trim_end_matches(['\n', '\r']));
        client.reconnect()?;
        match client.call_within::<Done>(Operation::Unlock { passphrase }, KDF_TIMEOUT) {
            Ok(Done {}) => return Ok(()),
            Err(error)
                if error.kind() == Some(ErrorKind::BadPassphrase) && attempt < PROMPT_TRIES =>
            {
                eprintln!("credd: wrong passphrase, try again");
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(UnlockError::StillLocked)
}

/// An exclusive lock on `<socket>.prompt`, waited for at most [`PROMPT_WAIT`].
fn take_prompt_lock(socket: &Path) -> Result<std::fs::File, UnlockError> {
    let path = crate::paths::prompt_lock_file(socket);
    let deadline = Instant::now() + PROMPT_WAIT;
    loop {
        match crate::atomic::try_lock_file(&path) {
            Ok(Some(file)) => return Ok(file),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(None) => return Err(UnlockError::PromptBusy),
            Err(source) => return Err(UnlockError::PromptLock { path, source }),
        }
    }
}
