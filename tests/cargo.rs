//! The real `cargo` against a real auth-required sparse registry on 127.0.0.1, with credd as its
//! credential provider; and credd's provider protocol checked against Cargo's own
//! `cargo-credential` types.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_credential::{
    Action, CacheControl, CredentialRequest, CredentialResponse, LoginOptions, Operation,
    RegistryInfo, Secret,
};
use common::cargo::Cargo;
use common::registry::{Registry, index_path, sha256_hex};
use common::tokenserver::TokenServer;
use common::{Output, TestEnv, assert_ok, run_with_limit, without_tty};

const CREDD: &str = env!("CARGO_BIN_EXE_credd");
const LOCKED: &str = "credd is locked: run 'credd unlock'";

/// Asserts that `name` `version` is in the registry's index with the checksum of the `.crate` file
/// cargo built for it (cargo keeps it under `target/package/`).
#[track_caller]
fn assert_published(cargo: &Cargo, registry: &Registry, name: &str, version: &str) {
    let lines = registry.index_lines(name);
    let line = lines
        .iter()
        .find(|l| l["vers"] == version)
        .unwrap_or_else(|| panic!("{name} {version} not in the index: {lines:?}"));
    assert_eq!(line["yanked"], false);
    let file_name = format!("{name}-{version}.crate");
    let mut sums = Vec::new();
    let mut dirs = vec![cargo.target.join("package")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().unwrap() == file_name.as_str() {
                sums.push(sha256_hex(&std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(
        sums.iter().any(|sum| line["cksum"] == sum.as_str()),
        "index cksum {} is none of the packaged files' {sums:?}",
        line["cksum"]
    );
}

/// The per-registry provider line: credd with its socket, as an array.
fn provider_array(env: &TestEnv) -> String {
    format!("[\"{CREDD}\", \"--socket\", \"{}\"]", env.socket_str())
}

/// A config where `corp` asks credd (only).
fn corp_config(env: &TestEnv, registry: &Registry) -> String {
    format!(
        "[registries.corp]\nindex = \"{}\"\ncredential-provider = {}\n",
        registry.index_url(),
        provider_array(env)
    )
}

/// An agent with an unlocked vault.
fn agent(env: &TestEnv) -> common::Agent {
    let agent = env.start_agent();
    env.init();
    agent
}

fn both(out: &Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// Asserts that the registry saw authorized `method path` requests, no rejected token, and that
/// it did demand auth (an unauthenticated request got 401) so the success is not vacuous.
#[track_caller]
fn assert_authorized(registry: &Registry, expected: &[(&str, &str)]) {
    let log = registry.requests();
    for (method, path) in expected {
        assert!(
            log.iter().any(|r| r.method == *method
                && r.path == *path
                && r.authorization_ok
                && r.status == 200),
            "no authorized {method} {path} in {log:#?}"
        );
    }
    assert!(
        !log.iter()
            .any(|r| r.had_authorization && !r.authorization_ok),
        "a wrong token was sent: {log:#?}"
    );
    assert!(
        log.iter().any(|r| !r.had_authorization && r.status == 401),
        "the registry never demanded auth: {log:#?}"
    );
}

/// Stops an agent that a provider started on its own, even when the test fails.
struct StopAgent<'a>(&'a TestEnv);

impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = self.0.cli(&["stop"]);
    }
}

// ---------------------------------------------------------------------------------------------
// The registry itself, with Cargo's built-in `cargo:token`: a baseline that does not involve credd.
// ---------------------------------------------------------------------------------------------

#[test]
fn registry_baseline_with_cargo_token() {
    const TOKEN: &str = "baseline-token-1";
    let env = TestEnv::new();
    let registry = Registry::start(TOKEN);
    let cargo = Cargo::new(&env);
    cargo.config(&format!(
        "[registries.corp]\nindex = \"{}\"\ncredential-provider = \"cargo:token\"\n",
        registry.index_url()
    ));
    let lib = cargo.lib_project("corp-lib", "0.1.0");
    let mut publish = cargo.command(
        &lib,
        &[
            "publish",
            "--registry",
            "corp",
            "--allow-dirty",
            "--no-verify",
        ],
    );
    publish.env("CARGO_REGISTRIES_CORP_TOKEN", TOKEN);
    let out = run_with_limit(publish, "");
    assert_ok(&out, "cargo publish");
    assert_published(&cargo, &registry, "corp-lib", "0.1.0");

    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let mut build = cargo.command(&app, &["build"]);
    build.env("CARGO_REGISTRIES_CORP_TOKEN", TOKEN);
    let out = run_with_limit(build, "");
    assert_ok(&out, "cargo build");
    assert_authorized(
        &registry,
        &[
            ("PUT", "/api/v1/crates/new"),
            ("GET", "/index/config.json"),
            ("GET", &format!("/index/{}", index_path("corp-lib"))),
            ("GET", "/dl/corp-lib/0.1.0/download"),
        ],
    );

    // A crate whose dependency is renamed in its manifest: the index entry carries `package`.
    let dir = cargo.lib_project("corp-app", "0.2.0");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "{manifest}\n[dependencies]\nrenamed = {{ package = \"corp-lib\", version = \"0.1\", \
             registry = \"corp\", features = [], default-features = false }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "pub fn answer() -> u32 { renamed::answer() }\n",
    )
    .unwrap();
    let mut publish = cargo.command(
        &dir,
        &[
            "publish",
            "--registry",
            "corp",
            "--allow-dirty",
            "--no-verify",
        ],
    );
    publish.env("CARGO_REGISTRIES_CORP_TOKEN", TOKEN);
    assert_ok(&run_with_limit(publish, ""), "cargo publish corp-app");
    let deps = &registry.index_lines("corp-app")[0]["deps"];
    assert_eq!(
        deps,
        &serde_json::json!([{
            "name": "renamed",
            "package": "corp-lib",
            "req": "^0.1",
            "features": [],
            "optional": false,
            "default_features": false,
            "target": null,
            "kind": "normal",
            "registry": null,
        }])
    );
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ncorp-app = { version = \"0.2\", registry = \"corp\" }\n",
    )
    .unwrap();
    let mut build = cargo.command(&app, &["build"]);
    build.env("CARGO_REGISTRIES_CORP_TOKEN", TOKEN);
    let out = run_with_limit(build, "");
    assert_ok(&out, "cargo build with corp-app");
    assert!(out.stderr.contains("Compiling corp-app v0.2.0"), "{out:?}");

    // Without a token cargo is refused; with a wrong one it says the token was rejected.
    std::fs::remove_dir_all(cargo.home.join("registry")).unwrap();
    std::fs::remove_file(app.join("Cargo.lock")).unwrap();
    let out = cargo.run(&app, &["build"]);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("no token found for `corp`, please run `cargo login --registry corp`"),
        "{out:?}"
    );
    let mut build = cargo.command(&app, &["build"]);
    build.env("CARGO_REGISTRIES_CORP_TOKEN", "wrong");
    let out = run_with_limit(build, "");
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("token rejected for `corp`, please run `cargo login --registry corp`"),
        "{out:?}"
    );
}

