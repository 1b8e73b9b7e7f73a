//! Who asked for what: every lookup, with the process that connected and its parents up to the
//! session leader, kept in memory (the last [`KEPT`]) and sent to the log (the journal under
//! systemd). Never a secret: a record holds names, process ids, executables and outcomes.
//!
//! The processes are read from `/proc` once, when the client connects. A process can exit and
//! its pid be reused before that, and a same-user program can make its executable look like a
//! tool's (a copy named `cargo`): the record is a trail for a person to read, not a proof.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use credd_protocol::{Front, LogRecord, MAX_FRAME_LEN, Process};

/// How many records the agent keeps.
const KEPT: usize = 1000;
/// How many records `log` returns when the client names no limit.
const DEFAULT_LIMIT: usize = 100;
/// The most bytes of records one `log` reply carries: a frame, less room for the reply around.
const LOG_BUDGET: usize = MAX_FRAME_LEN - 1024;
/// How many parents a caller's chain may have: a bound against a pathological process tree.
const MAX_PARENTS: usize = 16;

/// The shells a person types `credd` commands in.
const SHELLS: &[&str] = &["bash", "zsh", "fish", "sh", "dash", "ksh", "tcsh", "csh"];

/// The recent lookups.
#[derive(Default)]
pub struct Audit {
    records: Mutex<VecDeque<LogRecord>>,
    unknown: AtomicU64,
}

impl Audit {
    /// Keeps `record` (dropping the oldest beyond [`KEPT`]) and logs it.
    pub fn record(&self, record: LogRecord) {
        tracing::info!(
            target: "credd::audit",
            pid = record.peer.pid,
            uid = record.peer.uid,
            exe = record.peer.exe.as_deref().unwrap_or("?"),
            parent = record.parents.first().and_then(|p| p.exe.as_deref()).unwrap_or("?"),
            front = record.front.map_or("none", Front::name),
            entry = record.entry.as_deref().unwrap_or("-"),
            operation = record.operation,
            outcome = record.outcome,
            known_tool = record.known_tool,
            "lookup"
        );
        if !record.known_tool {
            self.unknown.fetch_add(1, Ordering::Relaxed);
        }
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The newest `limit` records (oldest first), fewer when they would not fit in a frame.
    pub fn recent(&self, limit: Option<u32>) -> Vec<LogRecord> {
        let limit = limit.map_or(DEFAULT_LIMIT, |l| l as usize);
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut used = 0;
        let mut newest: Vec<LogRecord> = Vec::new();
        for record in records.iter().rev().take(limit) {
            used += serde_json::to_vec(record).map_or(LOG_BUDGET, |v| v.len() + 1);
            if used > LOG_BUDGET {
                break;
            }
            newest.push(record.clone());
        }
        newest.reverse();
        newest
    }

    /// Lookups since the start whose caller is no known tool of its front.
    pub fn unknown_callers(&self) -> u64 {
        self.unknown.load(Ordering::Relaxed)
    }
}

/// The process on the other end of a connection and its parents, nearest first.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The connecting process.
    pub peer: Process,
    /// Its parents up to (and with) its session leader.
    pub parents: Vec<Process>,
    /// Its terminal session, when it has a controlling terminal.
    pub terminal: Option<Terminal>,
}

/// A terminal session: the session id and the controlling terminal's device, from
/// `/proc/PID/stat`. What the step-up grace window is tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// The session leader's pid.
    pub session: u32,
    /// The controlling terminal's device number (never 0).
    pub tty: u32,
}

impl Caller {
    /// Reads the process `pid` (from `SO_PEERCRED`) and its parents from `/proc`.
    pub fn read(pid: Option<u32>, uid: Option<u32>) -> Self {
        let Some(pid) = pid else {
            return Self {
                peer: Process {
                    pid: 0,
                    uid,
                    exe: None,
                },
                parents: Vec::new(),
                terminal: None,
            };
        };
        let peer = Process {
            pid,
            uid,
            exe: exe_of(pid),
        };
        let stat = stat_of(pid);
        let terminal = stat
            .as_ref()
            .filter(|stat| stat.tty != 0)
            .map(|stat| Terminal {
                session: stat.session,
                tty: stat.tty,
            });
        Self {
            peer,
            parents: stat.map_or_else(Vec::new, |stat| parents_of(pid, &stat)),
            terminal,
        }
    }

