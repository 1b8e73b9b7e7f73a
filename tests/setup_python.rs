//! `credd setup pip` and `credd setup uv`: the `keyring` link to credd in the bin directory, and
//! the keyring provider in pip.conf and uv.toml, read back by the real pip and uv; `credd setup
//! python-keyring`: keyring's config file, read back by the real keyring package.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pypi::{UV_VERSION, venv_bin};
use common::{Output, TestEnv, run_with_limit};

const CREDD: &str = env!("CARGO_BIN_EXE_credd");

/// A TestEnv with a bin directory, and the paths pip and uv read.
struct Setup {
    env: TestEnv,
    bin: PathBuf,
    pip_conf: PathBuf,
    uv_toml: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let env = TestEnv::new();
        let root = env.dir.path();
        Self {
            bin: root.join("bin"),
            pip_conf: root.join("config/pip/pip.conf"),
            uv_toml: root.join("config/uv/uv.toml"),
            env,
        }
    }

    fn root(&self) -> &Path {
        self.env.dir.path()
    }

    /// PATH with the bin directory first, then the test's own PATH.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `credd setup TOOL --bin-dir BIN EXTRA…` with `path` as PATH.
    fn run_with_path(&self, tool: &str, extra: &[&str], path: &str) -> Output {
        let mut command = self.env.command();
        command
            .args(["setup", tool, "--bin-dir", self.bin.to_str().unwrap()])
            .args(extra)
            .env("PATH", path);
        run_with_limit(command, "")
    }

    fn run(&self, tool: &str, extra: &[&str]) -> Output {
        self.run_with_path(tool, extra, &self.path())
    }

    /// A command of the Python tools with this environment's HOME and XDG dirs only.
    fn tool(&self, program: &Path) -> Command {
        let root = self.root();
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_CACHE_HOME", root.join("cache"))
            .env("UV_CACHE_DIR", root.join("cache/uv"))
            .current_dir(root.join("home"));
        command
    }

    /// `pip config list`, as the real pip resolves it here.
    fn pip_config(&self) -> String {
        let mut pip = self.tool(&venv_bin("pip"));
        pip.args(["config", "list", "--disable-pip-version-check"]);
        let out = run_with_limit(pip, "");
        assert!(out.status.success(), "pip config list: {out:?}");
        out.stdout
    }

    /// The keyring provider the real uv resolves for `uv pip install`.
    fn uv_keyring_provider(&self) -> String {
        let uv = venv_bin("uv");
        let version = Command::new(&uv).arg("--version").output().unwrap();
        assert!(
            String::from_utf8_lossy(&version.stdout).starts_with(&format!("uv {UV_VERSION} ")),
            "uv {UV_VERSION} is needed: run scripts/install-test-deps"
        );
        let mut command = self.tool(&uv);
        command.args(["pip", "install", "--show-settings", "anything"]);
        let out = run_with_limit(command, "");
        assert!(out.status.success(), "uv --show-settings: {out:?}");
        let line = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("keyring_provider:"))
            .unwrap_or_else(|| panic!("no keyring_provider in {}", out.stdout));
        line.trim().to_owned()
    }

    /// Asserts that BIN/keyring is a link that resolves to this credd binary.
    fn assert_linked(&self) {
        let link = self.bin.join("keyring");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(CREDD).unwrap()
        );
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "credd setup failed: {out:?}");
}

const PIP_CONF: &str = "# my pip\n[global]\n; the company index\nindex-url = https://pkgs.example/simple/\n\
                        timeout = 30\n\n# for installs\n[install]\nno-compile = true\n";

#[test]
fn pip_setup_links_keyring_and_pip_reads_the_provider() {
    let setup = Setup::new();
    write(&setup.pip_conf, PIP_CONF);
    assert!(!setup.pip_config().contains("keyring-provider"));

    let out = setup.run("pip", &[]);
    assert_ok(&out);
    setup.assert_linked();
    assert_eq!(
        std::fs::read_to_string(&setup.pip_conf).unwrap(),
        "# my pip\n[global]\n; the company index\nindex-url = https://pkgs.example/simple/\n\
         timeout = 30\nkeyring-provider = subprocess\n\n# for installs\n[install]\nno-compile = true\n"
    );
    assert!(
        setup
            .pip_config()
            .lines()
            .any(|l| l == "global.keyring-provider='subprocess'"),
        "{}",
        setup.pip_config()
    );
    assert!(
        out.stderr.contains("is on PATH before any other keyring"),
        "{out:?}"
    );

    let before = std::fs::read(&setup.pip_conf).unwrap();
    let again = setup.run("pip", &[]);
    assert_ok(&again);
    assert!(again.stderr.contains("nothing to change"), "{again:?}");
    assert!(again.stderr.contains("already links to credd"), "{again:?}");
    assert_eq!(std::fs::read(&setup.pip_conf).unwrap(), before);
    setup.assert_linked();
}