/// One raw HTTP/1.1 request to the registry; returns (status, head, body).
fn http(
    registry: &Registry,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = registry.base_url().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// The registry's answers to missing and wrong tokens, by route, as cargo expects them.
#[test]
fn registry_answers_auth_failures_like_a_real_registry() {
    let registry = Registry::start("raw-token");
    let challenge = format!(
        "WWW-Authenticate: Cargo login_url=\"{}\"",
        registry.login_url()
    );
    for path in [
        "/index/config.json",
        "/index/3/a/abc",
        "/dl/abc/0.1.0/download",
    ] {
        for auth in [None, Some("wrong")] {
            let (status, head, _) = http(&registry, "GET", path, auth);
            assert_eq!(status, 401, "{path} {auth:?}");
            assert!(head.contains(&challenge), "{head}");
        }
    }
    for (method, path) in [
        ("PUT", "/api/v1/crates/new"),
        ("DELETE", "/api/v1/crates/abc/0.1.0/yank"),
        ("PUT", "/api/v1/crates/abc/0.1.0/unyank"),
    ] {
        assert_eq!(http(&registry, method, path, None).0, 401, "{path}");
        let (status, _, body) = http(&registry, method, path, Some("wrong"));
        assert_eq!(status, 403, "{path}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"errors": [{"detail": "token rejected"}]})
        );
    }
    assert_eq!(http(&registry, "GET", "/me", None).0, 200);
    let (status, _, body) = http(&registry, "GET", "/index/config.json", Some("raw-token"));
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["auth-required"], true);
    assert_eq!(config["api"], registry.base_url());
    assert_eq!(
        http(&registry, "GET", "/index/3/a/abc", Some("raw-token")).0,
        404
    );
    let log = registry.requests();
    assert_eq!(log.len(), 6 + 6 + 1 + 2);
    // Only the two requests with the right token are logged as authorized.
    assert_eq!(
        log.iter().filter(|r| r.authorization_ok).count(),
        2,
        "{log:#?}"
    );
    assert_eq!(
        log.iter().filter(|r| r.had_authorization).count(),
        6 + 2,
        "{log:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// cargo with credd as its credential provider.
// ---------------------------------------------------------------------------------------------

/// a. `cargo publish` and then a build of a dependent crate, with the token held by credd.
#[test]
fn publish_and_build_with_the_token_from_credd() {
    const TOKEN: &str = "corp-token-publish-a1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(TOKEN);
    env.add("corp", &registry.index_url(), TOKEN);
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));

    let lib = cargo.lib_project("corp-lib", "0.1.0");
    let out = cargo.run(
        &lib,
        &[
            "publish",
            "--registry",
            "corp",
            "--allow-dirty",
            "--no-verify",
        ],
    );
    assert_ok(&out, "cargo publish");
    assert!(out.stderr.contains("Published corp-lib v0.1.0"), "{out:?}");
    assert_published(&cargo, &registry, "corp-lib", "0.1.0");
    assert_authorized(&registry, &[("PUT", "/api/v1/crates/new")]);

    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert_ok(&out, "cargo build");
    assert!(out.stderr.contains("Compiling corp-lib v0.1.0"), "{out:?}");
    assert_authorized(
        &registry,
        &[
            ("GET", "/index/config.json"),
            ("GET", &format!("/index/{}", index_path("corp-lib"))),
            ("GET", "/dl/corp-lib/0.1.0/download"),
        ],
    );
}

/// b. A wrong token in credd: the registry rejects it and cargo says so in its own words.
#[test]
fn wrong_token_is_reported_by_cargo_as_rejected() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start("corp-token-right-b1");
    env.add("corp", &registry.index_url(), "corp-token-wrong-b2");
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");

    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert!(!out.status.success(), "{out:?}");
    // cargo's wording when the token came from a credential provider (not from cargo:token).
    assert!(
        out.stderr.contains(
            "token rejected for `corp`\n  You may need to log in using this registry's credential \
             provider"
        ),
        "{out:?}"
    );
    let log = registry.requests();
    assert!(
        log.iter()
            .any(|r| r.had_authorization && !r.authorization_ok && r.status == 401),
        "credd's token never reached the registry: {log:#?}"
    );
    assert!(!log.iter().any(|r| r.authorization_ok), "{log:#?}");

    // Publishing with it fails the same way.
    let lib = cargo.lib_project("corp-other", "0.1.0");
    let out = cargo.run(
        &lib,
        &[
            "publish",
            "--registry",
            "corp",
            "--allow-dirty",
            "--no-verify",
        ],
    );
    assert!(!out.status.success(), "{out:?}");
    eprintln!("PUBLISH {out:?}");
    assert!(out.stderr.contains("token rejected for `corp`"), "{out:?}");
    assert!(registry.index_lines("corp-other").is_empty());
}

/// c. `cargo login` stores the token in credd, not in `credentials.toml`.
#[test]
fn cargo_login_stores_the_token_in_credd() {
    const TOKEN: &str = "corp-token-login-c1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(TOKEN);
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    assert_eq!(env.cli(&["get", "corp"]).code(), 4);

    let out = run_with_limit(
        cargo.command(&cargo.root, &["login", "--registry", "corp"]),
        &format!("{TOKEN}\n"),
    );
    assert_ok(&out, "cargo login");
    assert_eq!(env.cli(&["get", "corp"]).ok().trim_end(), TOKEN);
    assert!(!cargo.home.join("credentials.toml").exists());
    assert!(!cargo.home.join("credentials").exists());

    // And cargo uses it.
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    assert_ok(&cargo.run(&app, &["build"]), "cargo build");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);
    assert!(!cargo.home.join("credentials.toml").exists());
}

/// d. `cargo yank` and `cargo yank --undo` with the token from credd, configured through a
/// `[credential-alias]`.
#[test]
fn yank_and_unyank_with_the_token_from_credd() {
    const TOKEN: &str = "corp-token-yank-d1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(TOKEN);
    env.add("corp", &registry.index_url(), TOKEN);
    let cargo = Cargo::new(&env);
    cargo.seed(&registry, "corp-lib", "0.1.0");
    cargo.config(&format!(
        "[credential-alias]\ncredd = {}\n\n[registries.corp]\nindex = \"{}\"\n\
         credential-provider = \"credd\"\n",
        provider_array(&env),
        registry.index_url()
    ));
    assert_eq!(registry.yanked("corp-lib", "0.1.0"), Some(false));

    let yank = [
        "yank",
        "corp-lib",
        "--version",
        "0.1.0",
        "--registry",
        "corp",
    ];
    let out = cargo.run(&cargo.root, &yank);
    assert_ok(&out, "cargo yank");
    assert_eq!(registry.yanked("corp-lib", "0.1.0"), Some(true));
    assert_authorized(
        &registry,
        &[("DELETE", "/api/v1/crates/corp-lib/0.1.0/yank")],
    );

    let out = cargo.run(&cargo.root, &[&yank[..], &["--undo"]].concat());
    assert_ok(&out, "cargo yank --undo");
    assert_eq!(registry.yanked("corp-lib", "0.1.0"), Some(false));
    assert_authorized(
        &registry,
        &[("PUT", "/api/v1/crates/corp-lib/0.1.0/unyank")],
    );
}

/// e. `cargo logout` erases the entry; a second one says there was nothing to erase.
#[test]
fn cargo_logout_erases_the_entry_then_reports_not_logged_in() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start("corp-token-logout-e1");
    env.add("corp", &registry.index_url(), "corp-token-logout-e1");
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    assert_eq!(
        env.cli(&["get", "corp"]).ok().trim_end(),
        "corp-token-logout-e1"
    );

    let out = cargo.run(&cargo.root, &["logout", "--registry", "corp"]);
    assert_ok(&out, "cargo logout");
    // With an external provider cargo itself prints nothing on success (only the provider may).
    assert!(!both(&out).contains("not currently logged in"), "{out:?}");
    assert_eq!(env.cli(&["get", "corp"]).code(), 4);

    let out = cargo.run(&cargo.root, &["logout", "--registry", "corp"]);
    assert_ok(&out, "the second cargo logout");
    assert!(
        both(&out).contains("not currently logged in to `corp`"),
        "{out:?}"
    );
}

