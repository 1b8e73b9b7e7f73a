//! What the agent knows: locked or unlocked, the decrypted entries, and when to lock again.
//!
//! The entries sit behind a `std::sync::Mutex` held only for in-memory work, never across an
//! `.await` or a disk write. Slow work (the key derivation, vault writes, the OS keychain) runs on
//! blocking threads, so lookups from other clients are answered meanwhile. Two async gates keep
//! that slow work ordered: one unlock-like operation at a time, and one store write at a time.
//!
//! Lookups never touch the OS keychain: only unlock, init, put, delete, remember and forget do,
//! each through [`State::keychain`], which bounds it by [`keychain::TIMEOUT`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credd_protocol::{
    Entry, EntryInfo, ErrorKind, ErrorReply, KdfParams, KeychainKind, KeychainStatus, LockState,
    Lookup, Secret, Source, StatusResult, StoreKind,
};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use super::audit::{Audit, Terminal};
use crate::config::Config;
use crate::store::keychain::{self, Keychain};
use crate::store::vault::{DEFAULT_KDF, VaultError, VaultKey};
use crate::store::{Handle, StoreError, Stores, keyring};
use crate::team::LOGIN_PREFIX;
use crate::urlmatch;

mod flight;
mod keychain_ops;
mod names;
mod select;
mod team;
mod tokens;

use select::Entries;
pub use select::Query;

/// The agent's shared state.
pub struct State {
    stores: Stores,
    inner: Mutex<Inner>,
    /// Serializes unlock, init and passwd: one key derivation at a time.
    unlock_gate: tokio::sync::Mutex<()>,
    /// Serializes vault writes so that concurrent puts cannot lose each other.
    write_gate: tokio::sync::Mutex<()>,
    /// Wrong passphrases since the last good one; drives the back-off.
    failures: AtomicU32,
    /// Wakes the auto-lock timer when deadlines change.
    timers_changed: Notify,
    /// One keychain call at a time. A call that overran its timeout keeps its permit until it
    /// really ends (a D-Bus call cannot be cancelled), so a hung keychain ties up one blocking
    /// thread, not one per request.
    keychain_gate: Arc<Semaphore>,
    /// The recent lookups and who asked.
    pub audit: Audit,
}

struct Inner {
    config: Config,
    /// The store in use: the configured one at start, or the one `init` created.
    store: StoreKind,
    /// Where the vault key is remembered, as the marker file says.
    remembered: Option<KeychainKind>,
    /// The OS keychain as last seen; `None` before the first look.
    keychain: Option<KeychainStatus>,
    unlocked: Option<Unlocked>,
}

/// Everything that exists only while unlocked; dropping it wipes the key and every secret.
struct Unlocked {
    handle: Handle,
    entries: Entries,
    unlocked_at: Instant,
    last_used: Instant,
    /// Publish credentials `allow` let through once, each until its deadline.
    allowances: Vec<(String, Instant)>,
    /// Publish credentials a step-up opened to one terminal session.
    graces: Vec<Grace>,
    /// The tokens minted from source entries.
    tokens: tokens::Tokens,
    /// The teams' server tokens and how their reads went.
    teams: team::Teams,
}

/// A grace window: the publish credential `name`, open to the connections from `terminal`
/// accepted from `opened` on, until `until`.
struct Grace {
    name: String,
    terminal: Terminal,
    opened: Instant,
    until: Instant,
}

impl Unlocked {
    fn new(handle: Handle, entries: Vec<Entry>) -> Self {
        let now = Instant::now();
        Self {
            handle,
            entries: entries.into(),
            unlocked_at: now,
            last_used: now,
            allowances: Vec::new(),
            graces: Vec::new(),
            tokens: tokens::Tokens::default(),
            teams: team::Teams::default(),
        }
    }

    fn deadline(&self, config: &Config) -> Instant {
        (self.last_used + config.idle()).min(self.unlocked_at + config.max())
    }
}

impl State {
    /// A locked agent on `stores`, using the store `config` names.
    pub fn new(stores: Stores, config: Config) -> Self {
        Self {
            inner: Mutex::new(Inner {
                store: config.store,
                remembered: stores.remembered.recorded(),
                keychain: None,
                config,
                unlocked: None,
            }),
            stores,
            unlock_gate: tokio::sync::Mutex::new(()),
            write_gate: tokio::sync::Mutex::new(()),
            failures: AtomicU32::new(0),
            timers_changed: Notify::new(),
            keychain_gate: Arc::new(Semaphore::new(1)),
            audit: Audit::default(),
        }
    }

