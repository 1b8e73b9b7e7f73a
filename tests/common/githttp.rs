//! git repositories served over HTTP on 127.0.0.1 behind Basic auth: the real `git
//! http-backend` (CGI) behind a small Python server, plus unauthenticated files under `/dl/`
//! (a git-index registry's `.crate` downloads). Every request is logged with the user it
//! authenticated as, for tests to check who fetched what.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{SYSTEM_PYTHON, run_with_limit};

/// The server: Basic auth against `users.json` (read on every request, so that a test can
/// change a password), `git http-backend` for `/git/…`, files for `/dl/…`.
const SERVER: &str = r#"
import base64, json, os, subprocess, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

root = sys.argv[1]
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, user, status):
        with lock, open(os.path.join(root, "requests.log"), "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "user": user,
                                "status": status, "auth": "Authorization" in self.headers}) + "\n")

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status, headers, body):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            return None
        with open(os.path.join(root, "users.json")) as f:
            users = json.load(f)
        return name if name in users and users[name] == password else None

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def serve(self):
        path, _, query = self.path.partition("?")
        body = self.body()
        if path.startswith("/dl/"):
            file = os.path.join(root, path.lstrip("/"))
            status = 200 if os.path.isfile(file) else 404
            self.record(None, status)
            return self.send(status, [], open(file, "rb").read() if status == 200 else b"")
        user = self.user()
        if user is None or not path.startswith("/git/"):
            self.record(None, 401)
            return self.send(401, [("WWW-Authenticate", 'Basic realm="credd-test"')], b"")
        env = {"PATH": os.environ["PATH"], "HOME": root, "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_PROJECT_ROOT": os.path.join(root, "git"), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path[len("/git"):], "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "REMOTE_USER": user,
               "REMOTE_ADDR": "127.0.0.1"}
        for header in ("Content-Encoding", "Git-Protocol"):
            if header in self.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True).stdout
        head, sep, rest = out.partition(b"\r\n\r\n")
        if not sep:
            head, sep, rest = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode().splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key, value.strip()))
        self.record(user, status)
        self.send(status, headers, rest)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A running server; killed when dropped.
pub struct GitServer {
    child: Child,
    port: u16,
    /// Its directory: `git/` the repositories, `dl/` the files, `requests.log`.
    pub root: PathBuf,
}

/// One logged request.
#[derive(Debug, serde::Deserialize)]
pub struct Logged {
    /// GET or POST.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The user it authenticated as.
    pub user: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Whether it carried an Authorization header.
    pub auth: bool,
}

impl GitServer {
    /// Starts the server in `dir` (created) with these users and passwords.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> GitServer {
        std::fs::create_dir_all(dir.join("git")).unwrap();
        std::fs::create_dir_all(dir.join("dl")).unwrap();
        let server = GitServer {
            child: spawn(dir),
            port: 0,
            root: dir.to_owned(),
        };
        server.set_users(users);
        server.with_port()
    }

    fn with_port(mut self) -> GitServer {
        let stdout = self.child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        self.port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the git server did not start: {line:?}"));
        self
    }

    /// Replaces the users and their passwords.
    pub fn set_users(&self, users: &[(&str, &str)]) {
        let map: serde_json::Map<String, serde_json::Value> = users
            .iter()
            .map(|(u, p)| ((*u).to_owned(), serde_json::Value::from(*p)))
            .collect();
        let tmp = self.root.join("users.json.tmp");
        std::fs::write(&tmp, serde_json::Value::Object(map).to_string()).unwrap();
        std::fs::rename(tmp, self.root.join("users.json")).unwrap();
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://HOST:PORT/git/NAME.git` for a host name that resolves to 127.0.0.1
    /// (`localhost`, or `127.0.0.1` itself).
    pub fn url(&self, host: &str, name: &str) -> String {
        format!("http://{host}:{}/git/{name}.git", self.port)
    }

    /// `http://localhost:PORT/dl`: where `/dl/…` files are served without auth.
    pub fn dl_url(&self) -> String {
        format!("http://localhost:{}/dl", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Logged> {
        std::fs::read_to_string(self.root.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Creates the bare repository `NAME.git` holding one commit of `files` (path, contents)
    /// on `main`, pushed from a work tree at `root/work-NAME`; returns the work tree.
    pub fn repository(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let bare = self.root.join(format!("git/{name}.git"));
        run_git(
            &self.root,
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        let work = self.root.join(format!("work-{name}"));
        run_git(
            &self.root,
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        self.commit(&work, files);
        run_git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        work
    }

    /// Commits `files` in the work tree `work` and pushes it to its bare repository `NAME.git`.
    pub fn update(&self, work: &Path, name: &str, files: &[(&str, &[u8])]) {
        self.commit(work, files);
        let bare = self.root.join(format!("git/{name}.git"));
        run_git(work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    }

    fn commit(&self, work: &Path, files: &[(&str, &[u8])]) {
        for (path, contents) in files {
            let file = work.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, contents).unwrap();
        }
        run_git(work, &["add", "-A"]);
        run_git(work, &["commit", "-q", "-m", "update"]);
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    Command::new(SYSTEM_PYTHON)
        .arg("-c")
        .arg(SERVER)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start the git server")
}

/// `git ARGS` in `dir` with no user or system config (the server's own repositories).
fn git(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    command
}

fn run_git(dir: &Path, args: &[&str]) {
    let out = run_with_limit(git(dir, args), "");
    assert!(out.status.success(), "git {args:?} failed: {out:?}");
}
