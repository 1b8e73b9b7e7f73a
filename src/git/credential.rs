//! git's credential helper protocol (gitcredentials(7), git-credential(1)): what git and
//! libgit2 write to a helper, which services credd looks the credential up under, and what a
//! helper answers.
//!
//! The request is `key=value` lines ended by a blank line or the end of input; keys credd does
//! not use (`capability[]`, `wwwauth[]`, `state[]`, …) are ignored, as git requires. git sends
//! `protocol`, `host` (with the port when the URL has one), `path` only with
//! `credential.useHttpPath`, `username` when it knows one, and for `store` and `erase` the
//! `password`. libgit2 (Cargo's default git) sends the same keys without capabilities or a
//! blank line, drops a port that is the scheme's default, and sends no `host` at all for an IP
//! address.

use credd_protocol::Secret;
use zeroize::Zeroizing;

/// The username an entry without one answers with, as for Python's package indexes: git needs
/// some username to send with a token.
pub const TOKEN_USERNAME: &str = "__token__";

/// The note of an entry `store` adds (`credd setup git --store-new`): it marks the entry as one
/// credd took from git, which `erase` may remove.
pub const STORED_NOTE: &str = "stored from git (credd git-credential store)";

/// The note of an entry `credd import git` adds: also one credd took from git.
pub const IMPORTED_NOTE: &str = "imported from git's credentials file";

/// True when an entry with this note came from git (stored or imported), so that git's `erase`
/// may remove it; never an entry added by hand.
pub fn from_git(note: Option<&str>) -> bool {
    matches!(note, Some(STORED_NOTE | IMPORTED_NOTE))
}

/// Why a request could not be read. Never holds the input: a line may be a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The input is not UTF-8.
    #[error("git's request is not UTF-8 text")]
    NotUtf8,
    /// A line has no `=`.
    #[error("git's request has a line that is not key=value (line {0})")]
    NotKeyValue(usize),
}

/// One request from git, with the keys credd uses.
#[derive(Debug, Default)]
pub struct Request {
    /// `https`, `http`, …
    pub protocol: Option<String>,
    /// `host` or `host:port`.
    pub host: Option<String>,
    /// The repository's path without its leading slash, when git sends one.
    pub path: Option<String>,
    /// The username git knows (from the URL or `credential.username`).
    pub username: Option<String>,
    /// The password git used (`store`, `erase`).
    pub password: Option<Secret>,
    /// When the password stops working (`password_expiry_utc`, Unix seconds): another helper
    /// minted it, and git wants its helpers to keep it with the password.
    pub password_expiry: Option<u64>,
}

/// Reads git's request: lines up to the first blank one or the end, `\r\n` accepted; a later
/// value of a key replaces an earlier one, as in git.
///
/// # Errors
///
/// [`RequestError`] when the input is not UTF-8 or a line lacks `=`.
pub fn parse(input: &[u8]) -> Result<Request, RequestError> {
    let text = std::str::from_utf8(input).map_err(|_| RequestError::NotUtf8)?;
    let mut request = Request::default();
    for (number, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or(RequestError::NotKeyValue(number + 1))?;
        match key {
            // Straight into a Secret: no other copy of the password is made.
            "password" => request.password = Some(Secret::new(value)),
            "protocol" => request.protocol = Some(value.to_owned()),
            "host" => request.host = Some(value.to_owned()),
            "path" => request.path = Some(value.to_owned()),
            "username" => request.username = Some(value.to_owned()),
            // As git reads it: a number, else none.
            "password_expiry_utc" => request.password_expiry = value.parse().ok(),
            _ => {}
        }
    }
    // Empty values mean the key is unset, as `username=` does for git.
    for field in [
        &mut request.protocol,
        &mut request.host,
        &mut request.path,
        &mut request.username,
    ] {
        if field.as_deref() == Some("") {
            *field = None;
        }
    }
    Ok(request)
}