    /// Work for the agent's start, run in the background: looks at the OS keychain (for
    /// `status`), then unlocks the vault with its remembered key, if it has one.
    pub async fn start(self: Arc<Self>) {
        let _ = self
            .keychain(keychain::PERSISTENT, keychain::probe_persistent)
            .await;
        if cfg!(target_os = "linux") {
            let _ = self
                .keychain(
                    KeychainKind::KernelKeyutils,
                    keychain::probe_session_keyring,
                )
                .await;
        }
        let remembered = {
            let inner = self.inner();
            inner.store == StoreKind::Vault && inner.remembered.is_some()
        };
        if remembered {
            match self.unlock_keychain().await {
                Ok(()) => tracing::info!("unlocked at start with the remembered vault key"),
                Err(error) => tracing::warn!(%error, "not unlocked at start"),
            }
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock must not keep secrets reachable or wedge the agent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current settings.
    pub fn config(&self) -> Config {
        self.inner().config.clone()
    }

    /// Replaces the settings (SIGHUP) and re-arms the timers. The store in use stays: switching
    /// it needs a restart.
    pub fn set_config(&self, config: Config) {
        let mut inner = self.inner();
        if config.store != inner.store {
            tracing::warn!(
                configured = ?config.store,
                in_use = ?inner.store,
                "the config names another store: restart the agent ('credd stop') to use it"
            );
        }
        inner.config = config;
        drop(inner);
        self.timers_changed.notify_one();
    }

    /// Locked or unlocked, with the timers; does not count as use.
    pub fn status(&self) -> StatusResult {
        // The file check runs before taking the lock, so a slow disk never delays lookups.
        let store_exists = self.stores.exists(self.store());
        let inner = self.inner();
        let now = Instant::now();
        let secs_until = |t: Instant| t.saturating_duration_since(now).as_secs();
        let unlocked = inner.unlocked.as_ref();
        StatusResult {
            state: if unlocked.is_some() {
                LockState::Unlocked
            } else {
                LockState::Locked
            },
            vault: store_exists,
            store: Some(inner.store),
            pid: std::process::id(),
            entries: unlocked.map(|u| u.entries.iter().filter(|e| !is_login(e)).count()),
            idle_lock_in: unlocked.map(|u| secs_until(u.last_used + inner.config.idle())),
            max_lock_in: unlocked.map(|u| secs_until(u.unlocked_at + inner.config.max())),
            remembered: inner.remembered,
            keychain: inner.keychain.clone(),
            unprotected: unlocked.map(|u| unprotected(&u.entries)),
            unknown_callers: Some(self.audit.unknown_callers()),
            step_up_grace: inner.config.grace().map(|g| g.as_secs()),
            teams: unlocked.map_or_else(Vec::new, |u| u.teams.status(&inner.config, &u.entries)),
        }
    }

    /// True while secrets are in memory; cheap, and not counted as use.
    pub fn is_unlocked(&self) -> bool {
        self.inner().unlocked.is_some()
    }

    /// Wipes every secret and the key. Returns true when something was unlocked.
    pub fn lock(&self) -> bool {
        let was = self.inner().unlocked.take();
        was.is_some()
    }

    /// Locks when a timer has run out; returns the next deadline while unlocked.
    pub fn lock_if_expired(&self) -> Option<Instant> {
        let mut inner = self.inner();
        let deadline = inner.unlocked.as_ref()?.deadline(&inner.config);
        if deadline <= Instant::now() {
            inner.unlocked = None;
            tracing::info!("auto-lock: timer expired, secrets wiped");
            return None;
        }
        Some(deadline)
    }

    /// Resolves when deadlines may have changed (unlock, config reload).
    pub async fn timers_changed(&self) {
        self.timers_changed.notified().await;
    }

    /// Decrypts the vault; wrong passphrases are answered after a growing delay. The keyring
    /// store needs no passphrase: it loads its secrets from the keychain.
    pub async fn unlock(&self, passphrase: Secret) -> Result<(), ErrorReply> {
        match self.store() {
            StoreKind::Keyring => return self.unlock_keychain().await,
            StoreKind::Memory if !self.is_unlocked() => return Err(memory_gone()),
            _ => {}
        }
        let gate = self.unlock_gate.lock().await;
        if self.inner().unlocked.is_some() {
            return Ok(());
        }
        let vault = self.stores.vault.clone();
        let opened = run_blocking(move || vault.open(&passphrase)).await;
        match opened {
            Ok((key, entries)) => {
                self.install(Unlocked::new(Handle::Vault(key), entries));
                Ok(())
            }
            Err(error) => {
                drop(gate);
                Err(self.refuse(error).await)
            }
        }
    }

    /// Creates a new store of kind `store` (the configured one when `None`) and unlocks it.
    pub async fn init(
        &self,
        passphrase: Option<Secret>,
        kdf: Option<KdfParams>,
        store: Option<StoreKind>,
    ) -> Result<(), ErrorReply> {
        let _gate = self.unlock_gate.lock().await;
        let _write = self.write_gate.lock().await;
        let kind = store.unwrap_or_else(|| self.store());
        let unlocked = match (kind, passphrase) {
            (StoreKind::Vault, Some(passphrase)) => self.create_vault(passphrase, kdf).await,
            (StoreKind::Vault, None) => Err(StoreError::BadRequest(
                "a new vault needs a passphrase".into(),
            )),
            (StoreKind::Keyring, _) => self.create_keyring().await,
            _ => Err(StoreError::BadRequest(
                "unknown store: choose \"vault\" or \"keyring\"".into(),
            )),
        }
        .map_err(store_error)?;
        // The CLI records the choice in the config: under systemd the agent may not write there.
        self.inner().store = kind;
        self.install(unlocked);
        Ok(())
    }

    async fn create_vault(
        &self,
        passphrase: Secret,
        kdf: Option<KdfParams>,
    ) -> Result<Unlocked, StoreError> {
        let stores = self.stores.clone();
        let key = run_blocking(move || {
            stores.check_none_exists()?;
            Ok::<_, StoreError>(
                stores
                    .vault
                    .create(&passphrase, kdf.unwrap_or(DEFAULT_KDF))?,
            )
        })
        .await?;
        tracing::info!(path = %self.stores.vault.path().display(), "created a new vault");
        Ok(Unlocked::new(Handle::Vault(key), Vec::new()))
    }

    /// Unlocks an agent whose store is memory only (`credd ci`): empty, filled by `put`s, and
    /// gone for good at lock.
    pub fn unlock_memory(&self) {
        self.inner().store = StoreKind::Memory;
        self.install(Unlocked::new(Handle::Memory, Vec::new()));
    }

    /// Re-encrypts the vault under `new` after checking `old`.
    pub async fn passwd(&self, old: Secret, new: Secret) -> Result<(), ErrorReply> {
        if new.is_empty() {
            return Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the new passphrase is empty",
            ));
        }
        if self.store() == StoreKind::Keyring {
            return Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the keyring store has no passphrase: the OS keychain guards its secrets",
            ));
        }
        let gate = self.unlock_gate.lock().await;
        let write = self.write_gate.lock().await;
        let vault = self.stores.vault.clone();
        let rekeyed = run_blocking(move || {
            let (key, entries) = vault.open(&old)?;
            let new_key = key.rekey(&new)?;
            new_key.save(&entries)?;
            Ok::<_, VaultError>(new_key)
        })
        .await;
        match rekeyed {
            Ok(new_key) => {
                tracing::info!("vault passphrase changed");
                self.remember_again(&new_key).await;
                if let Some(unlocked) = self.inner().unlocked.as_mut() {
                    unlocked.handle = Handle::Vault(new_key);
                }
                Ok(())
            }
            Err(error) => {
                // The back-off delays this caller only: other unlocks, inits and writes go on.
                drop((write, gate));
                Err(self.refuse(error).await)
            }
        }
    }

    fn store(&self) -> StoreKind {
        self.inner().store
    }

    fn install(&self, unlocked: Unlocked) {
        self.failures.store(0, Ordering::Relaxed);
        self.inner().unlocked = Some(unlocked);
        self.timers_changed.notify_one();
        tracing::info!("unlocked");
    }

    /// Turns a failed unlock into its reply, delaying this caller after a wrong passphrase.
    /// Callers hold no gate while this sleeps.
    async fn refuse(&self, error: StoreError) -> ErrorReply {
        if matches!(error, StoreError::Vault(VaultError::BadPassphrase)) {
            let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(failures, "wrong passphrase");
            tokio::time::sleep(backoff(failures)).await;
        }
        store_error(error)
    }

    /// The entry a query selects, counting as use for the idle timer.
    #[cfg(test)]
    pub fn get(&self, query: Query<'_>) -> Result<Entry, ErrorReply> {
        self.lookup(query).map(|(entry, _)| entry)
    }

    /// [`Self::get`], and whether a separate publish credential serves the entry's service.
    pub fn lookup(&self, query: Query<'_>) -> Result<(Entry, bool), ErrorReply> {
        let mut inner = self.inner();
        let Inner {
            config, unlocked, ..
        } = &mut *inner;
        let unlocked = unlocked.as_mut().ok_or_else(ErrorReply::locked)?;
        // Parsed once for both the selection and the publish check below.
        let prepared = query.into();
        let index = match unlocked.entries.select(&prepared) {
            // Only a tie can need the config's precedence: the common path stays as it was.
            Err(tie) if tie.kind == ErrorKind::Ambiguous => {
                team::break_tie(&unlocked.entries, query, config).unwrap_or(Err(tie))?
            }
            other => other?,
        };
        unlocked.last_used = Instant::now();
        let entry = index.map(|i| unlocked.entries[i].clone());
        let entry = entry.ok_or_else(|| not_found(query))?;
        let separate = !entry.publish && unlocked.entries.has_publish_credential(&prepared);
        Ok((entry, separate))
    }

    /// Checks a step-up passphrase against the vault key in memory. The key derivation runs off
    /// the async threads, under the unlock gate but never under the state lock; a wrong
    /// passphrase counts toward the unlock back-off, which delays this caller only.
    pub async fn step_up(&self, passphrase: Secret) -> Result<(), ErrorReply> {
        let gate = self.unlock_gate.lock().await;
        let key = self.step_up_key()?;
        self.confirm(key, passphrase, gate).await.map(drop)
    }

    /// The unlocked vault's key, which a step-up passphrase is checked against; the other
    /// stores have none.
    fn step_up_key(&self) -> Result<VaultKey, ErrorReply> {
        let handle = {
            let inner = self.inner();
            let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
            unlocked.handle.clone()
        };
        match handle {
            Handle::Vault(key) => Ok(key),
            Handle::Keyring(_) => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the keyring store has no passphrase to confirm a publish with: keep publish \
                 credentials in a vault store",
            )),
            Handle::Memory => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "this memory-only agent (credd ci) has no passphrase to confirm a publish \
                 with, and no one is there to type one: give the job its publish credential \
                 without \"publish\": true",
            )),
        }
    }

    /// Checks `passphrase` against `key` under the unlock `gate`, which it hands back when the
    /// passphrase is right; a wrong one counts toward the unlock back-off, which delays this
    /// caller only (the gate is released first).
    pub(super) async fn confirm<'a>(
        &self,
        key: VaultKey,
        passphrase: Secret,
        gate: tokio::sync::MutexGuard<'a, ()>,
    ) -> Result<tokio::sync::MutexGuard<'a, ()>, ErrorReply> {
        match run_blocking(move || key.accepts(&passphrase)).await {
            Ok(true) => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(gate)
            }
            Ok(false) => {
                drop(gate);
                Err(self
                    .refuse(StoreError::Vault(VaultError::BadPassphrase))
                    .await)
            }
            Err(error) => Err(store_error(error)),
        }
    }

    /// After a good step-up passphrase, lets the next `get` of the publish credential `name`
    /// through once, within [`credd_protocol::ALLOW_SECS`]. Wiped on lock.
    pub async fn allow(&self, name: &str, passphrase: Secret) -> Result<(), ErrorReply> {
        self.publish_entry(name)?;
        self.step_up(passphrase).await?;
        let mut inner = self.inner();
        let unlocked = inner.unlocked.as_mut().ok_or_else(ErrorReply::locked)?;
        let now = Instant::now();
        unlocked.allowances.retain(|(_, until)| *until > now);
        let until = now + Duration::from_secs(credd_protocol::ALLOW_SECS);
        unlocked.allowances.push((name.to_owned(), until));
        Ok(())
    }

    /// Uses up an allowance for `name`; false when there is none left in time.
    pub fn take_allowance(&self, name: &str) -> bool {
        let mut inner = self.inner();
        let Some(unlocked) = inner.unlocked.as_mut() else {
            return false;
        };
        let now = Instant::now();
        unlocked.allowances.retain(|(_, until)| *until > now);
        match unlocked.allowances.iter().position(|(n, _)| n == name) {
            Some(i) => {
                unlocked.allowances.remove(i);
                true
            }
            None => false,
        }
    }

    /// After a step-up for the publish credential `name` from `terminal`, opens the grace window
    /// the config sets (none by default) for further requests for it from that terminal.
    pub fn open_grace(&self, name: &str, terminal: Terminal) {
        let mut inner = self.inner();
        let Some(grace) = inner.config.grace() else {
            return;
        };
        let Some(unlocked) = inner.unlocked.as_mut() else {
            return;
        };
        let now = Instant::now();
        unlocked
            .graces
            .retain(|g| g.until > now && !(g.name == name && g.terminal == terminal));
        unlocked.graces.push(Grace {
            name: name.to_owned(),
            terminal,
            opened: now,
            until: now + grace,
        });
    }

    /// True while a grace window for `name` is open to `terminal`, for a connection `accepted`
    /// after the window opened. The terminal was read when the connection was accepted: a
    /// connection made earlier may since have passed to a process that left the terminal (a
    /// fork that calls `setsid`), so it never gets the window.
    pub fn in_grace(&self, name: &str, terminal: Terminal, accepted: Instant) -> bool {
        let mut inner = self.inner();
        let Some(unlocked) = inner.unlocked.as_mut() else {
            return false;
        };
        let now = Instant::now();
        unlocked.graces.retain(|g| g.until > now);
        unlocked
            .graces
            .iter()
            .any(|g| g.name == name && g.terminal == terminal && accepted >= g.opened)
    }

    /// Refuses, before any passphrase is checked, an `allow` of something that is no publish
    /// credential.
    fn publish_entry(&self, name: &str) -> Result<(), ErrorReply> {
        let inner = self.inner();
        let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
        let found = unlocked.entries.position_of_name(name);
        match found.map(|i| &unlocked.entries[i]) {
            Some(entry) if entry.publish => Ok(()),
            Some(_) => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                format!(
                    "{name:?} is no publish credential: it is handed out without a step-up \
                     already"
                ),
            )),
            None => Err(not_found(Query::Name(name))),
        }
    }

    /// Metadata of the entries whose name sorts after `after` (every entry when `None`), sorted
    /// by name: what a `list` page is cut from.
    pub fn list(&self, after: Option<&str>) -> Result<Vec<EntryInfo>, ErrorReply> {
        let mut infos: Vec<EntryInfo> = {
            let inner = self.inner();
            let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
            unlocked
                .entries
                .iter()
                .filter(|e| after.is_none_or(|after| e.name.as_str() > after))
                .filter(|e| !is_login(e))
                .map(|entry| {
                    let mut info = entry.info();
                    unlocked.tokens.describe(&mut info);
                    info
                })
                .collect()
        };
        // Sorting, like cutting and encoding the page, needs no lock: lookups go on meanwhile.
        infos.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// Stores `entry`; returns true when it replaced one of the same name. One credential per
    /// service and username: another entry of the same pair is `exists`, whatever `replace` says.
    pub async fn put(&self, mut entry: Entry, replace: bool) -> Result<bool, ErrorReply> {
        entry.username = entry.username.filter(|u| !u.is_empty());
        validate_entry(&entry)?;
        if entry.publish && self.store() == StoreKind::Keyring {
            return Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the keyring store has no passphrase, so nothing could confirm a publish: keep \
                 publish credentials in a vault store ('credd init'), or store this one without \
                 --publish",
            ));
        }
        self.modify(move |entries| {
            // Under the write gate, as `remember` checks the other way round.
            if entry.publish && self.inner().remembered.is_some() {
                return Err(remembered_refuses_publish());
            }
            let own = select::own_username(&entry);
            let pair = entries.same_pair(&entry.url, own, entry.publish);
            if let Some(other) = pair.filter(|&i| entries[i].name != entry.name) {
                return Err(pair_taken(&entries[other]));
            }
            let at = entries.position_of_name(&entry.name);
            if let Some(i) = at {
                team::refuse_change(&entries[i])?;
            }
            match at {
                Some(_) if !replace => Err(ErrorReply::new(
                    ErrorKind::Exists,
                    format!(
                        "an entry named {:?} exists already: replace it ('credd add --replace'), \
                         or choose another name",
                        entry.name
                    ),
                )),
                Some(i) => {
                    entries.replace(i, entry);
                    Ok(true)
                }
                None => {
                    entries.push(entry);
                    Ok(false)
                }
            }
        })
        .await
    }

    /// Stores `secret` for the pair (`url`, `username`): in the entry whose `url` is exactly that
    /// service for that username, else in a new entry named after them. Returns the entry's name
    /// and whether it replaced a secret.
    pub async fn set(
        &self,
        url: String,
        username: Option<String>,
        secret: Secret,
        note: Option<String>,
        expires: Option<u64>,
    ) -> Result<(String, bool), ErrorReply> {
        let username = username.filter(|u| !u.is_empty());
        let mut entry = Entry {
            name: String::new(),
            url,
            username,
            secret,
            expires,
            note,
            publish: false,
            source: None,
        };
        self.modify(move |entries| {
            if let Some(i) = entries.same_pair(&entry.url, entry.username.as_deref(), false) {
                team::refuse_change(&entries[i])?;
                if entries[i].source.is_some() {
                    return Err(ErrorReply::new(
                        ErrorKind::Exists,
                        format!(
                            "the entry {:?} mints this credential from a source; a stored secret \
                             would replace it: remove it first ('credd remove {0}'), or replace \
                             it with 'credd add {0} --replace …'",
                            entries[i].name
                        ),
                    ));
                }
                entry.name = entries[i].name.clone();
                entry.expires = entry.expires.or(entries[i].expires);
                entry.note = entries[i].note.clone().or(entry.note.take());
                validate_entry(&entry)?;
                let name = entry.name.clone();
                entries.replace(i, entry);
                return Ok((name, true));
            }
            entry.name = names::unused(entries, &entry.url, entry.username.as_deref());
            validate_entry(&entry)?;
            let name = entry.name.clone();
            entries.push(entry);
            Ok((name, false))
        })
        .await
    }

    /// Removes the entry `lookup` selects.
    pub async fn delete(&self, lookup: Lookup) -> Result<(), ErrorReply> {
        Query::of(&lookup)?;
        // Selected inside the write, so that what another write changed meanwhile counts.
        self.modify(move |entries| {
            let query = Query::of(&lookup)?;
            let i = entries
                .select(&query.into())?
                .ok_or_else(|| not_found(query))?;
            team::refuse_change(&entries[i])?;
            entries.remove(i);
            Ok(())
        })
        .await
    }

    /// Applies `change` to a copy of the entries, writes that copy to the vault off the async
    /// threads, and only then makes it the agent's view: a failed write changes nothing.
    async fn modify<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Entries) -> Result<T, ErrorReply>,
    ) -> Result<T, ErrorReply> {
        let _write = self.write_gate.lock().await;
        let (handle, mut entries) = {
            let inner = self.inner();
            let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
            (unlocked.handle.clone(), unlocked.entries.clone())
        };
        // Only the keyring store compares the old list with the new one: a vault is rewritten
        // whole (and a memory store not at all), so a put costs no second copy of every entry.
        let before = match handle {
            Handle::Keyring(_) => entries.to_vec(),
            Handle::Vault(_) | Handle::Memory => Vec::new(),
        };
        let outcome = change(&mut entries)?;
        let entries = self
            .persist(handle, before, entries)
            .await
            .map_err(store_error)?;
        match self.inner().unlocked.as_mut() {
            Some(unlocked) => {
                // The write gate makes the agent's view the list this write started from.
                unlocked.tokens.forget_changed(&unlocked.entries, &entries);
                unlocked.teams.forget_changed(&unlocked.entries, &entries);
                unlocked.entries = entries;
            }
            // Locked while writing: the change is on disk, the memory stays wiped.
            None => drop(entries),
        }
        Ok(outcome)
    }
}

