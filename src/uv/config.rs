//! uv's user-level settings file, `uv.toml`: where uv reads it, and setting its top-level
//! `keyring-provider` through `toml_edit`, which keeps the file's comments, order and formatting.

use std::path::PathBuf;

use toml_edit::{Item, Value};

use crate::toml_file::{FileError, parse};

/// The setting that chooses how uv asks a keyring.
pub const KEYRING_PROVIDER: &str = "keyring-provider";
/// The provider that makes uv run the `keyring` command it finds on PATH.
pub const SUBPROCESS: &str = "subprocess";

/// The `uv.toml` uv reads the user's settings from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `$UV_CONFIG_FILE`: uv then reads that file instead of every other one.
    EnvFile(PathBuf),
    /// `$XDG_CONFIG_HOME/uv/uv.toml` (an absolute XDG_CONFIG_HOME), else `~/.config/uv/uv.toml`.
    User(PathBuf),
}

impl Location {
    /// The location in this process's environment; `None` without a home directory.
    pub fn from_env() -> Option<Self> {
        if let Some(file) = std::env::var_os("UV_CONFIG_FILE").filter(|f| !f.is_empty()) {
            return Some(Self::EnvFile(PathBuf::from(file)));
        }
        crate::paths::config_home().map(|dir| Self::User(dir.join("uv/uv.toml")))
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::EnvFile(path) | Self::User(path) => path,
        }
    }
}

/// The result of setting uv's keyring provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text (the old text when nothing had to change).
    pub text: String,
    /// Whether `text` differs from the old text.
    pub changed: bool,
    /// Whether `[pip]` sets its own `keyring-provider`, which wins for `uv pip` commands.
    pub pip_overrides: bool,
}

/// Sets the top-level `keyring-provider = "subprocess"`, keeping an existing line's place and
/// comments. Text that already says so is returned unchanged.
pub fn set_keyring_provider(text: &str) -> Result<Edit, FileError> {
    let mut doc = parse(text)?;
    let pip_overrides = doc
        .get("pip")
        .and_then(Item::as_table_like)
        .is_some_and(|pip| {
            pip.get(KEYRING_PROVIDER)
                .is_some_and(|v| v.as_str() != Some(SUBPROCESS))
        });
    let edit = |text: String, changed| Edit {
        text,
        changed,
        pip_overrides,
    };
    match doc.get_mut(KEYRING_PROVIDER) {
        Some(item) if item.as_str() == Some(SUBPROCESS) => return Ok(edit(text.to_owned(), false)),
        Some(Item::Value(value)) => {
            let decor = value.decor().clone();
            *value = Value::from(SUBPROCESS);
            *value.decor_mut() = decor;
        }
        Some(item) => *item = toml_edit::value(SUBPROCESS),
        None => {
            doc.insert(KEYRING_PROVIDER, toml_edit::value(SUBPROCESS));
        }
    }
    Ok(edit(doc.to_string(), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_added_before_the_tables_keeping_the_rest() {
        let text = "# my uv\nnative-tls = true # yes\n\n[[index]]\nname = \"corp\"\n\
                    url = \"https://pkgs.example/simple/\"\n";
        let edit = set_keyring_provider(text).unwrap();
        assert_eq!(
            edit.text,
            "# my uv\nnative-tls = true # yes\nkeyring-provider = \"subprocess\"\n\n[[index]]\n\
             name = \"corp\"\nurl = \"https://pkgs.example/simple/\"\n"
        );
        assert!(edit.changed);
        assert_eq!(
            set_keyring_provider("").unwrap().text,
            "keyring-provider = \"subprocess\"\n"
        );
    }

    #[test]
    fn an_existing_value_is_replaced_in_place() {
        let text = "a = 1\nkeyring-provider   =   \"disabled\"  # old\nb = 2\n";
        assert_eq!(
            set_keyring_provider(text).unwrap().text,
            "a = 1\nkeyring-provider   =   \"subprocess\"  # old\nb = 2\n"
        );
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let once = set_keyring_provider("x = 1\n[pip]\nsystem = true\n").unwrap();
        let twice = set_keyring_provider(&once.text).unwrap();
        assert!(!twice.changed);
        assert_eq!(twice.text, once.text);
    }

    #[test]
    fn a_pip_table_with_its_own_provider_is_reported() {
        let text = "[pip]\nkeyring-provider = \"disabled\"\n";
        assert!(set_keyring_provider(text).unwrap().pip_overrides);
        assert!(!set_keyring_provider("[pip]\n").unwrap().pip_overrides);
    }
}