/// crates.io's token is stored under the sparse index URL (as `credd import cargo` stores it)
/// though Cargo names crates.io by its git index URL, and serves Cargo under either: a `login`
/// as Cargo sends it, then the real `cargo logout` (no network needed; a proxy that answers
/// nothing keeps it so) erases it, and one stored under the git URL too.
#[test]
fn cargo_login_and_logout_for_crates_io_use_the_token_under_either_index_url() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let cargo = Cargo::new(&env);
    cargo.config(&format!(
        "[registry]\nglobal-credential-providers = [\"{CREDD} --socket {}\"]\n",
        env.socket_str()
    ));
    let run = |args: &[&str]| {
        let mut command = cargo.command(&cargo.root, args);
        command.env("CARGO_HTTP_PROXY", "127.0.0.1:9");
        run_with_limit(command, "")
    };
    let login = format!(
        r#"{{"v":1,"registry":{{"index-url":"https://github.com/rust-lang/crates.io-index","name":"crates-io"}},"kind":"login","token":"cio-token-l1","args":["--socket","{}"]}}"#,
        env.socket_str()
    );
    assert!(raw_plugin(&env, &login).contains(r#"{"Ok":{"kind":"login"}}"#));
    let listed = env.cli(&["list"]).ok().to_owned();
    assert!(
        listed.contains("crates-io") && listed.contains("sparse+https://index.crates.io/"),
        "{listed}"
    );
    assert_eq!(
        env.cli(&[
            "get",
            "--url",
            "https://github.com/rust-lang/crates.io-index"
        ])
        .code(),
        4,
        "stored under the git index URL"
    );
    for operation in ["read", "publish"] {
        let get = login
            .replace(
                r#""kind":"login","token":"cio-token-l1""#,
                r#""kind":"get""#,
            )
            .replace(r#""args""#, &format!(r#""operation":"{operation}","args""#));
        let reply = raw_plugin(&env, &get);
        assert!(
            reply.contains(r#""token":"cio-token-l1""#),
            "{operation}: {reply}"
        );
    }
    let out = run(&["logout"]);
    assert_ok(&out, "cargo logout");
    assert!(!both(&out).contains("not currently logged in"), "{out:?}");
    assert_eq!(env.cli(&["get", "crates-io"]).code(), 4);

    // A token under the git index URL (an earlier credd's `cargo login`) is found too.
    env.add(
        "crates-io-old",
        "https://github.com/rust-lang/crates.io-index",
        "cio-token-l2",
    );
    let out = run(&["logout"]);
    assert_ok(&out, "cargo logout of the old entry");
    assert!(!both(&out).contains("not currently logged in"), "{out:?}");
    assert_eq!(env.cli(&["get", "crates-io-old"]).code(), 4);
}

/// f. A locked agent and no terminal: cargo fails at once with credd's instruction.
#[test]
fn locked_agent_without_a_tty_fails_fast_with_the_fix() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start("corp-token-locked-f1");
    env.add("corp", &registry.index_url(), "corp-token-locked-f1");
    env.cli(&["lock"]).ok();
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");

    // Without a controlling terminal, cargo (and credd) cannot open /dev/tty.
    let build = without_tty(cargo.command(&app, &["build"]));
    let start = Instant::now();
    let out = run_with_limit(build, "");
    let end = Instant::now();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains(LOCKED), "{out:?}");
    assert!(
        end - start < Duration::from_secs(10),
        "cargo took {:?}",
        end - start
    );
    // The provider is asked right after the registry's 401 on config.json.
    let log = registry.requests();
    let challenge = log
        .iter()
        .filter(|r| r.status == 401)
        .map(|r| r.at)
        .max()
        .expect("cargo never reached the registry");
    assert!(
        end - challenge < Duration::from_secs(2),
        "cargo finished {:?} after the registry's 401",
        end - challenge
    );
    assert!(!log.iter().any(|r| r.had_authorization), "{log:#?}");
}

/// g. No agent running: the provider starts one (detached: a pipe on cargo's output still
/// closes), which is locked, so cargo fails promptly with credd's instruction.
#[test]
fn no_agent_running_starts_one_detached() {
    let env = TestEnv::new();
    let mut first = agent(&env);
    let registry = Registry::start("corp-token-noagent-g1");
    env.add("corp", &registry.index_url(), "corp-token-noagent-g1");
    env.cli(&["stop"]).ok();
    first.wait_exit();
    assert!(std::os::unix::net::UnixStream::connect(&env.socket).is_err());
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");

    let _stop = StopAgent(&env);
    let build = cargo.command(&app, &["build"]);
    let mut shell = Command::new("sh");
    shell.args(["-c", "cargo build 2>&1 | cat"]).env_clear();
    for (key, value) in build.get_envs() {
        if let Some(value) = value {
            shell.env(key, value);
        }
    }
    shell.current_dir(&app);
    let start = Instant::now();
    let out = run_with_limit(shell, "");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "cargo took {took:?}");
    assert!(out.stdout.contains(LOCKED), "{out:?}");
    assert!(out.stdout.contains("error"), "{out:?}");

    assert!(std::os::unix::net::UnixStream::connect(&env.socket).is_ok());
    let status = env.cli(&["status"]);
    assert_ok(&status, "credd status");
    env.cli(&["stop"]).ok();
}

/// h. credd alongside `cargo:token` in `global-credential-providers` (string form): credd
/// answers for the registry it knows, and not-found lets cargo:token serve the other.
#[test]
fn global_providers_chain_to_cargo_token_for_unknown_registries() {
    const CORP: &str = "corp-token-global-h1";
    const OTHER: &str = "other-token-global-h2";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let corp = Registry::start(CORP);
    let other = Registry::start(OTHER);
    env.add("corp", &corp.index_url(), CORP);
    let cargo = Cargo::new(&env);
    assert!(!CREDD.contains(' ') && !env.socket_str().contains(' '));
    cargo.config(&format!(
        "[registry]\nglobal-credential-providers = [\"cargo:token\", \"{CREDD} --socket {}\"]\n\n\
         [registries.corp]\nindex = \"{}\"\n\n[registries.other]\nindex = \"{}\"\n",
        env.socket_str(),
        corp.index_url(),
        other.index_url()
    ));
    cargo.seed(&corp, "corp-lib", "0.1.0");
    cargo.seed(&other, "other-lib", "0.2.0");
    let app = cargo.app_project(
        "corp-lib = { version = \"0.1\", registry = \"corp\" }\n\
         other-lib = { version = \"0.2\", registry = \"other\" }",
    );
    let mut build = cargo.command(&app, &["build"]);
    build.env("CARGO_REGISTRIES_OTHER_TOKEN", OTHER);
    let out = run_with_limit(build, "");
    assert_ok(&out, "cargo build");
    assert!(out.stderr.contains("Compiling corp-lib v0.1.0"), "{out:?}");
    assert!(out.stderr.contains("Compiling other-lib v0.2.0"), "{out:?}");
    assert_authorized(&corp, &[("GET", "/dl/corp-lib/0.1.0/download")]);
    assert_authorized(&other, &[("GET", "/dl/other-lib/0.2.0/download")]);

    // Without the environment token, `other` has no token anywhere: credd's not-found is not
    // mistaken for success.
    std::fs::remove_dir_all(cargo.home.join("registry")).unwrap();
    std::fs::remove_file(app.join("Cargo.lock")).unwrap();
    let out = cargo.run(&app, &["build"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("no token found for `other`"), "{out:?}");
}

/// i. The token shows up neither in cargo's trace log nor in the agent's trace log.
#[test]
fn token_is_in_neither_cargo_trace_nor_agent_log() {
    let token = common::unique("corp-token-secret-i1");
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(&token);
    env.add("corp", &registry.index_url(), &token);
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");

    let mut build = cargo.command(&app, &["build"]);
    build
        .env("CARGO_LOG", "trace")
        .env("CARGO_HTTP_DEBUG", "true");
    let out = run_with_limit(build, "");
    assert_ok(&out, "cargo build");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);
    let cargo_log = both(&out);
    assert!(cargo_log.contains("TRACE"), "no trace output: {out:?}");
    assert!(
        cargo_log.contains("credential"),
        "the trace does not show the provider call"
    );
    assert!(!cargo_log.contains(&token), "cargo's trace holds the token");
    let agent_log = env.log();
    assert!(!agent_log.is_empty(), "the agent logged nothing");
    assert!(
        !agent_log.contains(&token),
        "the agent's log holds the token"
    );
}

// ---------------------------------------------------------------------------------------------
// The provider protocol, checked with Cargo's own `cargo-credential` types.
// ---------------------------------------------------------------------------------------------

type Reply = Result<CredentialResponse, cargo_credential::Error>;

const WWW_AUTHENTICATE: &str = "WWW-Authenticate: Cargo login_url=\"http://127.0.0.1:1/me\"";

