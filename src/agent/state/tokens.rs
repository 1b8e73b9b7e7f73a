//! Minted tokens of source entries: cached while unlocked, minted once however many clients ask,
//! refreshed ahead of expiry.
//!
//! Each source entry has a [`Slot`]. A lookup with a usable cached token answers from it at
//! once; past 80% of the token's lifetime it also starts a refresh in the background. Without a
//! usable token the lookup waits on the slot's [`Flight`]: the first waiter mints, on a
//! blocking thread and outside the state lock, bounded by the mint timeout; the others take its
//! outcome, token or error, when it is done. Other entries' lookups never wait on a slot. The
//! slots live in [`super::Unlocked`], so a lock wipes every token and the material with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credd_protocol::{
    Entry, EntryInfo, ErrorKind, ErrorReply, MAX_SOURCE_ERROR_LEN, RefreshResult, Secret, Source,
};

use super::flight::Flight;
use super::{Entries, Query, State};
use crate::mint::{self, Context, MintError};

/// The least time a token handed out has left: this, or a fifth of its lifetime when that is
/// shorter (a token minted to live under five minutes).
const MIN_LEFT: u64 = 60;
/// How long past the mint timeout a mint's thread is waited for before the caller is told
/// (not the step-up grace window).
pub(super) const JOIN_MARGIN: Duration = Duration::from_secs(1);
/// The longest a minted token is kept, whatever its source says: a wrong clock or a mistyped
/// lifetime must not keep a token for years.
const MAX_LIFETIME: u64 = 24 * 60 * 60;
/// After a failed mint, seconds before a lookup starts another (`refresh` does at once).
pub(super) const RETRY_AFTER: u64 = 10;

/// The minted tokens of an unlocked agent, by entry name.
#[derive(Default)]
pub(super) struct Tokens {
    slots: HashMap<String, Arc<Slot>>,
}

impl Tokens {
    /// The slot of the entry `name`, made on first use.
    fn slot(&mut self, name: &str) -> Arc<Slot> {
        self.slots.entry(name.to_owned()).or_default().clone()
    }

    /// Drops the tokens of entries that a write removed or whose source or material it changed:
    /// they were minted from what is no longer there.
    pub(super) fn forget_changed(&mut self, before: &Entries, after: &Entries) {
        self.slots.retain(|name, _| {
            let (Some(old), Some(new)) = (
                before.position_of_name(name).map(|i| &before[i]),
                after.position_of_name(name).map(|i| &after[i]),
            ) else {
                return false;
            };
            old.source == new.source && old.secret.expose() == new.secret.expose()
        });
    }

    /// Adds what is known of the entry's token to its `list` metadata.
    pub(super) fn describe(&self, info: &mut EntryInfo) {
        let Some(slot) = self.slots.get(&info.name) else {
            return;
        };
        let state = slot.state();
        if let Some(cached) = &state.token {
            info.minted = Some(cached.minted);
            info.token_expires = Some(cached.expires);
        }
        info.source_error = state.last_error.as_ref().map(|e| cut(&e.message));
    }
}

/// One source entry's token and what makes its mints one at a time.
#[derive(Default)]
struct Slot {
    flight: Flight<Cached>,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    token: Option<Cached>,
    /// Why the last mint failed; `None` after a good one.
    last_error: Option<ErrorReply>,
    /// A background refresh is running.
    refreshing: bool,
    /// No background refresh before this Unix second (after a failed one).
    retry_at: u64,
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a mint's token, or its error for `list` and the retry delay.
    fn record(&self, entry: &Entry, outcome: &Result<Cached, ErrorReply>) {
        let mut state = self.state();
        match outcome {
            Ok(cached) => {
                state.token = Some(cached.clone());
                state.last_error = None;
                tracing::info!(
                    entry = entry.name,
                    expires = cached.expires,
                    "minted a token"
                );
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                state.retry_at = mint::now() + RETRY_AFTER;
            }
        }
    }
}

