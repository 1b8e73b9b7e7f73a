//! `credd setup git`: credd as a credential helper in the user's global git config, written by
//! git's own config writer (`git config --file` on a copy, so that `--dry-run` can show the
//! change as a diff and the real file is replaced in one rename).
//!
//! The helper line names this credd binary by its absolute path (`/path/credd git-credential`):
//! git and libgit2 both run a helper with a `/` in it as it is, with no PATH lookup.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use credd::cargo::config_files::unified_diff;

/// Options of `credd setup git`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Only for this URL (`https://host[:port][/path]`): sets `credential.URL.helper` instead of
    /// `credential.helper`
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Also keep the credentials git confirms (a password typed at git's prompt, or one another
    /// helper answered) in credd, and replace the ones it stored before when they change
    #[arg(long)]
    store_new: bool,
    /// Print the change to the config file as a diff and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Runs `credd setup git`.
pub(super) fn run(args: Args) -> Result<()> {
    let credd = super::front_door()?;
    let helper = helper_line(&credd, args.store_new);
    let keys = match &args.url {
        Some(url) => url_keys(url)?,
        None => vec!["credential.helper".to_owned()],
    };
    let path = global_config()?;
    let shown = path.display().to_string();
    let (before, mode) = super::read_optional(&path)?;
    let after = edited(&path, &before, &keys, &helper)?;
    if args.dry_run {
        print!("{}", unified_diff(&shown, &before, &after));
        eprintln!("credd: dry run: nothing was written");
        return Ok(());
    }
    if before == after {
        eprintln!("credd: {shown} already makes credd git's helper: nothing to change");
    } else {
        super::write_file(&path, &after, mode, super::UMASK_DIR_MODE)?;
        for key in &keys {
            eprintln!("credd: {shown}: set {key} = {helper}");
        }
    }
    warn_other_helpers(&path, &keys)?;
    eprintln!(
        "git now asks credd: store a password with 'credd add NAME --url https://HOST/ --username \
         USER', or move git's plaintext ones with 'credd import git --remove'"
    );
    Ok(())
}

/// The helper line: this binary by absolute path, quoted for the shell git runs it with when
/// the path needs it (git then wants the `!` form, as it would run a quoted path as
/// `git credential-'…'`).
fn helper_line(credd: &Path, store_new: bool) -> String {
    let path = credd.to_string_lossy();
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c));
    let program = if plain {
        path.into_owned()
    } else {
        format!("!'{}'", path.replace('\'', r"'\''"))
    };
    let store = if store_new { " --store-new" } else { "" };
    format!("{program} git-credential{store}")
}

/// The keys for one URL: `credential.URL.helper`, and when the URL has a port, also
/// `credential.SCHEME://HOST.helper`, the only URL key libgit2 (Cargo's default git) looks at
/// besides the exact repository URL: it drops the port.
fn url_keys(url: &str) -> Result<Vec<String>> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| u.host_str().is_some() && u.username().is_empty() && u.password().is_none())
        .with_context(|| {
            "--url wants a URL such as https://git.corp.example:8443 (without a username or \
             password in it)"
        })?;
    let trimmed = url.trim_end_matches('/');
    let mut keys = vec![format!("credential.{trimmed}.helper")];
    if let (Some(_), Some(host)) = (parsed.port(), parsed.host_str()) {
        keys.push(format!("credential.{}://{host}.helper", parsed.scheme()));
    }
    Ok(keys)
}

/// The user's global git config file, as `git config --global` chooses it: GIT_CONFIG_GLOBAL,
/// else ~/.gitconfig when it exists or the XDG one does not, else $XDG_CONFIG_HOME/git/config.
/// (libgit2 does not read GIT_CONFIG_GLOBAL: Cargo's default git then reads ~/.gitconfig.)
fn global_config() -> Result<PathBuf> {
    if let Some(file) = std::env::var_os("GIT_CONFIG_GLOBAL").filter(|f| !f.is_empty()) {
        return Ok(PathBuf::from(file));
    }
    let home = super::home()?;
    let dot = home.join(".gitconfig");
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map_or_else(|| home.join(".config"), PathBuf::from)
        .join("git/config");
    Ok(if !dot.exists() && xdg.exists() {
        xdg
    } else {
        dot
    })
}

