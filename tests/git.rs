//! credd as git's credential helper, with the real git (and the real Cargo, both of its git
//! fetches) against repositories served over HTTP on 127.0.0.1 behind Basic auth by the real
//! `git http-backend`. git's config is this test's own: HOME, GIT_CONFIG_GLOBAL and
//! XDG_CONFIG_HOME point into the temp dir and GIT_CONFIG_NOSYSTEM=1, so credd is the only
//! helper.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::githttp::GitServer;
use common::{Output, TestEnv, run_with_limit};

const LOCKED: &str = "credd is locked: run 'credd unlock'";

/// An unlocked agent, a git server with `users`, and git configured to use credd alone.
struct Git {
    env: TestEnv,
    _agent: common::Agent,
    server: GitServer,
}

impl Git {
    fn new(users: &[(&str, &str)]) -> Self {
        let env = TestEnv::new();
        let agent = env.start_agent();
        env.init();
        let server = GitServer::start(&env.dir.path().join("server"), users);
        let git = Self {
            env,
            _agent: agent,
            server,
        };
        git.config(&["credential.helper", &helper("")]);
        git
    }

    fn home(&self) -> PathBuf {
        self.env.dir.path().join("home")
    }

    /// `git ARGS` in `dir` with this test's config only, no terminal and no prompting.
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .env_clear()
            .envs(
                self.env
                    .command()
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            )
            .env("GIT_CONFIG_GLOBAL", self.home().join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("CREDD_SOCKET", &self.env.socket)
            .args(args)
            .current_dir(dir);
        detach(&mut command);
        command
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        run_with_limit(self.command(dir, args), "")
    }

    /// `git config --global KEY VALUE` (added to the values already there).
    fn config(&self, key_value: &[&str]) {
        let mut args = vec!["config", "--global", "--add"];
        args.extend(key_value);
        let out = self.run(self.env.dir.path(), &args);
        assert!(out.status.success(), "{out:?}");
    }

    fn add(&self, name: &str, url: &str, username: &str, secret: &str) {
        self.env
            .cli_with_input(
                &[
                    "add",
                    name,
                    "--url",
                    url,
                    "--username",
                    username,
                    "--secret-stdin",
                ],
                &format!("{secret}\n"),
            )
            .ok();
    }

    /// `credd git-credential ARGS` with `stdin`, as git runs it (no terminal).
    fn helper(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.env.command();
        command
            .arg("git-credential")
            .args(args)
            .env("CREDD_SOCKET", &self.env.socket);
        detach(&mut command);
        run_with_limit(command, stdin)
    }

    /// Clones `NAME.git` from `url` into `dir` and returns the output.
    fn clone(&self, url: &str, dir: &str) -> Output {
        self.run(self.env.dir.path(), &["clone", "-q", url, dir])
    }

    /// Users the server saw on successful requests.
    fn served_users(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.user)
            .collect()
    }
}

/// The helper line for credd itself, with `args` (e.g. `--store-new`).
fn helper(args: &str) -> String {
    format!("{} git-credential {args}", env!("CARGO_BIN_EXE_credd"))
        .trim_end()
        .to_owned()
}

/// Runs `command` in a session of its own: no controlling terminal to prompt on.
fn detach(command: &mut Command) {
    // SAFETY: setsid is async-signal-safe; it only detaches the child from the terminal.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn git_clones_and_fetches_with_credd_the_only_helper_and_no_secret_in_traces() {
    let git = Git::new(&[("alice", "alice-pw-9f3c1")]);
    let work = git.server.repository("repo", &[("README", b"one\n")]);
    let url = git.server.url("localhost", "repo");
    git.add("repo", &url, "alice", "alice-pw-9f3c1");

    let mut clone = git.command(
        git.env.dir.path(),
        &["clone", "-q", url.as_str(), "checkout"],
    );
    clone.env("GIT_TRACE", "1").env("GIT_CURL_VERBOSE", "1");
    let out = run_with_limit(clone, "");
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("credential"),
        "no helper in the trace: {out:?}"
    );
    for text in [&out.stdout, &out.stderr, &git.env.log()] {
        assert!(!text.contains("alice-pw-9f3c1"), "secret in {text}");
        // Basic auth is base64 of "alice:alice-pw-9f3c1".
        assert!(
            !text.contains("YWxpY2U6YWxpY2UtcHctOWYzYzE"),
            "secret in {text}"
        );
    }
    let checkout = git.env.dir.path().join("checkout");
    assert_eq!(
        std::fs::read_to_string(checkout.join("README")).unwrap(),
        "one\n"
    );

    git.server.update(&work, "repo", &[("README", b"two\n")]);
    let out = git.run(&checkout, &["pull", "-q", "--ff-only"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(checkout.join("README")).unwrap(),
        "two\n"
    );
    assert!(git.served_users().iter().all(|u| u == "alice"));
    assert!(!git.served_users().is_empty());
}

