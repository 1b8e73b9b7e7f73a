//! A team's OpenBao (or Vault) server: logging in, renewing the token, and reading the team's
//! entries from its KV v2 folder.
//!
//! Everything here is blocking and bounded by one deadline, like minting; the agent runs it on
//! a blocking thread outside its state lock and keeps what it returns. Bodies are read by
//! [`crate::http`] (bounded, wiped); secrets are parsed straight into [`Secret`]s. Errors carry
//! the server's own `errors` list, which holds no secrets, and never a token.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use credd_protocol::{Entry, MAX_NAME_LEN, Secret, Source};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::config::Team;
use crate::http::{self, HttpError};
use crate::mint::{json_error, now, parse_expiry, scrub};

/// The name of a team's login entry is this, then the team's name (`credd team login` writes
/// it; `list` hides it).
pub const LOGIN_PREFIX: &str = "team-login/";
/// How long one read of a team (login, renewal, listing and every secret) may take.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Secrets read at once: enough to hide the round trips, few enough not to load the server.
const READERS: usize = 4;
/// How deep sub-folders under the team's path are followed.
const MAX_DEPTH: usize = 4;
/// The most secrets one read fetches: the size the agent is built to serve, and a bound on
/// what a server (a wrong address, a broken or hostile one) can make the agent hold.
const MAX_KEYS: usize = 10_000;
/// The most folder listings one read makes: a server answering every listing with many
/// sub-folders would otherwise keep the agent listing until the deadline.
const MAX_LISTINGS: usize = 1_000;

/// How the agent logs in to the server, as the team's login entry holds it.
pub enum Login {
    /// A token given by `credd team login NAME --token-stdin`.
    Token(Secret),
    /// An AppRole: role id and secret id.
    AppRole {
        /// The role id (not secret by itself).
        role_id: String,
        /// The secret id.
        secret_id: Secret,
    },
    /// A JWT (a CI job's OIDC token) for the server's JWT auth role `role`.
    Jwt {
        /// The role at `auth/jwt/role/ROLE`.
        role: String,
        /// The JWT.
        jwt: Secret,
    },
}

impl Login {
    /// True when the agent can log in again by itself (AppRole, JWT), so that an expired or
    /// revoked token is no dead end.
    pub fn can_log_in_again(&self) -> bool {
        !matches!(self, Login::Token(_))
    }
}

/// A server token the agent holds, with what the server said of its lifetime.
#[derive(Clone)]
pub struct Token {
    /// The token.
    pub secret: Secret,
    /// When it stops working, in Unix seconds; `None` for a token that never expires.
    pub expires: Option<u64>,
    /// Its lifetime as last granted, in seconds.
    lifetime: u64,
    /// Whether `renew-self` may extend it.
    renewable: bool,
}

impl Token {
    fn new(secret: Secret, ttl: u64, renewable: bool) -> Self {
        Self {
            secret,
            // A server may say any number: the expiry saturates rather than overflow.
            expires: (ttl > 0).then(|| now().saturating_add(ttl)),
            lifetime: ttl,
            renewable,
        }
    }

    /// True when it is worth renewing before a read that comes `interval` from now: past half
    /// its lifetime, or expiring before the read after next.
    fn renewal_due(&self, interval: u64) -> bool {
        self.expires.is_some_and(|expires| {
            let left = expires.saturating_sub(now());
            left <= self.lifetime / 2 || left <= interval.saturating_mul(2)
        })
    }

    /// True while it has a second left to make requests with.
    fn usable(&self) -> bool {
        self.expires.is_none_or(|expires| now() + 1 < expires)
    }
}

/// What a read of the team's folder found.
pub struct Read {
    /// The entries, sorted by name.
    pub entries: Vec<Entry>,
    /// Secrets (or sub-folders) the token's policy does not let it read.
    pub denied: Vec<String>,
    /// Secrets that are no credential (no `url`, or neither `password` nor `token`), with why.
    pub invalid: Vec<String>,
    /// What the read's bounds left unread, counted (`3 secrets past the first 10000`).
    pub left_out: Vec<String>,
}