    /// True when the peer or its parent is a tool that uses `front`: cargo for the Cargo
    /// provider, Python or uv for keyring, git, docker, a shell for the command line.
    pub fn is_known_tool(&self, front: Option<Front>) -> bool {
        let peer = base_name(&self.peer);
        let parent = self.parents.first().map_or("", base_name);
        let either = |is: fn(&str) -> bool| is(peer) || is(parent);
        match front {
            Some(Front::Cargo) => parent == "cargo",
            Some(Front::Keyring) => either(is_python_tool),
            Some(Front::Git) => either(|n| n == "git" || n.starts_with("git-")),
            Some(Front::Docker) => either(|n| n.starts_with("docker")),
            Some(Front::Cli) => SHELLS.contains(&parent),
            _ => false,
        }
    }
}

/// The tools that ask a keyring: Python (pip, Poetry, twine run in it) and uv.
fn is_python_tool(name: &str) -> bool {
    name.starts_with("python") || ["uv", "pip", "poetry", "twine", "keyring"].contains(&name)
}

/// The file name of a process's executable, without the kernel's ` (deleted)` mark.
fn base_name(process: &Process) -> &str {
    let exe = process.exe.as_deref().unwrap_or("");
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
    exe.rsplit('/').next().unwrap_or(exe)
}

fn exe_of(pid: u32) -> Option<String> {
    let path = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(path.to_string_lossy().into_owned())
}

/// What the audit reads from `/proc/PID/stat`.
struct Stat {
    /// The command name: what the kernel sets from the executable's name at each `exec`.
    comm: String,
    ppid: u32,
    session: u32,
    /// The controlling terminal's device number; 0 without one.
    tty: u32,
}

/// The command name, parent pid, session id and controlling terminal of `pid`,
/// from `/proc/PID/stat`.
fn stat_of(pid: u32) -> Option<Stat> {
    read_stat(&open_stat(pid)?)
}

/// Opens `/proc/PID/stat`; `None` when the process is gone or unreadable.
fn open_stat(pid: u32) -> Option<std::fs::File> {
    std::fs::File::open(format!("/proc/{pid}/stat")).ok()
}

/// How much of a `/proc/PID/stat` line the audit reads: the fields it parses come first (a pid
/// of at most 7 digits, a command name of at most 64 bytes, then five short fields), well
/// within it; what follows (up to about 1,200 bytes of counters) is not needed.
const STAT_PREFIX: usize = 256;

/// Reads an open `/proc/PID/stat` from its start: one read of its first [`STAT_PREFIX`] bytes,
/// where `read_to_string`, which cannot know a /proc file's size, took six reads and a statx.
/// `None` once the process is gone.
fn read_stat(file: &std::fs::File) -> Option<Stat> {
    let mut buf = [0u8; STAT_PREFIX];
    let len = std::os::unix::fs::FileExt::read_at(file, &mut buf, 0).ok()?;
    parse_stat(std::str::from_utf8(&buf[..len]).ok()?)
}

/// Parses a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<Stat> {
    // The command name (in parentheses) may hold spaces and parentheses: fields follow the last.
    let close = stat.rfind(')')?;
    let comm = stat[stat.find('(')? + 1..close].to_owned();
    // Fields 3 on: state ppid pgrp session tty_nr.
    let mut fields = stat[close + 1..].split_whitespace().skip(1);
    let ppid = fields.next()?.parse().ok()?;
    let session = fields.nth(1)?.parse().ok()?;
    let tty = fields.next()?.parse::<i32>().ok()?;
    // A field follows tty_nr: a line cut inside tty_nr fails instead of giving a shorter number.
    fields.next()?;
    Some(Stat {
        comm,
        ppid,
        session,
        tty: tty as u32,
    })
}

