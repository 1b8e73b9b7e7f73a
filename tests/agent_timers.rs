//! The agent's timers and lifecycle: idle and absolute auto-lock, signals, persistence across
//! restarts, wrong passphrases and damaged vaults.

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Output, TestEnv, wait_until};

const SECRET: &str = "s3cret-token-for-timers";
const LOCKED: &str = "credd is locked: run 'credd unlock'";

/// Starts the agent and waits until it has installed its signal handlers (it logs "agent
/// listening" after that; its socket accepts connections a little earlier).
fn start_ready(env: &TestEnv) -> Agent {
    let agent = env.start_agent();
    wait_for_log(env, "agent listening");
    agent
}

/// Waits (at most 10 s) until the agent's log contains `needle`.
fn wait_for_log(env: &TestEnv, needle: &str) {
    wait_until(&format!("the log says {needle:?}"), || {
        env.log().contains(needle)
    });
}

/// A started agent with a vault holding one entry, `reg`; left unlocked.
fn unlocked_with_entry(env: &TestEnv) -> Agent {
    let agent = start_ready(env);
    env.init();
    env.add("reg", "https://reg.test/index/", SECRET);
    agent
}

/// `credd get reg`.
fn get(env: &TestEnv) -> Output {
    env.cli(&["get", "reg"])
}

#[track_caller]
fn assert_got_secret(out: &Output) {
    assert_eq!(out.ok().trim_end(), SECRET, "{out:?}");
}

#[track_caller]
fn assert_locked(out: &Output) {
    assert_eq!(out.code(), 3, "expected 'locked' (exit 3): {out:?}");
    assert!(out.stderr.contains(LOCKED), "stderr: {}", out.stderr);
}

#[track_caller]
fn assert_running(agent: &mut Agent) {
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent exited"
    );
}

#[test]
fn idle_timeout_locks() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 1\n");
    let _agent = unlocked_with_entry(&env);
    assert_got_secret(&get(&env));
    std::thread::sleep(Duration::from_millis(2500));
    assert_locked(&get(&env));
    assert!(env.cli(&["status"]).ok().contains("state: locked"));
}

#[test]
fn get_resets_the_idle_timer() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 2\n");
    let _agent = unlocked_with_entry(&env);
    env.cli(&["lock"]).ok();
    env.unlock().ok();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        assert_got_secret(&get(&env));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_got_secret(&get(&env));
}

#[test]
fn status_does_not_reset_the_idle_timer() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 2\n");
    let _agent = unlocked_with_entry(&env);
    env.cli(&["lock"]).ok();
    env.unlock().ok();
    let started = Instant::now();
    let mut saw_unlocked = false;
    while started.elapsed() < Duration::from_secs(3) {
        saw_unlocked |= env.cli(&["status"]).ok().contains("state: unlocked");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(saw_unlocked, "status never showed the agent unlocked");
    assert_locked(&get(&env));
}

#[test]
fn absolute_maximum_locks_despite_use() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 60\nmax-unlock = 2\n");
    let _agent = unlocked_with_entry(&env);
    env.cli(&["lock"]).ok();
    env.unlock().ok();
    let unlocked_at = Instant::now();
    let locked_after = loop {
        let out = get(&env);
        if !out.status.success() {
            assert_locked(&out);
            break unlocked_at.elapsed();
        }
        assert_got_secret(&out);
        assert!(
            unlocked_at.elapsed() < Duration::from_secs(4),
            "still unlocked after 4 s with max-unlock = 2"
        );
        std::thread::sleep(Duration::from_millis(400));
    };
    assert!(
        locked_after > Duration::from_millis(1500),
        "locked after only {locked_after:?}"
    );
}

#[test]
fn sigusr1_locks_and_the_agent_keeps_running() {
    let env = TestEnv::new();
    let mut agent = unlocked_with_entry(&env);
    assert_got_secret(&get(&env));
    agent.signal(libc::SIGUSR1);
    wait_for_log(&env, "SIGUSR1: locked");
    assert_locked(&get(&env));
    assert_running(&mut agent);
    env.unlock().ok();
    assert_got_secret(&get(&env));
}

