//! The command line of Python's `keyring` (keyring 25.7's `cli.py`), for credd's native
//! `keyring` command, which uv and pip (`--keyring-provider subprocess`) run for every index they
//! log in to.
//!
//! The parser follows the `argparse` rules that command is built on, so that every invocation it
//! accepts means what it means to the Python command: options before, between or after the
//! positionals (`--mode creds`, `--mode=creds`, a unique prefix such as `--mo`), `--` ending the
//! options, and the positionals (operation, service, username) taken from the first unbroken run
//! of them only, so that `get --mode creds SERVICE` is an error here too. What credd does not do
//! (choosing a backend, listing backends, `diagnose`, shell completion) is a usage error, never
//! another answer. The output is byte for byte the Python command's: one value a line, or
//! `json.dumps` with its default separators and ASCII escapes.

use zeroize::Zeroizing;

/// What `get` looks up and prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--mode password` (the default): needs a username, prints the password.
    Password,
    /// `--mode creds`: the username is optional, prints the username and the password.
    Creds,
}

/// How `get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `--output plain` (the default): each value on a line of its own.
    Plain,
    /// `--output json`: one JSON object.
    Json,
}

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Print a password, or a username and a password.
    Get,
    /// Store a password read from stdin or the terminal.
    Set,
    /// Remove a password.
    Del,
}

/// One run of the command, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The operation.
    pub action: Action,
    /// The service: an index URL, `host[:port]`, or any name.
    pub service: String,
    /// The username: always there for `set`, `del` and `get` in password mode.
    pub username: Option<String>,
    /// `--mode`.
    pub mode: Mode,
    /// `--output`.
    pub format: Format,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `-h` or `--help`: print [`HELP`] and exit 0.
    Help,
    /// An operation to carry out.
    Run(Invocation),
}

/// A command line this command refuses: the caller prints it with [`USAGE`] and exits 2, as
/// `argparse` does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// Arguments that fit nowhere.
    #[error("unrecognized arguments: {}", .0.join(" "))]
    Unrecognized(Vec<String>),
    /// An option without its value.
    #[error("argument {0}: expected one argument")]
    MissingValue(&'static str),
    /// A flag given a value (`--disable=x`).
    #[error("argument {option}: ignored explicit argument '{value}'")]
    UnexpectedValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
    },
    /// A value outside the option's choices.
    #[error("argument {argument}: invalid choice: '{value}' (choose from {choices})")]
    InvalidChoice {
        /// The option, or `operation`.
        argument: &'static str,
        /// The value given.
        value: String,
        /// The allowed values, quoted.
        choices: &'static str,
    },
    /// A prefix of several options.
    #[error("ambiguous option: {given} could match {candidates}")]
    Ambiguous {
        /// The prefix given.
        given: String,
        /// The options it could mean.
        candidates: String,
    },
    /// An operation without the positionals it needs.
    #[error("{action} requires {required}")]
    Requires {
        /// `get`, `set` or `del`.
        action: &'static str,
        /// `service`, or `service and username`.
        required: &'static str,
    },
    /// No operation.
    #[error("Specify operation (get, set, del, diagnose).")]
    NoOperation,
    /// An option or operation of the Python command that credd's does not have.
    #[error(
        "{0} is not supported by credd's keyring command, which answers from the credd agent \
         only: run the Python keyring command for it"
    )]
    Unsupported(&'static str),
    /// An argument that is not UTF-8 (the agent's protocol is JSON).
    #[error("argument {0} is not valid UTF-8")]
    NotUtf8(usize),
    /// A second `--`, which `argparse` would drop from some values and not others.
    #[error("'--' may be given once")]
    RepeatedSeparator,
}

/// The usage line, as `argparse` prints it before an error.
pub const USAGE: &str = "usage: keyring [-h] [--mode {password,creds}] [--output {plain,json}] \
                         {get,set,del} [service] [username]\n";

