//! Tokens printed by a command: `gcloud auth print-access-token`, `az account get-access-token`,
//! or whatever a company already has.
//!
//! The command runs without a shell, in its own process group, with stdin on `/dev/null` and an
//! environment of `PATH=/usr/bin:/bin` and the agent's `HOME` (where tools such as gcloud keep
//! their login) plus the entry's `env`, which may replace either. It must finish within the
//! source's `timeout` and the mint deadline, whichever comes first; then its whole process
//! group is killed. Its standard output (at most [`MAX_OUTPUT`] bytes, in a buffer wiped on
//! drop) is either the token alone or a JSON object; see [`parse_output`].

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use credd_protocol::Secret;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Context, MintError, Minted};

/// The most standard output read from a token command.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// How long a bare token (or JSON without an expiry) is taken to live.
pub const DEFAULT_LIFETIME: u64 = 300;
/// The `PATH` of a token command whose entry names none.
const CLEAN_PATH: &str = "/usr/bin:/bin";
/// How much of the end of its standard error a failure quotes.
const STDERR_TAIL: usize = 400;

/// Runs `argv` with `env` on a clean environment; its output is the token.
pub fn mint(
    argv: &[String],
    env: &BTreeMap<String, String>,
    timeout: Option<u32>,
    cx: &Context,
) -> Result<Minted, MintError> {
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Err(MintError::BadMaterial(
            "the command source names no program".into(),
        ));
    };
    let mut deadline = cx.deadline;
    if let Some(secs) = timeout {
        deadline = deadline.min(Instant::now() + Duration::from_secs(secs.into()));
    }
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .envs(std::env::var_os("HOME").map(|home| ("HOME", home)))
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout kills whatever it started too.
        .process_group(0);
    // SAFETY: close_inherited_fds only flags descriptors, async-signal-safe as pre_exec needs.
    // The agent's sockets and the vault's lock must not reach the command.
    unsafe {
        command.pre_exec(|| {
            crate::sys::before_exec::close_inherited_fds();
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| MintError::CommandFailed {
        program: program.clone(),
        status: "not started".into(),
        stderr_tail: e.to_string(),
    })?;
    let run = run_to_end(child, deadline).ok_or_else(|| {
        MintError::Timeout(format!(
            "the token command {program} did not finish in time and was killed: make it \
             faster, or raise the source's timeout or mint-timeout in config.toml"
        ))
    })?;
    if !run.status.success() {
        return Err(MintError::CommandFailed {
            program: program.clone(),
            status: describe_status(run.status),
            stderr_tail: scrub(&run.stderr),
        });
    }
    parse_output(&run.stdout, super::now()).map_err(|problem| MintError::CommandFailed {
        program: program.clone(),
        status: format!("exit status 0, but {problem}"),
        stderr_tail: scrub(&run.stderr),
    })
}

/// What a finished command left.
struct Run {
    status: ExitStatus,
    stdout: Zeroizing<Vec<u8>>,
    stderr: Vec<u8>,
}

/// How long the output of a command that exited is still read: a program it left running
/// (a daemon it started) may hold its pipes open, which must not keep the mint waiting.
const AFTER_EXIT: Duration = Duration::from_secs(1);
/// How often a pipe reader checks whether it is to stop.
const READ_STEP: Duration = Duration::from_millis(50);

/// Waits for `child` until `deadline`, and for its output until it ends or [`AFTER_EXIT`]
/// after the child did; past the deadline, kills its process group and returns `None`. The
/// pipes are read on threads of their own, so that a full pipe never stalls the child, and
/// every thread ends soon after this returns.
fn run_to_end(mut child: Child, deadline: Instant) -> Option<Run> {
    let stop = Arc::new(AtomicBool::new(false));
    let (stdout_tx, stdout_rx) = mpsc::channel();
    let (stderr_tx, stderr_rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let for_stdout = stop.clone();
    std::thread::spawn(move || {
        // Sized once: a reallocation would free an unwiped copy of the token. Whatever is
        // beyond the limit is read and dropped, so the command is not stuck on a full pipe.
        let mut out = Zeroizing::new(Vec::with_capacity(MAX_OUTPUT + 1));
        read_pipe(stdout, &for_stdout, |bytes| {
            let room = (MAX_OUTPUT + 1).saturating_sub(out.len());
            out.extend_from_slice(&bytes[..bytes.len().min(room)]);
        });
        let _ = stdout_tx.send(out);
    });
    let for_stderr = stop.clone();
    std::thread::spawn(move || {
        let mut tail = Vec::new();
        read_pipe(stderr, &for_stderr, |bytes| {
            tail.extend_from_slice(bytes);
            let excess = tail.len().saturating_sub(4 * STDERR_TAIL);
            tail.drain(..excess);
        });
        let _ = stderr_tx.send(tail);
    });
    let Some(status) = wait_until(&mut child, deadline) else {
        stop.store(true, Ordering::Relaxed);
        kill_group(&mut child);
        return None;
    };
    let bound = deadline.min(Instant::now() + AFTER_EXIT);
    let left = || bound.saturating_duration_since(Instant::now());
    let (mut stdout, mut stderr) = (
        stdout_rx.recv_timeout(left()),
        stderr_rx.recv_timeout(left()),
    );
    if stdout.is_err() || stderr.is_err() {
        // What it left running holds a pipe: it goes, and the readers hand over what they have.
        kill_group(&mut child);
        stop.store(true, Ordering::Relaxed);
        let wait = 4 * READ_STEP;
        stdout = stdout.or_else(|_| stdout_rx.recv_timeout(wait));
        stderr = stderr.or_else(|_| stderr_rx.recv_timeout(wait));
    }
    Some(Run {
        status,
        stdout: stdout.ok()?,
        stderr: stderr.unwrap_or_default(),
    })
}

/// Reads `pipe` to its end, handing each chunk to `keep`, unless `stop` is set first (checked
/// every [`READ_STEP`]). The chunk buffer is wiped: it may hold the token.
fn read_pipe(mut pipe: impl Read + AsFd, stop: &AtomicBool, mut keep: impl FnMut(&[u8])) {
    let mut chunk = Zeroizing::new([0u8; 4096]);
    while !stop.load(Ordering::Relaxed) {
        if !crate::sys::readable_within(pipe.as_fd(), READ_STEP) {
            continue;
        }
        match pipe.read(&mut chunk[..]) {
            Ok(0) => return,
            Ok(n) => keep(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The child's exit status, when it ends before `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the child's process group (it leads it) and reaps the child.
fn kill_group(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// The JSON a token command may print. Unknown fields are ignored.
#[derive(Deserialize)]
struct Printed {
    /// The token; `access_token` (OAuth's name) and `accessToken` (az's) are read too.
    #[serde(alias = "access_token", alias = "accessToken")]
    token: Secret,
    /// When it expires, in Unix seconds or RFC 3339 (`expires_on` is az's name).
    #[serde(default, alias = "expires_on")]
    expires: Option<serde_json::Value>,
    /// Or its lifetime in seconds from now.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    /// The username the registry expects with it.
    #[serde(default)]
    username: Option<String>,
}

/// Reads a token command's standard output: the token alone on one line (surrounding
/// whitespace is dropped), or a JSON object `{"token", "expires"?, "expires_in"?,
/// "username"?}`. Without a username the token has none (it answers as a token entry does);
/// without an expiry the token is taken to live [`DEFAULT_LIFETIME`] seconds.
/// The error says what is wrong without quoting the output.
fn parse_output(stdout: &[u8], now: u64) -> Result<Minted, String> {
    let text = std::str::from_utf8(stdout)
        .map_err(|_| "its output is not UTF-8".to_owned())?
        .trim();
    if stdout.len() > MAX_OUTPUT {
        return Err(format!("its output is longer than {MAX_OUTPUT} bytes"));
    }
    if text.starts_with('{') {
        let printed: Printed = serde_json::from_str(text).map_err(|e| {
            format!(
                "its JSON output is not {{\"token\": …, \"expires\"|\"expires_in\": …}} (column {})",
                e.column()
            )
        })?;
        return minted(printed, now);
    }
    if text.is_empty() {
        return Err("it printed no token".into());
    }
    if text.contains(char::is_whitespace) || text.contains(char::is_control) {
        return Err("its output is not one token: print the token alone, or JSON".into());
    }
    // No username: the token answers as a token entry does (empty, `__token__`).
    Ok(Minted {
        username: String::new(),
        token: Secret::new(text),
        expires: now + DEFAULT_LIFETIME,
    })
}

fn minted(printed: Printed, now: u64) -> Result<Minted, String> {
    if printed.token.is_empty() || printed.token.expose().contains(char::is_control) {
        return Err("the token in its JSON output is empty or holds control characters".into());
    }
    let expires = match (&printed.expires, &printed.expires_in) {
        (Some(at), _) => super::parse_expiry(at)
            .ok_or("its \"expires\" is neither Unix seconds nor an RFC 3339 time")?,
        (None, Some(secs)) => now.saturating_add(
            super::parse_seconds(secs).ok_or("its \"expires_in\" is not a number of seconds")?,
        ),
        (None, None) => now + DEFAULT_LIFETIME,
    };
    if expires <= now {
        return Err("the token it printed has expired already (check the clock)".into());
    }
    Ok(Minted {
        username: printed.username.unwrap_or_default(),
        token: printed.token,
        expires,
    })
}

/// The end of a command's standard error, fit for an error message: at most [`STDERR_TAIL`]
/// characters of its words as [`super::redact`] leaves them.
fn scrub(stderr: &[u8]) -> String {
    let joined = super::redact(&String::from_utf8_lossy(stderr));
    let skip = joined.chars().count().saturating_sub(STDERR_TAIL);
    let tail: String = joined.chars().skip(skip).collect();
    if tail.is_empty() {
        return "nothing on stderr".into();
    }
    if skip > 0 { format!("…{tail}") } else { tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(secs: u64) -> Context {
        Context {
            ca_file: None,
            deadline: Instant::now() + Duration::from_secs(secs),
        }
    }

    /// The error of a mint or parse that must fail (`Minted` has no `Debug` to unwrap with).
    fn failure<E>(result: Result<Minted, E>) -> E {
        match result {
            Ok(_) => panic!("a token was minted"),
            Err(error) => error,
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn a_bare_token_lives_the_default_lifetime() {
        let minted = parse_output(b"  tok-123\n", 1000).unwrap();
        assert_eq!(minted.token.expose(), "tok-123");
        assert_eq!((minted.expires, minted.username.as_str()), (1300, ""));
        assert!(parse_output(b"two words\n", 1000).is_err());
        assert!(parse_output(b"\n", 1000).is_err());
    }

    #[test]
    fn json_gives_the_expiry_and_the_username() {
        let minted =
            parse_output(br#"{"token":"t","expires_in":60,"username":"aws"}"#, 1000).unwrap();
        assert_eq!(
            (
                minted.token.expose(),
                minted.expires,
                minted.username.as_str()
            ),
            ("t", 1060, "aws")
        );
        let az = br#"{"accessToken":"a","expires_on":5000,"tokenType":"Bearer"}"#;
        assert_eq!(parse_output(az, 1000).unwrap().expires, 5000);
        let oauth = br#"{"access_token":"g","expires_in":3599}"#;
        assert_eq!(parse_output(oauth, 1000).unwrap().token.expose(), "g");
        let expired = parse_output(br#"{"token":"t","expires":10}"#, 1000);
        assert!(failure(expired).contains("expired"));
        let wrong = failure(parse_output(br#"{"token":5,"secret":"hunter2"}"#, 1000));
        assert!(!wrong.contains("hunter2"), "{wrong}");
    }

    #[test]
    fn the_command_runs_in_a_clean_environment_with_its_own_variables() {
        let env = BTreeMap::from([("EXTRA".to_owned(), "x1".to_owned())]);
        let argv = sh(r#"printf '{"token":"%s-%s-%s"}' "$EXTRA" "$PATH" "${CARGO:-none}""#);
        let minted = mint(&argv, &env, None, &cx(10)).unwrap();
        assert_eq!(minted.token.expose(), "x1-/usr/bin:/bin-none");
    }

    #[test]
    fn a_failure_names_the_exit_status_and_a_scrubbed_stderr_tail() {
        let long = "A".repeat(40);
        let script = format!("printf 'denied\\033[31m for key {long}\\n' >&2; exit 3");
        let error = failure(mint(&sh(&script), &BTreeMap::new(), None, &cx(10)));
        let message = error.to_string();
        assert!(message.contains("exit status 3"), "{message}");
        assert!(message.contains("denied"), "{message}");
        assert!(
            message.contains("[redacted]") && !message.contains(&long),
            "{message}"
        );
        assert!(!message.contains('\u{1b}'), "{message}");
        let garbage = mint(&sh("echo two words"), &BTreeMap::new(), None, &cx(10));
        assert!(failure(garbage).to_string().contains("exit status 0, but"));
    }

    #[test]
    fn a_hung_command_is_killed_at_the_sources_timeout() {
        let started = Instant::now();
        let argv = sh("sleep 30 & sleep 30");
        let error = failure(mint(&argv, &BTreeMap::new(), Some(1), &cx(20)));
        assert!(matches!(error, MintError::Timeout(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "it hung");
    }

    #[test]
    fn a_program_left_running_with_its_stdout_does_not_hold_the_token_back() {
        // The background sleep keeps stdout open long past the command's exit and the timeout.
        let argv = sh("sleep 30 & printf left-behind-token");
        let minted = mint(&argv, &BTreeMap::new(), Some(10), &cx(20)).unwrap();
        assert_eq!(minted.token.expose(), "left-behind-token");
    }

    #[test]
    fn the_command_inherits_no_descriptor_beyond_stdio() {
        let leaked = std::fs::File::open("/dev/null").unwrap();
        // Opened without close-on-exec, as a leaked descriptor would be.
        let fd = rustix::io::dup(&leaked).unwrap();
        let argv = sh("ls /proc/self/fd | tr '\\n' ,");
        let minted = mint(&argv, &BTreeMap::new(), None, &cx(10)).unwrap();
        // 0, 1, 2 and the descriptor ls opens to read the directory.
        let open: Vec<&str> = minted
            .token
            .expose()
            .split(',')
            .filter(|fd| !fd.is_empty())
            .collect();
        assert!(open.len() <= 4, "open in the command: {open:?}");
        drop(fd);
    }

    #[test]
    fn a_missing_program_says_so() {
        let argv = vec!["/nonexistent/token-tool".to_owned()];
        let error = failure(mint(&argv, &BTreeMap::new(), None, &cx(5)));
        assert!(error.to_string().contains("not started"), "{error}");
        let empty = failure(mint(&[], &BTreeMap::new(), None, &cx(5)));
        assert!(matches!(empty, MintError::BadMaterial(_)));
    }
}
