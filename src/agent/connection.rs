//! One client connection: read a line, answer it, repeat.
//!
//! The bytes of every request and reply pass through exactly two buffers per connection, wiped
//! after every frame: [`FrameBuf`] for what arrives and a zeroizing reply buffer for what
//! leaves. Both start small and grow to the frame cap only as a line needs, moving into a new
//! block and wiping the old one. No reader or codec of a library keeps its own copy.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use credd_protocol::{
    Ask, Done, ErrorKind, ErrorReply, ForgetResult, FrameBuf, GetFirstResult, GetResult,
    HelloResult, ListResult, LogRecord, LogResult, Lookup, MAX_FRAME_LEN, MAX_LOOKUPS,
    MAX_NAME_LEN, MAX_OPERATION_LEN, Operation, PutResult, RefreshResult, RememberResult, Reply,
    Request, SUPPORTED_VERSIONS, Secret, SetResult, encode_line, parse_request,
};
use interprocess::local_socket::tokio::Stream;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use zeroize::{Zeroize, Zeroizing};

use super::audit::Caller;
use super::state::{Query, State};

/// Who is on the other end, from `SO_PEERCRED`.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The peer's process id, when the OS tells it.
    pub pid: Option<u32>,
    /// The peer's effective user id.
    pub uid: Option<u32>,
}

/// Serves one connection until the client hangs up, stalls, breaks the framing, or the agent
/// shuts down.
pub struct Handler {
    /// The agent's state.
    state: Arc<State>,
    /// The client.
    stream: Stream,
    /// Who the client is.
    peer: Peer,
    /// The client's process and its parents, read at connect, for the audit records.
    caller: Caller,
    /// When the connection was accepted (and `caller` read): a grace window opened later does
    /// not serve it.
    accepted: Instant,
    /// Fires when the agent shuts down.
    shutdown: broadcast::Receiver<()>,
    /// Asks the agent to shut down (the `stop` operation).
    stop: Arc<Notify>,
    /// The audit record of the request being answered, made when its reply is written.
    record: Option<LogRecord>,
}

/// What to do with the connection after a reply.
enum After {
    KeepOpen,
    Close,
}

impl Handler {
    /// A handler for `stream`, from `caller` (read at connect).
    pub fn new(
        state: Arc<State>,
        stream: Stream,
        peer: Peer,
        caller: Caller,
        shutdown: broadcast::Receiver<()>,
        stop: Arc<Notify>,
    ) -> Self {
        Self {
            state,
            stream,
            peer,
            caller,
            accepted: Instant::now(),
            shutdown,
            stop,
            record: None,
        }
    }

    /// Answers requests until the connection ends.
    pub async fn run(mut self) {
        let mut frames = FrameBuf::new();
        let mut out = Zeroizing::new(Vec::new());
        let read_timeout = self.state.config().read();
        // One deadline per request, not per read: a client trickling bytes must not keep its
        // connection (and its slot under the cap) forever.
        let mut deadline = Instant::now() + read_timeout;
        loop {
            let after = match frames.frame_len() {
                Ok(Some(len)) => {
                    let parsed = parse_request(frames.frame(len));
                    frames.consume(len);
                    self.answer(parsed, &mut out).await
                }
                Ok(None) => match self.read_more(&mut frames, deadline).await {
                    true => continue,
                    false => return,
                },
                Err(too_large) => {
                    tracing::warn!(peer = ?self.peer, "closing a connection that sent an over-long line");
                    let error = ErrorReply::new(
                        ErrorKind::FrameTooLarge,
                        format!("{too_large}: split the request"),
                    );
                    encode(&mut out, None, Err::<Done, _>(error));
                    After::Close
                }
            };
            let written = self.write(&out, read_timeout).await;
            out.zeroize();
            if !written || matches!(after, After::Close) {
                return;
            }
            deadline = Instant::now() + read_timeout;
        }
    }