/// How `credd --cargo-plugin` finds the agent in one call.
enum Socket {
    /// `--socket PATH` in the request's `args` (the words of the cargo config).
    Args,
    /// `CREDD_SOCKET`.
    Env,
    /// Neither: the default location under XDG_RUNTIME_DIR.
    Default,
}

/// Serializes `request` with the socket chosen by `socket` and runs one provider process on it.
fn plugin<'a>(env: &'a TestEnv, mut request: CredentialRequest<'a>, socket: Socket) -> Reply {
    match socket {
        Socket::Args => request.args = vec!["--socket", env.socket_str()],
        Socket::Env | Socket::Default => request.args = Vec::new(),
    }
    let line = serde_json::to_string(&request).unwrap();
    // What cargo would send: a well-formed request by cargo-credential's own reading.
    let back: CredentialRequest<'_> = serde_json::from_str(&line).unwrap();
    assert_eq!(back, request);
    plugin_line(env, &line, matches!(socket, Socket::Env), false)
}

/// Runs `credd --cargo-plugin` with `line` on stdin (optionally in a new session, without a
/// terminal) and returns its reply as cargo-credential reads it.
fn plugin_line(env: &TestEnv, line: &str, socket_env: bool, new_session: bool) -> Reply {
    let mut command = env.command();
    command.arg("--cargo-plugin");
    if socket_env {
        command.env("CREDD_SOCKET", &env.socket);
    }
    if new_session {
        command = without_tty(command);
    }
    let out = run_with_limit(command, &format!("{line}\n"));
    assert!(out.status.success(), "the provider exited with {out:?}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some(r#"{"v":[1]}"#), "{out:?}");
    let reply = lines.next().unwrap_or_else(|| panic!("no reply: {out:?}"));
    assert_eq!(lines.next(), None, "more than one reply: {out:?}");
    serde_json::from_str(reply).unwrap_or_else(|e| panic!("cargo cannot read {reply:?}: {e}"))
}

fn request<'a>(
    index_url: &'a str,
    name: Option<&'a str>,
    headers: Vec<String>,
    action: Action<'a>,
) -> CredentialRequest<'a> {
    CredentialRequest {
        v: cargo_credential::PROTOCOL_VERSION_1,
        registry: RegistryInfo {
            index_url,
            name,
            headers,
        },
        action,
        args: Vec::new(),
    }
}

/// Asserts `reply` is a session-cached, operation-independent `get` with `token`.
#[track_caller]
fn assert_token(reply: Reply, token: &str) {
    match reply {
        Ok(CredentialResponse::Get {
            token: got,
            cache: CacheControl::Session,
            operation_independent: true,
        }) => assert_eq!(got.expose(), token),
        other => panic!("expected the token, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found(reply: Reply) {
    assert!(
        matches!(reply, Err(cargo_credential::Error::NotFound)),
        "expected not-found, got {reply:?}"
    );
}

/// `get` for every operation, with and without `name`, `headers` and `args`, with the socket
/// from args, from CREDD_SOCKET and by default; the `sparse+` prefix is ignored by matching.
#[test]
fn protocol_get_for_every_operation() {
    const TOKEN: &str = "proto-token-get-1";
    const URL: &str = "sparse+http://127.0.0.1:1/index/";
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.add("corp", "http://127.0.0.1:1/index/", TOKEN);

    let read = || Action::Get(Operation::Read);
    let headers = vec![WWW_AUTHENTICATE.to_string()];
    for socket in [Socket::Args, Socket::Env, Socket::Default] {
        assert_token(
            plugin(
                &env,
                request(URL, Some("corp"), headers.clone(), read()),
                socket,
            ),
            TOKEN,
        );
    }
    assert_token(
        plugin(&env, request(URL, None, Vec::new(), read()), Socket::Args),
        TOKEN,
    );
    let cksum = "a".repeat(64);
    let operations = [
        Operation::Publish {
            name: "corp-lib",
            vers: "0.1.0",
            cksum: &cksum,
        },
        Operation::Yank {
            name: "corp-lib",
            vers: "0.1.0",
        },
        Operation::Unyank {
            name: "corp-lib",
            vers: "0.1.0",
        },
        Operation::Owners { name: "corp-lib" },
    ];
    for operation in operations {
        let action = Action::Get(operation);
        assert_token(
            plugin(
                &env,
                request(URL, Some("corp"), Vec::new(), action.clone()),
                Socket::Args,
            ),
            TOKEN,
        );
        assert_token(
            plugin(
                &env,
                request(URL, None, headers.clone(), action),
                Socket::Env,
            ),
            TOKEN,
        );
    }
    // An operation newer than this cargo-credential: still a well-formed answer.
    let reply = plugin(
        &env,
        request(
            URL,
            Some("corp"),
            Vec::new(),
            Action::Get(Operation::Unknown),
        ),
        Socket::Args,
    );
    assert!(
        matches!(
            reply,
            Ok(CredentialResponse::Get { .. })
                | Err(cargo_credential::Error::OperationNotSupported)
        ),
        "{reply:?}"
    );
}

#[test]
fn protocol_unknown_urls_and_kinds() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.add(
        "corp",
        "sparse+http://127.0.0.1:1/index/",
        "proto-token-unknown-2",
    );
    let get = || Action::Get(Operation::Read);
    for url in [
        "sparse+http://127.0.0.1:2/index/",
        "sparse+http://127.0.0.1:1/other-index/",
        "https://github.com/rust-lang/crates.io-index",
    ] {
        assert_not_found(plugin(
            &env,
            request(url, Some("corp"), Vec::new(), get()),
            Socket::Args,
        ));
    }
    // A kind newer than credd: cargo-credential's own `Unknown`, and a made-up one.
    let reply = plugin(
        &env,
        request(
            "sparse+http://127.0.0.1:1/index/",
            Some("corp"),
            Vec::new(),
            Action::Unknown,
        ),
        Socket::Args,
    );
    assert!(
        matches!(reply, Err(cargo_credential::Error::OperationNotSupported)),
        "{reply:?}"
    );
    let line = format!(
        r#"{{"v":1,"registry":{{"index-url":"sparse+http://127.0.0.1:1/index/","name":"corp"}},"kind":"frobnicate","extra":[1],"args":["--socket","{}"]}}"#,
        env.socket_str()
    );
    let reply = plugin_line(&env, &line, false, false);
    assert!(
        matches!(reply, Err(cargo_credential::Error::OperationNotSupported)),
        "{reply:?}"
    );
}

/// `login` with a token (as cargo sends it when the token came on stdin), then `get`, `logout`,
/// and a second `logout` that finds nothing.
#[test]
fn protocol_login_get_logout_round_trip() {
    const TOKEN: &str = "proto-token-login-3";
    const URL: &str = "sparse+http://127.0.0.1:3/index/";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let login = || {
        Action::Login(LoginOptions {
            token: Some(Secret::from(TOKEN)),
            login_url: Some("http://127.0.0.1:3/me"),
        })
    };
    let reply = plugin(
        &env,
        request(
            URL,
            Some("newreg"),
            vec![WWW_AUTHENTICATE.to_string()],
            login(),
        ),
        Socket::Args,
    );
    assert!(matches!(reply, Ok(CredentialResponse::Login)), "{reply:?}");
    assert_eq!(env.cli(&["get", "newreg"]).ok().trim_end(), TOKEN);
    assert_token(
        plugin(
            &env,
            request(
                URL,
                Some("newreg"),
                Vec::new(),
                Action::Get(Operation::Read),
            ),
            Socket::Env,
        ),
        TOKEN,
    );

    let reply = plugin(
        &env,
        request(URL, Some("newreg"), Vec::new(), Action::Logout),
        Socket::Args,
    );
    assert!(matches!(reply, Ok(CredentialResponse::Logout)), "{reply:?}");
    assert_eq!(env.cli(&["get", "newreg"]).code(), 4);
    assert_not_found(plugin(
        &env,
        request(URL, Some("newreg"), Vec::new(), Action::Logout),
        Socket::Args,
    ));
    assert_not_found(plugin(
        &env,
        request(
            URL,
            Some("newreg"),
            Vec::new(),
            Action::Get(Operation::Read),
        ),
        Socket::Args,
    ));

    // A registry given by `--index URL` has no name: the login still round-trips by URL.
    const NAMELESS: &str = "sparse+http://127.0.0.1:4/index/";
    let reply = plugin(
        &env,
        request(NAMELESS, None, Vec::new(), login()),
        Socket::Args,
    );
    assert!(matches!(reply, Ok(CredentialResponse::Login)), "{reply:?}");
    assert_token(
        plugin(
            &env,
            request(NAMELESS, None, Vec::new(), Action::Get(Operation::Read)),
            Socket::Args,
        ),
        TOKEN,
    );
    let reply = plugin(
        &env,
        request(NAMELESS, None, Vec::new(), Action::Logout),
        Socket::Args,
    );
    assert!(matches!(reply, Ok(CredentialResponse::Logout)), "{reply:?}");
    assert_not_found(plugin(
        &env,
        request(NAMELESS, None, Vec::new(), Action::Get(Operation::Read)),
        Socket::Args,
    ));
}

/// A locked agent and no terminal: an `other` error carrying the fix, which cargo-credential
/// reads back with its message.
#[test]
fn protocol_locked_agent_is_an_other_error() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.add(
        "corp",
        "sparse+http://127.0.0.1:1/index/",
        "proto-token-locked-4",
    );
    env.cli(&["lock"]).ok();
    let line = serde_json::to_string(&CredentialRequest {
        args: vec!["--socket", env.socket_str()],
        ..request(
            "sparse+http://127.0.0.1:1/index/",
            Some("corp"),
            Vec::new(),
            Action::Get(Operation::Read),
        )
    })
    .unwrap();
    let start = Instant::now();
    let reply = plugin_line(&env, &line, false, true);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    match reply {
        Err(cargo_credential::Error::Other(error)) => {
            assert!(error.to_string().contains(LOCKED), "{error}")
        }
        other => panic!("expected an other error, got {other:?}"),
    }
}

