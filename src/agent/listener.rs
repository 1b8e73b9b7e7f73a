//! The accept loop: checks who connects, caps how many are served, hands each to a [`Handler`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use credd_protocol::{Done, ErrorKind, ErrorReply};
use interprocess::local_socket::tokio::{Listener as SocketListener, Stream};
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::traits::tokio::Listener as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use zeroize::Zeroizing;

use super::audit::Caller;
use super::connection::{Handler, Peer, encode};
use super::state::State;

/// Accepts connections until the agent shuts down.
pub struct Listener {
    /// The bound socket.
    pub listener: SocketListener,
    /// The agent's state, shared with every handler.
    pub state: Arc<State>,
    /// One permit per connection being served.
    pub limit: Arc<Semaphore>,
    /// One permit per connection over the cap being told `busy`.
    pub busy_limit: Arc<Semaphore>,
    /// Handlers subscribe to learn about shutdown.
    pub notify_shutdown: broadcast::Sender<()>,
    /// Each handler holds a clone; when all are dropped, every handler has finished.
    pub shutdown_complete: mpsc::Sender<()>,
    /// The `stop` operation fires this.
    pub stop: Arc<Notify>,
    /// Connections accepted from our user so far; the idle exit watches it.
    pub accepted: AtomicU64,
}

impl Listener {
    /// Accepts forever; each connection runs in its own task so that no client can delay another.
    pub async fn run(&self) {
        let own_uid = crate::sys::current_euid();
        loop {
            let stream = match self.listener.accept().await {
                Ok(stream) => stream,
                Err(error) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let peer = peer_of(&stream);
            if peer.uid != Some(own_uid) {
                tracing::warn!(
                    pid = peer.pid,
                    uid = peer.uid,
                    "refused a connection from another user"
                );
                continue;
            }
            self.accepted.fetch_add(1, Ordering::Relaxed);
            match self.limit.clone().try_acquire_owned() {
                Ok(permit) => {
                    self.spawn_handler(stream, peer, permit);
                    // Let the handler answer before this loop looks for the next connection:
                    // the `accept` that would find none waits until after the reply.
                    tokio::task::yield_now().await;
                }
                Err(_) => match self.busy_limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tracing::warn!(pid = peer.pid, "connection cap reached: answering busy");
                        tokio::spawn(async move {
                            reply_busy(stream).await;
                            drop(permit);
                        });
                    }
                    // A flood: even `busy` must not cost descriptors without bound.
                    Err(_) => tracing::warn!(pid = peer.pid, "connection cap reached: dropped"),
                },
            }
        }
    }

    fn spawn_handler(&self, stream: Stream, peer: Peer, permit: tokio::sync::OwnedSemaphorePermit) {
        let handler = Handler::new(
            self.state.clone(),
            stream,
            peer,
            Caller::read(peer.pid, peer.uid),
            self.notify_shutdown.subscribe(),
            self.stop.clone(),
        );
        let done = self.shutdown_complete.clone();
        tokio::spawn(async move {
            handler.run().await;
            drop(permit);
            drop(done);
        });
    }
}

fn peer_of(stream: &Stream) -> Peer {
    match stream.peer_creds() {
        Ok(creds) => Peer {
            pid: creds.pid().and_then(|pid| u32::try_from(pid).ok()),
            uid: creds.euid(),
        },
        Err(error) => {
            tracing::warn!(%error, "cannot read the peer's credentials");
            Peer {
                pid: None,
                uid: None,
            }
        }
    }
}

/// How long a client over the cap has to send its request and read `busy`.
const BUSY_LINGER: Duration = Duration::from_secs(1);

/// Tells a client over the cap to come back later, without making it wait for a slot. The
/// reply goes first; then what the client sends is read and discarded until it hangs up (or
/// [`BUSY_LINGER`] passes), because closing a socket with unread data resets the connection and
/// the client would see a broken pipe instead of `busy`.
async fn reply_busy(mut stream: Stream) {
    let busy = ErrorReply::new(
        ErrorKind::Busy,
        "the agent is serving too many connections: try again shortly",
    );
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    encode(&mut out, None, Err::<Done, _>(busy));
    let _ = tokio::time::timeout(BUSY_LINGER, async {
        stream.write_all(&out).await?;
        // What arrives may be a passphrase: read it into a buffer that is wiped on drop.
        let mut sink = Zeroizing::new([0u8; 4096]);
        while stream.read(&mut sink[..]).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
