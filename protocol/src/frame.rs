//! Line framing: one JSON object per line, at most [`MAX_FRAME_LEN`] bytes before the newline.
//!
//! [`FrameBuf`] is sans-IO so the async agent and the blocking clients share it. It wipes every
//! frame's bytes as soon as the frame is consumed, because frames carry passphrases and tokens.
//! Buffers start small and grow, up to the frame cap, by moving into a new allocation and
//! wiping the old one, never by `realloc`, which would leave a copy behind in freed memory: most
//! lines are a few hundred bytes, and a connection or a client process that allocated, zeroed
//! and wiped 64 KiB buffers for them spent more on that than on its request.

use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

/// The largest frame, in bytes, not counting its terminating newline.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// A line longer than [`MAX_FRAME_LEN`] arrived; the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request line is longer than {MAX_FRAME_LEN} bytes")]
pub struct FrameTooLarge;

/// What a buffer holds at first: a lookup's request and reply, with room to spare.
const INITIAL_LEN: usize = 4096;

/// A self-wiping receive buffer, growing up to one maximal frame, that splits a byte stream
/// into lines.
pub struct FrameBuf {
    buf: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
    /// How many pending bytes are known to hold no newline: each byte is searched once, not
    /// once per read (a client sending a byte at a time made the search quadratic).
    searched: usize,
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameBuf {
    /// An empty buffer of [`INITIAL_LEN`] bytes; it grows up to one maximal frame and its
    /// newline.
    pub fn new() -> Self {
        Self {
            buf: Zeroizing::new(vec![0; INITIAL_LEN]),
            start: 0,
            end: 0,
            searched: 0,
        }
    }

    /// The free space to read into; bytes read there must be reported with [`Self::filled`].
    /// Empty only when a maximal frame's worth is pending (which [`Self::frame_len`] refuses).
    pub fn unfilled(&mut self) -> &mut [u8] {
        self.compact();
        if self.end == self.buf.len() {
            self.grow();
        }
        &mut self.buf[self.end..]
    }

    /// Doubles the buffer, up to the cap: the pending bytes move into a new zeroed block and
    /// the old one is wiped as it is dropped.
    fn grow(&mut self) {
        let len = (self.buf.len() * 2).min(MAX_FRAME_LEN + 1);
        if len == self.buf.len() {
            return;
        }
        let mut bigger = Zeroizing::new(vec![0; len]);
        bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
        self.buf = bigger;
    }

    /// Records that `n` bytes were written at the start of [`Self::unfilled`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The length of the complete frame at the front, if one has arrived.
    ///
    /// Errors when the pending bytes already exceed the cap without a newline.
    pub fn frame_len(&mut self) -> Result<Option<usize>, FrameTooLarge> {
        let pending = &self.buf[self.start..self.end];
        let newline = pending[self.searched..].iter().position(|&b| b == b'\n');
        match newline.map(|at| self.searched + at) {
            Some(len) if len <= MAX_FRAME_LEN => Ok(Some(len)),
            Some(_) => Err(FrameTooLarge),
            None if pending.len() > MAX_FRAME_LEN => Err(FrameTooLarge),
            None => {
                self.searched = pending.len();
                Ok(None)
            }
        }
    }

    /// The frame of `len` bytes at the front (without its newline).
    pub fn frame(&self, len: usize) -> &[u8] {
        &self.buf[self.start..self.start + len]
    }

    /// Wipes and drops the front frame of `len` bytes and its newline.
    pub fn consume(&mut self, len: usize) {
        let stop = (self.start + len + 1).min(self.end);
        self.buf[self.start..stop].zeroize();
        self.start = stop;
        // What follows the frame was not searched: the search stopped at its newline.
        self.searched = 0;
    }

    /// Moves pending bytes to the front so the free space is contiguous; wipes what moved away.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        let pending = self.end - self.start;
        self.buf.copy_within(self.start..self.end, 0);
        self.buf[pending..self.end].zeroize();
        self.start = 0;
        self.end = pending;
    }
}

/// Serializes `value` as one line (JSON and `\n`) into `out`, replacing its contents.
///
/// `out`'s old contents are wiped first. It grows as the line needs, by moving into a new
/// allocation and wiping the old one (never `realloc`, which would leave a copy of a secret in
/// freed memory), and never past one maximal frame and its newline: a longer line is an error.
pub fn encode_line<T: Serialize>(
    value: &T,
    out: &mut Zeroizing<Vec<u8>>,
) -> serde_json::Result<()> {
    out.as_mut_slice().zeroize();
    out.clear();
    let mut line = CappedLine(out);
    let written = serde_json::to_writer(&mut line, value)
        .and_then(|()| line.append(b"\n").map_err(serde_json::Error::io));
    if written.is_err() {
        // What was written of a refused line may hold a secret.
        out.as_mut_slice().zeroize();
        out.clear();
    }
    written
}

