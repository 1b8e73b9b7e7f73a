//! The userinfo of an index URL, split the way pip splits it (`urllib.parse.urlsplit`, then
//! `pip._internal.utils.misc.split_auth_from_netloc`).

use std::ops::Range;

use credd_protocol::Secret;
use zeroize::Zeroizing;

/// An index URL's login, split off the URL.
pub struct UrlAuth {
    /// The URL without its userinfo: what the credd entry serves.
    pub bare: String,
    /// The username, percent-decoded; `None` when there is none or it is empty.
    pub username: Option<String>,
    /// The password, percent-decoded, when the URL has one.
    pub password: Option<Secret>,
    /// The bytes of the URL to cut out so that it keeps its username and loses its password:
    /// `:PASSWORD`, or the whole `userinfo@` when the username is empty.
    pub cut: Option<Range<usize>>,
}

/// The authority (`netloc`) of `url` as `urlsplit` finds it: after `scheme://`, up to the first
/// `/`, `?` or `#`; with the byte offset where it starts. `None` when the URL has none.
fn netloc(url: &str) -> Option<(usize, &str)> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest = url[colon + 1..].strip_prefix("//").filter(|_| valid)?;
    let start = colon + 3;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((start, &rest[..end]))
}

/// Splits `url`'s userinfo off: the username and password pip sends for it, and the URL
/// without them. The userinfo ends at the netloc's last `@`; the password starts after its
/// first `:`.
pub fn split_auth(url: &str) -> UrlAuth {
    let no_auth = || UrlAuth {
        bare: url.to_owned(),
        username: None,
        password: None,
        cut: None,
    };
    let Some((start, netloc)) = netloc(url) else {
        return no_auth();
    };
    let Some(at) = netloc.rfind('@') else {
        return no_auth();
    };
    let userinfo = &netloc[..at];
    let bare = format!("{}{}", &url[..start], &url[start + at + 1..]);
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let username = Some(unquote(user)).filter(|u| !u.is_empty());
    let cut = password.map(|_| match username {
        Some(_) => start + user.len()..start + at,
        None => start..start + at + 1,
    });
    UrlAuth {
        bare,
        username: username.map(|u| u.to_string()),
        password: password.map(|p| Secret::new(&unquote(p))),
        cut,
    }
}

/// The lowercase host name of `url`, without port or brackets, as `urlparse(url).hostname`
/// gives it to requests' `.netrc` lookup; `None` when there is none.
pub fn hostname(url: &str) -> Option<String> {
    let (_, netloc) = netloc(url)?;
    let host_port = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let host = match host_port.split_once('[') {
        Some((_, bracketed)) => bracketed.split_once(']').map_or(bracketed, |(h, _)| h),
        None => host_port.split_once(':').map_or(host_port, |(h, _)| h),
    };
    Some(host.to_lowercase()).filter(|h| !h.is_empty())
}

/// `text` with its `%XX` escapes decoded, then read as UTF-8 with U+FFFD for what is not, like
/// Python's `urllib.parse.unquote`; wiped on drop, as it may be a password.
fn unquote(text: &str) -> Zeroizing<String> {
    let bytes = text.as_bytes();
    let mut decoded = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let escaped = |i: usize| -> Option<u8> {
        let hex = bytes.get(i + 1..i + 3).filter(|_| bytes[i] == b'%')?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut i = 0;
    while i < bytes.len() {
        match escaped(i) {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    match std::str::from_utf8(&decoded) {
        Ok(text) => Zeroizing::new(text.to_owned()),
        Err(_) => Zeroizing::new(String::from_utf8_lossy(&decoded).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_split_off_and_decoded() {
        let url = "https://al%40ice:p%3Aw:x%zz@host:8080/simple/";
        let auth = split_auth(url);
        assert_eq!(auth.bare, "https://host:8080/simple/");
        assert_eq!(auth.username.as_deref(), Some("al@ice"));
        assert_eq!(auth.password.unwrap().expose(), "p:w:x%zz");
        let mut kept = url.to_owned();
        kept.replace_range(auth.cut.unwrap(), "");
        assert_eq!(kept, "https://al%40ice@host:8080/simple/");
    }

    #[test]
    fn the_last_at_of_the_netloc_ends_the_userinfo() {
        let auth = split_auth("https://u:p@ss@host/path@x");
        assert_eq!(auth.bare, "https://host/path@x");
        assert_eq!(auth.password.unwrap().expose(), "p@ss");
    }

    #[test]
    fn a_password_without_username_cuts_the_whole_userinfo() {
        let url = "http://:tok@h/";
        let auth = split_auth(url);
        assert_eq!(auth.username, None);
        assert_eq!(auth.cut, Some(7..12));
        assert_eq!(auth.bare, "http://h/");
    }

    #[test]
    fn no_password_no_cut() {
        for url in [
            "https://u@h/",
            "https://h/",
            "/local/dir",
            "h:p@x",
            "https://h/?a=b@c",
        ] {
            let auth = split_auth(url);
            assert!(auth.password.is_none() && auth.cut.is_none(), "{url}");
        }
        assert_eq!(split_auth("https://u@h/").username.as_deref(), Some("u"));
    }

    #[test]
    fn hostnames_as_urlparse_gives_them() {
        assert_eq!(
            hostname("https://u:p@PyPI.Example:443/s/").as_deref(),
            Some("pypi.example")
        );
        assert_eq!(hostname("http://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(hostname("file:///x"), None);
        assert_eq!(hostname("not a url"), None);
    }
}
