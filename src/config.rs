//! The agent's settings, read from `$XDG_CONFIG_HOME/credd/config.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use credd_protocol::StoreKind;
use serde::Deserialize;

/// Agent settings; every field has a default, and unknown keys are errors (typos must not pass
/// silently in a security setting).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Seconds without a `get` after which the agent locks itself.
    pub idle_timeout: u64,
    /// Seconds after an unlock at which the agent locks whatever the use.
    pub max_unlock: u64,
    /// Connections served at once; beyond it a new one gets a `busy` reply. Read at start only.
    pub max_connections: usize,
    /// Seconds a connection may take to send its next complete request before it is closed.
    /// A reload applies to connections opened after it.
    pub read_timeout: u64,
    /// Where secrets are kept at rest: `vault` (credd's encrypted file, the default) or `keyring`
    /// (the OS keychain). `credd init --store` writes it. Read at start only.
    pub store: StoreKind,
    /// When socket-activated by systemd: seconds locked and unused after which the agent exits,
    /// leaving the socket to systemd until the next client. `None` (the default) keeps it running.
    /// Read at start only.
    pub idle_exit: Option<u64>,
    /// Seconds after a step-up during which further requests for the same publish credential
    /// from the same terminal session are let through without asking again; 0 (the default)
    /// asks every time. At most [`MAX_STEP_UP_GRACE`]. Wiped on lock.
    pub step_up_grace: u64,
    /// Seconds one mint of a source entry's token may take, network calls and token commands
    /// included (a command source's own `timeout` may only shorten it).
    pub mint_timeout: u64,
    /// A PEM file of CA certificates that minting trusts besides the system's (a company's TLS
    /// proxy). Read at each mint.
    pub ca_file: Option<PathBuf>,
    /// The teams whose registry credentials the agent reads from an OpenBao (or Vault) server.
    pub team: Vec<Team>,
}

/// A team's OpenBao source (`[[team]]`): every KV v2 secret under `MOUNT/PATH` is one entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Team {
    /// The team's name: its entries are named `NAME/SECRET`, and `credd team login NAME`.
    pub name: String,
    /// The server, e.g. `https://bao.acme.example:8200`.
    pub address: String,
    /// The KV v2 mount.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// The folder under the mount whose secrets are the team's entries.
    pub path: String,
    /// The OpenBao namespace, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// A PEM file of CA certificates trusted for this server besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Seconds between reads of the team's entries.
    #[serde(default = "default_refresh")]
    pub refresh_interval: u64,
    /// Seconds the last good copy is served while the server does not answer; then `stale`.
    #[serde(default = "default_max_age")]
    pub max_age: u64,
    /// Which entry wins when a local one and one of this team's serve the same URL and username;
    /// absent: neither, the lookup is `ambiguous`.
    pub precedence: Option<Precedence>,
}

/// Which side wins a tie between a local entry and a team entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precedence {
    /// The local entry is served; the team's is not looked at.
    Local,
    /// The team's entry is served; the local one is not looked at.
    Team,
}

fn default_mount() -> String {
    "secret".into()
}

fn default_refresh() -> u64 {
    300
}

fn default_max_age() -> u64 {
    7 * 24 * 60 * 60
}

impl Team {
    fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "team name {name:?} must be letters, digits, '-', '_' or '.'"
            ));
        }
        let bounded = |secs: u64| (1..=MAX_SECS).contains(&secs);
        if !bounded(self.refresh_interval) || !bounded(self.max_age) {
            return Err(format!(
                "team {name:?}: refresh-interval and max-age must be between 1 second and \
                 {MAX_SECS} (a year)"
            ));
        }
        let trimmed = |s: &str| s.trim_matches('/').is_empty();
        if trimmed(&self.mount) || trimmed(&self.path) {
            return Err(format!("team {name:?}: mount and path must not be empty"));
        }
        if !(self.address.starts_with("https://") || self.address.starts_with("http://")) {
            return Err(format!(
                "team {name:?}: address must be a URL such as https://bao.example:8200"
            ));
        }
        Ok(())
    }
}

/// The longest time a timer setting (a timeout, a team's refresh interval or offline age) may
/// be: a year. Bounded so that the agent's `now + setting` sums cannot overflow.
pub const MAX_SECS: u64 = 365 * 24 * 60 * 60;