/// A minted token as cached.
#[derive(Clone)]
struct Cached {
    username: String,
    token: Secret,
    minted: u64,
    expires: u64,
}

impl Cached {
    /// The least time it must have left when handed out: [`MIN_LEFT`], or a fifth of its
    /// lifetime when that is shorter.
    fn min_left(&self) -> u64 {
        MIN_LEFT.min(self.expires.saturating_sub(self.minted).div_ceil(5))
    }

    /// True when it has enough time left to hand out.
    fn usable(&self, now: u64) -> bool {
        now + self.min_left() < self.expires
    }

    /// True once 80% of its lifetime has passed, or earlier when that would leave a refresh
    /// too little time before the token stops being handed out (a short-lived token): then at
    /// twice the least time left before expiry.
    fn refresh_due(&self, now: u64) -> bool {
        let lifetime = self.expires.saturating_sub(self.minted);
        let at =
            (self.minted + lifetime * 4 / 5).min(self.expires.saturating_sub(2 * self.min_left()));
        now >= at
    }
}

impl State {
    /// `entry` as a lookup answers it: a source entry with a minted token in place of its
    /// material (the registry's username unless the entry names its own, and the token's expiry
    /// as `expires`), any other entry as it is.
    pub async fn minted(self: &Arc<Self>, entry: Entry) -> Result<Entry, ErrorReply> {
        match &entry.source {
            None => return Ok(entry),
            Some(Source::Team { .. }) => return self.fresh_team_entry(entry),
            Some(Source::TeamLogin { team, .. }) => return Err(team_login(&entry.name, team)),
            Some(_) => {}
        }
        let slot = self.slot(&entry.name)?;
        let cached = self.token(&slot, &entry).await?;
        Ok(with_token(entry, cached))
    }

