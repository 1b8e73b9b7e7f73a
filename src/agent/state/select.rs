//! Which stored entry a lookup means: the one rule every front (Cargo, keyring, CLI) relies on.
//!
//! A `url` query is any service string. Its answer comes from the first step that finds
//! anything: (1) entries whose `url` is that very string; (2) when it is an absolute URL, the
//! entries serving it with the longest path prefix; (3) when it is `host[:port]`, the entries on
//! that host and port with the shortest path. Only entries with the asked username take part.
//! Several entries left at the end is an `ambiguous` error that lists them: never a guess.

use credd_protocol::{Entry, ErrorKind, ErrorReply, Lookup};

use crate::urlmatch::{self, HostQuery, RegistryUrl};

/// The username PyPI, Poetry and twine give a bare token.
const TOKEN_USERNAME: &str = "__token__";
/// How many candidates an `ambiguous` message names before it counts the rest.
const LISTED_CANDIDATES: usize = 8;

/// Which entry a lookup asks for, checked for shape.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// Exact name.
    Name(&'a str),
    /// A service the entry must serve.
    Service {
        /// The service string: a URL, `host[:port]`, or a name of the tool's.
        url: &'a str,
        /// Only entries with this username.
        username: Option<&'a str>,
        /// Only step 1: the entry's `url` is this very string.
        exact: bool,
        /// The service's publish credential, else its one credential.
        publish: bool,
        /// For a `host[:port]`: only URL entries of this scheme.
        scheme: Option<&'a str>,
    },
}

impl<'a> Query<'a> {
    /// The query `lookup` asks, when it is well formed: exactly one of a non-empty `name` or
    /// `url`, and `username` or `exact` only with `url`.
    ///
    /// # Errors
    ///
    /// `bad-request` naming the rule.
    pub fn of(lookup: &'a Lookup) -> Result<Self, ErrorReply> {
        let Lookup {
            name,
            url,
            username,
            exact,
            publish,
            scheme,
        } = lookup;
        match (name.as_deref(), url.as_deref()) {
            (Some(name), None)
                if !name.is_empty()
                    && username.is_none()
                    && !exact
                    && !publish
                    && scheme.is_none() =>
            {
                Ok(Self::Name(name))
            }
            (None, Some(url)) if !url.trim().is_empty() => Ok(Self::Service {
                url,
                username: username.as_deref(),
                exact: *exact,
                publish: *publish,
                scheme: scheme.as_deref(),
            }),
            _ => Err(ErrorReply::new(
                ErrorKind::BadRequest,
                "give exactly one of a non-empty `name` or `url` (`username`, `exact`, `publish` \
                 and `scheme` go with `url`)",
            )),
        }
    }
}

/// The entries in their stored order, with an index that answers every lookup from the few
/// entries that can match: by name, by the very `url` string, and by host. A lookup parses only
/// the URLs of the entries on the asked host, never every entry's, so it costs the same with ten
/// entries or ten thousand and holds the state lock for microseconds. Read access is the slice;
/// changes go through [`Entries::push`], [`Entries::replace`] and [`Entries::remove`], which keep
/// the index in step.
///
/// Each index is one sorted vector of (hash of the key, position): a handful of allocations
/// whatever the number of entries, so that the copy every write makes (see `State::modify`) is
/// a few `memcpy`s beside the entries themselves, and the agent stays small. A hash only narrows
/// the candidates: every candidate's own name, URL or host is compared.
#[derive(Clone, Default)]
pub struct Entries {
    list: Vec<Entry>,
    by_name: Keys,
    /// By exact `url` string, the read credentials at `[0]` and the publish ones at `[1]`.
    by_url: [Keys; 2],
    /// By the parsed URL's host (entries whose URL parses), split like `by_url`.
    by_host: [Keys; 2],
}

/// Positions in the list by the hash of a key, sorted, so that the positions of one key come out
/// ascending: the list's order decides the order of an `ambiguous` message's candidates, as it
/// did before there was an index.
#[derive(Clone, Default)]
struct Keys(Vec<(u64, usize)>);