/// The socket from the config words wins over CREDD_SOCKET, and CREDD_SOCKET over the default.
#[test]
fn protocol_socket_from_args_then_env() {
    const TOKEN: &str = "proto-token-socket-5";
    const URL: &str = "sparse+http://127.0.0.1:1/index/";
    let mut env = TestEnv::new();
    env.socket = env.dir.path().join("elsewhere/credd.sock");
    let _agent = agent(&env);
    env.add("corp", URL, TOKEN);
    let get = || request(URL, Some("corp"), Vec::new(), Action::Get(Operation::Read));
    assert_token(plugin(&env, get(), Socket::Args), TOKEN);
    assert_token(plugin(&env, get(), Socket::Env), TOKEN);
    // Args pointing here beat a CREDD_SOCKET pointing nowhere.
    let mut line: serde_json::Value = serde_json::to_value(get()).unwrap();
    line["args"] = serde_json::json!(["--socket", env.socket_str()]);
    let mut command = env.command();
    command
        .arg("--cargo-plugin")
        .env("CREDD_SOCKET", env.dir.path().join("nowhere/credd.sock"));
    let out = run_with_limit(command, &format!("{line}\n"));
    assert_ok(&out, "the provider");
    let reply: Reply = serde_json::from_str(out.stdout.lines().nth(1).unwrap()).unwrap();
    assert_token(reply, TOKEN);
    assert!(!env.dir.path().join("nowhere").exists());
}

/// c2. `cargo login` to rotate a token that credd already holds under another name for the same
/// URL (e.g. one stored with `credd add`): cargo must then get the token it just logged in with.
#[test]
fn cargo_login_over_an_entry_with_the_same_url_is_what_cargo_then_gets() {
    const NEW: &str = "corp-token-rotated-c3";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(NEW);
    env.add("a-mine", &registry.index_url(), "corp-token-stale-c2");
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");

    let out = run_with_limit(
        cargo.command(&cargo.root, &["login", "--registry", "corp"]),
        &format!("{NEW}\n"),
    );
    assert_ok(&out, "cargo login");
    assert_eq!(
        env.cli(&["get", "a-mine"]).ok(),
        format!("{NEW}\n"),
        "login updated the entry in place"
    );
    assert_eq!(
        env.cli(&["list"]).ok().lines().count(),
        1,
        "login added a second entry for the same URL"
    );
    // cargo login itself fetched config.json with the stale token first; judge only the build.
    registry.clear_requests();
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert_ok(&out, "cargo build after cargo login");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);
}

/// c4. `cargo login --registry corp` when credd's entry `corp` serves another URL: that entry is
/// kept as it was, the token goes into a new entry (`corp-2`), stderr says so, and cargo gets it.
#[test]
fn cargo_login_keeps_an_entry_of_that_name_for_another_url() {
    const NEW: &str = "corp-token-login-c4";
    const OTHER_URL: &str = "https://other.test/index/";
    const OTHER: &str = "other-token-kept-c4";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(NEW);
    env.add("corp", OTHER_URL, OTHER);
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");

    let out = run_with_limit(
        cargo.command(&cargo.root, &["login", "--registry", "corp"]),
        &format!("{NEW}\n"),
    );
    assert_ok(&out, "cargo login");
    assert!(
        out.stderr.contains("\"corp\" already serves another URL")
            && out.stderr.contains("stored as \"corp-2\""),
        "{out:?}"
    );
    assert_eq!(env.cli(&["get", "corp"]).ok(), format!("{OTHER}\n"));
    assert_eq!(env.cli(&["token", OTHER_URL]).ok(), format!("{OTHER}\n"));
    assert_eq!(env.cli(&["get", "corp-2"]).ok(), format!("{NEW}\n"));
    registry.clear_requests();
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert_ok(&out, "cargo build after cargo login");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);
}

/// `cargo:token-from-stdout credd token`: for tools that only run a command, cargo sets
/// CARGO_REGISTRY_INDEX_URL and reads the token from `credd token`'s stdout.
#[test]
fn token_from_stdout_runs_credd_token() {
    const TOKEN: &str = "corp-token-from-stdout-t1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(TOKEN);
    env.add("corp", &registry.index_url(), TOKEN);
    let cargo = Cargo::new(&env);
    cargo.config(&format!(
        "[registries.corp]\nindex = \"{}\"\ncredential-provider = \"cargo:token-from-stdout {CREDD} token --socket {}\"\n",
        registry.index_url(),
        env.socket_str()
    ));
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert_ok(&out, "cargo build through credd token");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);

    let mut command = env.command();
    command.args(["token", "--socket", env.socket_str()]);
    command.env("CARGO_REGISTRY_INDEX_URL", registry.index_url());
    assert_eq!(run_with_limit(command, "").stdout, format!("{TOKEN}\n"));
    let unknown = env.cli(&["token", "https://unknown.test/index/"]);
    assert_eq!(unknown.code(), 4, "{unknown:?}");
}

/// A locked agent with a terminal: the provider asks for the passphrase there and answers. Two
/// cargo processes asking at once show one prompt between them, and both get the token.
#[test]
fn locked_agent_with_a_terminal_prompts_once_for_parallel_cargos() {
    const TOKEN: &str = "corp-token-tty-p1";
    const URL: &str = "sparse+http://127.0.0.1:1/index/";
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.add("corp", URL, TOKEN);
    env.cli(&["lock"]).ok();
    let request = format!(
        r#"{{"v":1,"registry":{{"index-url":"{URL}","name":"corp"}},"kind":"get","operation":"read","args":["--socket","{}"]}}"#,
        env.socket_str()
    );
    let dir = env.dir.path();
    std::fs::write(dir.join("request"), format!("{request}\n")).unwrap();
    let line = format!(
        "cd {}; {CREDD} --cargo-plugin <request >out1 & {CREDD} --cargo-plugin <request >out2; wait",
        dir.display()
    );
    let shown = common::run_on_tty(
        &env,
        &line,
        &[("passphrase:", &format!("{}\n", common::PASSPHRASE))],
    );
    assert_eq!(shown.matches("passphrase:").count(), 1, "{shown:?}");
    assert!(
        !shown.contains(common::PASSPHRASE),
        "the passphrase was echoed: {shown:?}"
    );
    for out in ["out1", "out2"] {
        let reply = std::fs::read_to_string(dir.join(out)).unwrap();
        assert!(reply.starts_with("{\"v\":[1]}\n"), "{out}: {reply}");
        assert!(
            reply.contains(&format!("\"token\":\"{TOKEN}\"")),
            "{out}: {reply}"
        );
    }
    assert!(env.cli(&["status"]).ok().contains("unlocked"));
    let mut lock = env.socket.clone().into_os_string();
    lock.push(".prompt");
    assert_eq!(common::mode_of(Path::new(&lock)), 0o600, "prompt lock mode");
}

