//! credd's native `keyring` command (a `keyring` symlink to credd, and `credd keyring`) against
//! a real agent, and byte for byte against the real Python keyring command (keyring 25.7 with
//! keyrings.alt's plaintext backend, from `target/test-venv`) on the same inputs.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::pypi::venv_bin;
use common::{Output, TestEnv, run_with_limit, without_tty};

const LOCKED: &str = "credd is locked: run 'credd unlock'";

/// An agent with an unlocked vault, and a `keyring` symlink to credd.
struct Keyring {
    env: TestEnv,
    /// The agent the test started.
    agent: common::Agent,
    program: PathBuf,
}

impl Keyring {
    fn new() -> Self {
        let env = TestEnv::new();
        let agent = env.start_agent();
        env.init();
        let bin = env.dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let program = bin.join("keyring");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_credd"), &program).unwrap();
        Self {
            env,
            agent,
            program,
        }
    }

    /// `keyring ARGS` (credd through the symlink) with `stdin`, without a controlling terminal.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.env.command();
        command.args(args);
        run_detached(command, &self.program, stdin)
    }

    /// The Python `keyring ARGS` with the plaintext backend, its files in this test's home.
    fn python(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.env.command();
        command
            .env(
                "PYTHON_KEYRING_BACKEND",
                "keyrings.alt.file.PlaintextKeyring",
            )
            .args(args);
        run_detached(command, &venv_bin("keyring"), stdin)
    }
}

/// Runs `command` as `program` in a session of its own: no terminal to prompt on, as when uv or
/// pip runs keyring in the background.
fn run_detached(command: Command, program: &std::path::Path, stdin: &str) -> Output {
    let mut detached = Command::new(program);
    detached
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(command.get_args())
        .current_dir(command.get_current_dir().unwrap());
    run_with_limit(without_tty(detached), stdin)
}

#[track_caller]
fn assert_miss(out: &Output) {
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
}

