//! credd as docker's credential helper: the real docker command line (client only: `docker
//! login` and `docker logout` work without a daemon, logging in client-side) against a registry
//! written in the suite that speaks the token flow on 127.0.0.1, and the exact bytes of each
//! exchange docker-credential-helpers documents. DOCKER_CONFIG, HOME and XDG dirs are the
//! test's own.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::dockerreg::DockerRegistry;
use common::{Output, TestEnv, run_with_limit};

const LOCKED: &str = "credd is locked: run 'credd unlock'";

/// An unlocked agent, docker's config dir, and a bin dir for docker-credential-credd.
struct Docker {
    env: TestEnv,
    _agent: common::Agent,
}

impl Docker {
    fn new() -> Self {
        let env = TestEnv::new();
        let agent = env.start_agent();
        env.init();
        Self { env, _agent: agent }
    }

    fn config_dir(&self) -> PathBuf {
        self.env.dir.path().join("docker")
    }

    fn bin(&self) -> PathBuf {
        self.env.dir.path().join("bin")
    }

    /// A command with this test's environment, the bin dir first on PATH, no terminal.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = std::env::join_paths(
            std::iter::once(self.bin())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(
                self.env
                    .command()
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            )
            .env("PATH", path)
            .env("DOCKER_CONFIG", self.config_dir())
            .env("CREDD_SOCKET", &self.env.socket)
            .args(args)
            .current_dir(self.env.dir.path());
        common::without_tty(command)
    }

    /// `credd ARGS` in this environment.
    fn credd(&self, args: &[&str], stdin: &str) -> Output {
        run_with_limit(self.command(env!("CARGO_BIN_EXE_credd"), args), stdin)
    }

    /// `docker-credential-credd ACTION` (through `credd docker-credential`).
    fn helper(&self, action: &str, stdin: &str) -> Output {
        self.credd(&["docker-credential", action], stdin)
    }

    fn docker(&self, args: &[&str], stdin: &str) -> Output {
        run_with_limit(self.command("docker", args), stdin)
    }

    fn setup(&self, args: &[&str]) -> Output {
        let bin = self.bin();
        let mut all = vec!["setup", "docker", "--bin-dir", bin.to_str().unwrap()];
        all.extend(args);
        self.credd(&all, "")
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.config_dir().join("config.json")).unwrap_or_default()
    }

    fn entries(&self) -> serde_json::Value {
        serde_json::from_str(self.credd(&["list", "--json"], "").ok()).unwrap()
    }
}

#[test]
fn docker_login_stores_in_credd_reuses_it_and_logout_erases_it() {
    let d = Docker::new();
    let registry = DockerRegistry::start(
        &d.env.dir.path().join("reg"),
        &[("alice", "pw-d0ck")],
        false,
    );
    d.setup(&[]).ok();
    assert!(
        d.config().contains("\"credsStore\": \"credd\""),
        "{}",
        d.config()
    );
    let host = registry.host();

    let out = d.docker(
        &["login", &host, "-u", "alice", "--password-stdin"],
        "pw-d0ck\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("Login Succeeded"), "{out:?}");
    assert!(
        !d.config().contains("pw-d0ck") && !d.config().contains("auth\""),
        "{}",
        d.config()
    );
    let entries = d.entries();
    assert_eq!(entries[0]["url"], host.as_str(), "{entries}");
    assert_eq!(entries[0]["username"], "alice");
    assert!(registry.log().contains(&"granted:alice".to_owned()));

    // No username or password: docker asks credd (`get`) and names the user it got; logging
    // in with stored credentials goes through the daemon, which this machine does not have.
    let out = d.docker(&["login", &host], "");
    assert!(
        out.stderr
            .contains("Authenticating with existing credentials... [Username: alice]"),
        "{out:?}"
    );

    let out = d.docker(&["logout", &host], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(d.entries(), serde_json::json!([]));
}

#[test]
fn an_identity_token_round_trips_as_username_token() {
    let d = Docker::new();
    let registry = DockerRegistry::start(&d.env.dir.path().join("reg"), &[("bob", "pw-id")], true);
    d.setup(&[]).ok();
    let host = registry.host();
    let out = d.docker(
        &["login", &host, "-u", "bob", "--password-stdin"],
        "pw-id\n",
    );
    assert!(out.status.success(), "{out:?}");
    let entries = d.entries();
    assert_eq!(entries[0]["username"], "<token>", "{entries}");
    let got = d.helper("get", &host);
    let answer: serde_json::Value = serde_json::from_str(got.ok()).unwrap();
    assert_eq!(answer["Username"], "<token>");
    assert!(answer["Secret"].as_str().unwrap().starts_with("refresh-"));
    // Go escapes <>: docker reads that as the very same JSON.
    assert!(got.stdout.contains("\\u003ctoken\\u003e"), "{got:?}");
}

#[test]
fn each_exchange_has_docker_credential_helpers_exact_bytes() {
    let d = Docker::new();
    // A miss: docker's words on stdout, exit 1.
    let out = d.helper("get", "r.test:5000");
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (1, "credentials not found in native keychain\n")
    );
    let out = d.helper("get", "\n");
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (1, "no credentials server URL\n")
    );
    let out = d.helper(
        "store",
        r#"{"ServerURL":"r.test:5000","Username":"","Secret":"s"}"#,
    );
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (1, "no credentials username\n")
    );

    let store = r#"{"ServerURL":"r.test:5000","Username":"u","Secret":"s3&<"}"#;
    let out = d.helper("store", store);
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
    let out = d.helper("get", "r.test:5000");
    assert_eq!(
        out.ok(),
        "{\"ServerURL\":\"r.test:5000\",\"Username\":\"u\",\"Secret\":\"s3\\u0026\\u003c\"}\n"
    );
    // A second login as another user replaces docker's entry: one credential per registry.
    d.helper(
        "store",
        r#"{"ServerURL":"r.test:5000","Username":"v","Secret":"t"}"#,
    )
    .ok();
    assert_eq!(d.helper("list", "").ok(), "{\"r.test:5000\":\"v\"}\n");
    // list shows docker's entries only, not every registry credd serves.
    d.credd(
        &[
            "add",
            "cargo",
            "--url",
            "https://crates.corp/index/",
            "--secret-stdin",
        ],
        "x\n",
    )
    .ok();
    assert_eq!(d.helper("list", "").ok(), "{\"r.test:5000\":\"v\"}\n");
    // …but get answers any entry serving the registry.
    let out = d.helper("get", "crates.corp");
    assert_eq!(
        out.ok(),
        "{\"ServerURL\":\"crates.corp\",\"Username\":\"\",\"Secret\":\"x\"}\n"
    );

    assert_eq!(d.helper("erase", "r.test:5000").code(), 0);
    let out = d.helper("erase", "r.test:5000");
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (1, "credentials not found in native keychain\n")
    );
    assert_eq!(d.helper("list", "").ok(), "{}\n");

    let out = d.helper("version", "");
    assert_eq!(
        out.ok(),
        format!(
            "docker-credential-credd (credd) {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let out = d.helper("frob", "");
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (1, "Unknown credential action `frob`\n")
    );

    // The program name docker runs is credd too.
    d.setup(&[]).ok();
    let link = d.bin().join("docker-credential-credd");
    let out = run_with_limit(d.command(link.to_str().unwrap(), &["list"]), "");
    assert_eq!(out.ok(), "{}\n");
}