impl State {
    /// Writes `after` to the store and hands it back. The keyring store writes the keychain
    /// first (bounded), then its entry list; a keychain failure changes no file.
    async fn persist(
        &self,
        handle: Handle,
        before: Vec<Entry>,
        after: Entries,
    ) -> Result<Entries, StoreError> {
        match handle {
            Handle::Vault(key) => run_blocking(move || key.save(&after).map(|()| after)).await,
            Handle::Memory => Ok(after),
            Handle::Keyring(file) => {
                let encoded = file.encode(&after)?;
                let changes = keyring::changes(&before, &after);
                drop(before);
                self.keychain(keychain::PERSISTENT, move || {
                    let keychain = Keychain::open(keychain::PERSISTENT)?;
                    keyring::apply(&keychain, &changes)
                })
                .await?;
                run_blocking(move || file.write(&encoded).map(|()| after)).await
            }
        }
    }
}

fn validate_entry(entry: &Entry) -> Result<(), ErrorReply> {
    validate_fields(entry)?;
    let bad = |what: String| Err(ErrorReply::new(ErrorKind::BadRequest, what));
    match &entry.source {
        Some(Source::Unknown) => {
            bad("the entry's source is of a kind this agent does not know: upgrade credd".into())
        }
        Some(Source::Command { argv, .. }) if argv.first().is_none_or(String::is_empty) => {
            bad("the entry's command source names no program".into())
        }
        Some(Source::Team { team, .. }) => bad(format!(
            "team entries are read from team {team:?}'s server, not stored: change them there"
        )),
        Some(Source::TeamLogin { team, .. }) if entry.name != format!("{LOGIN_PREFIX}{team}") => {
            bad(format!("a team login must be named {LOGIN_PREFIX}{team}"))
        }
        _ => Ok(()),
    }
}

