//! Team entries: registry credentials read from a team's OpenBao server ([`crate::team`]).
//!
//! A team's entries are ordinary entries of the store with a `team` source, written by the
//! agent: so the last good copy is encrypted and written atomically like every entry, served
//! from memory by the same lookups, and kept across restarts for the offline case. A read
//! replaces the team's entries as a whole: a rotated password is served after it, a deleted
//! secret is gone, and a 403 on the team's folder removes them all at once.
//!
//! Reads follow the token sources' rules ([`super::tokens`]): one at a time per team in a
//! [`Flight`] (a `refresh` that comes while one runs takes its outcome), on a blocking thread
//! outside the state lock, bounded by [`team::SYNC_TIMEOUT`]. Lookups never wait for one. The server token
//! (from an AppRole login, or the given one with its lifetime) lives in [`super::Unlocked`], so
//! a lock wipes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credd_protocol::{Entry, ErrorKind, ErrorReply, RefreshResult, Source, TeamStatus};
use tokio::sync::broadcast;

use super::flight::Flight;
use super::tokens::{JOIN_MARGIN, RETRY_AFTER, cut};
use super::{Entries, State};
use crate::config::{Config, Precedence, Team};
use crate::mint;
use crate::team::{self, Login, Read, Server, TeamError};
use crate::urlmatch::RegistryUrl;

/// How often the background task looks for a team whose read is due.
const TICK: Duration = Duration::from_secs(1);

/// The server tokens and read outcomes of an unlocked agent's teams, by team name.
#[derive(Default)]
pub(super) struct Teams {
    slots: HashMap<String, Arc<Slot>>,
}

impl Teams {
    fn slot(&mut self, name: &str) -> Arc<Slot> {
        self.slots.entry(name.to_owned()).or_default().clone()
    }

    /// Drops what is known of the teams whose login a write changed or removed: their server
    /// token came from the old one.
    pub(super) fn forget_changed(&mut self, before: &[Entry], after: &[Entry]) {
        let login = |entries: &'_ [Entry], name: &str| {
            entries
                .iter()
                .find(|e| login_of(e, name))
                .map(|e| (e.source.clone(), e.secret.clone()))
        };
        self.slots
            .retain(|name, _| match (login(before, name), login(after, name)) {
                (Some((source, secret)), Some((new_source, new_secret))) => {
                    source == new_source && secret.expose() == new_secret.expose()
                }
                (None, None) => true,
                _ => false,
            });
    }

    /// What `status` says of each configured team.
    pub(super) fn status(&self, config: &Config, entries: &[Entry]) -> Vec<TeamStatus> {
        config
            .team
            .iter()
            .map(|team| {
                let state = self.slots.get(&team.name).map(|s| s.state());
                let logged_in = entries.iter().any(|e| login_of(e, &team.name));
                let error = state.as_ref().and_then(|s| s.problem.clone());
                TeamStatus {
                    name: team.name.clone(),
                    address: team.address.clone(),
                    entries: entries.iter().filter(|e| of_team(e, &team.name)).count(),
                    fetched: entries.iter().filter_map(|e| fetched(e, &team.name)).max(),
                    token_expires: state.as_ref().and_then(|s| s.token.as_ref()?.expires),
                    error: error.or_else(|| (!logged_in).then(|| not_logged_in(team).message)),
                }
            })
            .collect()
    }
}

/// One team's token and what makes its reads one at a time.
#[derive(Default)]
struct Slot {
    flight: Flight<RefreshResult>,
    state: Mutex<SlotState>,
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct SlotState {
    token: Option<team::Token>,
    /// What `status` should say: why the last read failed, or what it left out.
    problem: Option<String>,
    /// No background read before this Unix second.
    due: u64,
}

impl State {
    /// Reads every configured team logged in to when its read is due (at once after an unlock,
    /// then every `refresh-interval`, sooner after a failure), while unlocked. Ends on shutdown.
    pub async fn refresh_teams(self: Arc<Self>, mut shutdown: broadcast::Receiver<()>) {
        loop {
            for name in self.due_teams() {
                let state = self.clone();
                tokio::spawn(async move {
                    if let Err(error) = state.refresh_team(&name).await {
                        tracing::warn!(team = name, %error.message, "reading a team failed");
                    }
                });
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = shutdown.recv() => return,
            }
        }
    }