/// `--help`.
pub const HELP: &str = "\
usage: keyring [-h] [--mode {password,creds}] [--output {plain,json}] {get,set,del} [service] [username]

credd's native keyring command: the command line of Python's keyring, answered by the credd agent.

positional arguments:
  {get,set,del}         get prints a password; set reads one from stdin (or asks on the
                        terminal) and stores it; del removes it
  service               an index URL, host[:port], or any service name
  username              the login name (optional for get --mode creds)

options:
  -h, --help            show this help message and exit
  --mode {password,creds}
                        password (default) prints only the password and needs a username;
                        creds prints the username and the password on two lines
  --output {plain,json}
                        plain (default), or one JSON object

Exit status: 0 found, 1 not found or an error, 2 a usage error.
";

/// The Python command's options, by the name they are matched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Help,
    KeyringPath,
    KeyringBackend,
    ListBackends,
    Disable,
    Mode,
    Output,
    PrintCompletion,
}

/// Every option string of keyring 25.7's parser (`--print-completion` is there when shtab is
/// not), in its order: abbreviations match against these.
const OPTIONS: &[(&str, Opt)] = &[
    ("-h", Opt::Help),
    ("--help", Opt::Help),
    ("-p", Opt::KeyringPath),
    ("--keyring-path", Opt::KeyringPath),
    ("-b", Opt::KeyringBackend),
    ("--keyring-backend", Opt::KeyringBackend),
    ("--list-backends", Opt::ListBackends),
    ("--disable", Opt::Disable),
    ("--mode", Opt::Mode),
    ("--output", Opt::Output),
    ("--print-completion", Opt::PrintCompletion),
];

impl Opt {
    /// The long name, for messages.
    fn name(self) -> &'static str {
        match self {
            Self::Help => "-h/--help",
            Self::KeyringPath => "-p/--keyring-path",
            Self::KeyringBackend => "-b/--keyring-backend",
            Self::ListBackends => "--list-backends",
            Self::Disable => "--disable",
            Self::Mode => "--mode",
            Self::Output => "--output",
            Self::PrintCompletion => "--print-completion",
        }
    }

    fn takes_value(self) -> bool {
        !matches!(self, Self::Help | Self::ListBackends | Self::Disable)
    }
}

/// One argument, classified as `argparse` does.
enum Token<'a> {
    /// A positional (or an option's value).
    Value(&'a str),
    /// A known option, with the value given after `=` (or after a short option's letter).
    Option(Opt, Option<&'a str>),
    /// Something that looks like an option but is none.
    Unknown(&'a str),
}

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Parsed, UsageError> {
    let args = args
        .iter()
        .enumerate()
        .map(|(i, arg)| arg.as_ref().to_str().ok_or(UsageError::NotUtf8(i + 1)))
        .collect::<Result<Vec<&str>, _>>()?;
    let mut state = State::default();
    let mut rest = args.iter().copied();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            if state.after_separator {
                return Err(UsageError::RepeatedSeparator);
            }
            // It does not break a run of positionals: `get -- SERVICE USER` is one run.
            state.after_separator = true;
            continue;
        }
        match classify(arg, state.after_separator)? {
            Token::Value(value) => state.positional(value),
            Token::Unknown(arg) => {
                state.end_run();
                state.extras.push(arg.to_owned());
            }
            Token::Option(opt, inline) => {
                state.end_run();
                if opt == Opt::Help {
                    if let Some(value) = inline {
                        return Err(UsageError::UnexpectedValue {
                            option: opt.name(),
                            value: value.to_owned(),
                        });
                    }
                    return Ok(Parsed::Help);
                }
                let value = option_value(opt, inline, &mut rest, state.after_separator)?;
                state.apply(opt, value)?;
            }
        }
    }
    state.finish().map(Parsed::Run)
}

/// What the parse has seen so far.
#[derive(Default)]
struct State {
    after_separator: bool,
    /// The first run of positionals: operation, service, username.
    run: Vec<String>,
    /// The first run has ended: later positionals are extras, as in `argparse`.
    run_over: bool,
    extras: Vec<String>,
    mode: Option<Mode>,
    format: Option<Format>,
}

