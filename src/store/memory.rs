//! How much memory this process can get, which bounds what a new vault's key derivation may ask
//! for: Argon2 allocates all of its memory up front, and on a system that overcommits, asking for
//! more than there is ends with the out-of-memory killer, not with an error.

use std::fs;
use std::path::Path;

/// Where the cgroup v2 hierarchy is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The memory available to this process in KiB: the smaller of the system's `MemAvailable` and
/// the headroom its cgroup v2 limits leave (its own cgroup's and every ancestor's). `None` when
/// neither can be read.
pub fn available_kib() -> Option<u64> {
    let system = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available_kib(&text));
    let cgroup = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_headroom_kib(Path::new(CGROUP_ROOT), cgroup_v2_path(&text)?));
    [system, cgroup].into_iter().flatten().min()
}

/// `MemAvailable` of a `/proc/meminfo` text, in KiB.
fn mem_available_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The cgroup v2 path (`0::PATH`) of a `/proc/self/cgroup` text.
fn cgroup_v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The least headroom (`memory.max` minus `memory.current`), in KiB, of the cgroup at `path`
/// under `root` and of its ancestors up to `root`; `None` when none of them has a limit.
fn cgroup_headroom_kib(root: &Path, path: &str) -> Option<u64> {
    let read = |dir: &Path, name: &str| fs::read_to_string(dir.join(name)).ok();
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut least: Option<u64> = None;
    loop {
        let limit = read(&dir, "memory.max").and_then(|text| text.trim().parse::<u64>().ok());
        if let Some(limit) = limit {
            let used = read(&dir, "memory.current")
                .and_then(|text| text.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let headroom = limit.saturating_sub(used) / 1024;
            least = Some(least.map_or(headroom, |l| l.min(headroom)));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            return least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_kib() {
        let meminfo = "MemTotal:       16311420 kB\nMemFree:  1 kB\nMemAvailable:   8123456 kB\n";
        assert_eq!(mem_available_kib(meminfo), Some(8_123_456));
        assert_eq!(mem_available_kib("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn the_v2_cgroup_path_is_found() {
        let text = "12:memory:/old\n0::/user.slice/user-0.slice/session-1.scope\n";
        assert_eq!(
            cgroup_v2_path(text),
            Some("/user.slice/user-0.slice/session-1.scope")
        );
        assert_eq!(cgroup_v2_path("3:cpu:/x\n"), None);
    }

    #[test]
    fn the_tightest_cgroup_limit_on_the_way_up_counts() {
        let root = tempfile::tempdir().unwrap();
        let leaf = root.path().join("a/b");
        fs::create_dir_all(&leaf).unwrap();
        let write = |dir: &Path, name: &str, text: &str| fs::write(dir.join(name), text).unwrap();
        // No limit anywhere (the root cgroup has no memory.max at all).
        write(&leaf, "memory.max", "max\n");
        assert_eq!(cgroup_headroom_kib(root.path(), "/a/b"), None);
        // The parent's limit, less what is in use there.
        let parent = root.path().join("a");
        write(&parent, "memory.max", "1073741824\n");
        write(&parent, "memory.current", "536870912\n");
        assert_eq!(cgroup_headroom_kib(root.path(), "/a/b"), Some(512 * 1024));
        // A tighter limit of the process's own cgroup wins.
        write(&leaf, "memory.max", "268435456\n");
        assert_eq!(cgroup_headroom_kib(root.path(), "/a/b"), Some(256 * 1024));
        // Usage above the limit leaves nothing.
        write(&leaf, "memory.current", "300000000\n");
        assert_eq!(cgroup_headroom_kib(root.path(), "/a/b"), Some(0));
    }
}
