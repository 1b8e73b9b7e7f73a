//! The real pip (the current and the previous major), uv and twine against real auth-required
//! indexes on one loopback host (two pypiservers under /team-a/ and /team-b/ behind
//! tests/fixtures/index_front.py), with the credentials only in credd: pip's
//! `--keyring-provider import` and twine through credd's Python keyring backend, pip's
//! `--keyring-provider subprocess` and uv through the `keyring` command credd answers to (a
//! symlink named `keyring` to the credd binary, first on PATH).
//!
//! Every install takes corp-a from team-a (only alice may read it) and corp-b from team-b (only
//! bob): both installed means each index got its own user's pair.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::pypi::{
    IndexFront, PIP_CURRENT, PIP_PREVIOUS, UV_VERSION, built_package, pip_bin, venv_bin,
};
use common::tokenfront::TokenIndex;
use common::{Agent, Output, SYSTEM_PYTHON, TestEnv, assert_ok, run_with_limit, without_tty};

const CREDD: &str = env!("CARGO_BIN_EXE_credd");
const ALICE: (&str, &str) = ("alice", "alice-pw-4d1e7");
const BOB: (&str, &str) = ("bob", "bob-pw-90c3b");
/// What credd says when its vault is locked.
const LOCKED: &str = "credd is locked: run 'credd unlock'";
/// How fast a tool must give up when credd is locked.
const LOCKED_LIMIT: Duration = Duration::from_secs(2);

/// The indexes every test of this file shares: team-a (alice) holds corp-a and team-b (bob)
/// corp-b; uploads land there too. They stop when the test process ends.
fn front() -> &'static IndexFront {
    static FRONT: OnceLock<IndexFront> = OnceLock::new();
    FRONT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-installers-front");
        let _ = std::fs::remove_dir_all(&dir);
        let front = IndexFront::start(&dir, &[("team-a", &[ALICE]), ("team-b", &[BOB])]);
        front.add("team-a", built_package("corp-a"));
        front.add("team-b", built_package("corp-b"));
        front
    })
}

/// How a pip asks the keyring.
#[derive(Clone, Copy, Debug)]
enum Provider {
    /// `--keyring-provider import`: credd's backend, imported into pip.
    Import,
    /// `--keyring-provider subprocess`: the `keyring` command on PATH, which is credd.
    Subprocess,
}

/// One test's agent, its vault holding team-a's and team-b's credentials, and the isolated
/// environment the tools run in.
struct Case {
    env: TestEnv,
    _agent: Agent,
}

impl Case {
    /// An unlocked agent whose vault holds alice's pair for `/team-a/` and bob's for `/team-b/`.
    fn new() -> Case {
        Case::with_config(None)
    }

    /// [`Case::new`] with the agent's config file holding `config`.
    fn with_config(config: Option<&str>) -> Case {
        let env = TestEnv::new();
        if let Some(config) = config {
            env.write_config(config);
        }
        let agent = env.start_agent();
        env.init();
        let front = front();
        for (name, (user, password)) in [("team-a", ALICE), ("team-b", BOB)] {
            env.cli_with_input(
                &[
                    "add",
                    name,
                    "--url",
                    &front.base(name),
                    "--username",
                    user,
                    "--secret-stdin",
                ],
                &format!("{password}\n"),
            )
            .ok();
        }
        Case { env, _agent: agent }
    }

    /// The same, with the vault locked.
    fn locked() -> Case {
        let case = Case::new();
        case.env.cli(&["lock"]).ok();
        case
    }

    fn root(&self) -> &Path {
        self.env.dir.path()
    }

    /// [`tool`] in this case's environment.
    fn tool(&self, program: &Path, dir: &Path, args: &[&str]) -> Command {
        tool(&self.env, program, dir, args)
    }

    /// The backend's variables for a Python that imports keyring (pip's import mode, twine).
    fn with_backend(mut command: Command) -> Command {
        command
            .env("PYTHON_KEYRING_BACKEND", "credd_keyring.CreddKeyring")
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env(
                "PYTHONPATH",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python"),
            );
        command
    }

