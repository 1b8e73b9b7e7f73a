//! The properties the fuzz targets in `fuzz/` check, and a test that replays their committed
//! corpus, so that `cargo test` keeps the properties where no fuzzer runs.
//!
//! Each check takes arbitrary bytes and panics when a property fails: nothing inside credd
//! panics, no secret shows in an error or a `Debug`, and what credd writes it reads back the same.
//! Secrets are recognized by [`MARKER`], which the seed corpus plants in secret fields and others:
//! an error may show it only when it is in the one part of the input that error may quote (a
//! request's operation name, a key of a TOML file), a `Debug` only when it is outside a secret.

use credd_protocol::{FrameBuf, FrameTooLarge, MAX_FRAME_LEN, Secret, encode_line, parse_request};
use serde_json::Value;
use toml_edit::{Item, TableLike};
use zeroize::Zeroizing;

use crate::cargo::config_files::{self, Credentials, FoundToken};
use crate::poetry::files::{self, AuthFile, FoundCredential};
use crate::store::vault::{VaultError, fuzz_seam};
use crate::urlmatch::{self, RegistryUrl};

/// The stand-in for a secret that the seeds plant.
pub const MARKER: &str = "SECRETMARK";

/// A fuzz target's check: panics when `data` breaks a property.
pub type Check = fn(data: &[u8]);

/// Every fuzz target by name (its corpus is `fuzz/corpus/NAME/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("protocol", protocol),
    ("cargo_plugin", cargo_plugin),
    ("vault", vault),
    ("cargo_files", cargo_files),
    ("poetry_files", poetry_files),
    ("urlmatch", urlmatch),
    ("keyring_cli", keyring_cli),
];

/// The fields of protocol requests that hold secrets.
const REQUEST_SECRETS: &[&str] = &["passphrase", "old", "new", "secret"];

/// The agent's side of a connection: `data` as a byte stream through [`FrameBuf`], each frame
/// through [`parse_request`]. Frames are exactly the stream's lines; errors quote no secret; a
/// parsed request encodes to a line that parses to the same request.
pub fn protocol(data: &[u8]) {
    for frame in frames(data) {
        request(&frame);
    }
}

