//! Poetry's `auth.toml`: reading its plaintext credentials, and removing the imported ones.

use credd_protocol::Secret;
use toml_edit::{DocumentMut, Item};
use zeroize::Zeroizing;

use crate::toml_file::{FileError, parse, remove_keeping_comments, shape};

const HTTP_BASIC: &str = "http-basic";
const PYPI_TOKEN: &str = "pypi-token";

/// Where a credential sits in `auth.toml`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthKey {
    /// `[http-basic.NAME]` with `username` and `password`.
    HttpBasic(String),
    /// `[pypi-token] NAME = "…"`.
    PypiToken(String),
}

impl AuthKey {
    /// The repository's name, which becomes the credd entry's name.
    pub fn name(&self) -> &str {
        match self {
            Self::HttpBasic(name) | Self::PypiToken(name) => name,
        }
    }

    /// The setting, as `poetry config` names it (`http-basic.NAME`, `pypi-token.NAME`).
    pub fn setting(&self) -> String {
        match self {
            Self::HttpBasic(name) => format!("{HTTP_BASIC}.{name}"),
            Self::PypiToken(name) => format!("{PYPI_TOKEN}.{name}"),
        }
    }
}

/// A credential found in `auth.toml`.
#[derive(Debug)]
pub struct FoundCredential {
    /// Where it is.
    pub key: AuthKey,
    /// The login name (`None` for a token).
    pub username: Option<String>,
    /// The password or token.
    pub secret: Secret,
}

/// Why a setting of `auth.toml` is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An `http-basic` without a password: Poetry keeps that one in a keyring.
    NoPassword,
    /// The password, token or username is not a string, or the setting is not a table.
    NotAString,
    /// The password or token is empty.
    Empty,
}

/// A setting that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub key: AuthKey,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// What `auth.toml` holds.
#[derive(Debug, Default)]
pub struct AuthFile {
    /// The credentials, in file order, `http-basic` first.
    pub credentials: Vec<FoundCredential>,
    /// The settings that cannot be imported.
    pub skipped: Vec<Skipped>,
}

/// Reads the `[http-basic.NAME]` and `[pypi-token]` settings of an `auth.toml`.
pub fn read_auth(text: &str) -> Result<AuthFile, FileError> {
    let doc = parse(text)?;
    let mut found = AuthFile::default();
    for (name, item) in tables_of(&doc, HTTP_BASIC)? {
        let key = AuthKey::HttpBasic(name.to_owned());
        match http_basic(item) {
            Ok((username, secret)) => found.credentials.push(FoundCredential {
                key,
                username,
                secret,
            }),
            Err(reason) => found.skipped.push(Skipped { key, reason }),
        }
    }
    for (name, item) in tables_of(&doc, PYPI_TOKEN)? {
        let key = AuthKey::PypiToken(name.to_owned());
        match item.as_str() {
            Some("") => found.skipped.push(Skipped {
                key,
                reason: SkipReason::Empty,
            }),
            Some(token) => found.credentials.push(FoundCredential {
                key,
                username: Some(crate::poetry::TOKEN_USERNAME.to_owned()),
                secret: Secret::new(token),
            }),
            None => found.skipped.push(Skipped {
                key,
                reason: SkipReason::NotAString,
            }),
        }
    }
    Ok(found)
}

/// The entries of the table `name` (none when it is absent).
fn tables_of<'a>(doc: &'a DocumentMut, name: &str) -> Result<Vec<(&'a str, &'a Item)>, FileError> {
    match doc.get(name) {
        None => Ok(Vec::new()),
        Some(item) => Ok(item
            .as_table_like()
            .ok_or_else(|| shape(format!("`{name}` is not a table")))?
            .iter()
            .collect()),
    }
}

/// The username and password of one `[http-basic.NAME]`.
fn http_basic(item: &Item) -> Result<(Option<String>, Secret), SkipReason> {
    let table = item.as_table_like().ok_or(SkipReason::NotAString)?;
    let username = match table.get("username") {
        None => None,
        Some(u) => Some(u.as_str().ok_or(SkipReason::NotAString)?),
    };
    let password = match table.get("password") {
        None => return Err(SkipReason::NoPassword),
        Some(p) => p.as_str().ok_or(SkipReason::NotAString)?,
    };
    if password.is_empty() {
        return Err(SkipReason::Empty);
    }
    let username = username.filter(|u| !u.is_empty()).map(str::to_owned);
    Ok((username, Secret::new(password)))
}