/// The checks every entry passes, whoever wrote it.
fn validate_fields(entry: &Entry) -> Result<(), ErrorReply> {
    let bad = |what: String| Err(ErrorReply::new(ErrorKind::BadRequest, what));
    entry.check_lengths().or_else(bad)?;
    if entry.name.trim().is_empty() {
        return bad("the entry name is empty: give a name such as 'my-registry'".into());
    }
    if entry.url.trim().is_empty() || entry.url.contains(char::is_control) {
        return bad(
            "the entry's URL is empty or holds control characters: give the registry's URL, \
             such as https://host/index/"
                .into(),
        );
    }
    if urlmatch::has_password(&entry.url) {
        return bad(format!(
            "the URL {} holds a password: give it without one, and the password as the secret",
            urlmatch::without_userinfo(&entry.url)
        ));
    }
    Ok(())
}

/// How many entries serve publishing without a step-up: those no publish credential stands
/// beside.
fn unprotected(entries: &Entries) -> usize {
    entries
        .iter()
        .filter(|e| !is_login(e))
        .filter(|e| !e.publish && !entries.has_publish_credential(&select::service_of(e).into()))
        .count()
}

/// A team's login entry: the agent's own, never listed or counted.
fn is_login(entry: &Entry) -> bool {
    matches!(entry.source, Some(Source::TeamLogin { .. }))
}

