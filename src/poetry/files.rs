//! Poetry's own files: `auth.toml` (plaintext credentials, which `credd import poetry` moves into
//! credd), `config.toml` and a project's `poetry.toml` (repository URLs), and the project's
//! `pyproject.toml` (its package sources).
//!
//! Apart from the functions that find the files, everything is a pure function from file text,
//! edited through `toml_edit` so that comments, order and formatting are kept. Secrets are
//! wrapped into [`Secret`] as soon as they are read, and a broken file is described by line and
//! column only: a parser message could quote the text around the error, which may be a password.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use credd_protocol::Secret;
use toml_edit::{DocumentMut, Item, TableLike};
use zeroize::Zeroizing;

pub use crate::toml_file::FileError;
use crate::toml_file::{carry_comment, keep_comment, parse, shape};

use super::{PYPI, PYPI_UPLOAD_URL};

const HTTP_BASIC: &str = "http-basic";
const PYPI_TOKEN: &str = "pypi-token";

// ---------------------------------------------------------------------------------------------
// Where the files are
// ---------------------------------------------------------------------------------------------

/// Poetry's config directory on Linux: `$POETRY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pypoetry`
/// when that is absolute, else `~/.config/pypoetry`; `None` without HOME. `var` reads the
/// environment. The Python backend's `_poetry_config_dir` follows the same rule.
pub fn config_dir(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("POETRY_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Some(Path::new(&xdg).join("pypoetry"));
    }
    Some(Path::new(&var("HOME")?).join(".config/pypoetry"))
}

/// The `pyproject.toml` Poetry uses for a project in `dir`: the first one in `dir` or a parent.
pub fn find_pyproject(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("pyproject.toml"))
        .find(|p| p.is_file())
}

/// A file's text; empty when it does not exist.
pub fn read_optional(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Sources and repositories
// ---------------------------------------------------------------------------------------------

/// A `[[tool.poetry.source]]` of a `pyproject.toml` that has a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its name, which Poetry's credential settings use.
    pub name: String,
    /// Its index URL, as written.
    pub url: String,
}

/// The sources of a `pyproject.toml` that have a URL, in file order (a source without one, such
/// as `PyPI`, needs no credentials from credd).
pub fn project_sources(pyproject: &str) -> Result<Vec<Source>, FileError> {
    let doc = parse(pyproject)?;
    let Some(sources) = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("source"))
    else {
        return Ok(Vec::new());
    };
    let tables: Vec<&dyn TableLike> = match sources {
        Item::ArrayOfTables(array) => array.iter().map(|t| t as &dyn TableLike).collect(),
        Item::Value(toml_edit::Value::Array(array)) => array
            .iter()
            .filter_map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
            .collect(),
        _ => return Err(shape("`tool.poetry.source` is not a list of tables")),
    };
    Ok(tables
        .into_iter()
        .filter_map(|t| {
            let name = t.get("name")?.as_str()?;
            let url = t.get("url")?.as_str()?;
            Some(Source {
                name: name.to_owned(),
                url: url.to_owned(),
            })
        })
        .collect())
}

/// The `url` of every `[repositories.NAME]` in a Poetry `config.toml` or `poetry.toml`, by name.
pub fn repository_urls(config: &str) -> Result<BTreeMap<String, String>, FileError> {
    let doc = parse(config)?;
    let mut urls = BTreeMap::new();
    if let Some(repositories) = doc.get("repositories").and_then(Item::as_table_like) {
        for (name, item) in repositories.iter() {
            if let Some(url) = item.get("url").and_then(Item::as_str) {
                urls.insert(name.to_owned(), url.to_owned());
            }
        }
    }
    Ok(urls)
}

/// The repositories of `POETRY_REPOSITORIES_<NAME>_URL` variables, named as Poetry names them
/// (lower case, `_` as `-`). When there is any, Poetry ignores the repositories of its files.
pub fn env_repositories<K: AsRef<str>, V: AsRef<str>>(
    vars: impl IntoIterator<Item = (K, V)>,
) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter_map(|(key, value)| {
            let name = key
                .as_ref()
                .strip_prefix("POETRY_REPOSITORIES_")?
                .strip_suffix("_URL")?;
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            valid.then(|| {
                (
                    name.to_ascii_lowercase().replace('_', "-"),
                    value.as_ref().to_owned(),
                )
            })
        })
        .collect()
}