/// `before` with `helper` set for each key by git's own writer: an existing credd helper line
/// is replaced (say, to add --store-new), others are kept, and credd is added after them.
fn edited(path: &Path, before: &str, keys: &[String], helper: &str) -> Result<String> {
    let dir = path
        .parent()
        .context("the git config file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let copy = credd::atomic::Scratch::beside(path, before.as_bytes())
        .with_context(|| format!("cannot write a copy of {} beside it", path.display()))?;
    edit_copy(copy.path(), keys, helper)?;
    std::fs::read_to_string(copy.path()).context("cannot read git's edit back")
}

fn edit_copy(copy: &Path, keys: &[String], helper: &str) -> Result<()> {
    for key in keys {
        let values = get_all(copy, key)?;
        if values.iter().any(|v| v == helper) {
            continue;
        }
        match values.iter().find(|v| is_credd(v)) {
            Some(old) => git_config(copy, &["--fixed-value", "--replace-all", key, helper, old])?,
            None => git_config(copy, &["--add", key, helper])?,
        }
    }
    Ok(())
}

/// True for a helper line that runs some credd: `credd` (the `git-credential-credd` link), or a
/// credd binary's `git-credential`.
fn is_credd(value: &str) -> bool {
    let words: Vec<&str> = value.split_whitespace().collect();
    words.first() == Some(&"credd")
        || words
            .windows(2)
            .any(|w| w[0].trim_matches('\'').ends_with("credd") && w[1] == "git-credential")
}

/// Every value of `key` in `file`.
fn get_all(file: &Path, key: &str) -> Result<Vec<String>> {
    let out = git(file, &["--get-all", key])?;
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()),
        // 1: the key is not set.
        Some(1) => Ok(Vec::new()),
        _ => bail!(
            "git cannot read {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

fn git_config(file: &Path, args: &[&str]) -> Result<()> {
    let out = git(file, args)?;
    if !out.status.success() {
        bail!(
            "git config failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `git config --file FILE ARGS`.
fn git(file: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(file)
        .args(args)
        .output()
        .context("cannot run git, which writes its own config: is git installed and on PATH?")
}

/// Warns about helpers that answer before credd, or that keep passwords in plaintext.
fn warn_other_helpers(path: &Path, keys: &[String]) -> Result<()> {
    for key in keys {
        for value in get_all(path, key)?.iter().filter(|v| !is_credd(v)) {
            if value.is_empty() {
                continue;
            }
            let why = if value.split_whitespace().next() == Some("store") {
                "it writes every password git confirms in plaintext to ~/.git-credentials"
            } else {
                "git asks the helpers in order, so it may answer before credd"
            };
            eprintln!(
                "credd: warning: {key} also names '{value}': {why}; remove it with 'git config \
                 --global --fixed-value --unset {key} {value:?}' if credd should answer alone"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_line_names_this_binary_quoted_when_needed() {
        assert_eq!(
            helper_line(Path::new("/usr/local/bin/credd"), false),
            "/usr/local/bin/credd git-credential"
        );
        assert_eq!(
            helper_line(Path::new("/home/a b/it's/credd"), true),
            r"!'/home/a b/it'\''s/credd' git-credential --store-new"
        );
        assert!(is_credd("/usr/local/bin/credd git-credential --store-new"));
        assert!(is_credd(r"!'/home/a b/credd' git-credential"));
        assert!(is_credd("credd --store-new"));
        assert!(!is_credd("store"));
        assert!(!is_credd("!credd-like git-credential"));
    }

    #[test]
    fn a_url_with_a_port_gets_libgit2s_key_without_it_too() {
        assert_eq!(
            url_keys("https://git.corp:8443/").unwrap(),
            [
                "credential.https://git.corp:8443.helper",
                "credential.https://git.corp.helper"
            ]
        );
        assert_eq!(
            url_keys("https://git.corp/repos").unwrap(),
            ["credential.https://git.corp/repos.helper"]
        );
        assert!(url_keys("https://u:pw@git.corp/").is_err());
        assert!(url_keys("git.corp").is_err());
    }
}
