//! A blocking client for the agent, used by the CLI and the tool adapters.
//!
//! Blocking on purpose: every client is a short-lived process (Cargo spawns one per command that
//! touches the network), and a plain socket with OS-level timeouts starts faster than a runtime.
//! Every wait has a deadline, so a wedged agent can delay a caller but never hang it.
//!
//! The deadlines nest, so that a client hears the agent's own error rather than a timeout: the
//! agent gives up on the OS keychain after [`crate::store::keychain::TIMEOUT`] (3 s), inside an
//! ordinary request's [`REQUEST_TIMEOUT`] (5 s); a request that derives a key gets
//! [`KDF_TIMEOUT`], more than the KDF plus the longest wrong-passphrase back-off. A lookup or
//! refresh may wait on a mint, which the agent bounds by `mint-timeout` (at most
//! [`crate::config::MAX_MINT_TIMEOUT`]) plus a join margin: it gets [`LOOKUP_TIMEOUT`]. The
//! Python backend keeps 2 s for status requests (answered from memory), `LOOKUP_TIMEOUT` =
//! [`LOOKUP_TIMEOUT`] for lookups and `WRITE_TIMEOUT` = [`REQUEST_TIMEOUT`] for writes; a test
//! here pins its numbers to these. A locked agent still answers a lookup at once.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use credd_protocol::{Done, ErrorReply, FrameBuf, Operation, Reply, Request, encode_line};
use interprocess::ConnectWaitMode;
use interprocess::local_socket::traits::{Stream as _, StreamCommon as _};
use interprocess::local_socket::{ConnectOptions, GenericFilePath, Stream, ToFsName};
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

/// How long an ordinary request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a lookup (`get`) or `refresh` may take: more than the longest mint the agent waits
/// for (`mint-timeout` is at most [`crate::config::MAX_MINT_TIMEOUT`], plus its join margin).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(35);
/// How long a request that derives a key may take (slow KDF plus wrong-passphrase back-off).
pub const KDF_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a freshly started agent may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request got no result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No agent listens on the socket.
    #[error("credd agent is not running (no agent at {0}): start it with 'credd daemon'")]
    NotRunning(PathBuf),
    /// The socket's directory, or whoever listens on the socket, is not this user's: another
    /// local user may have created it first to collect what credd clients send.
    #[error(
        "refusing to talk to the credd agent at {}: {reason}. Another user may have created it to \
         catch your secrets; nothing was sent. Remove it (or ask an administrator to), or choose \
         a private socket with --socket or CREDD_SOCKET",
        .path.display()
    )]
    Untrusted {
        /// The socket or its directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The socket exists but cannot be used.
    #[error("cannot reach the credd agent at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The agent did not answer in time.
    #[error(
        "the credd agent did not answer within {0:?}: check it with 'credd status', or restart it with 'credd stop'"
    )]
    Timeout(Duration),
    /// The connection broke or the agent sent something unreadable.
    #[error(
        "lost the connection to the credd agent ({0}): try again; if it persists, see the agent's log"
    )]
    Broken(String),
    /// The agent could not be started.
    #[error("cannot start the credd agent: {0}")]
    Start(String),
    /// The agent answered with an error.
    #[error(transparent)]
    Agent(#[from] ErrorReply),
}

impl ClientError {
    /// The agent's error kind, when the agent answered with an error.
    pub fn kind(&self) -> Option<credd_protocol::ErrorKind> {
        match self {
            Self::Agent(reply) => Some(reply.kind),
            _ => None,
        }
    }
}

/// One connection to the agent, carrying any number of requests.
pub struct Client {
    socket: PathBuf,
    stream: Stream,
    frames: FrameBuf,
    out: Zeroizing<Vec<u8>>,
    next_id: u64,
}