/// The error for a publish credential stored while the vault key is remembered: whoever can
/// read the keychain could open the vault and take it without the step-up.
fn remembered_refuses_publish() -> ErrorReply {
    ErrorReply::new(
        ErrorKind::BadRequest,
        "the vault key is remembered in the OS keychain, where any program you run can read it \
         and open the vault, so a publish credential would need no step-up: run 'credd forget' \
         first, or store this one without --publish",
    )
}

/// The error for a second entry of the pair that entry `holder` has.
fn pair_taken(holder: &Entry) -> ErrorReply {
    let user =
        select::own_username(holder).map_or("no username".to_owned(), |u| format!("user {u:?}"));
    ErrorReply::new(
        ErrorKind::Exists,
        format!(
            "the entry {:?} holds the credential of {user} for this URL already: replace that \
             one, or remove it first",
            holder.name
        ),
    )
}

/// The error for unlocking a memory-only agent after a lock: its entries existed nowhere else.
fn memory_gone() -> ErrorReply {
    ErrorReply::new(
        ErrorKind::NoVault,
        "this agent keeps its entries in memory only ('credd ci'), and a lock wiped them: run the \
         job again",
    )
}

/// The `not-found` error for `query`.
fn not_found(query: Query<'_>) -> ErrorReply {
    let message = match query {
        Query::Name(name) => format!("no entry named {name:?}: see 'credd list'"),
        Query::Service { url, username, .. } => {
            let user = username.map_or(String::new(), |u| format!(" for user {u:?}"));
            format!(
                "no entry serves {}{user}: add one with 'credd add NAME --url URL'",
                urlmatch::without_userinfo(url)
            )
        }
    };
    ErrorReply::new(ErrorKind::NotFound, message)
}

