//! The real Poetry against a real auth-required index (pypiserver on 127.0.0.1), with its
//! credentials from credd: through the `poetry` wrapper and the keyring backend, through
//! `credd exec` with the keyring disabled, after `credd import poetry`; and the backend's own
//! Python tests against a real agent.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pypi::{POETRY_VERSION, PypiServer, library_project, tiny_package, venv_bin};
use common::tokenfront::TokenIndex;
use common::{Output, PASSPHRASE, TestEnv, assert_ok, run_with_limit, without_tty};

const CREDD: &str = env!("CARGO_BIN_EXE_credd");
const USER: &str = "alice";
const LOCKED_WARNING: &str =
    "credd: warning: credd is locked: run 'credd unlock'; Poetry runs without credd's credentials";
const AUTH_ERROR: &str = "Authorization error accessing";

/// An isolated Poetry: its config, cache and data dirs inside the test's temp dir, virtual
/// environments inside the project, and otherwise only the variables of [`TestEnv::command`]. PATH
/// starts with the wrapper's directory, then the test venv's bin.
struct Poetry {
    root: PathBuf,
    bin: PathBuf,
    config: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Poetry {
    fn new(env: &TestEnv) -> Poetry {
        let root = env.dir.path().to_path_buf();
        let bin = root.join("bin");
        let config = root.join("poetry-config");
        std::fs::create_dir_all(&config).unwrap();
        let venv_bin_dir = venv_bin("poetry").parent().unwrap().to_path_buf();
        let mut path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .collect::<Vec<_>>();
        path.insert(0, venv_bin_dir);
        path.insert(0, bin.clone());
        let mut vars: Vec<(OsString, OsString)> = env
            .command()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .filter(|(k, _)| k != "PATH")
            .collect();
        vars.push(("PATH".into(), std::env::join_paths(path).unwrap()));
        for (key, value) in [
            ("POETRY_CONFIG_DIR", config.clone()),
            ("POETRY_CACHE_DIR", root.join("poetry-cache")),
            ("POETRY_DATA_DIR", root.join("poetry-data")),
        ] {
            vars.push((key.into(), value.into()));
        }
        vars.push(("POETRY_VIRTUALENVS_IN_PROJECT".into(), "true".into()));
        vars.push(("POETRY_NO_INTERACTION".into(), "1".into()));
        Poetry {
            root,
            bin,
            config,
            env: vars,
        }
    }

    /// `program ARGS` in `dir` with this Poetry's environment.
    fn command(&self, program: &Path, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command.args(args).current_dir(dir);
        command
    }

    /// `poetry ARGS` through the wrapper.
    fn wrapped(&self, dir: &Path, args: &[&str]) -> Command {
        self.command(&self.bin.join("poetry"), dir, args)
    }

    /// `credd exec -- poetry ARGS` with the keyring disabled.
    fn exec(&self, dir: &Path, args: &[&str]) -> Command {
        let poetry = venv_bin("poetry");
        let mut all = vec!["exec", "--", poetry.to_str().unwrap()];
        all.extend(args);
        let mut command = self.command(Path::new(CREDD), dir, &all);
        command.env("POETRY_KEYRING_ENABLED", "false");
        command
    }

    /// `credd setup poetry --bin-dir ROOT/bin`.
    fn setup(&self) -> Output {
        let dir = self.bin.to_str().unwrap();
        run_with_limit(
            self.command(
                Path::new(CREDD),
                &self.root,
                &["setup", "poetry", "--bin-dir", dir],
            ),
            "",
        )
    }

    /// A project `app` depending on `corp-tiny` from the explicit source `corp` at `url`.
    fn consumer(&self, url: &str, extra_sources: &str) -> PathBuf {
        let dir = self.root.join("app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pyproject.toml"),
            format!(
                "[project]\nname = \"app\"\nversion = \"0.0.0\"\nrequires-python = \">=3.9\"\n\
                 dependencies = [\"corp-tiny (>=0.1)\"]\n\n[tool.poetry]\npackage-mode = false\n\n\
                 [tool.poetry.dependencies]\ncorp-tiny = {{ source = \"corp\" }}\n\n\
                 [[tool.poetry.source]]\nname = \"corp\"\nurl = \"{url}\"\n\
                 priority = \"explicit\"\n{extra_sources}"
            ),
        )
        .unwrap();
        dir
    }
}

/// An agent with an unlocked vault.
fn agent(env: &TestEnv) -> common::Agent {
    let agent = env.start_agent();
    env.init();
    agent
}

/// `credd add NAME --url URL [--username USER]` with `secret` on stdin.
fn add(env: &TestEnv, name: &str, url: &str, username: Option<&str>, secret: &str) {
    let mut args = vec!["add", name, "--url", url, "--secret-stdin"];
    if let Some(username) = username {
        args.extend(["--username", username]);
    }
    env.cli_with_input(&args, &format!("{secret}\n")).ok();
}

/// Runs `command` and returns its output and how long it took.
fn timed(command: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = run_with_limit(command, "");
    (out, start.elapsed())
}

/// The installed `corp_tiny` answers 42 in the project's own virtual environment.
#[track_caller]
fn assert_installed(app: &Path) {
    let out = run_with_limit(
        {
            let mut c = Command::new(app.join(".venv/bin/python"));
            c.args(["-c", "import corp_tiny; print(corp_tiny.ANSWER)"]);
            c
        },
        "",
    );
    assert_ok(&out, "import corp_tiny");
    assert_eq!(out.stdout.trim(), "42");
}

/// A pypiserver holding `corp-tiny` 0.1.0 for user alice with `password`.
fn index(env: &TestEnv, password: &str) -> PypiServer {
    let server = PypiServer::start(&env.dir.path().join("index"), &[(USER, password)]);
    server.add(tiny_package());
    server
}