/// The walk of a team's folder: the secrets' paths, and what it skipped.
#[derive(Default)]
struct Walk {
    keys: Vec<String>,
    denied: Vec<String>,
    listings: usize,
    long_names: usize,
    past_max_keys: usize,
    unlisted_folders: usize,
}

impl Walk {
    /// Counts a listing about to be made; false once [`MAX_LISTINGS`] were, and the folder is
    /// counted as left out instead.
    fn may_list(&mut self) -> bool {
        if self.listings == MAX_LISTINGS {
            self.unlisted_folders += 1;
            return false;
        }
        self.listings += 1;
        true
    }

    /// Keeps the secret at `key`, whose entry would be called `name`, unless a bound says no.
    fn take(&mut self, key: String, name: &str) {
        if name.len() > MAX_NAME_LEN {
            self.long_names += 1;
        } else if self.keys.len() == MAX_KEYS {
            self.past_max_keys += 1;
        } else {
            self.keys.push(key);
        }
    }

    /// What the bounds skipped, one phrase per bound that was hit.
    fn left_out(&self) -> Vec<String> {
        let secrets = |n: usize| {
            if n == 1 {
                "1 secret".to_owned()
            } else {
                format!("{n} secrets")
            }
        };
        let mut phrases = Vec::new();
        if self.long_names > 0 {
            phrases.push(format!(
                "{} whose entry name would be longer than {MAX_NAME_LEN} bytes",
                secrets(self.long_names)
            ));
        }
        if self.past_max_keys > 0 {
            phrases.push(format!(
                "{} past the first {MAX_KEYS}",
                secrets(self.past_max_keys)
            ));
        }
        if self.unlisted_folders > 0 {
            phrases.push(format!(
                "{} folder(s) past the first {MAX_LISTINGS} listings",
                self.unlisted_folders
            ));
        }
        phrases
    }
}

/// Why a server call failed. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// 403: the token is revoked, expired or not allowed to list the team's folder.
    #[error("the server refused the agent's token ({0})")]
    Denied(String),
    /// Any other error status.
    #[error("the server answered HTTP {status} ({errors})")]
    Server {
        /// The status.
        status: u16,
        /// The server's `errors`, joined.
        errors: String,
    },
    /// No answer, a TLS failure, the CA file, or the deadline.
    #[error("{0}")]
    Unreachable(String),
    /// An answer that is not what OpenBao sends.
    #[error("the server's answer is not OpenBao's: {0}")]
    BadAnswer(String),
}

/// A connection to one team's server, good until one deadline.
pub struct Server<'a> {
    team: &'a Team,
    http: http::Client,
}

/// What a secret's fields must hold to be an entry.
#[derive(Deserialize)]
struct Fields {
    url: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    token: Option<Secret>,
    expires: Option<serde_json::Value>,
    note: Option<String>,
}

impl<'a> Server<'a> {
    /// A client for `team`'s server giving up at `deadline`.
    pub fn new(team: &'a Team, deadline: Instant) -> Result<Self, TeamError> {
        let http = http::Client::new(team.ca_file.as_deref(), deadline)
            .map_err(|e| TeamError::Unreachable(format!("{e}; fix the team's ca-file")))?;
        Ok(Self { team, http })
    }