/// The delay before answering the `n`th wrong passphrase in a row: 0.5 s doubling up to 16 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(5))
}

/// Runs slow, blocking work (key derivation, file writes) off the async threads.
async fn run_blocking<T: Send + 'static, E: Into<StoreError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(move || {
        let result = work().map_err(Into::into);
        // The store's work freed a copy of every entry: give those pages back.
        crate::sys::release_free_memory();
        result
    })
    .await
    .unwrap_or_else(|join_error| {
        Err(StoreError::Io {
            context: "a store task failed".into(),
            source: std::io::Error::other(join_error.to_string()),
        })
    })
}

/// The reply for a store error; its message already says what to do.
fn store_error(error: StoreError) -> ErrorReply {
    let kind = match &error {
        StoreError::Vault(VaultError::Missing(_)) | StoreError::KeyringMissing(_) => {
            ErrorKind::NoVault
        }
        StoreError::Vault(VaultError::Exists(_)) | StoreError::Exists(_) => ErrorKind::VaultExists,
        StoreError::Vault(VaultError::BadPassphrase) => ErrorKind::BadPassphrase,
        StoreError::Vault(VaultError::Damaged { .. }) | StoreError::KeyringDamaged { .. } => {
            ErrorKind::VaultDamaged
        }
        StoreError::Vault(
            VaultError::BadKdf(_) | VaultError::TooLarge { .. } | VaultError::UnknownKind(_),
        )
        | StoreError::BadRequest(_) => ErrorKind::BadRequest,
        StoreError::Keychain(_) => ErrorKind::KeychainUnavailable,
        StoreError::NotRemembered(_) => ErrorKind::NotRemembered,
        StoreError::Vault(VaultError::Io { .. }) | StoreError::Io { .. } => ErrorKind::Internal,
    };
    if kind == ErrorKind::Internal {
        tracing::error!(error = %error, "store operation failed");
    }
    // Every message names its cause already (`Io` shows its source).
    ErrorReply::new(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use credd_protocol::Lookup;

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        passes: 1,
        lanes: 1,
    };

    /// An unlocked state on a fresh vault with one entry, and its temp dir.
    async fn unlocked_state(idle: u64, max: u64) -> (Arc<State>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            idle_timeout: idle,
            max_unlock: max,
            ..Config::default()
        };
        let stores = Stores::new(dir.path().join("vault"));
        let state = Arc::new(State::new(stores, config));
        state
            .init(Some(Secret::new("pw")), Some(CHEAP), None)
            .await
            .unwrap();
        let entry = Entry {
            name: "reg".into(),
            url: "https://reg.test/".into(),
            username: None,
            secret: Secret::new("tok"),
            expires: None,
            note: None,
            publish: false,
            source: None,
        };
        state.put(entry, false).await.unwrap();
        (state, dir)
    }

    fn by_user<'a>(url: &'a str, username: &'a str) -> Query<'a> {
        Query::Service {
            url,
            username: Some(username),
            exact: false,
            publish: false,
            scheme: None,
        }
    }

    #[tokio::test]
    async fn set_keys_credentials_by_service_and_username_and_survives_unlock() {
        let (state, _dir) = unlocked_state(100, 100).await;
        let set = |url: &str, user: Option<&str>, secret: &str| {
            let state = state.clone();
            let (url, user, secret) = (url.to_owned(), user.map(String::from), Secret::new(secret));
            async move {
                state
                    .set(url, user, secret, Some("from pip".into()), None)
                    .await
            }
        };
        let first = set("https://reg.test/simple/", Some("bot"), "b1")
            .await
            .unwrap();
        assert_eq!(first, ("bot@reg.test/simple".to_owned(), false));
        let second = set("https://reg.test/simple/", Some("pub"), "")
            .await
            .unwrap();
        assert_eq!(second, ("pub@reg.test/simple".to_owned(), false));
        let again = set("https://reg.test/simple/", Some("bot"), "b2")
            .await
            .unwrap();
        assert_eq!(again, ("bot@reg.test/simple".to_owned(), true));
        // An opaque service, and one whose generated name is taken.
        state
            .put(entry_named("my-app", "https://elsewhere.test/"), false)
            .await
            .unwrap();
        assert_eq!(set("my-app", None, "x").await.unwrap().0, "my-app-2");

        state.lock();
        state.unlock(Secret::new("pw")).await.unwrap();
        let bot = state
            .get(by_user("https://reg.test/simple/pkg/", "bot"))
            .unwrap();
        assert_eq!(
            (bot.secret.expose(), bot.note.as_deref()),
            ("b2", Some("from pip"))
        );
        let publisher = state
            .get(by_user("https://reg.test/simple/", "pub"))
            .unwrap();
        assert!(
            publisher.secret.is_empty(),
            "an empty secret is kept as stored"
        );
        let ambiguous = state.get(Query::Service {
            url: "https://reg.test/simple/",
            username: None,
            exact: false,
            publish: false,
            scheme: None,
        });
        assert_eq!(ambiguous.unwrap_err().kind, ErrorKind::Ambiguous);
        assert_eq!(state.get(by_user("my-app", "")).unwrap().name, "my-app-2");
    }

    #[tokio::test]
    async fn delete_takes_the_lookup_of_get_and_refuses_bad_shapes() {
        let (state, _dir) = unlocked_state(100, 100).await;
        for user in ["a", "b"] {
            let url = "https://reg.test/x/".to_owned();
            let secret = Secret::new("s");
            state
                .set(url, Some(user.into()), secret, None, None)
                .await
                .unwrap();
        }
        let lookup = Lookup::url("https://reg.test/x/y").username(Some("a".into()));
        state.delete(lookup).await.unwrap();
        let gone = state.get(by_user("https://reg.test/x/", "a")).unwrap_err();
        assert_eq!(
            gone.kind,
            ErrorKind::NotFound,
            "reg has no username: it is not a's"
        );
        assert_eq!(
            state.get(by_user("https://reg.test/x/", "b")).unwrap().name,
            "b@reg.test/x"
        );
        let named_with_user = Lookup::name("reg").username(Some("a".into()));
        assert_eq!(
            state.delete(named_with_user).await.unwrap_err().kind,
            ErrorKind::BadRequest
        );
        let missing = state.delete(Lookup::url("https://nowhere.test/")).await;
        assert_eq!(missing.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn one_entry_per_service_and_username() {
        let (state, _dir) = unlocked_state(100, 100).await;
        // "reg" holds https://reg.test/ without a username.
        let twin = entry_named("twin", "sparse+https://REG.test:443");
        let error = state.put(twin.clone(), true).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Exists);
        assert!(error.message.contains(r#""reg""#), "{error}");
        let other_user = Entry {
            username: Some("ci".into()),
            ..twin
        };
        assert!(!state.put(other_user, false).await.unwrap());
        // `set` finds the pair by the same rule and replaces it.
        let set = state
            .set(
                "https://reg.test".into(),
                Some("ci".into()),
                Secret::new("new"),
                None,
                None,
            )
            .await
            .unwrap();
        assert_eq!(set, ("twin".to_owned(), true));
    }

    #[tokio::test]
    async fn urls_with_a_password_or_control_characters_are_refused() {
        let (state, _dir) = unlocked_state(100, 100).await;
        for url in ["https://u:hunter2@reg.test/", "https://reg.test/\n", " "] {
            let error = state
                .set(url.into(), None, Secret::new("s"), None, None)
                .await
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::BadRequest, "{url:?}");
            assert!(!error.message.contains("hunter2"), "{error}");
        }
    }

    fn entry_named(name: &str, url: &str) -> Entry {
        Entry {
            name: name.into(),
            url: url.into(),
            username: None,
            secret: Secret::new("s"),
            expires: None,
            note: None,
            publish: false,
            source: None,
        }
    }

    /// Lets the timer task run after the clock moved.
    async fn advance(secs: u64) {
        tokio::time::advance(Duration::from_secs(secs)).await;
        tokio::task::yield_now().await;
    }

    #[tokio::test]
    async fn idle_timer_locks_and_get_resets_it_but_status_does_not() {
        let (state, _dir) = unlocked_state(10, 1000).await;
        tokio::time::pause();
        let (_tx, rx) = tokio::sync::broadcast::channel(1);
        tokio::spawn(super::super::timer::auto_lock(state.clone(), rx));
        tokio::task::yield_now().await;

        advance(8).await;
        state.get(Query::Name("reg")).unwrap();
        advance(8).await;
        assert!(state.is_unlocked(), "get must reset the idle timer");
        for _ in 0..4 {
            state.status();
            advance(1).await;
        }
        advance(1).await;
        assert!(!state.is_unlocked(), "status must not reset the idle timer");
        assert_eq!(
            state.get(Query::Name("reg")).unwrap_err().kind,
            ErrorKind::Locked
        );
    }

    #[tokio::test]
    async fn absolute_maximum_locks_despite_use() {
        let (state, _dir) = unlocked_state(10, 30).await;
        tokio::time::pause();
        let (_tx, rx) = tokio::sync::broadcast::channel(1);
        tokio::spawn(super::super::timer::auto_lock(state.clone(), rx));
        tokio::task::yield_now().await;
        for _ in 0..29 {
            state.get(Query::Name("reg")).unwrap();
            advance(1).await;
        }
        assert!(state.is_unlocked());
        advance(2).await;
        assert!(!state.is_unlocked());
    }

    #[tokio::test]
    async fn lock_wipes_and_unlock_restores_from_disk() {
        let (state, _dir) = unlocked_state(10, 30).await;
        assert!(state.lock());
        assert!(!state.lock(), "second lock has nothing to wipe");
        assert_eq!(state.list(None).unwrap_err().kind, ErrorKind::Locked);
        state.unlock(Secret::new("pw")).await.unwrap();
        assert_eq!(
            state
                .get(Query::Service {
                    url: "https://reg.test/x",
                    username: None,
                    exact: false,
                    publish: false,
                    scheme: None,
                })
                .unwrap()
                .secret
                .expose(),
            "tok"
        );
    }

    #[tokio::test]
    async fn a_wrong_passwd_in_back_off_holds_up_no_other_client() {
        let (state, _dir) = unlocked_state(1000, 1000).await;
        state.failures.store(5, Ordering::Relaxed);
        tokio::time::pause();
        let started = Instant::now();
        let wrong = tokio::spawn({
            let state = state.clone();
            async move { state.passwd(Secret::new("wrong"), Secret::new("new")).await }
        });
        // Let the wrong passwd reach its back-off sleep (16 s of paused time).
        while state.failures.load(Ordering::Relaxed) < 6 {
            tokio::task::yield_now().await;
        }
        let entry = Entry {
            name: "other".into(),
            url: "https://other.test/".into(),
            username: None,
            secret: Secret::new("tok2"),
            expires: None,
            note: None,
            publish: false,
            source: None,
        };
        state.put(entry, false).await.unwrap();
        state.lock();
        state.unlock(Secret::new("pw")).await.unwrap();
        assert!(!wrong.is_finished(), "the wrong passwd answered too early");
        assert!(
            started.elapsed() < backoff(6),
            "other clients waited for the back-off: {:?}",
            started.elapsed()
        );
        let refused = wrong.await.unwrap().unwrap_err();
        assert_eq!(refused.kind, ErrorKind::BadPassphrase);
        assert!(started.elapsed() >= backoff(6));
    }

    #[tokio::test]
    async fn list_gives_the_entries_after_the_cursor_sorted() {
        let (state, _dir) = unlocked_state(10, 30).await;
        for name in ["zed", "alpha"] {
            let entry = Entry {
                name: name.into(),
                url: format!("https://{name}.test/"),
                username: None,
                secret: Secret::new("tok"),
                expires: None,
                note: None,
                publish: false,
                source: None,
            };
            state.put(entry, false).await.unwrap();
        }
        let names = |after: Option<&str>| -> Vec<String> {
            let infos = state.list(after).unwrap();
            infos.into_iter().map(|info| info.name).collect()
        };
        assert_eq!(names(None), ["alpha", "reg", "zed"]);
        assert_eq!(names(Some("alpha")), ["reg", "zed"]);
        assert_eq!(names(Some("r")), ["reg", "zed"]);
        assert_eq!(names(Some("zed")), Vec::<String>::new());
    }

    fn publish_entry(name: &str, url: &str) -> Entry {
        Entry {
            publish: true,
            ..entry_named(name, url)
        }
    }

    fn service(url: &str, publish: bool) -> Query<'_> {
        Query::Service {
            url,
            username: None,
            exact: false,
            publish,
            scheme: None,
        }
    }

    #[tokio::test]
    async fn a_publish_credential_sits_beside_the_read_one_and_only_publish_queries_see_it() {
        let (state, _dir) = unlocked_state(100, 100).await;
        // One credential for both: a publish query gets it, and it counts as unprotected.
        let (found, separate) = state.lookup(service("https://reg.test/x", true)).unwrap();
        assert_eq!((found.name.as_str(), separate), ("reg", false));
        assert_eq!(state.status().unprotected, Some(1));
        let publish = publish_entry("reg-publish", "https://reg.test/");
        assert!(!state.put(publish.clone(), false).await.unwrap());
        let second = Entry {
            name: "reg-publish-2".into(),
            ..publish
        };
        assert_eq!(
            state.put(second, false).await.unwrap_err().kind,
            ErrorKind::Exists
        );
        let (read, separate) = state.lookup(service("https://reg.test/x", false)).unwrap();
        assert_eq!((read.name.as_str(), separate), ("reg", true));
        let (found, _) = state.lookup(service("https://reg.test/x", true)).unwrap();
        assert!(found.publish && found.name == "reg-publish");
        assert_eq!(state.status().unprotected, Some(0));
        // `set` (keyring-style tools) only ever touches the read credential.
        let (name, replaced) = state
            .set(
                "https://reg.test/".into(),
                None,
                Secret::new("new"),
                None,
                None,
            )
            .await
            .unwrap();
        assert_eq!((name.as_str(), replaced), ("reg", true));
    }

    #[tokio::test]
    async fn step_up_checks_the_passphrase_and_an_allowance_serves_once_until_lock() {
        let (state, _dir) = unlocked_state(100, 100).await;
        state
            .put(publish_entry("reg-publish", "https://reg.test/"), false)
            .await
            .unwrap();
        state.step_up(Secret::new("pw")).await.unwrap();
        let wrong = state.step_up(Secret::new("nope")).await.unwrap_err();
        assert_eq!(wrong.kind, ErrorKind::BadPassphrase);
        assert_eq!(state.failures.load(Ordering::Relaxed), 1);
        assert!(!state.take_allowance("reg-publish"));
        let not_publish = state.allow("reg", Secret::new("pw")).await.unwrap_err();
        assert_eq!(not_publish.kind, ErrorKind::BadRequest);
        state.allow("reg-publish", Secret::new("pw")).await.unwrap();
        assert!(state.take_allowance("reg-publish"));
        assert!(
            !state.take_allowance("reg-publish"),
            "an allowance is used once"
        );
        state.allow("reg-publish", Secret::new("pw")).await.unwrap();
        state.lock();
        state.unlock(Secret::new("pw")).await.unwrap();
        assert!(
            !state.take_allowance("reg-publish"),
            "lock wipes allowances"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_grace_window_serves_one_terminal_for_one_credential_until_it_ends_or_lock() {
        let (state, _dir) = unlocked_state(10_000, 10_000).await;
        let here = Terminal {
            session: 100,
            tty: 34816,
        };
        let elsewhere = Terminal {
            session: 200,
            ..here
        };
        let before = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        state.open_grace("reg-publish", here);
        assert!(
            !state.in_grace("reg-publish", here, Instant::now()),
            "off by default"
        );
        state.set_config(Config {
            step_up_grace: 300,
            ..state.config()
        });
        state.open_grace("reg-publish", here);
        let after = Instant::now();
        assert!(state.in_grace("reg-publish", here, after));
        assert!(
            state.in_grace("reg-publish", here, after),
            "a window is not used up"
        );
        assert!(
            !state.in_grace("reg-publish", here, before),
            "a connection from before the window"
        );
        assert!(!state.in_grace("reg-publish", elsewhere, after));
        assert!(!state.in_grace("other-publish", here, after));
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(state.in_grace("reg-publish", here, after));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            !state.in_grace("reg-publish", here, after),
            "the window ended"
        );
        state.open_grace("reg-publish", here);
        state.lock();
        state.unlock(Secret::new("pw")).await.unwrap();
        assert!(
            !state.in_grace("reg-publish", here, Instant::now()),
            "lock wipes the window"
        );
        assert_eq!(state.status().step_up_grace, Some(300));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(6), Duration::from_secs(16));
        assert_eq!(backoff(60), Duration::from_secs(16));
    }
}
