//! A package index that accepts only currently valid minted tokens: a small reverse proxy on
//! 127.0.0.1 before a [`super::pypi::PypiServer`], passing on only requests whose Basic auth is
//! the registry's username with a token its check accepts (a
//! [`super::tokenserver::TokenServer`]'s validator), with the server's own user in their place.
//! Anything else gets 401 with a Basic challenge, after which pip and Poetry ask their keyring.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64, Encoding};

use super::httpserver::{Reply, Request, Response, Server};
use super::registry::TokenCheck;

/// One request the front answered.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request path.
    pub path: String,
    /// The Basic auth password it carried (the token), `None` without one.
    pub token: Option<String>,
    /// The status the front answered.
    pub status: u16,
}

/// A running front; stopped when dropped.
pub struct TokenFront {
    seen: Arc<Mutex<Vec<Seen>>>,
    base: String,
    _server: Server,
}

impl TokenFront {
    /// Starts a front before the index at `backend` (`http://127.0.0.1:PORT/`, reached with
    /// `backend_user`'s Basic auth) accepting only `username` with a token `check` passes.
    pub fn start(
        backend: &str,
        backend_user: (&str, &str),
        username: &'static str,
        check: TokenCheck,
    ) -> TokenFront {
        let backend = backend
            .strip_prefix("http://")
            .and_then(|b| b.strip_suffix('/'))
            .expect("an http://HOST:PORT/ backend")
            .to_owned();
        let backend_auth = basic(backend_user.0, backend_user.1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let mut base = String::new();
        let server = Server::start(None, |addr| {
            base = format!("http://{addr}");
            Arc::new(move |request: &Request| {
                let token = token_of(request, username);
                let response = match &token {
                    Some(token) if check(token) => forward(&backend, &backend_auth, request),
                    _ => challenge(),
                };
                log.lock().unwrap().push(Seen {
                    path: request.path.clone(),
                    token,
                    status: response.status,
                });
                Reply::Send(response)
            })
        });
        TokenFront {
            seen,
            base,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT/simple/`: the index.
    pub fn simple_url(&self) -> String {
        format!("{}/simple/", self.base)
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("{}/", self.base)
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The distinct tokens of the requests passed on (answered other than 401), in order of
    /// first use.
    pub fn accepted_tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = Vec::new();
        for seen in self.seen() {
            if let Some(token) = seen.token.filter(|_| seen.status != 401)
                && !tokens.contains(&token)
            {
                tokens.push(token);
            }
        }
        tokens
    }
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        Base64::encode_string(format!("{user}:{password}").as_bytes())
    )
}

/// The password of the request's Basic auth when its user is `username`.
fn token_of(request: &Request, username: &str) -> Option<String> {
    let encoded = request.header("Authorization")?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(Base64::decode_vec(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == username).then(|| password.to_owned())
}

fn challenge() -> Response {
    let mut response = Response::text(401, "a valid access token is required\n");
    response
        .headers
        .push(("WWW-Authenticate", "Basic realm=\"index\"".to_owned()));
    response
}

/// The backend's answer to `request`, over HTTP/1.0 (no chunking, closed when done).
fn forward(backend: &str, auth: &str, request: &Request) -> Response {
    let answer = (|| -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(backend)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let host = request.header("Host").unwrap_or(backend);
        write!(
            stream,
            "{} {} HTTP/1.0\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n",
            request.method,
            request.path,
            request.body.len()
        )?;
        if let Some(kind) = request.header("Content-Type") {
            write!(stream, "Content-Type: {kind}\r\n")?;
        }
        stream.write_all(b"\r\n")?;
        stream.write_all(&request.body)?;
        let mut answer = Vec::new();
        BufReader::new(stream).read_to_end(&mut answer)?;
        Ok(answer)
    })();
    match answer.ok().and_then(|a| parse_response(&a)) {
        Some(response) => response,
        None => Response::text(502, "the index did not answer\n"),
    }
}

/// An HTTP/1.x response as the front passes it on: the status, the headers clients need, and
/// the body.
fn parse_response(answer: &[u8]) -> Option<Response> {
    const KEPT: [&str; 4] = ["Content-Type", "Location", "ETag", "Last-Modified"];
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut response = Response {
        status,
        headers: Vec::new(),
        body: answer[split + 4..].to_vec(),
    };
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if let Some(kept) = KEPT.iter().find(|k| k.eq_ignore_ascii_case(name.trim())) {
            response.headers.push((kept, value.trim().to_owned()));
        }
    }
    Some(response)
}

/// A Google token endpoint and an index that takes its tokens: a pypiserver holding `package`
/// behind a [`TokenFront`] accepting username `oauth2accesstoken` with a currently valid token
/// of the endpoint.
pub struct TokenIndex {
    /// The token endpoint (its CA under the directory given to [`TokenIndex::start`]).
    pub server: super::tokenserver::TokenServer,
    /// The front clients talk to.
    pub front: TokenFront,
    _pypi: super::pypi::PypiServer,
}

impl TokenIndex {
    /// The user the front logs in to pypiserver as.
    const BACKEND_USER: (&'static str, &'static str) = ("front", "front-pw-5b2c");

    /// Starts both in `dir`, the endpoint issuing tokens that live `expires_in` seconds.
    pub fn start(dir: &std::path::Path, expires_in: u64, package: &[(String, Vec<u8>)]) -> Self {
        let server = super::tokenserver::TokenServer::start(dir);
        server.set_expires_in(expires_in);
        let pypi = super::pypi::PypiServer::start(&dir.join("index"), &[Self::BACKEND_USER]);
        pypi.add(package);
        let front = TokenFront::start(
            &pypi.upload_url(),
            Self::BACKEND_USER,
            "oauth2accesstoken",
            server.validator(),
        );
        TokenIndex {
            server,
            front,
            _pypi: pypi,
        }
    }

    /// Waits until `token` is no longer valid at the endpoint: past its lifetime, so that a tool
    /// run from now on must be served a new one. Fails the test after a minute.
    pub fn wait_expired(&self, token: &str) {
        super::wait_until_within("the token expires", Duration::from_secs(60), || {
            !self.server.is_valid(token)
        });
    }
}