#[test]
fn with_use_http_path_each_repository_gets_its_own_user() {
    let git = Git::new(&[("alice", "pw-a"), ("bob", "pw-b")]);
    git.server.repository("a", &[("A", b"a\n")]);
    git.server.repository("b", &[("B", b"b\n")]);
    git.config(&["credential.useHttpPath", "true"]);
    git.add("a", &git.server.url("localhost", "a"), "alice", "pw-a");
    git.add("b", &git.server.url("localhost", "b"), "bob", "pw-b");
    git.clone(&git.server.url("localhost", "a"), "a").ok();
    assert!(git.served_users().iter().all(|u| u == "alice"));
    git.clone(&git.server.url("localhost", "b"), "b").ok();
    assert!(git.served_users().contains(&"bob".to_owned()));
}

#[test]
fn an_entry_for_the_bare_host_serves_every_repository_on_it() {
    let git = Git::new(&[("ci", "pw-host")]);
    git.server.repository("r", &[("R", b"r\n")]);
    // `credd add` wants a URL; keyring-style tools store bare hosts.
    let host = format!("localhost:{}", git.server.port());
    let mut set = git.env.command();
    set.args(["keyring", "set", &host, "ci"])
        .env("CREDD_SOCKET", &git.env.socket);
    run_with_limit(set, "pw-host\n").ok();
    git.clone(&git.server.url("localhost", "r"), "r").ok();
    // With useHttpPath too: a bare host serves any path.
    git.config(&["credential.useHttpPath", "true"]);
    git.clone(&git.server.url("localhost", "r"), "r2").ok();
}

#[test]
fn a_miss_prints_nothing_and_git_fails_naming_no_secret() {
    let git = Git::new(&[("alice", "pw")]);
    git.server.repository("r", &[("R", b"r\n")]);
    let out = git.clone(&git.server.url("localhost", "r"), "r");
    assert!(!out.status.success(), "{out:?}");
    let miss = git.helper(&["get"], "protocol=http\nhost=localhost:1\n\n");
    assert_eq!(
        (miss.code(), miss.stdout.as_str(), miss.stderr.as_str()),
        (0, "", "")
    );
}

#[test]
fn the_helper_answers_libgit2s_requests_and_gits_byte_for_byte() {
    let git = Git::new(&[]);
    git.add("idx", "https://git.corp.test/cargo/index", "ci", "pw-idx");
    git.add(
        "port",
        "https://git.corp.test:8443/cargo/index",
        "ci",
        "pw-port",
    );
    // libgit2: no capabilities, no blank line, the default port dropped, no path.
    let out = git.helper(
        &["get"],
        "protocol=https\nhost=git.corp.test\nusername=ci\n",
    );
    assert_eq!(out.ok(), "username=ci\npassword=pw-idx\n");
    let out = git.helper(&["get"], "protocol=https\nhost=git.corp.test:8443\n");
    assert_eq!(out.ok(), "username=ci\npassword=pw-port\n");
    // git 2.4x with useHttpPath: capabilities first, the path, a blank line.
    let out = git.helper(
        &["get"],
        "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.corp.test:8443\n\
         path=cargo/index\nwwwauth[]=Basic realm=\"x\"\n\n",
    );
    assert_eq!(out.ok(), "username=ci\npassword=pw-port\n");
    // Never an https password over http.
    let out = git.helper(&["get"], "protocol=http\nhost=git.corp.test\n\n");
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
    git.add("plain", "http://git.corp.test/", "ci", "pw-plain");
    let out = git.helper(&["get"], "protocol=http\nhost=git.corp.test\n\n");
    assert_eq!(out.ok(), "username=ci\npassword=pw-plain\n");
    // Another user on that host: a miss.
    let out = git.helper(
        &["get"],
        "protocol=https\nhost=git.corp.test\nusername=eve\n",
    );
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
    // Unknown operations are ignored; a store without --store-new stores nothing.
    assert_eq!(git.helper(&["frobnicate"], "").ok(), "");
    let store = "protocol=https\nhost=new.test\nusername=u\npassword=p\n\n";
    git.helper(&["store"], store).ok();
    let out = git.helper(&["get"], "protocol=https\nhost=new.test\n\n");
    assert_eq!(out.ok(), "");
}

