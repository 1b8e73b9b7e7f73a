//! `credd --cargo-plugin`: Cargo's credential-provider protocol, version 1, relayed to the agent.
//!
//! Cargo spawns this once per request: we write the hello line, read one request line, write one
//! response line and exit 0. Nothing else may reach stdout. Cargo spawns it for every command
//! that touches an authenticated registry, so it stays small: no async runtime, no logging setup.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use credd_protocol::{
    Done, Entry, ErrorKind, Front, GetResult, Lookup, Operation, PutResult, Secret, encode_line,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cargo::config_files::{CRATES_IO_GIT_INDEX, CRATES_IO_INDEX};
use crate::client::{Client, ClientError};
use crate::on_demand::{UnlockError, with_unlocked_agent};
use crate::{step_up, tty};

/// The hello line: the protocol versions this provider speaks.
const HELLO: &[u8] = b"{\"v\":[1]}\n";

/// Cargo's request lines are small; anything larger is not from Cargo.
const MAX_REQUEST: usize = 1024 * 1024;

/// How long Cargo may take to send its request after our hello: it sends it at once.
const REQUEST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// One request from Cargo. Fields credd does not need (cksum, headers) are ignored.
#[derive(Deserialize)]
struct CargoRequest {
    v: u32,
    registry: Registry,
    #[serde(flatten)]
    action: Action,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
struct Registry {
    #[serde(rename = "index-url")]
    index_url: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Action {
    Get(Wanted),
    Login {
        token: Option<Secret>,
    },
    Logout,
    #[serde(other)]
    Unknown,
}

/// What a `get` is for: `operation` (`read`, `publish`, `yank`, `unyank`, `owners`) and the
/// crate and version it concerns.
#[derive(Deserialize, Default)]
struct Wanted {
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    vers: Option<String>,
}

impl Wanted {
    /// True for a read; every other operation, unknown ones included, changes the registry and
    /// gets the publish credential.
    fn is_read(&self) -> bool {
        self.operation.as_deref().is_none_or(|op| op == "read")
    }

