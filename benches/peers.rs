//! credd against its peers, in one run: the same machine, the same moment, the same client code.
//!
//! Measures, interleaved so that load on the machine hits every subject alike:
//!
//! 1. socket round trips: a `get` by URL to a running `credd daemon` (on one open connection, and
//!    on a new connection each time) against a `get` to `git credential-cache--daemon` (which
//!    serves one request per connection);
//! 2. whole client processes: `credd --cargo-plugin` answering Cargo's `get`, `credd get NAME`,
//!    `git credential-cache get`, and `/bin/true` (the floor for any client process); and
//!    `credd --version`, credd's start-up alone, to split its cost (not a peer);
//! 3. keyring commands, as uv and pip run them (`keyring get URL USER`): credd's native `keyring`
//!    (a symlink to credd) against the Python `keyring` command of `target/test-venv` with credd's
//!    backend and with a plaintext one (keyrings.alt), on the same service and username;
//! 4. the agent's scaling: lookups by name and by URL (p50, p99) and puts with 10, 1000 and
//!    10 000 entries, and the agent's resident memory at each size;
//! 5. a cold start: `credd get NAME` with no agent running (the client starts one).
//!
//! `CREDD_BENCH_BIN=PATH` measures another credd binary (another build of it) in place of the
//! one `cargo bench` built, so that builds can be compared in one harness.
//!
//! Prints the median and p90 of each, and the ratios credd / peer. Performance is judged here,
//! against peers, never by timed tests. `cargo test --all-targets` builds and runs this target
//! too: without `--bench` (which only `cargo bench` passes) it prints one line and exits.
//! See docs/BENCHMARKS.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cargo_credential::{Action, CredentialRequest, Operation, RegistryInfo};

/// Socket round trips per subject, after [`SOCKET_WARMUP`] unmeasured ones.
const SOCKET_ROUNDS: usize = 10_000;
const SOCKET_WARMUP: usize = 300;
/// The pause after each measured run, unmeasured (see [`interleaved`]).
const SETTLE: Duration = Duration::from_micros(50);
/// Process spawns per subject, after [`SPAWN_WARMUP`] unmeasured ones.
const SPAWN_ROUNDS: usize = 1000;
const SPAWN_WARMUP: usize = 20;

/// The one credential each store holds.
const NAME: &str = "bench-reg";
const INDEX_URL: &str = "sparse+https://reg.example.com/index/";
/// What Cargo asks for first: the index's config.json.
const QUERY_URL: &str = "https://reg.example.com/index/config.json";
const TOKEN: &str = "bench-token-0123456789abcdef";
const GIT_HOST: &str = "reg.example.com";
const GIT_PASSWORD: &str = "bench-password-0123456789abcdef";
/// What uv and pip ask the keyring for: an index URL and a username.
const KEYRING_URL: &str = "https://pypi.example.com/simple/";
const KEYRING_USER: &str = "bench-user";
const KEYRING_PASSWORD: &str = "bench-keyring-password-0123456789";
/// Keyring command runs per subject: the Python one takes about 150 ms.
const KEYRING_ROUNDS: usize = 100;
const KEYRING_WARMUP: usize = 5;

/// The number of rounds to run for `n`: a tenth with `--quick` (`cargo bench --bench peers --
/// --quick`), which tries the whole benchmark out in a fraction of its time.
fn rounds(n: usize) -> usize {
    if std::env::args().any(|arg| arg == "--quick") {
        (n / 10).max(1)
    } else {
        n
    }
}

/// The sections of the report.
const SECTIONS: [&str; 5] = ["socket", "spawn", "keyring", "scaling", "cold"];

