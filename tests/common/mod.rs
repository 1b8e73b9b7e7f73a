//! Test harness: a real `credd` agent process on a temp socket, with HOME and every XDG dir in a
//! temp folder, driven through the real CLI or raw socket connections.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The passphrase tests use; vaults are created with the cheapest KDF.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// Debian's Python (scripts/install-test-deps installs it), for code the tests run as another
/// user: a Python under root's home (pyenv) cannot be run by them.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// How long any one CLI call may take before the test fails instead of hanging.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// An isolated home for one test.
pub struct TestEnv {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
    /// The agent's socket.
    pub socket: PathBuf,
}

/// What a finished CLI call printed.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// The exit code (panics if killed by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().expect("killed by a signal")
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(self.status.success(), "credd failed: {self:?}");
        &self.stdout
    }
}

impl TestEnv {
    /// A fresh environment with no agent and no vault.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["run", "data", "config", "home"] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.path().join(sub))
                .unwrap();
        }
        let socket = dir.path().join("run/credd/credd.sock");
        Self { dir, socket }
    }

    /// Writes the agent's config file.
    pub fn write_config(&self, toml: &str) {
        let dir = self.dir.path().join("config/credd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), toml).unwrap();
    }

    /// The vault file.
    pub fn vault(&self) -> PathBuf {
        self.dir.path().join("data/credd/vault")
    }

    /// The agent's log file (for agents started with [`Self::start_agent`]).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// A `credd` command with only this environment's variables.
    pub fn command(&self) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_credd")))
    }

    /// `program` with only this environment's variables.
    pub fn command_of(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        let root = self.dir.path();
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", root.join("home"))
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("TMPDIR", root)
            .current_dir(root);
        command
    }

    /// Runs `credd ARGS` with `stdin` as input, failing the test if it takes too long.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.command();
        command.args(args);
        run_with_limit(command, stdin)
    }

    /// Starts `credd daemon` at the most verbose log level, logging into [`Self::log_path`], and
    /// waits until it answers.
    pub fn start_agent(&self) -> Agent {
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = self
            .command()
            .args(["daemon", "--socket"])
            .arg(&self.socket)
            .env("CREDD_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn credd daemon");
        let agent = Agent { child };
        wait_until("the agent listens", || {
            UnixStream::connect(&self.socket).is_ok()
        });
        agent
    }

    /// Creates a vault with the test passphrase and the cheapest KDF; leaves it unlocked.
    pub fn init(&self) {
        self.init_with(PASSPHRASE).ok();
    }

    /// Creates a vault holding `entries`, in one write through credd's own vault code, with the
    /// test passphrase and the cheapest KDF: thousands of `put`s would each rewrite the vault.
    /// The agent is then started locked; unlock it with [`Self::unlock`].
    pub fn init_with_entries(&self, entries: &[credd_protocol::Entry]) {
        let vault = credd::store::vault::VaultFile::new(self.vault());
        let kdf = credd_protocol::KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        };
        let key = vault
            .create(&credd_protocol::Secret::new(PASSPHRASE), kdf)
            .unwrap();
        key.save(entries).unwrap();
    }

    /// Runs `credd init` with `passphrase` on stdin and the cheapest KDF.
    pub fn init_with(&self, passphrase: &str) -> Output {
        let args = [
            "init",
            "--passphrase-stdin",
            "--kdf-memory",
            "64",
            "--kdf-passes",
            "1",
        ];
        self.cli_with_input(&args, &format!("{passphrase}\n"))
    }

    /// Runs `credd ARGS --socket SOCKET` with `stdin` as input.
    pub fn cli_with_input(&self, args: &[&str], stdin: &str) -> Output {
        let mut all = args.to_vec();
        all.extend(["--socket", self.socket_str()]);
        self.run(&all, stdin)
    }

    /// Adds an entry with `secret`.
    pub fn add(&self, name: &str, url: &str, secret: &str) {
        self.run(
            &[
                "add",
                name,
                "--url",
                url,
                "--secret-stdin",
                "--socket",
                self.socket_str(),
            ],
            &format!("{secret}\n"),
        )
        .ok();
    }

    /// Runs `credd ARGS --socket SOCKET` with no input.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_input(args, "")
    }

    /// `credd unlock` with the test passphrase.
    pub fn unlock(&self) -> Output {
        self.run(
            &[
                "unlock",
                "--passphrase-stdin",
                "--socket",
                self.socket_str(),
            ],
            &format!("{PASSPHRASE}\n"),
        )
    }

    /// The socket path as text.
    pub fn socket_str(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A raw connection to the agent, with a read timeout so that a test never hangs.
    pub fn connect_raw(&self) -> RawClient {
        let stream = UnixStream::connect(&self.socket).expect("connect to the agent");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }
}