#[test]
fn sighup_reloads_the_config_and_keeps_it_when_broken() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 60\n");
    let mut agent = unlocked_with_entry(&env);

    env.write_config("idle-timeout = 1\n");
    agent.signal(libc::SIGHUP);
    wait_for_log(&env, "SIGHUP: config reloaded");

    env.write_config("idle-timeout = \"soon\"\nno-such-key = 1\n");
    agent.signal(libc::SIGHUP);
    wait_for_log(&env, "keeping the old config");
    assert_running(&mut agent);

    // The reloaded idle-timeout of 1 s is in force, not the broken file nor the default.
    env.cli(&["lock"]).ok();
    env.unlock().ok();
    assert_got_secret(&get(&env));
    std::thread::sleep(Duration::from_millis(2500));
    assert_locked(&get(&env));
    assert_running(&mut agent);
}

fn assert_signal_stops_cleanly(signal: i32) {
    let env = TestEnv::new();
    let mut agent = unlocked_with_entry(&env);
    assert!(env.socket.exists());
    agent.signal(signal);
    let status = agent.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after signal {signal}: {status:?}"
    );
    assert!(
        !env.socket.exists(),
        "the socket file is left after signal {signal}"
    );
    assert!(
        env.log().contains("secrets wiped, agent stopped"),
        "log: {}",
        env.log()
    );
}

#[test]
fn sigterm_exits_cleanly_and_removes_the_socket() {
    assert_signal_stops_cleanly(libc::SIGTERM);
}

#[test]
fn sigint_exits_cleanly_and_removes_the_socket() {
    assert_signal_stops_cleanly(libc::SIGINT);
}

#[test]
fn entries_persist_across_a_restart() {
    let env = TestEnv::new();
    let mut agent = unlocked_with_entry(&env);
    env.cli(&["stop"]).ok();
    assert!(agent.wait_exit().success());
    drop(agent);

    let _agent = start_ready(&env);
    assert!(
        env.cli(&["status"])
            .ok()
            .contains("state: locked; run 'credd unlock'")
    );
    assert_locked(&get(&env));
    env.unlock().ok();
    assert_got_secret(&get(&env));
}

#[test]
fn wrong_passphrase_is_refused_and_the_right_one_then_works() {
    let env = TestEnv::new();
    let _agent = unlocked_with_entry(&env);
    env.cli(&["lock"]).ok();
    let socket = env.socket_str();
    let wrong = env.run(
        &["unlock", "--passphrase-stdin", "--socket", socket],
        "not the passphrase\n",
    );
    assert_eq!(wrong.code(), 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("wrong passphrase"),
        "stderr: {}",
        wrong.stderr
    );
    assert!(env.cli(&["status"]).ok().contains("state: locked"));
    assert_locked(&get(&env));
    env.unlock().ok();
    assert_got_secret(&get(&env));
}

#[test]
fn damaged_vault_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    let mut agent = unlocked_with_entry(&env);
    env.cli(&["stop"]).ok();
    assert!(agent.wait_exit().success());
    drop(agent);

    /// The fixed-size header (version 2) before the encrypted body (docs/vault-format.md).
    const HEADER_LEN: usize = 134;
    let mut damaged = std::fs::read(env.vault()).unwrap();
    assert!(
        damaged.len() > HEADER_LEN + 32,
        "vault too short: {} bytes",
        damaged.len()
    );
    let middle = HEADER_LEN + (damaged.len() - HEADER_LEN) / 2;
    damaged[middle] ^= 0x01;
    std::fs::write(env.vault(), &damaged).unwrap();

    let _agent = start_ready(&env);
    let out = env.unlock();
    assert!(!out.status.success(), "a damaged vault opened: {out:?}");
    assert!(out.stderr.contains("damaged"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("left untouched"),
        "stderr: {}",
        out.stderr
    );
    assert!(env.cli(&["status"]).ok().contains("state: locked"));
    let reinit = env.init_with(common::PASSPHRASE);
    assert!(
        !reinit.status.success(),
        "init overwrote a damaged vault: {reinit:?}"
    );
    assert_eq!(
        std::fs::read(env.vault()).unwrap(),
        damaged,
        "the damaged vault was modified"
    );
}
