//! docker's credential helper protocol (docker-credential-helpers) and docker's config file.
//!
//! docker runs `docker-credential-NAME ACTION` with one argument. `get` and `erase` read the
//! server URL as raw text on stdin (trimmed); `store` reads `{"ServerURL","Username","Secret"}`;
//! `get` answers that object and `list` a `{"URL":"username"}` map, as Go's JSON encoder writes
//! them (HTML characters escaped, a final newline). Errors go to **stdout** with exit 1, and the
//! exact text [`NOT_FOUND`] means a miss. The username `<token>` marks an identity token.
//!
//! `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`) names the helper in `credsStore`
//! (every registry) or `credHelpers` (per registry); `auths` maps registries to
//! `{"auth": base64("user:password")}` or `{"identitytoken": …}` when no helper is set.

use credd_protocol::Secret;
use serde::Deserialize;
use zeroize::Zeroizing;

/// A miss, in the very words docker's client looks for.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// `get`, `erase` or `store` without a server URL.
pub const MISSING_URL: &str = "no credentials server URL";
/// `store` without a username.
pub const MISSING_USERNAME: &str = "no credentials username";

/// The username docker stores with an identity token (an OAuth refresh token).
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// The note of an entry `store` adds (`docker login`): `list` shows only docker's entries.
pub const STORED_NOTE: &str = "stored by docker login";
/// The note of an entry `credd import docker` adds.
pub const IMPORTED_NOTE: &str = "imported from docker's config.json";

/// True when an entry with this note came from docker, so that `list` (which `docker build`
/// uses to send every registry's credentials to the daemon) may show it.
pub fn from_docker(note: Option<&str>) -> bool {
    matches!(note, Some(STORED_NOTE | IMPORTED_NOTE))
}

/// What `store` reads.
#[derive(Deserialize)]
pub struct Credentials {
    /// The registry, as docker names it (`host[:port]`, or a URL for Docker Hub).
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    /// The login name, or [`IDENTITY_TOKEN_USERNAME`].
    #[serde(rename = "Username", default)]
    pub username: String,
    /// The password or token.
    #[serde(rename = "Secret")]
    pub secret: Secret,
}

/// The answer to `get`: one line of JSON as Go's encoder writes it.
pub fn get_answer(server_url: &str, username: &str, secret: &Secret) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(64 + secret.expose().len()));
    out.push_str("{\"ServerURL\":");
    push_go_string(&mut out, server_url);
    out.push_str(",\"Username\":");
    push_go_string(&mut out, username);
    out.push_str(",\"Secret\":");
    push_go_string(&mut out, secret.expose());
    out.push_str("}\n");
    out
}

/// The answer to `list`: `{"URL":"username",…}` sorted by URL, as Go writes a map.
pub fn list_answer(mut accounts: Vec<(String, String)>) -> String {
    accounts.sort();
    accounts.dedup_by(|a, b| a.0 == b.0);
    let mut out = String::from("{");
    for (i, (url, username)) in accounts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_go_string(&mut out, url);
        out.push(':');
        push_go_string(&mut out, username);
    }
    out.push_str("}\n");
    out
}

/// `text` as a JSON string the way Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and
/// U+2029 escaped too, other controls as `\u00XX` (`\n`, `\r`, `\t` short).
fn push_go_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Where docker keeps its config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?)
            .join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// The fields of an `auths` entry that hold a secret (or half of one).
pub const SECRET_FIELDS: [&str; 4] = ["auth", "identitytoken", "password", "registrytoken"];

/// Reads config.json's text as a JSON object (empty text: an empty one), keeping key order.
///
/// # Errors
///
/// When the text is not a JSON object. The message never quotes the text: it holds secrets.
pub fn parse_config(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("it is not a JSON object".to_owned()),
        Err(e) => Err(format!(
            "it is not JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
    }
}

/// The config as docker writes it: indented with tabs, no final newline.
pub fn render_config(config: &serde_json::Map<String, serde_json::Value>) -> Zeroizing<String> {
    use serde::Serialize;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    config
        .serialize(&mut serializer)
        .expect("a JSON map always serializes");
    Zeroizing::new(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// A copy of the config with every secret field of `auths` shown as `<redacted>`, for diffs.
pub fn redacted(
    config: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut copy = config.clone();
    if let Some(serde_json::Value::Object(auths)) = copy.get_mut("auths") {
        for entry in auths.values_mut() {
            if let serde_json::Value::Object(fields) = entry {
                for field in SECRET_FIELDS {
                    if let Some(value) = fields.get_mut(field) {
                        *value = serde_json::Value::from("<redacted>");
                    }
                }
            }
        }
    }
    copy
}

/// Decodes standard base64 (padding optional), as docker's `auth` field holds it.
pub fn base64_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let bytes = text.trim().trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() * 3 / 4));
    for chunk in bytes.chunks(4) {
        let mut n: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)?) << (18 - 6 * i);
        }
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_answers_as_gos_encoder_writes_it() {
        let out = get_answer("127.0.0.1:5000", "<token>", &Secret::new("a\"b&c"));
        assert_eq!(
            out.as_str(),
            "{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"\\u003ctoken\\u003e\",\
             \"Secret\":\"a\\\"b\\u0026c\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["Username"], "<token>");
    }

    #[test]
    fn list_is_a_sorted_map() {
        assert_eq!(list_answer(Vec::new()), "{}\n");
        let out = list_answer(vec![
            ("z.test".into(), "zed".into()),
            ("https://index.docker.io/v1/".into(), "me".into()),
        ]);
        assert_eq!(
            out,
            "{\"https://index.docker.io/v1/\":\"me\",\"z.test\":\"zed\"}\n"
        );
    }

    #[test]
    fn store_reads_dockers_json() {
        let creds: Credentials =
            serde_json::from_str(r#"{"ServerURL":"r.test","Username":"u","Secret":"s"}"#).unwrap();
        assert_eq!(
            (creds.server_url.as_str(), creds.username.as_str()),
            ("r.test", "u")
        );
        assert_eq!(creds.secret.expose(), "s");
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(
            base64_decode("dXNlcjpwYXNz").unwrap().as_slice(),
            b"user:pass"
        );
        assert_eq!(base64_decode("YTpi").unwrap().as_slice(), b"a:b");
        assert_eq!(base64_decode("YTpiYw==").unwrap().as_slice(), b"a:bc");
        assert_eq!(base64_decode("YTpiYw").unwrap().as_slice(), b"a:bc");
        assert!(base64_decode("!!!!").is_none());
        assert!(base64_decode("YTpiY").is_none());
    }
}