// ---------------------------------------------------------------------------------------------
// The index itself: a baseline that does not involve credd.
// ---------------------------------------------------------------------------------------------

#[test]
fn index_baseline_demands_basic_auth_and_poetry_uses_its_own_variables() {
    let env = TestEnv::new();
    let server = index(&env, "baseline-pw-1");
    assert_eq!(server.status("/simple/corp-tiny/", None), 401);
    assert_eq!(
        server.status("/simple/corp-tiny/", Some((USER, "wrong"))),
        403
    );
    assert_eq!(
        server.status("/simple/corp-tiny/", Some((USER, "baseline-pw-1"))),
        200
    );
    assert_eq!(
        server.status("/simple/elsewhere/", Some((USER, "baseline-pw-1"))),
        404
    );

    let poetry = Poetry::new(&env);
    let app = poetry.consumer(&server.simple_url(), "");
    let real = venv_bin("poetry");
    let version = run_with_limit(poetry.command(&real, &app, &["--version"]), "");
    assert!(version.stdout.contains(POETRY_VERSION), "{version:?}");
    let mut lock = poetry.command(&real, &app, &["lock"]);
    lock.env("POETRY_KEYRING_ENABLED", "false")
        .env("POETRY_HTTP_BASIC_CORP_USERNAME", USER)
        .env("POETRY_HTTP_BASIC_CORP_PASSWORD", "baseline-pw-1");
    assert_ok(
        &run_with_limit(lock, ""),
        "poetry lock with Poetry's variables",
    );
    assert!(
        std::fs::read_to_string(app.join("poetry.lock"))
            .unwrap()
            .contains("name = \"corp-tiny\"")
    );
}

// ---------------------------------------------------------------------------------------------
// The wrapper and the keyring backend.
// ---------------------------------------------------------------------------------------------

#[test]
fn wrapper_locks_and_installs_from_a_cold_cache_and_keeps_secrets_out_of_the_environment() {
    const PASSWORD: &str = "wrapper-pw-7f3a";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = index(&env, PASSWORD);
    add(&env, "corp", &server.simple_url(), Some(USER), PASSWORD);
    let poetry = Poetry::new(&env);
    let setup = poetry.setup();
    assert_ok(&setup, "credd setup poetry");
    assert!(
        setup.stderr.contains(&format!(
            "{} is on PATH before Poetry",
            poetry.bin.display()
        )),
        "{setup:?}"
    );
    assert!(
        env.dir
            .path()
            .join("data/credd/python/credd_keyring.py")
            .is_file()
    );
    let app = poetry.consumer(&server.simple_url(), "");
    assert!(
        !poetry.root.join("poetry-cache").exists(),
        "the cache must start cold"
    );

    assert_ok(
        &run_with_limit(poetry.wrapped(&app, &["lock"]), ""),
        "poetry lock",
    );
    let lock = std::fs::read_to_string(app.join("poetry.lock")).unwrap();
    assert!(lock.contains("name = \"corp-tiny\""), "{lock}");
    let install = run_with_limit(poetry.wrapped(&app, &["install"]), "");
    assert_ok(&install, "poetry install");
    assert!(
        install.stdout.contains("Installing corp-tiny (0.1.0)"),
        "{install:?}"
    );
    assert_installed(&app);

    // Nothing of the secret in Poetry's files or in what its children see.
    let run_env = run_with_limit(poetry.wrapped(&app, &["run", "env"]), "");
    assert_ok(&run_env, "poetry run env");
    assert!(!run_env.stdout.contains(PASSWORD), "{run_env:?}");
    assert!(
        run_env
            .stdout
            .contains("PYTHON_KEYRING_BACKEND=credd_keyring.CreddKeyring"),
        "{run_env:?}"
    );
    assert!(!poetry.config.join("auth.toml").exists());
    assert!(!poetry.config.join("config.toml").exists());

    // Arguments reach Poetry untouched.
    let args = ["a b", "$HOME", "it's", "\"q\"", "*", ""];
    let mut all = vec![
        "run",
        "python",
        "-c",
        "import sys, json; print(json.dumps(sys.argv[1:]))",
    ];
    all.extend(args);
    let out = run_with_limit(poetry.wrapped(&app, &all), "");
    assert_ok(&out, "poetry run python");
    assert_eq!(
        out.stdout.trim(),
        serde_json::to_string(&args).unwrap().replace(",", ", ")
    );
}

#[test]
fn without_credentials_in_credd_poetry_reports_its_authorization_error_quickly() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = index(&env, "nocred-pw-1");
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let app = poetry.consumer(&server.simple_url(), "");

    let (out, took) = timed(without_tty(poetry.wrapped(&app, &["lock"])));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stdout.contains(AUTH_ERROR) || out.stderr.contains(AUTH_ERROR),
        "{out:?}"
    );
    assert!(!out.stderr.contains("credd: warning"), "{out:?}");
    assert!(took < Duration::from_secs(10), "poetry took {took:?}");

    let (out, took) = timed(without_tty(poetry.exec(&app, &["lock"])));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "credd: warning: no credd entry serves source corp ({})",
            server.simple_url()
        )),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(AUTH_ERROR) || out.stderr.contains(AUTH_ERROR),
        "{out:?}"
    );
    assert!(took < Duration::from_secs(10), "poetry took {took:?}");
}