    /// Logs in: with a given token, asks the server what it is worth; with an AppRole, gets a
    /// new token.
    pub fn login(&self, login: &Login) -> Result<Token, TeamError> {
        match login {
            Login::Token(token) => self.lookup_self(token),
            Login::AppRole { role_id, secret_id } => {
                #[derive(serde::Serialize)]
                struct Body<'b> {
                    role_id: &'b str,
                    secret_id: &'b Secret,
                }
                let body = json_body(&Body { role_id, secret_id }, secret_id.expose().len())?;
                self.log_in("auth/approle/login", &body)
            }
            Login::Jwt { role, jwt } => {
                #[derive(serde::Serialize)]
                struct Body<'b> {
                    role: &'b str,
                    jwt: &'b Secret,
                }
                let body = json_body(&Body { role, jwt }, jwt.expose().len())?;
                self.log_in("auth/jwt/login", &body)
            }
        }
    }

    fn log_in(&self, path: &str, body: &[u8]) -> Result<Token, TeamError> {
        let token = auth_token(&self.call(path, None, Some(body))?)?;
        tracing::info!(
            team = self.team.name,
            expires = token.expires,
            "logged in to the team's server"
        );
        Ok(token)
    }

    /// A usable token for the next read: `cached` (renewed when due), else a new login. For a
    /// given token, a renewal that fails is no error while the token still works; `warning`
    /// says why it will stop.
    pub fn token(
        &self,
        login: &Login,
        cached: Option<Token>,
        warning: &mut Option<String>,
    ) -> Result<Token, TeamError> {
        let token = match cached.filter(Token::usable) {
            Some(token) => token,
            None => self.login(login)?,
        };
        if !token.renewal_due(self.team.refresh_interval) {
            return Ok(token);
        }
        let renewed = token.renewable.then(|| self.renew(&token));
        match renewed {
            Some(Ok(renewed)) if !renewed.renewal_due(self.team.refresh_interval) => Ok(renewed),
            // Renewal no longer helps (not renewable, or its maximum lifetime reached): an
            // AppRole or a JWT logs in again.
            _ if login.can_log_in_again() => self.login(login),
            outcome => {
                let why = match &outcome {
                    None => "it is not renewable".to_owned(),
                    Some(Ok(_)) => "it reached its maximum lifetime".to_owned(),
                    Some(Err(e)) => e.to_string(),
                };
                *warning = Some(format!(
                    "the agent's token cannot be renewed ({why}) and stops working at {}: log in \
                     again with a new token ('credd team login {} --token-stdin')",
                    rfc3339(token.expires.unwrap_or_default()),
                    self.team.name
                ));
                Ok(outcome.and_then(Result::ok).unwrap_or(token))
            }
        }
    }

    /// `renew-self`: the same token, with a new lifetime.
    fn renew(&self, token: &Token) -> Result<Token, TeamError> {
        let answer = self.call("auth/token/renew-self", Some(&token.secret), Some(b"{}"))?;
        let token = auth_token(&answer)?;
        tracing::info!(
            team = self.team.name,
            expires = token.expires,
            "renewed the team's token"
        );
        Ok(token)
    }

    fn lookup_self(&self, token: &Secret) -> Result<Token, TeamError> {
        #[derive(Deserialize)]
        struct Answer {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            ttl: u64,
            #[serde(default)]
            renewable: bool,
        }
        let answer = self.call("auth/token/lookup-self", Some(token), None)?;
        let data: Answer = parse(&answer)?;
        Ok(Token::new(
            token.clone(),
            data.data.ttl,
            data.data.renewable,
        ))
    }

    /// Reads every secret under the team's path. A 403 on the path itself is
    /// [`TeamError::Denied`]; on single secrets or sub-folders it lists them in
    /// [`Read::denied`]. A secret gone between listing and reading is left out.
    pub fn read(&self, token: &Secret) -> Result<Read, TeamError> {
        let mut walk = Walk::default();
        self.list(token, "", 0, &mut walk)?;
        let keys = std::mem::take(&mut walk.keys);
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(keys.len()));
        std::thread::scope(|scope| {
            for _ in 0..READERS.min(keys.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(i) else { break };
                        let outcome = self.secret(token, key);
                        results
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((key, outcome));
                    }
                });
            }
        });
        let mut read = Read {
            entries: Vec::new(),
            left_out: walk.left_out(),
            denied: walk.denied,
            invalid: Vec::new(),
        };
        for (key, outcome) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            match outcome {
                Ok(Some(Ok(entry))) => read.entries.push(entry),
                Ok(Some(Err(why))) => read.invalid.push(format!("{key} ({why})")),
                Ok(None) => {}
                Err(TeamError::Denied(_)) => read.denied.push(key.clone()),
                Err(other) => return Err(other),
            }
        }
        read.entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        read.denied.sort_unstable();
        read.invalid.sort_unstable();
        Ok(read)
    }

    /// Adds to `walk` the secrets' paths under the team's path (`dir` below it), sub-folders
    /// followed, within the bounds: [`MAX_LISTINGS`], [`MAX_KEYS`], and names an entry can have.
    fn list(
        &self,
        token: &Secret,
        dir: &str,
        depth: usize,
        walk: &mut Walk,
    ) -> Result<(), TeamError> {
        #[derive(Deserialize)]
        struct Answer {
            data: Keys,
        }
        #[derive(Deserialize)]
        struct Keys {
            keys: Vec<String>,
        }
        if !walk.may_list() {
            return Ok(());
        }
        let path = format!("{}/metadata/{}?list=true", self.mount(), self.folder(dir));
        let answer = match self.call(&path, Some(token), None) {
            Ok(answer) => answer,
            Err(TeamError::Server { status: 404, .. }) => return Ok(()),
            Err(TeamError::Denied(_)) if !dir.is_empty() => {
                walk.denied.push(dir.to_owned());
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let listed: Answer = parse(&answer)?;
        for key in listed.data.keys {
            let full = format!("{dir}{key}");
            if key.ends_with('/') {
                if depth < MAX_DEPTH {
                    self.list(token, &full, depth + 1, walk)?;
                }
            } else {
                let name = self.entry_name(&full);
                walk.take(full, &name);
            }
        }
        Ok(())
    }

    /// The name of the entry the secret at `key` becomes: `TEAM/KEY`.
    fn entry_name(&self, key: &str) -> String {
        format!("{}/{key}", self.team.name)
    }

    /// One secret as an entry; `None` when it is gone, `Some(Err(why))` when it is no
    /// credential.
    fn secret(
        &self,
        token: &Secret,
        key: &str,
    ) -> Result<Option<Result<Entry, &'static str>>, TeamError> {
        #[derive(Deserialize)]
        struct Answer {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            data: Fields,
        }
        let path = format!("{}/data/{}", self.mount(), self.folder(key));
        let answer = match self.call(&path, Some(token), None) {
            Ok(answer) => answer,
            Err(TeamError::Server { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let fields = parse::<Answer>(&answer)?.data.data;
        Ok(Some(self.entry(key, fields)))
    }

    fn entry(&self, key: &str, fields: Fields) -> Result<Entry, &'static str> {
        let url = fields
            .url
            .filter(|u| !u.trim().is_empty())
            .ok_or("no url")?;
        let secret = fields
            .password
            .or(fields.token)
            .ok_or("neither password nor token")?;
        Ok(Entry {
            name: self.entry_name(key),
            url,
            username: fields.username.filter(|u| !u.is_empty()),
            secret,
            expires: fields.expires.as_ref().and_then(parse_expiry),
            note: fields.note,
            publish: false,
            source: Some(Source::Team {
                team: self.team.name.clone(),
                fetched: now(),
            }),
        })
    }

    fn mount(&self) -> &str {
        self.team.mount.trim_matches('/')
    }

    /// The team's path with `below` appended.
    fn folder(&self, below: &str) -> String {
        format!("{}/{below}", self.team.path.trim_matches('/'))
            .trim_end_matches('/')
            .to_owned()
    }

    /// One request to `/v1/PATH`: a POST with `body`, else a GET. A 2xx answer is returned;
    /// any other status is an error with the server's `errors`.
    fn call(
        &self,
        path: &str,
        token: Option<&Secret>,
        body: Option<&[u8]>,
    ) -> Result<http::Response, TeamError> {
        let url = format!("{}/v1/{path}", self.team.address.trim_end_matches('/'));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(token) = token {
            headers.push(("X-Vault-Token", token.expose()));
        }
        if let Some(namespace) = &self.team.namespace {
            headers.push(("X-Vault-Namespace", namespace));
        }
        let answer = match body {
            Some(body) => self.http.post(&url, &headers, body),
            None => self.http.get(&url, &headers),
        }
        .map_err(unreachable)?;
        match answer.status {
            200..=299 => Ok(answer),
            403 => Err(TeamError::Denied(errors(&answer))),
            status => Err(TeamError::Server {
                status,
                errors: errors(&answer),
            }),
        }
    }
}

/// The token of a login or renewal answer.
fn auth_token(answer: &http::Response) -> Result<Token, TeamError> {
    #[derive(Deserialize)]
    struct Answer {
        auth: Auth,
    }
    #[derive(Deserialize)]
    struct Auth {
        client_token: Secret,
        lease_duration: u64,
        #[serde(default)]
        renewable: bool,
    }
    let auth = parse::<Answer>(answer)?.auth;
    Ok(Token::new(
        auth.client_token,
        auth.lease_duration,
        auth.renewable,
    ))
}

/// `value` as a JSON body in a buffer sized once (it holds `secret_len` bytes of a secret,
/// perhaps escaped) and wiped when dropped.
fn json_body<T: serde::Serialize>(
    value: &T,
    secret_len: usize,
) -> Result<Zeroizing<Vec<u8>>, TeamError> {
    let mut body = Zeroizing::new(Vec::with_capacity(256 + secret_len * 6));
    serde_json::to_writer(&mut *body, value)
        .map_err(|e| TeamError::BadAnswer(format!("cannot encode a request: {e}")))?;
    Ok(body)
}

fn parse<T: serde::de::DeserializeOwned>(answer: &http::Response) -> Result<T, TeamError> {
    serde_json::from_slice(&answer.body).map_err(|e| TeamError::BadAnswer(json_error(&e)))
}

/// The server's `errors` list, joined; it names what is wrong and holds no secret.
fn errors(answer: &http::Response) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_slice::<Errors>(&answer.body) {
        Ok(list) if !list.errors.is_empty() => scrub(&list.errors.join("; ")),
        _ => "no error message".into(),
    }
}

/// Unix seconds as an RFC 3339 time, for messages.
fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn unreachable(error: HttpError) -> TeamError {
    match error {
        HttpError::Timeout => {
            TeamError::Unreachable(format!("no answer within {} s", SYNC_TIMEOUT.as_secs()))
        }
        other => TeamError::Unreachable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_past_half_its_life_or_before_the_read_after_next() {
        let fresh = Token::new(Secret::new("t"), 3600, true);
        assert!(!fresh.renewal_due(300));
        let short = Token::new(Secret::new("t"), 4, true);
        assert!(short.usable() && !short.renewal_due(1));
        assert!(
            fresh.renewal_due(1800),
            "expires before the read after next"
        );
        let mut aged = fresh.clone();
        aged.expires = Some(now() + 1000);
        assert!(aged.renewal_due(300));
        let forever = Token::new(Secret::new("root"), 0, false);
        assert!(!forever.renewal_due(300) && forever.usable());
        // Whatever a server says: no overflow.
        let huge = Token::new(Secret::new("t"), u64::MAX, true);
        assert!(huge.usable() && !huge.renewal_due(u64::MAX / 4));
    }

    #[test]
    fn a_walk_keeps_at_most_max_keys_and_no_overlong_names_and_says_so() {
        let mut walk = Walk::default();
        assert!(walk.left_out().is_empty());
        for i in 0..MAX_KEYS + 2 {
            walk.take(format!("k{i}"), &format!("acme/k{i}"));
        }
        walk.take("long".to_owned(), &"x".repeat(MAX_NAME_LEN + 1));
        walk.take("edge".to_owned(), &"x".repeat(MAX_NAME_LEN));
        assert_eq!(walk.keys.len(), MAX_KEYS);
        assert_eq!(walk.keys.last().unwrap(), &format!("k{}", MAX_KEYS - 1));
        assert_eq!(
            walk.left_out(),
            [
                "1 secret whose entry name would be longer than 256 bytes",
                "3 secrets past the first 10000",
            ]
        );
    }

    #[test]
    fn a_walk_makes_at_most_max_listings() {
        let mut walk = Walk::default();
        assert_eq!(
            (0..MAX_LISTINGS + 5).filter(|_| walk.may_list()).count(),
            MAX_LISTINGS
        );
        assert_eq!(
            walk.left_out(),
            ["5 folder(s) past the first 1000 listings"]
        );
    }
}