    /// Mints a new token for the source entry `name` now (the `refresh` operation).
    /// For a team's name, or one of its entries, reads the team now instead.
    pub async fn refresh(self: &Arc<Self>, name: &str) -> Result<RefreshResult, ErrorReply> {
        if self.config().team(name).is_some() {
            return self.refresh_team(name).await;
        }
        let (entry, _) = self.lookup(Query::Name(name))?;
        match &entry.source {
            Some(Source::Team { team, .. }) => return self.refresh_team(team).await,
            Some(Source::TeamLogin { team, .. }) => return self.refresh_team(team).await,
            _ => {}
        }
        if entry.source.is_none() {
            return Err(ErrorReply::new(
                ErrorKind::BadRequest,
                format!("{name:?} has no source: its secret is stored as it is, nothing to mint"),
            ));
        }
        let slot = self.slot(name)?;
        let seen = slot.flight.seen();
        let cached = self.mint_once(&slot, &entry, seen).await?;
        Ok(RefreshResult {
            minted: cached.minted,
            token_expires: cached.expires,
            entries: None,
        })
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>, ErrorReply> {
        let mut inner = self.inner();
        let unlocked = inner.unlocked.as_mut().ok_or_else(ErrorReply::locked)?;
        Ok(unlocked.tokens.slot(name))
    }

    /// The cached token when usable (starting a refresh when one is due); without one, the last
    /// mint's error for [`RETRY_AFTER`] seconds after it (so a revoked key or a hung endpoint is
    /// not tried again by every lookup), else a new one.
    async fn token(
        self: &Arc<Self>,
        slot: &Arc<Slot>,
        entry: &Entry,
    ) -> Result<Cached, ErrorReply> {
        let now = mint::now();
        // Noted before the token is looked at: a mint that ends in between is then taken, not
        // repeated.
        let seen = slot.flight.seen();
        {
            let mut state = slot.state();
            if let Some(cached) = state.token.clone().filter(|c| c.usable(now)) {
                if cached.refresh_due(now) && !state.refreshing && now >= state.retry_at {
                    state.refreshing = true;
                    self.refresh_in_background(slot, entry);
                }
                return Ok(cached);
            }
            if let Some(error) = state.last_error.as_ref().filter(|_| now < state.retry_at) {
                return Err(error.clone());
            }
        }
        self.mint_once(slot, entry, seen).await
    }

    fn refresh_in_background(self: &Arc<Self>, slot: &Arc<Slot>, entry: &Entry) {
        let (state, slot, entry) = (self.clone(), slot.clone(), entry.clone());
        tokio::spawn(async move {
            let seen = slot.flight.seen();
            if let Err(error) = state.mint_once(&slot, &entry, seen).await {
                tracing::warn!(entry = entry.name, %error, "refreshing a token failed; the cached one is served while it lasts");
            }
            slot.state().refreshing = false;
        });
    }

    /// Mints in the slot's flight, unless a mint finished since the caller saw `seen` of them:
    /// then that one's outcome is the caller's too.
    async fn mint_once(&self, slot: &Slot, entry: &Entry, seen: u64) -> Result<Cached, ErrorReply> {
        slot.flight
            .run(seen, async {
                let outcome = self.mint(entry).await;
                slot.record(entry, &outcome);
                outcome
            })
            .await
    }

    /// One mint of `entry`'s source on a blocking thread, bounded by the mint timeout.
    async fn mint(&self, entry: &Entry) -> Result<Cached, ErrorReply> {
        let config = self.config();
        let timeout = config.mint();
        let source = entry.source.clone().ok_or_else(|| internal("no source"))?;
        let material = entry.secret.clone();
        let cx = Context {
            ca_file: config.ca_file,
            deadline: std::time::Instant::now() + timeout,
        };
        let task = tokio::task::spawn_blocking(move || mint::mint(&source, &material, &cx));
        let name = &entry.name;
        let minted = match tokio::time::timeout(timeout + JOIN_MARGIN, task).await {
            Ok(Ok(Ok(minted))) => minted,
            Ok(Ok(Err(error))) => return Err(failed(name, &error)),
            Ok(Err(join)) => return Err(internal(&format!("the mint task failed: {join}"))),
            Err(_) => {
                let error = MintError::Timeout(format!(
                    "minting took longer than mint-timeout ({} s, config.toml)",
                    timeout.as_secs()
                ));
                return Err(failed(name, &error));
            }
        };
        let now = mint::now();
        let cached = Cached {
            username: minted.username,
            token: minted.token,
            minted: now,
            expires: minted.expires.min(now + MAX_LIFETIME),
        };
        if !cached.usable(now) {
            return Err(ErrorReply::new(
                ErrorKind::SourceFailed,
                format!(
                    "the token minted for {name:?} expires too soon to hand out (at {}, now {now}): \
                     check this machine's clock, or the source's token lifetime",
                    cached.expires
                ),
            ));
        }
        Ok(cached)
    }
}

/// `entry` answering a lookup with `cached` in place of its material. A username the entry
/// names wins over the one minted with the token (a registry may want its own).
fn with_token(entry: Entry, cached: Cached) -> Entry {
    let minted_username = Some(cached.username).filter(|u| !u.is_empty());
    Entry {
        username: entry.username.clone().or(minted_username),
        secret: cached.token,
        expires: Some(cached.expires),
        ..entry
    }
}

/// The `source-failed` reply for a failed mint: what happened and what to do.
fn failed(name: &str, error: &MintError) -> ErrorReply {
    let fix = match error {
        MintError::BadMaterial(_) => {
            format!("store a usable key: 'credd add {name} --replace …' with the source's options")
        }
        MintError::Rejected { .. } => format!(
            "the key may be revoked or disabled: check it with its issuer, then 'credd add {name} \
             --replace …'"
        ),
        MintError::Unreachable { .. } => format!(
            "check the network and any TLS proxy (ca-file in config.toml), then 'credd refresh \
             {name}'"
        ),
        MintError::CommandFailed { .. } => {
            format!("fix the command (try it in a shell), then 'credd refresh {name}'")
        }
        MintError::ClockSkew { .. } | MintError::Timeout(_) | MintError::Unsupported => {
            format!("then 'credd refresh {name}'")
        }
    };
    let message = format!("cannot get a token for {name:?}: {error}; {fix}");
    ErrorReply::new(ErrorKind::SourceFailed, cut(&message))
}

/// The reply for a lookup that selects a team's login entry: it is never handed out.
fn team_login(name: &str, team: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::BadRequest,
        format!(
            "{name:?} is the agent's login to team {team:?}'s server: it is never handed out;              'credd team login {team}' replaces it"
        ),
    )
}

