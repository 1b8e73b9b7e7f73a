//! systemd: socket activation through the real `systemd-socket-activate`, the installed units
//! under a real, throw-away `systemd --user` manager with its own journald, and
//! `systemd-analyze verify` on those units.

mod common;

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Output, TestEnv, mode_of, run_with_limit, wait_until};

const SECRET: &str = "s3cret-token-for-systemd";
const INDEX: &str = "https://reg.test/index/";
const ENABLE: &str = "systemctl --user enable --now credd.socket";

/// The variables of `env`'s credd commands, to give to the tools that start credd.
fn env_vars(env: &TestEnv) -> Vec<(OsString, OsString)> {
    env.command()
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect()
}

/// A command for `program` with exactly `env`'s variables.
fn command_in(env: &TestEnv, program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(env_vars(env))
        .current_dir(env.dir.path());
    command
}

/// `credd status --json` as JSON.
fn status(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(env.cli(&["status", "--json"]).ok()).unwrap()
}

/// The token `credd --cargo-plugin` gives Cargo for [`INDEX`], found through `CREDD_SOCKET`.
fn cargo_token(env: &TestEnv) -> String {
    let mut command = env.command();
    command
        .arg("--cargo-plugin")
        .env("CREDD_SOCKET", &env.socket);
    let request = format!(
        r#"{{"v":1,"registry":{{"index-url":"{INDEX}"}},"kind":"get","operation":"read"}}"#
    );
    let out = run_with_limit(command, &format!("{request}\n"));
    let reply = out.ok().lines().nth(1).expect("no reply to the request");
    let reply: serde_json::Value = serde_json::from_str(reply).unwrap();
    reply["Ok"]["token"].as_str().expect("no token").to_owned()
}

/// init, lock, unlock, add and get through the CLI, then get through the Cargo provider.
fn use_the_agent(env: &TestEnv) {
    env.init();
    env.cli(&["lock"]).ok();
    assert_eq!(env.cli(&["get", "reg"]).code(), 3, "not locked");
    env.unlock().ok();
    env.add("reg", INDEX, SECRET);
    assert_eq!(env.cli(&["get", "reg"]).ok().trim_end(), SECRET);
    assert_eq!(cargo_token(env), SECRET);
}

/// `credd daemon` behind `systemd-socket-activate`, which execs it, with its fd 3, on the first
/// connection to `socket`; killed when dropped.
struct Activated {
    child: Child,
}

impl Activated {
    fn start(env: &TestEnv, socket: &Path) -> Self {
        let log = std::fs::File::create(env.log_path()).unwrap();
        let mut command = command_in(env, "systemd-socket-activate");
        command.arg("--listen").arg(socket);
        // It passes on only the variables named here.
        for var in [
            "XDG_RUNTIME_DIR",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "CREDD_LOG",
        ] {
            command.args(["-E", var]);
        }
        let child = command
            .args([env!("CARGO_BIN_EXE_credd"), "daemon"])
            .env("CREDD_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run systemd-socket-activate");
        wait_until("systemd-socket-activate listens", || socket.exists());
        Self { child }
    }

    fn pid(&self) -> u64 {
        self.child.id().into()
    }

