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
    // Sized for a usual request (a few lines), not for the limit: the buffer is wiped whole when
    // dropped, its full capacity byte by byte, and the allocator wipes each block it outgrows.
    let mut input = Zeroizing::new(Vec::with_capacity(READ_SIZE));
    let stdin = std::io::stdin();
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !credd::sys::readable_within(stdin.as_fd(), left) {
            return Err(StdinError::TimedOut(wait));
        }
        let filled = input.len();
        input.resize(filled + READ_SIZE, 0);
        let read = rustix::io::read(stdin.as_fd(), &mut input[filled..]);
        input.truncate(filled + read.as_ref().map_or(0, |&n| n));
        match read {
            Ok(0) => return Ok(input),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
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

/// The most bytes one read asks for, and the buffer's first size.
const READ_SIZE: usize = 1024;
