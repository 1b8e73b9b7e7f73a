//! Where pip's files are on Linux, by the rules of pip 26 (`pip/_internal/configuration.py`, its
//! vendored platformdirs, and requests' `get_netrc_auth`): the files `credd import pip` reads and
//! the one `credd setup pip` edits come from the same rules here.

use std::path::{Path, PathBuf};

use super::config::{ConfigError, has_global};

/// The value of PIP_CONFIG_FILE with which pip reads no configuration file at all.
const NO_FILE: &str = "/dev/null";

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

/// `$PIP_CONFIG_FILE`, when set and not empty.
fn env_file(var: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    var("PIP_CONFIG_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
}

/// pip's two user files, in the order pip reads them: the legacy `~/.pip/pip.conf`, then
/// `$XDG_CONFIG_HOME/pip/pip.conf` (an absolute XDG_CONFIG_HOME, trimmed, as pip's platformdirs
/// takes it; else `~/.config/pip/pip.conf`). `None` without a home directory.
fn user_files(var: &impl Fn(&str) -> Option<String>) -> Option<[PathBuf; 2]> {
    let home = PathBuf::from(var("HOME").filter(|h| !h.is_empty())?);
    let config_home = var("XDG_CONFIG_HOME")
        .map(|d| d.trim().to_owned())
        .filter(|d| Path::new(d).is_absolute())
        .map_or_else(|| home.join(".config"), PathBuf::from);
    Some([home.join(".pip/pip.conf"), config_home.join("pip/pip.conf")])
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
    let env_file = env_file(&var);
    if env_file.as_deref() == Some(Path::new(NO_FILE)) {
        return ConfigFiles::default();
    }
    let mut global: Vec<PathBuf> = var("XDG_CONFIG_DIRS")
        .unwrap_or_default()
        .split(':')
        .map(str::trim)
        .filter(|p| Path::new(p).is_absolute())
        .map(|dir| Path::new(dir).join("pip/pip.conf"))
        .collect();
    if global.is_empty() {
        global.push(PathBuf::from("/etc/xdg/pip/pip.conf"));
    }
    global.push(PathBuf::from("/etc/pip.conf"));

    let mut own = Vec::new();
    // pip skips the user files when PIP_CONFIG_FILE names a file that exists.
    if !env_file.as_deref().is_some_and(&exists) {
        own.extend(user_files(&var).into_iter().flatten());
    }
    if let Some(venv) = var("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        own.push(Path::new(&venv).join("pip.conf"));
    }
    own.extend(env_file);
    ConfigFiles { global, own }
}

/// The `pip.conf` whose `[global]` section `credd setup pip` edits: the last file pip reads of
/// the user's, so the one whose setting wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserFile {
    /// `$PIP_CONFIG_FILE`, an existing file: pip then reads no user file at all.
    EnvFile(PathBuf),
    /// `$XDG_CONFIG_HOME/pip/pip.conf` (else `~/.config/pip/pip.conf`): pip's user file, which
    /// wins over the legacy one.
    User(PathBuf),
    /// `~/.pip/pip.conf`, the legacy user file, when it sets the key and `user` does not.
    Legacy {
        /// The legacy file.
        legacy: PathBuf,
        /// The user file, which does not set the key.
        user: PathBuf,
    },
}

impl UserFile {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            Self::EnvFile(path) | Self::User(path) | Self::Legacy { legacy: path, .. } => path,
        }
    }
}