    /// Reads more bytes into `frames` until `deadline`; false when the connection should end.
    async fn read_more(&mut self, frames: &mut FrameBuf, deadline: Instant) -> bool {
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, self.stream.read(frames.unfilled())) => read,
            _ = self.shutdown.recv() => return false,
        };
        match read {
            Ok(Ok(0)) => false,
            Ok(Ok(n)) => {
                frames.filled(n);
                true
            }
            Ok(Err(error)) => {
                tracing::debug!(peer = ?self.peer, %error, "read failed");
                false
            }
            Err(_) => {
                tracing::debug!(peer = ?self.peer, "closing a connection that sent no complete request in time");
                false
            }
        }
    }

    /// Writes one encoded reply and makes the request's audit record; false when the client is
    /// gone or too slow to read it.
    ///
    /// The record is made right after the reply's first write, before anything can wait: a
    /// reply almost always leaves in that one write, and the client then has its answer without
    /// waiting for the log line (about a tenth of a lookup here). A reply that does not fit the
    /// socket's buffer at once waits for the client only after its record is made, so that no
    /// secret can leave without one: a shutdown drops a handler only where it waits. On the
    /// agent's one runtime thread nothing else runs between the two either, so a client that
    /// has its reply finds the record in `log`.
    async fn write(&mut self, bytes: &[u8], deadline: Duration) -> bool {
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(std::pin::Pin::new(&mut self.stream).poll_write(cx, bytes))
        })
        .await;
        if let Some(record) = self.record.take() {
            self.state.audit.record(record);
        }
        // An error is met again, and reported, by the write of the rest.
        let sent = match first {
            Poll::Ready(Ok(sent)) => sent,
            _ => 0,
        };
        let rest = &bytes[sent..];
        if rest.is_empty() {
            return true;
        }
        match tokio::time::timeout(deadline, self.stream.write_all(rest)).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::debug!(peer = ?self.peer, %error, "client left before reading its reply");
                false
            }
            Err(_) => false,
        }
    }

    /// Carries out one parsed request and encodes its reply into `out`.
    async fn answer(
        &mut self,
        parsed: Result<Request, credd_protocol::RequestError>,
        out: &mut Zeroizing<Vec<u8>>,
    ) -> After {
        let request = match parsed {
            Ok(request) => request,
            Err(rejected) => {
                tracing::debug!(peer = ?self.peer, kind = ?rejected.error.kind, "rejected a request");
                encode(out, rejected.id, Err::<Done, _>(rejected.error));
                return After::KeepOpen;
            }
        };
        let id = Some(request.id);
        let state = &self.state;
        match request.op {
            Operation::Hello => encode(out, id, Ok(hello())),
            Operation::Status => encode(out, id, Ok(state.status())),
            Operation::Init {
                passphrase,
                kdf,
                store,
            } => encode(out, id, state.init(passphrase, kdf, store).await.map(done)),
            Operation::Unlock { passphrase } => {
                encode(out, id, state.unlock(passphrase).await.map(done))
            }
            Operation::UnlockKeychain => encode(out, id, state.unlock_keychain().await.map(done)),
            Operation::Remember { passphrase } => encode(out, id, self.remember(passphrase).await),
            Operation::Forget => encode(out, id, self.forget().await),
            Operation::Passwd { old, new } => {
                encode(out, id, state.passwd(old, new).await.map(done))
            }
            Operation::Lock => {
                if state.lock() {
                    tracing::info!(peer = ?self.peer, "locked on request");
                }
                encode(out, id, Ok(Done {}))
            }
            Operation::Get { lookup, ask } => encode(out, id, self.get(&lookup, ask).await),
            Operation::GetFirst { lookups, ask } => {
                encode(out, id, self.get_first(&lookups, ask).await)
            }
            Operation::Allow { name, passphrase } => {
                encode(out, id, self.allow(name, passphrase).await.map(done))
            }
            Operation::Log { limit } => encode(
                out,
                id,
                Ok(LogResult {
                    records: state.audit.recent(limit),
                }),
            ),
            Operation::Put { entry, replace } => {
                let name = entry.name.clone();
                let result = state.put(entry, replace).await;
                if result.is_ok() {
                    tracing::info!(pid = self.peer.pid, uid = self.peer.uid, name, "put");
                }
                encode(out, id, result.map(|replaced| PutResult { replaced }))
            }
            Operation::Set {
                url,
                username,
                secret,
                note,
                expires,
            } => {
                let result = state.set(url, username, secret, note, expires).await;
                if let Ok((name, _)) = &result {
                    tracing::info!(pid = self.peer.pid, uid = self.peer.uid, name, "set");
                }
                encode(
                    out,
                    id,
                    result.map(|(name, replaced)| SetResult { name, replaced }),
                )
            }
            Operation::Delete { lookup } => encode(out, id, state.delete(lookup).await.map(done)),
            Operation::List { after, limit } => encode(
                out,
                id,
                state
                    .list(after.as_deref())
                    .map(|sorted| ListResult::page(sorted, limit)),
            ),
            Operation::Refresh { name } => encode(out, id, self.refresh(name).await),
            Operation::Stop => {
                encode(out, id, Ok(Done {}));
                self.stop.notify_one();
                return After::Close;
            }
            _ => encode(
                out,
                id,
                Err::<Done, _>(ErrorReply::new(
                    ErrorKind::UnsupportedOperation,
                    "operation not supported by this agent",
                )),
            ),
        }
        After::KeepOpen
    }

    /// Looks an entry up, with the step-up a publish credential needs; records who asked and
    /// how it ended, never the secret.
    async fn get(&mut self, lookup: &Lookup, ask: Ask) -> Result<GetResult, ErrorReply> {
        let found = self.first_found(std::slice::from_ref(lookup), ask).await;
        found.map(|(_, found)| found)
    }

    /// The entry of the first of `lookups` that finds one, and which lookup it was. A request
    /// `get-first` does not take is refused whole, before any lookup, and recorded as refused.
    async fn get_first(
        &mut self,
        lookups: &[Lookup],
        ask: Ask,
    ) -> Result<GetFirstResult, ErrorReply> {
        if let Err(refused) = check_get_first(lookups, &ask) {
            let operation = ask.operation.as_deref().unwrap_or("read");
            self.audit(ask.front, None, operation, kind_name(refused.kind));
            return Err(refused);
        }
        let (lookup, found) = self.first_found(lookups, ask).await?;
        Ok(GetFirstResult { found, lookup })
    }

    /// Asks `lookups` (at least one) in turn until one finds an entry: a miss moves on, any
    /// other error answers. Records who asked and how it ended, once, never the secret; with
    /// several lookups the outcome says which one answered (`ok (lookup 2 of 2)`), so that a
    /// record of several misses shows how many were asked.
    async fn first_found(
        &mut self,
        lookups: &[Lookup],
        ask: Ask,
    ) -> Result<(u32, GetResult), ErrorReply> {
        let Ask {
            front,
            operation,
            mut passphrase,
        } = ask;
        let mut entry = None;
        let mut index = 0;
        let result = loop {
            let result = self
                .look_up(&lookups[index], passphrase.take(), &mut entry)
                .await;
            match result {
                Err(error) if error.kind == ErrorKind::NotFound && index + 1 < lookups.len() => {
                    index += 1;
                }
                result => break result,
            }
        };
        let mut outcome = match &result {
            Ok((_, how)) => (*how).to_owned(),
            Err(error) => kind_name(error.kind),
        };
        if lookups.len() > 1 {
            outcome = format!("{outcome} (lookup {} of {})", index + 1, lookups.len());
        }
        let default = if lookups[index].publish {
            "publish"
        } else {
            "read"
        };
        self.audit(
            front,
            entry,
            operation.as_deref().unwrap_or(default),
            outcome,
        );
        result.map(|(found, _)| (index as u32, found))
    }

    /// The entry `lookup` selects and how it was let through (`ok`, `ok (step-up)`, `ok (grace)`,
    /// `ok (allowed once)`); `entry` is set to its name as soon as one is found.
    async fn look_up(
        &self,
        lookup: &Lookup,
        passphrase: Option<Secret>,
        entry: &mut Option<String>,
    ) -> Result<(GetResult, &'static str), ErrorReply> {
        let query = Query::of(lookup)?;
        let (found, separate_publish) = self.state.lookup(query)?;
        *entry = Some(found.name.clone());
        let terminal = self.caller.terminal;
        let how = if !found.publish {
            "ok"
        } else if let Some(passphrase) = passphrase {
            self.state.step_up(passphrase).await?;
            if let Some(terminal) = terminal {
                self.state.open_grace(&found.name, terminal);
            }
            "ok (step-up)"
        } else if terminal.is_some_and(|t| self.state.in_grace(&found.name, t, self.accepted)) {
            "ok (grace)"
        } else if self.state.take_allowance(&found.name) {
            "ok (allowed once)"
        } else {
            return Err(step_up_required(&found.name));
        };
        // Only once the step-up passed: a refused request must not make the agent mint.
        let result = GetResult {
            entry: self.state.minted(found).await?,
            separate_publish,
        };
        Ok((result, how))
    }

    /// Mints a new token for the source entry `name`; recorded like a lookup (it uses the
    /// entry's material, though it hands out nothing).
    async fn refresh(&mut self, name: String) -> Result<RefreshResult, ErrorReply> {
        let result = self.state.refresh(&name).await;
        self.audit(None, Some(name), "refresh", outcome_of(&result));
        result
    }

    /// Lets the publish credential `name` through once; recorded like a lookup.
    async fn allow(&mut self, name: String, passphrase: Secret) -> Result<(), ErrorReply> {
        let result = self.state.allow(&name, passphrase).await;
        self.audit(None, Some(name), "allow once", outcome_of(&result));
        result
    }

    /// Stores the vault key in the OS keychain; recorded like a lookup (the key opens every
    /// entry).
    async fn remember(&mut self, passphrase: Secret) -> Result<RememberResult, ErrorReply> {
        let result = self.state.remember(passphrase).await;
        self.audit(None, None, "remember", outcome_of(&result));
        result
    }

    /// Removes the remembered vault key; recorded like a lookup, next to `remember`.
    async fn forget(&mut self) -> Result<ForgetResult, ErrorReply> {
        let result = self
            .state
            .forget()
            .await
            .map(|removed| ForgetResult { removed });
        self.audit(None, None, "forget", outcome_of(&result));
        result
    }

    /// Makes the audit record of one request, kept until its reply is written (see
    /// [`Handler::write`]).
    fn audit(
        &mut self,
        front: Option<credd_protocol::Front>,
        entry: Option<String>,
        operation: &str,
        outcome: String,
    ) {
        let operation: String = operation.chars().take(MAX_OPERATION_LEN).collect();
        // `allow` and `refresh` record the name the client sent, which need not be an entry's:
        // every record stays small enough for `log` to show it.
        let entry = entry.map(|name| name.chars().take(MAX_NAME_LEN).collect());
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.record = Some(LogRecord {
            time,
            peer: self.caller.peer.clone(),
            parents: self.caller.parents.clone(),
            front,
            entry,
            operation: operation.chars().filter(|c| !c.is_control()).collect(),
            outcome,
            known_tool: self.caller.is_known_tool(front),
        });
    }
}

