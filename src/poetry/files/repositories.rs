//! How Poetry turns a repository's name into its URL, and a project's sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{Item, TableLike};

use crate::poetry::{PYPI, PYPI_UPLOAD_URL};
use crate::toml_file::{FileError, parse, shape};

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

/// The URL of every repository of a Poetry `config.toml` or `poetry.toml`, by the name Poetry
/// finds it by: each key of `[repositories]` whole, dots included, as Poetry 2 reads the setting
/// (`["repositories", NAME, "url"]`) and as `poetry config repositories.my.repo URL` writes it
/// (`[repositories."my.repo"]`); a nested `[repositories.a.b]` is no repository `a.b`. An empty
/// `url` counts as none.
pub fn repository_urls(config: &str) -> Result<BTreeMap<String, String>, FileError> {
    let doc = parse(config)?;
    let mut urls = BTreeMap::new();
    if let Some(repositories) = doc.get("repositories").and_then(Item::as_table_like) {
        for (name, item) in repositories.iter() {
            let url = item
                .as_table_like()
                .and_then(|table| table.get("url"))
                .and_then(Item::as_str)
                .filter(|u| !u.is_empty());
            if let Some(url) = url {
                urls.insert(name.to_owned(), url.to_owned());
            }
        }
    }
    Ok(urls)
}

/// The variable Poetry reads first for repository `name`'s URL: `POETRY_REPOSITORIES_<NAME>_URL`,
/// NAME upper case with `-` as `_` and its dots kept (Poetry's `Config.get` builds it from the
/// keys `["repositories", NAME, "url"]`). The Python backend's `poetry_repository_url` follows
/// the same rule.
pub fn repository_env_var(name: &str) -> String {
    // Unicode upper case, as Python's `str.upper` that Poetry uses.
    let name = name.to_uppercase().replace('-', "_");
    format!("POETRY_REPOSITORIES_{name}_URL")
}

/// Why the files naming repository URLs cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not what Poetry would read.
    #[error("cannot read {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: FileError,
    },
}

/// The repository URLs Poetry knows, and the project's sources: the one place where a
/// repository's name becomes a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryUrls {
    /// The `POETRY_REPOSITORIES_*_URL` variables that are not empty, by variable name.
    pub env: BTreeMap<String, String>,
    /// From the project's `poetry.toml`.
    pub local: BTreeMap<String, String>,
    /// From Poetry's `config.toml`.
    pub global: BTreeMap<String, String>,
    /// The project's sources that have a URL, by name (the first of a name).
    pub sources: BTreeMap<String, String>,
}

impl RepositoryUrls {
    /// Reads what Poetry reads for a project in `project_dir`: the variables of `vars`, the
    /// `poetry.toml` beside the project's `pyproject.toml`, `config.toml` in Poetry's
    /// `config_dir`, and the project's sources. Missing files count as empty.
    pub fn read(
        project_dir: &Path,
        config_dir: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ReadError> {
        let env = vars
            .into_iter()
            .filter(|(key, value)| {
                key.starts_with("POETRY_REPOSITORIES_")
                    && key.ends_with("_URL")
                    && !value.is_empty()
            })
            .collect();
        let pyproject = super::find_pyproject(project_dir);
        let local = match &pyproject {
            Some(pyproject) => read_urls(&pyproject.with_file_name("poetry.toml"))?,
            None => BTreeMap::new(),
        };
        let global = match config_dir {
            Some(dir) => read_urls(&dir.join("config.toml"))?,
            None => BTreeMap::new(),
        };
        let mut sources = BTreeMap::new();
        if let Some(pyproject) = &pyproject {
            let text = read_file(pyproject)?;
            let found = project_sources(&text).map_err(|source| ReadError::File {
                path: pyproject.clone(),
                source,
            })?;
            for source in found.into_iter().filter(|s| !s.url.is_empty()) {
                sources.entry(source.name).or_insert(source.url);
            }
        }
        Ok(Self {
            env,
            local,
            global,
            sources,
        })
    }

    /// The URL of repository `name` as `poetry publish -r NAME` finds it: its variable, else the
    /// project's `poetry.toml`, else `config.toml`; PyPI's upload URL for `pypi`.
    pub fn url(&self, name: &str) -> Option<&str> {
        self.env
            .get(&repository_env_var(name))
            .or_else(|| self.local.get(name))
            .or_else(|| self.global.get(name))
            .map(String::as_str)
            .or((name == PYPI).then_some(PYPI_UPLOAD_URL))
    }

    /// The URL a credential Poetry keeps for `name` serves: the repository's [`url`](Self::url),
    /// else the URL of the project's source of that name (Poetry looks up a source's
    /// credentials by its name too).
    pub fn credential_url(&self, name: &str) -> Option<&str> {
        self.url(name)
            .or_else(|| self.sources.get(name).map(String::as_str))
    }
}

/// The repository URLs of the Poetry config file at `path` (none when it does not exist).
fn read_urls(path: &Path) -> Result<BTreeMap<String, String>, ReadError> {
    repository_urls(&read_file(path)?).map_err(|source| ReadError::File {
        path: path.to_owned(),
        source,
    })
}

fn read_file(path: &Path) -> Result<String, ReadError> {
    super::read_optional(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let config = "[repositories.up]\nurl = \"https://up/\"\n[repositories.nourl]\n\
                      [repositories.empty]\nurl = \"\"\n[repositories.a.b]\nurl = \"https://ab/\"\n\
                      [repositories.\"c.d\"]\nurl = \"https://never/\"\n";
        let urls = repository_urls(config).unwrap();
        assert_eq!(urls.keys().collect::<Vec<_>>(), ["c.d", "up"]);
        let mut known = RepositoryUrls {
            global: urls,
            local: [("up".to_owned(), "https://local-up/".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            known.url("up"),
            Some("https://local-up/"),
            "poetry.toml first"
        );
        assert_eq!(known.url("a.b"), None);
        assert_eq!(known.url("c.d"), Some("https://never/"));
        assert_eq!(known.url("pypi"), Some(PYPI_UPLOAD_URL));
        assert_eq!(known.url("nope"), None);
        known.env = [
            ("POETRY_REPOSITORIES_CORP_UPLOAD_URL", "https://env/"),
            ("POETRY_REPOSITORIES_A.B_URL", "https://env-ab/"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        assert_eq!(
            known.url("up"),
            Some("https://local-up/"),
            "other variables hide nothing"
        );
        assert_eq!(known.url("corp-upload"), Some("https://env/"));
        assert_eq!(known.url("Corp.Upload"), None);
        assert_eq!(
            known.url("a.b"),
            Some("https://env-ab/"),
            "the variable comes first"
        );
        known.sources = [("src".to_owned(), "https://src/".to_owned())].into();
        assert_eq!(known.url("src"), None);
        assert_eq!(known.credential_url("src"), Some("https://src/"));
        assert_eq!(known.credential_url("up"), Some("https://local-up/"));
    }

    #[test]
    fn repository_variables_are_named_like_poetry_names_them() {
        assert_eq!(repository_env_var("corp"), "POETRY_REPOSITORIES_CORP_URL");
        assert_eq!(
            repository_env_var("my-repo.v2"),
            "POETRY_REPOSITORIES_MY_REPO.V2_URL"
        );
    }
}
