//! Where Poetry's files are: its config directory, and a project's `pyproject.toml`.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

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