    /// `pip install corp-a corp-b` from team-a (with `--index-url`) and team-b (with
    /// `--extra-index-url`), into ROOT/site; `with_user` puts each index's username in its URL.
    fn pip(&self, version: &str, provider: Provider, with_user: bool) -> Command {
        let front = front();
        let (a, b) = if with_user {
            (
                front.simple_url_as("team-a", ALICE.0),
                front.simple_url_as("team-b", BOB.0),
            )
        } else {
            (front.simple_url("team-a"), front.simple_url("team-b"))
        };
        let site = self.root().join("site");
        let mode = match provider {
            Provider::Import => "import",
            Provider::Subprocess => "subprocess",
        };
        let command = self.tool(
            &pip_bin(version, "pip"),
            self.root(),
            &[
                "install",
                "--no-cache-dir",
                "--no-input",
                "--keyring-provider",
                mode,
                "--index-url",
                &a,
                "--extra-index-url",
                &b,
                "--target",
                site.to_str().unwrap(),
                "corp-a",
                "corp-b",
            ],
        );
        match provider {
            Provider::Import => Case::with_backend(command),
            Provider::Subprocess => command,
        }
    }

    /// A uv project `app` in ROOT/app depending on `deps`, with `indexes` (TOML of
    /// `[[tool.uv.index]]` tables) and uv's keyring provider `subprocess`.
    fn uv_project(&self, deps: &[&str], indexes: &str) -> PathBuf {
        let dir = self.root().join("app");
        std::fs::create_dir_all(&dir).unwrap();
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        std::fs::write(
            dir.join("pyproject.toml"),
            format!(
                "[project]\nname = \"app\"\nversion = \"0.0.0\"\nrequires-python = \">=3.9\"\n\
                 dependencies = [{}]\n\n[tool.uv]\nkeyring-provider = \"subprocess\"\n\n{indexes}",
                deps.join(", ")
            ),
        )
        .unwrap();
        dir
    }

    /// `uv ARGS` in `dir`.
    fn uv(&self, dir: &Path, args: &[&str]) -> Command {
        self.tool(&venv_bin("uv"), dir, args)
    }

    /// `twine upload --non-interactive --repository-url URL FILE` through credd's backend, which
    /// `credd setup python-keyring` made keyring's default (no variable selects it).
    fn twine_upload(&self, url: &str, file: &Path) -> Command {
        let setup = self.env.cli(&["setup", "python-keyring"]);
        assert_ok(&setup, "credd setup python-keyring");
        let args = [
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            url,
            file.to_str().unwrap(),
        ];
        let mut command = self.tool(&venv_bin("twine"), self.root(), &args);
        command.env("PYTHONDONTWRITEBYTECODE", "1");
        command
    }

    /// The packages pip put into ROOT/site.
    fn assert_pip_installed(&self, out: &Output) {
        assert_ok(out, "pip install");
        for module in ["corp_a", "corp_b"] {
            let init = self.root().join("site").join(module).join("__init__.py");
            assert!(init.exists(), "{} missing after {out:?}", init.display());
        }
    }
}

