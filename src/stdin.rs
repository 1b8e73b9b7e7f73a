//! Reading stdin from its descriptor, into memory that is wiped: a tool's request within a
//! deadline, for the fronts (Cargo's provider, the keyring command, the git and docker helpers),
//! whose tools pipe a request and may keep stdin open; and a line a person pipes in.

use std::os::fd::BorrowedFd;
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
    read_within(std::io::stdin().as_fd(), limit, wait, complete)
}

/// One line of stdin, without its newline, at most `limit` bytes, with no deadline: for a
/// secret a person pipes in. Read a byte at a time from the descriptor itself, so that nothing
/// past the line is taken (a second line, such as `passwd`'s new passphrase, is left for the next
/// read) and no copy is left in std's stdin buffer, which nothing wipes.
pub fn stdin_line(limit: usize) -> Result<Zeroizing<Vec<u8>>, StdinError> {
    use std::os::fd::AsFd;
    read_line(std::io::stdin().as_fd(), limit)
}

/// [`stdin_line`] on any readable descriptor.
fn read_line(input_fd: BorrowedFd<'_>, limit: usize) -> Result<Zeroizing<Vec<u8>>, StdinError> {
    let mut line = Zeroizing::new(Vec::with_capacity(READ_SIZE));
    let mut byte = Zeroizing::new([0u8; 1]);
    loop {
        match rustix::io::read(input_fd, &mut byte[..]) {
            Ok(0) => return Ok(line),
            Ok(_) if byte[0] == b'\n' => return Ok(line),
            Ok(_) if line.len() == limit => return Err(StdinError::TooLong(limit)),
            Ok(_) => line.push(byte[0]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(StdinError::Io(e.into())),
        }
    }
}

/// [`stdin_within`] on any readable descriptor.
fn read_within(
    input_fd: BorrowedFd<'_>,
    limit: usize,
    wait: Duration,
    complete: impl Fn(&[u8]) -> bool,
) -> Result<Zeroizing<Vec<u8>>, StdinError> {
    // Sized for a usual request (a few lines), not for the limit: the buffer is wiped whole when
    // dropped, its full capacity byte by byte, and the allocator wipes each block it outgrows.
    let mut input = Zeroizing::new(Vec::with_capacity(READ_SIZE));
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !crate::sys::readable_within(input_fd, left) {
            return Err(StdinError::TimedOut(wait));
        }
        // Read into all the room there is, and at least READ_SIZE, but never past one byte over
        // the limit: that byte is enough to refuse, and memory stays bounded by the limit.
        let filled = input.len();
        let room = (input.capacity() - filled)
            .max(READ_SIZE)
            .min(limit.saturating_add(1) - filled);
        input.resize(filled + room, 0);
        let read = rustix::io::read(input_fd, &mut input[filled..]);
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

/// The fewest bytes one read asks for, and the buffer's first size.
const READ_SIZE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(5);

    /// A pipe whose write end gets `chunks` from another thread, one write each; the write end
    /// is closed after them, or with `hold`, once the returned sender is dropped.
    fn piped(chunks: Vec<Vec<u8>>, hold: bool) -> (OwnedFd, mpsc::Sender<()>) {
        let (read_end, write_end) = rustix::pipe::pipe().unwrap();
        let (release, released) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut file = std::fs::File::from(write_end);
            for chunk in chunks {
                file.write_all(&chunk).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            if hold {
                let _ = released.recv();
            }
        });
        (read_end, release)
    }

    #[test]
    fn input_longer_than_the_first_buffer_arrives_whole() {
        let chunks: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 700]).collect();
        let expected = chunks.concat();
        let (read_end, _release) = piped(chunks, false);
        let input = read_within(read_end.as_fd(), 4096, WAIT, |_| false).unwrap();
        assert_eq!(*input, expected);
    }

    #[test]
    fn the_limit_is_allowed_and_one_byte_more_is_refused() {
        let (read_end, _release) = piped(vec![vec![b'x'; 3000]], false);
        let read = read_within(read_end.as_fd(), 3000, WAIT, |_| false).unwrap();
        assert_eq!(read.len(), 3000);
        let (read_end, _release) = piped(vec![vec![b'x'; 3001]], false);
        let refused = read_within(read_end.as_fd(), 3000, WAIT, |_| false);
        assert!(
            matches!(refused, Err(StdinError::TooLong(3000))),
            "{refused:?}"
        );
    }

    #[test]
    fn a_request_complete_over_two_writes_is_read_while_stdin_stays_open() {
        let chunks = vec![b"protocol=https\nho".to_vec(), b"st=a.test\n\n".to_vec()];
        // Held open until the read is done: only `complete` can end it without timing out.
        let (read_end, release) = piped(chunks, true);
        let input = read_within(read_end.as_fd(), 4096, WAIT, |i| i.ends_with(b"\n\n")).unwrap();
        assert_eq!(*input, *b"protocol=https\nhost=a.test\n\n");
        drop(release);
    }

    #[test]
    fn a_line_is_read_up_to_its_newline_and_no_further() {
        let (read_end, _release) = piped(vec![b"first\nsecond\nthird".to_vec()], false);
        let lines: Vec<Vec<u8>> = (0..4)
            .map(|_| read_line(read_end.as_fd(), 64).unwrap().to_vec())
            .collect();
        assert_eq!(lines, [&b"first"[..], b"second", b"third", b""]);
    }

    #[test]
    fn a_line_of_the_limit_is_allowed_and_one_byte_more_is_refused() {
        let (read_end, _release) = piped(vec![b"12345\n123456\n".to_vec()], false);
        assert_eq!(*read_line(read_end.as_fd(), 5).unwrap(), *b"12345");
        let refused = read_line(read_end.as_fd(), 5);
        assert!(
            matches!(refused, Err(StdinError::TooLong(5))),
            "{refused:?}"
        );
    }

    #[test]
    fn silence_past_the_wait_times_out() {
        let (read_end, release) = piped(vec![b"half".to_vec()], true);
        let timed_out = read_within(read_end.as_fd(), 4096, Duration::from_millis(100), |_| {
            false
        });
        assert!(
            matches!(timed_out, Err(StdinError::TimedOut(_))),
            "{timed_out:?}"
        );
        drop(release);
    }
}
