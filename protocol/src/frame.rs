//! Line framing: one JSON object per line, at most [`MAX_FRAME_LEN`] bytes before the newline.
//!
//! [`FrameBuf`] is sans-IO so the async agent and the blocking clients share it. It owns one
//! fixed allocation for the life of a connection and wipes every frame's bytes as soon as the
//! frame is consumed, because frames carry passphrases and tokens: a growing buffer would leave
//! copies behind in freed memory.

use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

/// The largest frame, in bytes, not counting its terminating newline.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// A line longer than [`MAX_FRAME_LEN`] arrived; the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request line is longer than {MAX_FRAME_LEN} bytes")]
pub struct FrameTooLarge;

/// A fixed-size, self-wiping receive buffer that splits a byte stream into lines.
pub struct FrameBuf {
    buf: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameBuf {
    /// Allocates the buffer once: room for one maximal frame and its newline.
    pub fn new() -> Self {
        Self {
            buf: Zeroizing::new(vec![0; MAX_FRAME_LEN + 1]),
            start: 0,
            end: 0,
        }
    }

    /// The free space to read into; bytes read there must be reported with [`Self::filled`].
    pub fn unfilled(&mut self) -> &mut [u8] {
        self.compact();
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were written at the start of [`Self::unfilled`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The length of the complete frame at the front, if one has arrived.
    ///
    /// Errors when the pending bytes already exceed the cap without a newline.
    pub fn frame_len(&self) -> Result<Option<usize>, FrameTooLarge> {
        let pending = &self.buf[self.start..self.end];
        match pending.iter().position(|&b| b == b'\n') {
            Some(len) if len <= MAX_FRAME_LEN => Ok(Some(len)),
            Some(_) => Err(FrameTooLarge),
            None if pending.len() > MAX_FRAME_LEN => Err(FrameTooLarge),
            None => Ok(None),
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
/// `out` is wiped first and given room for a maximal frame, so writing a secret into it does not
/// reallocate (and leave a copy behind) unless the line is over the cap.
pub fn encode_line<T: Serialize>(
    value: &T,
    out: &mut Zeroizing<Vec<u8>>,
) -> serde_json::Result<()> {
    out.zeroize();
    out.reserve(MAX_FRAME_LEN + 1);
    serde_json::to_writer(&mut **out, value)?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(buf: &mut FrameBuf, bytes: &[u8]) {
        buf.unfilled()[..bytes.len()].copy_from_slice(bytes);
        buf.filled(bytes.len());
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

    #[test]
    fn encode_line_appends_newline_and_replaces_old_contents() {
        let mut out = Zeroizing::new(b"old".to_vec());
        encode_line(&serde_json::json!({"id": 1}), &mut out).unwrap();
        assert_eq!(out.as_slice(), b"{\"id\":1}\n");
    }
}
