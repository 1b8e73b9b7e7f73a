//! What the agent knows: locked or unlocked, the decrypted entries, and when to lock again.
//!
//! The entries sit behind a `std::sync::Mutex` held only for in-memory work, never across an
//! `.await` or a disk write. Slow work (the key derivation, vault writes) runs on blocking
//! threads, so lookups from other clients are answered meanwhile. Two async gates keep that
//! slow work ordered: one unlock-like operation at a time, and one vault write at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use credd_protocol::{
    Entry, EntryInfo, ErrorKind, ErrorReply, KdfParams, LockState, Secret, StatusResult,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Config;
use crate::store::vault::{DEFAULT_KDF, VaultError, VaultFile, VaultKey};
use crate::urlmatch;

/// The agent's shared state.
pub struct State {
    vault: VaultFile,
    inner: Mutex<Inner>,
    /// Serializes unlock, init and passwd: one key derivation at a time.
    unlock_gate: tokio::sync::Mutex<()>,
    /// Serializes vault writes so that concurrent puts cannot lose each other.
    write_gate: tokio::sync::Mutex<()>,
    /// Wrong passphrases since the last good one; drives the back-off.
    failures: AtomicU32,
    /// Wakes the auto-lock timer when deadlines change.
    timers_changed: Notify,
}

struct Inner {
    config: Config,
    unlocked: Option<Unlocked>,
}

/// Everything that exists only while unlocked; dropping it wipes the key and every secret.
struct Unlocked {
    key: VaultKey,
    entries: Vec<Entry>,
    unlocked_at: Instant,
    last_used: Instant,
}

impl Unlocked {
    fn new(key: VaultKey, entries: Vec<Entry>) -> Self {
        let now = Instant::now();
        Self {
            key,
            entries,
            unlocked_at: now,
            last_used: now,
        }
    }

    fn deadline(&self, config: &Config) -> Instant {
        (self.last_used + config.idle()).min(self.unlocked_at + config.max())
    }
}

