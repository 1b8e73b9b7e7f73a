//! The controlling terminal: asking for a secret on `/dev/tty` without echo.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// True when this process has a controlling terminal to prompt on.
pub fn has_tty() -> bool {
    std::fs::File::open("/dev/tty").is_ok()
}

/// Reads a line from `/dev/tty` with echo off. Echo goes off before the prompt shows, so even
/// keys typed ahead are never displayed, and it is restored however the read ends, a signal that
/// ends the process included; a stop and resume (Ctrl-Z, `fg`) turns it off again.
pub fn read_hidden(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    read_hidden_within(prompt, Duration::MAX)
}

/// [`read_hidden`], giving up with [`std::io::ErrorKind::TimedOut`] when no whole line was
/// typed within `timeout`: for prompts shown on behalf of tools that wait without a timeout.
pub fn read_hidden_within(prompt: &str, timeout: Duration) -> std::io::Result<Zeroizing<String>> {
    use std::os::fd::AsFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let echo_off = crate::sys::EchoOff::new(tty.as_fd())?;
    (&tty).write_all(prompt.as_bytes())?;
    let deadline = Instant::now().checked_add(timeout);
    let mut line = Zeroizing::new(Vec::with_capacity(1024));
    let mut chunk = Zeroizing::new([0u8; 1024]);
    while line.last() != Some(&b'\n') {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() || !crate::sys::readable_within(tty.as_fd(), left) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "nothing was typed in time",
            ));
        }
        match (&tty).read(&mut chunk[..]) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    drop(echo_off);
    if std::str::from_utf8(&line).is_err() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "what was typed is not UTF-8",
        ));
    }
    let line = std::mem::take(&mut *line);
    Ok(Zeroizing::new(
        String::from_utf8(line).expect("checked above"),
    ))
}