    fn signal_term(&self) {
        // SAFETY: kill on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("the agent exits", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh [`TestEnv`] with the run dir's `credd` subdirectory made as systemd would (0700).
fn env_with_socket_dir() -> TestEnv {
    let env = TestEnv::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(env.socket.parent().unwrap())
        .unwrap();
    env
}

#[test]
fn socket_activation_serves_the_cli_and_cargo_on_the_passed_socket() {
    let env = env_with_socket_dir();
    let mut agent = Activated::start(&env, &env.socket);
    let inode = std::fs::metadata(&env.socket).unwrap().ino();

    let first = status(&env);
    assert_eq!(first["state"], "locked");
    assert_eq!(
        first["pid"],
        agent.pid(),
        "another agent answered, not the activated one"
    );
    use_the_agent(&env);

    let log = env.log();
    assert!(log.contains("activated=true"), "{log}");
    assert!(!log.contains("stale socket"), "{log}");
    assert!(!log.contains("clients look for"), "{log}");
    // systemd-socket-activate makes the socket 0644: the agent says how to fix that.
    assert!(log.contains("has mode 644"), "{log}");
    let socket_dir: Vec<_> = std::fs::read_dir(env.socket.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        socket_dir,
        ["credd.sock"],
        "the agent made files of its own"
    );

    agent.signal_term();
    assert_eq!(agent.wait_exit().code(), Some(0));
    assert!(env.log().contains("secrets wiped, agent stopped"));
    assert_eq!(
        std::fs::metadata(&env.socket).unwrap().ino(),
        inode,
        "the agent replaced or removed the socket systemd owns"
    );
}

#[test]
fn socket_activation_warns_when_the_socket_is_not_where_clients_look() {
    let env = env_with_socket_dir();
    // A private directory (clients refuse others), but not where clients look by default.
    let elsewhere = env.dir.path().join("run/elsewhere.sock");
    let _agent = Activated::start(&env, &elsewhere);
    let out = env.run(&["status", "--socket", elsewhere.to_str().unwrap()], "");
    assert!(out.ok().contains("state: locked"), "{out:?}");
    let log = env.log();
    let expected = format!(
        "systemd passed the socket {}, but clients look for {}",
        elsewhere.display(),
        env.socket.display()
    );
    assert!(log.contains(&expected), "{log}");
}

#[test]
fn idle_exit_ends_a_locked_activated_agent_only() {
    let env = env_with_socket_dir();
    env.write_config("idle-exit = 1\n");
    let mut agent = Activated::start(&env, &env.socket);
    env.init();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "an unlocked agent exited"
    );
    env.cli(&["lock"]).ok();
    assert_eq!(agent.wait_exit().code(), Some(0));
    assert!(env.log().contains("idle-exit"), "{}", env.log());
    assert!(env.socket.exists(), "the agent removed systemd's socket");

    // Without socket activation the key changes nothing.
    let plain = TestEnv::new();
    plain.write_config("idle-exit = 1\n");
    let mut daemon = plain.start_agent();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "a daemon that was not socket-activated exited: {}",
        plain.log()
    );
}

/// Runs `credd daemon` with `NOTIFY_SOCKET` naming a datagram socket of the test, and `extra`
/// variables, until SIGTERM; returns what it sent there.
fn notifications(extra: &[(&str, &str)]) -> Vec<String> {
    let env = TestEnv::new();
    let path = env.dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let log = std::fs::File::create(env.log_path()).unwrap();
    let child = env
        .command()
        .args(["daemon", "--socket"])
        .arg(&env.socket)
        .env("NOTIFY_SOCKET", &path)
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn credd daemon");
    let mut agent = common::Agent { child };
    wait_until("the agent listens", || {
        env.log().contains("agent listening")
    });
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit().code(), Some(0));
    // The agent has exited: all it sent is queued.
    socket.set_nonblocking(true).unwrap();
    let mut sent = Vec::new();
    let mut buf = [0; 256];
    while let Ok(n) = socket.recv(&mut buf) {
        sent.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    sent
}

#[test]
fn ready_and_stopping_go_only_to_the_manager_that_started_the_agent() {
    assert_eq!(notifications(&[]), ["READY=1\n", "STOPPING=1\n"]);
    // A client started this agent, and systemd started the client.
    let inherited = notifications(&[("SYSTEMD_EXEC_PID", "1")]);
    assert!(inherited.is_empty(), "{inherited:?}");
}