    /// The teams whose background read is due, marked as started.
    fn due_teams(&self) -> Vec<String> {
        let mut inner = self.inner();
        let config = inner.config.clone();
        let Some(unlocked) = inner.unlocked.as_mut() else {
            return Vec::new();
        };
        let now = mint::now();
        let mut due = Vec::new();
        for team in &config.team {
            // A team nobody logged in to waits for 'credd team login'; `status` says so.
            if !unlocked.entries.iter().any(|e| login_of(e, &team.name)) {
                continue;
            }
            let slot = unlocked.teams.slot(&team.name);
            let mut state = slot.state();
            if now >= state.due {
                state.due = now + team.refresh_interval;
                due.push(team.name.clone());
            }
        }
        due
    }

    /// Reads the team `name` now (the `refresh` operation for a team, and the background
    /// reads); a read under way is waited for and counts.
    pub(super) async fn refresh_team(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<RefreshResult, ErrorReply> {
        let config = self.config();
        let team = config.team(name).cloned().ok_or_else(|| {
            ErrorReply::new(
                ErrorKind::NotFound,
                format!("no team named {name:?}: add a [[team]] table to config.toml"),
            )
        })?;
        let slot = {
            let mut inner = self.inner();
            let unlocked = inner.unlocked.as_mut().ok_or_else(ErrorReply::locked)?;
            unlocked.teams.slot(name)
        };
        let seen = slot.flight.seen();
        slot.flight
            .run(seen, async {
                // Taken in the flight, so that a read never uses a login replaced meanwhile.
                let login = {
                    let inner = self.inner();
                    let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
                    unlocked.entries.iter().find(|e| login_of(e, name)).cloned()
                };
                let outcome = self.read_team(&team, &slot, login).await;
                if let Err(error) = &outcome {
                    let mut state = slot.state();
                    state.problem = Some(error.message.clone());
                    let retry = mint::now() + RETRY_AFTER.min(team.refresh_interval);
                    state.due = state.due.min(retry);
                }
                outcome
            })
            .await
    }

    async fn read_team(
        &self,
        team: &Team,
        slot: &Slot,
        login: Option<Entry>,
    ) -> Result<RefreshResult, ErrorReply> {
        let login = login
            .map(login_material)
            .ok_or_else(|| not_logged_in(team))?;
        let cached = slot.state().token.clone();
        let task = {
            let team = team.clone();
            tokio::task::spawn_blocking(move || sync(&team, &login, cached))
        };
        let outcome = match tokio::time::timeout(team::SYNC_TIMEOUT + JOIN_MARGIN, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => Err(TeamError::Unreachable(format!("the read failed: {join}"))),
            Err(_) => Err(TeamError::Unreachable(format!(
                "no answer within {} s",
                team::SYNC_TIMEOUT.as_secs()
            ))),
        };
        match outcome {
            Ok((token, mut read, warning)) => {
                slot.state().token = Some(token);
                let (count, skipped) = self
                    .install_team(team, std::mem::take(&mut read.entries))
                    .await?;
                slot.state().problem = partial(&read, &skipped, warning);
                let now = mint::now();
                Ok(RefreshResult {
                    minted: now,
                    token_expires: now + team.max_age,
                    entries: Some(count),
                })
            }
            Err(error) => {
                if matches!(error, TeamError::Denied(_)) {
                    slot.state().token = None;
                    self.install_team(team, Vec::new()).await?;
                    tracing::warn!(
                        team = team.name,
                        "the server refused the token: the team's entries are wiped"
                    );
                }
                Err(failed(team, &error))
            }
        }
    }

    /// Makes `read` the team's entries, in memory and in the store, leaving out those whose
    /// name another entry has. Returns how many it holds and what it left out.
    async fn install_team(
        &self,
        team: &Team,
        read: Vec<Entry>,
    ) -> Result<(usize, Vec<String>), ErrorReply> {
        let name = team.name.clone();
        let holds_none = {
            let inner = self.inner();
            let unlocked = inner.unlocked.as_ref().ok_or_else(ErrorReply::locked)?;
            !unlocked.entries.iter().any(|e| of_team(e, &name))
        };
        if read.is_empty() && holds_none {
            return Ok((0, Vec::new()));
        }
        self.modify(move |entries| {
            entries.retain(|e| !of_team(e, &name));
            let mut skipped = Vec::new();
            let mut count = 0;
            for entry in read {
                let why = if entries.position_of_name(&entry.name).is_some() {
                    Some("an entry of this agent has its name")
                } else if super::validate_fields(&entry).is_err() {
                    Some("a field is too long or its URL is unusable")
                } else {
                    None
                };
                match why {
                    Some(why) => skipped.push(format!("{} ({why})", entry.name)),
                    None => {
                        entries.push(entry);
                        count += 1;
                    }
                }
            }
            Ok((count, skipped))
        })
        .await
    }

    /// A team entry as a lookup answers it: as it is while its copy is within the team's
    /// `max-age`, else `stale`.
    pub(super) fn fresh_team_entry(&self, entry: Entry) -> Result<Entry, ErrorReply> {
        let Some(Source::Team { team, fetched }) = &entry.source else {
            return Ok(entry);
        };
        let config = self.config();
        let Some(config) = config.team(team) else {
            return Err(ErrorReply::new(
                ErrorKind::Stale,
                format!(
                    "{:?} comes from team {team:?}, which config.toml no longer names: add its \
                     [[team]] table back, or remove the entry",
                    entry.name
                ),
            ));
        };
        let age = mint::now().saturating_sub(*fetched);
        if age <= config.max_age {
            return Ok(entry);
        }
        Err(ErrorReply::new(
            ErrorKind::Stale,
            format!(
                "the copy of {:?} was read from team {team:?}'s server {} {age} s ago, longer \
                 than its max-age ({} s), and the server has not answered since: check the \
                 network and the server, then 'credd refresh {team}'",
                entry.name, config.address, config.max_age
            ),
        ))
    }
}

/// Refuses a `put`, `set` or `delete` of a team entry: the team's server holds it, and the
/// next read would undo the change.
pub(super) fn refuse_change(entry: &Entry) -> Result<(), ErrorReply> {
    match team_of(entry) {
        Some(team) => Err(ErrorReply::new(
            ErrorKind::BadRequest,
            format!(
                "{:?} comes from team {team:?}'s server: change or delete it there (then 'credd \
                 refresh {team}')",
                entry.name
            ),
        )),
        None => Ok(()),
    }
}

/// A lookup's answer after a tie (`ambiguous`), when a team's `precedence` settles it: the
/// selection again without the entries that lose to another of the same URL and username (a
/// local one to its team's, or the team's to a local one). `None` when no precedence applies.
pub(super) fn break_tie(
    entries: &Entries,
    query: super::Query<'_>,
    config: &Config,
) -> Option<Result<Option<usize>, ErrorReply>> {
    if config.team.iter().all(|t| t.precedence.is_none()) {
        return None;
    }
    // One pass records, per credential (publish or not, username, service), whether a local
    // entry holds it and which teams do; an entry then loses in constant time, so a tie costs
    // O(n) however many entries there are.
    let pair = |e: &Entry| {
        let service = RegistryUrl::parse(&e.url).map_err(|_| e.url.clone());
        (e.publish, e.username.clone(), service)
    };
    let mut holders: HashMap<_, (bool, Vec<&str>)> = HashMap::new();
    for entry in entries.iter() {
        let slot = holders.entry(pair(entry)).or_default();
        match team_of(entry) {
            Some(team) => slot.1.push(team),
            None => slot.0 = true,
        }
    }
    let precedence = |team: &str| config.team(team).and_then(|t| t.precedence);
    let loses = |entry: &Entry| {
        let (has_local, teams) = &holders[&pair(entry)];
        match team_of(entry) {
            Some(team) => *has_local && precedence(team) == Some(Precedence::Local),
            None => teams
                .iter()
                .any(|&t| precedence(t) == Some(Precedence::Team)),
        }
    };
    let kept: Vec<usize> = (0..entries.len())
        .filter(|&i| !loses(&entries[i]))
        .collect();
    if kept.len() == entries.len() {
        return None;
    }
    let view = Entries::from(kept.iter().map(|&i| entries[i].clone()).collect::<Vec<_>>());
    Some(
        view.select(&query.into())
            .map(|found| found.map(|k| kept[k])),
    )
}

fn team_of(entry: &Entry) -> Option<&str> {
    match &entry.source {
        Some(Source::Team { team, .. }) => Some(team),
        _ => None,
    }
}

/// Logs in (or renews), then reads the team's folder. An AppRole or JWT login whose token the
/// server refuses logs in once more and reads again: the token may have been revoked or
/// expired while the secret id (or JWT) still works.
fn sync(
    team: &Team,
    login: &Login,
    cached: Option<team::Token>,
) -> Result<(team::Token, Read, Option<String>), TeamError> {
    let server = Server::new(team, Instant::now() + team::SYNC_TIMEOUT)?;
    let mut warning = None;
    let token = server.token(login, cached, &mut warning)?;
    match server.read(&token.secret) {
        Ok(read) => Ok((token, read, warning)),
        Err(TeamError::Denied(_)) if login.can_log_in_again() => {
            let token = server.login(login)?;
            let read = server.read(&token.secret)?;
            Ok((token, read, None))
        }
        Err(error) => Err(error),
    }
}

/// What a good read left out, for `status`; `None` when nothing.
fn partial(read: &Read, skipped: &[String], warning: Option<String>) -> Option<String> {
    let mut parts = Vec::new();
    if !read.denied.is_empty() {
        parts.push(format!(
            "the token's policy does not let it read {}",
            read.denied.join(", ")
        ));
    }
    if !read.invalid.is_empty() {
        parts.push(format!("not credentials: {}", read.invalid.join(", ")));
    }
    if !read.left_out.is_empty() {
        parts.push(format!("left out: {}", read.left_out.join(", ")));
    }
    if !skipped.is_empty() {
        parts.push(format!("not loaded: {}", skipped.join(", ")));
    }
    parts.extend(warning);
    (!parts.is_empty()).then(|| cut(&parts.join("; ")))
}

/// The `source-failed` reply for a failed read: what happened and what to do.
fn failed(team: &Team, error: &TeamError) -> ErrorReply {
    let name = &team.name;
    let fix = match error {
        TeamError::Denied(_) => format!(
            "the team's entries are wiped from this agent; if the token was revoked or expired, \
             log in again ('credd team login {name} --token-stdin', or --approle ROLE_ID \
             --secret-id-stdin); if the policy changed, ask for read and list on {}/{}",
            team.mount, team.path
        ),
        TeamError::BadAnswer(_) => "check that the team's address is an OpenBao or Vault server \
                                     and its mount a KV version 2 one"
            .to_owned(),
        TeamError::Server { .. } | TeamError::Unreachable(_) => format!(
            "the last copy is served until it is {} s old; check the network, the address and \
             ca-file in config.toml, then 'credd refresh {name}'",
            team.max_age
        ),
    };
    ErrorReply::new(
        ErrorKind::SourceFailed,
        cut(&format!(
            "cannot read team {name:?} from {}: {error}; {fix}",
            team.address
        )),
    )
}

fn not_logged_in(team: &Team) -> ErrorReply {
    let name = &team.name;
    ErrorReply::new(
        ErrorKind::SourceFailed,
        format!(
            "not logged in to team {name:?} ({}): run 'credd team login {name} --token-stdin', or \
             'credd team login {name} --approle ROLE_ID --secret-id-stdin'",
            team.address
        ),
    )
}

/// The login that a team's login entry holds.
fn login_material(entry: Entry) -> Login {
    match entry.source {
        Some(Source::TeamLogin {
            role_id: Some(role_id),
            ..
        }) => Login::AppRole {
            role_id,
            secret_id: entry.secret,
        },
        Some(Source::TeamLogin {
            jwt_role: Some(role),
            ..
        }) => Login::Jwt {
            role,
            jwt: entry.secret,
        },
        _ => Login::Token(entry.secret),
    }
}

fn of_team(entry: &Entry, name: &str) -> bool {
    matches!(&entry.source, Some(Source::Team { team, .. }) if team == name)
}

fn login_of(entry: &Entry, name: &str) -> bool {
    matches!(&entry.source, Some(Source::TeamLogin { team, .. }) if team == name)
}

fn fetched(entry: &Entry, name: &str) -> Option<u64> {
    match &entry.source {
        Some(Source::Team { team, fetched }) if team == name => Some(*fetched),
        _ => None,
    }
}