impl Client {
    /// Connects to a running agent, after checking that the socket's directory is this user's
    /// and private, and before sending a byte, that the listener runs as this user.
    pub fn connect(socket: &Path) -> Result<Self, ClientError> {
        check_socket_dir(socket)?;
        let connect_err = |source: io::Error| match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(socket.into())
            }
            _ => ClientError::Connect {
                path: socket.into(),
                source,
            },
        };
        let name = socket
            .to_fs_name::<GenericFilePath>()
            .map_err(connect_err)?;
        let stream = ConnectOptions::new()
            .name(name)
            .wait_mode(ConnectWaitMode::Timeout(REQUEST_TIMEOUT))
            .connect_sync()
            .map_err(connect_err)?;
        check_listener(&stream, socket)?;
        Ok(Self {
            socket: socket.into(),
            stream,
            frames: FrameBuf::new(),
            out: Zeroizing::new(Vec::new()),
            next_id: 1,
        })
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Replaces this connection with a fresh one to the same agent. The agent closes a
    /// connection that stays silent past its read timeout, so a client that waited on a person
    /// (a passphrase prompt) reconnects before sending what it read.
    pub fn reconnect(&mut self) -> Result<(), ClientError> {
        *self = Self::connect(&self.socket)?;
        Ok(())
    }

    /// Connects to the agent, starting one in the background when none is running. When no
    /// agent listens on `socket` but another one owns this user's vault (started from a shell
    /// that looks elsewhere), that one is used: two agents on one vault would lose each other's
    /// writes.
    pub fn connect_or_start(socket: &Path) -> Result<Self, ClientError> {
        match Self::connect(socket) {
            Err(ClientError::NotRunning(_)) => {}
            other => return other,
        }
        if let Some(owner) = Self::connect_to_vault_owner(socket) {
            return Ok(owner);
        }
        match start_agent(socket) {
            Ok(()) => Self::connect(socket),
            // Another agent took the vault meanwhile (ours said so): use that one.
            Err(error) => Self::connect_to_vault_owner(socket).ok_or(error),
        }
    }

    /// The agent that owns this user's vault, when it listens on a socket other than `socket`
    /// and passes every check [`Client::connect`] makes.
    fn connect_to_vault_owner(socket: &Path) -> Option<Self> {
        let owner_socket = crate::store::owner::recorded_socket(&crate::paths::vault_file()?)?;
        if owner_socket == std::path::absolute(socket).ok()? {
            return None;
        }
        Self::connect(&owner_socket).ok()
    }

    /// Sends `op` and waits up to [`LOOKUP_TIMEOUT`] (a `get`, `get-first` or `refresh`, which
    /// may mint) or [`REQUEST_TIMEOUT`] for its result.
    pub fn call<T: DeserializeOwned>(&mut self, op: Operation) -> Result<T, ClientError> {
        let may_mint = matches!(
            op,
            Operation::Get { .. } | Operation::GetFirst { .. } | Operation::Refresh { .. }
        );
        let timeout = if may_mint {
            LOOKUP_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        self.call_within(op, timeout)
    }

    /// Sends `op` and waits up to `timeout` for its result.
    pub fn call_within<T: DeserializeOwned>(
        &mut self,
        op: Operation,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        encode_line(&Request::new(id, op), &mut self.out)
            .map_err(|e| ClientError::Broken(e.to_string()))?;
        self.stream
            .set_send_timeout(Some(timeout))
            .map_err(broken)?;
        let written = self.stream.write_all(&self.out);
        // The request may carry a passphrase or a token: wipe what was sent, not the whole
        // capacity (one reserved block, so no copy was left elsewhere).
        self.out.as_mut_slice().zeroize();
        self.out.clear();
        if let Err(error) = written {
            // An agent over its connection cap answers `busy` and closes without reading: that
            // reply is waiting to be read, and says more than the broken pipe.
            return match self.read_reply::<Done>(deadline, timeout) {
                Ok(Reply {
                    outcome: Err(reply),
                    ..
                }) => Err(reply.into()),
                _ => Err(timeout_or_broken(error, timeout)),
            };
        }
        let reply: Reply<T> = self.read_reply(deadline, timeout)?;
        if reply.id.is_some_and(|got| got != id) {
            return Err(ClientError::Broken(format!(
                "reply to request {id} carried id {:?}",
                reply.id
            )));
        }
        Ok(reply.outcome?)
    }

    fn read_reply<T: DeserializeOwned>(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Reply<T>, ClientError> {
        loop {
            match self.frames.frame_len() {
                Ok(Some(len)) => {
                    let parsed = serde_json::from_slice(self.frames.frame(len));
                    self.frames.consume(len);
                    return parsed.map_err(|e| {
                        ClientError::Broken(format!("unreadable reply at column {}", e.column()))
                    });
                }
                Ok(None) => {}
                Err(too_large) => return Err(ClientError::Broken(too_large.to_string())),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(timeout));
            }
            self.stream.set_recv_timeout(Some(left)).map_err(broken)?;
            match self.stream.read(self.frames.unfilled()) {
                Ok(0) => {
                    return Err(ClientError::Broken(
                        "the agent closed the connection".into(),
                    ));
                }
                Ok(n) => self.frames.filled(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(timeout_or_broken(e, timeout)),
            }
        }
    }

    /// Every entry's metadata, sorted by name: asks for `list` pages until the last one. Gives up
    /// on an agent whose cursor does not advance, or that sends more than [`MAX_LIST_PAGES`]
    /// pages, instead of asking forever.
    pub fn list_all(&mut self) -> Result<Vec<credd_protocol::EntryInfo>, ClientError> {
        let mut entries = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let page: credd_protocol::ListResult = self.call(Operation::List {
                after: after.clone(),
                limit: None,
            })?;
            entries.extend(page.entries);
            let Some(next) = page.next else {
                return Ok(entries);
            };
            if let Some(previous) = after.filter(|previous| next <= *previous) {
                return Err(ClientError::Broken(format!(
                    "the agent's list did not move on past {previous:?}"
                )));
            }
            after = Some(next);
        }
        Err(ClientError::Broken(format!(
            "the agent's list did not end within {MAX_LIST_PAGES} pages"
        )))
    }
}