/// A symbolic link planted at the prompt's lock file is refused, not followed: the file it
/// points to is never created, and the provider says what is wrong.
#[test]
fn a_symlink_at_the_prompt_lock_is_refused() {
    const URL: &str = "sparse+http://127.0.0.1:1/index/";
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.add("corp", URL, "corp-token-tty-link");
    env.cli(&["lock"]).ok();
    let dir = env.dir.path();
    let target = dir.join("created-through-the-link");
    let mut lock = env.socket.clone().into_os_string();
    lock.push(".prompt");
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let request = format!(
        r#"{{"v":1,"registry":{{"index-url":"{URL}","name":"corp"}},"kind":"get","operation":"read","args":["--socket","{}"]}}"#,
        env.socket_str()
    );
    std::fs::write(dir.join("request"), format!("{request}\n")).unwrap();
    let line = format!("cd {}; {CREDD} --cargo-plugin <request >out", dir.display());
    let shown = common::run_on_tty(&env, &line, &[]);
    assert!(!shown.contains("passphrase:"), "{shown:?}");
    assert!(!target.exists(), "the lock followed the link");
    let reply = std::fs::read_to_string(dir.join("out")).unwrap();
    assert!(
        reply.contains("is a symbolic link, which credd does not follow: remove it"),
        "{reply}"
    );
}

/// Migration: `credd setup cargo` and `credd import cargo --remove` on a realistic Cargo home,
/// then a real build gets the token from credd and `credentials.toml` no longer holds it.
#[test]
fn import_and_setup_then_cargo_builds_without_credentials_toml() {
    const TOKEN: &str = "corp-token-imported-m1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let registry = Registry::start(TOKEN);
    let cargo = Cargo::new(&env);
    cargo.config(&format!(
        "# company registries\n[registries.corp]\nindex = \"{}\"\n",
        registry.index_url()
    ));
    let credentials = cargo.home.join("credentials.toml");
    std::fs::write(
        &credentials,
        format!(
            "# written by cargo login\n[registries.corp]\ntoken = \"{TOKEN}\"\n\n[net]\nretry = 1\n"
        ),
    )
    .unwrap();
    let credd = |args: &[&str]| {
        let mut command = env.command();
        command
            .args(args)
            .args(["--socket", env.socket_str()])
            .env("CARGO_HOME", &cargo.home);
        run_with_limit(command, "")
    };
    let setup = credd(&["setup", "cargo"]);
    assert_ok(&setup, "credd setup cargo");
    let import = credd(&["import", "cargo", "--remove"]);
    assert_ok(&import, "credd import cargo --remove");
    assert!(
        !both(&import).contains(TOKEN),
        "import printed the token: {import:?}"
    );

    let left = std::fs::read_to_string(&credentials).unwrap();
    assert!(
        !left.contains(TOKEN) && left.contains("[net]") && left.contains("retry = 1"),
        "{left}"
    );
    // setup wrote the bare name `credd`: let cargo find this build's binary on PATH.
    let bin_dir = Path::new(CREDD).parent().unwrap().to_owned();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    let mut build = cargo.command(&app, &["build"]);
    build.env("PATH", path).env("CREDD_SOCKET", &env.socket);
    let out = run_with_limit(build, "");
    assert_ok(&out, "cargo build after the migration");
    assert_authorized(&registry, &[("GET", "/dl/corp-lib/0.1.0/download")]);
}

// ---------------------------------------------------------------------------------------------
// Publish credentials: a read token for builds, a publish token behind the step-up.
// ---------------------------------------------------------------------------------------------

const READ_TOKEN: &str = "corp-read-token-r16";
const PUBLISH_TOKEN: &str = "corp-publish-token-p16";
const STEP_UP_PROMPT: &str =
    "cargo publish corp-lib 0.1.0 to corp: enter the credd passphrase to allow:";

/// An unlocked agent holding `corp` (read) and `corp-publish` (publish) for a split registry,
/// and a Cargo whose `corp` registry asks credd.
fn split_registry(env: &TestEnv) -> (common::Agent, Registry, Cargo) {
    let agent = agent(env);
    let registry = Registry::start_split(READ_TOKEN, PUBLISH_TOKEN);
    env.add("corp", &registry.index_url(), READ_TOKEN);
    env.cli_with_input(
        &[
            "add",
            "corp-publish",
            "--url",
            &registry.index_url(),
            "--publish",
            "--secret-stdin",
        ],
        &format!("{PUBLISH_TOKEN}\n"),
    )
    .ok();
    let cargo = Cargo::new(env);
    cargo.config(&corp_config(env, &registry));
    (agent, registry, cargo)
}

/// The shell line that runs `cargo ARGS` in `dir` with this Cargo's environment.
fn cargo_line(cargo: &Cargo, dir: &Path, args: &str) -> String {
    let command = cargo.command(dir, &[]);
    let vars: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| {
            let (k, v) = (k.to_str()?, v?.to_str()?);
            Some(format!("{k}='{v}'"))
        })
        .collect();
    format!(
        "cd '{}' && env {} cargo {args}",
        dir.display(),
        vars.join(" ")
    )
}

/// Whether the registry accepted a publish (an authorized PUT of a new crate).
fn published_anything(registry: &Registry) -> bool {
    registry
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.authorization_ok && r.status == 200)
}

