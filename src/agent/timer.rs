//! The auto-lock timer: locks the agent when the idle timeout or the absolute maximum runs out.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::state::State;

/// Sleeps until the next deadline and locks when it has passed; re-arms whenever the state says
/// the deadlines moved. Ends on shutdown.
pub async fn auto_lock(state: Arc<State>, mut shutdown: broadcast::Receiver<()>) {
    loop {
        let next = state.lock_if_expired();
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = state.timers_changed() => {}
            _ = shutdown.recv() => return,
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