#[test]
fn locked_agent_without_a_tty_gets_one_warning_line_and_ends_within_10s() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = index(&env, "locked-pw-1");
    add(
        &env,
        "corp",
        &server.simple_url(),
        Some(USER),
        "locked-pw-1",
    );
    env.cli(&["lock"]).ok();
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let app = poetry.consumer(&server.simple_url(), "");

    let (out, took) = timed(without_tty(poetry.wrapped(&app, &["lock"])));
    assert!(
        took < Duration::from_secs(10),
        "poetry took {took:?}: {out:?}"
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("credd:"))
        .collect();
    assert_eq!(warnings, [LOCKED_WARNING], "{out:?}");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stdout.contains(AUTH_ERROR) || out.stderr.contains(AUTH_ERROR),
        "{out:?}"
    );

    // credd exec refuses to run the command, with the fix, at once.
    let (out, took) = timed(without_tty(poetry.exec(&app, &["lock"])));
    assert_eq!(out.code(), 3, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        "credd: credd is locked: run 'credd unlock'"
    );
    assert!(!app.join("poetry.lock").exists());
    assert!(took < Duration::from_secs(10), "credd exec took {took:?}");
}

#[test]
fn wrapper_on_a_terminal_unlocks_first() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    env.cli(&["lock"]).ok();
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let line = format!(
        "CREDD_POETRY='{}' '{}' --no-ansi --version",
        venv_bin("poetry").display(),
        poetry.bin.join("poetry").display()
    );
    let shown = common::run_on_tty(
        &env,
        &line,
        &[("credd passphrase: ", &format!("{PASSPHRASE}\n"))],
    );
    assert!(shown.contains("credd: unlocked"), "{shown:?}");
    assert!(
        shown.contains(&format!("Poetry (version {POETRY_VERSION})")),
        "{shown:?}"
    );
    assert!(
        !shown.contains(PASSPHRASE),
        "the passphrase was echoed: {shown:?}"
    );
    let status = env.cli(&["status", "--json"]);
    assert!(status.ok().contains("\"state\":\"unlocked\""), "{status:?}");
}