/// The parents of `pid` (whose stat is `stat`), nearest first, up to its session leader (or
/// init).
fn parents_of(pid: u32, stat: &Stat) -> Vec<Process> {
    let mut parents = Vec::new();
    if pid == stat.session {
        return parents;
    }
    let session = stat.session;
    let mut next = stat.ppid;
    let mut known = KNOWN_PARENTS.lock().unwrap_or_else(|p| p.into_inner());
    while next > 1 && parents.len() < MAX_PARENTS {
        // The session leader ends the chain: its stat is not needed, only its executable.
        let (stat, exe) = if next == session {
            (None, exe_of(next))
        } else {
            match known.read(next) {
                Some((stat, exe)) => (Some(stat), exe),
                None => (None, exe_of(next)),
            }
        };
        parents.push(Process {
            pid: next,
            uid: None,
            exe,
        });
        match stat {
            Some(stat) => next = stat.ppid,
            // The leader, or a parent gone (or unreadable) since its child's stat was read.
            None => break,
        }
    }
    parents
}

/// How many parents the agent keeps open: the shells, `cargo`s and `git`s of a person's
/// sessions; beyond it the cache starts over. Each costs a file descriptor.
const CACHED: usize = 64;

/// The parents of recent callers. The same shell or `cargo` is the parent of every lookup in a
/// build: after the first, each connection re-reads its stat with one `pread` (which the chain
/// needs anyway, for the next parent) instead of an open, a read and a close, and its executable
/// not at all.
static KNOWN_PARENTS: std::sync::LazyLock<Mutex<KnownParents>> =
    std::sync::LazyLock::new(|| Mutex::new(KnownParents::default()));

/// Parents by pid, each with its `/proc/PID/stat` kept open.
///
/// An open `/proc/PID/stat` stays bound to the process it was opened for: reading it fails once
/// that process is gone, even when a new process has its pid, so a reused pid is never taken for
/// the old process. The file also shows the process as it is now: its parent after it was
/// re-parented, and its command name after an `exec`, which makes its executable be read again.
/// (An `exec` of another file of the same name keeps the old path: a trail, not a proof.)
#[derive(Default)]
struct KnownParents {
    known: std::collections::HashMap<u32, Known>,
}

/// One parent: its open stat file, and the executable read when it had this command name.
struct Known {
    stat: std::fs::File,
    comm: String,
    exe: Option<String>,
}