/// Feeds `data` to a [`FrameBuf`] in chunks of changing size and checks that the frames are the
/// lines of `data`, up to the first one over the cap.
fn frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let tail = lines.pop().unwrap_or_default();
    let too_long = lines.iter().position(|line| line.len() > MAX_FRAME_LEN);
    let expected = &lines[..too_long.unwrap_or(lines.len())];
    let expect_too_large = too_long.is_some() || tail.len() > MAX_FRAME_LEN;

    let mut buf = FrameBuf::new();
    let mut frames = Vec::new();
    let mut rest = data;
    let mut too_large = false;
    let chunk_sizes = [1, 3, 64, 7, 4096, MAX_FRAME_LEN + 1];
    'feed: for &size in chunk_sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let room = buf.unfilled();
        assert!(
            !room.is_empty(),
            "a full buffer without a frame-too-large error"
        );
        let n = size.min(rest.len()).min(room.len());
        room[..n].copy_from_slice(&rest[..n]);
        buf.filled(n);
        rest = &rest[n..];
        loop {
            match buf.frame_len() {
                Ok(Some(len)) => {
                    frames.push(buf.frame(len).to_vec());
                    buf.consume(len);
                }
                Ok(None) => break,
                Err(FrameTooLarge) => {
                    too_large = true;
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(
        frames, expected,
        "the frames are not the lines of the stream"
    );
    assert_eq!(
        too_large, expect_too_large,
        "frame-too-large reported wrongly"
    );
    frames
}

/// One frame through [`parse_request`].
fn request(frame: &[u8]) {
    match parse_request(frame) {
        Ok(request) => {
            let line = one_line(&request);
            let again = parse_request(&line[..line.len() - 1])
                .unwrap_or_else(|e| panic!("an encoded request does not parse: {e:?}"));
            assert_eq!(
                line,
                one_line(&again),
                "decode, encode, decode changed a request"
            );
            let encoded: Value = serde_json::from_slice(&line).expect("the line is JSON");
            if !outside_secrets(&encoded, REQUEST_SECRETS) {
                assert_quiet(&format!("{request:?}"), "a request's Debug");
            }
        }
        Err(error) => {
            // The operation's name is the one thing of the request an error may quote.
            if !json_field_mentions_marker(frame, "op") {
                assert_quiet(&format!("{} {error:?}", error.error), "a request error");
            }
        }
    }
}

/// `value` encoded as one protocol line, checked to be exactly one line.
fn one_line(value: &impl serde::Serialize) -> Zeroizing<Vec<u8>> {
    let mut line = Zeroizing::new(Vec::new());
    encode_line(value, &mut line).expect("a parsed value encodes");
    assert_eq!(
        line.iter().position(|&b| b == b'\n'),
        Some(line.len() - 1),
        "an encoded line is not one line"
    );
    line
}

/// `credd --cargo-plugin` reading the request line Cargo sends: a request it refuses before
/// asking the agent gets one JSON line back, which quotes no token.
pub fn cargo_plugin(line: &[u8]) {
    let Some(reply) = crate::cargo::provider::refusal(line) else {
        return;
    };
    assert_eq!(
        reply.iter().position(|&b| b == b'\n'),
        Some(reply.len() - 1),
        "the reply to cargo is not one line"
    );
    let reply: Value = serde_json::from_slice(&reply).expect("the reply to cargo is JSON");
    assert!(
        reply.get("Err").is_some(),
        "a refusal is not an error: {reply}"
    );
    // The arguments from Cargo's config are the one thing of the request a refusal may quote.
    if !json_field_mentions_marker(line, "args") {
        assert_quiet(&reply.to_string(), "the reply to cargo");
    }
}

/// The native `keyring` command's parser on arguments split at NUL bytes: an accepted command
/// line takes its service and username from the arguments as given; what it prints for any
/// password is JSON that reads back to that password, or lines that hold it.
pub fn keyring_cli(data: &[u8]) {
    use crate::keyring_cli::{Format, Mode, Parsed, parse, render};
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<&std::ffi::OsStr> = data
        .split(|&b| b == 0)
        .map(std::ffi::OsStr::from_bytes)
        .collect();
    if let Ok(Parsed::Run(invocation)) = parse(&args) {
        let given = |value: &str| args.iter().any(|arg| arg.as_bytes() == value.as_bytes());
        assert!(
            given(&invocation.service),
            "a service not among the arguments"
        );
        assert!(
            invocation.username.as_deref().is_none_or(given),
            "a username not given"
        );
    }
    let text = String::from_utf8_lossy(data);
    let (user, password) = text.split_once('\0').unwrap_or(("", &text));
    let json = render(Mode::Creds, Format::Json, user, password);
    let read: Value = serde_json::from_slice(&json).expect("the JSON output parses");
    assert_eq!(read["username"], user, "the username does not read back");
    assert_eq!(
        read["password"], password,
        "the password does not read back"
    );
    assert!(json.is_ascii(), "json.dumps output is ASCII");
    let plain = render(Mode::Password, Format::Plain, user, password);
    assert_eq!(&plain[..], format!("{password}\n").as_bytes());
}

/// The vault reader with a fixed key (no key derivation): a whole file when `data` starts with
/// the vault's magic, else a body that decrypts to `data`. Errors quote nothing of the vault;
/// entries read are written and read back the same; their `Debug` shows no secret.
pub fn vault(data: &[u8]) {
    let file = if data.starts_with(b"CREDDVLT") {
        data.to_vec()
    } else {
        fuzz_seam::seal_plaintext(data)
    };
    match fuzz_seam::open(&file) {
        Err(error) => assert_quiet_vault_error(&error),
        Ok(entries) => {
            let again = fuzz_seam::open(&fuzz_seam::seal(&entries))
                .unwrap_or_else(|e| panic!("saved entries do not open again: {e}"));
            assert_eq!(
                serde_json::to_string(&entries).expect("entries encode"),
                serde_json::to_string(&again).expect("entries encode"),
                "saving and opening changed the entries"
            );
            let without_secrets: Vec<_> = entries
                .iter()
                .cloned()
                .map(|mut entry| {
                    entry.secret = Secret::new("");
                    entry
                })
                .collect();
            assert_eq!(
                format!("{entries:?}"),
                format!("{without_secrets:?}"),
                "an entry's Debug shows its secret"
            );
        }
    }
}

fn assert_quiet_vault_error(error: &VaultError) {
    assert_quiet(&format!("{error} {error:?}"), "a vault error");
}

/// Cargo's `credentials.toml` and `config.toml` through every reader and editor credd has.
/// Errors name keys at most; `Debug` shows no token; removing the tokens read leaves none;
/// setting up credd twice changes the file once.
pub fn cargo_files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys_mention = toml_keys_mention_marker(text);
    let quiet = |error: &config_files::FileError| {
        if !keys_mention {
            assert_quiet(&format!("{error} {error:?}"), "a cargo file error");
        }
    };
    match config_files::read_credentials(text) {
        Err(error) => quiet(&error),
        Ok(found) => check_credentials(text, &found),
    }
    if let Err(error) = config_files::registry_indexes(text) {
        quiet(&error);
    }
    if let Err(error) = config_files::uses_credd(text) {
        quiet(&error);
    }
    match config_files::add_global_provider(text) {
        Err(error) => quiet(&error),
        Ok(setup) => {
            let again = config_files::add_global_provider(&setup.edit.text)
                .unwrap_or_else(|e| panic!("credd's own edit does not read back: {e}"));
            assert!(!again.edit.changed, "setup changed its own edit again");
            assert_eq!(config_files::uses_credd(&setup.edit.text), Ok(true));
        }
    }
    match config_files::set_registry_provider(text, "fuzz") {
        Err(error) => quiet(&error),
        Ok(setup) => {
            let again = config_files::set_registry_provider(&setup.edit.text, "fuzz")
                .unwrap_or_else(|e| panic!("credd's own edit does not read back: {e}"));
            assert!(!again.edit.changed, "setup changed its own edit again");
            assert_eq!(config_files::uses_credd(&setup.edit.text), Ok(true));
        }
    }
}

fn check_credentials(text: &str, found: &Credentials) {
    let without_tokens = Credentials {
        tokens: found
            .tokens
            .iter()
            .map(|t| FoundToken {
                key: t.key.clone(),
                token: Secret::new(""),
            })
            .collect(),
        skipped: found.skipped.clone(),
    };
    assert_eq!(
        format!("{found:?}"),
        format!("{without_tokens:?}"),
        "the tokens read show in their Debug"
    );
    assert!(found.tokens.iter().all(|t| !t.token.is_empty()));
    let keys: Vec<_> = found.tokens.iter().map(|t| t.key.clone()).collect();
    let left = config_files::remove_tokens(text, &keys)
        .unwrap_or_else(|e| panic!("the tokens read cannot be removed: {e}"));
    let after = config_files::read_credentials(&left)
        .unwrap_or_else(|e| panic!("the file without its tokens does not read: {e}"));
    let kept: Vec<_> = after.tokens.iter().map(|t| &t.key).collect();
    assert!(kept.is_empty(), "tokens left after removing them: {kept:?}");
}

/// Poetry's `auth.toml`, `config.toml` and `pyproject.toml` through credd's readers and editor.
/// Errors name keys at most; `Debug` shows no password; removing the credentials read leaves none.
pub fn poetry_files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys_mention = toml_keys_mention_marker(text);
    let quiet = |error: &files::FileError| {
        if !keys_mention {
            assert_quiet(&format!("{error} {error:?}"), "a poetry file error");
        }
    };
    match files::read_auth(text) {
        Err(error) => quiet(&error),
        Ok(found) => check_auth(text, &found),
    }
    if let Err(error) = files::repository_urls(text) {
        quiet(&error);
    }
    if let Err(error) = files::project_sources(text) {
        quiet(&error);
    }
}

