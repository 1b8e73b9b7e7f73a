//! Deciding which stored credential serves a registry URL.
//!
//! A stored entry serves a query URL when both have the same scheme, host and
//! port (default ports filled in) and the entry's path is a prefix of the
//! query's path by whole segments. Cargo's `sparse+` / `registry+` index
//! prefixes are stripped from both sides before comparing; userinfo, query
//! string and fragment are ignored. Among several entries serving a query the
//! one with the longest path prefix wins.

use url::Url;

/// Index-URL prefixes Cargo puts in front of the transport URL.
const INDEX_PREFIXES: [&str; 2] = ["sparse+", "registry+"];

/// Why a query URL cannot be matched.
///
/// Messages never echo the URL itself, because its userinfo may hold a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The URL is empty or only whitespace.
    #[error("URL is empty: give a registry URL such as https://host/index/")]
    Empty,
    /// The URL does not parse as an absolute URL with a host; holds the reason.
    #[error(
        "URL is not usable ({0}): give an absolute registry URL with a host, \
         such as https://host/index/ or sparse+https://host/index/"
    )]
    Invalid(String),
}

/// A registry URL reduced to what matching compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryUrl {
    /// Lowercase scheme, without any `sparse+` / `registry+` prefix.
    scheme: String,
    /// Lowercase host (IPv6 addresses keep their brackets).
    host: String,
    /// Explicit port, or the scheme's default; `None` if the scheme has none.
    port: Option<u16>,
    /// Path segments as the `url` crate normalizes them, trailing empties dropped.
    segments: Vec<String>,
    /// True when the port is the scheme's default (given or not): what a `host` query without a
    /// port asks for.
    default_port: bool,
}

impl RegistryUrl {
    /// Parses a registry URL, stripping `sparse+`/`registry+`.
    ///
    /// Surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`UrlError::Empty`] for an empty or whitespace-only string,
    /// [`UrlError::Invalid`] for anything that is not an absolute URL with a
    /// non-empty host.
    pub fn parse(s: &str) -> Result<Self, UrlError> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(UrlError::Empty);
        }
        let url = Url::parse(strip_index_prefix(trimmed))
            .map_err(|e| UrlError::Invalid(e.to_string()))?;
        Self::from_url(&url)
    }

    /// The scheme, lowercase, without `sparse+`/`registry+`.
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lowercase: entries are indexed by it.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How many path segments of `query` this URL covers when it serves `query`, else None.
    ///
    /// `Some(0)` means this URL's path is `/`, which serves every path on its
    /// scheme, host and port.
    #[must_use]
    pub fn covers(&self, query: &RegistryUrl) -> Option<usize> {
        let same_origin =
            self.scheme == query.scheme && self.host == query.host && self.port == query.port;
        (same_origin && query.segments.starts_with(&self.segments)).then_some(self.segments.len())
    }

    /// How many path segments this URL has when it is on `query`'s host and port (for a query
    /// without a port: on its scheme's default port), else None.
    #[must_use]
    pub fn on_host(&self, query: &HostQuery) -> Option<usize> {
        let port_fits = match query.port {
            Some(port) => self.port == Some(port),
            None => self.default_port,
        };
        (self.host == query.host && port_fits).then_some(self.segments.len())
    }

    /// Reduces a parsed URL to the compared parts; requires a non-empty host.
    fn from_url(url: &Url) -> Result<Self, UrlError> {
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => return Err(UrlError::Invalid("URL has no host".to_owned())),
        };
        Ok(Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host,
            port: url.port_or_known_default(),
            segments: path_segments(url),
            // The `url` crate drops an explicit default port, so this holds for `:443` too.
            default_port: url.port().is_none(),
        })
    }
}

/// A `host` or `host:port` query, as keyring-style tools ask after the index URL itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostQuery {
    /// The host as the `url` crate normalizes it, lowercase.
    host: String,
    /// The port, when given.
    port: Option<u16>,
}

