//! credd as git's credential helper, with the real git (and the real Cargo, both of its git
//! fetches) against repositories served over HTTP on 127.0.0.1 behind Basic auth by the real
//! `git http-backend`. git's config is this test's own: HOME, GIT_CONFIG_GLOBAL and
//! XDG_CONFIG_HOME point into the temp dir and GIT_CONFIG_NOSYSTEM=1, so credd is the only
//! helper.

mod common;

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
        common::without_tty(command)
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
        run_with_limit(common::without_tty(command), stdin)
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

/// A password stored for a bare host (as docker and keyring tools store them, for registries
/// that speak https) never goes to a plain `http://` URL on that host, a submodule's say; over
/// https it answers.
#[test]
fn a_bare_hosts_password_is_not_sent_over_plain_http() {
    let git = Git::new(&[]);
    let mut set = git.env.command();
    set.args(["keyring", "set", "registry.corp.test", "ci"])
        .env("CREDD_SOCKET", &git.env.socket);
    run_with_limit(set, "pw-bare\n").ok();
    let plain = git.helper(
        &["get"],
        "protocol=http\nhost=registry.corp.test\npath=x.git\n\n",
    );
    assert_eq!(plain.ok(), "", "{plain:?}");
    let tls = git.helper(&["get"], "protocol=https\nhost=registry.corp.test\n\n");
    assert_eq!(tls.ok(), "username=ci\npassword=pw-bare\n");
}

/// The host rule looks among the entries of git's protocol only: an `http` entry with a shorter
/// path on the host does not hide the `https` one from an `https` request.
#[test]
fn the_host_rule_finds_the_entry_of_gits_protocol() {
    let git = Git::new(&[]);
    git.add("plain", "http://h.test/", "ci", "pw-plain");
    git.add("tls", "https://h.test/git/", "ci", "pw-tls");
    let tls = git.helper(&["get"], "protocol=https\nhost=h.test\n\n");
    assert_eq!(tls.ok(), "username=ci\npassword=pw-tls\n");
    let plain = git.helper(&["get"], "protocol=http\nhost=h.test\n\n");
    assert_eq!(plain.ok(), "username=ci\npassword=pw-plain\n");
}

