//! `credd setup docker`: `credsStore` (or `credHelpers` for the registries given) set to
//! `credd` in docker's config.json, the rest of the file kept (its key order too), and
//! `docker-credential-credd` linked to credd in the bin directory, where docker finds it on PATH.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use credd::cargo::config_files::unified_diff;
use credd::docker::credential as docker;
use serde_json::{Map, Value};

use super::link::{Link, inspect, make_link};

/// The helper's name in config.json: docker runs `docker-credential-credd`.
const HELPER: &str = "credd";

/// Options of `credd setup docker`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Only for this registry (`host[:port]`, as in `docker login HOST`; `docker.io` for Docker
    /// Hub): sets `credHelpers.HOST` instead of `credsStore`; may be given several times
    #[arg(long, value_name = "HOST")]
    registry: Vec<String>,
    /// Where to link `docker-credential-credd` to credd; it must be on PATH [default:
    /// ~/.local/bin]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Print the changes (the link, and config.json as a diff with secrets hidden) and write
    /// nothing
    #[arg(long)]
    dry_run: bool,
}

/// Runs `credd setup docker`.
pub(super) fn run(args: Args) -> Result<()> {
    let bin_dir = super::bin_dir(args.bin_dir)?;
    let credd = super::front_door()?;
    let link_path = bin_dir.join(crate::front::docker_credential::PROGRAM);
    let link = inspect(
        &link_path,
        &credd,
        "another docker credential helper",
        "credd setup docker",
    )?;
    let path = docker::config_path()
        .context("cannot find docker's config: set DOCKER_CONFIG, or HOME for ~/.docker")?;
    let shown = path.display().to_string();
    let (before_text, mode) = match super::read_optional(&path)? {
        // docker writes config.json 0600: it may hold passwords.
        (text, _) if text.is_empty() => (text, 0o600),
        found => found,
    };
    let before = docker::parse_config(&before_text)
        .map_err(|why| anyhow::anyhow!("cannot read {shown}: {why}: fix it by hand"))?;
    let after = with_helper(&before, &args.registry)?;
    if args.dry_run {
        if link != Link::Ours {
            println!("link {} -> {}", link_path.display(), credd.display());
        }
        let old = docker::render_config(&docker::redacted(&before));
        let new = docker::render_config(&docker::redacted(&after));
        print!("{}", unified_diff(&shown, &old, &new));
        eprintln!("credd: dry run: nothing was written");
        return Ok(());
    }
    make_link(&link_path, &credd, &link)?;
    if before == after {
        eprintln!("credd: {shown} already names credd: nothing to change");
    } else {
        let text = docker::render_config(&after);
        super::write_file(&path, &text, mode, 0o700)?;
        match args.registry.as_slice() {
            [] => eprintln!("credd: {shown}: set credsStore = {HELPER}"),
            hosts => eprintln!(
                "credd: {shown}: credHelpers {} = {HELPER}",
                hosts.join(", ")
            ),
        }
    }
    warn_plaintext(&after, &shown);
    let standing = super::path_standing(&bin_dir, crate::front::docker_credential::PROGRAM);
    if !standing.first {
        super::advise_path_first(&bin_dir);
    }
    eprintln!(
        "docker now asks credd: 'docker login HOST' stores the credential in credd, or add one \
         with 'credd add NAME --url https://HOST/ --username USER'"
    );
    Ok(())
}

/// `config` with credd as the store, or as the helper of each of `registries`.
fn with_helper(config: &Map<String, Value>, registries: &[String]) -> Result<Map<String, Value>> {
    let mut after = config.clone();
    if registries.is_empty() {
        if let Some(Value::String(old)) = after.get("credsStore")
            && old != HELPER
        {
            eprintln!(
                "credd: warning: credsStore was '{old}': docker stops asking it, so log in again \
                 to the registries it served (or import them by hand)"
            );
        }
        after.insert("credsStore".into(), Value::from(HELPER));
        return Ok(after);
    }
    let helpers = after
        .entry("credHelpers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(helpers) = helpers else {
        bail!("credHelpers in docker's config is not an object: fix it by hand");
    };
    for registry in registries {
        helpers.insert(helper_key(registry)?, Value::from(HELPER));
    }
    Ok(after)
}

/// Docker Hub's key in config.json: docker asks about it by its v1 index address, whatever name
/// it was given as (`docker.io`, `index.docker.io`, `registry-1.docker.io`).
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The `credHelpers` key docker looks `registry` up by: the host (and port) of any form docker
/// login accepts (`https://ghcr.io/` is `ghcr.io`), Docker Hub's v1 index address for Docker Hub.
fn helper_key(registry: &str) -> Result<String> {
    let bare = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let host = bare.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        bail!("{registry:?} is not a registry: give its host[:port], as in 'docker login HOST'");
    }
    Ok(match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        host => host.to_owned(),
    })
}

/// Warns when `auths` still holds secrets in plaintext.
fn warn_plaintext(config: &Map<String, Value>, shown: &str) {
    let Some(Value::Object(auths)) = config.get("auths") else {
        return;
    };
    let plain: Vec<&str> = auths
        .iter()
        .filter(|(_, v)| {
            v.as_object()
                .is_some_and(|f| docker::SECRET_FIELDS.iter().any(|k| f.contains_key(*k)))
        })
        .map(|(k, _)| k.as_str())
        .collect();
    if !plain.is_empty() {
        eprintln!(
            "credd: warning: {shown} still holds the credentials of {} in plaintext: move them \
             with 'credd import docker --remove'",
            plain.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_keyed_as_docker_looks_them_up() {
        let registries = [
            "docker.io",
            "https://ghcr.io/",
            "r.corp.test:5000",
            "index.docker.io",
        ]
        .map(String::from);
        let after = with_helper(&Map::new(), &registries).unwrap();
        let keys: Vec<&String> = after["credHelpers"].as_object().unwrap().keys().collect();
        assert_eq!(keys, [DOCKER_HUB, "ghcr.io", "r.corp.test:5000"]);
        for bad in ["", "https://", "a b"] {
            assert!(
                with_helper(&Map::new(), &[bad.to_owned()]).is_err(),
                "{bad:?}"
            );
        }
    }
}
