//! Names the agent gives the entries that `set` adds: readable, shell-friendly and unique.

use credd_protocol::Entry;

use crate::urlmatch;

/// The longest generated name in bytes, leaving room under the name limit for a `-N` suffix.
const MAX_BASE_LEN: usize = 200;

/// A name no entry has, made from the service and username: `user@host/path` for a URL,
/// the service itself otherwise, with `-2`, `-3`, … appended when taken.
pub fn unused(entries: &[Entry], service: &str, username: Option<&str>) -> String {
    let base = base(service, username);
    let taken = |name: &str| entries.iter().any(|e| e.name == name);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
        .expect("an unbounded range always holds an unused name")
}

/// The name before any suffix: only characters a shell leaves alone, at most
/// [`MAX_BASE_LEN`] bytes.
fn base(service: &str, username: Option<&str>) -> String {
    let service = urlmatch::without_userinfo(service);
    let bare = service
        .split_once("://")
        .map_or(service.as_str(), |(_, rest)| rest)
        .trim_end_matches('/');
    let whole = match username {
        Some(user) => format!("{user}@{bare}"),
        None => bare.to_owned(),
    };
    let mut name = String::new();
    for c in whole.chars() {
        let kept = if c.is_alphanumeric() || "._-/:@+".contains(c) {
            c
        } else {
            '-'
        };
        if name.len() + kept.len_utf8() > MAX_BASE_LEN {
            break;
        }
        name.push(kept);
    }
    if name.trim_matches('-').is_empty() {
        "keyring".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credd_protocol::Secret;

    fn named(name: &str) -> Entry {
        Entry {
            name: name.into(),
            url: "https://h/".into(),
            username: None,
            secret: Secret::new("s"),
            expires: None,
            note: None,
            publish: false,
            source: None,
        }
    }

    #[test]
    fn names_read_like_the_service_and_user() {
        assert_eq!(
            unused(&[], "https://pypi.corp:8443/simple/", Some("ci")),
            "ci@pypi.corp:8443/simple"
        );
        assert_eq!(unused(&[], "pypi.corp", None), "pypi.corp");
        assert_eq!(unused(&[], "my app [prod]", None), "my-app--prod-");
        assert_eq!(unused(&[], "   ", None), "keyring");
    }

    #[test]
    fn taken_names_get_a_number() {
        let entries = [named("h"), named("h-2")];
        assert_eq!(unused(&entries, "https://h/", None), "h-3");
    }

    #[test]
    fn long_services_are_cut_at_a_character_boundary() {
        let name = unused(&[], &"é".repeat(300), None);
        assert!(name.len() <= MAX_BASE_LEN);
        assert!(name.chars().all(|c| c == 'é'));
    }
}