/// True when `section` is to run: every section, unless some are named on the command line
/// (`cargo bench --bench peers -- scaling cold`).
fn wanted(section: &str) -> bool {
    let named: Vec<String> = std::env::args()
        .filter(|arg| SECTIONS.contains(&arg.as_str()))
        .collect();
    named.is_empty() || named.iter().any(|arg| arg == section)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("peers: a benchmark; run it with `cargo bench --bench peers`");
        return;
    }
    let started = Instant::now();
    let home = Home::new();
    let credd = start_credd(&home);
    let git = match start_git_cache(&home) {
        Ok(git) => Some(git),
        Err(why) => {
            println!("git credential-cache is not measured: {why}");
            None
        }
    };
    print_header();
    let daemons: Vec<&Daemon> = std::iter::once(&credd).chain(git.as_ref()).collect();
    let peer_sections = || {
        if wanted("socket") {
            socket_section(&home, git.as_ref());
        }
        if wanted("spawn") {
            spawn_section(&home, git.as_ref());
        }
    };
    if wanted("socket") || wanted("spawn") {
        match allowed_cpus() {
            Some(cpus) => {
                for placement in Placement::all(&cpus) {
                    pin(&daemons, &[placement.client], &[placement.daemon]);
                    println!("\n== {} ==", placement.describe());
                    peer_sections();
                }
                pin(&daemons, &cpus, &cpus);
            }
            None => {
                println!(
                    "\n== placement left to the scheduler (this process's CPUs are unreadable) =="
                );
                peer_sections();
            }
        }
    }
    if wanted("keyring") {
        keyring_section(&home);
    }
    drop(git);
    drop(credd);
    if wanted("scaling") {
        scaling();
    }
    if wanted("cold") {
        cold_start();
    }
    println!("\ntotal time: {:.1} s", started.elapsed().as_secs_f64());
}

fn socket_section(home: &Home, git: Option<&Daemon>) {
    let socket = socket_round_trips(home, git);
    report(
        &format!("Socket round trips ({SOCKET_ROUNDS} each, interleaved, {SOCKET_WARMUP} warm-up)"),
        &socket,
        &[
            ("credd get, open connection", "git cache daemon get"),
            ("credd get, new connection", "git cache daemon get"),
        ],
        None,
    );
}

fn spawn_section(home: &Home, git: Option<&Daemon>) {
    let spawn = process_spawns(home, git);
    report(
        &format!(
            "Whole client processes ({SPAWN_ROUNDS} each, interleaved, {SPAWN_WARMUP} warm-up)"
        ),
        &spawn,
        &[
            ("credd --cargo-plugin get", "git credential-cache get"),
            ("credd get NAME", "git credential-cache get"),
            ("credd token URL", "git credential-cache get"),
            ("git-credential-credd get", "git credential-cache get"),
            ("docker-credential-credd get", "git credential-cache get"),
            ("credd --cargo-plugin get", "/bin/true"),
            ("credd get NAME", "/bin/true"),
            ("credd token URL", "/bin/true"),
            ("git-credential-credd get", "/bin/true"),
            ("docker-credential-credd get", "/bin/true"),
            ("git credential-cache get", "/bin/true"),
            ("credd --version", "/bin/true"),
        ],
        Some("/bin/true"),
    );
}

fn keyring_section(home: &Home) {
    match keyring_commands(home) {
        Ok(keyring) => report(
            &format!(
                "keyring get URL USER ({KEYRING_ROUNDS} each, interleaved, {KEYRING_WARMUP} warm-up)"
            ),
            &keyring,
            &[
                ("Python keyring, credd backend", "credd keyring"),
                ("Python keyring, plaintext", "credd keyring"),
                ("credd keyring", "/bin/true"),
            ],
            None,
        ),
        Err(why) => println!("\nkeyring commands are not measured: {why}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Where the processes run.
// ---------------------------------------------------------------------------------------------

/// Which CPUs the harness (with every client it spawns) and the daemons run on. Left to the
/// scheduler, the placement decides the figures more than either peer does: a daemon that stays
/// on the other CPU than its client pays for waking an idle CPU twice a round trip (tens of µs
/// in a virtual machine), one that shares the client's CPU does not, and which daemon ends up
/// where is chance, so one peer could be measured on one side and the other on the other. Both
/// daemons are therefore pinned alike, once on the harness's CPU and once on another.
#[derive(Clone, Copy)]
struct Placement {
    /// The harness's CPU, and so its clients'.
    client: usize,
    /// Both daemons' CPU.
    daemon: usize,
}

impl Placement {
    /// Everything on the first of `cpus`, then (with a second) the daemons on the second.
    fn all(cpus: &[usize]) -> Vec<Placement> {
        let first = cpus[0];
        std::iter::once(first)
            .chain(cpus.get(1).copied())
            .map(|daemon| Placement {
                client: first,
                daemon,
            })
            .collect()
    }

    fn describe(self) -> String {
        let Placement { client, daemon } = self;
        if client == daemon {
            format!("harness, clients and daemons on CPU {client}")
        } else {
            format!("harness and clients on CPU {client}, both daemons on CPU {daemon}")
        }
    }
}

/// Lets this thread run only on `harness` and every thread of each daemon only on `daemon`.
fn pin(daemons: &[&Daemon], harness: &[usize], daemon: &[usize]) {
    set_cpus(0, harness).expect("pin the benchmark to a CPU");
    for each in daemons {
        for thread in threads_of(each.child.id()) {
            match set_cpus(thread, daemon) {
                // An idle blocking-pool thread may end between listing and pinning.
                Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
                result => result.expect("pin a daemon's thread to a CPU"),
            }
        }
    }
}

/// The CPUs this thread may run on; None when they cannot be read (more than `CPU_SETSIZE`
/// CPUs) or are none below `CPU_SETSIZE`.
fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::sched_getaffinity(0, size_of_val(&set), &mut set) };
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    (got == 0 && !cpus.is_empty()).then_some(cpus)
}

/// Lets the thread `tid` (0: this one) run only on `cpus`.
fn set_cpus(tid: u32, cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: as in `allowed_cpus`; every cpu comes from it, so is below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    let done = unsafe { libc::sched_setaffinity(tid as i32, size_of_val(&set), &set) };
    match done {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Every thread of the process `pid` (affinity belongs to each thread); none once it is gone.
fn threads_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The environment and the daemons.
// ---------------------------------------------------------------------------------------------

/// HOME, every XDG dir and both sockets in one temp dir, removed on drop.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["run", "data", "config", "home", "git"] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.path().join(sub))
                .expect("create a private dir");
        }
        Self { dir }
    }

    /// Where credd's clients look by default (`$XDG_RUNTIME_DIR/credd/credd.sock`), so that the
    /// provider runs as Cargo runs it: with no arguments.
    fn credd_socket(&self) -> PathBuf {
        self.dir.path().join("run/credd/credd.sock")
    }

    fn git_socket(&self) -> PathBuf {
        self.dir.path().join("git/socket")
    }

    /// `program` with only this home's variables: no user config of credd or git is read.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let root = self.dir.path();
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", root.join("home"))
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("TMPDIR", root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(root);
        command
    }

    fn credd(&self) -> Command {
        self.command(credd_bin())
    }
}

