//! Minting short-lived tokens from a source entry's long-lived material.
//!
//! Everything here is blocking and bounded by [`Context::deadline`]; the agent runs it on a
//! blocking thread, outside its state lock. Nothing here caches: the agent keeps the minted
//! token until shortly before [`Minted::expires`].

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use credd_protocol::{Secret, Source};

use crate::http::{self, HttpError, endpoint_name};

mod aws;
mod command;
mod gcp;
mod jwt;
mod sigv4;

/// A freshly minted token.
pub struct Minted {
    /// The username the registry expects with it (`oauth2accesstoken`, `aws`, …).
    pub username: String,
    /// The token.
    pub token: Secret,
    /// When it stops working, in Unix seconds.
    pub expires: u64,
}

/// What minting may use: where extra CA certificates are, and when to give up.
pub struct Context {
    /// A PEM file of CA certificates trusted besides the system's (company proxies, tests).
    pub ca_file: Option<PathBuf>,
    /// When the whole mint must be done, network calls and commands included.
    pub deadline: Instant,
}

/// Why no token could be minted. Messages never contain the material or a token.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The source's material is not what its kind needs (the message says which field).
    #[error("the source's key material is not usable: {0}")]
    BadMaterial(String),
    /// The token endpoint refused (key revoked or disabled, grant invalid).
    #[error("{endpoint} refused to issue a token: {message}")]
    Rejected {
        /// Where the request went.
        endpoint: String,
        /// The server's own error text, scrubbed.
        message: String,
    },
    /// The endpoint says the request's time is off.
    #[error("{endpoint} says this machine's clock is off: {message}; set the clock right (NTP)")]
    ClockSkew {
        /// Where the request went.
        endpoint: String,
        /// The server's own error text, scrubbed.
        message: String,
    },
    /// The endpoint could not be reached, or answered something unreadable.
    #[error("cannot get a token from {endpoint}: {reason}")]
    Unreachable {
        /// Where the request went.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The token command failed.
    #[error("the token command {program} failed ({status}): {stderr_tail}")]
    CommandFailed {
        /// The program run.
        program: String,
        /// Its exit status, or why it has none.
        status: String,
        /// The end of its standard error, scrubbed.
        stderr_tail: String,
    },
    /// The deadline passed.
    #[error("no token within the deadline: {0}")]
    Timeout(String),
    /// A source kind this build does not know.
    #[error("this credd does not know the entry's source kind; upgrade credd")]
    Unsupported,
}

/// Mints a token from `source` with `material` (the entry's secret).
pub fn mint(source: &Source, material: &Secret, cx: &Context) -> Result<Minted, MintError> {
    match source {
        Source::Gcp { scopes } => gcp::mint(scopes, material, cx),
        Source::AwsCodeartifact {
            domain,
            owner,
            region,
            duration,
            endpoint,
        } => aws::mint(
            &aws::Target {
                domain,
                owner,
                region,
                duration: *duration,
                endpoint: endpoint.as_deref(),
            },
            material,
            cx,
        ),
        Source::Command { argv, env, timeout } => command::mint(argv, env, *timeout, cx),
        _ => Err(MintError::Unsupported),
    }
}

/// The most of a server's error text an error message repeats.
const SCRUB_LIMIT: usize = 300;
/// Words at least this long may be tokens, keys or signed requests: errors never repeat them.
const LONG_WORD: usize = 32;

/// A server's text made fit for an error message: one line, its words (see [`redact`]) cut to
/// [`SCRUB_LIMIT`] characters.
pub fn scrub(text: &str) -> String {
    let words = redact(text);
    let mut out: String = words.chars().take(SCRUB_LIMIT).collect();
    if words.chars().count() > SCRUB_LIMIT {
        out.push('…');
    }
    out
}