/// Runs `credd setup systemd` with the binary `exe` and returns the line it prints.
fn setup_systemd(env: &TestEnv, exe: &Path) -> String {
    let template = env.command();
    let mut command = Command::new(exe);
    command
        .env_clear()
        .envs(template.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(env.dir.path())
        .args(["setup", "systemd"]);
    let out = run_with_limit(command, "");
    assert_eq!(out.ok(), format!("{ENABLE}\n"), "{out:?}");
    out.stdout.trim_end().to_owned()
}

#[test]
fn setup_warns_about_an_agent_started_by_hand_and_gives_the_real_reason_for_a_socket() {
    let env = TestEnv::new();
    // The default socket is where credd.socket listens: no socket warning, no agent yet.
    let quiet = env.run(&["setup", "systemd"], "");
    quiet.ok();
    assert!(!quiet.stderr.contains("warning"), "{}", quiet.stderr);

    let agent = env.start_agent();
    let other_socket = env.dir.path().join("elsewhere.sock");
    let elsewhere = env.run(
        &[
            "setup",
            "systemd",
            "--socket",
            other_socket.to_str().unwrap(),
        ],
        "",
    );
    elsewhere.ok();
    assert!(
        elsewhere
            .stderr
            .contains(&format!("an agent runs already (pid {}", agent.pid()))
            && elsewhere.stderr.contains("'credd stop'"),
        "{}",
        elsewhere.stderr
    );
    assert!(
        elsewhere.stderr.contains("leave --socket out")
            && !elsewhere.stderr.contains("unset CREDD_SOCKET"),
        "{}",
        elsewhere.stderr
    );
    let mut command = env.command();
    command
        .args(["setup", "systemd"])
        .env("CREDD_SOCKET", &other_socket);
    let named = run_with_limit(command, "");
    assert!(
        named.stderr.contains("unset CREDD_SOCKET"),
        "{}",
        named.stderr
    );
}

fn unit_dir(env: &TestEnv) -> PathBuf {
    env.dir.path().join("config/systemd/user")
}

/// `systemd-analyze --user verify` on `units`; it exits 0 on bad values, so its stderr counts.
fn verify(env: &TestEnv, units: &[PathBuf]) -> Output {
    let mut command = command_in(env, "systemd-analyze");
    command.args(["--user", "verify", "--man=no"]).args(units);
    run_with_limit(command, "")
}

#[test]
fn installed_units_pass_systemd_analyze_verify() {
    let env = TestEnv::new();
    setup_systemd(&env, Path::new(env!("CARGO_BIN_EXE_credd")));
    let units = [
        unit_dir(&env).join("credd.socket"),
        unit_dir(&env).join("credd.service"),
    ];
    let service = std::fs::read_to_string(&units[1]).unwrap();
    let data_dir = env.dir.path().join("data/credd");
    let exec = format!("\nExecStart={} daemon\n", common::CREDD_FULL);
    assert!(service.contains(&exec), "{service}");
    let rw = format!("\nReadWritePaths={}\n", data_dir.display());
    assert!(service.contains(&rw), "{service}");
    assert_eq!(mode_of(&data_dir), 0o700);

    let out = verify(&env, &units);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stderr, "", "systemd-analyze warned");

    // The check bites: a bad line makes systemd-analyze warn (in an environment without the
    // installed units, which it would read instead).
    let other = TestEnv::new();
    let broken = [
        other.dir.path().join("credd.socket"),
        other.dir.path().join("credd.service"),
    ];
    std::fs::copy(&units[0], &broken[0]).unwrap();
    let bad = service.replace("UMask=0077", "UMask=0077\nNoSuchKey=1");
    std::fs::write(&broken[1], bad).unwrap();
    let out = verify(&other, &broken);
    assert!(out.stderr.contains("NoSuchKey"), "{out:?}");
}

/// A throw-away `systemd --user` manager with its own journald, in a private mount namespace and
/// cgroup (see [`BOOT`]): nothing of it shows outside. Stopped, with everything it started and
/// its cgroups, when dropped.
struct UserManager {
    /// The shell that starts journald and the manager and stops both on SIGTERM.
    shell: Child,
    /// The manager's `XDG_RUNTIME_DIR`.
    runtime: PathBuf,
    /// The shell's private mount namespace, once it is in it: whatever still runs there on drop
    /// is killed.
    namespace: Option<PathBuf>,
    /// Agent processes seen, killed on drop if the manager left any.
    agents: Vec<u32>,
}

/// Run by `sh` in a new mount namespace: a cgroup of its own, so that the manager, which moves
/// every process of its cgroup into an `init.scope`, moves only these; tmpfs over `/run/systemd`
/// (with the `system` dir that systemd needs to run) and the journal's places; then journald and
/// the manager, both stopped on SIGTERM.
const BOOT: &str = r#"
trap 'kill -TERM $manager; wait $manager; kill -TERM $journald; wait $journald; exit 0' TERM
for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [ -f $hierarchy/cgroup.procs ]; then
        mkdir $hierarchy/credd-test-$$ && echo $$ > $hierarchy/credd-test-$$/cgroup.procs || exit 1
    fi
done
mount -t tmpfs -o mode=0755 tmpfs /run/systemd || exit 1
mkdir /run/systemd/system || exit 1
mount -t tmpfs -o mode=0755 tmpfs /run/log || exit 1
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal || exit 1; fi
/lib/systemd/systemd-journald &
journald=$!
tries=0
until [ -S /run/systemd/journal/stdout ]; do
    tries=$((tries + 1)); [ $tries -lt 200 ] || exit 1; sleep 0.05
done
/lib/systemd/systemd --user &
manager=$!
wait $manager
kill -TERM $journald
wait $journald
"#;

