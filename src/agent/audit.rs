//! Who asked for what: every lookup, with the process that connected and its parents up to the
//! session leader, kept in memory (the last [`KEPT`]) and sent to the log (the journal under
//! systemd). Never a secret: a record holds names, process ids, executables and outcomes.
//!
//! The processes are read from `/proc` when the client connects; parents seen before are only
//! checked then (see `KnownParents`). A process can exit and its pid be reused before it is
//! read, and a same-user program can make its executable look like a tool's (a copy named
//! `cargo`): the record is a trail for a person to read, not a proof.

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

/// The most bytes of an executable's path a record keeps. A path can be 4 KiB, and a record
/// holds up to [`MAX_PARENTS`] of them besides the peer's: uncut, one record could outgrow the
/// `log` reply and hide every record before it.
const MAX_EXE_LEN: usize = 512;

/// The path of `pid`'s executable (`/proc/PID/exe`), when readable, cut to its last
/// [`MAX_EXE_LEN`] bytes (where the file name is, which [`Caller::is_known_tool`] reads).
fn exe_of(pid: u32) -> Option<String> {
    let path = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(tail_of(&path.to_string_lossy(), MAX_EXE_LEN))
}

/// `text`, or `…` and its end when it is longer than `max` bytes.
fn tail_of(text: &str, max: usize) -> String {
    const CUT: &str = "…";
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - (max - CUT.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{CUT}{}", &text[start..])
}

/// What the audit reads from `/proc/PID/stat`.
struct Stat {
    ppid: u32,
    session: u32,
    /// The controlling terminal's device number; 0 without one.
    tty: u32,
}

/// The parent pid, session id and controlling terminal of `pid`, from `/proc/PID/stat`; `None`
/// when the process is gone or unreadable.
fn stat_of(pid: u32) -> Option<Stat> {
    read_stat(&std::fs::File::open(format!("/proc/{pid}/stat")).ok()?)
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
    parse_stat(&buf[..len])
}

/// Parses a `/proc/PID/stat` line.
fn parse_stat(stat: &[u8]) -> Option<Stat> {
    // The command name (in parentheses) may hold spaces, parentheses and bytes that are not
    // UTF-8: the fields follow the last `)`.
    let close = stat.iter().rposition(|&b| b == b')')?;
    // Fields 3 on: state ppid pgrp session tty_nr.
    let mut fields = std::str::from_utf8(&stat[close + 1..])
        .ok()?
        .split_whitespace()
        .skip(1);
    let ppid = fields.next()?.parse().ok()?;
    let session = fields.nth(1)?.parse().ok()?;
    let tty = fields.next()?.parse::<i32>().ok()?;
    // A field follows tty_nr: a line cut inside tty_nr fails instead of giving a shorter number.
    fields.next()?;
    Some(Stat {
        ppid,
        session,
        tty: tty as u32,
    })
}

/// The parents of `pid` (whose stat is `stat`), nearest first, up to its session leader (or
/// init).
fn parents_of(pid: u32, stat: &Stat) -> Vec<Process> {
    if pid == stat.session {
        return Vec::new();
    }
    let mut known = KNOWN_PARENTS.lock().unwrap_or_else(|p| p.into_inner());
    known.chain(stat.ppid, stat.session)
}

/// How many parents the agent keeps open at most: the shells, `cargo`s and `git`s of a person's
/// sessions; beyond it the cache starts over. Each costs two file descriptors.
const CACHED: usize = 64;

/// The parents of recent callers. The same shell or `cargo` is the parent of every lookup in a
/// build: after the first, each connection asks its pidfd whether it has exited and reads its
/// command name (0.3 and 0.6 µs here, where one read of `/proc/PID/stat`, which formats fifty
/// fields, takes 3.4 µs), and its stat and executable only when they may have changed.
static KNOWN_PARENTS: std::sync::LazyLock<Mutex<KnownParents>> =
    std::sync::LazyLock::new(|| Mutex::new(KnownParents::default()));

/// Parents by pid, each with a pidfd and its `/proc/PID/comm` kept open.
///
/// Both stay bound to the process they were opened for, even when a new process has its pid:
/// while the pidfd shows the process has not exited, what was read of it is its own. A changed
/// command name (an `exec`) makes the executable be read again. (An `exec` of another file of the
/// same name keeps the old path: a trail, not a proof.)
///
/// A parent's own parent is remembered with the entry it was found as. A process is handed to a
/// new parent only when its parent exits, so while that very entry has not exited the parent is
/// the same; otherwise the child's stat is read again. A link to a parent opened after the
/// child's stat was read is checked by reading the child's stat once more: the parent may have
/// exited in between, and its pid gone to another process.
#[derive(Default)]
struct KnownParents {
    known: std::collections::HashMap<u32, Known>,
    /// The number given to the last entry opened: tells a parent from a later process with its
    /// pid that the cache opened since.
    opened: u64,
    /// Set once pidfds turn out not to work here (a kernel before 5.3, a sandbox that refuses
    /// them): nothing then tells that a kept parent still lives, so parents are read anew at
    /// each lookup.
    no_pidfds: bool,
}

/// One parent, kept open.
struct Known {
    /// Tells whether it has exited.
    pidfd: std::os::fd::OwnedFd,
    /// Its `/proc/PID/comm`, read at each lookup.
    comm_file: std::fs::File,
    /// Its command name when its executable was read.
    comm: Vec<u8>,
    /// Its `/proc/PID/exe`, when readable.
    exe: Option<String>,
    /// Its parent's pid, from its stat.
    ppid: u32,
    /// Which entry is its parent (by [`Known::number`]); 0 until the chain has reached it.
    parent_number: u64,
    /// Its own number: entries are numbered as they are opened.
    number: u64,
}

impl Known {
    /// True while its process has not exited.
    fn lives(&self) -> bool {
        !crate::sys::has_exited(std::os::fd::AsFd::as_fd(&self.pidfd))
    }

    fn found(&self, new: bool) -> Found {
        Found::Kept {
            number: self.number,
            ppid: self.ppid,
            exe: self.exe.clone(),
            new,
        }
    }
}

/// A parent as one step of a chain finds it.
enum Found {
    /// Kept: its entry's number, its parent and executable; `new` when opened just now.
    Kept {
        number: u64,
        ppid: u32,
        exe: Option<String>,
        new: bool,
    },
    /// Read without being kept (no pidfds).
    Read { ppid: u32, exe: Option<String> },
    /// Gone or unreadable, or (remembered) no longer known to be the parent.
    Missing,
}

impl KnownParents {
    /// The processes from `ppid` (the parent of a caller, just read from its stat) up, nearest
    /// first, to the leader of `session` (or init, or [`MAX_PARENTS`]).
    fn chain(&mut self, ppid: u32, session: u32) -> Vec<Process> {
        self.make_room();
        let mut parents = Vec::new();
        let mut next = ppid;
        // The kept entry whose parent `next` is: none for the caller, nor above a parent read
        // without keeping it.
        let mut child = None;
        // True when `next` is that child's parent remembered from an earlier lookup.
        let mut remembered = false;
        // Each turn adds a parent or reads a child's stat again; the bound ends a walk of a
        // tree that keeps changing under it.
        for _ in 0..2 * MAX_PARENTS {
            if next <= 1 || parents.len() == MAX_PARENTS {
                break;
            }
            let found = match child {
                Some(child) if remembered => self.still_parent(child, next),
                _ => self.current_or_open(next),
            };
            let unsure = matches!(found, Found::Kept { new: true, .. } | Found::Missing);
            if let Some(child) = child
                && unsure
            {
                match self.reread_ppid(child) {
                    // The child itself has exited.
                    None => break,
                    Some(ppid) if ppid != next || remembered => {
                        (next, remembered) = (ppid, false);
                        continue;
                    }
                    Some(_) => {}
                }
            }
            let (ppid, exe, kept) = match found {
                Found::Kept {
                    number,
                    ppid,
                    exe,
                    new,
                } => (ppid, exe, Some((number, new))),
                Found::Read { ppid, exe } => (ppid, exe, None),
                Found::Missing => {
                    // Its pid is all that is known: /proc may show another process under it.
                    parents.push(Process {
                        pid: next,
                        uid: None,
                        exe: None,
                    });
                    break;
                }
            };
            parents.push(Process {
                pid: next,
                uid: None,
                exe,
            });
            if let (Some(child), Some((number, _))) = (child, kept)
                && let Some(child) = self.known.get_mut(&child)
            {
                child.parent_number = number;
            }
            if next == session {
                break;
            }
            // A parent just opened had its stat read now; a kept one's parent is remembered.
            remembered = kept.is_some_and(|(_, new)| !new);
            child = kept.map(|_| next);
            next = ppid;
        }
        parents
    }

    /// The kept entry of `pid` when the process has not exited, with its executable read again
    /// after an `exec`; an exited one is dropped.
    fn current(&mut self, pid: u32) -> Option<&Known> {
        let known = self.known.get(&pid)?;
        let mut buf = [0u8; COMM_READ];
        let comm = known.lives().then(|| read_comm(&known.comm_file, &mut buf));
        let Some(Some(comm)) = comm else {
            // Its children have another parent, and its pid may be another process's.
            self.known.remove(&pid);
            return None;
        };
        let known = self.known.get_mut(&pid)?;
        if comm != known.comm {
            known.exe = exe_of(pid);
            known.comm = comm.to_vec();
            if !known.lives() {
                // The executable read may be a later process's.
                self.known.remove(&pid);
                return None;
            }
        }
        self.known.get(&pid)
    }

    /// [`Self::current`] of `pid`, opened when not kept (or read without keeping it when pidfds
    /// do not work).
    fn current_or_open(&mut self, pid: u32) -> Found {
        if let Some(known) = self.current(pid) {
            return known.found(false);
        }
        if self.no_pidfds {
            return read_unkept(pid);
        }
        let pidfd = match crate::sys::pidfd_open(pid) {
            Ok(pidfd) => pidfd,
            Err(error) => return self.without_pidfd(pid, &error),
        };
        let Some(known) = self.open(pid, pidfd) else {
            return Found::Missing;
        };
        let found = known.found(true);
        self.known.insert(pid, known);
        found
    }

    /// The parent `pid` whose pidfd did not open with `error`: gone, or else read without
    /// keeping it; a system without pidfds is remembered.
    fn without_pidfd(&mut self, pid: u32, error: &std::io::Error) -> Found {
        use crate::sys::Errno;
        match Errno::from_io_error(error) {
            Some(Errno::SRCH) => return Found::Missing,
            Some(Errno::NOSYS | Errno::PERM | Errno::ACCESS) => {
                tracing::debug!(%error, "no pidfds: the audit reads every parent anew");
                self.no_pidfds = true;
            }
            // Out of descriptors, say: this once.
            _ => {}
        }
        read_unkept(pid)
    }

    /// Makes room for the parents of one chain before it is walked, so that no entry of it
    /// goes while it is: the exited go first, then, if the cache is still too full, every
    /// entry.
    fn make_room(&mut self) {
        if self.known.len() + MAX_PARENTS > CACHED {
            self.known.retain(|_, known| known.lives());
            if self.known.len() + MAX_PARENTS > CACHED {
                self.known.clear();
            }
        }
    }

    /// [`Self::current`] of `pid` when it is the very entry that `child` was last found the
    /// child of.
    fn still_parent(&mut self, child: u32, pid: u32) -> Found {
        let Some(number) = self.known.get(&child).map(|child| child.parent_number) else {
            return Found::Missing;
        };
        match self.current(pid) {
            Some(known) if known.number == number => known.found(false),
            _ => Found::Missing,
        }
    }

    /// Reads the kept `child`'s stat again for its parent; None once it has exited.
    fn reread_ppid(&mut self, child: u32) -> Option<u32> {
        let stat = stat_of(child)?;
        let known = self.known.get_mut(&child)?;
        // Checked after the read: the stat was the child's own, not a later process's.
        known.lives().then_some(())?;
        known.ppid = stat.ppid;
        Some(stat.ppid)
    }

    /// Reads `pid`, whose pidfd is `pidfd`: its stat, command name and executable.
    fn open(&mut self, pid: u32, pidfd: std::os::fd::OwnedFd) -> Option<Known> {
        let stat = stat_of(pid)?;
        let comm_file = std::fs::File::open(format!("/proc/{pid}/comm")).ok()?;
        let mut buf = [0u8; COMM_READ];
        let comm = read_comm(&comm_file, &mut buf)?.to_vec();
        let known = Known {
            pidfd,
            comm_file,
            comm,
            exe: exe_of(pid),
            ppid: stat.ppid,
            parent_number: 0,
            number: self.opened + 1,
        };
        // Checked after the reads: what they found was this process's, not a later one's.
        known.lives().then_some(())?;
        self.opened += 1;
        Some(known)
    }
}

/// A parent read without keeping it: its stat and executable.
fn read_unkept(pid: u32) -> Found {
    stat_of(pid).map_or(Found::Missing, |stat| Found::Read {
        ppid: stat.ppid,
        exe: exe_of(pid),
    })
}

/// How much of `/proc/PID/comm` is read: a kernel thread's name of up to 64 bytes (a process's
/// is at most 15) and its newline.
const COMM_READ: usize = 80;

/// The command name in an open `/proc/PID/comm`, read into `buf`; None once the process is gone.
fn read_comm<'b>(file: &std::fs::File, buf: &'b mut [u8; COMM_READ]) -> Option<&'b [u8]> {
    let len = std::os::unix::fs::FileExt::read_at(file, buf, 0).ok()?;
    Some(buf[..len].strip_suffix(b"\n").unwrap_or(&buf[..len]))
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

    #[test]
    fn a_long_path_keeps_its_end_within_the_limit_and_on_a_character() {
        assert_eq!(tail_of("/usr/bin/cargo", 16), "/usr/bin/cargo");
        let long = format!("/{}/é/cargo", "d".repeat(600));
        let cut = tail_of(&long, MAX_EXE_LEN);
        assert!(cut.len() <= MAX_EXE_LEN && cut.starts_with('…') && cut.ends_with("/é/cargo"));
        // A cut that would fall inside `é` (two bytes) moves past it.
        let cut = tail_of("abcé/cargo", 10);
        assert_eq!(cut, "…/cargo");
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
    fn a_stat_line_with_parentheses_or_other_bytes_in_the_name_parses() {
        let line = b"7 (a) b (c)) R 3 7 5 34817 7 4194560 90 0 0 0 1 2 0 0 20 0 1 0 123456 9 9";
        let stat = parse_stat(line).unwrap();
        assert_eq!((stat.ppid, stat.session, stat.tty), (3, 5, 34817));
        let not_utf8 = b"7 (\xff\xfe) S 3 7 5 0 7 4194560";
        assert_eq!(parse_stat(not_utf8).unwrap().ppid, 3);
    }

    #[test]
    fn the_read_prefix_holds_the_fields_of_the_longest_name_and_numbers() {
        let name = "n".repeat(64);
        let counters = " 18446744073709551615".repeat(45);
        let line = format!("4194304 ({name}) S 4194303 4194302 4194301 34817 1{counters}\n");
        assert!(line.len() > 900);
        let stat = parse_stat(&line.as_bytes()[..STAT_PREFIX]).unwrap();
        let cut = line.find(" 34817").unwrap() + 3;
        assert!(parse_stat(&line.as_bytes()[..cut]).is_none());
        assert_eq!(
            (stat.ppid, stat.session, stat.tty),
            (4194303, 4194301, 34817)
        );
        let own = stat_of(std::process::id()).unwrap();
        assert_eq!(own.ppid, std::os::unix::process::parent_id());
    }

    /// Kills the process `pid` when dropped: no test leaves one behind, even when it fails.
    struct KillOnDrop(u32);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }

    /// Waits (up to 5 s) until `done` holds.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("never: {what}");
    }

    /// `pid`'s command name, from `/proc/PID/comm`.
    fn comm_of(pid: u32) -> Option<Vec<u8>> {
        let file = std::fs::File::open(format!("/proc/{pid}/comm")).ok()?;
        read_comm(&file, &mut [0; COMM_READ]).map(<[u8]>::to_vec)
    }

    /// The kept entry of `pid`, opened when new.
    fn open_kept(known: &mut KnownParents, pid: u32) -> (u64, bool) {
        match known.current_or_open(pid) {
            Found::Kept { number, new, .. } => (number, new),
            _ => panic!("{pid} was not kept"),
        }
    }

    #[test]
    fn a_known_parent_is_read_again_after_an_exec_and_forgotten_once_it_exits() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read line; exec sleep 30"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let _kill = KillOnDrop(pid);
        let mut known = KnownParents::default();
        let (number, new) = open_kept(&mut known, pid);
        assert!(new);
        assert_eq!(known.known[&pid].comm, b"sh");
        assert!(known.known[&pid].exe.as_deref().unwrap().ends_with("sh"));
        // The same process again: the kept entry answers.
        assert_eq!(open_kept(&mut known, pid), (number, false));
        // An `exec`: another command name, so another executable, in the same entry.
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
        wait_until("the child runs sleep", || {
            comm_of(pid).as_deref() == Some(b"sleep")
        });
        assert_eq!(open_kept(&mut known, pid), (number, false));
        assert_eq!(known.known[&pid].comm, b"sleep");
        assert!(
            known.known[&pid]
                .exe
                .as_deref()
                .unwrap()
                .ends_with("/sleep")
        );
        // Exited but not reaped (a zombie, whose /proc files still read): no longer kept.
        child.kill().unwrap();
        wait_until("the child is dropped", || known.current(pid).is_none());
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(known.known.is_empty());
        child.wait().unwrap();
    }

    /// Python as a subreaper: it starts a `sh` that starts `sleep` and prints both pids, never
    /// reaps the `sh`, and exits when its stdin closes.
    const SUBREAPER: &str = "import ctypes, subprocess, sys
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
sh = subprocess.Popen(['sh', '-c', 'sleep 30 & echo $!; wait'], stdout=subprocess.PIPE)
print(sh.pid, sh.stdout.readline().decode().strip(), flush=True)
sys.stdin.read()";

    /// The pids of a chain.
    fn pids(chain: Vec<Process>) -> Vec<u32> {
        chain.iter().map(|p| p.pid).collect()
    }

    #[test]
    fn a_kept_parent_whose_parent_exits_is_followed_to_its_new_parent() {
        let mut python = std::process::Command::new("python3")
            .args(["-c", SUBREAPER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _kill_python = KillOnDrop(python.id());
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(python.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let [middle, sleeper]: [u32; 2] = line
            .split_whitespace()
            .map(|pid| pid.parse().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let _kill_sleeper = KillOnDrop(sleeper);
        let kill_middle = KillOnDrop(middle);
        // The chain above a caller whose parent is the sleeper; 0 is nobody's session.
        let mut known = KnownParents::default();
        let before = pids(known.chain(sleeper, 0));
        assert_eq!(
            before[..4],
            [sleeper, middle, python.id(), std::process::id()]
        );
        // Kept: the same chain again, from the remembered parents.
        assert_eq!(pids(known.chain(sleeper, 0)), before);
        // The sleeper's parent exits and stays a zombie; the sleeper goes to the subreaper.
        drop(kill_middle);
        wait_until("the sleeper is the subreaper's", || {
            stat_of(sleeper).is_some_and(|stat| stat.ppid == python.id())
        });
        let after = pids(known.chain(sleeper, 0));
        assert_eq!(after, [&before[..1], &before[2..]].concat());
        drop(python.stdin.take());
        python.wait().unwrap();
    }

    #[test]
    fn a_remembered_parent_holds_only_as_the_entry_it_was_found_as_and_no_pidfds_read_anew() {
        let ppid = std::os::unix::process::parent_id();
        let mut known = KnownParents::default();
        let kept = pids(known.chain(ppid, 0));
        assert!(kept.len() >= 2, "{kept:?}");
        // Another kept process where the parent's link points, as a later process that the
        // cache opened under the remembered parent's pid would be: not the entry the link names,
        // so the child's stat is read again.
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let kill_other = KillOnDrop(other.id());
        open_kept(&mut known, other.id());
        known.known.get_mut(&ppid).unwrap().ppid = other.id();
        assert_eq!(pids(known.chain(ppid, 0)), kept);
        assert_eq!(known.known[&ppid].ppid, kept[1]);
        // Without pidfds every parent is read anew, none kept, to the same chain.
        let mut unkept = KnownParents {
            no_pidfds: true,
            ..KnownParents::default()
        };
        assert_eq!(pids(unkept.chain(ppid, 0)), kept);
        assert!(unkept.known.is_empty());
        drop(kill_other);
        other.wait().unwrap();
    }

    #[test]
    fn the_cache_makes_room_first_by_dropping_exited_parents() {
        // The most entries that leave room for a chain.
        let room = CACHED - MAX_PARENTS;
        let spawn_sleep = || {
            let child = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let kill = KillOnDrop(child.id());
            (child, kill)
        };
        let mut children: Vec<_> = (0..=room).map(|_| spawn_sleep()).collect();
        let mut known = KnownParents::default();
        for (child, _) in &children {
            open_kept(&mut known, child.id());
        }
        // Full for a chain: an exited parent goes, the others stay.
        let (mut first, kill) = children.remove(0);
        drop(kill);
        first.wait().unwrap();
        known.make_room();
        assert_eq!(known.known.len(), room);
        // Full again, all alive: it starts over.
        let (extra, _kill_extra) = spawn_sleep();
        open_kept(&mut known, extra.id());
        known.make_room();
        assert!(known.known.is_empty());
        for (mut child, kill) in children {
            drop(kill);
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
