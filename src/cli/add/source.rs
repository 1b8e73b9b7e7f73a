//! The source options of `credd add`: the [`Source`] they describe and the material it needs,
//! in the formats `credd_protocol::Source` documents.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use credd_protocol::{MAX_SECRET_LEN, Secret, Source};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::SourceArgs;
use crate::cli::input;

/// The Google credentials file types the gcp source mints from.
const GCP_TYPES: &[&str] = &["service_account", "authorized_user", "external_account"];

/// The source the options name and its material, or `None` for a plain entry.
pub(super) fn from_args(args: &SourceArgs, from_stdin: bool) -> Result<Option<(Source, Secret)>> {
    if let Some(file) = &args.gcp_key_file {
        let material = read_gcp_key(file)?;
        let source = Source::Gcp {
            scopes: args.gcp_scopes.clone(),
        };
        return Ok(Some((source, material)));
    }
    if let Some(domain) = &args.aws_codeartifact {
        let source = Source::AwsCodeartifact {
            domain: domain.clone(),
            owner: args.owner.clone().unwrap_or_default(),
            region: args.region.clone().unwrap_or_default(),
            duration: args.duration,
            endpoint: args.endpoint.clone(),
        };
        return Ok(Some((
            source,
            aws_key_pair(from_stdin, args.session_token)?,
        )));
    }
    if let Some(line) = &args.token_command {
        let source = Source::Command {
            argv: split_words(line)?,
            env: parse_env(&args.token_env)?,
            timeout: args.token_timeout,
        };
        // A command source has no material: the command finds its own credentials.
        return Ok(Some((source, Secret::new(""))));
    }
    Ok(None)
}

/// Only the `type` of a Google credentials file: nothing else of it is copied.
#[derive(Deserialize)]
struct GcpType {
    #[serde(rename = "type")]
    kind: String,
}

/// The credentials file's contents, read once, after checking it is a Google credentials file
/// of a type the gcp source knows.
fn read_gcp_key(file: &Path) -> Result<Secret> {
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_SECRET_LEN + 1));
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_SECRET_LEN as u64 + 1).read_to_end(&mut text))
        .with_context(|| format!("cannot read {}", file.display()))?;
    if text.len() > MAX_SECRET_LEN {
        bail!(
            "{} is larger than {MAX_SECRET_LEN} bytes: it is no Google credentials file",
            file.display()
        );
    }
    let kind = serde_json::from_slice::<GcpType>(&text).map(|t| t.kind);
    match kind {
        Ok(kind) if GCP_TYPES.contains(&kind.as_str()) => {}
        Ok(kind) => bail!(
            "{} is a Google credentials file of type {kind:?}, which credd cannot mint from: use \
             a service-account key, a gcloud user login (application_default_credentials.json) \
             or a workload identity federation file",
            file.display()
        ),
        Err(_) => bail!(
            "{} is not a Google credentials file (JSON with a \"type\"): download a key with \
             'gcloud iam service-accounts keys create FILE --iam-account ACCOUNT'",
            file.display()
        ),
    }
    let text = std::str::from_utf8(&text).context("the credentials file is not UTF-8")?;
    Ok(Secret::new(text))
}

/// After the key file is stored: deletes it with `remove`, else says why to.
pub(super) fn after_storing_key_file(file: &Path, remove: bool) -> Result<()> {
    if remove {
        std::fs::remove_file(file)
            .with_context(|| format!("stored, but cannot delete {}", file.display()))?;
        eprintln!("credd: deleted {}", file.display());
    } else {
        eprintln!(
            "credd: the key is stored encrypted; delete the plaintext file now ('rm {}', or next \
             time --remove-file)",
            file.display()
        );
    }
    Ok(())
}

/// The material of an aws-codeartifact source.
#[derive(Serialize)]
struct AwsKey<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
}

/// Asks for the key pair (and session token) on the terminal, or reads them from stdin, one a
/// line, as `{"access_key_id", "secret_access_key", "session_token"?}`.
fn aws_key_pair(from_stdin: bool, with_session_token: bool) -> Result<Secret> {
    let id = input::secret(from_stdin, "AWS access key id: ", "access key id")?;
    let key = input::secret(from_stdin, "AWS secret access key: ", "secret access key")?;
    let token = match with_session_token {
        true => Some(input::secret(
            from_stdin,
            "AWS session token: ",
            "session token",
        )?),
        false => None,
    };
    let material = AwsKey {
        access_key_id: id.expose(),
        secret_access_key: key.expose(),
        session_token: token.as_ref().map(Secret::expose),
    };
    let json = Zeroizing::new(serde_json::to_string(&material)?);
    Ok(Secret::new(&json))
}

/// `NAME=VALUE` pairs.
fn parse_env(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => bail!("--token-env {pair:?} is not NAME=VALUE"),
        })
        .collect()
}

/// Splits a command line into words as a POSIX shell would, without any expansion: blanks
/// separate words; `'…'` keeps everything literally; `"…"` keeps everything but `\"`, `\\`,
/// `\$` and `` \` ``, which lose their backslash; outside quotes a backslash keeps the next
/// character literally. `$`, `*`, `~`, `|`, `;` and the like are plain characters.
fn split_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => bail!("--token-command has an unterminated ' quote"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => w.extend(['\\', c]),
                            None => bail!("--token-command has an unterminated \" quote"),
                        },
                        Some(c) => w.push(c),
                        None => bail!("--token-command has an unterminated \" quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => bail!("--token-command ends in a lone backslash"),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        bail!("--token-command is empty: give the program and its arguments");
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell_without_expansions() {
        let split = |line: &str| split_words(line).unwrap();
        assert_eq!(
            split("gcloud auth print-access-token --format=json"),
            ["gcloud", "auth", "print-access-token", "--format=json"]
        );
        assert_eq!(
            split(r#"tool 'a b' "c \"d\" \n $HOME" e\ f '' x"y"z"#),
            ["tool", "a b", r#"c "d" \n $HOME"#, "e f", "", "xyz"]
        );
        assert_eq!(split("  a\t b  "), ["a", "b"]);
        for bad in ["", "  ", "a 'b", "a \"b", "a\\"] {
            assert!(split_words(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_env_pairs_need_a_name() {
        let env = parse_env(&["A=1".into(), "B=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(env["B"], "x=y");
        assert_eq!(env["C"], "");
        assert!(parse_env(&["=1".into()]).is_err());
        assert!(parse_env(&["A".into()]).is_err());
    }

    #[test]
    fn a_gcp_key_file_must_be_of_a_known_type() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write("sa.json", r#"{"type":"service_account","private_key":"k"}"#);
        assert!(
            read_gcp_key(&good)
                .unwrap()
                .expose()
                .contains("private_key")
        );
        let other = write("other.json", r#"{"type":"impersonated_service_account"}"#);
        let error = read_gcp_key(&other).unwrap_err().to_string();
        assert!(error.contains("impersonated_service_account"), "{error}");
        let secret = write("not.json", "hunter2-not-json");
        let error = read_gcp_key(&secret).unwrap_err().to_string();
        assert!(
            error.contains("not a Google credentials file") && !error.contains("hunter2"),
            "{error}"
        );
    }
}