#[test]
fn a_get_answered_by_the_host_rule_is_one_lookup_in_the_log() {
    let git = Git::new(&[]);
    git.add("h", "https://h.test/index/", "me", "pw-h");
    let answer = git.helper(&["get"], "protocol=https\nhost=h.test\n\n");
    assert!(answer.ok().contains("password=pw-h\n"), "{answer:?}");
    let log = git
        .env
        .connect_raw()
        .request(r#"{"v":1,"id":1,"op":"log"}"#);
    let records = log["ok"]["records"].as_array().unwrap();
    let by_git: Vec<_> = records.iter().filter(|r| r["front"] == "git").collect();
    assert_eq!(by_git.len(), 1, "{log}");
    assert_eq!(by_git[0]["entry"], "h", "{log}");
    // What the host rule finds answers only a request it fits: not one with another path, not
    // one over another protocol.
    for unfit in [
        "protocol=https\nhost=h.test\npath=other/repo.git\n\n",
        "protocol=http\nhost=h.test\n\n",
    ] {
        let answer = git.helper(&["get"], unfit);
        assert_eq!(answer.ok(), "", "{unfit}: {answer:?}");
    }
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

/// A short-lived token another helper minted (an OAuth helper after credd): git stores it with
/// its `password_expiry_utc`, credd keeps that expiry and answers with it, so that git drops the
/// token once it has expired and asks that helper again, and a new token replaces it.
#[test]
fn store_new_keeps_the_expiry_another_helper_gave() {
    let git = Git::new(&[("bot", "tok-1")]);
    git.server.repository("r", &[("R", b"r\n")]);
    let home = git.home();
    std::fs::remove_file(home.join(".gitconfig")).unwrap();
    let expiry = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    git.config(&["credential.helper", &helper("--store-new")]);
    let minting = |token: &str, expiry: u64| {
        format!(
            "!f() {{ test \"$1\" = get && printf 'username=bot\\npassword={token}\\npassword_expiry_utc={expiry}\\n'; }}; f"
        )
    };
    git.config(&["credential.helper", &minting("tok-1", expiry)]);
    git.clone(&git.server.url("localhost", "r"), "r").ok();
    let request = format!("protocol=http\nhost=localhost:{}\n\n", git.server.port());
    let answer = git.helper(&["get"], &request);
    assert_eq!(
        answer.ok(),
        format!("username=bot\npassword=tok-1\npassword_expiry_utc={expiry}\n")
    );

    // The helper mints another token once the first has expired (here: the server's password
    // changed, and credd's stale copy went by git's erase): it replaces it, with its expiry.
    git.server.set_users(&[("bot", "tok-2")]);
    std::fs::remove_file(home.join(".gitconfig")).unwrap();
    git.config(&["credential.helper", &helper("--store-new")]);
    git.config(&["credential.helper", &minting("tok-2", expiry + 60)]);
    let checkout = git.env.dir.path().join("r");
    let first = git.run(&checkout, &["fetch", "-q"]);
    assert!(!first.status.success(), "credd's stale token: {first:?}");
    git.run(&checkout, &["fetch", "-q"]).ok();
    let answer = git.helper(&["get"], &request);
    assert_eq!(
        answer.ok(),
        format!(
            "username=bot\npassword=tok-2\npassword_expiry_utc={}\n",
            expiry + 60
        )
    );
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

/// `cargo ARGS` in `dir` with its own CARGO_HOME and target dir, this test's git config and no
/// terminal.
fn cargo(git: &Git, dir: &Path, args: &[&str]) -> Output {
    let root = git.env.dir.path();
    let rustup_home = std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| {
        Path::new(&std::env::var_os("HOME").unwrap())
            .join(".rustup")
            .into()
    });
    let command = git.command(dir, &[]);
    let mut cargo = Command::new("cargo");
    cargo
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("CARGO_HOME", root.join("cargo-home"))
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_NET_RETRY", "0")
        .env("CARGO_TERM_COLOR", "never")
        .args(args)
        .current_dir(dir);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        cargo.env("RUSTUP_TOOLCHAIN", toolchain);
    }
    run_with_limit(common::without_tty(cargo), "")
}

/// Writes a library crate `name` 0.1.0 into `dir`.
fn lib_crate(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             description = \"t\"\nlicense = \"MIT\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
}

/// A git-index registry `corp` holding `corp-lib` 0.1.0 (downloads without auth, the index
/// behind it), a private git repository `gitdep` with a crate of that name, and an app
/// depending on both; returns the app's directory.
fn git_index_registry(git: &Git) -> PathBuf {
    let root = git.env.dir.path();
    let lib = root.join("corp-lib");
    lib_crate(&lib, "corp-lib");
    let out = cargo(
        git,
        &lib,
        &["package", "--no-verify", "--allow-dirty", "-q"],
    );
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(root.join("target/package/corp-lib-0.1.0.crate")).unwrap();
    let dl = git.server.root.join("dl/corp-lib/0.1.0");
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join("download"), &bytes).unwrap();
    let line = serde_json::json!({
        "name": "corp-lib", "vers": "0.1.0", "deps": [],
        "cksum": common::registry::sha256_hex(&bytes), "features": {}, "yanked": false,
    });
    let config = serde_json::json!({ "dl": format!("{}/{{crate}}/{{version}}/download", git.server.dl_url()) });
    git.server.repository(
        "index",
        &[
            ("config.json", config.to_string().as_bytes()),
            (
                &common::registry::index_path("corp-lib"),
                format!("{line}\n").as_bytes(),
            ),
        ],
    );
    let dep = root.join("gitdep-src");
    lib_crate(&dep, "gitdep");
    git.server.repository(
        "gitdep",
        &[
            (
                "Cargo.toml",
                &std::fs::read(dep.join("Cargo.toml")).unwrap(),
            ),
            (
                "src/lib.rs",
                &std::fs::read(dep.join("src/lib.rs")).unwrap(),
            ),
        ],
    );
    let home = root.join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[registries.corp]\nindex = \"{}\"\n",
            git.server.url("localhost", "index")
        ),
    )
    .unwrap();
    let app = root.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\ncorp-lib = {{ version = \"0.1\", registry = \"corp\" }}\n\
             gitdep = {{ git = \"{}\" }}\n",
            git.server.url("localhost", "gitdep")
        ),
    )
    .unwrap();
    std::fs::write(
        app.join("src/lib.rs"),
        "pub fn both() -> u32 { corp_lib::answer() + gitdep::answer() }\n",
    )
    .unwrap();
    app
}