#[test]
fn pip_setup_replaces_an_existing_provider_in_the_file_pip_config_file_names() {
    let setup = Setup::new();
    let custom = setup.root().join("custom.conf");
    write(&custom, "[global]\nkeyring_provider = import\n# end\n");
    let mut command = setup.env.command();
    command
        .args(["setup", "pip", "--bin-dir", setup.bin.to_str().unwrap()])
        .env("PIP_CONFIG_FILE", &custom)
        .env("PATH", setup.path());
    let out = run_with_limit(command, "");
    assert_ok(&out);
    assert!(out.stderr.contains("PIP_CONFIG_FILE"), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&custom).unwrap(),
        "[global]\nkeyring_provider = subprocess\n# end\n"
    );
    assert!(!setup.pip_conf.exists());
    let mut pip = setup.tool(&venv_bin("pip"));
    pip.args(["config", "list", "--disable-pip-version-check"])
        .env("PIP_CONFIG_FILE", &custom);
    let listed = run_with_limit(pip, "");
    assert!(
        listed
            .stdout
            .contains("global.keyring-provider='subprocess'"),
        "{listed:?}"
    );
}

const UV_TOML: &str = "# my uv\nnative-tls = true  # the proxy\n\n[[index]]\nname = \"corp\"\n\
                       url = \"https://me@pkgs.example/simple/\"\n";

#[test]
fn uv_setup_links_keyring_and_uv_reads_the_provider() {
    let setup = Setup::new();
    write(&setup.uv_toml, UV_TOML);
    assert_eq!(setup.uv_keyring_provider(), "keyring_provider: Disabled,");

    let out = setup.run("uv", &[]);
    assert_ok(&out);
    setup.assert_linked();
    assert_eq!(
        std::fs::read_to_string(&setup.uv_toml).unwrap(),
        "# my uv\nnative-tls = true  # the proxy\nkeyring-provider = \"subprocess\"\n\n[[index]]\n\
         name = \"corp\"\nurl = \"https://me@pkgs.example/simple/\"\n"
    );
    assert_eq!(setup.uv_keyring_provider(), "keyring_provider: Subprocess,");
    // What uv needs to ask at all.
    assert!(out.stderr.contains("https://USER@host/simple/"), "{out:?}");
    assert!(out.stderr.contains("authenticate = \"always\""), "{out:?}");

    let before = std::fs::read(&setup.uv_toml).unwrap();
    let again = setup.run("uv", &[]);
    assert_ok(&again);
    assert!(again.stderr.contains("nothing to change"), "{again:?}");
    assert_eq!(std::fs::read(&setup.uv_toml).unwrap(), before);
}

#[test]
fn a_new_uv_toml_gets_the_provider_alone() {
    let setup = Setup::new();
    assert_ok(&setup.run("uv", &[]));
    assert_eq!(
        std::fs::read_to_string(&setup.uv_toml).unwrap(),
        "keyring-provider = \"subprocess\"\n"
    );
    assert_eq!(setup.uv_keyring_provider(), "keyring_provider: Subprocess,");
}

#[test]
fn dry_run_prints_the_changes_and_writes_nothing() {
    let setup = Setup::new();
    write(&setup.pip_conf, PIP_CONF);
    let out = setup.run("pip", &["--dry-run"]);
    assert_ok(&out);
    let shown = setup.pip_conf.display();
    assert!(
        out.stdout.contains(&format!(
            "link {} -> {CREDD}\n--- {shown}\n+++ {shown}\n",
            setup.bin.join("keyring").display()
        )),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("@@ -5,0 +6 @@\n+keyring-provider = subprocess\n"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&setup.pip_conf).unwrap(), PIP_CONF);
    assert!(!setup.bin.exists());

    let out = setup.run("uv", &["--dry-run"]);
    assert_ok(&out);
    assert!(
        out.stdout.contains("+keyring-provider = \"subprocess\"\n"),
        "{out:?}"
    );
    assert!(!setup.uv_toml.exists());
    assert!(!setup.bin.exists());
}

