//! `credd import docker`: the credentials docker keeps in plaintext in config.json's `auths`
//! (`{"auth": base64("USER:PASSWORD")}`, or `{"identitytoken": TOKEN}` for username `<token>`).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use credd::docker::credential::{self as docker, IDENTITY_TOKEN_USERNAME, IMPORTED_NOTE};
use credd_protocol::{Entry, Secret};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Adapter, Candidate, ToolFile};

/// docker's config.json, as `credd import docker` reads it.
pub(super) struct Docker {
    path: PathBuf,
}

impl Docker {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub(super) fn locate() -> Result<Self> {
        let path = docker::config_path()
            .context("cannot find docker's config: set DOCKER_CONFIG, or HOME for ~/.docker")?;
        Ok(Self { path })
    }
}

impl Adapter for Docker {
    /// The registry's key in `auths`.
    type Key = String;
    const COMMAND: &'static str = "credd import docker";
    const NOUN: &'static str = "credential";
    const PLURAL: &'static str = "credentials";

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<String>>> {
        let mut candidates = Vec::new();
        for (index, file) in files.iter().enumerate() {
            let config = docker::parse_config(&file.text)
                .map_err(|why| anyhow!("cannot read {}: {why}", file.shown))?;
            let Some(Value::Object(auths)) = config.get("auths") else {
                continue;
            };
            for (registry, fields) in auths {
                match entry_of(registry, fields) {
                    Ok(Some(entry)) => candidates.push(Candidate {
                        file: index,
                        key: registry.clone(),
                        label: registry.clone(),
                        entry,
                    }),
                    Ok(None) => {}
                    Err(why) => eprintln!(
                        "credd: warning: skipped {registry}: {why}; it stays in {}",
                        file.shown
                    ),
                }
            }
        }
        Ok(candidates)
    }

    fn remove(text: &str, keys: &[String]) -> Result<Zeroizing<String>> {
        let mut config = docker::parse_config(text).map_err(|why| anyhow!("{why}"))?;
        if let Some(Value::Object(auths)) = config.get_mut("auths") {
            for key in keys {
                // docker keeps `"HOST": {}` for a registry whose credential is in a helper.
                if let Some(Value::Object(fields)) = auths.get_mut(key) {
                    for field in docker::SECRET_FIELDS.iter().chain(&["username", "email"]) {
                        fields.remove(*field);
                    }
                }
            }
        }
        Ok(docker::render_config(&config))
    }

    fn next_step(&self) -> Option<String> {
        Some("'credd setup docker' makes docker ask credd for them".to_owned())
    }
}

/// The entry of one `auths` item: None when it holds no credential (a helper keeps it).
fn entry_of(registry: &str, fields: &Value) -> Result<Option<Entry>, &'static str> {
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (username, secret) = if let Some(token) = text("identitytoken") {
        (IDENTITY_TOKEN_USERNAME.to_owned(), Secret::new(token))
    } else if let Some(auth) = text("auth") {
        let decoded = docker::base64_decode(auth).ok_or("its auth is not base64")?;
        let decoded = std::str::from_utf8(&decoded).map_err(|_| "its auth is not UTF-8")?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or("its auth is not USER:PASSWORD")?;
        (user.to_owned(), Secret::new(password))
    } else {
        return Ok(None);
    };
    Ok(Some(Entry {
        name: format!("{username}@{registry}").replace(['<', '>'], ""),
        url: registry.to_owned(),
        username: Some(username),
        secret,
        expires: None,
        note: Some(IMPORTED_NOTE.to_owned()),
        publish: false,
        source: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_identity_tokens_become_entries_and_leave_the_file() {
        let text = "{\n\t\"auths\": {\n\t\t\"r.test:5000\": {\n\t\t\t\"auth\": \"dTpwOnc=\"\n\t\t},\n\
            \t\t\"https://index.docker.io/v1/\": {\n\t\t\t\"identitytoken\": \"tok\"\n\t\t},\n\
            \t\t\"kept.test\": {}\n\t},\n\t\"psFormat\": \"x\"\n}";
        let config = docker::parse_config(text).unwrap();
        let auths = config["auths"].as_object().unwrap();
        let entry = entry_of("r.test:5000", &auths["r.test:5000"])
            .unwrap()
            .unwrap();
        assert_eq!(entry.username.as_deref(), Some("u"));
        assert_eq!(entry.secret.expose(), "p:w");
        assert_eq!(entry.name, "u@r.test:5000");
        let hub = "https://index.docker.io/v1/";
        let entry = entry_of(hub, &auths[hub]).unwrap().unwrap();
        assert_eq!(entry.username.as_deref(), Some("<token>"));
        assert_eq!(entry.name, "token@https://index.docker.io/v1/");
        assert!(
            entry_of("kept.test", &auths["kept.test"])
                .unwrap()
                .is_none()
        );
        let out = Docker::remove(text, &["r.test:5000".into(), hub.into()]).unwrap();
        assert_eq!(
            out.as_str(),
            "{\n\t\"auths\": {\n\t\t\"r.test:5000\": {},\n\t\t\"https://index.docker.io/v1/\": {},\n\
             \t\t\"kept.test\": {}\n\t},\n\t\"psFormat\": \"x\"\n}"
        );
    }
}