/// A running `credd daemon`; killed when dropped.
pub struct Agent {
    /// The process.
    pub child: Child,
}

impl Agent {
    /// The agent's process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for the agent to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-oriented raw socket client for protocol-level tests.
pub struct RawClient {
    /// The connection.
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl RawClient {
    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one reply line as JSON; `None` when the agent closed the connection.
    pub fn recv(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad reply {line:?}: {e}")),
            ),
            Err(e) => panic!("no reply: {e}"),
        }
    }

    /// Sends one line and reads its reply.
    pub fn request(&mut self, line: &str) -> serde_json::Value {
        self.send(format!("{line}\n").as_bytes());
        self.recv().expect("the agent closed the connection")
    }

    /// True when the agent has closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
    }
}

/// Polls `ready` until it holds, failing the test after 10 s.
pub fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    wait_until_within(what, Duration::from_secs(10), ready);
}

/// Polls `ready` until it holds, failing the test after `limit`.
pub fn wait_until_within(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` with `stdin`, killing it and failing the test after [`CALL_LIMIT`].
pub fn run_with_limit(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn credd");
    // A command that exits before reading its input (a usage error) closes the pipe: fine.
    if let Err(error) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {error}"
        );
    }
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || read_all(&mut stdout));
    let err_reader = std::thread::spawn(move || read_all(&mut stderr));
    let deadline = Instant::now() + CALL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not finish within {CALL_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn read_all(source: &mut impl Read) -> String {
    let mut text = String::new();
    let _ = source.read_to_string(&mut text);
    text
}

/// Counts the occurrences of `needle` in the readable memory of process `pid`, by reading
/// `/proc/PID/maps` and `/proc/PID/mem` as an attacker with root would.
pub fn count_in_memory(pid: i32, needle: &[u8]) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .expect("open /proc/PID/mem (tests must run as root)");
    let mut found = 0;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        found += count_in_region(&mut mem, start, end, needle);
    }
    found
}

fn count_in_region(mem: &mut std::fs::File, start: u64, end: u64, needle: &[u8]) -> usize {
    use std::io::{Seek, SeekFrom};
    let mut region = vec![0u8; (end - start) as usize];
    if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
        return 0;
    }
    region
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Runs the shell command `line` on a pseudo-terminal (util-linux `script`), in this environment,
/// and answers its prompts like a
/// person: each answer is typed only once its prompt has shown, so an echoed answer would show.
/// Returns everything the terminal displayed.
pub fn run_on_tty(env: &TestEnv, line: &str, dialogue: &[(&str, &str)]) -> String {
    run_on_tty_typing_after(env, line, dialogue, std::time::Duration::ZERO)
}

/// [`run_on_tty`] with a person who takes `pause` to type each answer once its prompt shows.
pub fn run_on_tty_typing_after(
    env: &TestEnv,
    line: &str,
    dialogue: &[(&str, &str)],
    pause: std::time::Duration,
) -> String {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};

    /// Kills the terminal's processes however the test ends: a prompt that never shows must fail
    /// the test, not leave a tool waiting on the terminal.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let credd_env = env.command();
    let child = std::process::Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .env_clear()
        .envs(credd_env.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script");
    let mut child = KillOnDrop(child);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            let _ = tx.send(chunk[..n].to_vec());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut shown = String::new();
    // Collects output until `done` holds or the terminal closes; false on timeout.
    let collect = |shown: &mut String, done: &dyn Fn(&str) -> bool| loop {
        if done(shown) {
            return true;
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(bytes) => shown.push_str(&String::from_utf8_lossy(&bytes)),
            Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    };
    for (prompt, answer) in dialogue {
        collect(&mut shown, &|s| s.contains(prompt));
        assert!(shown.contains(prompt), "no prompt {prompt:?} in {shown:?}");
        std::thread::sleep(pause);
        stdin.write_all(answer.as_bytes()).unwrap();
        // The answer is taken when the terminal moves to the next line.
        let before = shown.len();
        collect(&mut shown, &|s| s[before..].contains('\n'));
    }
    let finished = collect(&mut shown, &|_| false);
    drop(child);
    assert!(finished, "{line} did not finish: {shown:?}");
    shown
}

/// Runs the shell command `command`, which prompts with `prompt` and waits, in the foreground of
/// a pseudo-terminal, sends it `signal` (`TERM`…) a second later, and asserts that the terminal's
/// echo is on once it has ended.
pub fn assert_signal_leaves_echo_on(env: &TestEnv, command: &str, prompt: &str, signal: &str) {
    // The inner shell becomes the command, and its own background subshell signals it (`$$` is
    // the inner shell's pid there); in the foreground, as a background job ignores SIGINT.
    let line = format!("sh -c '( sleep 1; kill -{signal} $$ ) & exec {command}'; stty -a");
    let shown = run_on_tty(env, &line, &[]);
    assert!(shown.contains(prompt), "{shown:?}");
    let words: Vec<&str> = shown.split_whitespace().collect();
    assert!(
        words.contains(&"echo") && !words.contains(&"-echo"),
        "{signal}: {shown:?}"
    );
}

/// Runs the shell command `command`, which prompts with `prompt`, on a pseudo-terminal, turns
/// echo on and sends it SIGCONT a second later (as a shell does at `fg`), then types `answer`;
/// returns what the terminal showed.
pub fn type_after_a_resume_with_echo_on(
    env: &TestEnv,
    command: &str,
    prompt: &str,
    answer: &str,
) -> String {
    let line = format!("{command} & sleep 1; stty echo; kill -CONT $!; wait $!");
    run_on_tty_typing_after(env, &line, &[(prompt, answer)], Duration::from_secs(2))
}

/// Runs the shell command `command`, which prompts with `prompt`, in the foreground of a
/// pseudo-terminal, sends it SIGTSTP a second later (which the kernel discards: the command's
/// process group is orphaned, as no shell could resume it), then types `answer`; returns what the
/// terminal showed.
pub fn type_after_a_discarded_stop(
    env: &TestEnv,
    command: &str,
    prompt: &str,
    answer: &str,
) -> String {
    let line = format!("sh -c '( sleep 1; kill -TSTP $$ ) & exec {command}'");
    run_on_tty_typing_after(env, &line, &[(prompt, answer)], Duration::from_secs(2))
}

/// `command` as one shell line with its variables, for [`run_on_tty`].
pub fn shell_line(command: &Command) -> String {
    let vars: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}='{}'", k.to_str()?, v?.to_str()?)))
        .collect();
    let args: Vec<String> = command
        .get_args()
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    format!(
        "cd '{}' && env -i {} '{}' {}",
        command.get_current_dir().unwrap().display(),
        vars.join(" "),
        command.get_program().to_str().unwrap(),
        args.join(" ")
    )
}

/// A string that appears nowhere else, for planting and scanning.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

/// The built `credd-full`, which the front door (`CARGO_BIN_EXE_credd`) runs beside itself.
pub const CREDD_FULL: &str = env!("CARGO_BIN_EXE_credd-full");

/// Copies both credd binaries into `dir` (which must exist), as `cargo install` puts them side
/// by side, with `mode`; returns the front door's copy.
pub fn copy_binaries(dir: &Path, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    for built in [env!("CARGO_BIN_EXE_credd"), CREDD_FULL] {
        let copy = dir.join(Path::new(built).file_name().unwrap());
        std::fs::copy(built, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir.join("credd")
}

/// True when `path`'s permission bits are exactly `mode`.
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `command` without a controlling terminal (a session of its own), as in CI: /dev/tty cannot be
/// opened there, so no prompt can wait on a person.
pub fn without_tty(mut command: Command) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Fails the test, showing both outputs, unless `out` is a success.
#[track_caller]
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
}

pub mod bao;
pub mod cargo;
pub mod dockerreg;
pub mod githttp;
pub mod httpserver;
pub mod pypi;
pub mod registry;
pub mod tokenfront;
pub mod tokenserver;
