//! The OS keychain for real: a private D-Bus session bus per test, with GNOME Keyring's Secret
//! Service on it (unlocked, locked, frozen) or nothing at all, and the kernel keyring in a session
//! keyring of the test's own. Covers the keyring store's whole core scenario, persistence across
//! agent and keychain restarts, `unlock --remember` / `forget`, and the absent, locked and silent
//! keychain: each must give a clear error within the keychain timeout, never a hang.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Output, PASSPHRASE, TestEnv, count_in_memory, unique, wait_until};

/// The login keyring's password inside the test's GNOME Keyring.
const KEYRING_PASSWORD: &str = "test keyring password";
/// credd's keychain timeout, and the margin a test allows on top of it for everything else.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(5);

/// A private D-Bus session bus with no service files (so nothing is ever auto-started on it),
/// optionally with gnome-keyring-daemon serving `org.freedesktop.secrets`. Every process it
/// started is killed when it is dropped, even when the test fails.
struct Bus {
    address: String,
    bus: Child,
    keyring: Option<Child>,
    /// The test's environment, for the daemons' HOME and XDG dirs.
    env: Vec<(String, PathBuf)>,
}

impl Bus {
    /// Starts the bus, with nothing on it.
    fn empty(env: &TestEnv) -> Self {
        let dir = env.dir.path().join("dbus");
        std::fs::create_dir_all(dir.join("services")).unwrap();
        let socket = dir.join("socket");
        let config = dir.join("bus.conf");
        std::fs::write(&config, bus_config(&socket, &dir.join("services"))).unwrap();
        let bus = Command::new(tool("dbus-daemon"))
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let root = env.dir.path();
        let bus = Self {
            address: format!("unix:path={}", socket.display()),
            bus,
            keyring: None,
            env: vec![
                ("HOME".into(), root.join("home")),
                ("XDG_RUNTIME_DIR".into(), root.join("run")),
                ("XDG_DATA_HOME".into(), root.join("data")),
                ("XDG_CONFIG_HOME".into(), root.join("config")),
                ("XDG_CACHE_HOME".into(), root.join("cache")),
            ],
        };
        wait_until("the D-Bus daemon listens", || {
            UnixStream::connect(&socket).is_ok()
        });
        bus
    }

    /// Starts the bus with an unlocked Secret Service.
    fn with_secret_service(env: &TestEnv) -> Self {
        let mut bus = Self::empty(env);
        bus.start_keyring(true);
        bus
    }

