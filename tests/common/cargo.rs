//! An isolated real `cargo` for the tests that run it against a sparse registry.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::registry::Registry;
use super::{Output, TestEnv, run_with_limit};

/// Where rustup keeps its toolchains: HOME is changed for cargo, so rustup's proxy must be told.
fn rustup_home() -> OsString {
    if let Some(home) = std::env::var_os("RUSTUP_HOME") {
        return home;
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".rustup").into_os_string()
}

/// An isolated Cargo: its own CARGO_HOME and target dir inside the test's temp dir, and otherwise
/// only the variables of [`TestEnv::command`].
pub struct Cargo {
    /// The test's temp dir, where projects go.
    pub root: PathBuf,
    /// Its `CARGO_HOME`.
    pub home: PathBuf,
    /// Its `CARGO_TARGET_DIR`.
    pub target: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Cargo {
    /// A Cargo for `env`.
    pub fn new(env: &TestEnv) -> Cargo {
        let root = env.dir.path().to_path_buf();
        let home = root.join("cargo-home");
        std::fs::create_dir_all(&home).unwrap();
        let template = env.command();
        let env = template
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        Cargo {
            target: root.join("target"),
            root,
            home,
            env,
        }
    }

    /// Writes `$CARGO_HOME/config.toml`.
    pub fn config(&self, toml: &str) {
        std::fs::write(self.home.join("config.toml"), toml).unwrap();
    }

    /// `cargo ARGS` in `dir`.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("cargo");
        command.env_clear();
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .env("CARGO_HOME", &self.home)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("RUSTUP_HOME", rustup_home())
            .env("CARGO_HTTP_TIMEOUT", "10")
            .env("CARGO_NET_RETRY", "0")
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("CARGO_INCREMENTAL", "0")
            .args(args)
            .current_dir(dir);
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            command.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        command
    }

    /// Runs `cargo ARGS` in `dir`, failing the test if it hangs.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        run_with_limit(self.command(dir, args), "")
    }

    /// A library crate `name` `version` with an empty `src/lib.rs`; returns its directory.
    pub fn lib_project(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.root.join(format!("{name}-{version}"));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 description = \"test crate\"\nlicense = \"MIT\"\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
        dir
    }

    /// A library `app` depending on `deps` (lines of a `[dependencies]` table).
    pub fn app_project(&self, deps: &str) -> PathBuf {
        let dir = self.root.join("app");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
                 publish = false\n\n[dependencies]\n{deps}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        dir
    }

    /// Packages `name` `version` with `cargo package` (no network) and puts it into `registry`
    /// directly, as a publish would.
    pub fn seed(&self, registry: &Registry, name: &str, version: &str) {
        let dir = self.lib_project(name, version);
        let out = self.run(&dir, &["package", "--no-verify", "--allow-dirty"]);
        assert!(out.status.success(), "cargo package failed: {out:?}");
        let file = self.target.join(format!("package/{name}-{version}.crate"));
        let bytes = std::fs::read(&file).unwrap();
        registry.insert_crate(name, version, Vec::new(), bytes);
    }
}