/// `program ARGS` in `dir` with only the test's variables: HOME and every XDG dir in the
/// test's temp dir, no pip or uv config, caches of their own, no prompts, and PATH holding
/// only `keyring` (-> credd) and the system's /usr/bin and /bin.
fn tool(env: &TestEnv, program: &Path, dir: &Path, args: &[&str]) -> Command {
    let root = env.dir.path();
    let bin = root.join("keyring-bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(CREDD, bin.join("keyring")).unwrap();
    }
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(env.command().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("UV_CACHE_DIR", root.join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_PYTHON", SYSTEM_PYTHON)
        .current_dir(dir)
        .args(args);
    command
}

/// The installed `modules` import in the uv project's own virtual environment.
#[track_caller]
fn assert_uv_installed(app: &Path, modules: &[&str]) {
    let imports: Vec<String> = modules.iter().map(|m| format!("import {m}")).collect();
    let mut command = Command::new(app.join(".venv/bin/python"));
    command.args(["-c", &imports.join("; ")]);
    assert_ok(&run_with_limit(command, ""), "importing in .venv");
}

/// Runs `command` without a controlling terminal (its own session), as in CI, and returns its
/// output and how long it took.
fn timed(command: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = run_with_limit(without_tty(command), "");
    (out, start.elapsed())
}

/// The tool failed, within [`LOCKED_LIMIT`], and (when `shows_it`) showed credd's message, on
/// stderr or (twine) stdout.
#[track_caller]
fn assert_fails_locked(what: &str, (out, took): (Output, Duration), shows_it: bool) {
    assert!(
        !out.status.success(),
        "{what} succeeded while locked: {out:?}"
    );
    assert!(took < LOCKED_LIMIT, "{what} took {took:?} to fail: {out:?}");
    if shows_it {
        assert!(
            out.stderr.contains(LOCKED) || out.stdout.contains(LOCKED),
            "{what} does not show {LOCKED:?}: {out:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The indexes themselves.
// ---------------------------------------------------------------------------------------------

#[test]
fn baseline_without_credd_pip_and_uv_get_no_credentials() {
    let case = Case::new();
    // The keyring is switched off: nothing else may hold the credentials.
    let mut pip = case.pip(PIP_CURRENT, Provider::Subprocess, true);
    pip.env("PATH", "/usr/bin:/bin");
    let out = run_with_limit(pip, "");
    assert!(
        !out.status.success(),
        "pip installed without credd: {out:?}"
    );
    let out = run_with_limit(
        {
            let mut uv = case.uv(
                case.root(),
                &[
                    "pip",
                    "install",
                    "--keyring-provider",
                    "subprocess",
                    "--target",
                    "site",
                    "--index-url",
                    &front().simple_url_as("team-a", ALICE.0),
                    "corp-a",
                ],
            );
            uv.env("PATH", "/usr/bin:/bin").env("UV_NO_CONFIG", "1");
            uv
        },
        "",
    );
    assert!(
        !out.status.success() && out.stderr.contains("401"),
        "uv without credd: {out:?}"
    );
    let version = run_with_limit(case.uv(case.root(), &["--version"]), "");
    assert!(version.ok().contains(UV_VERSION), "{version:?}");
}

// ---------------------------------------------------------------------------------------------
// pip: both majors, both providers, with and without the username in the index URL.
// ---------------------------------------------------------------------------------------------

#[test]
fn pip_current_import_without_username() {
    pip_installs(PIP_CURRENT, Provider::Import, false);
}

#[test]
fn pip_current_import_with_username() {
    pip_installs(PIP_CURRENT, Provider::Import, true);
}

#[test]
fn pip_current_subprocess_without_username() {
    pip_installs(PIP_CURRENT, Provider::Subprocess, false);
}

#[test]
fn pip_current_subprocess_with_username() {
    pip_installs(PIP_CURRENT, Provider::Subprocess, true);
}

#[test]
fn pip_previous_import_without_username() {
    pip_installs(PIP_PREVIOUS, Provider::Import, false);
}

#[test]
fn pip_previous_import_with_username() {
    pip_installs(PIP_PREVIOUS, Provider::Import, true);
}

/// pip 25 runs `keyring get URL USER` only when it knows the user: without one in the URL it never
/// asks (a pip limit), so only this case.
#[test]
fn pip_previous_subprocess_with_username() {
    pip_installs(PIP_PREVIOUS, Provider::Subprocess, true);
}

/// pip installs from both indexes with credentials from credd only.
fn pip_installs(version: &str, provider: Provider, with_user: bool) {
    let case = Case::new();
    case.assert_pip_installed(&run_with_limit(case.pip(version, provider, with_user), ""));
}

#[test]
fn pip_locked_fails_fast_and_shows_credds_message_where_pip_shows_it() {
    let case = Case::locked();
    for version in [PIP_CURRENT, PIP_PREVIOUS] {
        // Import: pip prints the backend's exception ("Keyring is skipped due to an exception").
        for with_user in [false, true] {
            let what = format!("pip {version} import, username in URL: {with_user}");
            let run = timed(case.pip(version, Provider::Import, with_user));
            assert_fails_locked(&what, run, true);
        }
    }
    // pip 25 lets the keyring command's stderr through; pip 26 captures it and shows nothing.
    let run = timed(case.pip(PIP_PREVIOUS, Provider::Subprocess, true));
    assert_fails_locked("pip 25 subprocess", run, true);
    for with_user in [false, true] {
        let run = timed(case.pip(PIP_CURRENT, Provider::Subprocess, with_user));
        assert_fails_locked("pip 26 subprocess", run, false);
    }
}

// ---------------------------------------------------------------------------------------------
// uv: `uv pip install`, `uv add`, `uv sync`, through the `keyring` command.
// ---------------------------------------------------------------------------------------------

/// `uv pip install --keyring-provider subprocess` of corp-a and corp-b, with the username in
/// each index URL (uv asks the keyring only for a known username or `authenticate = "always"`).
fn uv_pip_install(case: &Case) -> Command {
    let front = front();
    let mut command = case.uv(
        case.root(),
        &[
            "pip",
            "install",
            "--keyring-provider",
            "subprocess",
            "--target",
            "site",
            "--index-url",
            &front.simple_url_as("team-a", ALICE.0),
            "--extra-index-url",
            &front.simple_url_as("team-b", BOB.0),
            "--index-strategy",
            "unsafe-best-match",
            "corp-a",
            "corp-b",
        ],
    );
    command.env("UV_NO_CONFIG", "1");
    command
}

#[test]
fn uv_pip_install_with_username_in_url() {
    let case = Case::new();
    case.assert_pip_installed(&run_with_limit(uv_pip_install(&case), ""));
}

#[test]
fn uv_add_with_username_in_index_url() {
    let case = Case::new();
    let url = front().simple_url_as("team-a", ALICE.0);
    let app = case.uv_project(
        &[],
        &format!("[[tool.uv.index]]\nname = \"team-a\"\nurl = \"{url}\"\ndefault = true\n"),
    );
    let out = run_with_limit(case.uv(&app, &["add", "corp-a"]), "");
    assert_ok(&out, "uv add corp-a");
    assert_uv_installed(&app, &["corp_a"]);
    let lock = std::fs::read_to_string(app.join("uv.lock")).unwrap();
    assert!(lock.contains("name = \"corp-a\""), "{lock}");
    assert!(!lock.contains(ALICE.1), "the password landed in uv.lock");
}

#[test]
fn uv_sync_with_authenticate_always() {
    let case = Case::new();
    let url = front().simple_url("team-a");
    let app = case.uv_project(
        &["corp-a"],
        &format!(
            "[[tool.uv.index]]\nname = \"team-a\"\nurl = \"{url}\"\ndefault = true\n\
             authenticate = \"always\"\n"
        ),
    );
    let out = run_with_limit(case.uv(&app, &["sync"]), "");
    assert_ok(&out, "uv sync");
    assert_uv_installed(&app, &["corp_a"]);
}

/// Two `[[tool.uv.index]]` on one host, each with its user in the URL. (Without usernames and
/// with `authenticate = "always"`, uv 0.13 sends the last index's pair to the other index's files:
/// a uv limit; see the report in the test file's history.)
#[test]
fn uv_sync_two_indexes_on_one_host_with_their_own_users() {
    let case = Case::new();
    let front = front();
    let app = case.uv_project(
        &["corp-a", "corp-b"],
        &format!(
            "[tool.uv.sources]\ncorp-a = {{ index = \"team-a\" }}\ncorp-b = {{ index = \"team-b\" }}\n\n\
             [[tool.uv.index]]\nname = \"team-a\"\nurl = \"{}\"\nexplicit = true\n\n\
             [[tool.uv.index]]\nname = \"team-b\"\nurl = \"{}\"\nexplicit = true\n",
            front.simple_url_as("team-a", ALICE.0),
            front.simple_url_as("team-b", BOB.0),
        ),
    );
    let out = run_with_limit(case.uv(&app, &["sync"]), "");
    assert_ok(&out, "uv sync");
    assert_uv_installed(&app, &["corp_a", "corp_b"]);
}

#[test]
fn uv_locked_fails_fast_and_shows_credds_message() {
    let case = Case::locked();
    assert_fails_locked("uv pip install", timed(uv_pip_install(&case)), true);
}

// ---------------------------------------------------------------------------------------------
// twine: uploads through credd's backend.
// ---------------------------------------------------------------------------------------------

/// The wheel of `name`, written into the test's dist dir.
fn wheel(case: &Case, name: &str) -> PathBuf {
    let dist = case.root().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let (file, bytes) = built_package(name)
        .iter()
        .find(|(file, _)| file.ends_with(".whl"))
        .unwrap();
    std::fs::write(dist.join(file), bytes).unwrap();
    dist.join(file)
}

#[test]
fn twine_uploads_to_two_indexes_on_one_host_each_with_its_user() {
    let case = Case::new();
    let front = front();
    let file = wheel(&case, "corp-upload");
    for index in ["team-a", "team-b"] {
        let out = run_with_limit(case.twine_upload(&front.base(index), &file), "");
        assert_ok(&out, &format!("twine upload to {index}"));
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            front.files(index).iter().any(|f| f == name),
            "{name} not in {index}: {:?}",
            front.files(index)
        );
    }
}

#[test]
fn twine_locked_fails_fast_and_shows_credds_message() {
    let case = Case::locked();
    let file = wheel(&case, "corp-a");
    let run = timed(case.twine_upload(&front().base("team-a"), &file));
    assert_fails_locked("twine upload", run, true);
}

/// team-a with a separate publish credential: alice's real password only in `team-a-publish`
/// (`--publish`), a read entry `team-a` that the index would refuse for uploads. An upload that
/// lands proves the publish credential was used.
fn with_publish_credential(case: &Case) {
    let url = front().base("team-a");
    for (name, secret, publish) in [
        ("team-a", "read-only-pw-not-alices", false),
        ("team-a-publish", ALICE.1, true),
    ] {
        let mut args = vec![
            "add",
            name,
            "--url",
            &url,
            "--username",
            ALICE.0,
            "--secret-stdin",
            "--replace",
        ];
        if publish {
            args.push("--publish");
        }
        case.env.cli_with_input(&args, &format!("{secret}\n")).ok();
    }
}

/// twine's upload is a publish path: without a terminal it fails at once naming what to do; on
/// a terminal it asks for the credd passphrase, naming the command, and uploads with the publish
/// credential.
#[test]
fn twine_upload_needs_the_step_up_for_a_publish_credential() {
    let case = Case::new();
    with_publish_credential(&case);
    let file = wheel(&case, "corp-step-up");
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let (out, took) = timed(case.twine_upload(&front().base("team-a"), &file));
    assert!(!out.status.success(), "{out:?}");
    // twine wraps its warnings: compare with the whitespace collapsed.
    let shown: Vec<&str> = out
        .stdout
        .split_whitespace()
        .chain(out.stderr.split_whitespace())
        .collect();
    let shown = shown.join(" ");
    assert!(
        shown.contains("credd allow --once team-a-publish") && shown.contains("no terminal"),
        "{out:?}"
    );
    assert!(took < LOCKED_LIMIT * 2, "twine took {took:?} to fail");
    assert!(!front().files("team-a").contains(&name));

    let line = common::shell_line(&case.twine_upload(&front().base("team-a"), &file));
    let answer = format!("{}\n", common::PASSPHRASE);
    let prompt = "twine upload: enter the credd passphrase to allow:";
    let shown = common::run_on_tty(&case.env, &line, &[(prompt, &answer)]);
    assert!(!shown.contains(common::PASSPHRASE), "echoed: {shown}");
    assert!(
        front().files("team-a").contains(&name),
        "not uploaded: {shown}"
    );
    let log = case.env.cli(&["log"]).ok().to_owned();
    assert!(log.contains("twine upload: ok (step-up)"), "{log}");
}

/// A person may take longer to type the step-up passphrase than the agent waits on an idle
/// connection (its read-timeout, 1 s here): the Python backend sends it on a fresh connection,
/// and twine uploads.
#[test]
fn twine_upload_after_a_slow_step_up_still_uploads() {
    let case = Case::with_config(Some("read-timeout = 1\n"));
    with_publish_credential(&case);
    let file = wheel(&case, "corp-slow-typist");
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let line = common::shell_line(&case.twine_upload(&front().base("team-a"), &file));
    let answer = format!("{}\n", common::PASSPHRASE);
    let prompt = "twine upload: enter the credd passphrase to allow:";
    let shown = common::run_on_tty_typing_after(
        &case.env,
        &line,
        &[(prompt, &answer)],
        Duration::from_secs(3),
    );
    assert!(
        front().files("team-a").contains(&name),
        "not uploaded: {shown}"
    );
}

/// `uv publish` is a publish path of the native `keyring` command: uv runs it with the upload
/// URL and the username, and it asks for the publish credential. Without a terminal it fails at
/// once naming what to do, and uv uploads nothing; on a terminal it asks for the credd
/// passphrase, naming the command, and uv uploads with the publish credential.
#[test]
fn uv_publish_needs_the_step_up_for_a_publish_credential() {
    let case = Case::new();
    with_publish_credential(&case);
    let file = wheel(&case, "corp-uv-publish");
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let url = front().base("team-a");
    let publish = || {
        let args = [
            "publish",
            "--keyring-provider",
            "subprocess",
            "--username",
            ALICE.0,
            "--publish-url",
            &url,
            file.to_str().unwrap(),
        ];
        case.uv(case.root(), &args)
    };
    let (out, took) = timed(publish());
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("uv publish to ")
            && out.stderr.contains("credd allow --once team-a-publish"),
        "{out:?}"
    );
    assert!(took < LOCKED_LIMIT * 2, "uv publish took {took:?} to fail");
    assert!(!front().files("team-a").contains(&name));

    let line = common::shell_line(&publish());
    let answer = format!("{}\n", common::PASSPHRASE);
    let prompt = format!("uv publish to {url}: enter the credd passphrase to allow:");
    let shown = common::run_on_tty(&case.env, &line, &[(&prompt, &answer)]);
    assert!(!shown.contains(common::PASSPHRASE), "echoed: {shown}");
    assert!(
        front().files("team-a").contains(&name),
        "not uploaded: {shown}"
    );
    let log = case.env.cli(&["log"]).ok().to_owned();
    assert!(log.contains("uv publish: ok (step-up)"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Minted tokens: a gcp source whose tokens the index takes only while they are valid.
// ---------------------------------------------------------------------------------------------

/// `ca-file` for the token endpoint's test CA.
fn trust(env: &TestEnv, index: &TokenIndex) {
    env.write_config(&format!(
        "ca-file = \"{}\"\n",
        index.server.ca_file.display()
    ));
}

/// `pip install --keyring-provider subprocess corp-a` from the token index, with no username in
/// the index URL, into ROOT/`site`.
fn pip_from(env: &TestEnv, index: &TokenIndex, site: &str) -> Command {
    let site = env.dir.path().join(site);
    tool(
        env,
        &pip_bin(PIP_CURRENT, "pip"),
        env.dir.path(),
        &[
            "install",
            "--no-cache-dir",
            "--no-input",
            "--keyring-provider",
            "subprocess",
            "--index-url",
            &index.front.simple_url(),
            "--target",
            site.to_str().unwrap(),
            "corp-a",
        ],
    )
}

#[track_caller]
fn assert_site_has_corp_a(env: &TestEnv, site: &str, out: &Output) {
    assert_ok(out, "pip install");
    let init = env.dir.path().join(site).join("corp_a/__init__.py");
    assert!(init.exists(), "{} missing after {out:?}", init.display());
}

#[test]
fn pip_installs_through_a_gcp_source_while_its_tokens_expire() {
    let env = TestEnv::new();
    // 20 s tokens: handed out for 16 s, so an install that starts cold has plenty.
    let index = TokenIndex::start(env.dir.path(), 20, built_package("corp-a"));
    trust(&env, &index);
    let _agent = env.start_agent();
    env.init();
    add_gcp_entry(&env, &index);

    assert_site_has_corp_a(
        &env,
        "site-1",
        &run_with_limit(pip_from(&env, &index, "site-1"), ""),
    );
    let first = index.front.accepted_tokens();
    assert_eq!(first.len(), 1, "{:?}", index.front.seen());
    index.wait_expired(&first[0]);
    assert_site_has_corp_a(
        &env,
        "site-2",
        &run_with_limit(pip_from(&env, &index, "site-2"), ""),
    );
    let tokens = index.front.accepted_tokens();
    assert_eq!(
        tokens.len(),
        2,
        "a new token for the second install: {tokens:?}"
    );
    let issued: Vec<String> = index.server.issued().into_iter().map(|i| i.token).collect();
    assert!(tokens.iter().all(|t| issued.contains(t)), "{tokens:?}");
    let rejected = index
        .front
        .seen()
        .into_iter()
        .filter(|s| s.token.is_some() && s.status == 401)
        .count();
    assert_eq!(rejected, 0, "credd handed out a token the index refused");
}

/// uv asks the `keyring` command only with a username: the one in the index URL,
/// `oauth2accesstoken`, finds the gcp entry, which has no username of its own.
#[test]
fn uv_installs_through_a_gcp_source_with_its_username_in_the_url() {
    let env = TestEnv::new();
    let index = TokenIndex::start(env.dir.path(), 3600, built_package("corp-a"));
    trust(&env, &index);
    let _agent = env.start_agent();
    env.init();
    add_gcp_entry(&env, &index);
    let url = index
        .front
        .simple_url()
        .replace("http://", "http://oauth2accesstoken@");
    let args = [
        "pip",
        "install",
        "--keyring-provider",
        "subprocess",
        "--target",
        "site",
        "--index-url",
        &url,
        "corp-a",
    ];
    let mut uv = tool(&env, &venv_bin("uv"), env.dir.path(), &args);
    uv.env("UV_NO_CONFIG", "1");
    assert_site_has_corp_a(&env, "site", &run_with_limit(uv, ""));
    assert_eq!(index.front.accepted_tokens().len(), 1);
}

/// `credd add gar --url INDEX --gcp-key-file KEY --remove-file` with a new service account.
fn add_gcp_entry(env: &TestEnv, index: &TokenIndex) {
    let key = env.dir.path().join("sa.json");
    let account = "bot@corp.iam.gserviceaccount.com";
    std::fs::write(&key, index.server.service_account(account, false)).unwrap();
    let url = index.front.base_url();
    let key = key.to_str().unwrap();
    let args = [
        "add",
        "gar",
        "--url",
        &url,
        "--gcp-key-file",
        key,
        "--remove-file",
    ];
    env.cli(&args).ok();
}

/// The README's GitHub Actions recipe with a service-account key in the CI document: the job
/// runs pip against the token index, and pip's own environment (read by the `keyring` command
/// pip runs, from `/proc/PPID/environ`) holds neither the key nor the token.
#[test]
fn credd_ci_job_installs_with_a_service_account_key_and_no_secret_in_pips_environment() {
    let env = TestEnv::new();
    let index = TokenIndex::start(env.dir.path(), 3600, built_package("corp-a"));
    trust(&env, &index);
    let key = index
        .server
        .service_account("ci@corp.iam.gserviceaccount.com", false);
    let key_id = serde_json::from_str::<serde_json::Value>(&key).unwrap()["private_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = serde_json::json!({"entries": [{
        "name": "gar", "url": index.front.base_url(), "secret": key, "source": {"kind": "gcp"}
    }]});
    // `keyring` first on PATH: saves its parent's (pip's) environment, then is credd.
    let root = env.dir.path();
    let bin = root.join("keyring-bin");
    std::fs::create_dir(&bin).unwrap();
    let pip_environ = root.join("pip-environ");
    let script = format!(
        "#!/bin/sh\ntr '\\0' '\\n' < /proc/$PPID/environ > {}\nexec {CREDD} keyring \"$@\"\n",
        pip_environ.display()
    );
    std::fs::write(bin.join("keyring"), script).unwrap();
    make_executable(&bin.join("keyring"));
    let job = root.join("build.sh");
    let pip = pip_from(&env, &index, "site");
    let mut line = vec![pip.get_program().to_str().unwrap().to_owned()];
    line.extend(pip.get_args().map(|a| a.to_str().unwrap().to_owned()));
    std::fs::write(&job, format!("#!/bin/sh\nexec {}\n", line.join(" "))).unwrap();
    make_executable(&job);

    let recipe = format!(
        "exec 3<<<\"$CREDD_ENTRIES\"; unset CREDD_ENTRIES; exec {CREDD} ci --entries-fd 3 -- {}",
        job.display()
    );
    let mut shell = tool(&env, Path::new("/bin/bash"), root, &["-e", "-c", &recipe]);
    shell.env("CREDD_ENTRIES", document.to_string());
    let out = run_with_limit(shell, "");
    assert_site_has_corp_a(&env, "site", &out);
    let tokens = index.front.accepted_tokens();
    assert_eq!(tokens.len(), 1, "{:?}", index.front.seen());
    let environ = std::fs::read_to_string(&pip_environ).expect("pip ran the keyring command");
    assert!(environ.contains("CREDD_SOCKET="), "{environ}");
    for secret in [
        &tokens[0][tokens[0].len() - 24..],
        &key_id,
        "PRIVATE KEY",
        "CREDD_ENTRIES",
    ] {
        assert!(!environ.contains(secret), "{secret:?} in pip's environment");
    }
    assert!(!env.vault().exists(), "credd ci wrote a vault");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