impl Keys {
    /// The positions whose key hashes as `key` does, ascending.
    fn get(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        let hash = hash(key);
        let from = self.0.partition_point(|&(h, _)| h < hash);
        self.0[from..]
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .map(|&(_, i)| i)
    }

    fn insert(&mut self, key: &str, i: usize) {
        let pair = (hash(key), i);
        if let Err(at) = self.0.binary_search(&pair) {
            self.0.insert(at, pair);
        }
    }

    fn remove(&mut self, key: &str, i: usize) {
        if let Ok(at) = self.0.binary_search(&(hash(key), i)) {
            self.0.remove(at);
        }
    }

    /// Renumbers the positions after `removed`, which left the list (their order stays).
    fn shift_after(&mut self, removed: usize) {
        for (_, j) in &mut self.0 {
            if *j > removed {
                *j -= 1;
            }
        }
    }
}

/// A key's hash for [`Keys`]: fixed keys, so it is the same in every run and every copy.
fn hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl From<Vec<Entry>> for Entries {
    fn from(list: Vec<Entry>) -> Self {
        let mut entries = Self::default();
        entries.list.reserve_exact(list.len());
        for entry in list {
            entries.push(entry);
        }
        entries
    }
}

impl std::ops::Deref for Entries {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        &self.list
    }
}

impl Entries {
    /// Appends `entry`.
    pub fn push(&mut self, entry: Entry) {
        self.list.push(entry);
        self.index(self.list.len() - 1);
    }

    /// Puts `entry` in the place of the entry at `i`.
    pub fn replace(&mut self, i: usize, entry: Entry) {
        self.unindex(i);
        self.list[i] = entry;
        self.index(i);
    }

    /// Keeps only the entries `keep` accepts (in their order), indexed anew.
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        let mut list = std::mem::take(&mut self.list);
        list.retain(keep);
        *self = Self::from(list);
    }

    /// Takes the entry at `i` out; the ones after it move up.
    pub fn remove(&mut self, i: usize) -> Entry {
        self.unindex(i);
        for keys in self.all_keys() {
            keys.shift_after(i);
        }
        self.list.remove(i)
    }

    /// The position of the entry named `name`.
    pub fn position_of_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).find(|&i| self.list[i].name == name)
    }

    /// The position of the entry holding `username`'s credential for `url` (the publish one with
    /// `publish`) by [`same_service`]: the first in the list, as a scan would find it. An entry's
    /// username is the one lookups see ([`own_username`]: a source's counts).
    pub fn same_pair(&self, url: &str, username: Option<&str>, publish: bool) -> Option<usize> {
        let side = usize::from(publish);
        let fits = |i: &usize| own_username(&self.list[*i]) == username;
        let same_string = self.by_url[side]
            .get(url)
            .filter(fits)
            .find(|&i| self.list[i].url == url);
        let parsed = RegistryUrl::parse(url).ok();
        let same_url = parsed.as_ref().and_then(|parsed| {
            self.by_host[side]
                .get(parsed.host())
                .filter(fits)
                .find(|&i| RegistryUrl::parse(&self.list[i].url).ok().as_ref() == Some(parsed))
        });
        same_string.into_iter().chain(same_url).min()
    }

    fn index(&mut self, i: usize) {
        let entry = &self.list[i];
        let side = usize::from(entry.publish);
        self.by_name.insert(&entry.name, i);
        self.by_url[side].insert(&entry.url, i);
        if let Ok(parsed) = RegistryUrl::parse(&entry.url) {
            self.by_host[side].insert(parsed.host(), i);
        }
    }

    fn unindex(&mut self, i: usize) {
        let entry = &self.list[i];
        let side = usize::from(entry.publish);
        self.by_name.remove(&entry.name, i);
        self.by_url[side].remove(&entry.url, i);
        if let Ok(parsed) = RegistryUrl::parse(&entry.url) {
            self.by_host[side].remove(parsed.host(), i);
        }
    }

    fn all_keys(&mut self) -> impl Iterator<Item = &mut Keys> {
        std::iter::once(&mut self.by_name)
            .chain(&mut self.by_url)
            .chain(&mut self.by_host)
    }

    /// The candidates on `host` among the publish credentials (`publish`) or the others, with
    /// their parsed URLs.
    fn on_host<'s>(
        &'s self,
        host: &'s str,
        publish: bool,
    ) -> impl Iterator<Item = (usize, RegistryUrl)> + 's {
        self.by_host[usize::from(publish)]
            .get(host)
            .filter_map(move |i| {
                let parsed = RegistryUrl::parse(&self.list[i].url).ok()?;
                (parsed.host() == host).then_some((i, parsed))
            })
    }
}