/// `auth.toml` without the settings of `keys`: a table left empty is removed too (comments
/// above its header move to the next table), and everything else is kept as it was. A file left
/// with nothing but whitespace becomes empty.
pub fn remove_credentials(text: &str, keys: &[AuthKey]) -> Result<Zeroizing<String>, FileError> {
    remove_keeping_comments(text, |doc, comments| {
        for key in keys {
            let (table, name) = match key {
                AuthKey::HttpBasic(name) => (HTTP_BASIC, name),
                AuthKey::PypiToken(name) => (PYPI_TOKEN, name),
            };
            let Some(parent) = doc.get_mut(table).and_then(Item::as_table_like_mut) else {
                continue;
            };
            if let AuthKey::HttpBasic(_) = key
                && let Some(basic) = parent.get_mut(name).and_then(Item::as_table_like_mut)
            {
                basic.remove("password");
                basic.remove("username");
                if !basic.is_empty() {
                    continue;
                }
            }
            comments.remove(parent, name);
            if parent.is_empty() {
                comments.remove(doc.as_table_mut(), table);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = r#"# Poetry's credentials
[http-basic.corp]
username = "alice"
password = "pw-corp"

# kept by a keyring
[http-basic.keyring-only]
username = "bob"

[http-basic."my.repo"]
password = "pw-dotted"

[http-basic.broken]
username = "x"
password = 42

[pypi-token]
pypi = "pypi-tok"
corp-upload = "tok-upload"
empty = ""

[extra]
keep = true
"#;

    fn keys(found: &AuthFile) -> Vec<&AuthKey> {
        found.credentials.iter().map(|c| &c.key).collect()
    }

    #[test]
    fn reads_http_basic_and_tokens_and_says_what_it_skips() {
        let found = read_auth(AUTH).unwrap();
        assert_eq!(
            keys(&found),
            [
                &AuthKey::HttpBasic("corp".into()),
                &AuthKey::HttpBasic("my.repo".into()),
                &AuthKey::PypiToken("pypi".into()),
                &AuthKey::PypiToken("corp-upload".into()),
            ]
        );
        let corp = &found.credentials[0];
        assert_eq!(corp.username.as_deref(), Some("alice"));
        assert_eq!(corp.secret.expose(), "pw-corp");
        assert_eq!(found.credentials[1].username, None);
        assert_eq!(found.credentials[2].username.as_deref(), Some("__token__"));
        assert_eq!(
            found.skipped,
            [
                Skipped {
                    key: AuthKey::HttpBasic("keyring-only".into()),
                    reason: SkipReason::NoPassword
                },
                Skipped {
                    key: AuthKey::HttpBasic("broken".into()),
                    reason: SkipReason::NotAString
                },
                Skipped {
                    key: AuthKey::PypiToken("empty".into()),
                    reason: SkipReason::Empty
                },
            ]
        );
    }

    #[test]
    fn inline_tables_count_too() {
        let found =
            read_auth("http-basic = { a = { username = \"u\", password = \"p\" } }\n").unwrap();
        assert_eq!(keys(&found), [&AuthKey::HttpBasic("a".into())]);
    }

    #[test]
    fn errors_never_quote_the_file() {
        let err = read_auth("[http-basic.a]\npassword = \"hunter2\n").unwrap_err();
        assert!(
            matches!(err, FileError::Syntax { at: Some((2, _)) }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter2"));
        let err = read_auth("http-basic = \"hunter2\"\n").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn removal_keeps_everything_else() {
        let out = remove_credentials(
            AUTH,
            &[
                AuthKey::HttpBasic("corp".into()),
                AuthKey::HttpBasic("my.repo".into()),
                AuthKey::PypiToken("pypi".into()),
                AuthKey::PypiToken("corp-upload".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            r#"# Poetry's credentials

# kept by a keyring
[http-basic.keyring-only]
username = "bob"

[http-basic.broken]
username = "x"
password = 42

[pypi-token]
empty = ""

[extra]
keep = true
"#
        );
    }

    #[test]
    fn removing_everything_leaves_an_empty_file_and_tables_go_with_their_last_key() {
        let text =
            "[http-basic.a]\nusername = \"u\"\npassword = \"p\"\n\n[pypi-token]\nb = \"t\"\n";
        let all = [
            AuthKey::HttpBasic("a".into()),
            AuthKey::PypiToken("b".into()),
        ];
        assert_eq!(remove_credentials(text, &all).unwrap().as_str(), "");
        let out = remove_credentials(text, &all[1..]).unwrap();
        assert_eq!(
            out.as_str(),
            "[http-basic.a]\nusername = \"u\"\npassword = \"p\"\n"
        );
        // Other keys of an http-basic table keep it.
        let text = "[http-basic.a]\nusername = \"u\"\npassword = \"p\"\ncert = \"c\"\n";
        let out = remove_credentials(text, &all[..1]).unwrap();
        assert_eq!(out.as_str(), "[http-basic.a]\ncert = \"c\"\n");
        // Inline tables.
        let text = "http-basic = { a = { username = \"u\", password = \"p\" } }\nx = 1\n";
        let out = remove_credentials(text, &all[..1]).unwrap();
        assert_eq!(out.as_str(), "x = 1\n");
    }
}
