//! The agent's settings, read from `$XDG_CONFIG_HOME/credd/config.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: 15 * 60,
            max_unlock: 8 * 60 * 60,
            max_connections: 256,
            read_timeout: 10,
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
        if self.idle_timeout == 0 || self.max_unlock == 0 || self.read_timeout == 0 {
            return Err("timeouts must be at least 1 second".into());
        }
        if self.max_connections == 0 {
            return Err("max-connections must be at least 1".into());
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
    }

    #[test]
    fn rejects_typos_and_zero_timeouts() {
        let err = load_text("idle_timeout = 2\n").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(load_text("idle-timeout = 0\n").is_err());
        assert!(load_text("max-connections = 0\n").is_err());
    }
}