impl HostQuery {
    /// The host, lowercase.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Parses `host`, `host:port` or `[ipv6]:port`; None for anything else (a URL included).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let odd = |c: char| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c);
        if s.is_empty() || s.contains(odd) {
            return None;
        }
        let (host, port) = match s.rfind(':') {
            Some(colon) if !s[colon..].contains(']') => {
                (&s[..colon], Some(s[colon + 1..].parse::<u16>().ok()?))
            }
            _ => (s, None),
        };
        // An unbracketed IPv6 address cannot be told from a port.
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return None;
        }
        // The host as a URL's would be (IDNA, case), so that it compares with entries' hosts.
        let url = Url::parse(&format!("http://{host}/")).ok()?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())?
            .to_ascii_lowercase();
        Some(Self { host, port })
    }
}

/// Removes one leading `sparse+` or `registry+` (ASCII case-insensitive).
fn strip_index_prefix(s: &str) -> &str {
    INDEX_PREFIXES
        .iter()
        .find_map(|p| {
            s.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &s[p.len()..])
        })
        .unwrap_or(s)
}

/// The URL's path segments with trailing empty segments (trailing slashes) dropped.
fn path_segments(url: &Url) -> Vec<String> {
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|parts| parts.map(str::to_owned).collect())
        .unwrap_or_default();
    while segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    segments
}

/// `url` with any user info (`user:password@`) removed, for messages: it may hold a secret.
///
/// Works on any string, not only on URLs that parse: `https://u:pw@h`, `https:u:pw@h` (a scheme
/// without slashes, which the `url` crate accepts), `sparse+https://…`, a bare `u:pw@h`. When in
/// doubt it removes more: everything up to the last `@` of the authority-looking part, and, when
/// that part is not a plain `host[:port]` (a password may hold `/`, `?` or `#`), up to the last
/// `@` of the string. Tabs and line breaks, which URL parsers skip, are dropped first.
pub fn without_userinfo(url: &str) -> String {
    // As URL parsers read it: without tabs and line breaks, and without the C0 controls and
    // spaces around it.
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let url = url.trim_matches(|c: char| c <= ' ');
    let (prefix, rest) = url.split_at(scheme_prefix_len(url));
    // A backslash ends the authority of special schemes only: stopping at the later end that
    // any reading allows removes the userinfo of both.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let userinfo_end = match authority.rfind('@') {
        Some(at) => at + 1,
        None if !is_host_and_port(authority) => rest.rfind('@').map_or(0, |at| at + 1),
        None => 0,
    };
    without_parsed_userinfo(format!("{prefix}{}", &rest[userinfo_end..]))
}

/// True when `url` carries a password in its user info (`user:password@`) as
/// [`without_userinfo`] reads it: such a URL must not be stored, since URLs are shown.
#[must_use]
pub fn has_password(url: &str) -> bool {
    if without_userinfo(url) == url {
        return false;
    }
    let rest = &url[scheme_prefix_len(url)..];
    rest.rfind('@').is_some_and(|at| {
        rest[..at].contains(':')
            || Url::parse(strip_index_prefix(url)).is_ok_and(|u| u.password().is_some())
    })
}

/// `shown` without the userinfo the `url` crate still finds in it (after Cargo's prefix): the
/// matcher reads URLs with that crate, so no reading of it may keep a password.
fn without_parsed_userinfo(shown: String) -> String {
    let bare = strip_index_prefix(&shown);
    match Url::parse(bare) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Neither fails on a URL that has userinfo to remove.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            format!("{}{parsed}", &shown[..shown.len() - bare.len()])
        }
        _ => shown,
    }
}

/// Length of the leading `scheme:` and the slashes after it, when `url` starts with a scheme
/// followed by a slash or backslash, or with a special scheme (`http:`, `https:`, …, after an
/// optional `sparse+`/`registry+`), which may come without slashes; else 0, because `user:`
/// of `user:pw@host` looks like a scheme too.
fn scheme_prefix_len(url: &str) -> usize {
    const SPECIAL: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];
    let Some(colon) = url.find(':') else {
        return 0;
    };
    let scheme = &url[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return 0;
    }
    let after = &url[colon + 1..];
    let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
    let special = SPECIAL
        .iter()
        .any(|s| strip_index_prefix(scheme).eq_ignore_ascii_case(s));
    if slashes > 0 || special {
        colon + 1 + slashes
    } else {
        0
    }
}

/// True when `authority` is empty or a plausible `host[:port]`: at most one `:` outside an IPv6
/// literal's brackets, with only digits after it.
fn is_host_and_port(authority: &str) -> bool {
    let outside_brackets = match authority.rfind(']') {
        Some(close) => &authority[close + 1..],
        None => authority,
    };
    match outside_brackets.split_once(':') {
        Some((_, port)) => port.chars().all(|c| c.is_ascii_digit()),
        None => true,
    }
}

