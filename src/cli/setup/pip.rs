//! `credd setup pip`.

use std::path::Path;

use anyhow::{Context, Result};
use credd::pip::files::{self, KEYRING_PROVIDER, SUBPROCESS, UserFile};

use super::python::{FileChange, Tool};

/// pip: `keyring-provider = subprocess` in `[global]` of the user's pip.conf.
pub(super) struct Pip;

impl Tool for Pip {
    fn name(&self) -> &'static str {
        "pip"
    }

    fn change(&self) -> Result<FileChange> {
        let location = files::user_file(
            |name| std::env::var(name).ok(),
            Path::exists,
            credd::toml_file::read_optional,
            KEYRING_PROVIDER,
        )?;
        let path = location.path().to_owned();
        match &location {
            UserFile::EnvFile(_) => eprintln!(
                "credd: PIP_CONFIG_FILE names {}, so pip reads it instead of your user pip.conf: \
                 editing it",
                path.display()
            ),
            UserFile::Legacy { user, .. } => eprintln!(
                "credd: {} sets {KEYRING_PROVIDER} and {} does not: editing the former, as \
                 'pip config --user set' would",
                path.display(),
                user.display()
            ),
            UserFile::User(_) => {}
        }
        let (before, mode) = super::read_optional(&path)?;
        let edit = files::set_global(&before, KEYRING_PROVIDER, SUBPROCESS)
            .with_context(|| format!("cannot edit {}", path.display()))?;
        for section in &edit.overridden_in {
            eprintln!(
                "credd: warning: [{section}] in {} sets its own {KEYRING_PROVIDER}, which wins \
                 over [global] for 'pip {section}': remove it there",
                path.display()
            );
        }
        warn_env(
            "PIP_KEYRING_PROVIDER",
            "pip's --keyring-provider and PIP_KEYRING_PROVIDER win over pip.conf",
        );
        Ok(FileChange {
            path,
            before,
            after: edit.text,
            mode,
            setting: format!("[global] {KEYRING_PROVIDER} = {SUBPROCESS}"),
        })
    }

    fn advise(&self) {
        eprintln!(
            "pip now runs credd as `keyring` when an index answers 401: store the index's \
             password with 'credd add NAME --url INDEX_URL --username USER'"
        );
    }
}

/// Warns when the environment variable `var` sets the provider to something else.
pub(super) fn warn_env(var: &str, why: &str) {
    if let Some(value) = std::env::var_os(var)
        && value != SUBPROCESS
    {
        eprintln!(
            "credd: warning: {var} is set to {:?} in this shell: {why}; unset it, or set it to \
             {SUBPROCESS}",
            value.to_string_lossy()
        );
    }
}