    /// Starts gnome-keyring-daemon; with `unlock`, it creates or unlocks the login keyring with
    /// [`KEYRING_PASSWORD`] read from stdin, else the login keyring stays locked. Returns once it
    /// owns `org.freedesktop.secrets`.
    fn start_keyring(&mut self, unlock: bool) {
        assert!(self.keyring.is_none(), "a keyring daemon runs already");
        let mut command = Command::new(tool("gnome-keyring-daemon"));
        command
            .args(["--foreground", "--components=secrets"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if unlock {
            command.arg("--unlock");
        }
        let mut child = command.spawn().expect("start gnome-keyring-daemon");
        let mut stdin = child.stdin.take().unwrap();
        if unlock {
            stdin.write_all(KEYRING_PASSWORD.as_bytes()).unwrap();
        }
        drop(stdin);
        self.keyring = Some(child);
        // D-Bus would otherwise route the first call nowhere: wait for the name.
        wait_until("gnome-keyring-daemon owns org.freedesktop.secrets", || {
            self.name_has_owner("org.freedesktop.secrets")
        });
    }

    /// Kills gnome-keyring-daemon and waits until its name is gone from the bus.
    fn stop_keyring(&mut self) {
        let mut child = self.keyring.take().expect("no keyring daemon runs");
        let _ = child.kill();
        let _ = child.wait();
        wait_until("org.freedesktop.secrets is gone", || {
            !self.name_has_owner("org.freedesktop.secrets")
        });
    }

    /// Sends `signal` to gnome-keyring-daemon (SIGSTOP freezes it: calls to it then hang).
    fn signal_keyring(&self, signal: i32) {
        let pid = self.keyring.as_ref().expect("no keyring daemon runs").id() as i32;
        // SAFETY: kill on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn name_has_owner(&self, name: &str) -> bool {
        let output = Command::new(tool("dbus-send"))
            .arg(format!("--bus={}", self.address))
            .args([
                "--print-reply",
                "--reply-timeout=2000",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
            ])
            .arg(format!("string:{name}"))
            .output()
            .expect("run dbus-send");
        String::from_utf8_lossy(&output.stdout).contains("boolean true")
    }

    /// Starts `credd daemon` on this bus.
    fn start_agent(&self, env: &TestEnv) -> Agent {
        start_agent(env, Some(&self.address))
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // SIGKILL ends a frozen (SIGSTOPped) daemon too.
        for child in self.keyring.iter_mut().chain([&mut self.bus]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A session bus that only this test's processes know of, with no service directory of the
/// system's: a missing Secret Service must not be auto-started behind the test's back.
fn bus_config(socket: &Path, services: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display(),
        services.display()
    )
}

/// The path of a program the tests need, or a failure that says how to get it.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is missing: run scripts/install-test-deps"))
}

/// Starts `credd daemon` with `bus` as its session bus (none: no D-Bus at all, since the test's
/// XDG_RUNTIME_DIR has no `bus` socket), and waits until it answers.
fn start_agent(env: &TestEnv, bus: Option<&str>) -> Agent {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log_path())
        .unwrap();
    let mut command = env.command();
    command
        .args(["daemon", "--socket"])
        .arg(&env.socket)
        .env("CREDD_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(address) = bus {
        command.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    let agent = Agent {
        child: command.spawn().expect("spawn credd daemon"),
    };
    wait_until("the agent listens", || {
        UnixStream::connect(&env.socket).is_ok()
    });
    agent
}

/// Stops the agent with `credd stop` and waits for it to exit.
fn stop(env: &TestEnv, mut agent: Agent) {
    env.cli(&["stop"]).ok();
    assert!(agent.wait_exit().success());
}

/// Gives this test thread a session keyring of its own, which every process it starts inherits:
/// the kernel keyring's items of one test never meet another's, and the keyring lives as long as
/// the test, across agent restarts.
fn join_new_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a null name joins a new anonymous keyring; no memory is passed.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    assert!(id > 0, "keyctl join: {}", std::io::Error::last_os_error());
}

/// The kernel keyring item holding the vault key of `env`, by the keyutils store's naming.
fn kernel_key_description(env: &TestEnv) -> String {
    format!("keyring:vault-key:{}@credd", env.vault().display())
}

/// Whether this test's session keyring holds the vault key of `env`.
fn kernel_key_present(env: &TestEnv) -> bool {
    Command::new(tool("keyctl"))
        .args(["search", "@s", "user", &kernel_key_description(env)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The vault key of `env` as the kernel keyring holds it.
fn kernel_key(env: &TestEnv) -> Vec<u8> {
    let id = Command::new(tool("keyctl"))
        .args(["search", "@s", "user", &kernel_key_description(env)])
        .output()
        .unwrap();
    assert!(id.status.success(), "no key in the session keyring");
    let id = String::from_utf8(id.stdout).unwrap();
    let key = Command::new(tool("keyctl"))
        .args(["pipe", id.trim()])
        .output()
        .unwrap();
    assert!(key.status.success(), "keyctl pipe: {key:?}");
    key.stdout
}

/// Removes the vault key of `env` from the kernel (the keyutils store also links it into the
/// user's persistent keyring), so a failed test leaves nothing behind.
struct KernelKeyCleanup<'a>(&'a TestEnv);

impl Drop for KernelKeyCleanup<'_> {
    fn drop(&mut self) {
        let _ = Command::new("keyctl")
            .args(["purge", "-s", "user", &kernel_key_description(self.0)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `credd ARGS`, asserting that it ends within the keychain timeout plus a margin.
#[track_caller]
fn timed(env: &TestEnv, args: &[&str]) -> (Output, Duration) {
    timed_with_input(env, args, "")
}

/// Runs `credd ARGS` with `stdin`, asserting that it ends within the keychain timeout plus a
/// margin.
#[track_caller]
fn timed_with_input(env: &TestEnv, args: &[&str], stdin: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = env.cli_with_input(args, stdin);
    let took = started.elapsed();
    assert!(
        took < KEYCHAIN_TIMEOUT + MARGIN,
        "credd {args:?} took {took:?}: {out:?}"
    );
    (out, took)
}

/// `credd unlock --remember` on an unlocked agent: the agent wants the passphrase for it.
fn remember(env: &TestEnv) -> Output {
    env.cli_with_input(
        &["unlock", "--remember", "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    )
}

/// `credd add NAME --url URL` with `secret`, returning the outcome.
fn add(env: &TestEnv, name: &str, url: &str, secret: &str, extra: &[&str]) -> Output {
    let mut args = vec!["add", name, "--url", url, "--secret-stdin"];
    args.extend(extra);
    env.cli_with_input(&args, &format!("{secret}\n"))
}

/// `credd init --store keyring`.
fn init_keyring(env: &TestEnv) -> Output {
    env.cli(&["init", "--store", "keyring"])
}

#[track_caller]
fn status_json(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(env.cli(&["status", "--json"]).ok()).unwrap()
}

/// Lists every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| {
                bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            }) {
                found.push(path);
            }
        }
    }
    found
}

/// The vault store's everyday scenario (tests/agent_cli.rs), on the keyring store.
#[test]
fn keyring_store_core_scenario() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::with_secret_service(&env);
    let _agent = bus.start_agent(&env);

    let init = init_keyring(&env);
    assert!(
        init.stderr.contains("created the keyring store"),
        "{init:?}"
    );
    let config = std::fs::read_to_string(env.dir.path().join("config/credd/config.toml")).unwrap();
    assert!(config.contains("store = \"keyring\""), "{config}");
    let status = status_json(&env);
    assert_eq!(status["store"], "keyring");
    assert_eq!(status["state"], "unlocked");
    assert_eq!(status["keychain"]["state"], "available");

    add(
        &env,
        "corp",
        "sparse+https://cargo.corp.test/index/",
        "tok-corp",
        &[],
    )
    .ok();
    let pypi = [
        "--username",
        "ci",
        "--expires",
        "2030-01-31",
        "--note",
        "robot",
    ];
    add(
        &env,
        "pypi",
        "https://pypi.corp.test/simple/",
        "pw-pypi",
        &pypi,
    )
    .ok();
    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok-corp\n");
    let json: serde_json::Value =
        serde_json::from_str(env.cli(&["get", "pypi", "--json"]).ok()).unwrap();
    assert_eq!(json["username"], "ci");
    assert_eq!(json["secret"], "pw-pypi");
    assert_eq!(json["expires"], 1_896_048_000);
    assert_eq!(
        env.cli(&["get", "--url", "https://cargo.corp.test/index/config.json"])
            .ok(),
        "tok-corp\n"
    );
    assert_eq!(
        env.cli(&["list"]).ok(),
        "corp\tsparse+https://cargo.corp.test/index/\t-\t-\tread+publish (no step-up)\n\
         pypi\thttps://pypi.corp.test/simple/\tci\t2030-01-31\tread+publish (no step-up)\n"
    );
    // No passphrase to step up with: publish credentials are refused, saying where they go.
    let publish = env.cli_with_input(
        &[
            "add",
            "corp-publish",
            "--url",
            "sparse+https://cargo.corp.test/index/",
            "--publish",
            "--secret-stdin",
        ],
        "tok-publish\n",
    );
    assert!(
        !publish.status.success()
            && publish
                .stderr
                .contains("keep publish credentials in a vault store"),
        "{publish:?}"
    );
    let listed = env.cli(&["list", "--json"]);
    assert!(!listed.ok().contains("tok-corp") && !listed.ok().contains("pw-pypi"));

    // Unique names unless replaced.
    let again = add(&env, "corp", "https://corp.test/", "second", &[]);
    assert_eq!(again.code(), 1, "{again:?}");
    assert!(again.stderr.contains("exists already"), "{again:?}");
    add(&env, "corp", "https://corp.test/", "second", &["--replace"]).ok();
    assert_eq!(env.cli(&["get", "corp"]).ok(), "second\n");

    env.cli(&["remove", "pypi"]).ok();
    let gone = env.cli(&["get", "pypi"]);
    assert_eq!(gone.code(), 4, "{gone:?}");
    assert_eq!(env.cli(&["remove", "pypi"]).code(), 4);

    env.cli(&["lock"]).ok();
    let locked = env.cli(&["get", "corp"]);
    assert_eq!(locked.code(), 3, "{locked:?}");
    // No passphrase: the unlock reads the secrets from the Secret Service.
    let unlock = env.cli(&["unlock"]);
    assert!(unlock.ok().is_empty() && unlock.stderr.contains("unlocked from the OS keychain"));
    assert_eq!(env.cli(&["get", "corp"]).ok(), "second\n");
    assert_eq!(
        env.cli(&["get", "pypi"]).code(),
        4,
        "the removed entry came back"
    );

    // Nothing of credd's on disk holds a secret; the entry list holds the metadata.
    let data = env.dir.path().join("data/credd");
    for secret in ["tok-corp", "second", "pw-pypi"] {
        assert_eq!(files_containing(&data, secret), Vec::<PathBuf>::new());
    }
    let entries = std::fs::read_to_string(data.join("keyring-entries.json")).unwrap();
    assert!(entries.contains("https://corp.test/"), "{entries}");
    assert!(
        entries.starts_with("{\n  \"store\": \"keyring\","),
        "{entries}"
    );
    assert!(!env.vault().exists());

    // A source entry marks the list so that a credd without sources refuses it; it survives a
    // lock, and once it is gone the list is readable by such a credd again.
    env.cli(&[
        "add",
        "cmd",
        "--url",
        "https://cmd.test/",
        "--token-command",
        "/bin/echo tok",
    ])
    .ok();
    let list = || std::fs::read_to_string(data.join("keyring-entries.json")).unwrap();
    assert!(
        list().starts_with("{\n  \"store\": \"keyring+sources\","),
        "{}",
        list()
    );
    env.cli(&["lock"]).ok();
    env.cli(&["unlock"]).ok();
    assert_eq!(env.cli(&["get", "cmd"]).ok(), "tok\n");
    env.cli(&["remove", "cmd"]).ok();
    assert!(
        list().starts_with("{\n  \"store\": \"keyring\","),
        "{}",
        list()
    );

    // What does not apply to the keyring store says so.
    let passwd = env.cli_with_input(&["passwd", "--passphrase-stdin"], "a\nb\n");
    assert!(
        passwd.stderr.contains("keyring store has no passphrase"),
        "{passwd:?}"
    );
    let remember = env.cli(&["unlock", "--remember"]);
    assert!(
        remember.stderr.contains("no passphrase to remember"),
        "{remember:?}"
    );
    let reinit = env.init_with(PASSPHRASE);
    assert!(
        reinit.stderr.contains("a keyring store already exists"),
        "{reinit:?}"
    );
}

/// The secrets live in the keychain: they survive a restart of the agent and of the Secret
/// Service, and the agent finds the store from its config.
#[test]
fn keyring_store_persists_across_agent_and_keychain_restarts() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    add(&env, "reg", "https://reg.test/index/", "tok-persisted", &[]).ok();
    stop(&env, agent);

    bus.stop_keyring();
    bus.start_keyring(true);
    let _agent = bus.start_agent(&env);
    let status = status_json(&env);
    assert_eq!(status["store"], "keyring");
    assert_eq!(status["state"], "locked");
    assert_eq!(status["vault"], true);
    assert_eq!(env.cli(&["get", "reg"]).code(), 3);
    env.cli(&["unlock"]).ok();
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-persisted\n");
}

/// Lookups are served from the agent's memory: with the Secret Service gone they keep working,
/// while writes and unlocks fail at once with an error that names what is missing.
#[test]
fn keyring_store_without_its_secret_service_serves_lookups_and_refuses_writes() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let _agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    add(&env, "reg", "https://reg.test/", "tok-in-memory", &[]).ok();
    bus.stop_keyring();

    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-in-memory\n");
    let (put, _) = timed_with_input(
        &env,
        &["add", "new", "--url", "https://new.test/", "--secret-stdin"],
        "tok-new\n",
    );
    assert_eq!(put.code(), 1);
    assert!(
        put.stderr
            .contains("no Secret Service: nothing provides org.freedesktop.secrets"),
        "{put:?}"
    );
    assert!(
        put.stderr.contains("start GNOME Keyring or KWallet") && !put.stderr.contains("init"),
        "advice that does not fit a keyring store in use: {put:?}"
    );
    assert_eq!(
        env.cli(&["get", "new"]).code(),
        4,
        "a failed put changed the agent"
    );
    assert!(env.cli(&["list"]).ok().starts_with("reg\t"));

    env.cli(&["lock"]).ok();
    let (unlock, _) = timed(&env, &["unlock"]);
    assert_eq!(unlock.code(), 1, "{unlock:?}");
    assert!(unlock.stderr.contains("no Secret Service"), "{unlock:?}");
    assert!(
        env.cli(&["status"])
            .ok()
            .contains("keychain: no Secret Service: nothing provides org.freedesktop.secrets")
    );
}

/// Headless, without any D-Bus: creating a keyring store fails at once and says why, and status
/// says so too, suggesting the vault store and offering the kernel keyring.
#[test]
fn without_dbus_the_keyring_store_is_refused_and_status_says_why() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let _agent = start_agent(&env, None);
    let (init, _) = timed(&env, &["init", "--store", "keyring"]);
    assert_eq!(init.code(), 1, "{init:?}");
    assert!(
        init.stderr
            .contains("no Secret Service: there is no D-Bus session bus"),
        "{init:?}"
    );
    assert!(init.stderr.contains("use the vault store"), "{init:?}");
    assert!(
        !env.dir
            .path()
            .join("data/credd/keyring-entries.json")
            .exists()
    );
    assert!(!env.dir.path().join("config/credd/config.toml").exists());