/// Picks the candidate whose URL serves `query` with the longest path prefix.
/// `candidates` yields (key, url) pairs; returns the winning key.
///
/// Candidate URLs that do not parse are skipped. On a tie (same number of
/// covered segments) the candidate yielded first wins, so pass candidates in a
/// deterministic order (e.g. from a `BTreeMap` or `Vec`, not a `HashMap`).
///
/// # Errors
///
/// The query is validated before any candidate is looked at, as by
/// [`RegistryUrl::parse`]: an empty, whitespace-only or unusable query is an
/// error even when there are no candidates.
pub fn best_match<K, S: AsRef<str>>(
    candidates: impl IntoIterator<Item = (K, S)>,
    query: &str,
) -> Result<Option<K>, UrlError> {
    let query = RegistryUrl::parse(query)?;
    let mut best: Option<(usize, K)> = None;
    for (key, url) in candidates {
        let Some(depth) = candidate_depth(url.as_ref(), &query) else {
            continue;
        };
        if best.as_ref().is_none_or(|(d, _)| depth > *d) {
            best = Some((depth, key));
        }
    }
    Ok(best.map(|(_, key)| key))
}

/// How many segments of `query` the stored `url` covers; None if it does not
/// serve `query` or does not parse.
fn candidate_depth(url: &str, query: &RegistryUrl) -> Option<usize> {
    RegistryUrl::parse(url).ok()?.covers(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_dropped_from_messages() {
        assert_eq!(
            without_userinfo("https://u:pw@h.test/x@y"),
            "https://h.test/x@y"
        );
        assert_eq!(
            without_userinfo("sparse+https://tok@h.test:8/i/"),
            "sparse+https://h.test:8/i/"
        );
        assert_eq!(without_userinfo("https:u:pw@h.test/i/"), "https:h.test/i/");
        assert_eq!(without_userinfo("u:pw@h.test"), "h.test");
        assert_eq!(without_userinfo("https://h.test/a"), "https://h.test/a");
        assert_eq!(without_userinfo("h.test:443"), "h.test:443");
        assert_eq!(without_userinfo("https://[::1]:8/i/"), "https://[::1]:8/i/");
    }

    #[test]
    fn no_form_of_a_url_keeps_its_password() {
        for url in [
            "https://user:hunter2@h.test/i/",
            "https:user:hunter2@h.test",
            "HTTPS:user:hunter2@h.test",
            "https:/user:hunter2@h.test",
            "https:\\\\user:hunter2@h.test\\i",
            "sparse+https://user:hunter2@h.test/index/",
            "sparse+https:user:hunter2@h.test/index/",
            "registry+https://hunter2@h.test/",
            "git+ssh://user:hunter2@h.test/r",
            "user:hunter2@h.test",
            "user:hunter2@h.test/path",
            "hunter2@h.test",
            "https://user:hunt/er2@h.test/",
            "https://user:hunt?er2@h.test/",
            "https://user:hunt#er2@h.test/",
            "https://user:hunter2@x@h.test/",
            "https://us\ter:hunt\ner2@h.test/",
            "  https:user:hunter2@h.test",
            "foo:user:hunter2@h.test",
            // Found by the urlmatch fuzzer (the url crate reads these with userinfo).
            "sparse+https:\\\\user:hunter2@h.test/i/",
            "https:/\t/user:hunter2@h.test/",
            "registry+x:/\t/eve:hunter2:\\bob:hunter2@h.test",
            "x+http://[::1@h.test\\+++bob:hunter2@h.test/i",
            "\0x+http://[::1@h.test\\+++bob:hunter2@h.test/i",
        ] {
            let shown = without_userinfo(url);
            let squeezed: String = shown.chars().filter(|c| c.is_alphanumeric()).collect();
            assert!(
                !squeezed.contains("hunter2") && !squeezed.contains("hunt"),
                "{url:?} shows {shown:?}"
            );
            assert!(shown.contains("h.test"), "{url:?} shows {shown:?}");
        }
    }

    /// `best_match` over `entries` keyed by their index.
    fn pick(entries: &[&str], query: &str) -> Result<Option<usize>, UrlError> {
        best_match(entries.iter().copied().enumerate(), query)
    }

    fn covers(entry: &str, query: &str) -> Option<usize> {
        let entry = RegistryUrl::parse(entry).expect("entry parses");
        let query = RegistryUrl::parse(query).expect("query parses");
        entry.covers(&query)
    }

    #[test]
    fn prefix_matches_by_whole_segments() {
        assert_eq!(covers("https://h/index", "https://h/index"), Some(1));
        assert_eq!(covers("https://h/index", "https://h/index/"), Some(1));
        assert_eq!(
            covers("https://h/index", "https://h/index/config.json"),
            Some(1)
        );
        assert_eq!(covers("https://h/index", "https://h/index/a/b/c"), Some(1));
        assert_eq!(covers("https://h/index", "https://h/indexes"), None);
        assert_eq!(covers("https://h/index", "https://h/indexes/x"), None);
        assert_eq!(covers("https://h/index", "https://h/ind"), None);
        assert_eq!(covers("https://h/index/x", "https://h/index"), None);
    }

    #[test]
    fn root_path_covers_every_path_on_host() {
        assert_eq!(covers("https://h/", "https://h/"), Some(0));
        assert_eq!(covers("https://h", "https://h/a/b"), Some(0));
        assert_eq!(covers("https://h/", "https://other/a"), None);
    }

    #[test]
    fn longest_prefix_wins() {
        let entries = [
            "https://h/",
            "https://h/a/b",
            "https://h/a",
            "https://h/a/b/c/d",
        ];
        assert_eq!(pick(&entries, "https://h/a/b/c"), Ok(Some(1)));
        assert_eq!(pick(&entries, "https://h/a/x"), Ok(Some(2)));
        assert_eq!(pick(&entries, "https://h/z"), Ok(Some(0)));
        assert_eq!(pick(&entries, "https://h/a/b/c/d/e"), Ok(Some(3)));
    }

    #[test]
    fn tie_goes_to_first_candidate() {
        let entries = ["https://h/a", "sparse+https://h/a/", "https://h/a"];
        assert_eq!(pick(&entries, "https://h/a/b"), Ok(Some(0)));
    }

    #[test]
    fn longer_prefix_later_beats_earlier_shorter() {
        let entries = ["https://h/a", "https://h/a/b"];
        assert_eq!(pick(&entries, "https://h/a/b/c"), Ok(Some(1)));
    }

    #[test]
    fn no_candidates_or_no_match_is_none() {
        assert_eq!(pick(&[], "https://h/a"), Ok(None));
        assert_eq!(pick(&["https://other/a"], "https://h/a"), Ok(None));
    }

    #[test]
    fn trailing_slash_ignored_on_either_side() {
        for (entry, query) in [
            ("https://h/index/", "https://h/index"),
            ("https://h/index", "https://h/index/"),
            ("https://h/index/", "https://h/index/"),
            ("https://h/index", "https://h/index"),
        ] {
            assert_eq!(covers(entry, query), Some(1), "{entry} vs {query}");
        }
        assert_eq!(covers("https://h/index/", "https://h/indexes/"), None);
    }

    #[test]
    fn index_prefixes_stripped_on_either_side() {
        let plain = "https://h/index/";
        for prefixed in ["sparse+https://h/index/", "registry+https://h/index/"] {
            assert_eq!(covers(prefixed, plain), Some(1), "{prefixed} as entry");
            assert_eq!(covers(plain, prefixed), Some(1), "{prefixed} as query");
        }
        assert_eq!(
            covers("sparse+https://h/index/", "registry+https://h/index/"),
            Some(1)
        );
        assert_eq!(
            pick(&["sparse+https://h/index/"], "https://h/index/config.json"),
            Ok(Some(0))
        );
        assert_eq!(
            pick(&["https://h/index/"], "sparse+https://h/index/config.json"),
            Ok(Some(0))
        );
    }

    #[test]
    fn stripped_and_unstripped_parse_equal() {
        assert_eq!(
            RegistryUrl::parse("sparse+https://h/index/"),
            RegistryUrl::parse("https://h/index")
        );
        assert_eq!(
            RegistryUrl::parse("registry+https://h/index"),
            RegistryUrl::parse("https://h/index/")
        );
    }

    #[test]
    fn explicit_default_port_equals_implicit() {
        assert_eq!(covers("https://h:443/x", "https://h/x"), Some(1));
        assert_eq!(covers("https://h/x", "https://h:443/x"), Some(1));
        assert_eq!(covers("http://h:80/x", "http://h/x/y"), Some(1));
    }

    #[test]
    fn different_port_does_not_match() {
        assert_eq!(covers("https://h:8443/x", "https://h/x"), None);
        assert_eq!(covers("https://h/x", "https://h:8443/x"), None);
        assert_eq!(covers("http://h:8080/x", "http://h:8081/x"), None);
        assert_eq!(covers("http://h:8080/x", "http://h:8080/x"), Some(1));
    }

    #[test]
    fn different_scheme_does_not_match() {
        assert_eq!(covers("http://h/x", "https://h/x"), None);
        // Even with the ports made equal explicitly.
        assert_eq!(covers("http://h:443/x", "https://h/x"), None);
    }

    #[test]
    fn scheme_compared_case_insensitively() {
        assert_eq!(covers("HTTPS://h/x", "https://h/x"), Some(1));
        assert_eq!(covers("Sparse+HTTPS://h/x", "https://h/x"), Some(1));
    }

    #[test]
    fn host_case_insensitive() {
        assert_eq!(
            covers("https://Example.COM/x", "https://example.com/x"),
            Some(1)
        );
        assert_eq!(
            covers("https://example.com/x", "https://EXAMPLE.com/x"),
            Some(1)
        );
        // Non-special schemes keep the host as written by the `url` crate.
        assert_eq!(covers("ssh://Git.Host/x", "ssh://git.host/x/y"), Some(1));
    }

    #[test]
    fn path_case_sensitive() {
        assert_eq!(covers("https://h/Index", "https://h/index"), None);
        assert_eq!(covers("https://h/index", "https://h/INDEX/x"), None);
    }

    #[test]
    fn query_fragment_and_userinfo_ignored() {
        assert_eq!(covers("https://h/x", "https://h/x?token=1"), Some(1));
        assert_eq!(covers("https://h/x?a=b", "https://h/x/y?c=d#frag"), Some(1));
        assert_eq!(covers("https://h/x", "https://user:pw@h/x/y"), Some(1));
        assert_eq!(covers("https://u@h/x", "https://h/x"), Some(1));
        // A query string does not become part of the path.
        assert_eq!(covers("https://h/x", "https://h/?x"), None);
    }

    #[test]
    fn percent_encoding_compared_as_normalized() {
        // The `url` crate encodes a space but leaves existing escapes alone.
        assert_eq!(covers("https://h/a b", "https://h/a%20b/c"), Some(1));
        assert_eq!(covers("https://h/%41", "https://h/A"), None);
        // Dot segments are resolved before comparing.
        assert_eq!(covers("https://h/a", "https://h/b/../a/c"), Some(1));
    }

    #[test]
    fn empty_and_whitespace_query_error() {
        assert_eq!(pick(&["https://h/"], ""), Err(UrlError::Empty));
        assert_eq!(pick(&["https://h/"], "   \t\n"), Err(UrlError::Empty));
        assert_eq!(RegistryUrl::parse(" "), Err(UrlError::Empty));
    }

    #[test]
    fn surrounding_whitespace_trimmed() {
        assert_eq!(pick(&["https://h/x"], "  https://h/x/y \n"), Ok(Some(0)));
    }

    #[test]
    fn garbage_query_error() {
        for query in [
            "not a url",
            "/index/config.json",
            "sparse+",
            "registry+",
            "https://",
            "http://[::1",
            "://h/x",
            "mailto:someone@example.com",
        ] {
            let result = pick(&["https://h/"], query);
            assert!(
                matches!(result, Err(UrlError::Invalid(_))),
                "{query:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn bad_query_errors_even_without_candidates() {
        assert_eq!(pick(&[], ""), Err(UrlError::Empty));
        assert!(matches!(pick(&[], "nope"), Err(UrlError::Invalid(_))));
    }

    #[test]
    fn error_messages_guide_the_user_and_hide_the_url() {
        let empty = UrlError::Empty.to_string();
        assert!(empty.contains("https://host/index/"), "{empty}");
        let err = RegistryUrl::parse("secret-token-here").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("https://host/index/"), "{msg}");
        assert!(!msg.contains("secret-token-here"), "{msg}");
    }

    #[test]
    fn passwords_in_user_info_are_found() {
        for with in [
            "https://u:p@h/",
            "sparse+https://u:p@h/x",
            "u:p@h",
            "https://u:@h/",
        ] {
            assert!(has_password(with), "{with}");
        }
        for without in [
            "https://u@h/",
            "https://h/",
            "my-app",
            "https://h/a:b@c",
            "h:8080",
        ] {
            assert!(!has_password(without), "{without}");
        }
    }

    #[test]
    fn host_queries_parse_host_and_port_only() {
        let q = |s: &str| HostQuery::parse(s).map(|h| (h.host, h.port));
        assert_eq!(q("Pypi.Corp:8080"), Some(("pypi.corp".into(), Some(8080))));
        assert_eq!(q("pypi.corp"), Some(("pypi.corp".into(), None)));
        assert_eq!(q("[::1]:3141"), Some(("[::1]".into(), Some(3141))));
        for not_a_host in [
            "",
            "https://h/",
            "h/simple",
            "u@h",
            "h:port",
            "h:99999",
            "::1",
            "my app",
            "a\\b",
        ] {
            assert_eq!(q(not_a_host), None, "{not_a_host:?}");
        }
    }

    #[test]
    fn host_query_without_port_means_the_default_port() {
        let on = |entry: &str, query: &str| {
            RegistryUrl::parse(entry)
                .unwrap()
                .on_host(&HostQuery::parse(query).unwrap())
        };
        assert_eq!(on("https://h/a/b/", "h"), Some(2));
        assert_eq!(on("https://h:443/", "h"), Some(0));
        assert_eq!(on("http://h/", "h"), Some(0));
        assert_eq!(on("https://h:8443/", "h"), None);
        assert_eq!(on("https://h:8443/x", "h:8443"), Some(1));
        assert_eq!(on("https://h/", "h:443"), Some(0));
        assert_eq!(on("https://other/", "h"), None);
    }

    #[test]
    fn unparsable_stored_url_skipped() {
        let entries = ["", "garbage", "file:///no/host", "https://h/a", "::::"];
        assert_eq!(pick(&entries, "https://h/a/b"), Ok(Some(3)));
        assert_eq!(pick(&["garbage", "  "], "https://h/a"), Ok(None));
    }

    #[test]
    fn hostless_urls_do_not_panic() {
        for url in [
            "file:///etc/passwd",
            "file:/x",
            "ssh:///path",
            "ssh:",
            "file://",
        ] {
            let parsed = RegistryUrl::parse(url);
            assert!(
                matches!(parsed, Err(UrlError::Invalid(_))),
                "{url:?} gave {parsed:?}"
            );
            assert!(pick(&[url], "https://h/").is_ok());
            assert!(pick(&["https://h/"], url).is_err());
        }
    }

    #[test]
    fn ssh_and_file_with_host_match_like_others() {
        assert_eq!(covers("ssh://git@h/repo", "ssh://h/repo/x"), Some(1));
        assert_eq!(covers("ssh://h:22/repo", "ssh://h:2222/repo"), None);
        assert_eq!(
            covers("file://server/share", "file://server/share/x"),
            Some(1)
        );
        assert_eq!(covers("file://server/share", "ssh://server/share"), None);
    }

    #[test]
    fn ipv6_host_matches() {
        assert_eq!(
            covers("https://[::1]/x", "https://[0:0::1]:443/x/y"),
            Some(1)
        );
        assert_eq!(covers("https://[::1]/x", "https://[::2]/x"), None);
    }

    #[test]
    fn works_with_owned_keys_and_strings() {
        let entries = vec![
            (
                "crates".to_owned(),
                "sparse+https://index.crates.io/".to_owned(),
            ),
            (
                "corp".to_owned(),
                "https://corp.example/cargo/index/".to_owned(),
            ),
        ];
        assert_eq!(
            best_match(
                entries.clone(),
                "sparse+https://corp.example/cargo/index/config.json"
            ),
            Ok(Some("corp".to_owned()))
        );
        assert_eq!(
            best_match(entries, "https://index.crates.io/se/rd/serde"),
            Ok(Some("crates".to_owned()))
        );
    }
}