/// [`select`] on a plain list, indexing it first: what the tests ask.
#[cfg(test)]
pub fn select(entries: &[Entry], query: Query<'_>) -> Result<Option<usize>, ErrorReply> {
    Entries::from(entries.to_vec()).select(&query.into())
}

/// A query with its service string parsed at most once, however many steps and sides of a
/// lookup (its credential, then whether a publish credential stands beside it) look at it: a
/// URL parse is most of a lookup's work.
pub enum Prepared<'q> {
    /// Exact name.
    Name(&'q str),
    /// A service, and whether its publish credential is asked for.
    Service {
        /// The service asked.
        asked: Asked<'q>,
        /// The service's publish credential, else its one credential.
        publish: bool,
    },
}

/// A service query's terms, with its string's parse kept once made.
pub struct Asked<'q> {
    url: &'q str,
    username: Option<&'q str>,
    exact: bool,
    scheme: Option<&'q str>,
    parsed: std::cell::OnceCell<Service>,
}

/// What a service string is, for the URL rules.
enum Service {
    /// An absolute URL.
    Url(RegistryUrl),
    /// `host[:port]`.
    Host(HostQuery),
    /// Neither: it matches by string only.
    Opaque,
}

impl<'q> From<Query<'q>> for Prepared<'q> {
    fn from(query: Query<'q>) -> Self {
        match query {
            Query::Name(name) => Self::Name(name),
            Query::Service {
                url,
                username,
                exact,
                publish,
                scheme,
            } => Self::Service {
                asked: Asked {
                    url,
                    username,
                    exact,
                    scheme,
                    parsed: std::cell::OnceCell::new(),
                },
                publish,
            },
        }
    }
}

impl Asked<'_> {
    /// The service string, parsed on first use.
    fn service(&self) -> &Service {
        self.parsed
            .get_or_init(|| match RegistryUrl::parse(self.url) {
                Ok(parsed) => Service::Url(parsed),
                Err(_) => HostQuery::parse(self.url).map_or(Service::Opaque, Service::Host),
            })
    }
}

impl Entries {
    /// The index of the entry `query` selects, None when none does. A service query sees
    /// publish credentials only when it asks for one; then it falls back to the service's other
    /// credential (one credential for both, which needs no step-up).
    ///
    /// # Errors
    ///
    /// `ambiguous` when several entries serve it equally well.
    pub fn select(&self, query: &Prepared<'_>) -> Result<Option<usize>, ErrorReply> {
        let (asked, publish) = match query {
            Prepared::Name(name) => return Ok(self.position_of_name(name)),
            Prepared::Service { asked, publish } => (asked, *publish),
        };
        if publish && let Some(found) = self.select_among(asked, true)? {
            return Ok(Some(found));
        }
        self.select_among(asked, false)
    }

    /// True when a publish credential serves `query`'s service: a read credential found for it
    /// must not be used to publish.
    pub fn has_publish_credential(&self, query: &Prepared<'_>) -> bool {
        match query {
            Prepared::Name(name) => self
                .position_of_name(name)
                .map(|i| &self.list[i])
                .filter(|e| !e.publish)
                .is_some_and(|e| self.has_publish_credential(&service_of(e).into())),
            Prepared::Service { asked, .. } => {
                matches!(self.select_among(asked, true), Ok(Some(_)))
            }
        }
    }

