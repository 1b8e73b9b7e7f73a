//! Who a client may trust, and one agent per vault: a socket another local user prepared is
//! refused before a byte is sent; a second agent on the same vault refuses to start and clients
//! find the first; client processes that hold secrets cannot be read by other processes.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestEnv, wait_until};

/// The user another local account runs as in these tests.
const OTHER_UID: u32 = 65534;

/// A listener run by another user: binds argv[1], says "ready", then reports how many
/// connections it got and every byte they sent, when no connection came for 3 s.
const SQUATTER: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen(16)
s.settimeout(3)
print("ready", flush=True)
connections, received = 0, b""
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    connections += 1
    c.settimeout(1)
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            received += chunk
    except socket.timeout:
        pass
print("connections", connections, "received", received, flush=True)
"#;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Lets uid [`OTHER_UID`] reach (not list) the test's directory.
fn open_the_way(env: &TestEnv) {
    chmod(env.dir.path(), 0o711);
}

/// A directory made and owned by the other user, with `mode`.
fn their_dir(path: &Path, mode: u32) {
    std::fs::DirBuilder::new().mode(0o700).create(path).unwrap();
    std::os::unix::fs::chown(path, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    chmod(path, mode);
}

/// Starts the squatter on `socket` as the other user and waits until it listens.
fn start_squatter(socket: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(common::SYSTEM_PYTHON)
        .args(["-c", SQUATTER])
        .arg(socket)
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    (child, out)
}

/// What the squatter got, once it gave up waiting.
fn squatter_report(mut child: Child, mut out: BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    child.wait().unwrap();
    line.trim().to_owned()
}

/// Runs each client command that sends a secret (`unlock`, `add`, and `get`, whose answer would
/// be believed) against `socket`, and asserts that each refuses, saying what `reason` says and
/// naming `named` (the squatted path).
fn assert_clients_refuse(env: &TestEnv, socket: &str, named: &str, reason: &str) {
    let commands: [(&[&str], &str); 3] = [
        (&["unlock", "--passphrase-stdin"], "squatted-passphrase\n"),
        (
            &[
                "add",
                "corp",
                "--url",
                "https://corp.test/",
                "--secret-stdin",
            ],
            "squatted-token\n",
        ),
        (&["get", "corp"], ""),
    ];
    for (args, stdin) in commands {
        let result = env.run(&[args, &["--socket", socket]].concat(), stdin);
        assert!(!result.status.success(), "{args:?} succeeded: {result:?}");
        assert!(
            result
                .stderr
                .contains("refusing to talk to the credd agent")
                && result.stderr.contains(named)
                && result.stderr.contains(reason),
            "{args:?}: {}",
            result.stderr
        );
    }
}

#[test]
fn a_socket_directory_another_user_created_first_gets_nothing() {
    let env = TestEnv::new();
    open_the_way(&env);
    // Where clients look without XDG_RUNTIME_DIR: ${TMPDIR:-/tmp}/credd-$UID, taken first.
    let squatted = env.dir.path().join("credd-0");
    their_dir(&squatted, 0o777);
    let socket = squatted.join("credd.sock");
    let (squatter, out) = start_squatter(&socket);

    let owned_by = format!("owned by uid {OTHER_UID}");
    assert_clients_refuse(
        &env,
        socket.to_str().unwrap(),
        squatted.to_str().unwrap(),
        &owned_by,
    );
    assert_eq!(squatter_report(squatter, out), "connections 0 received b''");
}

#[test]
fn a_listener_of_another_user_in_our_own_directory_gets_no_byte() {
    let env = TestEnv::new();
    open_the_way(&env);
    let theirs = env.dir.path().join("theirs");
    their_dir(&theirs, 0o755);
    let (squatter, out) = start_squatter(&theirs.join("s.sock"));
    // A socket file keeps its listener when moved: only the peer check is left to refuse it.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(env.socket.parent().unwrap())
        .unwrap();
    std::fs::rename(theirs.join("s.sock"), &env.socket).unwrap();

    let served_by = format!("served by uid {OTHER_UID}");
    assert_clients_refuse(&env, env.socket_str(), env.socket_str(), &served_by);
    let report = squatter_report(squatter, out);
    assert!(
        report.ends_with("received b''") && !report.starts_with("connections 0 "),
        "{report}"
    );
}

#[test]
fn one_agent_per_vault_and_clients_elsewhere_find_it() {
    let env = TestEnv::new();
    let mut first = env.start_agent();
    env.init();
    env.add("corp", "https://corp.test/", "tok-1");

    // An ssh shell without XDG_RUNTIME_DIR looks in another directory for the socket.
    let elsewhere = env.dir.path().join("tmp-credd");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&elsewhere)
        .unwrap();
    let other_socket = elsewhere.join("credd.sock");
    let second = env.run(&["daemon", "--socket", other_socket.to_str().unwrap()], "");
    assert!(!second.status.success(), "a second agent ran: {second:?}");
    assert!(
        second.stderr.contains("is in use by another credd agent")
            && second.stderr.contains(env.socket_str())
            && second.stderr.contains(&format!("pid {}", first.pid())),
        "{}",
        second.stderr
    );
    assert!(!other_socket.exists(), "the refused agent left a socket");

    // A client on the other socket is served by the vault's agent, not a new one.
    let other = other_socket.to_str().unwrap();
    let got = env.run(&["get", "corp", "--socket", other], "");
    assert_eq!(got.ok(), "tok-1\n", "{got:?}");
    env.run(
        &[
            "add",
            "second",
            "--url",
            "https://second.test/",
            "--secret-stdin",
            "--socket",
            other,
        ],
        "tok-2\n",
    )
    .ok();
    let listed = env.cli(&["list"]);
    assert!(listed.ok().contains("second"), "{listed:?}");

    // A publish asked for on the other socket goes on with the agent that refused it: without a
    // terminal, its words on what to do, not "no agent running" from the empty socket.
    let index = "sparse+https://corp.test/index/";
    env.run(
        &[
            "add",
            "corp-publish",
            "--url",
            index,
            "--publish",
            "--secret-stdin",
        ],
        "tok-publish\n",
    )
    .ok();
    let line = format!(
        r#"{{"v":1,"registry":{{"index-url":"{index}","name":"corp"}},"kind":"get","operation":"publish","name":"c","vers":"1.0.0","args":["--socket","{other}"]}}"#
    );
    let mut provider = env.command();
    provider.arg("--cargo-plugin");
    let reply = common::run_with_limit(common::without_tty(provider), &format!("{line}\n"));
    assert!(
        reply.stdout.contains("credd allow --once corp-publish")
            && reply.stdout.contains("no terminal"),
        "{reply:?}"
    );
    assert!(!reply.stdout.contains("tok-publish"), "{reply:?}");
    assert!(first.child.try_wait().unwrap().is_none());
    assert!(!other_socket.exists(), "a second agent was started");

    // Once the first agent is gone, its record leads nowhere and a new agent starts.
    first.signal(libc::SIGTERM);
    first.wait_exit();
    let status = env.run(&["status", "--socket", other], "");
    assert!(status.ok().contains("state: locked"), "{status:?}");
    assert!(other_socket.exists());
    env.run(&["stop", "--socket", other], "").ok();
}