    wait_until("the agent has looked at the keychain", || {
        status_json(&env)["keychain"]["session_keyring"] == true
    });
    let status = env.cli(&["status"]);
    let text = status.ok();
    assert!(text.contains("keychain: no Secret Service"), "{text}");
    assert!(text.contains("use the vault store"), "{text}");
    assert!(
        text.contains("'credd unlock --remember' can keep the vault key in the kernel keyring"),
        "{text}"
    );
    // The vault store works as ever; once it exists, status no longer suggests creating one.
    env.init();
    let status = env.cli(&["status"]);
    let keychain_line = status
        .ok()
        .lines()
        .find(|line| line.starts_with("keychain:"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        keychain_line.contains("no Secret Service") && !keychain_line.contains("init"),
        "{keychain_line}"
    );
}

/// A bus with no Secret Service on it is told apart from no bus at all.
#[test]
fn a_bus_without_a_secret_service_is_named_as_such() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::empty(&env);
    let _agent = bus.start_agent(&env);
    let (init, _) = timed(&env, &["init", "--store", "keyring"]);
    assert_eq!(init.code(), 1, "{init:?}");
    assert!(
        init.stderr
            .contains("nothing provides org.freedesktop.secrets on the D-Bus session bus"),
        "{init:?}"
    );
}