/// The repository URLs Poetry knows, from the sources of its configuration in the order it
/// reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryUrls {
    /// From `POETRY_REPOSITORIES_*_URL`; when not empty, the files do not count.
    pub env: BTreeMap<String, String>,
    /// From the project's `poetry.toml`.
    pub local: BTreeMap<String, String>,
    /// From Poetry's `config.toml`.
    pub global: BTreeMap<String, String>,
}

impl RepositoryUrls {
    /// The URL of repository `name` as `poetry publish -r NAME` finds it; PyPI's upload URL for
    /// `pypi`.
    pub fn url(&self, name: &str) -> Option<&str> {
        let found = if self.env.is_empty() {
            self.local.get(name).or_else(|| self.global.get(name))
        } else {
            self.env.get(name)
        };
        found
            .map(String::as_str)
            .or((name == PYPI).then_some(PYPI_UPLOAD_URL))
    }
}

// ---------------------------------------------------------------------------------------------
// `auth.toml`
// ---------------------------------------------------------------------------------------------

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
                username: Some(super::TOKEN_USERNAME.to_owned()),
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
    let mut doc = parse(text)?;
    let mut comments = Vec::new();
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
        if let Some(Item::Table(removed)) = parent.remove(name) {
            keep_comment(&removed, &mut comments);
        }
        if parent.is_empty()
            && let Some(Item::Table(removed)) = doc.remove(table)
        {
            keep_comment(&removed, &mut comments);
        }
    }
    // Last first, so that comments carried to the same place keep their order.
    comments.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    for (position, comment) in comments {
        carry_comment(&mut doc, position, &comment);
    }
    let mut out = Zeroizing::new(doc.to_string());
    if out.trim().is_empty() {
        out.clear();
    } else if out.starts_with('\n') && !text.starts_with('\n') {
        // A removed first table leaves the blank line that separated it from the next one.
        let blank = out.len() - out.trim_start_matches('\n').len();
        out.drain(..blank);
    }
    Ok(out)
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

    #[test]
    fn sources_and_repositories() {
        let pyproject = r#"
[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "corp"
url = "http://127.0.0.1:1/simple/"
priority = "explicit"

[[tool.poetry.source]]
name = "PyPI"
priority = "primary"
"#;
        assert_eq!(
            project_sources(pyproject).unwrap(),
            [Source {
                name: "corp".into(),
                url: "http://127.0.0.1:1/simple/".into()
            }]
        );
        assert!(
            project_sources("[project]\nname = \"x\"\n")
                .unwrap()
                .is_empty()
        );
        let config = "[repositories.up]\nurl = \"https://up/\"\n[repositories.nourl]\n";
        let urls = repository_urls(config).unwrap();
        assert_eq!(urls.len(), 1);
        let env = env_repositories([
            ("POETRY_REPOSITORIES_CORP_UPLOAD_URL", "https://env/"),
            ("POETRY_REPOSITORIES_my_URL", "https://ignored/"),
            ("OTHER", "x"),
        ]);
        assert_eq!(env.keys().collect::<Vec<_>>(), ["corp-upload"]);
        let mut known = RepositoryUrls {
            global: urls,
            ..Default::default()
        };
        assert_eq!(known.url("up"), Some("https://up/"));
        assert_eq!(known.url("pypi"), Some(PYPI_UPLOAD_URL));
        assert_eq!(known.url("nope"), None);
        known.env = env;
        assert_eq!(known.url("up"), None, "env repositories hide the files'");
        assert_eq!(known.url("corp-upload"), Some("https://env/"));
    }

    #[test]
    fn config_dir_follows_poetry() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            config_dir(env(&[("POETRY_CONFIG_DIR", "/p"), ("HOME", "/h")])),
            Some("/p".into())
        );
        assert_eq!(
            config_dir(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            Some("/x/pypoetry".into())
        );
        assert_eq!(
            config_dir(env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")])),
            Some("/h/.config/pypoetry".into()),
            "a relative XDG_CONFIG_HOME is ignored"
        );
        assert_eq!(
            config_dir(env(&[("HOME", "/h")])),
            Some("/h/.config/pypoetry".into())
        );
        assert_eq!(config_dir(env(&[])), None);
    }
}