#[test]
fn leftover_temp_files_of_killed_writes_are_removed_at_start() {
    let env = TestEnv::new();
    let agent = env.start_agent();
    env.init();
    drop(agent);
    // What a `kill -9` in the middle of a vault write leaves: the whole old vault under a
    // temporary name, which opens with the old passphrase.
    let dir = env.vault().parent().unwrap().to_path_buf();
    let leftover = dir.join(".vault.4242.7.tmp");
    std::fs::copy(env.vault(), &leftover).unwrap();
    let keyring_leftover = dir.join(".keyring-entries.json.4242.8.tmp");
    std::fs::write(&keyring_leftover, b"[]").unwrap();
    let _agent = env.start_agent();
    assert!(!leftover.exists(), "the old vault copy survived the start");
    assert!(!keyring_leftover.exists());
    assert!(env.vault().exists());
    assert!(
        env.log().contains("removed a temporary file"),
        "{}",
        env.log()
    );
}

/// `credd` (and `credd-full`) copied where uid [`OTHER_UID`] can run it, whatever the clone's directories allow.
fn binary_for_other_user(env: &TestEnv) -> PathBuf {
    let bin = env.dir.path().join("bin");
    std::fs::DirBuilder::new().mode(0o755).create(&bin).unwrap();
    common::copy_binaries(&bin, 0o755)
}

#[test]
fn a_client_waiting_with_a_secret_is_not_dumpable_and_has_no_core() {
    let env = TestEnv::new();
    open_the_way(&env);
    let credd = binary_for_other_user(&env);
    // `credd add` reads the secret before it connects: it waits here, holding what it read.
    let mut child = Command::new(credd)
        .args(["add", "x", "--url", "https://x.test/", "--secret-stdin"])
        .arg("--socket")
        .arg(env.dir.path().join("nowhere/credd.sock"))
        .env_clear()
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
    wait_until("the client runs as the other user", || {
        std::fs::read_to_string(proc_dir.join("status")).is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.contains("65534"))
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    // The kernel gives a non-dumpable process's /proc files to root: its own user (and so any
    // other process of that user) can no longer read its memory or attach to it.
    let mem_owner = std::fs::metadata(proc_dir.join("mem")).unwrap().uid();
    let limits = std::fs::read_to_string(proc_dir.join("limits")).unwrap();
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(
        mem_owner, 0,
        "the client is dumpable: its user can read its memory"
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().nth(4) == Some("0"),
        "core dumps are on: {core}"
    );
}
