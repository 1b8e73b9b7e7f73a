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
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let echo_off = EchoOff::new(tty.as_raw_fd())?;
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = Zeroizing::new(String::with_capacity(1024));
    std::io::BufReader::new(&tty).read_line(&mut line)?;
    drop(echo_off);
    Ok(line)
}

/// Turns terminal echo off (keeping the newline's echo) until dropped.
struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

impl EchoOff {
    fn new(fd: i32) -> std::io::Result<Self> {
        let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: `fd` is an open terminal; tcgetattr fills `saved` when it returns 0.
        let saved = unsafe {
            if libc::tcgetattr(fd, saved.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            saved.assume_init()
        };
        let mut hidden = saved;
        hidden.c_lflag &= !libc::ECHO;
        hidden.c_lflag |= libc::ECHONL;
        // SAFETY: valid fd and a termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &hidden) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read from this same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}
