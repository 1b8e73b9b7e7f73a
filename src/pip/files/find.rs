//! Where pip's files are on Linux, by the rules of pip 26 (`pip/_internal/configuration.py`, its
//! vendored platformdirs, and requests' `get_netrc_auth`).

use std::path::{Path, PathBuf};

/// pip's configuration files, in the order pip reads them (a later one overrides an earlier one).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigFiles {
    /// The system-wide files (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`): not the user's
    /// to rewrite, so only read for their index URLs.
    pub global: Vec<PathBuf>,
    /// The user's own files: the legacy `~/.pip/pip.conf` and `$XDG_CONFIG_HOME/pip/pip.conf`
    /// (unless PIP_CONFIG_FILE names a file that exists), the virtual environment's
    /// `$VIRTUAL_ENV/pip.conf`, and `$PIP_CONFIG_FILE`.
    pub own: Vec<PathBuf>,
}

/// pip's configuration files; `var` reads the environment, `exists` tells whether a path exists.
///
/// The site file is the one of the virtual environment named by VIRTUAL_ENV, the environment an
/// activated venv's pip runs in (pip itself uses its interpreter's `sys.prefix`). With
/// PIP_CONFIG_FILE=/dev/null pip reads no file at all, and neither does this.
pub fn config_files(
    var: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&Path) -> bool,
) -> ConfigFiles {
    let env_file = var("PIP_CONFIG_FILE");
    if env_file.as_deref() == Some("/dev/null") {
        return ConfigFiles::default();
    }
    let absolute = |p: &str| Path::new(p).is_absolute();
    let mut global: Vec<PathBuf> = var("XDG_CONFIG_DIRS")
        .unwrap_or_default()
        .split(':')
        .map(str::trim)
        .filter(|p| absolute(p))
        .map(|dir| Path::new(dir).join("pip/pip.conf"))
        .collect();
    if global.is_empty() {
        global.push(PathBuf::from("/etc/xdg/pip/pip.conf"));
    }
    global.push(PathBuf::from("/etc/pip.conf"));

    let mut own = Vec::new();
    // pip skips the user files when PIP_CONFIG_FILE names a file that exists.
    let env_file_exists = env_file
        .as_deref()
        .is_some_and(|f| !f.is_empty() && exists(Path::new(f)));
    let home = var("HOME").filter(|h| !h.is_empty());
    if !env_file_exists && let Some(home) = &home {
        own.push(Path::new(home).join(".pip/pip.conf"));
        let config_home = var("XDG_CONFIG_HOME")
            .map(|d| d.trim().to_owned())
            .filter(|d| absolute(d))
            .map_or_else(|| Path::new(home).join(".config"), PathBuf::from);
        own.push(config_home.join("pip/pip.conf"));
    }
    if let Some(venv) = var("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        own.push(Path::new(&venv).join("pip.conf"));
    }
    if let Some(file) = env_file.filter(|f| !f.is_empty()) {
        own.push(PathBuf::from(file));
    }
    ConfigFiles { global, own }
}

/// The `.netrc` requests reads for pip: `$NETRC` when set, else the first of `~/.netrc` and
/// `~/_netrc` that exists (`~/.netrc` when neither does); `None` without either variable.
pub fn netrc_path(
    var: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(file) = var("NETRC") {
        return Some(PathBuf::from(file));
    }
    let home = PathBuf::from(var("HOME").filter(|h| !h.is_empty())?);
    let dot = home.join(".netrc");
    let underscore = home.join("_netrc");
    if !exists(&dot) && exists(&underscore) {
        Some(underscore)
    } else {
        Some(dot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn the_user_files_the_venv_and_the_variable_in_pips_order() {
        let files = config_files(
            env(&[
                ("HOME", "/h"),
                ("XDG_CONFIG_HOME", " /x "),
                ("VIRTUAL_ENV", "/v"),
                ("PIP_CONFIG_FILE", "/missing.conf"),
            ]),
            |_| false,
        );
        assert_eq!(
            files.own,
            paths(&[
                "/h/.pip/pip.conf",
                "/x/pip/pip.conf",
                "/v/pip.conf",
                "/missing.conf"
            ])
        );
        assert_eq!(
            files.global,
            paths(&["/etc/xdg/pip/pip.conf", "/etc/pip.conf"])
        );
    }

    #[test]
    fn an_existing_pip_config_file_hides_the_user_files() {
        let files = config_files(
            env(&[("HOME", "/h"), ("PIP_CONFIG_FILE", "/p.conf")]),
            |p| p == Path::new("/p.conf"),
        );
        assert_eq!(files.own, paths(&["/p.conf"]));
    }

    #[test]
    fn relative_xdg_dirs_are_ignored_and_dev_null_reads_nothing() {
        let files = config_files(
            env(&[
                ("HOME", "/h"),
                ("XDG_CONFIG_HOME", "rel"),
                ("XDG_CONFIG_DIRS", "a:/b"),
            ]),
            |_| false,
        );
        assert_eq!(
            files.own,
            paths(&["/h/.pip/pip.conf", "/h/.config/pip/pip.conf"])
        );
        assert_eq!(files.global, paths(&["/b/pip/pip.conf", "/etc/pip.conf"]));
        let none = config_files(
            env(&[("HOME", "/h"), ("PIP_CONFIG_FILE", "/dev/null")]),
            |_| true,
        );
        assert_eq!(none, ConfigFiles::default());
    }

    #[test]
    fn netrc_is_the_variable_else_the_first_existing_home_file() {
        let exists_underscore = |p: &Path| p == Path::new("/h/_netrc");
        assert_eq!(
            netrc_path(env(&[("HOME", "/h"), ("NETRC", "/n")]), exists_underscore),
            Some(PathBuf::from("/n"))
        );
        assert_eq!(
            netrc_path(env(&[("HOME", "/h")]), exists_underscore),
            Some(PathBuf::from("/h/_netrc"))
        );
        assert_eq!(
            netrc_path(env(&[("HOME", "/h")]), |_| false),
            Some(PathBuf::from("/h/.netrc"))
        );
        assert_eq!(netrc_path(env(&[]), |_| false), None);
    }
}
