//! The agent's use of the OS keychain: the keyring store, the remembered vault key, and the one
//! bounded way every keychain call is made ([`State::keychain`]).

use credd_protocol::{
    ErrorKind, ErrorReply, KeychainKind, KeychainState, KeychainStatus, RememberResult, Secret,
    StoreKind,
};

use super::{State, Unlocked, run_blocking, store_error};
use crate::store::keychain::{self, Keychain, KeychainError};
use crate::store::vault::{VaultError, VaultKey};
use crate::store::{Handle, StoreError, keyring};

impl State {
    /// Unlocks without a passphrase, from the OS keychain: the keyring store's secrets, or the
    /// vault with its remembered key.
    pub async fn unlock_keychain(&self) -> Result<(), ErrorReply> {
        let _gate = self.unlock_gate.lock().await;
        if self.inner().unlocked.is_some() {
            return Ok(());
        }
        let unlocked = match self.store() {
            StoreKind::Keyring => self.open_keyring().await,
            _ => self.open_remembered().await,
        };
        self.install(unlocked.map_err(store_error)?);
        Ok(())
    }

    /// Reads the keyring store's entry list, then every secret from the keychain.
    pub(super) async fn open_keyring(&self) -> Result<Unlocked, StoreError> {
        let file = self.stores.keyring.clone();
        let infos = {
            let file = file.clone();
            run_blocking(move || file.read()).await?
        };
        let entries = self
            .keychain(keychain::PERSISTENT, move || {
                keyring::load(&Keychain::open(keychain::PERSISTENT)?, infos)
            })
            .await?;
        Ok(Unlocked::new(Handle::Keyring(file), entries))
    }

    /// Fetches the remembered vault key and opens the vault with it.
    pub(super) async fn open_remembered(&self) -> Result<Unlocked, StoreError> {
        let Some(kind) = self.inner().remembered else {
            return Err(StoreError::NotRemembered(
                "no vault key is remembered: unlock with the passphrase ('credd unlock \
                 --remember' remembers it)"
                    .into(),
            ));
        };
        let remembered = self.stores.remembered.clone();
        let Some(key) = self.keychain(kind, move || remembered.load(kind)).await? else {
            self.set_remembered(None).await?;
            return Err(StoreError::NotRemembered(format!(
                "{} no longer holds the vault key (removed, or emptied by a reboot): unlock with \
                 the passphrase; 'credd unlock --remember' remembers it again",
                keychain::name(kind)
            )));
        };
        let vault = self.stores.vault.clone();
        match run_blocking(move || vault.open_with_key(&key)).await {
            Ok((key, entries)) => Ok(Unlocked::new(Handle::Vault(key), entries)),
            Err(StoreError::Vault(VaultError::BadPassphrase)) => {
                Err(StoreError::NotRemembered(format!(
                    "the key remembered in {} no longer opens the vault (its passphrase was \
                     changed): unlock with the passphrase; 'credd unlock --remember' remembers \
                     the new key",
                    keychain::name(kind)
                )))
            }
            Err(error) => Err(error),
        }
    }

    /// Checks that the keychain takes an item (an unlock prompt may show), then writes an empty
    /// entry list.
    pub(super) async fn create_keyring(&self) -> Result<Unlocked, StoreError> {
        let stores = self.stores.clone();
        run_blocking(move || stores.check_none_exists()).await?;
        self.keychain(keychain::PERSISTENT, || {
            let keychain = Keychain::open(keychain::PERSISTENT)?;
            keychain.set("credd-init-check", "credd: init check", b"-")?;
            keychain.delete("credd-init-check").map(drop)
        })
        .await
        .map_err(|mut error| {
            // No store exists yet, so the vault store is a real way out.
            if let StoreError::Keychain(keychain) = &mut error {
                keychain
                    .message
                    .push_str("; or use the vault store: 'credd init --store vault'");
            }
            error
        })?;
        let file = self.stores.keyring.clone();
        let created = file.clone();
        run_blocking(move || created.create()).await?;
        tracing::info!(path = %file.path().display(), "created a new keyring store");
        Ok(Unlocked::new(Handle::Keyring(file), Vec::new()))
    }