impl UserManager {
    fn start(env: &TestEnv) -> Self {
        let log = std::fs::File::create(env.dir.path().join("manager.log")).unwrap();
        let shell = command_in(env, "unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", BOOT])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run unshare");
        let mut manager = Self {
            shell,
            runtime: env.dir.path().join("run"),
            namespace: None,
            agents: Vec::new(),
        };
        wait_until("unshare makes a mount namespace", || {
            manager.namespace = private_namespace(manager.shell.id());
            manager.namespace.is_some()
        });
        let init_cgroups = std::fs::read_to_string("/proc/1/cgroup").unwrap();
        wait_until("the user manager runs", || {
            let state = manager.systemctl(&["is-system-running"]).stdout;
            matches!(state.trim(), "running" | "degraded")
        });
        let now = std::fs::read_to_string("/proc/1/cgroup").unwrap();
        assert_eq!(
            now, init_cgroups,
            "the manager moved processes outside its cgroup"
        );
        manager
    }

    /// A command run inside the manager's mount namespace, reaching the manager through its
    /// runtime dir.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .args(["--mount", "--target", &self.shell.id().to_string()])
            .args(args);
        command
    }

    fn systemctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["systemctl", "--user"];
        all.extend(args);
        run_with_limit(self.command(&all), "")
    }

    /// A property of credd.service, such as `ActiveState` or `MainPID`.
    fn service(&self, property: &str) -> String {
        let out = self.systemctl(&["show", "--value", "-p", property, "credd.service"]);
        out.ok().trim().to_owned()
    }

    /// The agent's own journal entries (journald's native protocol, not its stderr).
    fn journal(&self, pid: u32) -> Vec<serde_json::Value> {
        let pid = format!("_PID={pid}");
        let args = [
            "journalctl",
            "--no-pager",
            "-o",
            "json",
            "SYSLOG_IDENTIFIER=credd",
            &pid,
        ];
        let out = run_with_limit(self.command(&args), "");
        out.ok()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.shell.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.shell.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever did not stop in time: what runs in the private namespace (the shell,
        // journald, the manager), and the agents, which live in namespaces of their own.
        let leftovers = self
            .namespace
            .as_deref()
            .map(processes_in)
            .unwrap_or_default();
        let agents = self.agents.iter().copied().filter(|&pid| is_credd(pid));
        for pid in leftovers.into_iter().chain(agents) {
            // SAFETY: kill on processes this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
        remove_cgroups(&format!("credd-test-{}", self.shell.id()));
    }
}

/// Removes cgroup `name`, with what the manager made under it, from every cgroup hierarchy;
/// retries while the killed processes leave.
fn remove_cgroups(name: &str) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dirs: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let is_cgroup = matches!(fs.split_whitespace().next(), Some("cgroup" | "cgroup2"));
            let dir = mount.split_whitespace().nth(4)?;
            is_cgroup.then(|| Path::new(dir).join(name))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while dirs.iter().any(|dir| dir.exists()) && Instant::now() < deadline {
        dirs.iter().for_each(|dir| remove_tree(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the cgroup `dir` after its children (cgroup directories hold only virtual files).
fn remove_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// `pid`'s mount namespace, when it is not this process's.
fn private_namespace(pid: u32) -> Option<PathBuf> {
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    (theirs != ours).then_some(theirs)
}

/// The processes in mount namespace `ns`.
fn processes_in(ns: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/mnt")).is_ok_and(|link| link == ns))
        .collect()
}

/// True while `pid` runs this test's agent, credd-full (the build, or its copy outside /tmp).
fn is_credd(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe == Path::new(common::CREDD_FULL)
            || (exe.starts_with(outside_tmp_root()) && exe.ends_with("bin/credd-full"))
    })
}

/// True for paths that the unit's `PrivateTmp=` hides from the agent.
fn under_tmp(path: &Path) -> bool {
    path.starts_with("/tmp") || path.starts_with("/var/tmp")
}

/// Where tests put what the sandboxed agent must see: the target dir, unless it is itself under
/// /tmp (a CI clone there), then a directory of root's own.
fn outside_tmp_root() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if !under_tmp(target) {
        return target.to_owned();
    }
    let root = PathBuf::from("/var/lib/credd-tests");
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A [`TestEnv`] outside /tmp and /var/tmp, which the unit's `PrivateTmp=` hides from the agent,
/// and the credd binary to install: a copy inside the env when the build is under /tmp.
fn env_outside_tmp() -> (TestEnv, PathBuf) {
    let dir = tempfile::tempdir_in(outside_tmp_root()).unwrap();
    for sub in ["run", "data", "config", "home", "bin"] {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir.path().join(sub))
            .unwrap();
    }
    let built = Path::new(env!("CARGO_BIN_EXE_credd"));
    let exe = if under_tmp(built) {
        common::copy_binaries(&dir.path().join("bin"), 0o755)
    } else {
        built.to_owned()
    };
    let socket = dir.path().join("run/credd/credd.sock");
    (TestEnv { dir, socket }, exe)
}

/// A line of `/proc/PID/status`, such as `NoNewPrivs`.
fn proc_status(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_owned()
}

/// The first connection starts the service; returns its pid once systemd has it `active`.
fn connect_and_start(env: &TestEnv, manager: &mut UserManager) -> u32 {
    let reply = status(env);
    assert_eq!(reply["state"], "locked", "{reply}");
    let pid = u32::try_from(reply["pid"].as_u64().unwrap()).unwrap();
    manager.agents.push(pid);
    // Type=notify: `active` only once the agent said READY=1.
    wait_until("credd.service is active", || {
        manager.service("ActiveState") == "active"
    });
    assert_eq!(manager.service("MainPID"), pid.to_string());
    pid
}

/// Asserts the sandbox of credd.service holds for the agent `pid`.
fn assert_sandboxed(env: &TestEnv, pid: u32) {
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    // Seccomp filters: SystemCallArchitectures=, MemoryDenyWriteExecute=, RestrictRealtime=, ...
    assert_eq!(proc_status(pid, "Seccomp"), "2");
    assert_eq!(proc_status(pid, "Umask"), "0077");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    // ProtectSystem=strict: read-only beyond ReadWritePaths=, seen from the agent's namespace.
    let root = format!("/proc/{pid}/root");
    let config_probe = format!("{root}{}/probe", env.dir.path().join("config").display());
    let error = std::fs::write(&config_probe, "x").unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EROFS), "{error}");
    let data_probe = format!(
        "{root}{}/probe",
        env.dir.path().join("data/credd").display()
    );
    std::fs::write(&data_probe, "x").unwrap();
    std::fs::remove_file(&data_probe).unwrap();
}