/// The credd binary measured: `CREDD_BENCH_BIN`, else the one `cargo bench` built.
fn credd_bin() -> PathBuf {
    std::env::var_os("CREDD_BENCH_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_credd")), PathBuf::from)
}

/// A daemon this benchmark started: killed when dropped, also when the benchmark panics. On
/// Linux the kernel also kills it if the benchmark dies without unwinding (Ctrl-C).
struct Daemon {
    child: Child,
}

impl Daemon {
    fn spawn(mut command: Command) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        command.spawn().map(|child| Self { child })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `credd daemon`, creates a vault with the cheapest KDF (lookups never touch it) and
/// stores [`NAME`] for [`INDEX_URL`].
fn start_credd(home: &Home) -> Daemon {
    let log = std::fs::File::create(home.dir.path().join("credd.log")).expect("create log");
    let mut command = home.credd();
    command
        .args(["daemon", "--socket"])
        .arg(home.credd_socket())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let daemon = Daemon::spawn(command).expect("spawn credd daemon");
    wait_for_socket(&home.credd_socket(), "credd daemon");
    let init = [
        "init",
        "--passphrase-stdin",
        "--kdf-memory",
        "64",
        "--kdf-passes",
        "1",
    ];
    check(
        run(home.credd().args(init), "bench passphrase\n"),
        "credd init",
    );
    let add = ["add", NAME, "--url", INDEX_URL, "--secret-stdin"];
    check(
        run(home.credd().args(add), &format!("{TOKEN}\n")),
        "credd add",
    );
    daemon
}

/// Starts `git credential-cache--daemon` on its own socket and stores one credential in it.
fn start_git_cache(home: &Home) -> Result<Daemon, String> {
    let socket = home.git_socket();
    let mut command = home.command("git");
    command
        .arg("credential-cache--daemon")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut daemon = Daemon::spawn(command).map_err(|e| format!("cannot run git: {e}"))?;
    // The daemon prints "ok" once it listens (its own client waits for that line).
    let mut ready = String::new();
    let stdout = daemon.child.stdout.take().unwrap();
    let _ = BufReader::new(stdout).read_line(&mut ready);
    if ready.trim() != "ok" {
        return Err(format!(
            "git credential-cache--daemon did not start (said {ready:?})"
        ));
    }
    let store = run(
        home.command("git")
            .args(["credential-cache", "--timeout", "3600", "--socket"])
            .arg(&socket)
            .arg("store"),
        &format!("protocol=https\nhost={GIT_HOST}\nusername=u\npassword={GIT_PASSWORD}\n\n"),
    );
    if !store.status.success() {
        return Err(format!("git credential-cache store failed: {store:?}"));
    }
    Ok(daemon)
}

fn wait_for_socket(socket: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` with `stdin` as input and waits for it.
fn run(command: &mut Command, stdin: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    // A program that exits before reading its input closes the pipe: that is its business.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait for a child")
}

#[track_caller]
fn check(output: std::process::Output, what: &str) {
    assert!(output.status.success(), "{what} failed: {output:?}");
}

fn print_header() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let git = Command::new("git")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "no git".into());
    println!(
        "credd {} ({}) vs {git}; {cpus} CPUs, load average {load}",
        env!("CARGO_PKG_VERSION"),
        credd_bin().display()
    );
}

// ---------------------------------------------------------------------------------------------
// Measurements.
// ---------------------------------------------------------------------------------------------

/// A named thing to time: one call is one sample.
type Subject<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// One subject's samples.
struct Series {
    name: &'static str,
    samples: Vec<Duration>,
}

/// Runs every subject once per round, in turn, so that the machine's load spreads over all of
/// them alike; the first `warmup` rounds are not recorded. A short sleep after each run lets a
/// daemon finish what it does after its reply (closing the connection) before the next subject's
/// clock starts: on a shared CPU that work would otherwise be billed to the next subject.
fn interleaved(rounds: usize, warmup: usize, subjects: &mut [Subject<'_>]) -> Vec<Series> {
    let mut series: Vec<Series> = subjects
        .iter()
        .map(|(name, _)| Series {
            name,
            samples: Vec::with_capacity(rounds),
        })
        .collect();
    for round in 0..warmup + rounds {
        for ((_, run), series) in subjects.iter_mut().zip(&mut series) {
            let start = Instant::now();
            run();
            let took = start.elapsed();
            if round >= warmup {
                series.samples.push(took);
            }
            std::thread::sleep(SETTLE);
        }
    }
    series
}

fn credd_get_line(id: u64) -> String {
    format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",\"url\":\"{QUERY_URL}\"}}\n")
}

/// One `get` by URL on an open connection to the agent; checks the token came back.
fn credd_round_trip(reader: &mut BufReader<UnixStream>, id: &mut u64, reply: &mut String) {
    *id += 1;
    reader
        .get_mut()
        .write_all(credd_get_line(*id).as_bytes())
        .expect("write to credd");
    reply.clear();
    reader.read_line(reply).expect("read from credd");
    assert!(reply.contains(TOKEN), "credd answered {reply:?}");
}

fn socket_round_trips(home: &Home, git: Option<&Daemon>) -> Vec<Series> {
    let credd_socket = home.credd_socket();
    let git_socket = home.git_socket();
    let open = UnixStream::connect(&credd_socket).expect("connect to credd");
    let mut open = BufReader::new(open);
    let mut open_id = 0;
    let mut open_reply = String::new();
    let mut fresh_id = 0;
    let mut fresh_reply = String::new();
    let mut git_reply = Vec::new();
    // What git's client sends: action and timeout, then the credential's lines and a blank line;
    // the daemon answers the stored credential's lines and closes the connection.
    let git_request = format!("action=get\ntimeout=900\nprotocol=https\nhost={GIT_HOST}\n\n");
    let mut subjects: Vec<Subject<'_>> = vec![
        (
            "credd get, open connection",
            Box::new(|| credd_round_trip(&mut open, &mut open_id, &mut open_reply)),
        ),
        (
            "credd get, new connection",
            Box::new(|| {
                let stream = UnixStream::connect(&credd_socket).expect("connect to credd");
                let mut reader = BufReader::new(stream);
                credd_round_trip(&mut reader, &mut fresh_id, &mut fresh_reply);
            }),
        ),
    ];
    if git.is_some() {
        subjects.push((
            "git cache daemon get",
            Box::new(|| {
                // Exactly git's own client: connect, write, shut down writing, read to EOF.
                let mut stream = UnixStream::connect(&git_socket).expect("connect to git");
                stream
                    .write_all(git_request.as_bytes())
                    .expect("write to git");
                stream.shutdown(Shutdown::Write).expect("shutdown");
                git_reply.clear();
                stream.read_to_end(&mut git_reply).expect("read from git");
                assert!(
                    git_reply
                        .windows(GIT_PASSWORD.len())
                        .any(|w| w == GIT_PASSWORD.as_bytes()),
                    "git answered {:?}",
                    String::from_utf8_lossy(&git_reply)
                );
            }),
        ));
    }
    interleaved(rounds(SOCKET_ROUNDS), SOCKET_WARMUP, &mut subjects)
}

/// Spawns `command` with `stdin`, waits for it, checks that it succeeded and that its output
/// contains `expect`.
fn spawn_once(command: &mut Command, stdin: &[u8], expect: &str) {
    let mut child = command.spawn().expect("spawn");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains(expect),
        "{command:?} gave {output:?}"
    );
}

fn piped(mut command: Command) -> Command {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn process_spawns(home: &Home, git: Option<&Daemon>) -> Vec<Series> {
    // What Cargo writes to its provider for a download from the registry, serialized by Cargo's
    // own `cargo-credential` types.
    let request = CredentialRequest {
        v: cargo_credential::PROTOCOL_VERSION_1,
        registry: RegistryInfo {
            index_url: INDEX_URL,
            name: Some(NAME),
            headers: Vec::new(),
        },
        action: Action::Get(Operation::Read),
        args: Vec::new(),
    };
    let cargo_line = format!("{}\n", serde_json::to_string(&request).unwrap());
    let git_input = format!("protocol=https\nhost={GIT_HOST}\n\n");
    let mut plugin = piped(home.credd());
    plugin.arg("--cargo-plugin");
    let mut get = piped(home.credd());
    get.args(["get", NAME]);
    let mut token = piped(home.credd());
    token.args(["token", INDEX_URL]);
    let links = front_links(home);
    let mut git_helper = piped(home.command(links.join("git-credential-credd")));
    git_helper.arg("get");
    let mut docker_helper = piped(home.command(links.join("docker-credential-credd")));
    docker_helper.arg("get");
    // Not a peer: credd's own start-up without touching the socket, to split its cost.
    let mut version = piped(home.credd());
    version.arg("--version");
    let mut git_get = piped(home.command("git"));
    git_get
        .args(["credential-cache", "--socket"])
        .arg(home.git_socket())
        .arg("get");
    let mut true_ = piped(home.command("/bin/true"));
    let mut subjects: Vec<Subject<'_>> = vec![
        ("/bin/true", Box::new(|| spawn_once(&mut true_, b"", ""))),
        (
            "credd --cargo-plugin get",
            Box::new(|| spawn_once(&mut plugin, cargo_line.as_bytes(), TOKEN)),
        ),
        (
            "credd get NAME",
            Box::new(|| spawn_once(&mut get, b"", TOKEN)),
        ),
        (
            "credd token URL",
            Box::new(|| spawn_once(&mut token, b"", TOKEN)),
        ),
        (
            "git-credential-credd get",
            Box::new(|| spawn_once(&mut git_helper, git_input.as_bytes(), TOKEN)),
        ),
        (
            "docker-credential-credd get",
            Box::new(|| spawn_once(&mut docker_helper, GIT_HOST.as_bytes(), TOKEN)),
        ),
        (
            "credd --version",
            Box::new(|| spawn_once(&mut version, b"", "credd")),
        ),
    ];
    if git.is_some() {
        subjects.push((
            "git credential-cache get",
            Box::new(|| spawn_once(&mut git_get, git_input.as_bytes(), GIT_PASSWORD)),
        ));
    }
    interleaved(rounds(SPAWN_ROUNDS), SPAWN_WARMUP, &mut subjects)
}

/// A directory of links to credd named as git's and docker's helpers, which credd answers as.
fn front_links(home: &Home) -> PathBuf {
    let links = home.dir.path().join("links");
    std::fs::create_dir_all(&links).expect("create the links dir");
    for name in ["git-credential-credd", "docker-credential-credd"] {
        let link = links.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(credd_bin(), &link).expect("link a front");
        }
    }
    links
}

/// `target/test-venv/bin/NAME` (scripts/install-test-deps makes it), or why it cannot be used.
fn venv_bin(name: &str) -> Result<PathBuf, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-venv/bin")
        .join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run scripts/install-test-deps",
            path.display()
        ))
    }
}

/// The same `keyring get URL USER` through credd's native command and through the Python one
/// with credd's backend and with keyrings.alt's plaintext backend; each subject's password is
/// stored first with its own `keyring set`.
fn keyring_commands(home: &Home) -> Result<Vec<Series>, String> {
    let python = venv_bin("keyring")?;
    let bin = home.dir.path().join("bin");
    std::fs::DirBuilder::new()
        .create(&bin)
        .map_err(|e| format!("cannot make {}: {e}", bin.display()))?;
    let native = bin.join("keyring");
    std::os::unix::fs::symlink(credd_bin(), &native)
        .map_err(|e| format!("cannot link {}: {e}", native.display()))?;
    let integrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python");
    let with_backend = |program: &Path, backend: &str| {
        let mut command = home.command(program);
        command
            .env("PYTHON_KEYRING_BACKEND", backend)
            .env("PYTHONPATH", &integrations);
        command
    };
    let plaintext = || with_backend(&python, "keyrings.alt.file.PlaintextKeyring");
    let stored = format!("{KEYRING_PASSWORD}\n");
    for mut set in [home.command(&native), plaintext()] {
        let out = run(set.args(["set", KEYRING_URL, KEYRING_USER]), &stored);
        if !out.status.success() {
            return Err(format!("keyring set failed: {out:?}"));
        }
    }
    let get = |mut command: Command| {
        command.args(["get", KEYRING_URL, KEYRING_USER]);
        piped(command)
    };
    let mut ours = get(home.command(&native));
    let mut credd_backend = get(with_backend(&python, "credd_keyring.CreddKeyring"));
    let mut plain = get(plaintext());
    let mut true_ = piped(home.command("/bin/true"));
    let mut subjects: Vec<Subject<'_>> = vec![
        ("/bin/true", Box::new(|| spawn_once(&mut true_, b"", ""))),
        (
            "credd keyring",
            Box::new(|| spawn_once(&mut ours, b"", KEYRING_PASSWORD)),
        ),
        (
            "Python keyring, credd backend",
            Box::new(|| spawn_once(&mut credd_backend, b"", KEYRING_PASSWORD)),
        ),
        (
            "Python keyring, plaintext",
            Box::new(|| spawn_once(&mut plain, b"", KEYRING_PASSWORD)),
        ),
    ];
    Ok(interleaved(
        rounds(KEYRING_ROUNDS),
        KEYRING_WARMUP,
        &mut subjects,
    ))
}

// ---------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------

/// The `p`-th percentile (0 < p <= 1) by nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Stats {
    median: Duration,
    p90: Duration,
    min: Duration,
}

fn stats(series: &Series) -> Stats {
    let mut sorted = series.samples.clone();
    sorted.sort_unstable();
    Stats {
        median: percentile(&sorted, 0.5),
        p90: percentile(&sorted, 0.9),
        min: sorted[0],
    }
}

fn show(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

/// Prints a table of `all`, then credd / peer for each pair of names present; with `floor`, also
/// the ratio of the costs above that subject's median (what each adds to a bare spawn).
fn report(title: &str, all: &[Series], pairs: &[(&str, &str)], floor: Option<&str>) {
    println!("\n{title}");
    println!(
        "  {:<30} {:>10} {:>10} {:>10}",
        "subject", "median", "p90", "min"
    );
    let stats: Vec<(&str, Stats)> = all.iter().map(|s| (s.name, stats(s))).collect();
    for (name, s) in &stats {
        println!(
            "  {:<30} {:>10} {:>10} {:>10}",
            name,
            show(s.median),
            show(s.p90),
            show(s.min)
        );
    }
    let find = |name: &str| stats.iter().find(|(n, _)| *n == name).map(|(_, s)| s);
    let floor = floor.and_then(find);
    println!("  ratios");
    for (ours, theirs) in pairs {
        let (Some(a), Some(b)) = (find(ours), find(theirs)) else {
            continue;
        };
        let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64();
        print!(
            "    {ours} / {theirs}: median {:.2}x, p90 {:.2}x",
            ratio(a.median, b.median),
            ratio(a.p90, b.p90)
        );
        match floor {
            Some(f) if b.median > f.median && !std::ptr::eq(b, f) => println!(
                "; above the spawn floor {:.2}x ({} vs {})",
                ratio(a.median.saturating_sub(f.median), b.median - f.median),
                show(a.median.saturating_sub(f.median)),
                show(b.median - f.median)
            ),
            _ => println!(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The agent's scaling and a cold start.
// ---------------------------------------------------------------------------------------------

/// The vault sizes the scaling section measures.
const SIZES: [usize; 3] = [10, 1000, 10_000];
/// Lookups of each kind per size, after [`SOCKET_WARMUP`] unmeasured rounds.
const SCALING_LOOKUPS: usize = 3000;
/// Puts per size (each rewrites the whole vault).
const SCALING_PUTS: usize = 20;
/// Cold starts measured, after one unmeasured.
const COLD_ROUNDS: usize = 10;
const PASSPHRASE: &str = "bench passphrase";

/// For each of [`SIZES`]: an agent on a vault of that many entries, each on its own host, timed
/// for `get` by name and by URL on an open connection (interleaved), for `put` of a new entry,
/// and for `unlock` (cheapest KDF); then its resident memory.
fn scaling() {
    println!(
        "\nAgent scaling ({SCALING_LOOKUPS} lookups of each kind, {SCALING_PUTS} puts, per size)"
    );
    println!(
        "  {:>7} {:>11} {:>11} {:>11} {:>11} {:>10} {:>12} {:>10} {:>9} {:>9}",
        "entries",
        "name p50",
        "name p99",
        "URL p50",
        "URL p99",
        "put p50",
        "vault write",
        "unlock",
        "VmRSS",
        "RssAnon"
    );
    let mut first: Option<[Duration; 5]> = None;
    for size in SIZES {
        let home = Home::new();
        let daemon = start_credd(&home);
        check(run(home.credd().arg("lock"), ""), "credd lock");
        let vault_write = fill_vault(&home, size);
        let start = Instant::now();
        let unlock = ["unlock", "--passphrase-stdin"];
        check(
            run(home.credd().args(unlock), &format!("{PASSPHRASE}\n")),
            "credd unlock",
        );
        let unlock = start.elapsed();
        let (by_name, by_url) = timed_lookups(&home, size);
        let puts = timed_puts(&home);
        let rss = resident_kib(daemon.child.id(), "VmRSS:");
        let anon = resident_kib(daemon.child.id(), "RssAnon:");
        let row = [
            percentile_of(&by_name, 0.5),
            percentile_of(&by_name, 0.99),
            percentile_of(&by_url, 0.5),
            percentile_of(&by_url, 0.99),
            percentile_of(&puts, 0.5),
        ];
        println!(
            "  {size:>7} {:>11} {:>11} {:>11} {:>11} {:>10} {:>12} {:>10} {:>5} KiB {:>5} KiB",
            show(row[0]),
            show(row[1]),
            show(row[2]),
            show(row[3]),
            show(row[4]),
            show(vault_write),
            show(unlock),
            rss.map_or("?".into(), |kib| kib.to_string()),
            anon.map_or("?".into(), |kib| kib.to_string()),
        );
        if let Some(base) = first {
            let ratios: Vec<String> = row
                .iter()
                .zip(base)
                .map(|(now, then)| format!("{:.2}x", now.as_secs_f64() / then.as_secs_f64()))
                .collect();
            println!(
                "  {:>7} {:>11} {:>11} {:>11} {:>11} {:>10}  (against {} entries)",
                "", ratios[0], ratios[1], ratios[2], ratios[3], ratios[4], SIZES[0]
            );
        } else {
            first = Some(row);
        }
        drop(daemon);
    }
}

/// Adds `size - 1` entries, `e1` … on hosts `reg1.example.com` …, to the locked agent's vault
/// (beside the one [`start_credd`] stored), written at once through credd's own vault code;
/// returns how long that write took: what any put of that many entries must pay.
fn fill_vault(home: &Home, size: usize) -> Duration {
    let vault = credd::store::vault::VaultFile::new(home.dir.path().join("data/credd/vault"));
    let (key, mut entries) = vault
        .open(&credd_protocol::Secret::new(PASSPHRASE))
        .expect("open the bench vault");
    for i in 1..size {
        let entry = serde_json::json!({
            "name": format!("e{i}"),
            "url": format!("https://reg{i}.example.com/index/"),
            "secret": format!("token-{i}"),
        });
        entries.push(serde_json::from_value(entry).expect("an entry"));
    }
    let start = Instant::now();
    key.save(&entries).expect("write the bench vault");
    start.elapsed()
}

/// Interleaved `get`s by name and by URL of the entries [`fill_vault`] added, on one open
/// connection.
fn timed_lookups(home: &Home, size: usize) -> (Vec<Duration>, Vec<Duration>) {
    let stream = UnixStream::connect(home.credd_socket()).expect("connect to credd");
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    let mut id = 0u64;
    let mut ask = |lookup: String, expect: String| {
        id += 1;
        let line = format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",{lookup}}}\n");
        let start = Instant::now();
        reader.get_mut().write_all(line.as_bytes()).expect("write");
        reply.clear();
        reader.read_line(&mut reply).expect("read");
        let took = start.elapsed();
        assert!(reply.contains(&expect), "credd answered {reply:?}");
        took
    };
    let (mut by_name, mut by_url) = (Vec::new(), Vec::new());
    let others = (size - 1).max(1);
    for round in 0..SOCKET_WARMUP + rounds(SCALING_LOOKUPS) {
        // Spread over the vault, not one hot entry.
        let i = 1 + (round * 7919) % others;
        let (name, url) = if size > 1 {
            (
                format!("e{i}"),
                format!("https://reg{i}.example.com/index/config.json"),
            )
        } else {
            (NAME.into(), QUERY_URL.into())
        };
        let secret = if size > 1 {
            format!("token-{i}\"")
        } else {
            TOKEN.into()
        };
        let a = ask(format!("\"name\":\"{name}\""), secret.clone());
        let b = ask(format!("\"url\":\"{url}\""), secret);
        if round >= SOCKET_WARMUP {
            by_name.push(a);
            by_url.push(b);
        }
    }
    (by_name, by_url)
}

/// `put`s of new entries on one connection, each answered after the vault is written.
fn timed_puts(home: &Home) -> Vec<Duration> {
    let stream = UnixStream::connect(home.credd_socket()).expect("connect to credd");
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    (0..SCALING_PUTS)
        .map(|j| {
            let line = format!(
                "{{\"v\":1,\"id\":{j},\"op\":\"put\",\"entry\":{{\"name\":\"new{j}\",\
                 \"url\":\"https://new{j}.example.com/\",\"secret\":\"s{j}\"}}}}\n"
            );
            let start = Instant::now();
            reader.get_mut().write_all(line.as_bytes()).expect("write");
            reply.clear();
            reader.read_line(&mut reply).expect("read");
            let took = start.elapsed();
            assert!(reply.contains("\"ok\""), "credd answered {reply:?}");
            took
        })
        .collect()
}

/// A process's resident memory in KiB: `field` of `/proc/PID/status`, `VmRSS:` (all of it, the
/// mapped binary included) or `RssAnon:` (its own heap and stacks).
fn resident_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile_of(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    percentile(&sorted, p)
}

/// Stops the agent a client started, when dropped.
struct StopAgent<'a>(&'a Home);

impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = run(self.0.credd().arg("stop"), "");
    }
}

/// `credd get NAME` and `credd unlock` with no agent running: the client starts the agent
/// (detached, as in use) and waits for its answer: `locked` (exit 3) for the get, and for the
/// unlock the vault opened with the cheapest KDF. The agent is stopped after each, unmeasured.
fn cold_start() {
    let home = Home::new();
    drop(start_credd(&home));
    let _stop = StopAgent(&home);
    let mut get = piped(home.credd());
    get.args(["get", NAME]);
    let mut unlock = piped(home.credd());
    unlock.args(["unlock", "--passphrase-stdin"]);
    let passphrase = format!("{PASSPHRASE}\n");
    let cold = |command: &mut Command, stdin: &[u8], code: i32| {
        wait_until_gone(&home.credd_socket());
        let start = Instant::now();
        let mut child = command.spawn().expect("spawn");
        child.stdin.take().unwrap().write_all(stdin).expect("stdin");
        let output = child.wait_with_output().expect("wait");
        let took = start.elapsed();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{command:?} gave {output:?}"
        );
        check(run(home.credd().arg("stop"), ""), "credd stop");
        took
    };
    let (mut gets, mut unlocks) = (Vec::new(), Vec::new());
    for round in 0..=rounds(COLD_ROUNDS) {
        let a = cold(&mut get, b"", 3);
        let b = cold(&mut unlock, passphrase.as_bytes(), 0);
        if round > 0 {
            gets.push(a);
            unlocks.push(b);
        }
    }
    println!("\nCold start, no agent running ({COLD_ROUNDS} each, after 1 warm-up)");
    for (what, samples) in [
        ("credd get NAME (answered: locked)", &gets),
        ("credd unlock (cheapest KDF)", &unlocks),
    ] {
        println!(
            "  {what:<36} median {:>9}, max {:>9}",
            show(percentile_of(samples, 0.5)),
            show(percentile_of(samples, 1.0))
        );
    }
}

/// Waits until nothing listens on `socket` (an agent that was told to stop has exited).
fn wait_until_gone(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the agent did not stop within 10 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
