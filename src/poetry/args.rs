//! What a `poetry` command line says about credentials: which project it works on, and which
//! repository `poetry publish` uploads to.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The parts of a `poetry` command line credd needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PoetryArgs {
    /// `--directory`/`-C`: the working directory.
    pub directory: Option<PathBuf>,
    /// `--project`/`-P`: the project directory (relative to the working directory).
    pub project: Option<PathBuf>,
    /// The command, e.g. `install` (the first word that is not an option).
    pub command: Option<String>,
    /// For `publish`: the repository of `-r`/`--repository`, else `pypi`.
    pub publish_to: Option<String>,
}

impl PoetryArgs {
    /// Reads Poetry's arguments (those after the program name).
    pub fn parse(args: &[OsString]) -> Self {
        let mut out = Self::default();
        let mut words = args.iter().map(|a| a.to_string_lossy().into_owned());
        while let Some(word) = words.next() {
            if word == "--" {
                break;
            }
            if let Some(value) = option_value(&word, "-C", "--directory", &mut words) {
                out.directory = Some(value.into());
            } else if let Some(value) = option_value(&word, "-P", "--project", &mut words) {
                out.project = Some(value.into());
            } else if out.command.is_none() && !word.starts_with('-') {
                out.command = Some(word);
            } else if out.command.as_deref() == Some("publish")
                && let Some(value) = option_value(&word, "-r", "--repository", &mut words)
            {
                out.publish_to = Some(value);
            }
        }
        if out.command.as_deref() == Some("publish") && out.publish_to.is_none() {
            out.publish_to = Some(super::PYPI.to_owned());
        }
        out
    }

    /// The directory Poetry looks for the project in, starting from `cwd`.
    pub fn project_dir(&self, cwd: &Path) -> PathBuf {
        let working = self
            .directory
            .as_ref()
            .map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d));
        self.project
            .as_ref()
            .map_or(working.clone(), |p| working.join(p))
    }
}

/// The value of option `short`/`long` when `word` is that option (`-X V`, `-XV`, `--long V`,
/// `--long=V`); takes the next word when the value is separate.
fn option_value(
    word: &str,
    short: &str,
    long: &str,
    rest: &mut impl Iterator<Item = String>,
) -> Option<String> {
    if word == short || word == long {
        return rest.next();
    }
    if let Some(value) = word.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
        return Some(value.to_owned());
    }
    word.strip_prefix(short)
        .filter(|v| !v.is_empty() && !word.starts_with("--"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> PoetryArgs {
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        PoetryArgs::parse(&args)
    }

    #[test]
    fn publish_repository_in_every_spelling() {
        for line in [
            "publish -r corp",
            "publish -rcorp",
            "publish --repository corp",
            "publish --repository=corp",
            "-v publish --build -r corp --skip-existing",
            "--no-ansi -C dir publish -u x -p y -r corp",
        ] {
            assert_eq!(parse(line).publish_to.as_deref(), Some("corp"), "{line}");
        }
        assert_eq!(parse("publish").publish_to.as_deref(), Some("pypi"));
        assert_eq!(parse("install -r corp").publish_to, None);
        assert_eq!(parse("install -- publish -r x").publish_to, None);
    }

    #[test]
    fn command_and_project_directory() {
        let args = parse("-C /work -P sub lock");
        assert_eq!(args.command.as_deref(), Some("lock"));
        assert_eq!(args.project_dir(Path::new("/cwd")), Path::new("/work/sub"));
        let args = parse("--project=/abs install");
        assert_eq!(args.project_dir(Path::new("/cwd")), Path::new("/abs"));
        let args = parse("--directory rel install");
        assert_eq!(args.project_dir(Path::new("/cwd")), Path::new("/cwd/rel"));
        assert_eq!(
            parse("install").project_dir(Path::new("/cwd")),
            Path::new("/cwd")
        );
    }
}
