//! Reading a tool's request from stdin within a deadline, into memory that is wiped: for the
//! fronts, whose tools pipe a request and may keep stdin open.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Why [`stdin_within`] read no whole input.
#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    /// stdin was neither closed nor complete in time.
    #[error("stdin did not end within {0:?}")]
    TimedOut(Duration),
    /// More than the limit arrived.
    #[error("stdin holds more than {0} bytes")]
    TooLong(usize),
    /// Reading failed.
    #[error("cannot read stdin: {0}")]
    Io(#[from] std::io::Error),
}

/// All of stdin up to its end, or up to the point where `complete` says the input is whole, at
/// most `limit` bytes, within `wait`: for tools that pipe a request and may keep stdin open.
/// Read from the descriptor itself: std's stdin buffer would keep a copy that nothing wipes.
pub fn stdin_within(
    limit: usize,
    wait: Duration,
    complete: impl Fn(&[u8]) -> bool,
) -> Result<Zeroizing<Vec<u8>>, StdinError> {
    use std::os::fd::AsFd;
    let mut input = Zeroizing::new(Vec::with_capacity(limit.min(64 * 1024) + 4096));
    let stdin = std::io::stdin();
    let deadline = Instant::now() + wait;
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !credd::sys::readable_within(stdin.as_fd(), left) {
            return Err(StdinError::TimedOut(wait));
        }
        match rustix::io::read(stdin.as_fd(), &mut chunk[..]) {
            Ok(0) => return Ok(input),
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(StdinError::Io(e.into())),
        }
        if input.len() > limit {
            return Err(StdinError::TooLong(limit));
        }
        if complete(&input) {
            return Ok(input);
        }
    }
}