/// Which entry a `get` asks for.
pub enum Query<'a> {
    /// Exact name.
    Name(&'a str),
    /// A URL the entry must serve.
    Url(&'a str),
}

impl State {
    /// A locked agent for the vault at `vault`.
    pub fn new(vault: VaultFile, config: Config) -> Self {
        Self {
            vault,
            inner: Mutex::new(Inner {
                config,
                unlocked: None,
            }),
            unlock_gate: tokio::sync::Mutex::new(()),
            write_gate: tokio::sync::Mutex::new(()),
            failures: AtomicU32::new(0),
            timers_changed: Notify::new(),
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

    /// Replaces the settings (SIGHUP) and re-arms the timers.
    pub fn set_config(&self, config: Config) {
        self.inner().config = config;
        self.timers_changed.notify_one();
    }

    /// Locked or unlocked, with the timers; does not count as use.
    pub fn status(&self) -> StatusResult {
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
            vault: self.vault.exists(),
            pid: std::process::id(),
            entries: unlocked.map(|u| u.entries.len()),
            idle_lock_in: unlocked.map(|u| secs_until(u.last_used + inner.config.idle())),
            max_lock_in: unlocked.map(|u| secs_until(u.unlocked_at + inner.config.max())),
        }
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

    /// Decrypts the vault; wrong passphrases are answered after a growing delay.
    pub async fn unlock(&self, passphrase: Secret) -> Result<(), ErrorReply> {
        let gate = self.unlock_gate.lock().await;
        if self.inner().unlocked.is_some() {
            return Ok(());
        }
        let vault = self.vault.clone();
        let opened = run_blocking(move || vault.open(&passphrase)).await;
        match opened {
            Ok((key, entries)) => {
                self.install(Unlocked::new(key, entries));
                Ok(())
            }
            Err(error) => {
                drop(gate);
                Err(self.refuse(error).await)
            }
        }
    }

    /// Creates a new vault and unlocks it.
    pub async fn init(&self, passphrase: Secret, kdf: Option<KdfParams>) -> Result<(), ErrorReply> {
        let _gate = self.unlock_gate.lock().await;
        let _write = self.write_gate.lock().await;
        let vault = self.vault.clone();
        let key = run_blocking(move || vault.create(&passphrase, kdf.unwrap_or(DEFAULT_KDF)))
            .await
            .map_err(vault_error)?;
        self.install(Unlocked::new(key, Vec::new()));
        tracing::info!(path = %self.vault.path().display(), "created a new vault");
        Ok(())
    }

    /// Re-encrypts the vault under `new` after checking `old`.
    pub async fn passwd(&self, old: Secret, new: Secret) -> Result<(), ErrorReply> {
        if new.is_empty() {
            return Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "the new passphrase is empty",
            ));
        }
        let gate = self.unlock_gate.lock().await;
        let _write = self.write_gate.lock().await;
        let vault = self.vault.clone();
        let rekeyed = run_blocking(move || {
            let (key, entries) = vault.open(&old)?;
            let new_key = key.rekey(&new)?;
            new_key.save(&entries)?;
            Ok(new_key)
        })
        .await;
        match rekeyed {
            Ok(new_key) => {
                if let Some(unlocked) = self.inner().unlocked.as_mut() {
                    unlocked.key = new_key;
                }
                tracing::info!("vault passphrase changed");
                Ok(())
            }
            Err(error) => {
                drop(gate);
                Err(self.refuse(error).await)
            }
        }
    }

    fn install(&self, unlocked: Unlocked) {
        self.failures.store(0, Ordering::Relaxed);
        self.inner().unlocked = Some(unlocked);
        self.timers_changed.notify_one();
        tracing::info!("unlocked");
    }

    /// Turns a failed unlock into its reply, delaying this caller after a wrong passphrase.
    async fn refuse(&self, error: VaultError) -> ErrorReply {
        if matches!(error, VaultError::BadPassphrase) {
            let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(failures, "wrong passphrase");
            tokio::time::sleep(backoff(failures)).await;
        }
        vault_error(error)
    }

    /// The entry a query selects, counting as use for the idle timer.
    pub fn get(&self, query: Query<'_>) -> Result<Entry, ErrorReply> {
        let mut inner = self.inner();
        let unlocked = inner.unlocked.as_mut().ok_or_else(ErrorReply::locked)?;
        let index = match query {
            Query::Name(name) => unlocked.entries.iter().position(|e| e.name == name),
            Query::Url(url) => {
                let candidates = unlocked
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (i, &e.url));
                urlmatch::best_match(candidates, url)
                    .map_err(|e| ErrorReply::new(ErrorKind::BadRequest, e.to_string()))?
            }
        };
        unlocked.last_used = Instant::now();
        let entry = index.map(|i| unlocked.entries[i].clone());
        entry.ok_or_else(|| ErrorReply::new(ErrorKind::NotFound, not_found_message(&query)))
    }

    /// Metadata of every entry, sorted by name.
    pub fn list(&self) -> Result<Vec<EntryInfo>, ErrorReply> {
        let inner = self.inner();
        let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
        let mut infos: Vec<EntryInfo> = unlocked.entries.iter().map(Entry::info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// Stores `entry`; returns true when it replaced one of the same name.
    pub async fn put(&self, entry: Entry, replace: bool) -> Result<bool, ErrorReply> {
        validate_entry(&entry)?;
        self.modify(
            move |entries| match entries.iter().position(|e| e.name == entry.name) {
                Some(_) if !replace => Err(ErrorReply::new(
                    ErrorKind::Exists,
                    format!(
                        "an entry named {:?} exists already: remove it first or replace it",
                        entry.name
                    ),
                )),
                Some(i) => {
                    entries[i] = entry;
                    Ok(true)
                }
                None => {
                    entries.push(entry);
                    Ok(false)
                }
            },
        )
        .await
    }

    /// Removes the entry named `name`.
    pub async fn delete(&self, name: String) -> Result<(), ErrorReply> {
        self.modify(move |entries| {
            let i = entries.iter().position(|e| e.name == name).ok_or_else(|| {
                ErrorReply::new(
                    ErrorKind::NotFound,
                    format!("no entry named {name:?}: see 'credd list'"),
                )
            })?;
            entries.remove(i);
            Ok(())
        })
        .await
    }

    /// Applies `change` to a copy of the entries, writes that copy to the vault off the async
    /// threads, and only then makes it the agent's view: a failed write changes nothing.
    async fn modify<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<Entry>) -> Result<T, ErrorReply>,
    ) -> Result<T, ErrorReply> {
        let _write = self.write_gate.lock().await;
        let (key, mut entries) = {
            let inner = self.inner();
            let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
            (unlocked.key.clone(), unlocked.entries.clone())
        };
        let outcome = change(&mut entries)?;
        let entries = run_blocking(move || key.save(&entries).map(|()| entries))
            .await
            .map_err(vault_error)?;
        match self.inner().unlocked.as_mut() {
            Some(unlocked) => unlocked.entries = entries,
            // Locked while writing: the change is on disk, the memory stays wiped.
            None => drop(entries),
        }
        Ok(outcome)
    }
}