    /// [`Self::select`] of the service `asked` among the publish credentials (`publish`) or
    /// among the others.
    fn select_among(&self, asked: &Asked<'_>, publish: bool) -> Result<Option<usize>, ErrorReply> {
        let url = asked.url;
        let fits = |i: usize| username_fits(own_username(&self.list[i]), asked.username);
        let same_string: Vec<usize> = self.by_url[usize::from(publish)]
            .get(url)
            .filter(|&i| fits(i) && self.list[i].url == url)
            .collect();
        let found = if !same_string.is_empty() || asked.exact {
            same_string
        } else {
            match asked.service() {
                Service::Url(query) => {
                    let candidates = self
                        .on_host(query.host(), publish)
                        .filter(|&(i, _)| fits(i));
                    best_by(candidates, |entry| entry.covers(query), usize::max)
                }
                Service::Host(query) => {
                    let of_scheme = |url: &RegistryUrl| {
                        asked
                            .scheme
                            .is_none_or(|s| url.scheme().eq_ignore_ascii_case(s))
                    };
                    let candidates = self
                        .on_host(query.host(), publish)
                        .filter(|(i, url)| fits(*i) && of_scheme(url));
                    best_by(candidates, |entry| entry.on_host(query), usize::min)
                }
                Service::Opaque => Vec::new(),
            }
        };
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            several => Err(ambiguous(&self.list, several, url)),
        }
    }
}

/// The query for `entry`'s own service and username.
pub fn service_of(entry: &Entry) -> Query<'_> {
    Query::Service {
        url: &entry.url,
        username: Some(entry.username.as_deref().unwrap_or("")),
        exact: false,
        publish: false,
        scheme: None,
    }
}