impl State {
    fn positional(&mut self, value: &str) {
        if self.run_over || self.run.len() == 3 {
            self.extras.push(value.to_owned());
        } else {
            self.run.push(value.to_owned());
        }
    }

    fn end_run(&mut self) {
        if !self.run.is_empty() {
            self.run_over = true;
        }
    }

    fn apply(&mut self, opt: Opt, value: Option<&str>) -> Result<(), UsageError> {
        let choice = |choices: &'static str| UsageError::InvalidChoice {
            argument: opt.name(),
            value: value.unwrap_or_default().to_owned(),
            choices,
        };
        match (opt, value) {
            (Opt::Mode, Some("password")) => self.mode = Some(Mode::Password),
            (Opt::Mode, Some("creds")) => self.mode = Some(Mode::Creds),
            (Opt::Mode, _) => return Err(choice("'password', 'creds'")),
            (Opt::Output, Some("plain")) => self.format = Some(Format::Plain),
            (Opt::Output, Some("json")) => self.format = Some(Format::Json),
            (Opt::Output, _) => return Err(choice("'plain', 'json'")),
            (other, _) => return Err(UsageError::Unsupported(other.name())),
        }
        Ok(())
    }

    fn finish(self) -> Result<Invocation, UsageError> {
        if !self.extras.is_empty() {
            return Err(UsageError::Unrecognized(self.extras));
        }
        let mode = self.mode.unwrap_or(Mode::Password);
        let mut run = self.run.into_iter();
        let action = match run.next().as_deref() {
            None => return Err(UsageError::NoOperation),
            Some("get") => Action::Get,
            Some("set") => Action::Set,
            Some("del") => Action::Del,
            Some("diagnose") => return Err(UsageError::Unsupported("the operation 'diagnose'")),
            Some(other) => {
                return Err(UsageError::InvalidChoice {
                    argument: "operation",
                    value: other.to_owned(),
                    choices: "'get', 'set', 'del', 'diagnose'",
                });
            }
        };
        let (service, username) = (run.next(), run.next());
        let needs_username = action != Action::Get || mode != Mode::Creds;
        if service.is_none() || (needs_username && username.is_none()) {
            return Err(UsageError::Requires {
                action: action.name(),
                required: if needs_username {
                    "service and username"
                } else {
                    "service"
                },
            });
        }
        Ok(Invocation {
            action,
            service: service.unwrap_or_default(),
            username,
            mode,
            format: self.format.unwrap_or(Format::Plain),
        })
    }
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Del => "del",
        }
    }
}

/// The value of an option that takes one: after `=`, else the next argument when that is no
/// option.
fn option_value<'a>(
    opt: Opt,
    inline: Option<&'a str>,
    rest: &mut impl Iterator<Item = &'a str>,
    after_separator: bool,
) -> Result<Option<&'a str>, UsageError> {
    if !opt.takes_value() {
        return match inline {
            Some(value) => Err(UsageError::UnexpectedValue {
                option: opt.name(),
                value: value.to_owned(),
            }),
            None => Ok(None),
        };
    }
    if inline.is_some() {
        return Ok(inline);
    }
    match rest.next() {
        Some(next)
            if next != "--" && matches!(classify(next, after_separator)?, Token::Value(_)) =>
        {
            Ok(Some(next))
        }
        _ => Err(UsageError::MissingValue(opt.name())),
    }
}