/// Refuses a socket whose directory is not this user's private one; a missing directory means
/// no agent runs there.
fn check_socket_dir(socket: &Path) -> Result<(), ClientError> {
    let dir = crate::private_dir::parent_of(socket);
    match crate::private_dir::problem(dir) {
        Ok(None) => Ok(()),
        Ok(Some(reason)) => Err(ClientError::Untrusted {
            path: socket.into(),
            reason: format!("its directory {}: {reason}", dir.display()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(ClientError::NotRunning(socket.into()))
        }
        Err(source) => Err(ClientError::Connect {
            path: socket.into(),
            source,
        }),
    }
}

/// Refuses a listener that runs as another user (`SO_PEERCRED` at connect time), before any
/// request leaves this process.
fn check_listener(stream: &Stream, socket: &Path) -> Result<(), ClientError> {
    let own = crate::sys::current_euid();
    let creds = stream.peer_creds().map_err(|source| ClientError::Connect {
        path: socket.into(),
        source,
    })?;
    match creds.euid() {
        Some(uid) if uid == own => Ok(()),
        other => Err(ClientError::Untrusted {
            path: socket.into(),
            reason: match other {
                Some(uid) => format!("it is served by uid {uid}, not by you (uid {own})"),
                None => "the system does not say who serves it".into(),
            },
        }),
    }
}

/// The most `list` pages [`Client::list_all`] asks for: a page holds over a thousand entries of
/// the usual size, and never none.
const MAX_LIST_PAGES: usize = 10_000;

fn broken(error: io::Error) -> ClientError {
    ClientError::Broken(error.to_string())
}

fn timeout_or_broken(error: io::Error, timeout: Duration) -> ClientError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout(timeout),
        _ => broken(error),
    }
}

/// Starts `credd daemon` fully detached (its own session, stdio on /dev/null, no inherited
/// descriptors, so that a caller reading our output, `cargo build 2>&1 | cat`, never waits on
/// it) and waits until it reports that it serves, or why it cannot.
fn start_agent(socket: &Path) -> Result<(), ClientError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    use crate::sys::before_exec;
    let start_err = |e: io::Error| ClientError::Start(e.to_string());
    let exe = crate::paths::installed_binary(crate::paths::FULL_BINARY).map_err(start_err)?;
    let socket = std::path::absolute(socket).map_err(start_err)?;
    let (read_end, write_end) = crate::ready::pipe().map_err(start_err)?;
    let write_fd = write_end.as_raw_fd();
    let mut command = Command::new(&exe);
    command
        .arg("daemon")
        .arg("--socket")
        .arg(&socket)
        .env(crate::ready::READY_FD_VAR, write_fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let detach = move || {
        before_exec::new_session()?;
        before_exec::close_inherited_fds();
        // SAFETY: the forked copy of `write_end`, which this process holds open until spawned.
        unsafe { before_exec::keep_across_exec(write_fd) }
    };
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe { command.pre_exec(detach) };
    command
        .spawn()
        .map(drop)
        .map_err(|e| ClientError::Start(format!("cannot run {}: {e}", exe.display())))?;
    // Ours closed, the agent's end alone is left: its exit without a word reads as EOF.
    drop(write_end);
    crate::ready::wait(read_end, START_TIMEOUT).map_err(ClientError::Start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    /// An agent that answers every request with a `list` page whose cursor is always "a"; returns
    /// how many requests it answered once the client hangs up.
    fn stuck_cursor_agent(listener: UnixListener) -> std::thread::JoinHandle<usize> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut answered = 0;
            for line in BufReader::new(stream).lines() {
                let request: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                let reply = serde_json::json!({
                    "id": request["id"],
                    "ok": {"entries": [{"name": "a", "url": "https://a.test/"}], "next": "a"},
                });
                writeln!(writer, "{reply}").unwrap();
                answered += 1;
            }
            answered
        })
    }

    #[test]
    fn timeouts_nest_in_the_rust_and_the_python_clients() {
        use crate::store::keychain;
        let python = include_str!("../integrations/python/credd_keyring.py");
        let seconds = |name: &str| -> f64 {
            let prefix = format!("{name} = ");
            python
                .lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in credd_keyring.py"))
        };
        assert!(keychain::TIMEOUT < REQUEST_TIMEOUT);
        assert_eq!(seconds("WRITE_TIMEOUT"), REQUEST_TIMEOUT.as_secs_f64());
        assert_eq!(seconds("LOOKUP_TIMEOUT"), LOOKUP_TIMEOUT.as_secs_f64());
        assert!(seconds("TIMEOUT") < keychain::TIMEOUT.as_secs_f64());
        // The longest back-off (16 s) plus a slow default KDF still fits.
        assert!(KDF_TIMEOUT >= Duration::from_secs(16 + 30));
    }

    #[test]
    fn list_all_stops_when_the_cursor_does_not_advance() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.path().join("agent.sock");
        let agent = stuck_cursor_agent(UnixListener::bind(&socket).unwrap());
        let mut client = Client::connect(&socket).unwrap();
        let error = client.list_all().unwrap_err();
        assert!(
            error.to_string().contains("did not move on past \"a\""),
            "{error}"
        );
        drop(client);
        assert_eq!(
            agent.join().unwrap(),
            2,
            "the second page must end the paging"
        );
    }
}
