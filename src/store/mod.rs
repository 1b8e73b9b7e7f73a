//! Persistent storage: credd's encrypted vault file, or the OS keychain (the keyring store).
//!
//! [`Stores`] knows where one agent keeps its files; [`Handle`] is what an unlocked agent keeps to
//! write changes back: the vault key, or the keyring store's entry list.

mod json_error;
pub mod keychain;
pub mod keyring;
mod memory;
pub mod owner;
pub mod remember;
pub mod vault;
mod wipe_stack;

use std::io;
use std::path::PathBuf;

use credd_protocol::{Entry, Source, StoreKind};

use keychain::KeychainError;
use keyring::KeyringFile;
use remember::Remembered;
use vault::{VaultError, VaultFile, VaultKey};

/// The name of the keyring store's entry list, beside the vault.
const KEYRING_FILE: &str = "keyring-entries.json";

/// Why a store operation failed. Messages say what to do and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The OS keychain is absent, locked, silent or failing.
    #[error(transparent)]
    Keychain(#[from] KeychainError),
    /// No vault key is remembered, or the remembered one is gone or does not open the vault.
    #[error("{0}")]
    NotRemembered(String),
    /// There is no keyring store yet.
    #[error("no keyring store at {}: run 'credd init --store keyring'", .0.display())]
    KeyringMissing(PathBuf),
    /// `init` found a store in place.
    #[error("{0}")]
    Exists(String),
    /// The keyring store's entry list is not one credd wrote.
    #[error(
        "the keyring store's entry list {} is damaged ({reason}); it was left untouched: restore \
         it from a backup",
        .path.display()
    )]
    KeyringDamaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The request cannot be carried out with this store.
    #[error("{0}")]
    BadRequest(String),
    /// A file-system failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Why `entries` cannot be written, when one has a source of a kind this credd does not know
/// (written by a newer credd): this side keeps only that the kind is unknown, and a rewrite would
/// lose what it was. Removing that entry is allowed, as any change the user asks for.
fn unknown_kind(entries: &[Entry]) -> Option<String> {
    let entry = entries
        .iter()
        .find(|e| matches!(e.source, Some(Source::Unknown)))?;
    Some(format!(
        "the entry {:?} is of a kind this credd does not know (a newer credd wrote it), and \
         writing the store would lose it; nothing was changed: upgrade credd, or remove that \
         entry ('credd remove {}')",
        entry.name, entry.name
    ))
}

/// What an unlocked agent keeps to write changes back.
#[derive(Debug, Clone)]
pub enum Handle {
    /// The vault's key.
    Vault(VaultKey),
    /// The keyring store's entry list; the secrets go to the keychain.
    Keyring(KeyringFile),
    /// Nothing: the entries live in memory only (`credd ci`).
    Memory,
}

/// Where one agent keeps its data.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The vault file.
    pub vault: VaultFile,
    /// The keyring store's entry list, beside the vault.
    pub keyring: KeyringFile,
    /// Where the vault's key is remembered for passwordless unlock.
    pub remembered: Remembered,
}

impl Stores {
    /// The stores of the vault at `vault`.
    pub fn new(vault: PathBuf) -> Self {
        Self {
            keyring: KeyringFile::new(vault.with_file_name(KEYRING_FILE)),
            remembered: Remembered::for_vault(&vault),
            vault: VaultFile::new(vault),
        }
    }

    /// Every file the agent writes for this vault.
    pub fn files(&self) -> [&std::path::Path; 3] {
        [
            self.vault.path(),
            self.keyring.path(),
            self.remembered.marker(),
        ]
    }

    /// True when the store of `kind` exists.
    pub fn exists(&self, kind: StoreKind) -> bool {
        match kind {
            StoreKind::Keyring => self.keyring.exists(),
            _ => self.vault.exists(),
        }
    }

    /// Refuses to create a store when either kind exists: the other would hide it.
    pub fn check_none_exists(&self) -> Result<(), StoreError> {
        if self.vault.exists() {
            return Err(StoreError::Exists(format!(
                "a vault already exists at {}: it was left untouched",
                self.vault.path().display()
            )));
        }
        if self.keyring.exists() {
            return Err(StoreError::Exists(format!(
                "a keyring store already exists at {}: it was left untouched",
                self.keyring.path().display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_refuses_when_either_store_exists() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::new(dir.path().join("vault"));
        stores.check_none_exists().unwrap();
        stores.keyring.create().unwrap();
        let err = stores.check_none_exists().unwrap_err().to_string();
        assert!(err.contains("a keyring store already exists"), "{err}");
        assert!(stores.exists(StoreKind::Keyring) && !stores.exists(StoreKind::Vault));
    }
}