#[test]
fn several_entries_tied_answer_nothing_and_say_why_on_stderr() {
    let git = Git::new(&[]);
    git.add("one", "https://h.test/a", "alice", "pw-1");
    git.add("two", "https://h.test/b", "bob", "pw-2");
    let out = git.helper(&["get"], "protocol=https\nhost=h.test\n\n");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(
        out.stderr.contains("alice") && out.stderr.contains("bob"),
        "{out:?}"
    );
    let out = git.helper(&["get"], "protocol=https\nhost=h.test\nusername=bob\n\n");
    assert_eq!(out.ok(), "username=bob\npassword=pw-2\n");
}

#[test]
fn store_new_keeps_what_git_confirmed_and_erase_removes_it_once_rejected() {
    let git = Git::new(&[("bob", "bob-pw-1")]);
    git.server.repository("r", &[("R", b"r\n")]);
    let home = git.home();
    std::fs::remove_file(home.join(".gitconfig")).unwrap();
    // credd first, then a helper that knows bob's password; git stores into every helper.
    git.config(&["credential.helper", &helper("--store-new")]);
    git.config(&[
        "credential.helper",
        "!f() { test \"$1\" = get && printf 'username=bob\\npassword=bob-pw-1\\n'; }; f",
    ]);
    git.clone(&git.server.url("localhost", "r"), "r").ok();
    let list = git.env.cli(&["list", "--json"]);
    assert!(list.ok().contains("\"bob@localhost"), "{list:?}");
    assert!(list.ok().contains("stored from git"), "{list:?}");

    // credd alone now answers.
    std::fs::remove_file(home.join(".gitconfig")).unwrap();
    git.config(&["credential.helper", &helper("--store-new")]);
    let checkout = git.env.dir.path().join("r");
    git.run(&checkout, &["fetch", "-q"]).ok();

    // The password changes on the server: git's erase removes credd's stale copy.
    git.server.set_users(&[("bob", "bob-pw-2")]);
    let out = git.run(&checkout, &["fetch", "-q"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("removed"), "{out:?}");
    assert!(!git.env.cli(&["list"]).ok().contains("bob@localhost"));
}

#[test]
fn erase_leaves_an_entry_added_by_hand_and_says_so() {
    let git = Git::new(&[("carol", "new-pw")]);
    git.server.repository("r", &[("R", b"r\n")]);
    git.add("mine", &git.server.url("localhost", "r"), "carol", "old-pw");
    let out = git.clone(&git.server.url("localhost", "r"), "r");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("rejected the password of credd's entry mine"),
        "{out:?}"
    );
    assert!(git.env.cli(&["list"]).ok().contains("mine"));
    // Another password than credd's was rejected: nothing said, nothing removed.
    let erase = "protocol=http\nhost=localhost\nusername=carol\npassword=other\n\n";
    let out = git.helper(&["erase"], erase);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
}

#[test]
fn a_locked_agent_fails_git_within_2_s_naming_credd_unlock() {
    let git = Git::new(&[("alice", "pw")]);
    git.server.repository("r", &[("R", b"r\n")]);
    git.add("r", &git.server.url("localhost", "r"), "alice", "pw");
    git.env.cli(&["lock"]).ok();
    let start = Instant::now();
    let out = git.clone(&git.server.url("localhost", "r"), "r");
    let took = start.elapsed();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains(LOCKED), "{out:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