/// The build script of a crate that wants the publish token: it tries every route it has and
/// writes what each gave into `$PROBE_OUT`, and never fails the build.
const GREEDY_BUILD_RS: &str = r###"
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(mut command: Command, stdin: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped())
        .spawn().expect("spawn");
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(25);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline { let _ = child.kill(); }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    format!("status {:?}\n{}{}\n", out.status.code(),
        String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn raw(socket: &str, line: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    reply
}

fn main() {
    let var = |name: &str| std::env::var(name).unwrap();
    let (credd, url, socket) = (var("PROBE_CREDD"), var("PROBE_URL"), var("CREDD_SOCKET"));
    let credd_cmd = |args: &[&str]| { let mut c = Command::new(&credd); c.args(args); c };
    let mut report = String::new();
    report += "## get --publish\n";
    report += &run(credd_cmd(&["get", "--publish", "--url", &url]), "");
    report += "## get by name\n";
    report += &run(credd_cmd(&["get", "corp-publish"]), "");
    report += "## keyring\n";
    report += &run(credd_cmd(&["keyring", "get", &url, "__token__"]), "");
    report += "## plugin\n";
    let request = format!(
        r#"{{"v":1,"registry":{{"index-url":"{url}","name":"corp"}},"kind":"get","operation":"publish","name":"corp-lib","vers":"9.9.9","cksum":"00"}}"#
    );
    report += &run(credd_cmd(&["--cargo-plugin"]), &format!("{request}\n"));
    report += "## raw url\n";
    report += &raw(&socket, &format!("{{\"v\":1,\"id\":1,\"op\":\"get\",\"url\":\"{url}\",\"publish\":true}}\n"));
    report += "## raw name\n";
    report += &raw(&socket, "{\"v\":1,\"id\":2,\"op\":\"get\",\"name\":\"corp-publish\",\"operation\":\"read\"}\n");
    report += "## cargo publish\n";
    let mut publish = Command::new(var("CARGO"));
    publish.args(["publish", "--registry", "corp", "--allow-dirty", "--no-verify"])
        .current_dir(var("PROBE_VICTIM")).env("CARGO_TARGET_DIR", var("PROBE_TARGET"));
    report += &run(publish, "");
    std::fs::write(var("PROBE_OUT"), report).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
}
"###;

/// A dependency's build script tries every route to the publish token while `cargo build` runs
/// without a terminal: all fail, every attempt is in `credd log` with its executable, and the
/// build itself succeeds with the read token.
#[test]
fn a_build_script_cannot_get_the_publish_token() {
    let env = TestEnv::new();
    let (_agent, registry, cargo) = split_registry(&env);
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let victim = cargo.lib_project("corp-lib", "0.2.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    std::fs::write(app.join("build.rs"), GREEDY_BUILD_RS).unwrap();
    let report = env.dir.path().join("probe-report");
    registry.clear_requests();

    let mut build = cargo.command(&app, &["build"]);
    build
        .env("PROBE_CREDD", CREDD)
        .env("PROBE_URL", registry.index_url())
        .env("CREDD_SOCKET", &env.socket)
        .env("PROBE_VICTIM", &victim)
        .env("PROBE_TARGET", env.dir.path().join("victim-target"))
        .env("PROBE_OUT", &report);
    let out = run_with_limit(common::without_tty(build), "");
    assert_ok(&out, "cargo build");
    assert!(out.stderr.contains("Compiling corp-lib v0.1.0"), "{out:?}");
    let report = std::fs::read_to_string(&report).expect("the build script ran");
    assert!(!report.contains(PUBLISH_TOKEN), "{report}");
    for section in [
        "get --publish",
        "get by name",
        "plugin",
        "raw url",
        "raw name",
    ] {
        let text = report
            .split(&format!("## {section}\n"))
            .nth(1)
            .unwrap()
            .split("## ")
            .next()
            .unwrap();
        assert!(
            text.contains("step-up") || text.contains("publish credential"),
            "{section}: {text}"
        );
    }
    assert!(
        report.contains("credd allow --once corp-publish"),
        "{report}"
    );
    let keyring = report.split("## keyring\n").nth(1).unwrap();
    assert!(keyring.contains(READ_TOKEN), "keyring: {keyring}");
    let inner_publish = report.split("## cargo publish\n").nth(1).unwrap();
    assert!(!inner_publish.contains("status Some(0)"), "{inner_publish}");
    assert!(!published_anything(&registry), "{:#?}", registry.requests());

    let log: serde_json::Value = serde_json::from_str(env.cli(&["log", "--json"]).ok()).unwrap();
    let records = log.as_array().unwrap();
    let refused: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["outcome"] == "step-up-required")
        .collect();
    assert!(refused.len() >= 6, "{records:#?}");
    assert!(
        refused.iter().all(|r| r["entry"] == "corp-publish"),
        "{refused:#?}"
    );
    let from_build_script = |r: &&&serde_json::Value| {
        let exe = |p: &serde_json::Value| p["exe"].as_str().unwrap_or("").to_owned();
        exe(&r["peer"]).contains("build-script-build")
            || r["parents"]
                .as_array()
                .is_some_and(|ps| ps.first().is_some_and(|p| exe(p).contains("build-script")))
    };
    assert!(
        refused.iter().filter(from_build_script).count() >= 5,
        "{refused:#?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["entry"] == "corp" && r["outcome"] == "ok" && r["known_tool"] == true),
        "cargo's own read lookups: {records:#?}"
    );
    let status = env.cli(&["status"]).ok().to_owned();
    assert!(status.contains("not a known tool"), "{status}");
    let text = env.cli(&["log"]).ok().to_owned();
    assert!(text.contains("build-script-build"), "{text}");
}

/// `cargo publish` on a terminal: the provider asks for the passphrase at a prompt that names
/// the crate, version and registry, and the publish goes through with the publish token, while
/// the index was read with the read token.
#[test]
fn cargo_publish_on_a_terminal_with_the_passphrase() {
    let env = TestEnv::new();
    let (_agent, registry, cargo) = split_registry(&env);
    let lib = cargo.lib_project("corp-lib", "0.1.0");
    let line = cargo_line(
        &cargo,
        &lib,
        "publish --registry corp --allow-dirty --no-verify",
    );
    let answer = format!("{}\n", common::PASSPHRASE);
    let shown = common::run_on_tty(&env, &line, &[(STEP_UP_PROMPT, &answer)]);
    assert!(shown.contains("Published corp-lib v0.1.0"), "{shown}");
    assert!(!shown.contains(common::PASSPHRASE), "echoed: {shown}");
    assert_published(&cargo, &registry, "corp-lib", "0.1.0");
    assert_authorized(&registry, &[("PUT", "/api/v1/crates/new")]);
    let log = env.cli(&["log"]).ok().to_owned();
    assert!(
        log.contains("publish corp-lib 0.1.0: ok (step-up)"),
        "{log}"
    );
}

/// A wrong passphrase at the step-up prompt: nothing is published, and the wrong passphrase
/// counts toward the unlock back-off (the next wrong one waits longer).
#[test]
fn cargo_publish_with_a_wrong_passphrase_fails_and_backs_off() {
    let env = TestEnv::new();
    let (_agent, registry, cargo) = split_registry(&env);
    let lib = cargo.lib_project("corp-lib", "0.1.0");
    let line = cargo_line(
        &cargo,
        &lib,
        "publish --registry corp --allow-dirty --no-verify",
    );
    let shown = common::run_on_tty(&env, &line, &[(STEP_UP_PROMPT, "not the passphrase\n")]);
    assert!(shown.contains("wrong credd passphrase"), "{shown}");
    assert!(!published_anything(&registry), "{:#?}", registry.requests());
    let mut raw = env.connect_raw();
    let start = Instant::now();
    let reply = raw
        .request(r#"{"v":1,"id":1,"op":"get","name":"corp-publish","passphrase":"still wrong"}"#);
    assert_eq!(reply["error"]["kind"], "bad-passphrase", "{reply}");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "the second wrong passphrase was answered after {:?}",
        start.elapsed()
    );
    let mut raw = env.connect_raw();
    let reply = raw.request(&format!(
        r#"{{"v":1,"id":2,"op":"get","name":"corp-publish","passphrase":"{}"}}"#,
        common::PASSPHRASE
    ));
    assert_eq!(reply["ok"]["entry"]["secret"], PUBLISH_TOKEN, "{reply}");
}

/// Without a terminal, `cargo publish` fails at once with what to do; `credd allow --once`
/// (typed on a terminal) then lets exactly one publish through.
#[test]
fn cargo_publish_without_a_terminal_fails_fast_until_allowed_once() {
    let env = TestEnv::new();
    let (_agent, registry, cargo) = split_registry(&env);
    let publish = |version: &str| {
        let lib = cargo.lib_project("corp-lib", version);
        let command = cargo.command(
            &lib,
            &[
                "publish",
                "--registry",
                "corp",
                "--allow-dirty",
                "--no-verify",
            ],
        );
        let out = run_with_limit(common::without_tty(command), "");
        (out, Instant::now())
    };
    let (out, end) = publish("0.1.0");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("cargo publish corp-lib 0.1.0 to corp")
            && out.stderr.contains("credd allow --once corp-publish"),
        "{out:?}"
    );
    let last_request = registry.requests().iter().map(|r| r.at).max().unwrap();
    assert!(
        end - last_request < Duration::from_secs(2),
        "cargo failed {:?} after its last request",
        end - last_request
    );
    assert!(!published_anything(&registry));

    let allow = format!(
        "{CREDD} allow --once corp-publish --socket {}",
        env.socket_str()
    );
    let answer = format!("{}\n", common::PASSPHRASE);
    let shown = common::run_on_tty(&env, &allow, &[("enter the credd passphrase", &answer)]);
    assert!(shown.contains("gets it without a passphrase"), "{shown}");
    let (out, _) = publish("0.2.0");
    assert_ok(&out, "cargo publish after allow --once");
    assert_published(&cargo, &registry, "corp-lib", "0.2.0");
    let (out, _) = publish("0.3.0");
    assert!(
        !out.status.success(),
        "the allowance was used twice: {out:?}"
    );
}

