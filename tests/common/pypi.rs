//! A real Python package index on 127.0.0.1 (pypiserver, with Basic auth from an htpasswd file
//! and no fallback to PyPI), several of them on one host:port ([`IndexFront`]), and the real
//! Poetry, uv, twine and pip, from the virtual environments that `scripts/install-test-deps`
//! makes in `target/`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{Output, run_with_limit};

/// The Poetry release the tests pin (scripts/install-test-deps installs it).
pub const POETRY_VERSION: &str = "2.5.1";
/// The uv release the tests pin (in target/test-venv).
pub const UV_VERSION: &str = "0.13.9";
/// The twine release the tests pin (in target/test-venv).
pub const TWINE_VERSION: &str = "7.0.0";
/// The current pip major's release the tests pin (target/test-pip-26).
pub const PIP_CURRENT: &str = "26.3";
/// The previous pip major's release the tests pin (target/test-pip-25).
pub const PIP_PREVIOUS: &str = "25.3";
/// The keyring package in each pip's venv, for `--keyring-provider import`.
pub const KEYRING_VERSION: &str = "25.7.0";

/// `target/test-venv/bin/NAME`; fails the test, naming the fix, when it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps (it installs Poetry {POETRY_VERSION} and \
         pypiserver into target/test-venv)",
        path.display()
    );
    path
}

/// `target/test-pip-MAJOR/bin/NAME` for pip `version` (one of [`PIP_CURRENT`], [`PIP_PREVIOUS`]);
/// fails the test, naming the fix, when it is missing.
pub fn pip_bin(version: &str, name: &str) -> PathBuf {
    let major = version.split('.').next().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/test-pip-{major}/bin"))
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps (it installs pip {version} and keyring \
         {KEYRING_VERSION} there)",
        path.display()
    );
    path
}

/// A running pypiserver; killed when dropped.
pub struct PypiServer {
    child: Child,
    port: u16,
    /// The directory it serves packages from (uploads land there too).
    pub packages: PathBuf,
}

