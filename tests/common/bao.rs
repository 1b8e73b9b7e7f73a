//! A real OpenBao dev server (`bao server -dev`, from target/test-bao) on a free loopback
//! port: in memory, unsealed, `secret/` mounted as KV v2, root token `root`. Killed on drop.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Output, run_with_limit};

/// The dev server's root token.
pub const ROOT: &str = "root";

/// A running (or stopped) dev server.
pub struct Bao {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    tls: bool,
}

/// `target/test-bao/bin/bao`; fails the test, naming the fix, when it is missing.
fn bin() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-bao/bin/bao");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps",
        path.display()
    );
    path
}

impl Bao {
    /// A dev server speaking plain HTTP.
    pub fn start() -> Bao {
        Self::launch(false)
    }

    /// A dev server speaking TLS with a certificate from a CA of its own ([`Self::ca_file`]).
    pub fn start_tls() -> Bao {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Bao {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        let mut bao = Bao {
            child: None,
            port,
            dir,
            tls,
        };
        bao.resume();
        bao
    }

    /// Starts the server again on the same port, empty (the dev server keeps nothing).
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let mut command = Command::new(bin());
        command
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={ROOT}"))
            .env_clear()
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if self.tls {
            command
                .arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", self.certs().display()));
        }
        self.child = Some(command.spawn().expect("spawn bao server"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.bao(&["status"], "").status.success() {
            assert!(
                Instant::now() < deadline,
                "the bao dev server did not start: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (its data is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// The CA certificate of a TLS server.
    pub fn ca_file(&self) -> PathBuf {
        self.certs().join("vault-ca.pem")
    }

    /// The server's address.
    pub fn address(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Runs the `bao` command line against the server as root.
    pub fn bao(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = Command::new(bin());
        command
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("BAO_ADDR", self.address())
            .env("BAO_TOKEN", ROOT);
        if self.tls {
            command.env("BAO_CACERT", self.ca_file());
        }
        run_with_limit(command, stdin)
    }

    /// `bao ARGS`, failing the test unless it succeeds; returns its stdout, trimmed.
    #[track_caller]
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.bao(args, stdin);
        assert!(out.status.success(), "bao {args:?}: {out:?}");
        out.stdout.trim().to_owned()
    }

    /// `bao kv put secret/PATH FIELD=VALUE…`.
    #[track_caller]
    pub fn put(&self, path: &str, fields: &[(&str, &str)]) {
        let mut args = vec!["kv".to_owned(), "put".to_owned(), format!("secret/{path}")];
        args.extend(fields.iter().map(|(k, v)| format!("{k}={v}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args, "");
    }

    /// A new token with `policies` (and `ttl`, e.g. `1h`).
    pub fn token(&self, policies: &[&str], ttl: &str) -> String {
        let mut args = vec!["token", "create", "-field=token", "-ttl", ttl];
        for policy in policies {
            args.extend(["-policy", policy]);
        }
        self.ok(&args, "")
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}