/// True when `input` holds a whole request already (a blank line), so that a reader need not
/// wait for the end of input.
pub fn is_complete(input: &[u8]) -> bool {
    input.starts_with(b"\n")
        || input.starts_with(b"\r\n")
        || contains(input, b"\n\n")
        || contains(input, b"\n\r\n")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where credd looks a request's credential up, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// `protocol://host/path` (`protocol://host/` without a path): the agent's URL rules.
    pub url: String,
    /// `host[:port]`: the agent's host rule, asked when the URL finds nothing.
    pub host: String,
    /// Whether git sent a path: then only an entry serving the bare host may answer by the host
    /// rule, not one for another path on it.
    pub has_path: bool,
}

impl Request {
    /// The services to look up, or None when git sent no protocol or host (libgit2 for an IP
    /// address; a `cert` request): nothing can be matched then.
    pub fn services(&self) -> Option<Services> {
        let protocol = self.protocol.as_deref()?;
        let host = self.host.as_deref()?;
        let path = self.path.as_deref().unwrap_or_default();
        Some(Services {
            url: format!("{protocol}://{host}/{}", path.trim_start_matches('/')),
            host: host.to_owned(),
            has_path: !path.is_empty(),
        })
    }

    /// True when an entry found by the host rule may answer this request: a URL entry only on
    /// the request's protocol (never an `https` password over `http`) and only when git sent no
    /// path; an entry of the bare `host[:port]` form on any path, but over plain `http` only when
    /// it names a port other than 443. A bare host is what docker and keyring tools store, for
    /// registries that speak https: its password must not go in the clear to a `http://` URL
    /// (say, a submodule's) on that host.
    pub fn host_rule_fits(&self, services: &Services, entry_url: &str) -> bool {
        let on = |scheme: &str| {
            self.protocol
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        };
        match crate::urlmatch::RegistryUrl::parse(entry_url) {
            Ok(url) => !services.has_path && on(url.scheme()),
            Err(_) => !on("http") || names_a_plain_port(entry_url),
        }
    }
}

/// True when the bare `host:port` entry names a port, and not https's 443.
fn names_a_plain_port(bare: &str) -> bool {
    bare.rsplit_once(':').is_some_and(|(_, port)| {
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port != "443"
    })
}

/// Why an answer cannot be written: git's format has no room for these bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    /// A newline or NUL in the username.
    #[error(
        "the entry's username holds a line break or NUL, which git's helper protocol cannot carry"
    )]
    Username,
    /// A newline or NUL in the secret.
    #[error(
        "the entry's secret holds a line break or NUL, which git's helper protocol cannot carry"
    )]
    Secret,
}