impl PypiServer {
    /// Starts pypiserver in `dir` on a free loopback port, requiring Basic auth of one of
    /// `users` (name, password) for downloads, listings and uploads.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> PypiServer {
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages).unwrap();
        let htpasswd = dir.join("htpasswd");
        write_htpasswd(&htpasswd, users);
        let log = dir.join("pypiserver.log");
        for _ in 0..5 {
            let port = free_port();
            std::fs::File::create(&log).unwrap();
            let append = || std::fs::File::options().append(true).open(&log).unwrap();
            let mut child = Command::new(venv_bin("pypi-server"))
                .args(["run", "-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-a", "download,list,update", "-P"])
                .arg(&htpasswd)
                .arg("--disable-fallback")
                .arg(&packages)
                .stdin(Stdio::null())
                .stdout(append())
                .stderr(append())
                .spawn()
                .expect("start pypi-server");
            if wait_healthy(&mut child, port) {
                return PypiServer {
                    child,
                    port,
                    packages,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "pypi-server did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:PORT/`: where packages are uploaded.
    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `http://127.0.0.1:PORT/simple/`: the index.
    pub fn simple_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// Puts built distribution files into the index directly.
    pub fn add(&self, files: &[(String, Vec<u8>)]) {
        for (name, bytes) in files {
            std::fs::write(self.packages.join(name), bytes).unwrap();
        }
    }

    /// The names of the files in the index, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.packages)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The status of `GET path` with Basic auth `user:password` (base64 by hand: the test has
    /// no base64 crate).
    pub fn status(&self, path: &str, basic: Option<(&str, &str)>) -> u16 {
        let auth = basic
            .map(|(u, p)| format!("Authorization: Basic {}\r\n", base64(&format!("{u}:{p}"))))
            .unwrap_or_default();
        http_status(self.port, path, &auth).unwrap_or(0)
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an Apache htpasswd file with passlib, reading the passwords from stdin.
fn write_htpasswd(path: &Path, users: &[(&str, &str)]) {
    const SCRIPT: &str = "import sys\nfrom passlib.apache import HtpasswdFile\n\
        h = HtpasswdFile(sys.argv[1], new=True)\n\
        for line in sys.stdin.read().splitlines():\n    user, _, pw = line.partition(':')\n    \
        h.set_password(user, pw)\nh.save()\n";
    let mut command = Command::new(venv_bin("python"));
    command.arg("-c").arg(SCRIPT).arg(path);
    let input: String = users.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
    let out = run_with_limit(command, &input);
    assert!(out.status.success(), "htpasswd: {out:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the server answers its health check; false when it exited or took over 20 s.
fn wait_healthy(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if http_status(port, "/health", "") == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn http_status(port: u16, path: &str, headers: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.get(9..12)?.parse().ok()
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes a tiny library project `name` `version` (module `name` with `_` for `-`, holding
/// `ANSWER = 42`) into `dir`.
pub fn library_project(dir: &Path, name: &str, version: &str) {
    let module = name.replace('-', "_");
    std::fs::create_dir_all(dir.join(&module)).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[project]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"test\"\n\
             requires-python = \">=3.9\"\n\n[tool.poetry]\npackages = [{{ include = \"{module}\" }}]\n\n\
             [build-system]\nrequires = [\"poetry-core>=2.0\"]\n\
             build-backend = \"poetry.core.masonry.api\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(&module).join("__init__.py"), "ANSWER = 42\n").unwrap();
}

/// `corp-tiny` 0.1.0, built once per test run by the real `poetry build`: (file name, bytes).
pub fn tiny_package() -> &'static [(String, Vec<u8>)] {
    built_package("corp-tiny")
}

/// Built distribution files: (file name, bytes).
type Dists = &'static [(String, Vec<u8>)];

/// Library project `name` 0.1.0 (see [`library_project`]), built once per test run by the real
/// `poetry build`: its wheel and sdist, (file name, bytes).
pub fn built_package(name: &str) -> Dists {
    static BUILT: OnceLock<Mutex<HashMap<String, Dists>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(files) = built.get(name) {
        return files;
    }
    let files: Dists = Vec::leak(poetry_build(name));
    built.insert(name.to_owned(), files);
    files
}

fn poetry_build(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    library_project(dir.path(), name, "0.1.0");
    let mut command = Command::new(venv_bin("poetry"));
    command
        .arg("build")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("POETRY_CONFIG_DIR", dir.path().join("config"))
        .env("POETRY_CACHE_DIR", dir.path().join("cache"))
        .env("POETRY_DATA_DIR", dir.path().join("data"))
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
    let out: Output = run_with_limit(command, "");
    assert!(out.status.success(), "poetry build: {out:?}");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path().join("dist"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "expected a wheel and an sdist");
    files
}

/// Several auth-required indexes on one loopback host:port, each a real pypiserver of its own
/// under `/NAME/`, behind the small reverse proxy of `tests/fixtures/index_front.py`. The proxy
/// answers rejected credentials with 401 (pypiserver says 403, after which pip never asks a
/// keyring) and logs which user each request carried. It and its servers stop when this is
/// dropped, or when the test process ends (it watches its stdin).
pub struct IndexFront {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// One request the front passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontRequest {
    /// `GET`, `HEAD`, `POST`.
    pub method: String,
    /// The request path, e.g. `/team-a/simple/corp-a/`.
    pub path: String,
    /// The Basic auth user it carried, `-` without Authorization.
    pub user: String,
    /// The status the front answered.
    pub status: u16,
}

impl IndexFront {
    /// Starts one pypiserver per `(name, users)` in `indexes`, each requiring Basic auth of one of
    /// its users (name, password) for downloads, listings and uploads, and the front before them.
    pub fn start(dir: &Path, indexes: &[(&str, &[(&str, &str)])]) -> IndexFront {
        std::fs::create_dir_all(dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index_front.py");
        let mut child = Command::new(venv_bin("python"))
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("front.err")).unwrap())
            .spawn()
            .expect("start the index front");
        let config = serde_json::json!({
            "dir": dir,
            "pypi_server": venv_bin("pypi-server"),
            "indexes": indexes.iter().map(|(name, users)| (name.to_string(), users))
                .collect::<HashMap<_, _>>(),
        });
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{config}").unwrap();
        stdin.flush().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            panic!(
                "the index front did not start: {}",
                std::fs::read_to_string(dir.join("front.err")).unwrap_or_default()
            );
        };
        IndexFront {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/NAME/`: the index's root, where packages are uploaded.
    pub fn base(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}/", self.port)
    }

    /// `http://127.0.0.1:PORT/NAME/simple/`: the index.
    pub fn simple_url(&self, name: &str) -> String {
        format!("{}simple/", self.base(name))
    }

    /// `http://USER@127.0.0.1:PORT/NAME/simple/`: the index with a username and no password.
    pub fn simple_url_as(&self, name: &str, user: &str) -> String {
        format!("http://{user}@127.0.0.1:{}/{name}/simple/", self.port)
    }

    /// Puts built distribution files into index `name` directly.
    pub fn add(&self, name: &str, files: &[(String, Vec<u8>)]) {
        for (file, bytes) in files {
            std::fs::write(self.dir.join(name).join("packages").join(file), bytes).unwrap();
        }
    }

    /// The names of the files in index `name`, sorted.
    pub fn files(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join(name).join("packages"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<FrontRequest> {
        std::fs::read_to_string(self.dir.join("front.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                Some(FrontRequest {
                    method: fields.next()?.to_owned(),
                    path: fields.next()?.to_owned(),
                    user: fields.next()?.to_owned(),
                    status: fields.next()?.parse().ok()?,
                })
            })
            .collect()
    }
}

impl Drop for IndexFront {
    fn drop(&mut self) {
        // Closing its stdin makes the front stop its servers and exit.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