/// Waits until the journal holds the agent's entry `message`, and returns its `PRIORITY`.
fn journal_priority(manager: &UserManager, pid: u32, message: &str) -> String {
    let mut priority = None;
    wait_until(&format!("the journal has {message:?}"), || {
        let entries = manager.journal(pid);
        let entry = entries.iter().find(|e| e["MESSAGE"] == message);
        priority = entry.map(|e| {
            assert_eq!(e["_TRANSPORT"], "journal", "not native: {e}");
            e["PRIORITY"].as_str().unwrap().to_owned()
        });
        priority.is_some()
    });
    priority.unwrap()
}

#[test]
fn units_under_a_real_user_manager() {
    let (env, exe) = env_outside_tmp();
    let mut manager = UserManager::start(&env);
    let line = setup_systemd(&env, &exe);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[..2], ["systemctl", "--user"]);
    manager.systemctl(&words[2..]).ok();

    // systemd holds the socket; no agent runs before the first client.
    assert_eq!(mode_of(env.socket.parent().unwrap()), 0o700);
    assert_eq!(mode_of(&env.socket), 0o600);
    assert_eq!(manager.service("ActiveState"), "inactive");

    let pid = connect_and_start(&env, &mut manager);
    use_the_agent(&env);
    assert_sandboxed(&env, pid);
    assert!(!env.dir.path().join("run/credd/credd.sock.lock").exists());

    // Logs go to journald natively, with levels: info is notice (5), warn is warning (4).
    env.cli(&["lock"]).ok();
    let wrong = env.cli_with_input(&["unlock", "--passphrase-stdin"], "wrong\n");
    assert_ne!(wrong.code(), 0, "{wrong:?}");
    assert_eq!(journal_priority(&manager, pid, "agent listening"), "5");
    assert_eq!(journal_priority(&manager, pid, "wrong passphrase"), "4");
    manager.systemctl(&["reload", "credd.service"]).ok();
    journal_priority(&manager, pid, "SIGHUP: config reloaded");

    // Stopping wipes the secrets with the process; the next client starts a fresh, locked agent.
    env.write_config("idle-exit = 3\n");
    manager.systemctl(&["stop", "credd.service"]).ok();
    assert_eq!(manager.service("ActiveState"), "inactive");
    assert!(!is_credd(pid), "the agent still runs");
    assert_eq!(
        mode_of(&env.socket),
        0o600,
        "the socket went with the service"
    );
    let fresh = connect_and_start(&env, &mut manager);
    assert_ne!(fresh, pid);
    assert_eq!(
        env.cli(&["get", "reg"]).code(),
        3,
        "a fresh agent is not locked"
    );

    // idle-exit: locked and unused, the agent exits; the socket starts it again.
    wait_until("the idle agent exits", || {
        manager.service("ActiveState") == "inactive"
    });
    let again = connect_and_start(&env, &mut manager);
    assert_ne!(again, fresh);
    env.unlock().ok();
    assert_eq!(env.cli(&["get", "reg"]).ok().trim_end(), SECRET);
}