/// `argparse`'s `_parse_optional`: an option (exact, `--name=value`, a unique prefix of a long
/// option, a short option with its value attached), else a positional when it does not start
/// with `-`, is `-` alone, looks like a negative number or holds a space; else an unknown option.
fn classify(arg: &str, after_separator: bool) -> Result<Token<'_>, UsageError> {
    if after_separator || !arg.starts_with('-') || arg == "-" {
        return Ok(Token::Value(arg));
    }
    if let Some(&(_, opt)) = OPTIONS.iter().find(|(name, _)| *name == arg) {
        return Ok(Token::Option(opt, None));
    }
    if let Some((name, value)) = arg.split_once('=')
        && let Some(&(_, opt)) = OPTIONS.iter().find(|(known, _)| *known == name)
    {
        return Ok(Token::Option(opt, Some(value)));
    }
    let matches = prefix_matches(arg);
    match matches.as_slice() {
        [] => {}
        [(opt, value)] => return Ok(Token::Option(*opt, *value)),
        _ => {
            let given = arg.split_once('=').map_or(arg, |(name, _)| name);
            let candidates = OPTIONS
                .iter()
                .map(|(name, _)| *name)
                .filter(|name| name.starts_with(given))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(UsageError::Ambiguous {
                given: given.to_owned(),
                candidates,
            });
        }
    }
    if is_negative_number(arg) || arg.contains(' ') {
        return Ok(Token::Value(arg));
    }
    Ok(Token::Unknown(arg))
}

/// `argparse`'s `_get_option_tuples`: long options that `--prefix[=value]` starts, or the short
/// option `-x` of `-xVALUE`.
fn prefix_matches(arg: &str) -> Vec<(Opt, Option<&str>)> {
    let mut found = Vec::new();
    if arg.starts_with("--") {
        let (prefix, value) = match arg.split_once('=') {
            Some((prefix, value)) => (prefix, Some(value)),
            None => (arg, None),
        };
        for &(name, opt) in OPTIONS {
            if name.starts_with(prefix) {
                found.push((opt, value));
            }
        }
    } else {
        let short = arg.get(..2).unwrap_or(arg);
        for &(name, opt) in OPTIONS {
            if name == short {
                found.push((opt, Some(&arg[2..])));
            } else if name.starts_with(arg) {
                found.push((opt, None));
            }
        }
    }
    found
}

/// `argparse`'s `^-\d+$|^-\d*\.\d+$`.
fn is_negative_number(arg: &str) -> bool {
    let Some(number) = arg.strip_prefix('-') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match number.split_once('.') {
        None => !number.is_empty() && digits(number),
        Some((whole, fraction)) => digits(whole) && !fraction.is_empty() && digits(fraction),
    }
}

/// What `get` prints on success: the password, or the username and the password, one a line or
/// as JSON. In a buffer that is wiped when dropped.
pub fn render(mode: Mode, format: Format, username: &str, password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        16 + 6 * (username.len() + password.len()),
    ));
    match (mode, format) {
        (Mode::Password, Format::Plain) => line(&mut out, password),
        (Mode::Creds, Format::Plain) => {
            line(&mut out, username);
            line(&mut out, password);
        }
        (Mode::Password, Format::Json) => {
            out.extend_from_slice(b"{\"password\": ");
            python_json_string(&mut out, password);
            out.extend_from_slice(b"}\n");
        }
        (Mode::Creds, Format::Json) => {
            out.extend_from_slice(b"{\"username\": ");
            python_json_string(&mut out, username);
            out.extend_from_slice(b", \"password\": ");
            python_json_string(&mut out, password);
            out.extend_from_slice(b"}\n");
        }
    }
    out
}

fn line(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`): printable ASCII as is,
/// `"` `\` and `\n` `\r` `\t` `\b` `\f` escaped by letter, everything else as `\uXXXX` in
/// lower-case hex, a character beyond the BMP as a surrogate pair.
fn python_json_string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    for c in value.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(out, *unit);
                }
            }
        }
    }
    out.push(b'"');
}

fn push_u_escape(out: &mut Vec<u8>, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xf)]);
    }
}