/// The longest grace window a config may set: a window is meant for one publishing session.
pub const MAX_STEP_UP_GRACE: u64 = 60 * 60;
/// The largest `mint-timeout`: clients wait for a lookup only [`crate::client::LOOKUP_TIMEOUT`].
pub const MAX_MINT_TIMEOUT: u64 = 30;

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: 15 * 60,
            max_unlock: 8 * 60 * 60,
            max_connections: 256,
            read_timeout: 10,
            store: StoreKind::Vault,
            idle_exit: None,
            step_up_grace: 0,
            mint_timeout: 10,
            ca_file: None,
            team: Vec::new(),
        }
    }
}

/// The config file is unreadable or invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for credd.
    #[error("invalid config {path}: {message}; fix or remove the file")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Records `store = "<kind>"` in the config file at `path`, keeping everything else in it.
/// The CLI does this after `credd init --store`, in the user's own shell: the agent itself may run
/// sandboxed with the config directory read-only.
pub fn record_store(path: &Path, kind: StoreKind) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut document: toml_edit::DocumentMut = text.parse().map_err(std::io::Error::other)?;
    document["store"] = toml_edit::value(match kind {
        StoreKind::Keyring => "keyring",
        _ => "vault",
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic::write_atomic(path, document.to_string().as_bytes(), 0o600)
}

impl Config {
    /// Reads `path`; a missing file means the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            message: e.message().to_owned(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.into(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.idle_timeout == 0
            || self.max_unlock == 0
            || self.read_timeout == 0
            || self.mint_timeout == 0
        {
            return Err("timeouts must be at least 1 second".into());
        }
        let timers = [self.idle_timeout, self.max_unlock, self.read_timeout];
        if timers
            .into_iter()
            .chain(self.idle_exit)
            .any(|secs| secs > MAX_SECS)
        {
            return Err(format!(
                "idle-timeout, max-unlock, read-timeout and idle-exit must be at most {MAX_SECS} \
                 seconds (a year)"
            ));
        }
        if self.mint_timeout > MAX_MINT_TIMEOUT {
            return Err(format!(
                "mint-timeout must be at most {MAX_MINT_TIMEOUT} seconds: clients wait for a mint \
                 only so long"
            ));
        }
        if self.idle_exit == Some(0) {
            return Err(
                "idle-exit must be at least 1 second; remove it to keep the agent running".into(),
            );
        }
        if matches!(self.store, StoreKind::Unknown | StoreKind::Memory) {
            return Err("store must be \"vault\" or \"keyring\"".into());
        }
        if self.step_up_grace > MAX_STEP_UP_GRACE {
            return Err(format!(
                "step-up-grace must be at most {MAX_STEP_UP_GRACE} seconds; 0 turns it off"
            ));
        }
        if self.max_connections == 0 {
            return Err("max-connections must be at least 1".into());
        }
        for (i, team) in self.team.iter().enumerate() {
            team.validate()?;
            if self.team[..i].iter().any(|t| t.name == team.name) {
                return Err(format!("two [[team]] tables are named {:?}", team.name));
            }
        }
        Ok(())
    }

    /// [`Self::idle_timeout`] as a duration.
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    /// [`Self::max_unlock`] as a duration.
    pub fn max(&self) -> Duration {
        Duration::from_secs(self.max_unlock)
    }

    /// [`Self::read_timeout`] as a duration.
    pub fn read(&self) -> Duration {
        Duration::from_secs(self.read_timeout)
    }

    /// [`Self::step_up_grace`] as a duration; None when off.
    pub fn grace(&self) -> Option<Duration> {
        (self.step_up_grace > 0).then(|| Duration::from_secs(self.step_up_grace))
    }

    /// [`Self::mint_timeout`] as a duration.
    pub fn mint(&self) -> Duration {
        Duration::from_secs(self.mint_timeout)
    }

    /// The team named `name`.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.team.iter().find(|t| t.name == name)
    }

    /// [`Self::idle_exit`] as a duration.
    pub fn idle_exit_after(&self) -> Option<Duration> {
        self.idle_exit.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(Some(&dir.path().join("none.toml"))).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.idle_timeout, 900);
        assert_eq!(config.max_unlock, 28_800);
    }

    #[test]
    fn reads_overrides_and_keeps_other_defaults() {
        let config = load_text("idle-timeout = 2\nmax-unlock = 5\n").unwrap();
        assert_eq!((config.idle_timeout, config.max_unlock), (2, 5));
        assert_eq!(config.max_connections, 256);
        assert_eq!(
            (config.mint(), config.ca_file),
            (Duration::from_secs(10), None)
        );
        let minting = load_text("mint-timeout = 3\nca-file = \"/etc/corp.pem\"\n").unwrap();
        assert_eq!(minting.mint(), Duration::from_secs(3));
        assert_eq!(minting.ca_file.as_deref(), Some(Path::new("/etc/corp.pem")));
    }

    #[test]
    fn rejects_typos_and_zero_timeouts() {
        let err = load_text("idle_timeout = 2\n").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(load_text("idle-timeout = 0\n").is_err());
        assert!(load_text("max-connections = 0\n").is_err());
        assert!(load_text("mint-timeout = 0\n").is_err());
        assert!(load_text("mint-timeout = 30\n").is_ok());
        let err = load_text("mint-timeout = 31\n").unwrap_err().to_string();
        assert!(err.contains("mint-timeout must be at most 30"), "{err}");
        assert!(load_text("store = \"memory\"\n").is_err());
    }

    #[test]
    fn timers_are_at_most_a_year() {
        for key in ["idle-timeout", "max-unlock", "read-timeout", "idle-exit"] {
            assert!(load_text(&format!("{key} = {MAX_SECS}\n")).is_ok(), "{key}");
            let err = load_text(&format!("{key} = {}\n", i64::MAX))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("must be at most 31536000 seconds"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn idle_exit_is_off_by_default_and_at_least_one_second() {
        assert_eq!(Config::default().idle_exit_after(), None);
        let config = load_text("idle-exit = 30\n").unwrap();
        assert_eq!(config.idle_exit_after(), Some(Duration::from_secs(30)));
        let err = load_text("idle-exit = 0\n").unwrap_err().to_string();
        assert!(err.contains("idle-exit must be at least 1 second"), "{err}");
    }

    #[test]
    fn step_up_grace_is_off_by_default_and_bounded() {
        assert_eq!(Config::default().grace(), None);
        let config = load_text("step-up-grace = 300\n").unwrap();
        assert_eq!(config.grace(), Some(Duration::from_secs(300)));
        let err = load_text("step-up-grace = 3601\n").unwrap_err().to_string();
        assert!(err.contains("step-up-grace must be at most 3600"), "{err}");
    }

    #[test]
    fn teams_get_defaults_and_are_checked() {
        let config = load_text(
            "[[team]]\nname = \"acme\"\naddress = \"https://bao.acme.example:8200\"\n\
             path = \"registries\"\nprecedence = \"local\"\n",
        )
        .unwrap();
        let acme = config.team("acme").unwrap();
        assert_eq!(
            (acme.mount.as_str(), acme.refresh_interval, acme.max_age),
            ("secret", 300, 604_800)
        );
        assert_eq!(acme.precedence, Some(Precedence::Local));
        let twice = "[[team]]\nname = \"a\"\naddress = \"http://127.0.0.1:1\"\npath = \"p\"\n";
        let err = load_text(&twice.repeat(2)).unwrap_err().to_string();
        assert!(err.contains("two [[team]] tables"), "{err}");
        let err = load_text(&twice.replace("\"a\"", "\"a/b\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be letters"), "{err}");
        assert!(load_text(&format!("{twice}max-age = 0\n")).is_err());
        let forever = format!("{twice}refresh-interval = {}\n", i64::MAX);
        assert!(load_text(&forever).is_err());
        assert!(load_text(&format!("{twice}adress = \"x\"\n")).is_err());
    }

    #[test]
    fn the_readmes_team_example_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n[[team]]").expect("the example") + "```toml\n".len();
        let block = &readme[start..][..readme[start..].find("```").unwrap()];
        let config = load_text(block).unwrap();
        assert_eq!(config.team("acme").unwrap().path, "registries");
    }

    #[test]
    fn the_store_choice_is_recorded_and_other_settings_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credd/config.toml");
        record_store(&path, StoreKind::Keyring).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "store = \"keyring\"\n"
        );
        std::fs::write(&path, "# mine\nidle-timeout = 60\nstore = \"keyring\"\n").unwrap();
        record_store(&path, StoreKind::Vault).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# mine\nidle-timeout = 60\nstore = \"vault\"\n");
        assert_eq!(Config::load(Some(&path)).unwrap().store, StoreKind::Vault);
    }

    #[test]
    fn store_is_vault_by_default_and_must_be_known() {
        assert_eq!(Config::default().store, StoreKind::Vault);
        assert_eq!(
            load_text("store = \"keyring\"\n").unwrap().store,
            StoreKind::Keyring
        );
        let err = load_text("store = \"valt\"\n").unwrap_err().to_string();
        assert!(
            err.contains("store must be \"vault\" or \"keyring\""),
            "{err}"
        );
    }
}