    /// Stores the unlocked vault's key in the best keychain that is there: the persistent one,
    /// else (Linux) the kernel session keyring. Whoever can read that keychain can open the
    /// vault, so the person confirms with the `passphrase` (checked like a step-up), and a vault
    /// with a publish credential is never remembered: its step-up would guard nothing.
    pub async fn remember(&self, passphrase: Secret) -> Result<RememberResult, ErrorReply> {
        let gate = self.unlock_gate.lock().await;
        let key = self.key_to_remember()?;
        let _gate = self.confirm(key.clone(), passphrase, gate).await?;
        // Under the write gate, so that no publish credential is stored meanwhile (see `put`).
        let _write = self.write_gate.lock().await;
        self.refuse_with_publish_credentials()?;
        // What a remember that fails for good goes back to: a key remembered before stays in
        // its keychain.
        let earlier = self.inner().remembered;
        let mut last = None;
        for &kind in keychain::FOR_REMEMBER {
            // The marker first: a store that outlasts its timeout may still land, and until then
            // (and until 'credd forget') the key must count as remembered, so that no publish
            // credential is stored beside it.
            self.set_remembered(Some(kind)).await.map_err(store_error)?;
            let remembered = self.stores.remembered.clone();
            let key = key.clone();
            match self
                .keychain(kind, move || remembered.store(kind, &key))
                .await
            {
                Ok(()) => {
                    tracing::info!(keychain = ?kind, "vault key remembered");
                    return Ok(RememberResult {
                        keychain: kind,
                        survives_reboot: kind != KeychainKind::KernelKeyutils,
                    });
                }
                Err(StoreError::Keychain(error)) if error.state == KeychainState::NotAnswering => {
                    let mut reply = store_error(StoreError::Keychain(error));
                    reply.message.push_str(
                        "; the vault key may still be stored once it answers, so credd counts it \
                         as remembered until 'credd forget'",
                    );
                    return Err(reply);
                }
                Err(error) => {
                    // A definite failure: nothing was stored.
                    self.set_remembered(earlier).await.map_err(store_error)?;
                    // Only an absent keychain gives way to the next: a locked one must be
                    // unlocked.
                    match error {
                        StoreError::Keychain(error) if error.state == KeychainState::Absent => {
                            last = Some(StoreError::Keychain(error));
                        }
                        error => return Err(store_error(error)),
                    }
                }
            }
        }
        Err(store_error(last.expect("there is at least one keychain")))
    }