/// A Secret Service whose login keyring is locked (and that cannot show a prompt here): unlock,
/// init and `--remember` fail fast with an error saying it is locked; a remembered vault key that
/// cannot be read falls back to the passphrase, saying why.
#[test]
fn a_locked_secret_service_gives_a_clear_error_within_the_timeout() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    env.init();
    env.add("reg", "https://reg.test/", "tok-locked");
    remember(&env).ok();
    stop(&env, agent);
    bus.stop_keyring();
    bus.start_keyring(false);

    let _agent = bus.start_agent(&env);
    wait_until("the agent tried its remembered key", || {
        env.log().contains("not unlocked at start")
    });
    assert_eq!(status_json(&env)["state"], "locked");
    let started = Instant::now();
    let unlock = env.cli_with_input(
        &["unlock", "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(started.elapsed() < KEYCHAIN_TIMEOUT + MARGIN);
    unlock.ok();
    assert!(
        unlock
            .stderr
            .contains("the Secret Service is locked (or has no default keyring): unlock it"),
        "{unlock:?}"
    );
    assert!(
        unlock.stderr.contains("asking for the passphrase instead"),
        "{unlock:?}"
    );
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-locked\n");

    let (remember, _) = timed_with_input(
        &env,
        &["unlock", "--remember", "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    );
    assert_eq!(remember.code(), 1, "{remember:?}");
    assert!(
        remember.stderr.contains("cannot remember the vault key")
            && remember.stderr.contains("the Secret Service is locked"),
        "{remember:?}"
    );
    let status = env.cli(&["status"]);
    assert!(
        status
            .ok()
            .contains("keychain: the Secret Service is locked"),
        "{status:?}"
    );
}

/// The keyring store on a locked Secret Service: unlock fails fast and says so.
#[test]
fn a_locked_secret_service_cannot_unlock_the_keyring_store() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    add(&env, "reg", "https://reg.test/", "tok-behind-lock", &[]).ok();
    stop(&env, agent);
    bus.stop_keyring();
    bus.start_keyring(false);
    let _agent = bus.start_agent(&env);
    let (unlock, _) = timed(&env, &["unlock"]);
    assert_eq!(unlock.code(), 1, "{unlock:?}");
    assert!(
        unlock.stderr.contains("the Secret Service is locked"),
        "{unlock:?}"
    );
    assert_eq!(env.cli(&["get", "reg"]).code(), 3);
}

/// A Secret Service that never answers (frozen with SIGSTOP): each call gives up after the
/// keychain timeout, other clients are served meanwhile, and the abandoned call, when it finally
/// completes, does not unlock the agent behind the user's back.
#[test]
fn a_secret_service_that_never_answers_costs_the_timeout_not_a_hang() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    add(&env, "reg", "https://reg.test/", "tok-frozen", &[]).ok();
    stop(&env, agent);
    let _agent = bus.start_agent(&env);
    wait_until("the agent has looked at the keychain", || {
        status_json(&env)["keychain"]["state"] == "available"
    });

    bus.signal_keyring(libc::SIGSTOP);
    let unlock = std::thread::spawn({
        let mut command = env.command();
        command.args(["unlock", "--socket", env.socket_str()]);
        move || {
            let started = Instant::now();
            (common::run_with_limit(command, ""), started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let status = env.cli(&["status"]);
    assert!(
        status.ok().contains("state: locked"),
        "status waited: {status:?}"
    );
    let (out, took) = unlock.join().unwrap();
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr
            .contains("the Secret Service did not answer within 3 s"),
        "{out:?}"
    );
    assert!(
        took >= KEYCHAIN_TIMEOUT && took < KEYCHAIN_TIMEOUT + MARGIN,
        "took {took:?}"
    );
    // The first call still hangs on the frozen daemon: the next one waits its turn, and gives
    // up after the same timeout.
    let (again, took) = timed(&env, &["unlock"]);
    assert!(
        again.stderr.contains("did not answer within 3 s"),
        "{again:?}"
    );
    assert!(took >= KEYCHAIN_TIMEOUT, "took {took:?}");

    bus.signal_keyring(libc::SIGCONT);
    // The abandoned calls complete now; give them time, then check they changed nothing.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(status_json(&env)["state"], "locked");
    env.cli(&["unlock"]).ok();
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-frozen\n");
}

/// A remember whose keychain does not answer in time may still store the key once it does: the
/// key counts as remembered from the start, so no publish credential can be stored beside it,
/// until `credd forget`.
#[test]
fn a_remember_that_times_out_still_guards_publish_credentials() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::with_secret_service(&env);
    let _agent = bus.start_agent(&env);
    env.init();
    wait_until("the agent has looked at the keychain", || {
        status_json(&env)["keychain"]["state"] == "available"
    });
    bus.signal_keyring(libc::SIGSTOP);
    let out = remember(&env);
    assert!(
        out.code() != 0
            && out
                .stderr
                .contains("counts it as remembered until 'credd forget'"),
        "{out:?}"
    );
    bus.signal_keyring(libc::SIGCONT);
    // The abandoned store completes now.
    std::thread::sleep(Duration::from_secs(1));
    let publish = add(&env, "p", "https://reg.test/", "tok-pub", &["--publish"]);
    assert!(
        publish.code() != 0 && publish.stderr.contains("run 'credd forget' first"),
        "{publish:?}"
    );
    env.cli(&["forget"]).ok();
    add(&env, "p", "https://reg.test/", "tok-pub", &["--publish"]).ok();
}

/// A remember that fails for good (the keychain is locked now) leaves the key remembered before
/// it as remembered: it is still in the keychain, so no publish credential goes beside it.
#[test]
fn a_failed_remember_keeps_the_earlier_one() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let _agent = bus.start_agent(&env);
    env.init();
    remember(&env).ok();
    bus.stop_keyring();
    bus.start_keyring(false);
    let again = remember(&env);
    assert!(
        again.code() != 0 && again.stderr.contains("the Secret Service is locked"),
        "{again:?}"
    );
    assert_eq!(status_json(&env)["remembered"], "secret-service");
    let publish = add(&env, "p", "https://reg.test/", "tok-pub", &["--publish"]);
    assert!(
        publish.code() != 0 && publish.stderr.contains("run 'credd forget' first"),
        "{publish:?}"
    );
}

/// `unlock --remember` keeps the vault key in the Secret Service: later unlocks and a freshly
/// started agent need no passphrase; `passwd` makes the key stale (and unlock says so); `forget`
/// removes it.
#[test]
fn remember_unlocks_without_the_passphrase_until_forget() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let mut bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    env.init();
    env.add("reg", "https://reg.test/", "tok-remembered");
    env.cli(&["lock"]).ok();
    let remember = env.cli_with_input(
        &["unlock", "--remember", "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(
        remember.ok().is_empty()
            && remember
                .stderr
                .contains("remembered the vault key in the Secret Service"),
        "{remember:?}"
    );
    assert_eq!(status_json(&env)["remembered"], "secret-service");

    env.cli(&["lock"]).ok();
    // No terminal and no stdin: only the remembered key can unlock.
    let unlock = env.cli(&["unlock"]);
    assert!(
        unlock
            .stderr
            .contains("unlocked with the vault key remembered in the Secret Service"),
        "{unlock:?}"
    );
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-remembered\n");

    // Cargo's provider, with no terminal, unlocks a locked agent from the keychain too.
    env.cli(&["lock"]).ok();
    let mut provider = env.command();
    provider
        .args(["--cargo-plugin"])
        .env("CREDD_SOCKET", &env.socket);
    let provider = common::without_tty(provider);
    let request =
        r#"{"v":1,"registry":{"index-url":"https://reg.test/"},"kind":"get","operation":"read"}"#;
    let reply = common::run_with_limit(provider, &format!("{request}\n"));
    assert!(
        reply.ok().contains(r#""token":"tok-remembered""#),
        "{reply:?}"
    );

    // An agent started later (at login) unlocks by itself.
    stop(&env, agent);
    let agent = bus.start_agent(&env);
    wait_until("the new agent unlocked itself", || {
        status_json(&env)["state"] == "unlocked"
    });
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-remembered\n");
    let log = env.log();
    assert!(
        log.contains("unlocked at start with the remembered vault key"),
        "{log}"
    );
    assert!(!log.contains("tok-remembered") && !log.contains(PASSPHRASE));

    // A new passphrase replaces the remembered key, so unlock still needs none.
    env.run(
        &["passwd", "--passphrase-stdin", "--socket", env.socket_str()],
        &format!("{PASSPHRASE}\nnewer passphrase\n"),
    )
    .ok();
    env.cli(&["lock"]).ok();
    let after_passwd = env.cli(&["unlock"]);
    assert!(
        after_passwd
            .stderr
            .contains("unlocked with the vault key remembered in the Secret Service"),
        "{after_passwd:?}"
    );

    // Changed while the keychain was away, the remembered key goes stale: unlock says so and asks.
    bus.stop_keyring();
    env.run(
        &["passwd", "--passphrase-stdin", "--socket", env.socket_str()],
        "newer passphrase\nnewest passphrase\n",
    )
    .ok();
    bus.start_keyring(true);
    env.cli(&["lock"]).ok();
    let stale = env.cli_with_input(&["unlock", "--passphrase-stdin"], "newest passphrase\n");
    stale.ok();
    assert!(
        stale.stderr.contains("no longer opens the vault")
            && stale.stderr.contains("asking for the passphrase instead"),
        "{stale:?}"
    );
    env.cli_with_input(
        &["unlock", "--remember", "--passphrase-stdin"],
        "newest passphrase\n",
    )
    .ok();

    let forget = env.cli(&["forget"]);
    assert!(
        forget.stderr.contains("forgot the remembered vault key"),
        "{forget:?}"
    );
    assert!(status_json(&env)["remembered"].is_null());
    assert!(
        env.cli(&["forget"])
            .stderr
            .contains("no vault key was remembered")
    );
    env.cli(&["lock"]).ok();
    let asks = env.cli(&["unlock"]);
    assert_eq!(asks.code(), 1, "{asks:?}");
    assert!(
        asks.stderr
            .contains("no terminal to ask for the passphrase"),
        "{asks:?}"
    );
    stop(&env, agent);
    let _agent = bus.start_agent(&env);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_json(&env)["state"], "locked");
}

/// Headless Linux without a Secret Service: `--remember` keeps the vault key in the kernel
/// keyring instead (for the login session), which a new agent in the same session uses.
#[test]
fn remember_falls_back_to_the_kernel_keyring_without_a_secret_service() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let _cleanup = KernelKeyCleanup(&env);
    let agent = start_agent(&env, None);
    env.init();
    env.add("reg", "https://reg.test/", "tok-kernel");
    let remember = remember(&env);
    assert!(
        remember
            .stderr
            .contains("no Secret Service, so the vault key is remembered in the kernel keyring")
            && remember.stderr.contains("a reboot empties it"),
        "{remember:?}"
    );
    assert!(kernel_key_present(&env), "no key in the session keyring");
    assert_eq!(status_json(&env)["remembered"], "kernel-keyutils");

    stop(&env, agent);
    let agent = start_agent(&env, None);
    wait_until("the new agent unlocked itself", || {
        status_json(&env)["state"] == "unlocked"
    });
    // The key read from the kernel leaves no copy in the agent once it locks.
    let key = kernel_key(&env);
    assert_eq!(key.len(), 32);
    assert!(
        count_in_memory(agent.pid(), &key) > 0,
        "the scan cannot see the key"
    );
    env.cli(&["lock"]).ok();
    assert_eq!(
        count_in_memory(agent.pid(), &key),
        0,
        "the vault key survived lock"
    );
    env.cli(&["unlock"]).ok();
    assert_eq!(env.cli(&["get", "reg"]).ok(), "tok-kernel\n");

    env.cli(&["forget"]).ok();
    assert!(!kernel_key_present(&env), "forget left the key");
    env.cli(&["lock"]).ok();
    assert_eq!(env.cli(&["unlock"]).code(), 1);
}

/// Code that can only talk to the agent cannot put the vault key where it could read it back:
/// `remember` needs the passphrase (a wrong one is refused and counted), a vault holding a
/// publish credential is never remembered, and no publish credential is stored while a key is.
/// Each attempt is in `credd log`.
#[test]
fn remember_needs_the_passphrase_and_a_vault_without_publish_credentials() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let _cleanup = KernelKeyCleanup(&env);
    let agent = start_agent(&env, None);
    env.init();
    let mut raw = env.connect_raw();
    let bare = raw.request(r#"{"v":1,"id":1,"op":"remember"}"#);
    assert_eq!(bare["error"]["kind"], "bad-request", "{bare}");
    let wrong = raw.request(r#"{"v":1,"id":2,"op":"remember","passphrase":"not the one"}"#);
    assert_eq!(wrong["error"]["kind"], "bad-passphrase", "{wrong}");
    assert!(
        !kernel_key_present(&env),
        "a wrong passphrase remembered the key"
    );

    add(
        &env,
        "corp-publish",
        "https://reg.test/",
        "tok-pub",
        &["--publish"],
    )
    .ok();
    let refused = remember(&env);
    assert!(
        refused.code() != 0
            && refused
                .stderr
                .contains("holds publish credentials (corp-publish)")
            && !kernel_key_present(&env),
        "{refused:?}"
    );

    env.cli(&["remove", "corp-publish"]).ok();
    remember(&env).ok();
    assert!(kernel_key_present(&env), "no key remembered");
    let publish = add(
        &env,
        "corp-publish",
        "https://reg.test/",
        "tok-pub",
        &["--publish"],
    );
    assert!(
        publish.code() != 0 && publish.stderr.contains("run 'credd forget' first"),
        "{publish:?}"
    );
    add(&env, "corp", "https://reg.test/", "tok-read", &[]).ok();

    let log = env.cli(&["log"]).ok().to_owned();
    for outcome in [
        "remember: bad-passphrase",
        "remember: bad-request",
        "remember: ok",
    ] {
        assert!(log.contains(outcome), "no {outcome:?} in {log}");
    }
    env.cli(&["forget"]).ok();
    assert!(env.cli(&["log"]).ok().contains("forget: ok"));
    stop(&env, agent);
}

/// The memory scan of tests/agent_memory.rs on the keyring store: after `lock`, no copy of a
/// secret that went through D-Bus to and from the Secret Service is left in the agent.
#[test]
fn keyring_store_lock_leaves_no_copy_in_agent_memory() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    let secret = unique("planted-keyring-secret-long-enough-that-its-tail-is-past-malloc-links");
    add(&env, "reg", "https://reg.test/index/", &secret, &[]).ok();
    env.cli(&["lock"]).ok();
    env.cli(&["unlock"]).ok();
    assert_eq!(env.cli(&["get", "reg"]).ok().trim_end(), secret);
    env.cli(&["list"]).ok();
    let tail = &secret.as_bytes()[secret.len() - 24..];
    assert!(
        count_in_memory(agent.pid(), tail) > 0,
        "the scan cannot see the unlocked secret"
    );
    env.cli(&["lock"]).ok();
    assert_eq!(
        count_in_memory(agent.pid(), tail),
        0,
        "copies left after lock"
    );
    assert!(!env.log().contains(&secret), "a secret reached the log");
}

/// A write the keychain does not answer (frozen, as behind an unlock prompt nobody answers)
/// goes on in the background after its timeout, holding only what it writes: after `lock`, no
/// other entry's secret is left in the agent.
#[test]
fn an_unanswered_keychain_write_holds_no_other_secret_past_lock() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let bus = Bus::with_secret_service(&env);
    let agent = bus.start_agent(&env);
    init_keyring(&env).ok();
    let kept = unique("kept-keyring-secret-long-enough-that-its-tail-is-past-malloc-links");
    add(&env, "kept", "https://kept.test/", &kept, &[]).ok();
    bus.signal_keyring(libc::SIGSTOP);
    let added = add(&env, "new", "https://new.test/", "tok-new", &[]);
    assert!(
        added.stderr.contains("did not answer within 3 s"),
        "{added:?}"
    );
    env.cli(&["lock"]).ok();
    let tail = &kept.as_bytes()[kept.len() - 24..];
    let left = count_in_memory(agent.pid(), tail);
    bus.signal_keyring(libc::SIGCONT);
    assert_eq!(left, 0, "copies of another entry's secret left after lock");
}