fn internal(what: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::Internal,
        format!("minting failed inside the agent: {what}"),
    )
}

/// `message` cut to [`MAX_SOURCE_ERROR_LEN`] bytes, at a character boundary.
pub(super) fn cut(message: &str) -> String {
    let mut end = message.len().min(MAX_SOURCE_ERROR_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(minted: u64, expires: u64) -> Cached {
        Cached {
            username: "u".into(),
            token: Secret::new("t"),
            minted,
            expires,
        }
    }

    #[test]
    fn a_token_is_handed_out_until_a_minute_before_expiry_and_refreshed_at_80_percent() {
        let hour = cached(0, 3600);
        assert!(hour.usable(3539) && !hour.usable(3540));
        assert!(!hour.refresh_due(2879) && hour.refresh_due(2880));
        // A short-lived token keeps a fifth of its lifetime instead, and is refreshed while
        // still handed out.
        let short = cached(100, 110);
        assert!(short.usable(107) && !short.usable(108));
        assert!(!short.refresh_due(105) && short.refresh_due(106));
        for lifetime in [5, 10, 60, 299, 300, 301, 600] {
            let token = cached(0, lifetime);
            let due = (0..lifetime).find(|&now| token.refresh_due(now)).unwrap();
            assert!(
                token.usable(due),
                "lifetime {lifetime}: due at {due}, not usable then"
            );
        }
    }

    fn source_entry(name: &str, program: &str, material: &str) -> Entry {
        Entry {
            name: name.into(),
            url: format!("https://{name}.test/"),
            username: None,
            secret: Secret::new(material),
            expires: None,
            note: None,
            publish: false,
            source: Some(credd_protocol::Source::Command {
                argv: vec![program.into()],
                env: Default::default(),
                timeout: None,
            }),
        }
    }

    #[test]
    fn a_write_drops_the_tokens_of_entries_it_removed_or_whose_source_or_material_changed() {
        let before = ["kept", "resourced", "rekeyed", "removed"]
            .map(|name| source_entry(name, "/bin/a", "m"))
            .to_vec();
        let after = vec![
            source_entry("kept", "/bin/a", "m"),
            source_entry("resourced", "/bin/b", "m"),
            source_entry("rekeyed", "/bin/a", "m2"),
        ];
        let mut tokens = Tokens::default();
        for entry in &before {
            tokens.slot(&entry.name);
        }
        tokens.forget_changed(&Entries::from(before), &Entries::from(after));
        let left: Vec<&str> = tokens.slots.keys().map(String::as_str).collect();
        assert_eq!(left, ["kept"]);
    }

    #[test]
    fn a_client_waits_longer_than_the_longest_mint() {
        let longest = Duration::from_secs(crate::config::MAX_MINT_TIMEOUT) + JOIN_MARGIN;
        assert!(longest + Duration::from_secs(2) <= crate::client::LOOKUP_TIMEOUT);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_SOURCE_ERROR_LEN);
        let short = cut(&long);
        assert!(short.len() <= MAX_SOURCE_ERROR_LEN && short.len() > MAX_SOURCE_ERROR_LEN - 2);
    }
}
