//! `credd setup uv`.

use anyhow::{Context, Result};
use credd::uv::config::{self, KEYRING_PROVIDER, Location, SUBPROCESS};

use super::python::{FileChange, Tool};

/// uv: `keyring-provider = "subprocess"` in the user's uv.toml.
pub(super) struct Uv;

impl Tool for Uv {
    fn name(&self) -> &'static str {
        "uv"
    }

    fn change(&self) -> Result<FileChange> {
        let location = Location::from_env().context(
            "cannot find your config directory, where uv.toml is: set XDG_CONFIG_HOME or HOME",
        )?;
        let path = location.path().to_owned();
        if let Location::EnvFile(_) = location {
            eprintln!(
                "credd: UV_CONFIG_FILE names {}, so uv reads it instead of your user uv.toml: \
                 editing it",
                path.display()
            );
        }
        let (before, mode) = super::read_optional(&path)?;
        let edit = config::set_keyring_provider(&before)
            .with_context(|| format!("cannot edit {}", path.display()))?;
        if edit.pip_overrides {
            eprintln!(
                "credd: warning: [pip] in {} sets its own {KEYRING_PROVIDER}, which wins for \
                 'uv pip': remove it there",
                path.display()
            );
        }
        super::pip::warn_env(
            "UV_KEYRING_PROVIDER",
            "uv's --keyring-provider and UV_KEYRING_PROVIDER win over uv.toml",
        );
        if std::env::var_os("UV_NO_CONFIG").is_some() {
            eprintln!("credd: warning: UV_NO_CONFIG is set in this shell: uv reads no uv.toml");
        }
        Ok(FileChange {
            path,
            before,
            after: edit.text,
            mode,
            setting: format!("{KEYRING_PROVIDER} = \"{SUBPROCESS}\""),
        })
    }

    fn advise(&self) {
        eprintln!(
            "uv asks a keyring only when it knows a username, or is told to ask:\n  \
             - put the username in the index URL: url = \"https://USER@host/simple/\" (or set \
             UV_INDEX_<NAME>_USERNAME), or\n  \
             - add authenticate = \"always\" to the index's [[index]] (uv.toml) or \
             [[tool.uv.index]] (pyproject.toml) table\n\
             and store the password with 'credd add NAME --url INDEX_URL --username USER'. A \
             project's own uv.toml or [tool.uv] keyring-provider wins over this one."
        );
    }
}
