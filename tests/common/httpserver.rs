//! The HTTP/1.1 plumbing of the suite's own servers (the sparse registry, the token endpoints):
//! one thread per connection, `Connection: close`, on 127.0.0.1, over plain TCP or TLS with a
//! test CA made at run time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// A request as received.
pub struct Request {
    /// `GET`, `POST`…
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies joined).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response to send.
pub struct Response {
    /// The status.
    pub status: u16,
    /// Headers besides `Content-Length` and `Connection`.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a `Content-Type`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    /// A plain-text response.
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status, "text/plain", text)
    }
}

/// What answers each request.
pub type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A handler's answer.
pub enum Reply {
    /// Send this.
    Send(Response),
    /// Say nothing for this long, then close.
    Hang(Duration),
}

/// A running server; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves on 127.0.0.1, over TLS when `tls` is given, the handler `make` returns for the
    /// address the server listens on.
    pub fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        make: impl FnOnce(SocketAddr) -> Arc<Handler>,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let handler = make(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (tls, handler) = (tls.clone(), Arc::clone(&handler));
                std::thread::spawn(move || connection(stream, tls, &*handler));
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Server {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn connection(stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    match tls {
        None => {
            let mut stream = BufReader::new(stream);
            exchange(&mut stream, handler);
            let _ = stream.get_mut().shutdown(Shutdown::Write);
        }
        Some(config) => {
            let Ok(session) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut stream = BufReader::new(rustls::StreamOwned::new(session, stream));
            exchange(&mut stream, handler);
            stream.get_mut().conn.send_close_notify();
            let _ = stream.get_mut().flush();
        }
    }
}

fn exchange<S: Read + Write>(stream: &mut BufReader<S>, handler: &Handler) {
    let Some(request) = read_request(stream) else {
        return;
    };
    match handler(&request) {
        Reply::Send(response) => write_response(stream.get_mut(), &response),
        Reply::Hang(how_long) => std::thread::sleep(how_long),
    }
}

/// Reads one request (answering `Expect: 100-continue`); `None` when the peer sent none.
pub fn read_request<S: Read + Write>(stream: &mut BufReader<S>) -> Option<Request> {
    let mut line = String::new();
    if stream.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("Expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let writer = stream.get_mut();
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
        writer.flush().ok()?;
    }
    if request
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            stream.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("Content-Length") {
        let length: usize = length.parse().ok()?;
        request.body = vec![0; length];
        stream.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

/// Writes `response` with its `Content-Length` and `Connection: close`.
pub fn write_response<W: Write>(writer: &mut W, response: &Response) {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&response.body);
    let _ = writer.flush();
}

/// A CA made for one test run, and a server certificate it signed for `localhost` and
/// 127.0.0.1.
pub struct TestCa {
    /// The CA certificate, PEM, for clients to trust.
    pub ca_file: PathBuf,
    /// The server side: the certificate and its key.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// Makes the CA and writes its certificate to `dir/test-ca.pem`.
    pub fn new(dir: &Path) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "credd test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_file = dir.join("test-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .unwrap();
        TestCa {
            ca_file,
            server: Arc::new(server),
        }
    }
}
