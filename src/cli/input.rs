//! Reading passphrases and secrets: from the terminal without echo, or one line from stdin.
//! Never from arguments or the environment, which other processes can read.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

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

/// Asks on the terminal without echo.
pub fn prompt(prompt: &str, what: &str) -> Result<Secret> {
    require_tty(what)?;
    let typed = credd::tty::read_hidden(prompt)
        .with_context(|| format!("cannot read the {what} from the terminal"))?;
    non_empty(Secret::new(typed.trim_end_matches(['\n', '\r'])), what)
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

fn require_tty(what: &str) -> Result<()> {
    if !credd::tty::has_tty() {
        let flag = stdin_flag(what);
        bail!("no terminal to ask for the {what} on: pipe it in on stdin with {flag}");
    }
    Ok(())
}

/// The option that reads `what` from stdin: every passphrase has `--passphrase-stdin`, every
/// other secret `--secret-stdin`.
fn stdin_flag(what: &str) -> &'static str {
    if what.contains("passphrase") {
        "--passphrase-stdin"
    } else {
        "--secret-stdin"
    }
}

fn non_empty(secret: Secret, what: &str) -> Result<Secret> {
    if secret.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stdin_option_named_is_the_one_the_command_has() {
        assert_eq!(stdin_flag("passphrase"), "--passphrase-stdin");
        assert_eq!(stdin_flag("new passphrase"), "--passphrase-stdin");
        assert_eq!(stdin_flag("secret"), "--secret-stdin");
    }
}
