//! The agent's few HTTPS calls (token endpoints, teams' OpenBao servers): blocking, bounded in
//! time and size.
//!
//! Every request has a deadline for the whole exchange, trusts the system's CA store plus an
//! optional PEM file (company proxies that re-sign TLS, tests), follows no redirect (a token
//! request carries credentials, and a redirect would send them elsewhere), and reads at most
//! [`BODY_LIMIT`] bytes of the answer into a buffer wiped when dropped. `https://` requests go
//! through the proxy named by `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` in the agent's environment
//! unless `NO_PROXY` exempts the host; plain `http://` requests (local addresses only) never
//! do, since a proxy would carry them in cleartext off the machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use zeroize::Zeroizing;

/// The most an answer may hold: token answers are a few kilobytes, and so is an OpenBao secret
/// or a listing of some thousand names.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `https://` (plain HTTP is allowed to loopback and link-local addresses
    /// only).
    #[error("{0} is not an https:// URL; token requests carry credentials and need TLS")]
    NotHttps(String),
    /// The extra CA file could not be used.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection, a TLS failure, or an unreadable answer.
    #[error("{0}")]
    Unreachable(String),
    /// The deadline passed before the answer was complete.
    #[error("no answer within the deadline")]
    Timeout,
}

/// A complete answer. The body is wiped when dropped: it holds the token.
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`BODY_LIMIT`] bytes.
    pub body: Zeroizing<Vec<u8>>,
}

/// A client for requests that must be done by one deadline.
pub struct Client {
    agent: ureq::Agent,
    deadline: Instant,
}

impl Client {
    /// A client trusting the system's CAs and those in `ca_file`, giving up at `deadline`.
    pub fn new(ca_file: Option<&Path>, deadline: Instant) -> Result<Client, HttpError> {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&trusted_roots(ca_file)?))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("credd/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: config.into(),
            deadline,
        })
    }

    /// POSTs `body` to `url` with `headers` (`Content-Type` among them when there is a body).
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let plain = plain_http(url)?;
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut config = request.config().timeout_global(Some(self.remaining()?));
        if plain {
            config = config.proxy(None);
        }
        let answer = config.build().send(body);
        Self::finish(answer)
    }

    /// GETs `url` with `headers`.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        let plain = plain_http(url)?;
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut config = request.config().timeout_global(Some(self.remaining()?));
        if plain {
            config = config.proxy(None);
        }
        let answer = config.build().call();
        Self::finish(answer)
    }

    fn remaining(&self) -> Result<std::time::Duration, HttpError> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(HttpError::Timeout),
        }
    }

    /// Reads the whole answer, up to the limit.
    fn finish(
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, HttpError> {
        let mut answer = answer.map_err(from_ureq)?;
        let status = answer.status().as_u16();
        // Sized once, so that the token is never left behind in a smaller, reallocated buffer.
        let mut body = Zeroizing::new(Vec::with_capacity(BODY_LIMIT + 1));
        answer
            .body_mut()
            .as_reader()
            .take(BODY_LIMIT as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| from_ureq(e.into()))?;
        if body.len() > BODY_LIMIT {
            return Err(HttpError::Unreachable(format!(
                "the answer is larger than {BODY_LIMIT} bytes, more than a token or a secret holds"
            )));
        }
        Ok(Response { status, body })
    }
}

/// True for plain HTTP, which is allowed only to loopback, where nothing crosses a network, and
/// to link-local addresses, where cloud metadata servers hand out workload identity tokens over
/// plain HTTP (169.254.169.254) and no router forwards; false for HTTPS; an error otherwise.
fn plain_http(url: &str) -> Result<bool, HttpError> {
    let refused = || HttpError::NotHttps(endpoint_name(url));
    let parsed = url::Url::parse(url).map_err(|_| refused())?;
    let local = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unicast_link_local(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(false),
        "http" if local => Ok(true),
        _ => Err(refused()),
    }
}

/// A URL as errors name it: scheme, host and path, without a query or user info, which may
/// hold credentials.
pub fn endpoint_name(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "a token endpoint whose URL does not parse".into(),
    }
}

/// The system's CA certificates and those in `ca_file`.
fn trusted_roots(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>, HttpError> {
    // Unreadable files in the system store are skipped, as every TLS client does; what matters
    // is whether the server's issuer is among the rest, which the handshake reports.
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect();
    if let Some(path) = ca_file {
        roots.extend(read_ca_file(path)?);
    }
    Ok(roots)
}

fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, HttpError> {
    let fail = |reason: String| HttpError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| fail(e.to_string()))? {
            PemItem::Certificate(cert) => certs.push(cert),
            _ => return Err(fail("it holds something other than certificates".into())),
        }
    }
    if certs.is_empty() {
        return Err(fail("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// Says what went wrong in words that point at the fix.
fn from_ureq(error: ureq::Error) -> HttpError {
    match error {
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout,
        ureq::Error::HostNotFound => {
            HttpError::Unreachable("its host name does not resolve".into())
        }
        ureq::Error::Rustls(e) => tls_error(&e),
        // The handshake runs inside the connection's reads, which carry rustls's error.
        ureq::Error::Io(e) => match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => tls_error(tls),
            None => HttpError::Unreachable(format!("cannot connect: {e}")),
        },
        e => HttpError::Unreachable(e.to_string()),
    }
}

fn tls_error(error: &rustls::Error) -> HttpError {
    match error {
        rustls::Error::InvalidCertificate(why) => HttpError::Unreachable(format!(
            "its TLS certificate is not trusted ({why:?}); if a company proxy or private CA \
             signs it, add that CA's PEM certificate as the agent's extra CA file"
        )),
        other => HttpError::Unreachable(format!("TLS failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_and_link_local() {
        for ok in [
            "https://example.com/token",
            "http://127.0.0.1:8080/token",
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "http://[fe80::1]/token",
            "http://[::1]/token",
            "http://localhost/token",
        ] {
            assert_eq!(plain_http(ok).ok(), Some(ok.starts_with("http:")), "{ok}");
        }
        for bad in [
            "http://example.com/token",
            "http://127.0.0.1.example.com/token",
            "http://10.0.0.1/token",
            "ftp://127.0.0.1/token",
            "token",
        ] {
            assert!(
                matches!(plain_http(bad), Err(HttpError::NotHttps(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_refused_url_is_named_without_its_query_or_user_info() {
        let error = plain_http("http://alice:s3cret@example.com/token?key=k3y").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("http://example.com/token is not"),
            "{message}"
        );
        let garbled = plain_http("not a url?key=k3y").unwrap_err().to_string();
        assert!(!garbled.contains("k3y"), "{garbled}");
    }
}
