//! A container registry on 127.0.0.1 speaking the registry token flow, as far as `docker login`
//! needs it: `/v2/` answers 401 with a Bearer challenge naming `/token`; `/token` grants a token
//! for Basic auth of a known user (GET), or for a password or refresh-token grant (POST), with a
//! refresh token when `offline_token=true` is asked for (docker then stores an identity token);
//! `/v2/` with a granted token answers 200. Every request is logged.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::SYSTEM_PYTHON;

const SERVER: &str = r#"
import base64, json, os, secrets, sys, threading, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

root, users, refresh = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "refresh"
tokens, refresh_tokens, lock = set(), {}, threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, what):
        with lock, open(os.path.join(root, "requests.log"), "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "what": what}) + "\n")

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def grant(self, user, query):
        token = secrets.token_hex(8)
        tokens.add(token)
        answer = {"token": token, "access_token": token, "expires_in": 300}
        if refresh and query.get("offline_token", [""])[0] == "true" or query.get("refresh_token"):
            r = query.get("refresh_token", [None])[0] or "refresh-" + secrets.token_hex(8)
            refresh_tokens[r] = user
            answer["refresh_token"] = r
        self.record("granted:" + user)
        self.send(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    def do_GET(self):
        path, _, query = self.path.partition("?")
        query = urllib.parse.parse_qs(query)
        auth = self.headers.get("Authorization", "")
        if path == "/token":
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                if users.get(user) == password:
                    return self.grant(user, query)
            self.record("token refused")
            return self.send(401)
        if path.startswith("/v2/"):
            if auth.startswith("Bearer ") and auth[7:] in tokens:
                self.record("v2 ok")
                return self.send(200, b"{}")
            self.record("v2 challenge")
            port = self.server.server_address[1]
            challenge = f'Bearer realm="http://127.0.0.1:{port}/token",service="credd-test"'
            return self.send(401, b"", [("WWW-Authenticate", challenge)])
        self.send(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = urllib.parse.parse_qs(body)
        grant = form.get("grant_type", [""])[0]
        if self.path.startswith("/token"):
            if grant == "password":
                user = form.get("username", [""])[0]
                if users.get(user) == form.get("password", [""])[0]:
                    return self.grant(user, {"offline_token": ["true"]} if refresh else {})
            if grant == "refresh_token":
                r = form.get("refresh_token", [""])[0]
                if r in refresh_tokens:
                    return self.grant(refresh_tokens[r], {"refresh_token": [r]})
        self.record("post refused:" + grant)
        self.send(401)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A running registry; killed when dropped.
pub struct DockerRegistry {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl DockerRegistry {
    /// Starts it in `dir` for `users` (name, password); with `refresh`, token grants asked for
    /// offline access carry a refresh token.
    pub fn start(dir: &Path, users: &[(&str, &str)], refresh: bool) -> DockerRegistry {
        std::fs::create_dir_all(dir).unwrap();
        let users: serde_json::Map<String, serde_json::Value> = users
            .iter()
            .map(|(u, p)| ((*u).to_owned(), serde_json::Value::from(*p)))
            .collect();
        let mut child = Command::new(SYSTEM_PYTHON)
            .arg("-c")
            .arg(SERVER)
            .arg(dir)
            .arg(serde_json::Value::Object(users).to_string())
            .arg(if refresh { "refresh" } else { "plain" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .expect("start the registry");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the registry did not start: {line:?}"));
        DockerRegistry {
            child,
            port,
            root: dir.to_owned(),
        }
    }

    /// `127.0.0.1:PORT`, the registry as docker names it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry did, one word per request (`granted:USER`, `v2 ok`, …).
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["what"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