    /// The operation in words: `publish foo 1.2.3`.
    fn words(&self) -> String {
        [
            self.operation.as_deref(),
            self.name.as_deref(),
            self.vers.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// Cargo's response: `{"Ok":…}` or `{"Err":…}`.
#[derive(Serialize)]
enum Response {
    Ok(Success),
    Err(Failure),
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Success {
    Get {
        token: Secret,
        cache: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiration: Option<u64>,
        operation_independent: bool,
    },
    Login,
    Logout,
}

/// The errors Cargo knows. `NotFound` makes Cargo ask the next provider; `Other` stops it.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Failure {
    NotFound,
    OperationNotSupported,
    Other { message: String },
}

impl Failure {
    fn other(message: impl Into<String>) -> Self {
        Self::Other {
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error.kind() {
            Some(ErrorKind::NotFound) => Self::NotFound,
            _ => Self::other(error.to_string()),
        }
    }
}

impl From<UnlockError> for Failure {
    fn from(error: UnlockError) -> Self {
        match error {
            UnlockError::Client(error) => error.into(),
            other => Self::other(other.to_string()),
        }
    }
}

/// Runs one exchange with Cargo on stdin/stdout. Always exits 0 once a response is written.
pub fn run() -> std::process::ExitCode {
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(HELLO)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    let response = match read_request() {
        Ok(line) => answer(&line),
        Err(failure) => Response::Err(failure),
    };
    let mut out = Zeroizing::new(Vec::new());
    let written = encode_line(&response, &mut out)
        .map_err(std::io::Error::other)
        .and_then(|()| stdout.write_all(&out))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

/// Cargo's request line, read from the descriptor itself (std's stdin buffer would keep a copy
/// of a `login`'s token that nothing wipes), within [`REQUEST_WAIT`].
fn read_request() -> Result<Zeroizing<Vec<u8>>, Failure> {
    use crate::stdin::{StdinError, stdin_within};
    let ends_a_line = |input: &[u8]| input.contains(&b'\n');
    let mut line = stdin_within(MAX_REQUEST, REQUEST_WAIT, ends_a_line).map_err(|e| match e {
        StdinError::TimedOut(_) => Failure::other(format!(
            "cargo sent no whole request within {REQUEST_WAIT:?}: run credd this way only from cargo"
        )),
        StdinError::TooLong(_) => Failure::other(format!(
            "cargo's request is longer than {MAX_REQUEST} bytes: run credd this way only from cargo"
        )),
        StdinError::Io(error) => Failure::other(format!("cannot read cargo's request: {error}")),
    })?;
    if line.is_empty() {
        return Err(Failure::other(
            "cargo sent no request: run credd this way only from cargo",
        ));
    }
    // Cargo sends one line and waits for the answer: nothing after it is part of the request.
    if let Some(end) = line.iter().position(|&b| b == b'\n') {
        line.truncate(end + 1);
    }
    Ok(line)
}

/// Parses one request and carries it out.
fn answer(line: &[u8]) -> Response {
    let (mut request, socket) = match parse(line) {
        Ok(parsed) => parsed,
        Err(failure) => return Response::Err(failure),
    };
    // Cargo names crates.io by its git index URL; credd stores its token under the sparse one.
    if request.registry.index_url == CRATES_IO_GIT_INDEX {
        request.registry.index_url = CRATES_IO_INDEX.to_owned();
    }
    let registry = &request.registry;
    let outcome = match request.action {
        Action::Get(wanted) if wanted.is_read() => {
            with_crates_io_fallback(registry, |r| get(&socket, r))
        }
        Action::Get(wanted) => {
            with_crates_io_fallback(registry, |r| get_to_change(&socket, r, &wanted))
        }
        Action::Login { token } => login(&socket, registry, token),
        Action::Logout => with_crates_io_fallback(registry, |r| logout(&socket, r)),
        Action::Unknown => Err(Failure::OperationNotSupported),
    };
    match outcome {
        Ok(success) => Response::Ok(success),
        Err(failure) => Response::Err(failure),
    }
}

/// Runs `ask` for `registry`; for crates.io, a miss asks again by the git index URL, which a
/// token stored by an earlier credd's `cargo login`, or added by hand, may be under.
fn with_crates_io_fallback(
    registry: &Registry,
    ask: impl Fn(&Registry) -> Result<Success, Failure>,
) -> Result<Success, Failure> {
    match ask(registry) {
        Err(Failure::NotFound) if registry.index_url == CRATES_IO_INDEX => ask(&Registry {
            index_url: CRATES_IO_GIT_INDEX.to_owned(),
            name: registry.name.clone(),
        }),
        outcome => outcome,
    }
}

/// Reads one request line and the socket it names, or the failure to answer with.
fn parse(line: &[u8]) -> Result<(CargoRequest, PathBuf), Failure> {
    let request: CargoRequest = serde_json::from_slice(line).map_err(|error| {
        // The message names only a position: the line may carry a token.
        Failure::other(format!(
            "credd cannot read cargo's request (column {}): update credd or cargo",
            error.column()
        ))
    })?;
    if request.v != 1 {
        return Err(Failure::other(format!(
            "credd speaks version 1 of Cargo's credential protocol, but cargo asked for version {}: update credd",
            request.v
        )));
    }
    let socket = socket_from_args(&request.args)?;
    Ok((request, socket))
}

/// The line sent back to Cargo for a request refused before the agent is asked, or `None` when
/// the agent would be asked. For the fuzz targets (`crate::fuzzing`): asking needs an agent.
#[cfg(any(test, fuzzing))]
pub(crate) fn refusal(line: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let failure = parse(line).err()?;
    let mut out = Zeroizing::new(Vec::new());
    encode_line(&Response::Err(failure), &mut out).expect("a failure encodes");
    Some(out)
}

/// The socket from the words of the Cargo config (`--socket PATH`), else the usual rules.
fn socket_from_args(args: &[String]) -> Result<PathBuf, Failure> {
    let mut socket = std::env::var_os("CREDD_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match (word.as_str(), word.strip_prefix("--socket=")) {
            (_, Some(path)) => socket = Some(path.into()),
            ("--socket", None) => {
                let path = words
                    .next()
                    .ok_or_else(|| Failure::other("`--socket` needs a path in the cargo config"))?;
                socket = Some(path.into());
            }
            (other, None) => {
                return Err(Failure::other(format!(
                    "unknown argument {other:?} for credd in the cargo config: credd takes only `--socket PATH`"
                )));
            }
        }
    }
    Ok(socket.unwrap_or_else(crate::paths::default_socket))
}

fn get(socket: &std::path::Path, registry: &Registry) -> Result<Success, Failure> {
    let query = || Operation::get_for(Lookup::url(&registry.index_url), Front::Cargo, "read");
    let found: GetResult = with_unlocked_agent(socket, |client| client.call(query()))?;
    let (cache, expiration) = cache_control(&found.entry);
    Ok(Success::Get {
        token: found.entry.secret,
        cache,
        expiration,
        // With a separate publish credential, Cargo must ask again to publish, yank or unyank.
        operation_independent: !found.separate_publish,
    })
}

/// The credential for publish, yank, unyank or owners: the registry's publish credential (after
/// the step-up on the terminal, which Cargo leaves to us), or its one credential when it has no
/// separate one. A publish credential is never cached.
fn get_to_change(
    socket: &std::path::Path,
    registry: &Registry,
    wanted: &Wanted,
) -> Result<Success, Failure> {
    let lookup = Lookup::url(&registry.index_url).for_publish();
    let operation = wanted.words();
    let target = registry.name.as_deref().unwrap_or(&registry.index_url);
    let what = format!("cargo {operation} to {target}");
    let found = step_up::get_unlocked(socket, &lookup, Front::Cargo, &operation, &what)
        .map_err(step_up_failure)?;
    if !found.entry.publish {
        let (cache, expiration) = cache_control(&found.entry);
        return Ok(Success::Get {
            token: found.entry.secret,
            cache,
            expiration,
            operation_independent: true,
        });
    }
    Ok(Success::Get {
        token: found.entry.secret,
        cache: "never",
        expiration: None,
        operation_independent: false,
    })
}

/// Cargo's error for a failed step-up: what happened and what to do.
fn step_up_failure(error: step_up::StepUpError) -> Failure {
    match error {
        step_up::StepUpError::Unlock(error) => error.into(),
        error if error.kind() == Some(ErrorKind::BadPassphrase) => Failure::other(
            "wrong credd passphrase: nothing was sent to the registry; run the command again",
        ),
        step_up::StepUpError::Client(error) => error.into(),
        error => Failure::other(error.to_string()),
    }
}

/// Lets Cargo keep the token for its whole run, or only until shortly before it expires.
fn cache_control(entry: &Entry) -> (&'static str, Option<u64>) {
    let Some(expires) = entry.expires else {
        return ("session", None);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if expires > now + 60 {
        return ("expires", Some(expires));
    }
    if expires <= now {
        eprintln!(
            "credd: the token {:?} has expired: replace it with 'cargo login' or 'credd add --replace'",
            entry.name
        );
    }
    ("never", None)
}

/// How many names `login` tries for a new entry (`corp`, `corp-2`, … `corp-9`) before it gives
/// up: never replacing an entry that serves another URL.
const LOGIN_NAMES: u32 = 9;

/// Stores the token. An entry that serves exactly this index URL is updated in place, whatever
/// its name, so that the next `get` returns the new token; otherwise a new entry is named after
/// the registry, or, when an entry for another URL has that name, the first free `<name>-N`.
fn login(
    socket: &std::path::Path,
    registry: &Registry,
    token: Option<Secret>,
) -> Result<Success, Failure> {
    let wanted = entry_name(registry)?;
    let token = match token {
        Some(token) => token,
        None => prompt_token(&wanted)?,
    };
    if token.is_empty() {
        return Err(Failure::other("the token is empty: nothing was stored"));
    }
    let entry = |name: &str| Entry {
        name: name.to_owned(),
        url: registry.index_url.clone(),
        username: None,
        secret: token.clone(),
        expires: None,
        note: Some("stored by cargo login".into()),
        publish: false,
        source: None,
    };
    let stored = with_unlocked_agent(socket, |client| {
        if let Some(name) = same_url_entry(client, &registry.index_url)? {
            put(client, entry(&name), true)?;
            return Ok(Some(name));
        }
        for name in candidate_names(&wanted) {
            match put(client, entry(&name), false) {
                Ok(()) => return Ok(Some(name)),
                Err(error) if error.kind() == Some(ErrorKind::Exists) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    })?;
    let Some(name) = stored else {
        return Err(Failure::other(format!(
            "the entries {wanted:?} to \"{wanted}-{LOGIN_NAMES}\" all serve other URLs: nothing \
             was stored; free one of these names ('credd list', 'credd remove NAME') or add the \
             token with 'credd add NAME --url {}'",
            crate::urlmatch::without_userinfo(&registry.index_url)
        )));
    };
    if name != wanted {
        eprintln!(
            "credd: the entry {wanted:?} already serves another URL and is left as it is; the \
             token for {} is stored as {name:?}",
            crate::urlmatch::without_userinfo(&registry.index_url)
        );
    }
    eprintln!(
        "credd: stored the token for {name} ({})",
        registry.index_url
    );
    Ok(Success::Login)
}

/// The names `login` tries for a new entry, in order: `wanted`, then `wanted-2` and on.
fn candidate_names(wanted: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(wanted.to_owned())
        .chain((2..=LOGIN_NAMES).map(move |n| format!("{wanted}-{n}")))
}

/// Stores `entry`; with `replace`, over an entry of the same name.
fn put(client: &mut Client, entry: Entry, replace: bool) -> Result<(), ClientError> {
    let _: PutResult = client.call(Operation::Put { entry, replace })?;
    Ok(())
}

/// The name of the entry whose URL is this index URL (not merely a prefix of it).
fn same_url_entry(client: &mut Client, index_url: &str) -> Result<Option<String>, ClientError> {
    let query = Operation::get(Lookup::url(index_url));
    let entry = match client.call::<GetResult>(query) {
        Ok(found) => found.entry,
        Err(error) if error.kind() == Some(ErrorKind::NotFound) => return Ok(None),
        Err(error) => return Err(error),
    };
    let normalized = |url: &str| crate::urlmatch::RegistryUrl::parse(url).ok();
    Ok((normalized(&entry.url) == normalized(index_url)).then_some(entry.name))
}

fn logout(socket: &std::path::Path, registry: &Registry) -> Result<Success, Failure> {
    let name = with_unlocked_agent(socket, |client| {
        let found: GetResult = client.call(Operation::get(Lookup::url(&registry.index_url)))?;
        let _: Done = client.call(Operation::Delete {
            lookup: Lookup::name(&found.entry.name),
        })?;
        Ok(found.entry.name.clone())
    })?;
    eprintln!(
        "credd: erased the token {name:?} for {}",
        registry.index_url
    );
    Ok(Success::Logout)
}

/// The registry's name from the config, else its host.
fn entry_name(registry: &Registry) -> Result<String, Failure> {
    if let Some(name) = registry.name.as_deref().filter(|n| !n.is_empty()) {
        return Ok(name.to_owned());
    }
    let bare = registry
        .index_url
        .trim_start_matches("sparse+")
        .trim_start_matches("registry+");
    url::Url::parse(bare)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .ok_or_else(|| {
            Failure::other(format!(
                "cannot name a credential for {}: it has no host",
                registry.index_url
            ))
        })
}

fn prompt_token(name: &str) -> Result<Secret, Failure> {
    if !tty::has_tty() {
        return Err(Failure::other(
            "no token given and no terminal to ask on: run `echo TOKEN | cargo login`",
        ));
    }
    let typed = tty::read_hidden(&format!("token for {name}: "))
        .map_err(|e| Failure::other(format!("cannot read the token from the terminal: {e}")))?;
    Ok(Secret::new(typed.trim_end_matches(['\n', '\r'])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> String {
        let mut out = Zeroizing::new(Vec::new());
        encode_line(&answer(line.as_bytes()), &mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn responses_are_wrapped_like_cargo_expects() {
        let get = Response::Ok(Success::Get {
            token: Secret::new("t\"k"),
            cache: "session",
            expiration: None,
            operation_independent: true,
        });
        assert_eq!(
            serde_json::to_string(&get).unwrap(),
            r#"{"Ok":{"kind":"get","token":"t\"k","cache":"session","operation_independent":true}}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::Ok(Success::Logout)).unwrap(),
            r#"{"Ok":{"kind":"logout"}}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::Err(Failure::NotFound)).unwrap(),
            r#"{"Err":{"kind":"not-found"}}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::Err(Failure::other("m"))).unwrap(),
            r#"{"Err":{"kind":"other","message":"m"}}"#
        );
    }

    #[test]
    fn unknown_kinds_bad_versions_and_garbage_never_panic() {
        let registry = r#""registry":{"index-url":"https://h/"}"#;
        assert_eq!(
            reply(&format!(r#"{{"v":1,{registry},"kind":"sing"}}"#)),
            "{\"Err\":{\"kind\":\"operation-not-supported\"}}\n"
        );
        assert!(reply(&format!(r#"{{"v":2,{registry},"kind":"get"}}"#)).contains("version 1"));
        assert!(reply("{\"v\":1").contains("\"other\""));
        assert!(reply("\u{0}\u{ff}").contains("\"other\""));
        let leaked = reply(r#"{"v":1,"registry":5,"kind":"login","token":"sekrit"}"#);
        assert!(
            leaked.contains("\"other\"") && !leaked.contains("sekrit"),
            "{leaked}"
        );
    }

    #[test]
    fn socket_comes_from_the_config_words() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            socket_from_args(&words(&["--socket", "/s"])).unwrap(),
            PathBuf::from("/s")
        );
        assert_eq!(
            socket_from_args(&words(&["--socket=/t"])).unwrap(),
            PathBuf::from("/t")
        );
        assert!(socket_from_args(&words(&["--socket"])).is_err());
        assert!(socket_from_args(&words(&["--frobnicate"])).is_err());
    }

    #[test]
    fn cache_follows_the_expiry() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let entry = |expires| Entry {
            name: "n".into(),
            url: "https://h/".into(),
            username: None,
            secret: Secret::new("s"),
            expires,
            note: None,
            publish: false,
            source: None,
        };
        assert_eq!(cache_control(&entry(None)), ("session", None));
        assert_eq!(
            cache_control(&entry(Some(now + 3600))),
            ("expires", Some(now + 3600))
        );
        assert_eq!(cache_control(&entry(Some(now + 30))), ("never", None));
    }

    #[test]
    fn login_tries_the_registry_name_then_numbered_ones() {
        let names: Vec<String> = candidate_names("corp").collect();
        assert_eq!(names.len(), LOGIN_NAMES as usize);
        assert_eq!(names[..3], ["corp", "corp-2", "corp-3"]);
        assert_eq!(names.last().unwrap(), "corp-9");
    }

    #[test]
    fn login_names_the_entry_after_the_registry_or_its_host() {
        let registry = |name: Option<&str>, url: &str| Registry {
            index_url: url.into(),
            name: name.map(Into::into),
        };
        assert_eq!(
            entry_name(&registry(Some("corp"), "sparse+https://h/i/")).unwrap(),
            "corp"
        );
        assert_eq!(
            entry_name(&registry(None, "sparse+https://cargo.corp.test/i/")).unwrap(),
            "cargo.corp.test"
        );
        assert!(entry_name(&registry(None, "garbage")).is_err());
    }
}