#[test]
fn cargo_fetches_a_git_index_and_a_git_dependency_through_credd_with_libgit2_and_git() {
    let git = Git::new(&[("ci", "index-pw-77e1")]);
    let app = git_index_registry(&git);
    // libgit2 sends no path (`protocol=http`, `host=localhost:PORT`): one entry for the host.
    let host = format!("http://localhost:{}/", git.server.port());
    git.add("corp", &host, "ci", "index-pw-77e1");

    // Cargo's default fetch: libgit2 runs credd with `get` only.
    let out = cargo(&git, &app, &["build", "-q"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stderr.contains("index-pw-77e1"), "{out:?}");
    let served = git.served_users();
    assert!(served.iter().any(|u| u == "ci"), "{served:?}");

    // Again with the git command doing the fetch, from nothing.
    let home = git.env.dir.path().join("cargo-home");
    for dir in ["registry", "git"] {
        let _ = std::fs::remove_dir_all(home.join(dir));
    }
    std::fs::remove_file(app.join("Cargo.lock")).unwrap();
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!("{config}\n[net]\ngit-fetch-with-cli = true\n"),
    )
    .unwrap();
    let before = git.server.requests().len();
    let out = cargo(&git, &app, &["build", "-q"]);
    assert!(out.status.success(), "{out:?}");
    let requests = git.server.requests();
    assert!(
        requests[before..]
            .iter()
            .any(|r| r.user.as_deref() == Some("ci")),
        "{requests:?}"
    );
    assert!(!git.env.log().contains("index-pw-77e1"));
}

#[test]
fn cargo_with_use_http_path_sends_each_repository_its_own_user_with_libgit2() {
    let git = Git::new(&[("ci", "pw-index"), ("dev", "pw-dep")]);
    let app = git_index_registry(&git);
    git.config(&["credential.useHttpPath", "true"]);
    git.add(
        "corp-index",
        &git.server.url("localhost", "index"),
        "ci",
        "pw-index",
    );
    git.add(
        "gitdep",
        &git.server.url("localhost", "gitdep"),
        "dev",
        "pw-dep",
    );
    let out = cargo(&git, &app, &["fetch", "-q"]);
    assert!(out.status.success(), "{out:?}");
    let served = git.served_users();
    assert!(
        served.contains(&"ci".to_owned()) && served.contains(&"dev".to_owned()),
        "{served:?}"
    );
}

#[test]
fn cargo_fails_within_2_s_when_the_agent_is_locked() {
    let git = Git::new(&[("ci", "pw-locked")]);
    let app = git_index_registry(&git);
    git.add(
        "corp-index",
        &git.server.url("localhost", "index"),
        "ci",
        "pw-locked",
    );
    git.env.cli(&["lock"]).ok();
    // libgit2 keeps the helper's stderr to itself: Cargo names the helper.
    let start = Instant::now();
    let out = cargo(&git, &app, &["fetch", "-q"]);
    let took = start.elapsed();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("credential.helper"), "{out:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // The git command shows credd's message.
    let home = git.env.dir.path().join("cargo-home");
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!("{config}\n[net]\ngit-fetch-with-cli = true\n"),
    )
    .unwrap();
    let start = Instant::now();
    let out = cargo(&git, &app, &["fetch", "-q"]);
    let took = start.elapsed();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains(LOCKED), "{out:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn credential_helper_credd_runs_the_git_credential_credd_link_on_path() {
    let git = Git::new(&[]);
    std::fs::remove_file(git.home().join(".gitconfig")).unwrap();
    git.config(&["credential.helper", "credd"]);
    git.add("h", "https://h.test/", "ci", "pw-link");
    let bin = git.env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_credd"),
        bin.join("git-credential-credd"),
    )
    .unwrap();
    let mut fill = git.command(git.env.dir.path(), &["credential", "fill"]);
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    fill.env("PATH", path);
    let out = run_with_limit(fill, "protocol=https\nhost=h.test\n\n");
    assert_eq!(
        out.ok(),
        "protocol=https\nhost=h.test\nusername=ci\npassword=pw-link\n"
    );
}

