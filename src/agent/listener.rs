//! The accept loop: checks who connects, caps how many are served, hands each to a [`Handler`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use credd_protocol::{Done, ErrorKind, ErrorReply, MAX_FRAME_LEN};
use interprocess::local_socket::tokio::{Listener as SocketListener, Stream};
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::traits::tokio::Listener as _;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use zeroize::Zeroizing;

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
        // SAFETY: geteuid has no preconditions.
        let own_uid = unsafe { libc::geteuid() };
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
                Ok(permit) => self.spawn_handler(stream, peer, permit),
                Err(_) => {
                    tracing::warn!(pid = peer.pid, "connection cap reached: answering busy");
                    tokio::spawn(reply_busy(stream));
                }
            }
        }
    }

    fn spawn_handler(&self, stream: Stream, peer: Peer, permit: tokio::sync::OwnedSemaphorePermit) {
        let handler = Handler {
            state: self.state.clone(),
            stream,
            peer,
            shutdown: self.notify_shutdown.subscribe(),
            stop: self.stop.clone(),
        };
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

/// Tells a client over the cap to come back later, without making it wait for a slot.
async fn reply_busy(mut stream: Stream) {
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_FRAME_LEN + 1));
    let busy = ErrorReply::new(
        ErrorKind::Busy,
        "the agent is serving too many connections: try again shortly",
    );
    encode(&mut out, None, Err::<Done, _>(busy));
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
}
