//! `credd get` and `credd token`: print a credential's secret, for scripts and for tools that
//! only run a command (`cargo:token-from-stdout credd token`). The plain forms tools run for
//! every command (`get NAME`, `token URL`) are read here without the command line's parser
//! ([`plain`]); the full binary's parser builds a [`Get`] for the others.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use credd::step_up;
use credd::urlmatch::without_userinfo;
use credd_protocol::{Front, GetResult, Lookup, Operation};
use zeroize::Zeroizing;

use super::connect;

/// What `credd get` asks for, and how it prints it.
#[derive(Debug)]
pub struct Get {
    /// The credential's name; else `url` chooses.
    pub name: Option<String>,
    /// A registry URL: the credential serving it with the longest path.
    pub url: Option<String>,
    /// With `url`: only the credential of this user.
    pub username: Option<String>,
    /// With `url`: the registry's publish credential, after the step-up.
    pub publish: bool,
    /// The whole entry as JSON instead of the secret alone.
    pub json: bool,
}

/// A lookup given in its one plain form.
#[derive(Debug)]
pub enum Plain {
    /// `get NAME`.
    Get(Get),
    /// `token URL`, or `token` with `CARGO_REGISTRY_INDEX_URL`.
    Token(String),
}

/// `get NAME` and `token URL` (or `token` with `CARGO_REGISTRY_INDEX_URL`) as the first
/// arguments, and nothing else. Anything more (an option, `--socket`, a name starting with `-`)
/// is the parser's; the socket of a plain lookup comes from `CREDD_SOCKET`, as it would through
/// the parser.
pub fn plain(mut args: impl Iterator<Item = OsString>) -> Option<Plain> {
    let operand = |arg: OsString| {
        arg.into_string()
            .ok()
            .filter(|arg| !arg.is_empty() && !arg.starts_with('-'))
    };
    let (command, given, rest) = (args.next()?, args.next(), args.next());
    if rest.is_some() {
        return None;
    }
    match (command.to_str()?, given) {
        ("get", Some(name)) => Some(Plain::Get(Get::by_name(operand(name)?))),
        ("token", Some(url)) => Some(Plain::Token(operand(url)?)),
        ("token", None) => Some(Plain::Token(operand(std::env::var_os(
            "CARGO_REGISTRY_INDEX_URL",
        )?)?)),
        _ => None,
    }
}

/// Carries out a plain lookup.
pub fn run(socket: &Path, plain: Plain) -> Result<()> {
    match plain {
        Plain::Get(get) => self::get(socket, get),
        Plain::Token(url) => token(socket, &url),
    }
}

impl Get {
    /// `credd get NAME`, without options.
    pub fn by_name(name: String) -> Self {
        Self {
            name: Some(name),
            url: None,
            username: None,
            publish: false,
            json: false,
        }
    }
}

/// Prints the secret alone on stdout, or the entry as JSON.
pub fn get(socket: &Path, get: Get) -> Result<()> {
    let what = match (&get.name, &get.url) {
        (Some(name), _) => format!("credd get {name}"),
        (None, Some(url)) if get.publish => {
            format!("credd get --publish --url {}", without_userinfo(url))
        }
        (None, url) => format!(
            "credd get --url {}",
            without_userinfo(url.as_deref().unwrap_or_default())
        ),
    };
    let lookup = match (get.name, get.url) {
        (Some(name), _) => Lookup::name(name),
        (None, url) => Lookup {
            url,
            username: get.username,
            publish: get.publish,
            ..Lookup::default()
        },
    };
    let operation = if get.publish { "publish" } else { "get" };
    let found: GetResult =
        match step_up::get(&mut connect(socket)?, &lookup, Front::Cli, operation, &what) {
            Ok(found) => found,
            // Kept a ClientError, for the exit code of a locked agent or a missing entry.
            Err(step_up::StepUpError::Client(error)) => return Err(error.into()),
            Err(other) => return Err(other.into()),
        };
    if get.json {
        let mut line = Zeroizing::new(Vec::with_capacity(credd_protocol::MAX_FRAME_LEN));
        serde_json::to_writer(&mut *line, &found.entry)?;
        return print_secret(&line);
    }
    print_secret(found.entry.secret.expose().as_bytes())
}

/// Prints the secret of the entry serving the URL, alone on one line (the
/// `cargo:token-from-stdout` contract).
pub fn token(socket: &Path, url: &str) -> Result<()> {
    let found: GetResult = connect(socket)?
        .call(Operation::get(Lookup::url(url)))
        .with_context(|| format!("no token for {}", without_userinfo(url)))?;
    print_secret(found.entry.secret.expose().as_bytes())
}

/// Writes `bytes` and a newline to stdout in one write, from a buffer wiped afterwards.
fn print_secret(bytes: &[u8]) -> Result<()> {
    let mut line = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
    line.extend_from_slice(bytes);
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&line)?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_of(line: &str) -> Option<Plain> {
        plain(line.split(' ').map(OsString::from))
    }

    #[test]
    fn only_the_plain_forms_skip_the_parser() {
        assert!(
            matches!(plain_of("get x"), Some(Plain::Get(Get { name: Some(n), .. })) if n == "x")
        );
        assert!(
            matches!(plain_of("token https://r.test/"), Some(Plain::Token(u)) if u == "https://r.test/")
        );
        for parsed in [
            "get",
            "get -x",
            "get --url u",
            "get x --json",
            "get ",
            "list x",
            "token a b",
        ] {
            assert!(plain_of(parsed).is_none(), "{parsed}");
        }
    }
}