/// True when two stored services name the same thing: the same string, or URLs that the URL
/// rules cannot tell apart (`sparse+https://h/index` and `https://h/index/`). The rule
/// [`Entries::same_pair`] applies through the index.
#[cfg(test)]
pub fn same_service(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (RegistryUrl::parse(a), RegistryUrl::parse(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// The entry's username: its own, else the one its source's registries expect.
pub(super) fn own_username(entry: &Entry) -> Option<&str> {
    (entry.username.as_deref()).or_else(|| entry.source.as_ref()?.username())
}

/// True when an entry with username `own` answers a query for `asked` (None: any username).
/// An entry without a username is a token: it answers the empty username and `__token__`.
pub fn username_fits(own: Option<&str>, asked: Option<&str>) -> bool {
    match (own, asked) {
        (_, None) => true,
        (Some(own), Some(asked)) => own == asked,
        (None, Some(asked)) => asked.is_empty() || asked == TOKEN_USERNAME,
    }
}

/// The candidates whose parsed URL scores best by `score` (None: does not serve the query),
/// where `better` picks the winning score of two.
fn best_by(
    candidates: impl Iterator<Item = (usize, RegistryUrl)>,
    score: impl Fn(&RegistryUrl) -> Option<usize>,
    better: fn(usize, usize) -> usize,
) -> Vec<usize> {
    let scored: Vec<(usize, usize)> = candidates
        .filter_map(|(i, parsed)| Some((i, score(&parsed)?)))
        .collect();
    let Some(best) = scored.iter().map(|&(_, s)| s).reduce(better) else {
        return Vec::new();
    };
    scored
        .into_iter()
        .filter(|&(_, s)| s == best)
        .map(|(i, _)| i)
        .collect()
}

/// The error for several entries serving `url` equally: who they are, and how to choose.
fn ambiguous(entries: &[Entry], indexes: &[usize], url: &str) -> ErrorReply {
    let mut listed: Vec<String> = indexes
        .iter()
        .take(LISTED_CANDIDATES)
        .map(|&i| {
            let entry = &entries[i];
            match &entry.username {
                Some(user) => format!("{user:?} (entry {:?})", entry.name),
                None => format!("no username (entry {:?})", entry.name),
            }
        })
        .collect();
    if indexes.len() > LISTED_CANDIDATES {
        listed.push(format!("{} more", indexes.len() - LISTED_CANDIDATES));
    }
    ErrorReply::new(
        ErrorKind::Ambiguous,
        format!(
            "several credentials serve {}: {}; ask for one username (a username in the tool's \
             index URL, or 'credd get --url URL --username USER')",
            urlmatch::without_userinfo(url),
            listed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use credd_protocol::Secret;

    fn entry(name: &str, url: &str, username: Option<&str>) -> Entry {
        Entry {
            name: name.into(),
            url: url.into(),
            username: username.map(Into::into),
            secret: Secret::new("s"),
            expires: None,
            note: None,
            publish: false,
            source: None,
        }
    }

    fn service<'a>(url: &'a str, username: Option<&'a str>) -> Query<'a> {
        Query::Service {
            url,
            username,
            exact: false,
            publish: false,
            scheme: None,
        }
    }

    fn pick<'e>(entries: &'e [Entry], query: Query<'_>) -> Result<Option<&'e str>, ErrorKind> {
        select(entries, query)
            .map(|i| i.map(|i| entries[i].name.as_str()))
            .map_err(|e| e.kind)
    }

    fn two_users() -> Vec<Entry> {
        vec![
            entry("bot", "https://pypi.corp/simple/", Some("bot")),
            entry("publisher", "https://pypi.corp/simple/", Some("publisher")),
        ]
    }

    #[test]
    fn a_host_query_with_a_scheme_sees_only_that_schemes_entries_and_bare_ones() {
        let entries = vec![
            entry("plain", "http://h.test/", None),
            entry("tls", "https://h.test/git/", None),
        ];
        let on = |scheme| Query::Service {
            url: "h.test",
            username: None,
            exact: false,
            publish: false,
            scheme,
        };
        assert_eq!(pick(&entries, on(None)), Ok(Some("plain")), "shortest path");
        assert_eq!(pick(&entries, on(Some("https"))), Ok(Some("tls")));
        assert_eq!(pick(&entries, on(Some("HTTP"))), Ok(Some("plain")));
        assert_eq!(pick(&entries, on(Some("ftp"))), Ok(None));
        let bare = vec![entry("bare", "h.test", None)];
        assert_eq!(pick(&bare, on(Some("https"))), Ok(Some("bare")));
        let lookup = Lookup::name("n").scheme(Some("https".into()));
        assert!(Query::of(&lookup).is_err(), "a scheme goes with a url");
    }

    #[test]
    fn url_and_username_select_exactly_that_pair() {
        let entries = two_users();
        let deeper = "https://pypi.corp/simple/pkg/";
        assert_eq!(
            pick(&entries, service(deeper, Some("bot"))),
            Ok(Some("bot"))
        );
        assert_eq!(
            pick(&entries, service(deeper, Some("publisher"))),
            Ok(Some("publisher"))
        );
        assert_eq!(pick(&entries, service(deeper, Some("other"))), Ok(None));
    }

    #[test]
    fn several_users_at_the_longest_prefix_is_ambiguous_naming_them() {
        let mut entries = two_users();
        entries.push(entry("root", "https://pypi.corp/", None));
        let error = select(&entries, service("https://pypi.corp/simple/x/", None)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Ambiguous);
        assert!(error.message.contains(r#""bot" (entry "bot")"#), "{error}");
        assert!(error.message.contains(r#""publisher""#), "{error}");
        assert!(!error.message.contains("root"), "{error}");
        // A longer prefix of one user is no tie.
        entries.push(entry("deep", "https://pypi.corp/simple/x/", Some("bot")));
        assert_eq!(
            pick(&entries, service("https://pypi.corp/simple/x/y", None)),
            Ok(Some("deep"))
        );
    }

    #[test]
    fn the_same_string_wins_before_url_rules() {
        let entries = vec![
            entry("slash", "https://h/simple/", Some("a")),
            entry("bare", "https://h/simple", Some("b")),
        ];
        assert_eq!(
            pick(&entries, service("https://h/simple", None)),
            Ok(Some("bare"))
        );
        assert_eq!(
            pick(&entries, service("https://h/simple/pkg", None)),
            Err(ErrorKind::Ambiguous)
        );
    }

    #[test]
    fn exact_lookups_never_use_url_rules() {
        let entries = vec![entry("root", "https://h/", Some("u"))];
        let exact = |url| Query::Service {
            publish: false,
            scheme: None,
            url,
            username: Some("u"),
            exact: true,
        };
        assert_eq!(pick(&entries, exact("https://h/")), Ok(Some("root")));
        assert_eq!(pick(&entries, exact("https://h/simple/")), Ok(None));
    }

    #[test]
    fn opaque_services_match_by_string_only() {
        let entries = vec![
            entry("app", "my-app", Some("me")),
            entry("app2", "my app [prod]", None),
        ];
        assert_eq!(
            pick(&entries, service("my-app", Some("me"))),
            Ok(Some("app"))
        );
        assert_eq!(pick(&entries, service("my-app", Some("you"))), Ok(None));
        assert_eq!(
            pick(&entries, service("my app [prod]", None)),
            Ok(Some("app2"))
        );
        assert_eq!(pick(&entries, service("my", None)), Ok(None));
    }

    #[test]
    fn host_queries_take_the_shortest_path_on_that_host_and_port() {
        let entries = vec![
            entry("a", "https://h/team-a/simple/", Some("alice")),
            entry("b", "https://h/team-b/simple/", Some("bob")),
            entry("other-port", "https://h:8443/", Some("alice")),
        ];
        assert_eq!(pick(&entries, service("h", Some("alice"))), Ok(Some("a")));
        assert_eq!(pick(&entries, service("h", Some("bob"))), Ok(Some("b")));
        assert_eq!(
            pick(&entries, service("h", None)),
            Err(ErrorKind::Ambiguous)
        );
        assert_eq!(
            pick(&entries, service("h:8443", None)),
            Ok(Some("other-port"))
        );
        assert_eq!(pick(&entries, service("h:9", None)), Ok(None));
    }

    #[test]
    fn an_entry_without_username_answers_token_and_empty_usernames() {
        let entries = vec![entry("tok", "https://h/", None)];
        for asked in [None, Some(""), Some("__token__")] {
            assert_eq!(
                pick(&entries, service("https://h/x", asked)),
                Ok(Some("tok"))
            );
        }
        assert_eq!(pick(&entries, service("https://h/x", Some("ci"))), Ok(None));
    }

    #[test]
    fn a_source_entry_without_username_answers_its_sources_username() {
        let mut gar = entry("gar", "https://h/", None);
        gar.source = Some(credd_protocol::Source::Gcp { scopes: Vec::new() });
        let entries = vec![gar];
        for asked in [None, Some("oauth2accesstoken")] {
            assert_eq!(
                pick(&entries, service("https://h/x", asked)),
                Ok(Some("gar"))
            );
        }
        assert_eq!(
            pick(&entries, service("https://h/x", Some("aws"))),
            Ok(None)
        );
    }

    #[test]
    fn the_same_service_by_string_or_by_url_rules() {
        assert!(same_service("my-app", "my-app"));
        assert!(same_service(
            "sparse+https://H/index",
            "https://h:443/index/"
        ));
        assert!(!same_service("https://h/index/", "https://h/index/sub/"));
        assert!(!same_service("my-app", "my-app/"));
    }

    #[test]
    fn names_select_by_name_alone() {
        let entries = two_users();
        assert_eq!(pick(&entries, Query::Name("bot")), Ok(Some("bot")));
        assert_eq!(pick(&entries, Query::Name("nope")), Ok(None));
    }

    #[test]
    fn a_long_tie_lists_a_bounded_number_of_candidates() {
        let entries: Vec<Entry> = (0..20)
            .map(|i| entry(&format!("e{i}"), "https://h/", Some(&format!("u{i}"))))
            .collect();
        let error = select(&entries, service("https://h/", None)).unwrap_err();
        assert!(error.message.contains("12 more"), "{error}");
    }

    #[test]
    fn the_index_follows_replace_and_remove() {
        let mut entries = Entries::from(vec![
            entry("a", "https://a/", None),
            entry("b", "https://b/", None),
            entry("c", "https://c/", None),
        ]);
        entries.remove(0);
        entries.replace(0, entry("b2", "https://b2/", None));
        let name = |query: Query<'_>| {
            entries
                .select(&query.into())
                .unwrap()
                .map(|i| entries[i].name.clone())
        };
        assert_eq!(name(Query::Name("c")), Some("c".into()));
        assert_eq!(name(service("https://c/x", None)), Some("c".into()));
        assert_eq!(name(service("https://b2/x", None)), Some("b2".into()));
        assert_eq!(name(service("https://b/x", None)), None);
        assert_eq!(name(Query::Name("a")), None);
        assert_eq!(entries.same_pair("https://c", None, false), Some(1));
    }
}
