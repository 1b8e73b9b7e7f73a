//! Where Cargo's files are: its home, and in it the config and credentials files Cargo reads.

use std::path::{Path, PathBuf};

/// Cargo's home: `$CARGO_HOME`, else `~/.cargo`; `None` when neither variable is set.
pub fn cargo_home() -> Option<PathBuf> {
    let non_empty = |var| std::env::var_os(var).filter(|v| !v.is_empty());
    non_empty("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// The config file Cargo reads in `home`: the legacy `config` when it exists (Cargo prefers it
/// over `config.toml`), else `config.toml` (which may not exist yet).
pub fn config_path(home: &Path) -> PathBuf {
    legacy_or_toml(home, "config")
}

/// The credentials file Cargo reads in `home`: the legacy `credentials` when it exists, else
/// `credentials.toml`.
pub fn credentials_path(home: &Path) -> PathBuf {
    legacy_or_toml(home, "credentials")
}

fn legacy_or_toml(home: &Path, stem: &str) -> PathBuf {
    let legacy = home.join(stem);
    if legacy.exists() {
        legacy
    } else {
        home.join(format!("{stem}.toml"))
    }
}

/// The path Cargo ignores because a legacy file without extension exists beside it, if any.
pub fn ignored_beside(path: &Path) -> Option<PathBuf> {
    if path.extension().is_some() {
        return None;
    }
    let shadowed = path.with_extension("toml");
    let same = match (
        std::fs::canonicalize(path),
        std::fs::canonicalize(&shadowed),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => true,
    };
    (!same).then_some(shadowed)
}