/// `text`'s words joined by single spaces, control characters taken as spaces, and every long
/// unbroken word (which may be a token, a key, or an echoed request carrying one) replaced by
/// `[redacted]`. The one rule for any text from outside that an error quotes.
pub fn redact(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.len() >= LONG_WORD {
                "[redacted]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now, in Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An HTTPS client for `cx`.
fn client(cx: &Context) -> Result<http::Client, MintError> {
    http::Client::new(cx.ca_file.as_deref(), cx.deadline).map_err(|e| MintError::Unreachable {
        endpoint: "the token endpoint".into(),
        reason: format!("{e}; fix the file or stop naming it"),
    })
}

/// What is wrong with JSON material, without the value serde_json may quote (a field of the
/// wrong type is quoted, and material put in the wrong field would be).
pub(crate) fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let at = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        _ if text.starts_with("missing field") || text.starts_with("duplicate field") => text,
        serde_json::error::Category::Data => format!("a field has the wrong type ({at})"),
        serde_json::error::Category::Eof => "the JSON is cut short".into(),
        _ => format!("not valid JSON ({at})"),
    }
}

/// The error for a request to `url` that got no answer.
fn unreachable_error(url: &str, error: HttpError) -> MintError {
    let endpoint = endpoint_name(url);
    match error {
        HttpError::Timeout => MintError::Timeout(format!(
            "{endpoint} did not answer in time: check the network, or give a slow endpoint a \
             larger mint-timeout in config.toml"
        )),
        HttpError::NotHttps(_) => MintError::BadMaterial(error.to_string()),
        other => MintError::Unreachable {
            endpoint,
            reason: other.to_string(),
        },
    }
}

/// Parses a number of seconds (a lifetime such as `expires_in`, or Unix seconds): a number,
/// possibly fractional, or its text.
fn parse_seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        serde_json::Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    }
}

/// Parses an expiry given as Unix seconds ([`parse_seconds`]) or as an RFC 3339 time.
pub(crate) fn parse_expiry(value: &serde_json::Value) -> Option<u64> {
    parse_seconds(value).or_else(|| rfc3339(value.as_str()?))
}

/// Parses an RFC 3339 time into Unix seconds.
fn rfc3339(text: &str) -> Option<u64> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339);
    at.ok()
        .and_then(|at| u64::try_from(at.unix_timestamp()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_makes_one_bounded_line() {
        assert_eq!(scrub("bad\r\ngrant\u{1b}[31m"), "bad grant [31m");
        let many = "word ".repeat(1000);
        assert_eq!(scrub(&many).chars().count(), SCRUB_LIMIT + 1);
        let echoed = "SignatureDoesNotMatch: should have been 'POST\nx-amz-security-token:\
                      IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIF'";
        let scrubbed = scrub(echoed);
        assert!(scrubbed.contains("[redacted]"), "{scrubbed}");
        assert!(!scrubbed.contains("IQoJ"), "{scrubbed}");
    }

    #[test]
    fn json_errors_never_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // read by serde alone
        struct Key {
            id: u32,
            name: String,
        }
        let error = |text| json_error(&serde_json::from_str::<Key>(text).unwrap_err());
        assert_eq!(
            error(r#"{"id":1}"#),
            "missing field `name` at line 1 column 8"
        );
        assert_eq!(
            error(r#"{"id":"s3cret","name":"n"}"#),
            "a field has the wrong type (line 1, column 14)"
        );
        assert_eq!(error(r#"{"id":1,"#), "the JSON is cut short");
        assert_eq!(error("s3cret"), "not valid JSON (line 1, column 1)");
    }

    #[test]
    fn endpoints_are_named_without_query_or_user() {
        assert_eq!(
            endpoint_name("https://u:p@example.com/v1/token?key=s3cret"),
            "https://example.com/v1/token"
        );
    }

    #[test]
    fn expiries_in_every_form() {
        use serde_json::json;
        assert_eq!(parse_expiry(&json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(parse_expiry(&json!(1_700_000_000.5)), Some(1_700_000_000));
        assert_eq!(parse_expiry(&json!("1700000000")), Some(1_700_000_000));
        assert_eq!(
            parse_expiry(&json!("2023-11-14T22:13:20.123456Z")),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_expiry(&json!("2023-11-14T23:13:20+01:00")),
            Some(1_700_000_000)
        );
        assert_eq!(parse_expiry(&json!("soon")), None);
        // A lifetime is a number of seconds, never a time.
        assert_eq!(parse_seconds(&json!("3599")), Some(3599));
        assert_eq!(parse_seconds(&json!("2023-11-14T22:13:20Z")), None);
    }
}
