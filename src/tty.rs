//! The controlling terminal: asking for a secret on `/dev/tty` without echo.

use std::io::{BufRead, Write};

use zeroize::Zeroizing;

/// True when this process has a controlling terminal to prompt on.
pub fn has_tty() -> bool {
    std::fs::File::open("/dev/tty").is_ok()
}

/// Reads a line from `/dev/tty` with echo off. Echo goes off before the prompt shows, so even
/// keys typed ahead are never displayed, and it is restored however the read ends.
pub fn read_hidden(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    use std::os::fd::AsFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let echo_off = crate::sys::EchoOff::new(tty.as_fd())?;
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = Zeroizing::new(String::with_capacity(1024));
    std::io::BufReader::new(&tty).read_line(&mut line)?;
    drop(echo_off);
    Ok(line)
}