#[test]
fn setup_keeps_a_real_poetry_and_the_wrapper_never_runs_itself() {
    let env = TestEnv::new();
    let poetry = Poetry::new(&env);
    // A file that is not the wrapper (the real Poetry, say) is never replaced.
    std::fs::create_dir_all(&poetry.bin).unwrap();
    std::fs::write(poetry.bin.join("poetry"), "#!/bin/sh\necho real\n").unwrap();
    let out = poetry.setup();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("is not credd's wrapper"), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(poetry.bin.join("poetry")).unwrap(),
        "#!/bin/sh\necho real\n"
    );
    std::fs::remove_file(poetry.bin.join("poetry")).unwrap();
    let mut setup = poetry.command(
        Path::new(CREDD),
        &poetry.root,
        &["setup", "poetry", "--bin-dir", poetry.bin.to_str().unwrap()],
    );
    setup.env("PATH", venv_bin("poetry").parent().unwrap());
    let out = run_with_limit(setup, "");
    assert_ok(&out, "credd setup poetry");
    assert!(
        out.stderr.contains(&format!(
            "next: put {0} first on PATH, e.g. add this line to ~/.profile and open a new \
             shell:\n  export PATH=\"{0}:$PATH\"",
            poetry.bin.display()
        )),
        "{out:?}"
    );
    assert_ok(&poetry.setup(), "credd setup poetry, again");
    let mode = common::mode_of(&poetry.bin.join("poetry"));
    assert_eq!(mode, 0o755);

    // Two wrappers on PATH and no Poetry: a clear error, not a loop.
    let second = poetry.root.join("bin2");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::copy(poetry.bin.join("poetry"), second.join("poetry")).unwrap();
    let mut command = poetry.wrapped(&poetry.root, &["--version"]);
    command.env(
        "PATH",
        std::env::join_paths([poetry.bin.clone(), second, "/usr/bin".into(), "/bin".into()])
            .unwrap(),
    );
    let (out, took) = timed(command);
    assert_eq!(out.code(), 127, "{out:?}");
    assert!(
        out.stderr
            .contains("no poetry on PATH besides credd's wrapper"),
        "{out:?}"
    );
    assert!(took < Duration::from_secs(10));
    let mut command = poetry.wrapped(&poetry.root, &["--version"]);
    command.env("CREDD_POETRY", poetry.bin.join("poetry"));
    let out = run_with_limit(command, "");
    assert_eq!(out.code(), 127, "{out:?}");
    assert!(
        out.stderr.contains("is credd's wrapper, not Poetry"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// credd exec: Poetry's environment variables, keyring disabled.
// ---------------------------------------------------------------------------------------------

#[test]
fn credd_exec_locks_and_installs_with_the_keyring_disabled() {
    const PASSWORD: &str = "exec-pw-93c1";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = index(&env, PASSWORD);
    add(&env, "corp", &server.simple_url(), Some(USER), PASSWORD);
    add(
        &env,
        "mirror",
        "https://mirror.example/simple/",
        Some("m"),
        "mirror-pw",
    );
    let poetry = Poetry::new(&env);
    // A second, unused source whose name has a dot: Poetry's variable for it has one too.
    let app = poetry.consumer(
        &server.simple_url(),
        "\n[[tool.poetry.source]]\nname = \"my.mirror\"\nurl = \"https://mirror.example/simple/\"\n\
         priority = \"explicit\"\n",
    );

    let out = run_with_limit(poetry.exec(&app, &["lock"]), "");
    assert_ok(&out, "credd exec -- poetry lock");
    assert!(
        out.stderr.contains(
            "credd: warning: Poetry reads my.mirror's credentials from \
             POETRY_HTTP_BASIC_MY.MIRROR_*, a name no shell can hold"
        ),
        "{out:?}"
    );
    assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD));
    let out = run_with_limit(poetry.exec(&app, &["install"]), "");
    assert_ok(&out, "credd exec -- poetry install");
    assert_installed(&app);

    // The variables are Poetry's own, and nothing else is set.
    let out = run_with_limit(poetry.exec(&app, &["run", "env"]), "");
    assert_ok(&out, "credd exec -- poetry run env");
    assert!(
        out.stdout
            .contains(&format!("POETRY_HTTP_BASIC_CORP_USERNAME={USER}\n"))
    );
    assert!(
        out.stdout
            .contains(&format!("POETRY_HTTP_BASIC_CORP_PASSWORD={PASSWORD}\n"))
    );
    assert!(
        out.stdout
            .contains("POETRY_HTTP_BASIC_MY.MIRROR_PASSWORD=mirror-pw\n")
    );
    assert!(!out.stdout.contains("POETRY_REPOSITORIES_"), "{out:?}");
    assert!(!out.stdout.contains("PYTHON_KEYRING_BACKEND"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// poetry publish.
// ---------------------------------------------------------------------------------------------

#[test]
fn publish_with_a_token_held_by_credd() {
    const TOKEN: &str = "pypi-upload-token-5d2e";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = PypiServer::start(&env.dir.path().join("index"), &[("__token__", TOKEN)]);
    // A bare token (no username), as `credd add` stores one.
    add(&env, "corp-upload", &server.upload_url(), None, TOKEN);
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let out = run_with_limit(
        poetry.wrapped(
            &poetry.root,
            &["config", "repositories.corp-upload", &server.upload_url()],
        ),
        "",
    );
    assert_ok(&out, "poetry config repositories.corp-upload");

    // Through the wrapper: Poetry asks the keyring for the token.
    let lib = poetry.root.join("lib1");
    library_project(&lib, "corp-lib", "0.1.0");
    let out = run_with_limit(
        poetry.wrapped(&lib, &["publish", "--build", "-r", "corp-upload"]),
        "",
    );
    assert_ok(&out, "poetry publish through the wrapper");
    assert!(
        out.stdout
            .contains("Publishing corp-lib (0.1.0) to corp-upload"),
        "{out:?}"
    );
    assert_eq!(
        server.files(),
        ["corp_lib-0.1.0-py3-none-any.whl", "corp_lib-0.1.0.tar.gz"]
    );

    // Through credd exec: POETRY_PYPI_TOKEN_CORP_UPLOAD.
    let lib = poetry.root.join("lib2");
    library_project(&lib, "corp-lib", "0.2.0");
    let out = run_with_limit(
        poetry.exec(&lib, &["publish", "--build", "--repository=corp-upload"]),
        "",
    );
    assert_ok(&out, "credd exec -- poetry publish");
    assert_eq!(server.files().len(), 4, "{:?}", server.files());
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));

    // A wrong token is refused by the index, and Poetry says so.
    env.cli_with_input(
        &[
            "add",
            "corp-upload",
            "--url",
            &server.upload_url(),
            "--secret-stdin",
            "--replace",
        ],
        "wrong-token\n",
    )
    .ok();
    let lib = poetry.root.join("lib3");
    library_project(&lib, "corp-lib", "0.3.0");
    let out = run_with_limit(
        poetry.wrapped(&lib, &["publish", "--build", "-r", "corp-upload"]),
        "",
    );
    assert!(!out.status.success(), "{out:?}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("403"),
        "{out:?}"
    );
    assert_eq!(server.files().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// credd import poetry.
// ---------------------------------------------------------------------------------------------

#[test]
fn import_with_remove_moves_auth_toml_into_credd_then_install_works() {
    const PASSWORD: &str = "imported-pw-61b0";
    const TOKEN: &str = "pypi-AgEIcHlwaS5vcmcimported";
    let env = TestEnv::new();
    let _agent = agent(&env);
    // Uploads and downloads on one server: Poetry picks the credentials of the repository whose
    // path matches a download best, which for /packages/… is corp-upload's (at /).
    let server = PypiServer::start(
        &env.dir.path().join("index"),
        &[(USER, PASSWORD), ("__token__", TOKEN)],
    );
    server.add(tiny_package());
    let poetry = Poetry::new(&env);
    std::fs::write(
        poetry.config.join("config.toml"),
        format!(
            "[virtualenvs]\nin-project = true\n\n[repositories.corp]\nurl = \"{}\"\n\n\
             [repositories.corp-upload]\nurl = \"{}\"\n",
            server.simple_url(),
            server.upload_url()
        ),
    )
    .unwrap();
    let auth = poetry.config.join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "# written by poetry config\n[http-basic.corp]\nusername = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n\n# this one lives in a keyring\n\
             [http-basic.keyring-kept]\nusername = \"bob\"\n\n[http-basic.unknown-url]\n\
             username = \"carol\"\npassword = \"stays-here\"\n\n[pypi-token]\n\
             corp-upload = \"{TOKEN}\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let app = poetry.consumer(&server.simple_url(), "");

    let out = run_with_limit(
        poetry.command(
            Path::new(CREDD),
            &poetry.root,
            &["import", "poetry", "--remove"],
        ),
        "",
    );
    assert_ok(&out, "credd import poetry --remove");
    for secret in [PASSWORD, TOKEN, "stays-here"] {
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "{out:?}"
        );
    }
    assert!(
        out.stderr
            .contains("credd: imported http-basic.corp as corp"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("credd: imported pypi-token.corp-upload as corp-upload"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("skipped http-basic.unknown-url: no URL"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("skipped http-basic.keyring-kept"),
        "{out:?}"
    );

    let left = std::fs::read_to_string(&auth).unwrap();
    assert_eq!(
        left,
        "# written by poetry config\n\n# this one lives in a keyring\n[http-basic.keyring-kept]\n\
         username = \"bob\"\n\n[http-basic.unknown-url]\nusername = \"carol\"\n\
         password = \"stays-here\"\n"
    );
    assert_eq!(common::mode_of(&auth), 0o600);
    let corp = env.cli(&["get", "corp", "--json"]);
    let corp: serde_json::Value = serde_json::from_str(corp.ok()).unwrap();
    assert_eq!(corp["url"], server.simple_url());
    assert_eq!(corp["username"], USER);
    assert_eq!(corp["secret"], PASSWORD);
    let upload: serde_json::Value =
        serde_json::from_str(env.cli(&["get", "corp-upload", "--json"]).ok()).unwrap();
    assert_eq!(upload["username"], "__token__");

    // A second run finds nothing new and changes nothing.
    let again = run_with_limit(
        poetry.command(
            Path::new(CREDD),
            &poetry.root,
            &["import", "poetry", "--remove"],
        ),
        "",
    );
    assert_ok(&again, "the second import");
    assert_eq!(std::fs::read_to_string(&auth).unwrap(), left);

    assert_ok(&poetry.setup(), "credd setup poetry");
    assert_ok(
        &run_with_limit(poetry.wrapped(&app, &["install"]), ""),
        "poetry install",
    );
    assert_installed(&app);
}

/// A repository URL with userinfo (`https://u:p@host/…`) is imported without it, as an entry's
/// URL must be; an entry the agent will not take is skipped with its reason, and the rest still
/// go in.
#[test]
fn import_takes_a_repository_url_without_its_userinfo_and_skips_only_what_is_refused() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    let poetry = Poetry::new(&env);
    let long = "p".repeat(2100);
    std::fs::write(
        poetry.config.join("config.toml"),
        format!(
            "[repositories.corp]\nurl = \"https://olduser:url-pw-7a@corp.test/simple/\"\n\n\
             [repositories.huge]\nurl = \"https://huge.test/{long}/\"\n\n\
             [repositories.zeta]\nurl = \"https://zeta.test/simple/\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        poetry.config.join("auth.toml"),
        "[http-basic.corp]\nusername = \"ci\"\npassword = \"auth-pw-7b\"\n\n\
         [http-basic.huge]\nusername = \"ci\"\npassword = \"auth-pw-7c\"\n\n\
         [http-basic.zeta]\nusername = \"ci\"\npassword = \"auth-pw-7d\"\n",
    )
    .unwrap();
    let out = run_with_limit(
        poetry.command(Path::new(CREDD), &poetry.root, &["import", "poetry"]),
        "",
    );
    assert_ok(&out, "credd import poetry");
    assert!(!format!("{out:?}").contains("-pw-7"), "{out:?}");
    assert!(out.stderr.contains("skipped http-basic.huge"), "{out:?}");
    let corp: serde_json::Value =
        serde_json::from_str(env.cli(&["get", "corp", "--json"]).ok()).unwrap();
    assert_eq!(corp["url"], "https://corp.test/simple/");
    assert_eq!(corp["secret"], "auth-pw-7b");
    assert_eq!(env.cli(&["get", "zeta"]).ok(), "auth-pw-7d\n");
}

/// A `poetry` in the wrapper's directory that is a link (the installer's link into Poetry's own
/// environment, even one whose target is gone) is left alone: nothing is written through it.
#[test]
fn setup_never_writes_the_wrapper_through_a_link() {
    let env = TestEnv::new();
    let poetry = Poetry::new(&env);
    let venv_bin = poetry.root.join("poetry-venv/bin");
    std::fs::create_dir_all(&venv_bin).unwrap();
    std::fs::create_dir_all(&poetry.bin).unwrap();
    std::os::unix::fs::symlink(venv_bin.join("poetry"), poetry.bin.join("poetry")).unwrap();
    let out = poetry.setup();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("a link to Poetry"), "{out:?}");
    assert!(
        !venv_bin.join("poetry").exists(),
        "written through the link"
    );
}

// ---------------------------------------------------------------------------------------------
// The backend's own tests, in Python, against this real agent.
// ---------------------------------------------------------------------------------------------

/// The Python backend's step-up prompt, as the Rust clients' (tests/agent_cli.rs): echo stays
/// off after a resume that turned it on (as a shell does at `fg`) and after a stop the kernel
/// discards, and SIGTERM or SIGHUP at the prompt leaves echo on.
#[test]
fn python_backends_prompt_keeps_echo_off_across_a_resume_and_puts_it_back_on_a_signal() {
    let env = TestEnv::new();
    let script = env.dir.path().join("prompt.py");
    std::fs::write(
        &script,
        format!(
            "import sys\nsys.path.insert(0, {:?})\nimport credd_keyring\n\
             typed = credd_keyring._ask_passphrase('credd passphrase: ', Exception('x'))\n\
             print('typed', len(typed))\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python")
        ),
    )
    .unwrap();
    let python = format!("{} {}", venv_bin("python").display(), script.display());
    let shown = common::type_after_a_resume_with_echo_on(
        &env,
        &python,
        "credd passphrase:",
        "hidden-typing-9\n",
    );
    assert!(shown.contains("typed 15"), "{shown:?}");
    assert!(!shown.contains("hidden-typing-9"), "echoed: {shown:?}");
    let shown = common::type_after_a_discarded_stop(
        &env,
        &python,
        "credd passphrase:",
        "hidden-typing-9\n",
    );
    assert!(shown.contains("typed 15"), "{shown:?}");
    assert!(
        !shown.contains("hidden-typing-9"),
        "echoed after a stop: {shown:?}"
    );
    for signal in ["TERM", "HUP"] {
        common::assert_signal_leaves_echo_on(&env, &python, "credd passphrase:", signal);
    }
}

#[test]
fn python_backend_unit_tests_pass_against_a_real_agent() {
    let env = TestEnv::new();
    let _agent = agent(&env);
    python_unittest(&env, "test_credd_keyring", &[]);
}

#[test]
fn python_backend_pages_through_more_entries_than_one_reply_holds() {
    const BULK: usize = 1500;
    let env = TestEnv::new();
    let mut entries: Vec<credd_protocol::Entry> = (0..BULK)
        .map(|i| credd_protocol::Entry {
            name: format!("bulk-{i:04}"),
            url: format!("https://bulk-{i:04}.example/simple/"),
            username: None,
            secret: credd_protocol::Secret::new(&format!("tok-{i}")),
            expires: None,
            note: None,
            publish: false,
            source: None,
        })
        .collect();
    entries.push(credd_protocol::Entry {
        name: "zz-late".into(),
        url: "http://127.0.0.1:8080/simple/".into(),
        username: Some(USER.into()),
        secret: credd_protocol::Secret::new("pw-late"),
        expires: None,
        note: None,
        publish: false,
        source: None,
    });
    env.init_with_entries(&entries);
    let _agent = env.start_agent();
    env.unlock().ok();
    let bulk = BULK.to_string();
    python_unittest(
        &env,
        "test_credd_keyring_paging",
        &[("CREDD_TEST_BULK_ENTRIES", &bulk)],
    );
}

/// The backend reads repository URLs from Poetry's config.toml in the directory credd's
/// `config_dir` names (the rule for Linux), for every case of that rule.
#[test]
fn python_backend_finds_poetry_config_dir_where_credd_does() {
    let cases: &[&[(&str, &str)]] = &[
        &[("HOME", "/h")],
        &[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")],
        &[("HOME", "/h"), ("XDG_CONFIG_HOME", "relative")],
        &[("HOME", "/h"), ("XDG_CONFIG_HOME", "")],
        &[
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/x"),
            ("POETRY_CONFIG_DIR", "/p"),
        ],
        &[("HOME", "/h"), ("POETRY_CONFIG_DIR", "")],
    ];
    let script = "import json, os, sys, credd_keyring\n\
                  for case in json.load(sys.stdin):\n    \
                  os.environ.clear()\n    os.environ.update(case)\n    \
                  print(credd_keyring._poetry_config_dir())\n";
    let mut python = Command::new(venv_bin("python"));
    python
        .args(["-c", script])
        .env_clear()
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python"));
    let input: Vec<std::collections::HashMap<&str, &str>> = cases
        .iter()
        .map(|vars| vars.iter().copied().collect())
        .collect();
    let out = run_with_limit(python, &serde_json::to_string(&input).unwrap());
    assert_ok(&out, "python credd_keyring._poetry_config_dir()");
    let from_python: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(from_python.len(), cases.len(), "{}", out.stdout);
    for (vars, python_dir) in cases.iter().zip(from_python) {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let credd_dir = credd::poetry::files::config_dir(var).unwrap();
        assert_eq!(Path::new(python_dir), credd_dir, "{vars:?}");
    }
}

/// A repository's name becomes the same URL in the backend (`poetry_repository_url`, used when
/// Poetry stores a password) as in credd (`RepositoryUrls::credential_url`, used by `credd
/// import poetry`): Poetry's rule, where `POETRY_REPOSITORIES_<NAME>_URL` (NAME upper case, `-`
/// as `_`, dots kept) comes first, then poetry.toml, then config.toml (`[repositories."a.b"]` is
/// `a.b`; a nested `[repositories.a.b]` is not), then PyPI's upload URL for `pypi`, then the
/// project's sources. The real Poetry's own config reader agrees on what comes from its config.
#[test]
fn python_backend_turns_repository_names_into_the_urls_credd_does() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("pypoetry");
    let project = dir.path().join("project");
    let cwd = project.join("src/pkg");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "[repositories.corp]\nurl = \"https://global-corp/\"\n\
         [repositories.up]\nurl = \"https://global-up/\"\n\
         [repositories.a.b]\nurl = \"https://ab/\"\n\
         [repositories.\"c.d\"]\nurl = \"https://cd/\"\n\
         [repositories.empty]\nurl = \"\"\n\
         [repositories.\"naïve\"]\nurl = \"https://naive/\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("poetry.toml"),
        "[repositories.up]\nurl = \"https://local-up/\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[tool.poetry]\npackage-mode = false\n\n\
         [[tool.poetry.source]]\nname = \"src\"\nurl = \"https://src/simple/\"\n\n\
         [[tool.poetry.source]]\nname = \"corp\"\nurl = \"https://source-corp/\"\n\n\
         [[tool.poetry.source]]\nname = \"pypi\"\nurl = \"https://source-pypi/\"\n\n\
         [[tool.poetry.source]]\nname = \"blank\"\nurl = \"\"\n\n\
         [[tool.poetry.source]]\nname = \"blank\"\nurl = \"https://second-blank/\"\n",
    )
    .unwrap();
    let names = [
        "corp",
        "up",
        "a.b",
        "c.d",
        "empty",
        "naïve",
        "src",
        "pypi",
        "blank",
        "corp-upload",
        "Corp.Upload",
        "nope",
    ];
    let config = config_dir.to_str().unwrap();
    let no_env: &[(&str, &str)] = &[("HOME", "/h"), ("POETRY_CONFIG_DIR", config)];
    let with_env: &[(&str, &str)] = &[
        ("HOME", "/h"),
        ("POETRY_CONFIG_DIR", config),
        ("POETRY_REPOSITORIES_CORP_UPLOAD_URL", "https://env-upload/"),
        ("POETRY_REPOSITORIES_A.B_URL", "https://env-ab/"),
        ("POETRY_REPOSITORIES_UP_URL", ""),
        ("POETRY_REPOSITORIES_NAÏVE_URL", "https://env-naive/"),
        ("POETRY_REPOSITORIES_PYPI_URL", "https://env-pypi/"),
        ("POETRY_REPOSITORIES_SRC_URL", "https://env-src/"),
    ];
    let cases = [no_env, with_env];
    let script = "import json, os, sys, credd_keyring\n\
                  request = json.load(sys.stdin)\n\
                  for case in request['cases']:\n    \
                  os.environ.clear()\n    os.environ.update(case)\n    \
                  print(json.dumps([credd_keyring.poetry_repository_url(n, request['cwd']) \
                  for n in request['names']]))\n";
    let mut python = Command::new(venv_bin("python"));
    python
        .args(["-c", script])
        .env_clear()
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python"));
    let request = serde_json::json!({
        "cwd": cwd,
        "names": names,
        "cases": cases
            .iter()
            .map(|vars| vars.iter().copied().collect::<std::collections::HashMap<_, _>>())
            .collect::<Vec<_>>(),
    });
    let out = run_with_limit(python, &request.to_string());
    assert_ok(&out, "python credd_keyring.poetry_repository_url()");
    let from_python: Vec<Vec<Option<String>>> = out
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let from_credd: Vec<Vec<Option<String>>> = cases
        .iter()
        .map(|vars| {
            let var = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let config_dir = credd::poetry::files::config_dir(var);
            let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            let urls =
                credd::poetry::files::RepositoryUrls::read(&cwd, config_dir.as_deref(), vars)
                    .unwrap();
            names
                .iter()
                .map(|name| urls.credential_url(name).map(str::to_owned))
                .collect()
        })
        .collect();
    let expected = |urls: [Option<&str>; 12]| -> Vec<Option<String>> {
        urls.iter().map(|u| u.map(str::to_owned)).collect()
    };
    assert_eq!(
        from_credd,
        [
            expected([
                Some("https://global-corp/"),
                Some("https://local-up/"),
                None,
                Some("https://cd/"),
                None,
                Some("https://naive/"),
                Some("https://src/simple/"),
                Some("https://upload.pypi.org/legacy/"),
                Some("https://second-blank/"),
                None,
                None,
                None,
            ]),
            expected([
                Some("https://global-corp/"),
                Some("https://local-up/"),
                Some("https://env-ab/"),
                Some("https://cd/"),
                None,
                Some("https://env-naive/"),
                Some("https://env-src/"),
                Some("https://env-pypi/"),
                Some("https://second-blank/"),
                Some("https://env-upload/"),
                None,
                None,
            ]),
        ],
        "credd's rule"
    );
    assert_eq!(from_python, from_credd, "{names:?}");

    // What Poetry's own reader (`Config.get(["repositories", NAME, "url"])`, as `poetry publish`
    // asks it) makes of the names its config.toml and the variables give.
    let from_config = [
        "corp",
        "a.b",
        "c.d",
        "empty",
        "naïve",
        "corp-upload",
        "Corp.Upload",
        "nope",
    ];
    let script = "import json, os, sys\n\
                  request = json.load(sys.stdin)\n\
                  from poetry.config.config import Config\n\
                  for case in request['cases']:\n    \
                  os.environ.clear()\n    os.environ.update(case)\n    \
                  config = Config.create(reload=True)\n    \
                  print(json.dumps([config.get(['repositories', n, 'url']) or None \
                  for n in request['names']]))\n";
    let mut poetry = Command::new(venv_bin("python"));
    poetry
        .args(["-c", script])
        .env_clear()
        .env("HOME", "/h")
        .env("POETRY_CONFIG_DIR", config)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let request = serde_json::json!({
        "names": from_config,
        "cases": cases
            .iter()
            .map(|vars| vars.iter().copied().collect::<std::collections::HashMap<_, _>>())
            .collect::<Vec<_>>(),
    });
    let out = run_with_limit(poetry, &request.to_string());
    assert_ok(&out, "Poetry's Config.get");
    let from_poetry: Vec<Vec<Option<String>>> = out
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    let credd_for_config: Vec<Vec<Option<String>>> = from_credd
        .iter()
        .map(|urls| {
            from_config
                .iter()
                .map(|n| urls[position(n)].clone())
                .collect()
        })
        .collect();
    assert_eq!(from_poetry, credd_for_config, "{from_config:?}");
}

/// Runs the backend's Python test `module` (in integrations/python) against the agent of `env`.
fn python_unittest(env: &TestEnv, module: &str, vars: &[(&str, &str)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/python");
    let template = env.command();
    let mut unittest = Command::new(venv_bin("python"));
    unittest
        .args(["-m", "unittest", "-v", module])
        .env_clear()
        .envs(template.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("CREDD_SOCKET", &env.socket)
        .env("CREDD_TEST_PASSPHRASE", PASSPHRASE)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(vars.iter().copied())
        .current_dir(&dir);
    let out = run_with_limit(unittest, "");
    assert_ok(&out, &format!("python -m unittest {module}"));
    assert!(out.stderr.contains("\nOK"), "{}", out.stderr);
    eprintln!("{}", out.stderr);
}

/// `poetry publish -r NAME` is a publish path: with a publish credential beside the entry NAME,
/// it fails without a terminal, naming what to do, and publishes nothing; on a terminal the
/// backend asks for the credd passphrase, naming the command, and a wrong one publishes nothing
/// while the right one uploads with the publish credential (the read one would be refused).
#[test]
fn poetry_publish_needs_the_step_up_for_a_publish_credential() {
    const TOKEN: &str = "pypi-upload-token-step-up-16";
    const PROMPT: &str = "poetry publish: enter the credd passphrase to allow:";
    let env = TestEnv::new();
    let _agent = agent(&env);
    let server = PypiServer::start(&env.dir.path().join("index"), &[("__token__", TOKEN)]);
    add(
        &env,
        "corp-upload",
        &server.upload_url(),
        None,
        "read-only-not-for-upload",
    );
    env.cli_with_input(
        &[
            "add",
            "corp-upload-publish",
            "--url",
            &server.upload_url(),
            "--publish",
            "--secret-stdin",
        ],
        &format!("{TOKEN}\n"),
    )
    .ok();
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let config = ["config", "repositories.corp-upload", &server.upload_url()];
    assert_ok(
        &run_with_limit(poetry.wrapped(&poetry.root, &config), ""),
        "poetry config",
    );
    // A project of its own per run: Poetry on a terminal asks before it rebuilds into a dist
    // directory that has files, and `--no-interaction` keeps any other question from waiting.
    let publish = |lib: &str| {
        let lib = poetry.root.join(lib);
        library_project(&lib, "corp-lib", "0.1.0");
        let args = [
            "publish",
            "--build",
            "--no-interaction",
            "-r",
            "corp-upload",
        ];
        poetry.wrapped(&lib, &args)
    };
    let out = run_with_limit(without_tty(publish("lib1")), "");
    assert!(!out.status.success(), "{out:?}");
    let shown: Vec<&str> = out
        .stdout
        .split_whitespace()
        .chain(out.stderr.split_whitespace())
        .collect();
    assert!(
        shown
            .join(" ")
            .contains("credd allow --once corp-upload-publish"),
        "{out:?}"
    );
    assert!(server.files().is_empty(), "{:?}", server.files());

    let line = common::shell_line(&publish("lib2"));
    let shown = common::run_on_tty(&env, &line, &[(PROMPT, "not the passphrase\n")]);
    assert!(shown.contains("wrong passphrase"), "{shown}");
    assert!(server.files().is_empty(), "{:?}", server.files());

    let line = common::shell_line(&publish("lib3"));
    let answer = format!("{PASSPHRASE}\n");
    let shown = common::run_on_tty(&env, &line, &[(PROMPT, &answer)]);
    assert!(!shown.contains(PASSPHRASE), "echoed: {shown}");
    assert_eq!(
        server.files(),
        ["corp_lib-0.1.0-py3-none-any.whl", "corp_lib-0.1.0.tar.gz"],
        "{shown}"
    );
    let log = env.cli(&["log"]).ok().to_owned();
    assert!(log.contains("poetry publish: ok (step-up)"), "{log}");

    // credd exec, with Poetry's keyring disabled, is a publish path too.
    let exec = |lib: &str| {
        let lib = poetry.root.join(lib);
        library_project(&lib, "corp-lib", "0.2.0");
        let args = [
            "publish",
            "--build",
            "--no-interaction",
            "-r",
            "corp-upload",
        ];
        poetry.exec(&lib, &args)
    };
    let out = run_with_limit(without_tty(exec("lib4")), "");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("credd exec -- poetry publish to corp-upload")
            && out
                .stderr
                .contains("credd allow --once corp-upload-publish"),
        "{out:?}"
    );
    assert_eq!(server.files().len(), 2, "{:?}", server.files());
    let line = common::shell_line(&exec("lib5"));
    let prompt = "credd exec -- poetry publish to corp-upload: enter the credd passphrase";
    let shown = common::run_on_tty(&env, &line, &[(prompt, &answer)]);
    assert!(
        !shown.contains(PASSPHRASE) && !shown.contains(TOKEN),
        "{shown}"
    );
    assert_eq!(server.files().len(), 4, "{shown}");
}

/// The wrapper and the keyring backend with a gcp source, against an index that takes only
/// currently valid tokens (username `oauth2accesstoken`): `poetry lock` and `poetry install`,
/// then, once that token has expired, a fresh `poetry install` into a new environment, served a
/// new token.
#[test]
fn wrapper_installs_through_a_gcp_source_while_its_tokens_expire() {
    let env = TestEnv::new();
    // 30 s tokens: handed out for 24 s, so a lock or an install that starts cold has plenty.
    let index = TokenIndex::start(env.dir.path(), 30, tiny_package());
    env.write_config(&format!(
        "ca-file = \"{}\"\n",
        index.server.ca_file.display()
    ));
    let _agent = agent(&env);
    let key = env.dir.path().join("sa.json");
    let account = "poetry@corp.iam.gserviceaccount.com";
    std::fs::write(&key, index.server.service_account(account, false)).unwrap();
    let url = index.front.base_url();
    env.cli(&[
        "add",
        "gar",
        "--url",
        &url,
        "--gcp-key-file",
        key.to_str().unwrap(),
        "--remove-file",
    ])
    .ok();
    let poetry = Poetry::new(&env);
    assert_ok(&poetry.setup(), "credd setup poetry");
    let app = poetry.consumer(&index.front.simple_url(), "");
    assert_ok(
        &run_with_limit(poetry.wrapped(&app, &["lock"]), ""),
        "poetry lock",
    );
    assert_ok(
        &run_with_limit(poetry.wrapped(&app, &["install"]), ""),
        "poetry install",
    );
    assert_installed(&app);
    let first = index.front.accepted_tokens();
    assert!(!first.is_empty(), "{:?}", index.front.seen());

    index.wait_expired(first.last().unwrap());
    std::fs::remove_dir_all(app.join(".venv")).unwrap();
    std::fs::remove_dir_all(poetry.root.join("poetry-cache")).unwrap();
    let again = run_with_limit(poetry.wrapped(&app, &["install"]), "");
    assert_ok(&again, "poetry install after the token expired");
    assert!(
        again.stdout.contains("Installing corp-tiny (0.1.0)"),
        "{again:?}"
    );
    assert_installed(&app);
    let tokens = index.front.accepted_tokens();
    assert!(
        tokens.len() > first.len(),
        "the second install used a new token: {tokens:?}"
    );
    let issued: Vec<String> = index.server.issued().into_iter().map(|i| i.token).collect();
    assert!(tokens.iter().all(|t| issued.contains(t)), "{tokens:?}");
    let refused = index.front.seen().into_iter();
    assert_eq!(
        refused
            .filter(|s| s.token.is_some() && s.status == 401)
            .count(),
        0,
        "credd handed out a token the index refused"
    );
}