/// The answer to `get`: `username`, `password`, and `password_expiry_utc` when the entry
/// expires (git ≥ 2.40 drops an expired password; older git and libgit2 ignore the key).
///
/// # Errors
///
/// [`AnswerError`] when a value holds a line break or NUL.
pub fn answer(
    username: &str,
    secret: &Secret,
    expires: Option<u64>,
) -> Result<Zeroizing<Vec<u8>>, AnswerError> {
    let unfit = |s: &str| s.contains(['\n', '\r', '\0']);
    if unfit(username) {
        return Err(AnswerError::Username);
    }
    if unfit(secret.expose()) {
        return Err(AnswerError::Secret);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(64 + secret.expose().len()));
    out.extend_from_slice(b"username=");
    out.extend_from_slice(username.as_bytes());
    out.extend_from_slice(b"\npassword=");
    out.extend_from_slice(secret.expose().as_bytes());
    out.push(b'\n');
    if let Some(expires) = expires {
        out.extend_from_slice(format!("password_expiry_utc={expires}\n").as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What git 2.47 writes for `git fetch https://h:8080/git/index` (useHttpPath on).
    const GIT: &[u8] = b"capability[]=authtype\ncapability[]=state\nprotocol=https\n\
        host=h:8080\npath=git/index\nusername=alice\nwwwauth[]=Basic realm=\"x\"\n\n";

    #[test]
    fn reads_what_git_sends_ignoring_unknown_keys() {
        let request = parse(GIT).unwrap();
        assert_eq!(request.protocol.as_deref(), Some("https"));
        assert_eq!(request.host.as_deref(), Some("h:8080"));
        assert_eq!(request.path.as_deref(), Some("git/index"));
        assert_eq!(request.username.as_deref(), Some("alice"));
        assert!(request.password.is_none());
        assert!(is_complete(GIT));
        let services = request.services().unwrap();
        assert_eq!(services.url, "https://h:8080/git/index");
        assert_eq!(services.host, "h:8080");
        assert!(services.has_path);
    }

    #[test]
    fn reads_what_libgit2_sends_without_a_blank_line() {
        let input = b"protocol=https\nhost=example.com\nusername=bob\n";
        assert!(!is_complete(input));
        let request = parse(input).unwrap();
        let services = request.services().unwrap();
        assert_eq!(services.url, "https://example.com/");
        assert_eq!(services.host, "example.com");
        assert!(!services.has_path);
        // libgit2 for an IP address: no host, nothing to look up.
        assert!(parse(b"protocol=http\n").unwrap().services().is_none());
    }

    #[test]
    fn keeps_the_password_whole_and_stops_at_the_blank_line() {
        let request = parse(b"protocol=https\r\npassword=a=b c\r\n\r\nhost=late\n").unwrap();
        assert_eq!(request.password.unwrap().expose(), "a=b c");
        assert!(request.host.is_none());
        assert_eq!(request.protocol.as_deref(), Some("https"));
    }

    #[test]
    fn empty_values_are_unset_and_bad_lines_are_refused_without_their_text() {
        let request = parse(b"protocol=https\nhost=h\nusername=\n").unwrap();
        assert!(request.username.is_none());
        let error = parse(b"protocol=https\nhunter2\n").unwrap_err();
        assert_eq!(error, RequestError::NotKeyValue(2));
        assert!(!error.to_string().contains("hunter2"));
        assert_eq!(parse(b"\xff=1").unwrap_err(), RequestError::NotUtf8);
    }

    #[test]
    fn the_host_rule_answers_on_the_same_protocol_and_without_a_path_only() {
        let bare = parse(b"protocol=http\nhost=h:80\n").unwrap();
        let services = bare.services().unwrap();
        assert!(bare.host_rule_fits(&services, "h:80"));
        assert!(bare.host_rule_fits(&services, "http://h/other"));
        assert!(!bare.host_rule_fits(&services, "https://h/"));
        let with_path = parse(b"protocol=https\nhost=h\npath=repo\n").unwrap();
        let services = with_path.services().unwrap();
        assert!(with_path.host_rule_fits(&services, "h"));
        assert!(!with_path.host_rule_fits(&services, "https://h/other"));
    }

    #[test]
    fn a_bare_host_answers_plain_http_only_when_it_names_a_port_other_than_443() {
        let plain = parse(b"protocol=http\nhost=h\npath=repo\n").unwrap();
        let services = plain.services().unwrap();
        for refused in ["h", "h:443", "h:", "[::1]"] {
            assert!(!plain.host_rule_fits(&services, refused), "{refused}");
        }
        for fits in ["h:80", "h:8080", "[::1]:8080"] {
            assert!(plain.host_rule_fits(&services, fits), "{fits}");
        }
    }

    #[test]
    fn answers_in_git_format_and_refuses_line_breaks() {
        let out = answer("alice", &Secret::new("s3cret"), Some(1_700_000_000)).unwrap();
        assert_eq!(
            out.as_slice(),
            b"username=alice\npassword=s3cret\npassword_expiry_utc=1700000000\n"
        );
        let out = answer("alice", &Secret::new("s"), None).unwrap();
        assert_eq!(out.as_slice(), b"username=alice\npassword=s\n");
        assert_eq!(
            answer("a", &Secret::new("x\ny"), None).unwrap_err(),
            AnswerError::Secret
        );
        assert_eq!(
            answer("a\n", &Secret::new("x"), None).unwrap_err(),
            AnswerError::Username
        );
    }
}
