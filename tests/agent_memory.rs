//! No secret survives `lock` in the agent's memory, and none ever reaches its log.

mod common;

use common::{TestEnv, count_in_memory, unique};

/// Plants a secret and a passphrase, uses them through every path that carries them (init,
/// unlock, add, get by name and URL, list, passwd), locks, then scans the live agent's memory as
/// root would. The scan must find the secret while unlocked, which proves it can see the heap.
#[test]
fn lock_leaves_no_copy_of_secret_or_passphrase_in_agent_memory() {
    let env = TestEnv::new();
    let agent = env.start_agent();
    let passphrase = unique("planted-passphrase-long-enough-that-its-tail-is-past-malloc-links");
    let secret = unique("planted-secret-long-enough-that-its-tail-is-past-malloc-links");
    env.init_with(&passphrase).ok();
    env.add("reg", "sparse+https://reg.test/index/", &secret);
    // Quotes and backslashes make serde_json decode through its own scratch buffer.
    let escaped = format!(
        "escaped\"secret\\{}",
        unique("long-enough-that-its-tail-is-past-malloc-links")
    );
    env.add("escaped", "https://other.test/", &escaped);
    assert_eq!(env.cli(&["get", "reg"]).ok().trim(), secret);
    assert!(
        env.cli(&["get", "--url", "https://reg.test/index/x", "--json"])
            .ok()
            .contains(&secret)
    );
    env.cli(&["list"]).ok();
    env.cli(&["lock"]).ok();
    env.run(
        &["unlock", "--passphrase-stdin", "--socket", env.socket_str()],
        &format!("{passphrase}\n"),
    )
    .ok();
    env.cli(&["get", "reg"]).ok();
    assert_eq!(env.cli(&["get", "escaped"]).ok().trim_end(), escaped);

    assert!(
        count_in_memory(agent.pid(), tail(&secret)) > 0,
        "the scan cannot see the unlocked secret"
    );

    env.cli(&["lock"]).ok();
    let secrets_left =
        count_in_memory(agent.pid(), tail(&secret)) + count_in_memory(agent.pid(), tail(&escaped));
    let passphrases_left = count_in_memory(agent.pid(), tail(&passphrase));
    assert_eq!(
        (secrets_left, passphrases_left),
        (0, 0),
        "copies left after lock: (secret, passphrase)"
    );
    let log = env.log();
    assert!(
        !log.contains(&secret) && !log.contains(&passphrase),
        "a secret reached the log"
    );
}

/// The last 24 bytes: the allocator overwrites the first 16 bytes of a freed block with its
/// list links, so a scan for the whole string would miss copies left in freed memory.
fn tail(text: &str) -> &[u8] {
    &text.as_bytes()[text.len() - 24..]
}

/// A step-up passphrase sent with a `get` of a publish credential, right or wrong, leaves no
/// copy in the agent once answered, while the agent stays unlocked; the publish token does not
/// reach the log.
#[test]
fn a_step_up_passphrase_leaves_no_copy_in_agent_memory() {
    let env = TestEnv::new();
    let agent = env.start_agent();
    let passphrase = unique("planted-step-up-passphrase-long-enough-that-its-tail-is-past-malloc");
    let token = unique("planted-publish-token-long-enough-that-its-tail-is-past-malloc-links");
    env.init_with(&passphrase).ok();
    env.cli_with_input(
        &[
            "add",
            "corp-publish",
            "--url",
            "https://reg.test/",
            "--publish",
            "--secret-stdin",
        ],
        &format!("{token}\n"),
    )
    .ok();
    assert_eq!(
        count_in_memory(agent.pid(), tail(&passphrase)),
        0,
        "init left a copy of the passphrase"
    );
    let wrong = unique("planted-wrong-step-up-passphrase-long-enough-that-its-tail-is-past");
    for (id, typed) in [(1, wrong.as_str()), (2, passphrase.as_str())] {
        let mut raw = env.connect_raw();
        let reply = raw.request(&format!(
            r#"{{"v":1,"id":{id},"op":"get","url":"https://reg.test/","publish":true,"passphrase":"{typed}"}}"#
        ));
        assert_eq!(reply["id"], id, "{reply}");
    }
    let mut raw = env.connect_raw();
    let allow = raw.request(&format!(
        r#"{{"v":1,"id":3,"op":"allow","name":"corp-publish","passphrase":"{passphrase}"}}"#
    ));
    assert_eq!(allow["ok"], serde_json::json!({}), "{allow}");
    assert!(env.cli(&["status"]).ok().contains("unlocked"));
    let left = (
        count_in_memory(agent.pid(), tail(&passphrase)),
        count_in_memory(agent.pid(), tail(&wrong)),
    );
    assert_eq!(left, (0, 0), "copies left: (step-up passphrase, wrong one)");
    let log = env.log();
    assert!(
        !log.contains(&token) && !log.contains(&passphrase) && !log.contains(&wrong),
        "a secret reached the log"
    );
}

/// A secret piped to a command (`--secret-stdin`) leaves no copy in std's stdin buffer, which
/// nothing wipes: the command reads the line from the descriptor itself. Scanned while the
/// command waits on a stopped agent, after it sent the secret (and wiped what it sent).
#[test]
fn a_secret_read_from_stdin_leaves_no_copy_in_a_stdin_buffer() {
    use std::io::Write;
    use std::process::Stdio;
    let env = TestEnv::new();
    let agent = env.start_agent();
    env.init();
    let secret = unique("planted-stdin-secret-long-enough-that-its-tail-is-past-malloc-links");
    let signal = |name: &str, pid: i32| {
        let status = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP", agent.pid());
    let mut add = env.command();
    let mut child = add
        .args([
            "add",
            "probe",
            "--url",
            "https://probe.test/",
            "--secret-stdin",
        ])
        .args(["--socket", env.socket_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{secret}\n").as_bytes()).unwrap();
    let pid = child.id() as i32;
    common::wait_until("the command waits on the agent", || waits_on_a_socket(pid));
    // Stopped too, so that its own timeout cannot end it while a slow machine scans.
    signal("-STOP", pid);
    let with_newline = [tail(&secret), b"\n"].concat();
    let found = (
        count_in_memory(pid, b"https://probe.test/") > 0,
        count_in_memory(pid, &with_newline),
    );
    signal("-CONT", pid);
    signal("-CONT", agent.pid());
    drop(stdin);
    let _ = child.wait();
    assert_eq!(
        found,
        (true, 0),
        "(the scan sees the command's memory, copies of the line as piped)"
    );
}

/// True once `pid` has a socket open and has slept on it for a moment: it read its input and
/// waits for the agent's answer.
fn waits_on_a_socket(pid: i32) -> bool {
    let has_socket = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        });
    let sleeping = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('S'))
        })
    };
    has_socket && sleeping() && {
        std::thread::sleep(std::time::Duration::from_millis(300));
        sleeping()
    }
}