fn check_auth(text: &str, found: &AuthFile) {
    let without_secrets = AuthFile {
        credentials: found
            .credentials
            .iter()
            .map(|c| FoundCredential {
                key: c.key.clone(),
                username: c.username.clone(),
                secret: Secret::new(""),
            })
            .collect(),
        skipped: found.skipped.clone(),
    };
    assert_eq!(
        format!("{found:?}"),
        format!("{without_secrets:?}"),
        "the credentials read show their secrets in their Debug"
    );
    assert!(found.credentials.iter().all(|c| !c.secret.is_empty()));
    let keys: Vec<_> = found.credentials.iter().map(|c| c.key.clone()).collect();
    let left = files::remove_credentials(text, &keys)
        .unwrap_or_else(|e| panic!("the credentials read cannot be removed: {e}"));
    let after = files::read_auth(&left)
        .unwrap_or_else(|e| panic!("the file without its credentials does not read: {e}"));
    let kept: Vec<_> = after.credentials.iter().map(|c| &c.key).collect();
    assert!(
        kept.is_empty(),
        "credentials left after removing them: {kept:?}"
    );
}

/// The URL matcher: the first line of `data` is the query, the others candidates. Errors quote no
/// URL; a URL's userinfo never survives [`urlmatch::without_userinfo`]; the best match covers the query at least as deeply as every other candidate.
pub fn urlmatch(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let query = lines.next().unwrap_or_default();
    let candidates: Vec<&str> = lines.collect();
    for url in std::iter::once(query).chain(candidates.iter().copied()) {
        check_url(url);
    }
    match urlmatch::best_match(candidates.iter().copied().enumerate(), query) {
        Err(error) => assert_quiet(&format!("{error} {error:?}"), "a URL error"),
        Ok(best) => {
            let parsed = RegistryUrl::parse(query).expect("best_match parsed the query");
            let depth = |url: &str| RegistryUrl::parse(url).ok()?.covers(&parsed);
            let deepest = candidates.iter().filter_map(|url| depth(url)).max();
            assert_eq!(best.and_then(|i| depth(candidates[i])), deepest);
        }
    }
}