/// With `step-up-grace` set, one step-up on a terminal lets the next publishes to the same
/// registry from that terminal through without asking: the prompt names the window, two crates
/// are published with one passphrase, and a process without that terminal (a session of its own,
/// as a build script that detaches) still gets nothing.
#[test]
fn cargo_publish_of_two_crates_asks_once_within_the_grace_window() {
    let env = TestEnv::new();
    env.write_config("step-up-grace = 300\n");
    let (_agent, registry, cargo) = split_registry(&env);
    let status = env.cli(&["status"]);
    assert!(
        status.ok().contains(
            "step-up: one passphrase step-up allows publishing from the same terminal for \
             0h05m00s (step-up-grace in config.toml)\n"
        ),
        "{status:?}"
    );
    let publish = "publish --registry corp --allow-dirty --no-verify";
    let first = cargo_line(&cargo, &cargo.lib_project("corp-lib", "0.1.0"), publish);
    let second = cargo_line(&cargo, &cargo.lib_project("corp-other", "0.1.0"), publish);
    let prompt = "cargo publish corp-lib 0.1.0 to corp: enter the credd passphrase to allow \
                  (then allowed for 5 min for this terminal):";
    let answer = format!("{}\n", common::PASSPHRASE);
    let shown = common::run_on_tty(&env, &format!("{first} && {second}"), &[(prompt, &answer)]);
    assert!(shown.contains("Published corp-lib v0.1.0"), "{shown}");
    assert!(shown.contains("Published corp-other v0.1.0"), "{shown}");
    assert_eq!(
        shown.matches("enter the credd passphrase").count(),
        1,
        "{shown}"
    );
    assert_published(&cargo, &registry, "corp-other", "0.1.0");
    let log = env.cli(&["log"]).ok().to_owned();
    assert!(
        log.contains("publish corp-lib 0.1.0: ok (step-up)")
            && log.contains("publish corp-other 0.1.0: ok (grace)"),
        "{log}"
    );

    let lib = cargo.lib_project("corp-third", "0.1.0");
    let args = [
        "publish",
        "--registry",
        "corp",
        "--allow-dirty",
        "--no-verify",
    ];
    let out = run_with_limit(common::without_tty(cargo.command(&lib, &args)), "");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("credd allow --once corp-publish"),
        "{out:?}"
    );
}

/// The provider protocol with both credentials: a read answers the read token and tells cargo
/// to ask again for other operations; a publish request without a terminal gets an error within
/// 2 s; with one credential for both, a read stays operation-independent.
#[test]
fn protocol_read_and_publish_credentials() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let url = "sparse+https://split.test/index/";
    env.add("corp", url, READ_TOKEN);
    let line = |operation: &str| {
        format!(
            r#"{{"v":1,"registry":{{"index-url":"{url}","name":"corp"}},"kind":"get","operation":"{operation}","name":"c","vers":"1.0.0","args":["--socket","{}"]}}"#,
            env.socket_str()
        )
    };
    // One credential for both: today's answer, for every operation.
    for operation in ["read", "publish", "yank"] {
        let reply = raw_plugin(&env, &line(operation));
        assert!(reply.contains(READ_TOKEN), "{reply}");
        assert!(reply.contains("\"operation_independent\":true"), "{reply}");
    }
    env.cli_with_input(
        &[
            "add",
            "corp-publish",
            "--url",
            url,
            "--publish",
            "--secret-stdin",
        ],
        &format!("{PUBLISH_TOKEN}\n"),
    )
    .ok();
    let reply = raw_plugin(&env, &line("read"));
    assert!(
        reply.contains(READ_TOKEN) && reply.contains("\"operation_independent\":false"),
        "{reply}"
    );
    for operation in ["publish", "yank", "unyank", "owners", "future-op"] {
        let start = Instant::now();
        let reply = raw_plugin(&env, &line(operation));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(
            reply.contains("\"Err\"") && reply.contains("credd allow --once corp-publish"),
            "{operation}: {reply}"
        );
        assert!(!reply.contains(PUBLISH_TOKEN), "{reply}");
    }
}

/// The provider's output for one request line, run without a terminal.
fn raw_plugin(env: &TestEnv, line: &str) -> String {
    let mut command = env.command();
    command.arg("--cargo-plugin");
    let out = run_with_limit(common::without_tty(command), &format!("{line}\n"));
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

/// The real cargo fetching from a registry that takes only currently valid CodeArtifact tokens
/// of the suite's endpoint, minted by the agent from an access key (`credd add
/// --aws-codeartifact`): the provider answers `cache: "expires"` with an hour-long token's
/// expiry and `cache: "never"` for one with under a minute left; once a token has expired, a
/// fresh fetch is served a new one.
#[test]
fn cargo_fetches_with_minted_codeartifact_tokens_while_they_expire() {
    let env = TestEnv::new();
    let server = TokenServer::start(env.dir.path());
    env.write_config(&format!("ca-file = \"{}\"\n", server.ca_file.display()));
    let _agent = agent(&env);
    let registry = Registry::start_checked(server.validator());
    let key: serde_json::Value = serde_json::from_str(&server.aws_key(true)).unwrap();
    let field = |name: &str| key[name].as_str().unwrap().to_owned();
    env.cli_with_input(
        &[
            "add",
            "corp",
            "--url",
            &registry.index_url(),
            "--aws-codeartifact",
            "corp",
            "--owner",
            "111122223333",
            "--region",
            "eu-west-1",
            "--endpoint",
            server.base_url(),
            "--session-token",
            "--secret-stdin",
        ],
        &format!(
            "{}\n{}\n{}\n",
            field("access_key_id"),
            field("secret_access_key"),
            field("session_token")
        ),
    )
    .ok();
    let cargo = Cargo::new(&env);
    cargo.config(&corp_config(&env, &registry));
    cargo.seed(&registry, "corp-lib", "0.1.0");
    let app = cargo.app_project("corp-lib = { version = \"0.1\", registry = \"corp\" }");
    // A fetch from a cold cache: every request of it carries a token the registry takes.
    let fetch = |what: &str| {
        registry.clear_requests();
        let _ = std::fs::remove_dir_all(cargo.home.join("registry"));
        let _ = std::fs::remove_file(app.join("Cargo.lock"));
        assert_ok(&cargo.run(&app, &["fetch"]), what);
        assert_authorized(
            &registry,
            &[
                ("GET", "/index/config.json"),
                ("GET", "/index/co/rp/corp-lib"),
                ("GET", "/dl/corp-lib/0.1.0/download"),
            ],
        );
    };
    let line = format!(
        r#"{{"v":1,"registry":{{"index-url":"{}","name":"corp"}},"kind":"get","operation":"read","args":["--socket","{}"]}}"#,
        registry.index_url(),
        env.socket_str()
    );
    let token_expires = || {
        let listed: serde_json::Value =
            serde_json::from_str(env.cli(&["list", "--json"]).ok()).unwrap();
        listed[0]["token_expires"].as_u64().unwrap()
    };

    fetch("cargo fetch");
    let issued = server.issued();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].grant, "codeartifact");
    let reply = raw_plugin(&env, &line);
    assert!(
        reply.contains(&format!(
            "\"token\":\"{}\",\"cache\":\"expires\",\"expiration\":{},",
            issued[0].token,
            token_expires()
        )),
        "{reply}"
    );

    // 20 s tokens from now on: handed out for 16 s, never cached by cargo.
    server.set_expires_in(20);
    env.cli(&["refresh", "corp"]).ok();
    let short = server.issued()[1].token.clone();
    let reply = raw_plugin(&env, &line);
    assert!(
        reply.contains(&format!("\"token\":\"{short}\",\"cache\":\"never\"")),
        "{reply}"
    );
    fetch("cargo fetch with a short-lived token");
    common::wait_until_within("the short token expires", Duration::from_secs(60), || {
        !server.is_valid(&short)
    });
    fetch("cargo fetch after the token expired");
    assert_eq!(server.issued().len(), 3, "a new token for the last fetch");
}