/// The live kernel keys (not invalidated, revoked or dead) that hold the vault key of `env`, in
/// any keyring this user can see (`/proc/keys` lists them all: session, user, persistent and the
/// keyrings of other processes and threads alike).
fn live_kernel_keys(env: &TestEnv) -> Vec<String> {
    let description = kernel_key_description(env);
    std::fs::read_to_string("/proc/keys")
        .expect("read /proc/keys")
        .lines()
        .filter(|line| line.ends_with(&format!(" {description}: 32")))
        .filter(|line| {
            let flags = line.split_whitespace().nth(1).unwrap_or_default();
            !flags.contains(['R', 'D', 'i'])
        })
        .map(str::to_owned)
        .collect()
}

/// Whether this test thread has no session keyring of its own, as in a login without PAM's
/// keyinit: its session keyring is then the user-session keyring.
fn without_session_keyring() -> bool {
    let id = |keyring: &str| {
        let out = Command::new(tool("keyctl"))
            .args(["show", keyring])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    id("@s") == id("@us")
}

/// An agent with no session keyring of its own (the kernel then gives every thread that asks for
/// one a keyring of its own) remembers into, and forgets from, one keyring: after each `forget`
/// no copy of the key is left anywhere.
#[test]
fn forget_leaves_no_copy_in_any_kernel_keyring() {
    // No join_new_session_keyring(): the agent runs as a login without a session keyring does.
    if !without_session_keyring() {
        eprintln!("this test thread has a session keyring: the per-thread case is not reached");
    }
    let env = TestEnv::new();
    let _cleanup = KernelKeyCleanup(&env);
    let agent = start_agent(&env, None);
    env.init();
    for round in 0..12 {
        remember(&env).ok();
        assert_eq!(
            live_kernel_keys(&env).len(),
            1,
            "round {round}: remember left not one key: {:?}",
            live_kernel_keys(&env)
        );
        env.cli(&["lock"]).ok();
        env.cli(&["unlock"]).ok();
        env.cli(&["forget"]).ok();
        assert_eq!(
            live_kernel_keys(&env),
            Vec::<String>::new(),
            "round {round}: forget left a copy"
        );
    }
    stop(&env, agent);
}

/// A `remember` that reports failure leaves nothing of the key in the kernel keyring: here the
/// marker beside the vault cannot be written (a directory holds its place).
#[test]
fn a_failed_remember_leaves_no_key_in_the_kernel_keyring() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let _cleanup = KernelKeyCleanup(&env);
    let agent = start_agent(&env, None);
    env.init();
    let mut marker = env.vault().into_os_string();
    marker.push(".remembered");
    std::fs::create_dir(&marker).unwrap();
    std::fs::write(std::path::Path::new(&marker).join("occupied"), "").unwrap();
    let remember = remember(&env);
    assert_ne!(remember.code(), 0, "{remember:?}");
    assert_eq!(live_kernel_keys(&env), Vec::<String>::new(), "{remember:?}");
    assert!(!kernel_key_present(&env));
    stop(&env, agent);
}

/// A `forget` with nothing remembered, on a host without D-Bus, leaves `status` saying that
/// there is no Secret Service (it looked for a key everywhere, and found none).
#[test]
fn forget_with_nothing_remembered_keeps_status_true_without_dbus() {
    join_new_session_keyring();
    let env = TestEnv::new();
    let agent = start_agent(&env, None);
    env.init();
    wait_until("the agent has looked at the keychain", || {
        status_json(&env)["keychain"]["session_keyring"] == true
    });
    let before = status_json(&env)["keychain"].clone();
    assert_eq!(before["state"], "absent", "{before}");
    let forget = env.cli(&["forget"]);
    assert_eq!(forget.code(), 0, "{forget:?}");
    let after = status_json(&env)["keychain"].clone();
    assert_eq!(after, before, "forget changed what status says");
    stop(&env, agent);
}