fn check_url(url: &str) {
    let shown = urlmatch::without_userinfo(url);
    if let Err(error) = RegistryUrl::parse(url) {
        assert_quiet(&format!("{error} {error:?}"), "a URL error");
    }
    if userinfo_alone_mentions_marker(url) {
        assert_quiet(&shown, "a URL without its userinfo");
    }
}

/// True when `url`, as the `url` crate reads it (without Cargo's prefix), has [`MARKER`] in its
/// userinfo and nowhere else.
fn userinfo_alone_mentions_marker(url: &str) -> bool {
    let bare = url.trim();
    // Cargo's prefix without case, as `RegistryUrl::parse` strips it.
    let bare = ["sparse+", "registry+"]
        .iter()
        .find_map(|p| {
            bare.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &bare[p.len()..])
        })
        .unwrap_or(bare);
    let Ok(parsed) = url::Url::parse(bare) else {
        return false;
    };
    let in_userinfo =
        parsed.username().contains(MARKER) || parsed.password().is_some_and(|p| p.contains(MARKER));
    let mut rest = parsed.clone();
    // Fails only for URLs that cannot have userinfo, which then has no marker either.
    let _ = rest.set_username("");
    let _ = rest.set_password(None);
    // The host is lower-cased: compare without case.
    let marker = MARKER.to_ascii_lowercase();
    in_userinfo && !rest.as_str().to_ascii_lowercase().contains(&marker)
}

/// Panics when `text` shows [`MARKER`].
fn assert_quiet(text: &str, what: &str) {
    assert!(!text.contains(MARKER), "{what} quotes a secret: {text}");
}

/// True when `json` is an object whose `field` has [`MARKER`] in a string.
fn json_field_mentions_marker(json: &[u8], field: &str) -> bool {
    serde_json::from_slice::<Value>(json)
        .is_ok_and(|value| value.get(field).is_some_and(|v| outside_secrets(v, &[])))
}

/// True when `value` has [`MARKER`] in a key, or in a string not under a key of `secrets`.
fn outside_secrets(value: &Value, secrets: &[&str]) -> bool {
    match value {
        Value::String(s) => s.contains(MARKER),
        Value::Array(items) => items.iter().any(|v| outside_secrets(v, secrets)),
        Value::Object(map) => map.iter().any(|(key, v)| {
            key.contains(MARKER)
                || (!secrets.contains(&key.as_str()) && outside_secrets(v, secrets))
        }),
        _ => false,
    }
}

/// True when `text` is TOML with [`MARKER`] in a key (errors may name keys).
fn toml_keys_mention_marker(text: &str) -> bool {
    crate::toml_file::parse(text).is_ok_and(|doc| table_keys_mention(doc.as_table()))
}

fn table_keys_mention(table: &dyn TableLike) -> bool {
    table
        .iter()
        .any(|(key, item)| key.contains(MARKER) || item_keys_mention(item))
}

fn item_keys_mention(item: &Item) -> bool {
    match item {
        Item::Table(table) => table_keys_mention(table),
        Item::ArrayOfTables(tables) => tables.iter().any(|t| table_keys_mention(t)),
        Item::Value(value) => value_keys_mention(value),
        Item::None => false,
    }
}

fn value_keys_mention(value: &toml_edit::Value) -> bool {
    match value {
        toml_edit::Value::InlineTable(table) => table_keys_mention(table),
        toml_edit::Value::Array(items) => items.iter().any(value_keys_mention),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The corpus `cargo fuzz` grew from and every reproducer committed, through the checks.
    #[test]
    fn the_fuzz_corpus_keeps_its_properties() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (target, check) in TARGETS {
            let dir = corpus.join(target);
            let files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
                .map(|entry| entry.unwrap().path())
                .collect();
            assert!(!files.is_empty(), "no corpus in {}", dir.display());
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let held = std::panic::catch_unwind(|| check(&data));
                assert!(held.is_ok(), "{} breaks a property", file.display());
            }
        }
    }
}