/// Picks the file to set `[global] key` in as pip's `config --user set` does: an existing
/// `$PIP_CONFIG_FILE`; else the user file, unless only the legacy one already sets `key`.
/// `var` reads the environment, `exists` tells whether a path exists, `read` gives a file's text
/// (empty when it does not exist).
pub fn user_file(
    var: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&Path) -> bool,
    read: impl Fn(&Path) -> std::io::Result<String>,
    key: &str,
) -> Result<UserFile, LocateError> {
    if let Some(file) = env_file(&var) {
        if file == Path::new(NO_FILE) {
            return Err(LocateError::NoConfig);
        }
        if exists(&file) {
            return Ok(UserFile::EnvFile(file));
        }
    }
    let [legacy, user] = user_files(&var).ok_or(LocateError::NoHome)?;
    let sets_key = |path: &Path| -> Result<bool, LocateError> {
        let text = read(path).map_err(|e| LocateError::Read {
            path: path.to_owned(),
            kind: e.kind(),
        })?;
        has_global(&text, key).map_err(|error| LocateError::Parse {
            path: path.to_owned(),
            error,
        })
    };
    if !sets_key(&user)? && sets_key(&legacy)? {
        return Ok(UserFile::Legacy { legacy, user });
    }
    Ok(UserFile::User(user))
}

/// Why no `pip.conf` could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// `PIP_CONFIG_FILE=/dev/null`: pip reads no config file at all.
    #[error(
        "PIP_CONFIG_FILE is /dev/null, so pip reads no config file: unset it, or set \
         PIP_KEYRING_PROVIDER=subprocess instead"
    )]
    NoConfig,
    /// No home directory, where the user files are.
    #[error("cannot find your home directory, where pip.conf is: set HOME")]
    NoHome,
    /// A candidate could not be read.
    #[error("cannot read {}: {kind}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        kind: std::io::ErrorKind,
    },
    /// A candidate is not a file pip can load.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        error: ConfigError,
    },
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
    fn the_legacy_file_is_edited_only_when_it_alone_sets_the_key() {
        fn pick(
            pairs: &'static [(&'static str, &'static str)],
            files: &[(&str, &str)],
        ) -> UserFile {
            let text = |p: &Path| {
                files
                    .iter()
                    .find(|(f, _)| Path::new(f) == p)
                    .map(|(_, t)| *t)
            };
            let read = |p: &Path| Ok(text(p).unwrap_or_default().to_owned());
            user_file(env(pairs), |p| text(p).is_some(), read, "keyring-provider").unwrap()
        }
        let home = &[("HOME", "/h")];
        let user = PathBuf::from("/h/.config/pip/pip.conf");
        let legacy = PathBuf::from("/h/.pip/pip.conf");
        assert_eq!(pick(home, &[]), UserFile::User(user.clone()));
        let legacy_sets = ("/h/.pip/pip.conf", "[global]\nkeyring_provider = import\n");
        assert_eq!(
            pick(home, &[legacy_sets]),
            UserFile::Legacy {
                legacy: legacy.clone(),
                user: user.clone()
            }
        );
        let user_sets = (
            "/h/.config/pip/pip.conf",
            "[global]\nkeyring-provider = auto\n",
        );
        assert_eq!(pick(home, &[legacy_sets, user_sets]), UserFile::User(user));
        let with_env = &[("HOME", "/h"), ("PIP_CONFIG_FILE", "/h/.pip/pip.conf")];
        assert_eq!(pick(with_env, &[legacy_sets]), UserFile::EnvFile(legacy));
    }

    #[test]
    fn setup_refuses_dev_null_and_a_broken_candidate() {
        let none = |_: &Path| false;
        let empty = |_: &Path| Ok(String::new());
        let dev_null = env(&[("HOME", "/h"), ("PIP_CONFIG_FILE", "/dev/null")]);
        assert!(matches!(
            user_file(dev_null, none, empty, "k"),
            Err(LocateError::NoConfig)
        ));
        assert!(matches!(
            user_file(env(&[]), none, empty, "k"),
            Err(LocateError::NoHome)
        ));
        let broken = |_: &Path| Ok("k = v\n".to_owned());
        assert!(matches!(
            user_file(env(&[("HOME", "/h")]), none, broken, "k"),
            Err(LocateError::Parse {
                error: ConfigError::NoSection(1),
                ..
            })
        ));
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