/// The password `set` stores from what was piped in: all of it, less one final `\n` (a `\r`
/// stays, as in keyring's `strip_last_newline`).
pub fn piped_password(input: &[u8]) -> &[u8] {
    input.strip_suffix(b"\n").unwrap_or(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Invocation {
        match parse(args) {
            Ok(Parsed::Run(invocation)) => invocation,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn error(args: &[&str]) -> UsageError {
        parse(args).expect_err(&format!("{args:?} parsed"))
    }

    fn get(service: &str, username: Option<&str>, mode: Mode, format: Format) -> Invocation {
        Invocation {
            action: Action::Get,
            service: service.into(),
            username: username.map(Into::into),
            mode,
            format,
        }
    }

    #[test]
    fn what_uv_and_pip_send_parses() {
        use {Format::*, Mode::*};
        assert_eq!(
            run(&["get", "https://h/simple/", "alice"]),
            get("https://h/simple/", Some("alice"), Password, Plain)
        );
        assert_eq!(
            run(&["get", "https://h/simple/", "--mode", "creds"]),
            get("https://h/simple/", None, Creds, Plain)
        );
        assert_eq!(
            run(&["--mode=creds", "--output=json", "get", "h:8080"]),
            get("h:8080", None, Creds, Json)
        );
        assert_eq!(
            run(&["--mode=creds", "--output=json", "get", "h", "u"]),
            get("h", Some("u"), Creds, Json)
        );
    }

    #[test]
    fn options_go_before_or_after_the_run_of_positionals_not_inside_it() {
        use {Format::*, Mode::*};
        let expected = get("s", Some("u"), Creds, Json);
        assert_eq!(
            run(&["get", "s", "u", "--mode", "creds", "--output", "json"]),
            expected
        );
        assert_eq!(
            run(&["--output", "json", "get", "s", "u", "--mode=creds"]),
            expected
        );
        assert_eq!(
            run(&["--mo", "creds", "--out=json", "get", "s", "u"]),
            expected
        );
        assert_eq!(
            error(&["get", "--mode", "creds", "s", "u"]),
            UsageError::Unrecognized(vec!["s".into(), "u".into()])
        );
        assert_eq!(
            error(&["get", "s", "--mode", "creds", "u"]),
            UsageError::Unrecognized(vec!["u".into()])
        );
        assert_eq!(
            error(&["get", "s", "u", "extra"]),
            UsageError::Unrecognized(vec!["extra".into()])
        );
        assert_eq!(
            run(&["--mode", "password", "--mode", "creds", "get", "s"]).mode,
            Creds,
            "the last one wins"
        );
    }

    #[test]
    fn the_separator_and_dash_values_are_positionals() {
        use {Format::*, Mode::*};
        assert_eq!(
            run(&["--", "get", "s", "u"]),
            get("s", Some("u"), Password, Plain)
        );
        assert_eq!(
            run(&["get", "--", "-x", "--mode"]),
            get("-x", Some("--mode"), Password, Plain)
        );
        assert_eq!(
            run(&["get", "-", "-5"]),
            get("-", Some("-5"), Password, Plain)
        );
        assert_eq!(
            run(&["get", "-a b", "-1.5"]),
            get("-a b", Some("-1.5"), Password, Plain)
        );
        assert_eq!(
            error(&["get", "--", "s", "--"]),
            UsageError::RepeatedSeparator
        );
        assert_eq!(
            error(&["get", "s", "-x"]),
            UsageError::Unrecognized(vec!["-x".into()])
        );
        assert_eq!(
            error(&["--frob=1", "get", "s", "u"]),
            UsageError::Unrecognized(vec!["--frob=1".into()])
        );
    }

    #[test]
    fn missing_and_bad_values_are_usage_errors() {
        assert_eq!(
            error(&["get", "s", "--mode"]),
            UsageError::MissingValue("--mode")
        );
        assert_eq!(
            error(&["--mode", "--output", "json", "get", "s", "u"]),
            UsageError::MissingValue("--mode")
        );
        assert_eq!(
            error(&["--mode", "--", "creds"]),
            UsageError::MissingValue("--mode")
        );
        assert!(matches!(
            error(&["--mode", "cred", "get", "s"]),
            UsageError::InvalidChoice {
                argument: "--mode",
                ..
            }
        ));
        assert!(matches!(
            error(&["--output=yaml", "get", "s", "u"]),
            UsageError::InvalidChoice {
                argument: "--output",
                ..
            }
        ));
        assert!(matches!(
            error(&["fetch", "s", "u"]),
            UsageError::InvalidChoice {
                argument: "operation",
                ..
            }
        ));
        assert_eq!(error(&[]), UsageError::NoOperation);
        assert_eq!(error(&["--mode", "creds"]), UsageError::NoOperation);
        for (args, required) in [
            (&["get", "s"][..], "service and username"),
            (&["get"], "service and username"),
            (&["--mode", "creds", "get"], "service"),
            (&["set", "s"], "service and username"),
            (&["del", "s", "--mode", "creds"], "service and username"),
        ] {
            assert!(
                matches!(error(args), UsageError::Requires { required: r, .. } if r == required),
                "{args:?}"
            );
        }
    }

    #[test]
    fn what_credd_does_not_do_is_refused() {
        for args in [
            &["-b", "keyring.backends.fail.Keyring", "get", "s", "u"][..],
            &["--keyring-backend=x", "get", "s", "u"],
            &["-bx", "get", "s", "u"],
            &["-p", "/tmp", "get", "s", "u"],
            &["--keyring-path", "/tmp", "get", "s", "u"],
            &["--list-backends"],
            &["--list"],
            &["--disable"],
            &["--print-completion", "bash"],
            &["diagnose"],
        ] {
            assert!(
                matches!(error(args), UsageError::Unsupported(_)),
                "{args:?}: {:?}",
                parse(args)
            );
        }
        assert!(matches!(
            error(&["--k", "x", "get", "s", "u"]),
            UsageError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(&["--disable=1"]),
            UsageError::UnexpectedValue { .. }
        ));
    }

    #[test]
    fn help_wins_where_it_is_met() {
        assert_eq!(parse(&["-h"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["get", "s", "u", "--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["--he", "get"]).unwrap(), Parsed::Help);
        assert!(matches!(
            error(&["--mode", "x", "-h"]),
            UsageError::InvalidChoice { .. }
        ));
    }

    #[test]
    fn arguments_that_are_not_utf8_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"\xff");
        let args = [std::ffi::OsStr::new("get"), std::ffi::OsStr::new("s"), bad];
        assert_eq!(parse(&args).unwrap_err(), UsageError::NotUtf8(3));
    }

    #[test]
    fn output_is_the_python_commands_byte_for_byte() {
        use {Format::*, Mode::*};
        let show = |mode, format, user, password| {
            String::from_utf8(render(mode, format, user, password).to_vec()).unwrap()
        };
        assert_eq!(show(Password, Plain, "u", "p w"), "p w\n");
        assert_eq!(show(Creds, Plain, "u", "p"), "u\np\n");
        assert_eq!(show(Password, Json, "u", "p"), "{\"password\": \"p\"}\n");
        assert_eq!(
            show(Creds, Json, "u", "p"),
            "{\"username\": \"u\", \"password\": \"p\"}\n"
        );
        // Python: json.dumps({"password": 'é"\\\x01\x7f😀\n\t\r\b\f/'})
        assert_eq!(
            show(Password, Json, "", "é\"\\\u{1}\u{7f}😀\n\t\r\u{8}\u{c}/"),
            "{\"password\": \"\\u00e9\\\"\\\\\\u0001\\u007f\\ud83d\\ude00\\n\\t\\r\\b\\f/\"}\n"
        );
    }

    #[test]
    fn a_piped_password_loses_one_final_newline() {
        assert_eq!(piped_password(b"pw\n"), b"pw");
        assert_eq!(piped_password(b"pw"), b"pw");
        assert_eq!(piped_password(b"a\nb\n\n"), b"a\nb\n");
        assert_eq!(piped_password(b"x\r\n"), b"x\r");
        assert_eq!(piped_password(b""), b"");
    }
}