/// A record's outcome for a request that hands nothing out: `ok`, or the error kind.
fn outcome_of<T>(result: &Result<T, ErrorReply>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => kind_name(error.kind),
    }
}

/// Why `get-first` refuses `lookups` and `ask` whole: none or more than [`MAX_LOOKUPS`] lookups,
/// one that `get` would refuse as malformed, `publish`, or a `passphrase` (both go with `get`).
fn check_get_first(lookups: &[Lookup], ask: &Ask) -> Result<(), ErrorReply> {
    if lookups.is_empty() || lookups.len() > MAX_LOOKUPS {
        return Err(ErrorReply::new(
            ErrorKind::BadRequest,
            format!("give 1 to {MAX_LOOKUPS} lookups"),
        ));
    }
    if lookups.iter().any(|lookup| lookup.publish) || ask.passphrase.is_some() {
        return Err(ErrorReply::new(
            ErrorKind::BadRequest,
            "`publish` and `passphrase` go with `get`, not `get-first`",
        ));
    }
    lookups
        .iter()
        .try_for_each(|lookup| Query::of(lookup).map(drop))
}

/// The error for a publish credential asked for without a step-up: why, and the two ways on.
fn step_up_required(name: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::StepUpRequired,
        format!(
            "{name:?} is a publish credential: credd hands it out only when you type the credd \
             passphrase on a terminal. Run the command from a terminal, or run 'credd allow \
             --once {name}' in one first."
        ),
    )
}

/// An error kind's name as on the wire, for the audit record.
fn kind_name(kind: ErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "error".into())
}

fn done(_: ()) -> Done {
    Done {}
}

fn hello() -> HelloResult {
    HelloResult {
        versions: SUPPORTED_VERSIONS.to_vec(),
        agent: concat!("credd ", env!("CARGO_PKG_VERSION")).into(),
    }
}

/// Encodes a reply line into `out`; a reply that cannot be encoded becomes an `internal` error.
pub fn encode<T: Serialize>(
    out: &mut Zeroizing<Vec<u8>>,
    id: Option<u64>,
    outcome: Result<T, ErrorReply>,
) {
    let reply = Reply { id, outcome };
    if encode_line(&reply, out).is_err() || out.len() > MAX_FRAME_LEN + 1 {
        let error = ErrorReply::new(
            ErrorKind::Internal,
            "the reply is too large to send: remove unused entries",
        );
        // A fixed, small reply always encodes.
        let _ = encode_line(
            &Reply::<Done> {
                id,
                outcome: Err(error),
            },
            out,
        );
    }
}