#[track_caller]
fn assert_usage_error(out: &Output, says: &str) {
    assert_eq!(out.code(), 2, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(out.stderr.contains(says), "{out:?}");
}

#[test]
fn set_get_and_del_round_trip() {
    let k = Keyring::new();
    let service = "https://pypi.corp.test/simple/";
    let set = k.run(&["set", service, "alice"], "alice-secret\n");
    assert_eq!((set.code(), set.stdout.as_str()), (0, ""), "{set:?}");
    assert_eq!(k.run(&["get", service, "alice"], "").ok(), "alice-secret\n");
    assert_eq!(
        k.run(&["--mode", "creds", "get", service, "alice"], "")
            .ok(),
        "alice\nalice-secret\n"
    );
    assert_eq!(
        k.run(&["get", service, "--mode", "creds"], "").ok(),
        "alice\nalice-secret\n",
        "uv's form, without a username"
    );
    assert_eq!(
        k.run(&["--mode=creds", "--output=json", "get", service], "")
            .ok(),
        "{\"username\": \"alice\", \"password\": \"alice-secret\"}\n",
        "pip's form"
    );
    assert_eq!(
        k.run(&["--output", "json", "get", service, "alice"], "")
            .ok(),
        "{\"password\": \"alice-secret\"}\n"
    );
    // The agent's URL rules: a page under the index, and the host alone.
    assert_eq!(
        k.run(&["get", "https://pypi.corp.test/simple/pkg/", "alice"], "")
            .ok(),
        "alice-secret\n"
    );
    assert_eq!(
        k.run(&["get", "pypi.corp.test", "alice"], "").ok(),
        "alice-secret\n"
    );
    // A second set replaces the password.
    k.run(&["set", service, "alice"], "rotated\n").ok();
    assert_eq!(k.run(&["get", service, "alice"], "").ok(), "rotated\n");

    let del = k.run(&["del", service, "alice"], "");
    assert_eq!((del.code(), del.stdout.as_str()), (0, ""), "{del:?}");
    assert_miss(&k.run(&["get", service, "alice"], ""));
    let again = k.run(&["del", service, "alice"], "");
    assert_eq!(again.code(), 1, "{again:?}");
    assert!(again.stderr.starts_with("credd: "), "{again:?}");
}

#[test]
fn a_miss_exits_1_with_nothing_on_stdout() {
    let k = Keyring::new();
    k.run(&["set", "https://h.test/simple/", "alice"], "pw\n")
        .ok();
    assert_miss(&k.run(&["get", "https://h.test/simple/", "bob"], ""));
    assert_miss(&k.run(&["get", "https://other.test/simple/", "alice"], ""));
    assert_miss(&k.run(&["--mode", "creds", "get", "other.test"], ""));
    assert_miss(&k.run(&["--output", "json", "get", "other.test", "alice"], ""));
}

#[test]
fn several_users_of_one_service_each_get_their_own_and_none_is_ambiguous() {
    let k = Keyring::new();
    let service = "https://pypi.corp.test/simple/";
    k.run(&["set", service, "alice"], "alice-pw\n").ok();
    k.run(&["set", service, "bob"], "bob-pw\n").ok();
    assert_eq!(k.run(&["get", service, "alice"], "").ok(), "alice-pw\n");
    assert_eq!(k.run(&["get", service, "bob"], "").ok(), "bob-pw\n");
    let either = k.run(&["--mode", "creds", "get", service], "");
    assert_eq!(either.code(), 1, "{either:?}");
    assert_eq!(either.stdout, "", "{either:?}");
    assert!(
        either.stderr.contains("alice") && either.stderr.contains("bob"),
        "the error names the usernames to choose from: {either:?}"
    );
    assert!(!either.stderr.contains("-pw"), "{either:?}");
    k.run(&["del", service, "bob"], "").ok();
    assert_eq!(k.run(&["get", service, "alice"], "").ok(), "alice-pw\n");
}

#[test]
fn a_token_without_a_username_answers_as_token() {
    let k = Keyring::new();
    k.env
        .add("corp", "https://pypi.corp.test/simple/", "corp-token");
    let url = "https://pypi.corp.test/simple/";
    assert_eq!(k.run(&["get", url, "__token__"], "").ok(), "corp-token\n");
    assert_eq!(
        k.run(&["--mode", "creds", "get", url], "").ok(),
        "__token__\ncorp-token\n"
    );
}

#[test]
fn options_and_operations_it_does_not_have_are_usage_errors() {
    let k = Keyring::new();
    k.run(&["set", "s", "u"], "pw\n").ok();
    for args in [
        &["-b", "keyrings.alt.file.PlaintextKeyring", "get", "s", "u"][..],
        &["--keyring-backend=x", "get", "s", "u"],
        &["-p", "/tmp", "get", "s", "u"],
        &["--list-backends"],
        &["--disable"],
        &["--print-completion", "bash"],
        &["diagnose"],
    ] {
        assert_usage_error(&k.run(args, ""), "not supported by credd's keyring command");
    }
    assert_usage_error(
        &k.run(&["get", "s"], ""),
        "get requires service and username",
    );
    assert_usage_error(&k.run(&["fetch", "s", "u"], ""), "invalid choice: 'fetch'");
    assert_usage_error(
        &k.run(&["--mode", "all", "get", "s", "u"], ""),
        "invalid choice",
    );
    assert_usage_error(
        &k.run(&["get", "s", "u", "x"], ""),
        "unrecognized arguments: x",
    );
    assert_usage_error(
        &k.run(&["--k", "x", "get", "s", "u"], ""),
        "ambiguous option",
    );
    assert_usage_error(&k.run(&[], ""), "Specify operation");
    let help = k.run(&["--help"], "");
    assert!(help.ok().contains("--mode {password,creds}"), "{help:?}");
}

/// The same command lines and inputs through credd's keyring and the Python one: the same exit
/// code and the same bytes on stdout.
#[test]
fn output_and_exit_codes_match_the_python_command_byte_for_byte() {
    let k = Keyring::new();
    let service = "https://pypi.corp.test/simple/";
    let passwords = [
        ("ascii", "plain-password\n"),
        ("unicode", "pässwörd 😀 \"quoted\" back\\slash\n"),
        ("controls", "tab\there\u{1}\u{7f}\r\n"),
        ("lines", "first\nsecond\n\n"),
        ("no-newline", "no newline at the end"),
    ];
    for (user, piped) in passwords {
        let ours = k.run(&["set", service, user], piped);
        let theirs = k.python(&["set", service, user], piped);
        assert_eq!(
            (ours.code(), &ours.stdout),
            (theirs.code(), &theirs.stdout),
            "set {user}"
        );
        assert_eq!(ours.code(), 0, "{ours:?}");
    }
    let mut cases: Vec<Vec<&str>> = Vec::new();
    for (user, _) in passwords {
        cases.extend([
            vec!["get", service, user],
            vec!["--mode", "creds", "get", service, user],
            vec!["--mode=creds", "--output=json", "get", service, user],
            vec!["--output", "json", "get", service, user],
            vec!["get", service, user, "--mode", "creds", "--output", "json"],
            vec!["--mo", "creds", "--out=plain", "get", service, user],
            vec!["--", "get", service, user],
        ]);
    }
    cases.extend([
        vec!["get", service, "nobody"],
        vec!["--output=json", "get", service, "nobody"],
        vec!["get", "--mode", "creds", service, "ascii"],
        vec!["get", service, "--mode", "creds", "ascii"],
        vec!["get", service, "ascii", "extra"],
        vec!["get", service],
        vec!["get"],
        vec!["--mode", "get", service, "ascii"],
        vec!["--mode", "nope", "get", service, "ascii"],
        vec!["--output"],
        vec!["--k", "x", "get", service, "ascii"],
        vec!["--frobnicate", "get", service, "ascii"],
        vec!["fetch", service, "ascii"],
        vec!["set", service],
        vec![],
    ]);
    for args in &cases {
        let ours = k.run(args, "");
        let theirs = k.python(args, "");
        assert_eq!(
            (ours.code(), &ours.stdout),
            (theirs.code(), &theirs.stdout),
            "keyring {args:?}: ours {ours:?}, Python's {theirs:?}"
        );
    }
}

#[test]
fn a_locked_agent_without_a_terminal_fails_within_a_second_with_credds_message() {
    let k = Keyring::new();
    k.run(&["set", "https://h.test/", "alice"], "pw\n").ok();
    k.env.cli(&["lock"]).ok();
    for args in [
        &["get", "https://h.test/", "alice"][..],
        &["--mode=creds", "--output=json", "get", "https://h.test/"],
    ] {
        let start = Instant::now();
        let out = k.run(args, "");
        let took = start.elapsed();
        assert_eq!(out.code(), 1, "{out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
        assert!(out.stderr.contains(LOCKED), "{out:?}");
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
    let set = k.run(&["set", "https://h.test/", "bob"], "pw\n");
    assert!(set.code() == 1 && set.stderr.contains(LOCKED), "{set:?}");
}

/// uv and pip run keyring in the background: with no agent running, one is started (it could
/// unlock itself from the OS keychain), and without a key there the command fails at once.
#[test]
fn with_no_agent_one_is_started_and_a_locked_one_fails_fast() {
    let mut k = Keyring::new();
    k.run(&["set", "https://h.test/", "alice"], "pw\n").ok();
    k.env.cli(&["stop"]).ok();
    k.agent.wait_exit();
    let start = Instant::now();
    let out = k.run(&["get", "https://h.test/", "alice"], "");
    assert!(out.code() == 1 && out.stderr.contains(LOCKED), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    k.env.unlock().ok();
    assert_eq!(k.run(&["get", "https://h.test/", "alice"], "").ok(), "pw\n");
    k.env.cli(&["stop"]).ok();
}

#[test]
fn a_locked_agent_on_a_terminal_asks_for_the_passphrase_once() {
    let k = Keyring::new();
    k.run(&["set", "https://h.test/", "alice"], "tty-secret\n")
        .ok();
    k.env.cli(&["lock"]).ok();
    let line = format!("{} get https://h.test/ alice", k.program.display());
    let shown = common::run_on_tty(
        &k.env,
        &line,
        &[(
            "credd is locked; passphrase: ",
            &format!("{}\n", common::PASSPHRASE),
        )],
    );
    assert!(shown.contains("tty-secret"), "{shown:?}");
    assert!(!shown.contains(common::PASSPHRASE), "echoed: {shown:?}");
    assert_eq!(
        k.run(&["get", "https://h.test/", "alice"], "").ok(),
        "tty-secret\n"
    );
}

#[test]
fn set_asks_on_the_terminal_when_stdin_is_one() {
    let k = Keyring::new();
    let line = format!("{} set https://h.test/ alice", k.program.display());
    let shown = common::run_on_tty(
        &k.env,
        &line,
        &[(
            "Password for 'alice' in 'https://h.test/': ",
            "typed-secret\n",
        )],
    );
    assert!(!shown.contains("typed-secret"), "echoed: {shown:?}");
    assert_eq!(
        k.run(&["get", "https://h.test/", "alice"], "").ok(),
        "typed-secret\n"
    );
}

#[test]
fn set_without_a_password_or_a_terminal_stores_nothing() {
    let k = Keyring::new();
    let out = k.run(&["set", "https://h.test/", "alice"], "");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("no password on stdin"), "{out:?}");
    assert_miss(&k.run(&["get", "https://h.test/", "alice"], ""));
}

#[test]
fn credd_keyring_is_the_same_command() {
    let k = Keyring::new();
    k.run(&["set", "https://h.test/", "alice"], "pw\n").ok();
    let via_subcommand = k
        .env
        .run(&["keyring", "get", "https://h.test/", "alice"], "");
    assert_eq!(via_subcommand.ok(), "pw\n");
    let with_socket = k.env.run(
        &[
            "--socket",
            k.env.socket_str(),
            "keyring",
            "--mode",
            "creds",
            "get",
            "https://h.test/",
        ],
        "",
    );
    assert_eq!(with_socket.ok(), "alice\npw\n");
    assert_eq!(
        k.env
            .run(&["keyring", "get", "https://h.test/", "bob"], "")
            .code(),
        1
    );
    assert_eq!(k.env.run(&["keyring", "--disable"], "").code(), 2);
    // Only the name `keyring` selects it: credd's own command line is unchanged.
    assert_eq!(
        k.env.run(&["get", "--url", "https://h.test/"], "").ok(),
        "pw\n"
    );
}
