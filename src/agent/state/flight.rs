//! One run at a time of a piece of slow work (a source entry's mint, a team's read), whose
//! outcome the callers that waited for it share.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use credd_protocol::ErrorReply;

/// The caller that gets the lock runs the work; those that waited on it meanwhile take that
/// run's outcome instead of running it again.
pub(super) struct Flight<T> {
    lock: tokio::sync::Mutex<()>,
    /// Runs finished so far, good or failed, and the last one's outcome.
    last: Mutex<(u64, Option<Result<T, ErrorReply>>)>,
}

impl<T> Default for Flight<T> {
    fn default() -> Self {
        Self {
            lock: tokio::sync::Mutex::new(()),
            last: Mutex::new((0, None)),
        }
    }
}

impl<T: Clone> Flight<T> {
    /// Runs finished so far: what a caller notes before it waits.
    pub(super) fn seen(&self) -> u64 {
        self.last().0
    }

    /// Runs `work` under the lock, unless a run finished since the caller saw `seen` runs: then
    /// that run's outcome is the caller's too.
    pub(super) async fn run(
        &self,
        seen: u64,
        work: impl Future<Output = Result<T, ErrorReply>>,
    ) -> Result<T, ErrorReply> {
        let _lock = self.lock.lock().await;
        if let (runs, Some(last)) = &*self.last()
            && *runs != seen
        {
            return last.clone();
        }
        let outcome = work.await;
        *self.last() = (self.seen() + 1, Some(outcome.clone()));
        outcome
    }

    fn last(&self) -> MutexGuard<'_, (u64, Option<Result<T, ErrorReply>>)> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn callers_that_waited_take_the_runs_outcome() {
        let flight = Arc::new(Flight::<u32>::default());
        let runs = Arc::new(AtomicU32::new(0));
        let seen = flight.seen();
        let gate = Arc::new(tokio::sync::Notify::new());
        let first = {
            let (flight, runs, gate) = (flight.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                flight
                    .run(seen, async {
                        gate.notified().await;
                        Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        let second = {
            let (flight, runs) = (flight.clone(), runs.clone());
            tokio::spawn(async move {
                flight
                    .run(seen, async { Ok(runs.fetch_add(1, Ordering::SeqCst) + 1) })
                    .await
            })
        };
        tokio::task::yield_now().await;
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(
            second.await.unwrap().unwrap(),
            1,
            "took the first run's outcome"
        );
        // A caller that saw the last run runs again.
        let again = flight.run(flight.seen(), async { Ok(7) }).await;
        assert_eq!((again.unwrap(), runs.load(Ordering::SeqCst)), (7, 1));
    }
}