#[test]
fn setup_git_adds_credd_with_gits_writer_keeping_the_file_and_git_then_clones() {
    let git = Git::new(&[("alice", "pw-setup")]);
    git.server.repository("r", &[("R", b"r\n")]);
    let config = git.home().join(".gitconfig");
    let before = "# mine\n[user]\n\tname = Alice ; me\n[credential]\n\thelper = store\n";
    std::fs::write(&config, before).unwrap();
    let setup = |args: &[&str]| {
        let mut command = git.env.command();
        command
            .args(["setup", "git"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", &config);
        run_with_limit(command, "")
    };
    let credd = env!("CARGO_BIN_EXE_credd");

    let dry = setup(&["--dry-run"]);
    assert!(
        dry.ok()
            .contains(&format!("+\thelper = {credd} git-credential")),
        "{dry:?}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);

    let out = setup(&[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("plaintext"),
        "store is warned of: {out:?}"
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        after,
        format!("{before}\thelper = {credd} git-credential\n")
    );
    assert!(setup(&[]).stderr.contains("nothing to change"));

    // --store-new replaces credd's line rather than adding a second one.
    setup(&["--store-new"]).ok();
    let after = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        after,
        format!("{before}\thelper = {credd} git-credential --store-new\n")
    );

    // The store helper goes; git now asks credd alone.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("\thelper = store\n", ""),
    )
    .unwrap();
    git.add("r", &git.server.url("localhost", "r"), "alice", "pw-setup");
    git.clone(&git.server.url("localhost", "r"), "r").ok();

    // For one URL with a port: git's key and libgit2's key without the port.
    let url = format!("http://localhost:{}", git.server.port());
    setup(&["--url", &url]).ok();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!(
            "[credential \"{url}\"]\n\thelper = {credd} git-credential\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "[credential \"http://localhost\"]\n\thelper = {credd} git-credential\n"
        )),
        "{text}"
    );
}

/// The global config may hold secrets (an `http.extraHeader` token): the copy git's writer
/// edits is private (mode 0600 under the usual umask 022), as git sees it every time it runs.
#[test]
fn setup_git_has_git_edit_a_private_copy() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let git = Git::new(&[]);
    let config = git.home().join(".gitconfig");
    std::fs::write(
        &config,
        "[http]\n\textraHeader = Authorization: Bearer t0ken\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A git first on PATH that notes the mode of the file it is given, then runs the real one.
    let bin = git.env.dir.path().join("spy-bin");
    std::fs::create_dir(&bin).unwrap();
    let modes = git.env.dir.path().join("modes");
    let spy = bin.join("git");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\n[ \"$2\" = --file ] && stat -c %a \"$3\" >> '{}'\nPATH=${{PATH#*:}} exec git \"$@\"\n",
            modes.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut command = git.env.command();
    command
        .args(["setup", "git"])
        .env("GIT_CONFIG_GLOBAL", &config)
        .env("PATH", path);
    // SAFETY: umask is async-signal-safe and touches only the child's file creation mask.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    run_with_limit(command, "").ok();
    let seen = std::fs::read_to_string(&modes).unwrap();
    assert!(
        !seen.is_empty() && seen.lines().all(|mode| mode == "600"),
        "{seen}"
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("git-credential"),
    );
}

#[test]
fn import_git_moves_the_store_helpers_passwords_into_credd_and_git_uses_them() {
    let git = Git::new(&[("dana", "p@ss:w/rd"), ("eve", "pw-xdg")]);
    git.server.repository("r", &[("R", b"r\n")]);
    git.server.repository("x", &[("X", b"x\n")]);
    // The real store helper writes ~/.git-credentials (percent-encoded).
    let config = git.home().join(".gitconfig");
    std::fs::remove_file(&config).unwrap();
    git.config(&["credential.helper", "store"]);
    let approve = format!(
        "protocol=http\nhost=localhost:{}\nusername=dana\npassword=p@ss:w/rd\n\n",
        git.server.port()
    );
    run_with_limit(
        git.command(git.env.dir.path(), &["credential", "approve"]),
        &approve,
    )
    .ok();
    let dot = git.home().join(".git-credentials");
    let stored = std::fs::read_to_string(&dot).unwrap();
    assert!(
        stored.contains("dana:p%40ss%3aw%2frd@localhost")
            || stored.contains("dana:p%40ss%3Aw%2Frd@localhost"),
        "{stored}"
    );
    let xdg = git.env.dir.path().join("config/git/credentials");
    std::fs::create_dir_all(xdg.parent().unwrap()).unwrap();
    let x_url = git
        .server
        .url("localhost", "x")
        .replace("http://", "http://eve:pw-xdg@");
    std::fs::write(&xdg, format!("{x_url}\n")).unwrap();

    let out = git.env.cli(&["import", "git", "--remove"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !out.stderr.contains("p@ss") && !out.stderr.contains("pw-xdg"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&dot).unwrap(), "");
    assert_eq!(std::fs::read_to_string(&xdg).unwrap(), "");

    std::fs::remove_file(&config).unwrap();
    git.config(&["credential.helper", &helper("")]);
    git.clone(&git.server.url("localhost", "r"), "r").ok();
    git.config(&["credential.useHttpPath", "true"]);
    git.clone(&git.server.url("localhost", "x"), "x").ok();
    assert!(git.served_users().contains(&"eve".to_owned()));

    // Imported from git, so git's erase may remove it once the server rejects it.
    git.server.set_users(&[("eve", "changed")]);
    let checkout = git.env.dir.path().join("x");
    let out = git.run(&checkout, &["fetch", "-q"]);
    assert!(out.stderr.contains("removed eve@localhost"), "{out:?}");
}

#[test]
fn a_locked_agent_asks_for_the_passphrase_on_the_terminal_and_git_gets_the_password() {
    let git = Git::new(&[]);
    git.add("h", "https://h.test/", "ci", "pw-on-tty");
    git.env.cli(&["lock"]).ok();
    let line = format!(
        "printf 'protocol=https\\nhost=h.test\\n\\n' | GIT_CONFIG_GLOBAL={} GIT_CONFIG_NOSYSTEM=1 \
         CREDD_SOCKET={} git credential fill",
        git.home().join(".gitconfig").display(),
        git.env.socket_str()
    );
    let shown = common::run_on_tty(
        &git.env,
        &line,
        &[(
            "credd is locked; passphrase: ",
            &format!("{}\n", common::PASSPHRASE),
        )],
    );
    assert!(shown.contains("password=pw-on-tty"), "{shown:?}");
    assert!(!shown.contains(common::PASSPHRASE), "echoed: {shown:?}");
}

#[test]
fn an_entry_that_expires_tells_git_when() {
    let git = Git::new(&[]);
    git.env
        .cli_with_input(
            &[
                "add",
                "h",
                "--url",
                "https://h.test/",
                "--username",
                "ci",
                "--expires",
                "2099-01-01",
                "--secret-stdin",
            ],
            "pw\n",
        )
        .ok();
    let out = git.helper(&["get"], "protocol=https\nhost=h.test\n\n");
    assert_eq!(
        out.ok(),
        "username=ci\npassword=pw\npassword_expiry_utc=4070908800\n"
    );
}