    /// The unlocked vault's key, for `remember`; the other stores have none.
    fn key_to_remember(&self) -> Result<VaultKey, ErrorReply> {
        let inner = self.inner();
        match inner.unlocked.as_ref().map(|u| &u.handle) {
            None => Err(ErrorReply::locked()),
            Some(Handle::Keyring(_)) => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the keyring store has no passphrase to remember: 'credd unlock' never asks for \
                 one",
            )),
            Some(Handle::Memory) => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "this agent keeps its entries in memory only ('credd ci'): there is no vault key \
                 to remember",
            )),
            Some(Handle::Vault(key)) => Ok(key.clone()),
        }
    }

    /// Refuses to remember the key of a vault that holds publish credentials, naming them.
    fn refuse_with_publish_credentials(&self) -> Result<(), ErrorReply> {
        let inner = self.inner();
        let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
        let publish: Vec<&str> = unlocked
            .entries
            .iter()
            .filter(|e| e.publish)
            .map(|e| e.name.as_str())
            .collect();
        // A few names are enough to act on; all of them might not fit a reply.
        let named = match publish.len() {
            0 => return Ok(()),
            1..=3 => publish.join(", "),
            n => format!("{} and {} more", publish[..3].join(", "), n - 3),
        };
        Err(ErrorReply::new(
            ErrorKind::BadRequest,
            format!(
                "the vault holds publish credentials ({named}): a remembered vault key would let \
                 any program you run open the vault and take them without the step-up: keep \
                 unlocking with the passphrase, or store them again without --publish"
            ),
        ))
    }

    /// After a passphrase change, replaces a remembered vault key with the new one, so that
    /// passwordless unlock keeps working. When the keychain cannot take it now, the old key stays
    /// and the next unlock reports it stale and asks for the passphrase.
    pub(super) async fn remember_again(&self, key: &crate::store::vault::VaultKey) {
        let Some(kind) = self.inner().remembered else {
            return;
        };
        let remembered = self.stores.remembered.clone();
        let key = key.clone();
        match self
            .keychain(kind, move || remembered.store(kind, &key))
            .await
        {
            Ok(()) => tracing::info!(keychain = ?kind, "remembered vault key replaced"),
            Err(error) => tracing::warn!(%error, "the remembered vault key is now stale"),
        }
    }

    /// Removes the remembered vault key from its keychain; false when none was remembered.
    pub async fn forget(&self) -> Result<bool, ErrorReply> {
        let _gate = self.unlock_gate.lock().await;
        let recorded = self.inner().remembered;
        let removed = match recorded {
            Some(kind) => self.forget_in(kind).await,
            None => self.forget_anywhere().await,
        }
        .map_err(store_error)?;
        self.set_remembered(None).await.map_err(store_error)?;
        tracing::info!(removed, "remembered vault key forgotten");
        Ok(removed || recorded.is_some())
    }

    /// Deletes the vault key from `kind`; false when it held none.
    async fn forget_in(&self, kind: KeychainKind) -> Result<bool, StoreError> {
        let remembered = self.stores.remembered.clone();
        self.keychain(kind, move || remembered.forget(kind)).await
    }

    /// Deletes the vault key from every keychain that answers, for when no marker says where it
    /// is. Each keychain is asked on its own, so that `status` learns what each one answered.
    /// One that does not answer ends it: the next would only wait for it, past the client's
    /// timeout.
    async fn forget_anywhere(&self) -> Result<bool, StoreError> {
        let mut removed = false;
        for &kind in keychain::FOR_REMEMBER {
            match self.forget_in(kind).await {
                Ok(found) => removed |= found,
                Err(StoreError::Keychain(error)) if error.state == KeychainState::NotAnswering => {
                    return Err(StoreError::Keychain(error));
                }
                // A keychain that is absent or locked here cannot hold a key credd could use.
                Err(_) => {}
            }
        }
        Ok(removed)
    }

    /// Writes or removes the marker naming the keychain that holds the vault key, then the
    /// agent's copy of it.
    pub(super) async fn set_remembered(
        &self,
        kind: Option<KeychainKind>,
    ) -> Result<(), StoreError> {
        let remembered = self.stores.remembered.clone();
        run_blocking(move || match kind {
            Some(kind) => remembered.record(kind),
            None => remembered.clear(),
        })
        .await?;
        self.inner().remembered = kind;
        Ok(())
    }

    /// Runs keychain work on a blocking thread, one call at a time, within
    /// [`keychain::TIMEOUT`] (waiting for an earlier call included). Work that overruns goes on
    /// in the background, holding the gate, and its result is dropped (and wiped) when it ends:
    /// only a result returned in time reaches the caller, and so the agent's state. Every outcome
    /// updates what `status` shows about `kind`.
    pub(super) async fn keychain<T: Send + 'static, E: Into<StoreError> + Send + 'static>(
        &self,
        kind: KeychainKind,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, StoreError> {
        let gate = self.keychain_gate.clone();
        let bounded = tokio::time::timeout(keychain::TIMEOUT, async move {
            let permit = gate
                .acquire_owned()
                .await
                .expect("the gate is never closed");
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work().map_err(Into::into)
            })
            .await
        })
        .await;
        let result = match bounded {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(StoreError::Io {
                context: "a keychain task failed".into(),
                source: std::io::Error::other(join_error.to_string()),
            }),
            Err(_elapsed) => Err(KeychainError::not_answering(kind).into()),
        };
        self.note_keychain(kind, &result);
        result
    }

    /// Records what a keychain call showed, for `status`.
    fn note_keychain<T>(&self, kind: KeychainKind, result: &Result<T, StoreError>) {
        let mut inner = self.inner();
        let session_keyring = inner.keychain.as_ref().is_some_and(|k| k.session_keyring);
        let seen = match result {
            Err(StoreError::Keychain(error)) => Some((error.keychain, Err(error))),
            Err(_) => None,
            Ok(_) => Some((kind, Ok(()))),
        };
        let status = match seen {
            Some((KeychainKind::KernelKeyutils, outcome)) => inner.keychain.clone().map_or_else(
                || unseen_status(outcome.is_ok()),
                |mut status| {
                    status.session_keyring = outcome.is_ok();
                    status
                },
            ),
            Some((_, Ok(()))) => KeychainStatus {
                keychain: kind,
                state: KeychainState::Available,
                message: None,
                session_keyring,
            },
            Some((_, Err(error))) => error.to_status(session_keyring),
            None => return,
        };
        inner.keychain = Some(status);
    }
}

/// The status before any keychain call but one to the kernel keyring.
pub(super) fn unseen_status(session_keyring: bool) -> KeychainStatus {
    KeychainStatus {
        keychain: keychain::PERSISTENT,
        state: KeychainState::Unknown,
        message: None,
        session_keyring,
    }
}
