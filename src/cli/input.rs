//! Reading passphrases and secrets: from the terminal without echo, or one line from stdin.
//! Never from arguments or the environment, which other processes can read.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use credd_protocol::Secret;
use zeroize::Zeroizing;

/// Reads one line from stdin, dropping the trailing newline.
pub fn stdin_line(what: &str) -> Result<Secret> {
    let mut line = Zeroizing::new(Vec::with_capacity(credd_protocol::MAX_FRAME_LEN));
    std::io::stdin()
        .lock()
        .read_until(b'\n', &mut line)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text =
        std::str::from_utf8(&line).with_context(|| format!("the {what} on stdin is not UTF-8"))?;
    non_empty(Secret::new(text), what)
}

/// Asks on the terminal without echo.
pub fn prompt(prompt: &str, what: &str) -> Result<Secret> {
    require_tty(what)?;
    let typed =
        read_hidden(prompt).with_context(|| format!("cannot read the {what} from the terminal"))?;
    non_empty(Secret::new(typed.trim_end_matches(['\n', '\r'])), what)
}

/// Reads a line from `/dev/tty` with echo off. Echo goes off before the prompt shows, so even
/// keys typed ahead are never displayed, and it is restored however the read ends.
fn read_hidden(prompt: &str) -> std::io::Result<Zeroizing<String>> {
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

/// From stdin when `from_stdin`, else asked on the terminal.
pub fn secret(from_stdin: bool, prompt_text: &str, what: &str) -> Result<Secret> {
    if from_stdin {
        stdin_line(what)
    } else {
        prompt(prompt_text, what)
    }
}

/// A new passphrase: one line from stdin, or typed twice on the terminal.
pub fn new_passphrase(from_stdin: bool) -> Result<Secret> {
    if from_stdin {
        return stdin_line("new passphrase");
    }
    let first = prompt("New passphrase: ", "new passphrase")?;
    let second = prompt("Repeat the new passphrase: ", "new passphrase")?;
    if first.expose() != second.expose() {
        bail!("the two passphrases differ: nothing was changed, try again");
    }
    Ok(first)
}

/// Asks a yes/no question on the terminal; Enter means yes.
pub fn confirm(question: &str) -> Result<bool> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no terminal to ask on")?;
    write!(tty, "{question} [Y/n] ")?;
    let mut answer = String::new();
    std::io::BufReader::new(tty).read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "" | "y" | "Y" | "yes"))
}

/// True when this process has a controlling terminal to prompt on.
pub fn has_tty() -> bool {
    std::fs::File::open("/dev/tty").is_ok()
}

fn require_tty(what: &str) -> Result<()> {
    if !has_tty() {
        bail!("no terminal to ask for the {what} on: pipe it in with the --*-stdin option");
    }
    Ok(())
}

fn non_empty(secret: Secret, what: &str) -> Result<Secret> {
    if secret.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(secret)
}