/// A line being written into a wiped-on-growth buffer, refused past the frame cap.
struct CappedLine<'a>(&'a mut Zeroizing<Vec<u8>>);

impl CappedLine<'_> {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let needed = self.0.len() + bytes.len();
        if needed > MAX_FRAME_LEN + 1 {
            return Err(std::io::Error::other(format!(
                "the line is longer than {MAX_FRAME_LEN} bytes"
            )));
        }
        if needed > self.0.capacity() {
            let room = needed
                .max(self.0.capacity() * 2)
                .clamp(256, MAX_FRAME_LEN + 1);
            let mut bigger = Zeroizing::new(Vec::with_capacity(room));
            bigger.extend_from_slice(self.0);
            // The old block is wiped as it is dropped.
            *self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

impl std::io::Write for CappedLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.append(bytes).map(|()| bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` as reads would: as much as the buffer offers each time.
    fn feed(buf: &mut FrameBuf, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = buf.unfilled();
            let n = room.len().min(bytes.len());
            assert!(n > 0, "the buffer is full");
            room[..n].copy_from_slice(&bytes[..n]);
            buf.filled(n);
            bytes = &bytes[n..];
        }
    }

    #[test]
    fn splits_lines_and_wipes_consumed_bytes() {
        let mut buf = FrameBuf::new();
        feed(&mut buf, b"{\"a\":1}\n{\"b\"");
        let len = buf.frame_len().unwrap().unwrap();
        assert_eq!(buf.frame(len), b"{\"a\":1}");
        buf.consume(len);
        assert!(buf.buf[..8].iter().all(|&b| b == 0));
        assert_eq!(buf.frame_len(), Ok(None));
        feed(&mut buf, b":2}\n");
        let len = buf.frame_len().unwrap().unwrap();
        assert_eq!(buf.frame(len), b"{\"b\":2}");
        buf.consume(len);
        assert!(buf.buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn accepts_a_maximal_frame_and_refuses_a_longer_one() {
        let mut buf = FrameBuf::new();
        feed(&mut buf, &vec![b'x'; MAX_FRAME_LEN]);
        assert_eq!(buf.frame_len(), Ok(None));
        feed(&mut buf, b"\n");
        assert_eq!(buf.frame_len(), Ok(Some(MAX_FRAME_LEN)));

        let mut buf = FrameBuf::new();
        feed(&mut buf, &vec![b'x'; MAX_FRAME_LEN + 1]);
        assert_eq!(buf.frame_len(), Err(FrameTooLarge));
        assert!(buf.unfilled().is_empty());
    }

    /// A client may send a byte at a time: each read searches only the new byte, and frames
    /// are still found whole across the buffer's growth and compaction.
    #[test]
    fn frames_sent_a_byte_at_a_time_are_found_and_each_byte_searched_once() {
        let mut buf = FrameBuf::new();
        let first = vec![b'a'; 2 * INITIAL_LEN];
        for (i, &byte) in first.iter().chain(b"\nbc\n").enumerate() {
            feed(&mut buf, &[byte]);
            let found = buf.frame_len().unwrap();
            if i < first.len() {
                assert_eq!((found, buf.searched), (None, i + 1), "byte {i}");
            }
            if let Some(len) = found {
                buf.consume(len);
            }
        }
        assert_eq!(buf.frame_len(), Ok(None));
        feed(&mut buf, b"d\n");
        assert_eq!(buf.frame_len(), Ok(Some(1)));
        assert_eq!(buf.frame(1), b"d");
    }

    #[test]
    fn grows_keeping_pending_bytes_and_starts_small() {
        let mut buf = FrameBuf::new();
        assert_eq!(buf.unfilled().len(), INITIAL_LEN);
        let line = vec![b'y'; 3 * INITIAL_LEN];
        feed(&mut buf, &line);
        feed(&mut buf, b"\n");
        assert_eq!(buf.frame_len(), Ok(Some(line.len())));
        assert_eq!(buf.frame(line.len()), line.as_slice());
    }

    #[test]
    fn encode_line_refuses_a_line_over_the_cap() {
        let mut out = Zeroizing::new(Vec::new());
        let long = "x".repeat(MAX_FRAME_LEN);
        assert!(encode_line(&long, &mut out).is_err());
        let fits = "x".repeat(MAX_FRAME_LEN - 2);
        encode_line(&fits, &mut out).unwrap();
        assert_eq!(out.len(), MAX_FRAME_LEN + 1);
    }

    #[test]
    fn encode_line_appends_newline_and_replaces_old_contents() {
        let mut out = Zeroizing::new(b"old".to_vec());
        encode_line(&serde_json::json!({"id": 1}), &mut out).unwrap();
        assert_eq!(out.as_slice(), b"{\"id\":1}\n");
    }
}