#[test]
fn a_locked_agent_fails_at_once_with_credds_message_on_stdout() {
    let d = Docker::new();
    d.helper(
        "store",
        r#"{"ServerURL":"r.test","Username":"u","Secret":"s"}"#,
    )
    .ok();
    d.credd(&["lock"], "").ok();
    let start = Instant::now();
    let out = d.helper("get", "r.test");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(out.code(), 1);
    assert!(out.stdout.contains(LOCKED), "{out:?}");
}

#[test]
fn setup_docker_keeps_the_rest_of_config_json_and_import_moves_auths_into_credd() {
    let d = Docker::new();
    let registry =
        DockerRegistry::start(&d.env.dir.path().join("reg"), &[("carol", "pw:c/1")], false);
    let host = registry.host();
    std::fs::create_dir_all(d.config_dir()).unwrap();
    // What docker writes without a helper: base64("carol:pw:c/1").
    let before = format!(
        "{{\n\t\"auths\": {{\n\t\t\"{host}\": {{\n\t\t\t\"auth\": \"Y2Fyb2w6cHc6Yy8x\"\n\t\t}}\n\t}},\n\
         \t\"psFormat\": \"table {{{{.ID}}}}\",\n\t\"aliases\": {{\n\t\t\"builder\": \"buildx\"\n\t}}\n}}"
    );
    std::fs::write(d.config_dir().join("config.json"), &before).unwrap();

    let dry = d.setup(&["--dry-run"]);
    assert!(dry.ok().contains("+\t\"credsStore\": \"credd\""), "{dry:?}");
    assert!(
        !dry.stdout.contains("Y2Fyb2w6cHc6Yy8x"),
        "secret in the diff: {dry:?}"
    );
    assert_eq!(d.config(), before);

    let out = d.setup(&["--registry", &host]);
    assert!(out.stderr.contains("import docker --remove"), "{out:?}");
    let after = d.config();
    assert_eq!(
        after,
        before.replace(
            "\n}",
            &format!(",\n\t\"credHelpers\": {{\n\t\t\"{host}\": \"credd\"\n\t}}\n}}")
        )
    );

    let out = d.credd(&["import", "docker", "--remove"], "");
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stderr.contains("pw:c/1"), "{out:?}");
    assert!(!d.config().contains("Y2Fyb2w6cHc6Yy8x"), "{}", d.config());
    assert!(
        d.config().contains(&format!("\"{host}\": {{}}")),
        "{}",
        d.config()
    );
    assert!(d.config().contains("\"psFormat\": \"table {{.ID}}\""));
    let entries = d.entries();
    assert_eq!(entries[0]["username"], "carol", "{entries}");

    // docker finds what was imported (through credHelpers, so through credd).
    let out = d.docker(&["login", &host], "");
    assert!(
        out.stderr
            .contains("Authenticating with existing credentials... [Username: carol]"),
        "{out:?}"
    );
}
