//! Reading passphrases and secrets: from the terminal without echo, or one line from stdin.
//! Never from arguments or the environment, which other processes can read.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use credd_protocol::Secret;

/// Reads one line from stdin, dropping the trailing newline; at most a frame's worth.
pub fn stdin_line(what: &str) -> Result<Secret> {
    let mut line = credd::stdin::stdin_line(credd_protocol::MAX_FRAME_LEN)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
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