fn validate_entry(entry: &Entry) -> Result<(), ErrorReply> {
    let bad = |what: &str| Err(ErrorReply::new(ErrorKind::BadRequest, what.to_owned()));
    if entry.name.trim().is_empty() {
        return bad("the entry name is empty: give a name such as 'my-registry'");
    }
    if entry.secret.is_empty() {
        return bad("the secret is empty: give the registry's token or password");
    }
    urlmatch::RegistryUrl::parse(&entry.url)
        .map(|_| ())
        .map_err(|e| ErrorReply::new(ErrorKind::BadRequest, e.to_string()))
}

fn not_found_message(query: &Query<'_>) -> String {
    match query {
        Query::Name(name) => format!("no entry named {name:?}: see 'credd list'"),
        Query::Url(url) => {
            format!("no entry serves {url}: add one with 'credd add NAME --url URL'")
        }
    }
}

/// The delay before answering the `n`th wrong passphrase in a row: 0.5 s doubling up to 16 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(5))
}

/// Runs slow, blocking work (key derivation, file writes) off the async threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join_error| {
            Err(VaultError::Io {
                context: "a vault task failed".into(),
                source: std::io::Error::other(join_error.to_string()),
            })
        })
}

/// The reply for a vault error; its message already says what to do.
fn vault_error(error: VaultError) -> ErrorReply {
    let kind = match &error {
        VaultError::Missing(_) => ErrorKind::NoVault,
        VaultError::Exists(_) => ErrorKind::VaultExists,
        VaultError::BadPassphrase => ErrorKind::BadPassphrase,
        VaultError::Damaged { .. } => ErrorKind::VaultDamaged,
        VaultError::BadKdf(_) => ErrorKind::BadRequest,
        VaultError::Io { .. } => ErrorKind::Internal,
    };
    if kind == ErrorKind::Internal {
        tracing::error!(error = %error, "vault operation failed");
    }
    let mut message = error.to_string();
    if let Some(source) = std::error::Error::source(&error) {
        message = format!("{message}: {source}");
    }
    ErrorReply::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

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
        let state = Arc::new(State::new(VaultFile::new(dir.path().join("vault")), config));
        state.init(Secret::new("pw"), Some(CHEAP)).await.unwrap();
        let entry = Entry {
            name: "reg".into(),
            url: "https://reg.test/".into(),
            username: None,
            secret: Secret::new("tok"),
            expires: None,
            note: None,
        };
        state.put(entry, false).await.unwrap();
        (state, dir)
    }

    fn is_unlocked(state: &State) -> bool {
        state.status().state == LockState::Unlocked
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
        assert!(is_unlocked(&state), "get must reset the idle timer");
        for _ in 0..4 {
            state.status();
            advance(1).await;
        }
        advance(1).await;
        assert!(!is_unlocked(&state), "status must not reset the idle timer");
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
        assert!(is_unlocked(&state));
        advance(2).await;
        assert!(!is_unlocked(&state));
    }

    #[tokio::test]
    async fn lock_wipes_and_unlock_restores_from_disk() {
        let (state, _dir) = unlocked_state(10, 30).await;
        assert!(state.lock());
        assert!(!state.lock(), "second lock has nothing to wipe");
        assert_eq!(state.list().unwrap_err().kind, ErrorKind::Locked);
        state.unlock(Secret::new("pw")).await.unwrap();
        assert_eq!(
            state
                .get(Query::Url("https://reg.test/x"))
                .unwrap()
                .secret
                .expose(),
            "tok"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(6), Duration::from_secs(16));
        assert_eq!(backoff(60), Duration::from_secs(16));
    }
}