#[test]
fn a_foreign_keyring_is_kept_and_nothing_is_written() {
    let setup = Setup::new();
    let script = "#!/usr/bin/python3\nfrom keyring.cli import main\nmain()\n";
    write(&setup.bin.join("keyring"), script);
    write(&setup.pip_conf, PIP_CONF);
    for tool in ["pip", "uv"] {
        let out = setup.run(tool, &[]);
        assert_eq!(out.code(), 1, "{out:?}");
        assert!(
            out.stderr.contains("exists and is not a link to credd")
                && out
                    .stderr
                    .contains(&format!("'credd setup {tool} --bin-dir DIR'")),
            "{out:?}"
        );
        assert_eq!(
            std::fs::read_to_string(setup.bin.join("keyring")).unwrap(),
            script
        );
    }
    assert_eq!(std::fs::read_to_string(&setup.pip_conf).unwrap(), PIP_CONF);
    assert!(!setup.uv_toml.exists());

    // A link to something else than credd is foreign too.
    std::fs::remove_file(setup.bin.join("keyring")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", setup.bin.join("keyring")).unwrap();
    let out = setup.run("pip", &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(
        std::fs::read_link(setup.bin.join("keyring")).unwrap(),
        Path::new("/usr/bin/python3")
    );
}

#[test]
fn a_link_to_another_credd_is_pointed_at_this_one() {
    let setup = Setup::new();
    std::fs::create_dir_all(&setup.bin).unwrap();
    let old = setup.root().join("old/credd");
    std::os::unix::fs::symlink(&old, setup.bin.join("keyring")).unwrap();
    let out = setup.run("uv", &[]);
    assert_ok(&out);
    assert!(
        out.stderr
            .contains(&format!("(it pointed to {})", old.display())),
        "{out:?}"
    );
    setup.assert_linked();
}

#[test]
fn another_keyring_first_on_path_is_named() {
    let setup = Setup::new();
    let other = setup.root().join("venv/bin");
    write(&other.join("keyring"), "#!/bin/sh\n");
    std::fs::set_permissions(
        other.join("keyring"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", other.display(), setup.path());
    let out = setup.run_with_path("pip", &[], &path);
    assert_ok(&out);
    assert!(
        out.stderr.contains(&format!(
            "{} comes first on PATH",
            other.join("keyring").display()
        )) && out
            .stderr
            .contains(&format!("export PATH=\"{}:$PATH\"", setup.bin.display())),
        "{out:?}"
    );
}

#[test]
fn python_keyring_setup_makes_credds_backend_keyrings_default_keeping_the_file() {
    let s = Setup::new();
    let config = s.root().join("config/python_keyring/keyringrc.cfg");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "# my settings\n[backend]\ndefault-keyring = keyring.backends.fail.Keyring\n",
    )
    .unwrap();
    let dry = s.env.cli(&["setup", "python-keyring", "--dry-run"]);
    assert!(
        dry.ok()
            .contains("+default-keyring = credd_keyring.CreddKeyring"),
        "{dry:?}"
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("fail.Keyring"),
        "dry run wrote"
    );

    s.env.cli(&["setup", "python-keyring"]).ok();
    let module_dir = s.root().join("data/credd/python");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!(
            "# my settings\n[backend]\ndefault-keyring = credd_keyring.CreddKeyring\n\
             keyring-path = {}\n",
            module_dir.display()
        )
    );
    assert!(module_dir.join("credd_keyring.py").is_file());
    let again = s.env.cli(&["setup", "python-keyring"]);
    assert!(again.stderr.contains("nothing to change"), "{again:?}");

    // The real keyring package, with no variable naming a backend, loads credd's.
    let mut python = s.tool(&venv_bin("python"));
    python.args([
        "-c",
        "import keyring; print(type(keyring.get_keyring()).__name__)",
    ]);
    python.env("XDG_DATA_HOME", s.root().join("data"));
    python.env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_with_limit(python, "");
    assert_eq!(out.ok(), "CreddKeyring\n", "{out:?}");
}

/// `--dry-run` shows the changed lines only: the options beside `[global]`'s new line may hold
/// an index URL's password.
#[test]
fn a_dry_run_never_prints_the_lines_around_the_change() {
    let setup = Setup::new();
    write(
        &setup.pip_conf,
        "[global]\nindex-url = https://alice:hunter2-dry@pkgs.example/simple/\n",
    );
    let out = setup.run("pip", &["--dry-run"]);
    assert_ok(&out);
    assert!(
        out.stdout.contains("+keyring-provider = subprocess\n"),
        "{out:?}"
    );
    assert!(!format!("{out:?}").contains("hunter2"), "{out:?}");
}