impl KnownParents {
    /// The stat and executable of the process `pid`, or `None` when it cannot be read.
    fn read(&mut self, pid: u32) -> Option<(Stat, Option<String>)> {
        if let Some(known) = self.known.get_mut(&pid) {
            if let Some(stat) = read_stat(&known.stat) {
                if stat.comm != known.comm {
                    known.exe = exe_of(pid);
                    known.comm.clone_from(&stat.comm);
                }
                return Some((stat, known.exe.clone()));
            }
            // Gone: its pid may be another process's by now.
            self.known.remove(&pid);
        }
        let file = open_stat(pid)?;
        let stat = read_stat(&file)?;
        let exe = exe_of(pid);
        if self.known.len() >= CACHED {
            self.known.clear();
        }
        let comm = stat.comm.clone();
        self.known.insert(
            pid,
            Known {
                stat: file,
                comm,
                exe: exe.clone(),
            },
        );
        Some((stat, exe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(exe: &str) -> Process {
        Process {
            pid: 7,
            uid: None,
            exe: Some(exe.into()),
        }
    }

    fn caller(peer: &str, parent: &str) -> Caller {
        Caller {
            peer: process(peer),
            parents: vec![process(parent)],
            terminal: None,
        }
    }

    #[test]
    fn known_tools_per_front() {
        let plugin = caller("/usr/bin/credd", "/root/.rustup/toolchains/x/bin/cargo");
        assert!(plugin.is_known_tool(Some(Front::Cargo)));
        let build_script = caller("/usr/bin/credd", "/t/debug/build/evil-1/build-script-build");
        assert!(!build_script.is_known_tool(Some(Front::Cargo)));
        assert!(!build_script.is_known_tool(Some(Front::Cli)));
        assert!(caller("/usr/bin/credd", "/usr/bin/bash").is_known_tool(Some(Front::Cli)));
        assert!(caller("/v/bin/python3.12", "/usr/bin/bash").is_known_tool(Some(Front::Keyring)));
        assert!(!caller("/x/evil", "/usr/bin/bash").is_known_tool(None));
        assert!(
            caller("/usr/bin/credd", "/usr/bin/cargo (deleted)").is_known_tool(Some(Front::Cargo))
        );
    }

    #[test]
    fn this_process_has_an_executable_and_the_chain_is_bounded() {
        let me = Caller::read(Some(std::process::id()), Some(0));
        assert!(me.peer.exe.is_some());
        assert!(me.parents.len() <= MAX_PARENTS);
        assert!(me.parents.iter().all(|p| p.pid > 1));
    }

    #[test]
    fn a_stat_line_with_parentheses_in_the_name_parses() {
        let line = "7 (a) b (c)) R 3 7 5 34817 7 4194560 90 0 0 0 1 2 0 0 20 0 1 0 123456 9 9";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!((stat.ppid, stat.session, stat.tty), (3, 5, 34817));
    }

    #[test]
    fn the_read_prefix_holds_the_fields_of_the_longest_name_and_numbers() {
        let name = "n".repeat(64);
        let counters = " 18446744073709551615".repeat(45);
        let line = format!("4194304 ({name}) S 4194303 4194302 4194301 34817 1{counters}\n");
        assert!(line.len() > 900);
        let stat = parse_stat(&line[..STAT_PREFIX]).unwrap();
        assert_eq!(stat.comm, name);
        let cut = line.find(" 34817").unwrap() + 3;
        assert!(parse_stat(&line[..cut]).is_none());
        assert_eq!(
            (stat.ppid, stat.session, stat.tty),
            (4194303, 4194301, 34817)
        );
        let own = stat_of(std::process::id()).unwrap();
        assert_eq!(own.ppid, std::os::unix::process::parent_id());
    }

    /// A child that waits for a line on stdin, then `exec`s `sleep`.
    fn waiting_child() -> std::process::Child {
        std::process::Command::new("sh")
            .args(["-c", "read line; exec sleep 30"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits until `pid`'s command name is `comm` (an `exec` is not instant).
    fn wait_for_comm(pid: u32, comm: &str) {
        for _ in 0..500 {
            if stat_of(pid).is_some_and(|stat| stat.comm == comm) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{pid} never became {comm}");
    }

    #[test]
    fn a_known_parent_is_read_again_after_an_exec_and_forgotten_when_gone() {
        let mut child = waiting_child();
        let pid = child.id();
        let mut known = KnownParents::default();
        let (stat, exe) = known.read(pid).unwrap();
        assert_eq!(stat.comm, "sh");
        assert!(exe.unwrap().ends_with("sh"));
        // The same process again: the kept file answers.
        assert_eq!(known.read(pid).unwrap().0.ppid, stat.ppid);
        // An `exec`: another command name, so another executable.
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
        wait_for_comm(pid, "sleep");
        let (_, exe) = known.read(pid).unwrap();
        assert!(exe.unwrap().ends_with("/sleep"));
        // Gone (and reaped): the kept file no longer reads, and the entry goes.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(known.read(pid).is_none());
        assert!(known.known.is_empty());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut children: Vec<_> = (0..CACHED + 8)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut known = KnownParents::default();
        for child in &children {
            assert!(known.read(child.id()).is_some());
            assert!(known.known.len() <= CACHED);
        }
        for child in &mut children {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    #[test]
    fn a_second_read_finds_the_same_chain() {
        let first = Caller::read(Some(std::process::id()), Some(0));
        let second = Caller::read(Some(std::process::id()), Some(0));
        assert_eq!(first.parents, second.parents);
        assert_eq!(first.terminal, second.terminal);
    }

    #[test]
    fn the_oldest_records_go_and_a_reply_fits_a_frame() {
        let audit = Audit::default();
        for i in 0..KEPT + 5 {
            audit.record(LogRecord {
                time: i as u64,
                peer: process(&"x".repeat(200)),
                parents: vec![process(&"y".repeat(200)); 4],
                front: None,
                entry: Some("corp".into()),
                operation: "read".into(),
                outcome: "ok".into(),
                known_tool: false,
            });
        }
        assert_eq!(audit.unknown_callers(), (KEPT + 5) as u64);
        let all = audit.recent(Some(u32::MAX));
        assert!(!all.is_empty() && all.len() < KEPT, "{}", all.len());
        assert_eq!(all.last().unwrap().time, (KEPT + 4) as u64);
        assert!(serde_json::to_vec(&all).unwrap().len() <= LOG_BUDGET + all.len());
        assert_eq!(audit.recent(Some(2)).len(), 2);
    }
}
