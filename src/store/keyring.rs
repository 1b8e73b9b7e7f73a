//! The keyring store: each entry's secret is an item of the OS keychain (service `credd`,
//! account = the entry's name); credd keeps only the entries' metadata, never a secret, in a file
//! of its own (format in `docs/vault-format.md`).
//!
//! The file and the keychain are written separately: a change goes to the keychain first, then
//! to the file, so a failure leaves at worst a keychain item no entry names (the next `put` of
//! that name replaces it), never an entry without its secret.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use credd_protocol::{Entry, EntryInfo, Secret};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::StoreError;
use super::keychain::{Keychain, KeychainError};
use super::vault::ensure_private_dir;
use super::wipe_stack::with_wiped_stack;
use crate::atomic::{create_atomic, write_atomic};

/// The largest entry list: a reader refuses larger files as damaged rather than read them, and
/// a writer refuses to write one.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// The keyring store's entry list: where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringFile {
    path: PathBuf,
    /// [`MAX_FILE_LEN`], except in tests that need a small list to be full.
    max_len: u64,
}

/// The `store` of an entry list without source entries, which every credd with the keyring store
/// reads.
const STORE: &str = "keyring";
/// The `store` of an entry list holding a source entry. A credd that knows no sources reads only
/// [`STORE`] and refuses this one, instead of serving a source's long-lived material (a private
/// key) from the keychain as if it were a token.
const STORE_SOURCES: &str = "keyring+sources";

/// The file's contents: `{"store":"keyring","entries":[…]}` (or [`STORE_SOURCES`]).
#[derive(Serialize, Deserialize)]
struct Contents {
    store: String,
    entries: Vec<EntryInfo>,
}

impl KeyringFile {
    /// The entry list at `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_len: MAX_FILE_LEN,
        }
    }

    /// This entry list with a smaller size cap, for reader and writer alike.
    #[cfg(test)]
    fn with_max_len(self, max_len: u64) -> Self {
        Self { max_len, ..self }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when anything is at the file's path.
    pub fn exists(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok()
    }

    /// Writes an empty entry list; refuses when anything is at the path.
    pub fn create(&self) -> Result<(), StoreError> {
        ensure_private_dir(&self.path)?;
        create_atomic(&self.path, &self.encode(&[])?.0, 0o600).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => StoreError::Exists(format!(
                "a keyring store already exists at {}: it was left untouched",
                self.path.display()
            )),
            _ => self.io_error("cannot create", e),
        })
    }

    /// Every entry's metadata.
    pub fn read(&self) -> Result<Vec<EntryInfo>, StoreError> {
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::KeyringMissing(self.path.clone()));
            }
            Err(e) => return Err(self.io_error("cannot read", e)),
        };
        let len = file
            .metadata()
            .map_err(|e| self.io_error("cannot read", e))?
            .len();
        if len > self.max_len {
            return Err(self.damaged(format!("it is longer than {} bytes", self.max_len)));
        }
        let contents: Contents =
            serde_json::from_reader(io::BufReader::new(file)).map_err(|e| {
                let why = super::json_error::describe(&e);
                self.damaged(format!("it is not a credd entry list ({why})"))
            })?;
        if contents.store != STORE && contents.store != STORE_SOURCES {
            return Err(self.damaged("it is not a keyring store's entry list".into()));
        }
        Ok(contents.entries)
    }

    /// The entry list for `entries`, ready to [`write`](Self::write); refused when it would be
    /// larger than a reader accepts. Made before the keychain is changed, so that a list too
    /// large to write changes nothing.
    pub fn encode(&self, entries: &[Entry]) -> Result<Encoded, StoreError> {
        if let Some(why) = super::unknown_kind(entries) {
            return Err(StoreError::BadRequest(why));
        }
        let infos: Vec<EntryInfo> = entries.iter().map(Entry::info).collect();
        let sources = infos.iter().any(|info| info.source.is_some());
        let contents = Contents {
            store: if sources { STORE_SOURCES } else { STORE }.into(),
            entries: infos,
        };
        let bytes = serde_json::to_vec_pretty(&contents).map_err(|e| StoreError::Io {
            context: "cannot encode the keyring store's entry list".into(),
            source: io::Error::other(e),
        })?;
        let (len, max) = (bytes.len() as u64, self.max_len);
        if len > max {
            return Err(StoreError::BadRequest(format!(
                "the keyring store's entry list would be {len} bytes long, more than the {max} \
                 it may have; nothing was changed: remove entries you no longer use ('credd \
                 remove NAME')"
            )));
        }
        Ok(Encoded(bytes))
    }

    /// Replaces the entry list with `encoded`, atomically.
    pub fn write(&self, encoded: &Encoded) -> Result<(), StoreError> {
        ensure_private_dir(&self.path)?;
        write_atomic(&self.path, &encoded.0, 0o600).map_err(|e| self.io_error("cannot write", e))
    }

    fn damaged(&self, reason: String) -> StoreError {
        StoreError::KeyringDamaged {
            path: self.path.clone(),
            reason,
        }
    }

    fn io_error(&self, what: &str, source: io::Error) -> StoreError {
        StoreError::Io {
            context: format!(
                "{what} the keyring store's entry list {}",
                self.path.display()
            ),
            source,
        }
    }
}

/// An entry list within the size its reader accepts, from [`KeyringFile::encode`].
pub struct Encoded(Vec<u8>);

/// The label keychain managers show for an entry's item.
fn label(name: &str) -> String {
    format!("credd: {name}")
}

/// Every entry with its secret from `keychain`. An entry whose item is gone (deleted with a
/// keychain manager) is left out, with a warning: the others stay usable. Blocks.
pub fn load(keychain: &Keychain, infos: Vec<EntryInfo>) -> Result<Vec<Entry>, KeychainError> {
    with_wiped_stack(|| {
        let mut entries = Vec::with_capacity(infos.len());
        for info in infos {
            let Some(mut bytes) = keychain.get(&info.name)? else {
                tracing::warn!(
                    name = info.name,
                    "the keychain has no secret for this entry: left out; add it again with 'credd add --replace'"
                );
                continue;
            };
            let secret = match std::str::from_utf8(&bytes) {
                Ok(text) => Secret::new(text),
                Err(_) => {
                    bytes.zeroize();
                    tracing::warn!(
                        name = info.name,
                        "the keychain's secret for this entry is not UTF-8 text: left out"
                    );
                    continue;
                }
            };
            entries.push(with_secret(info, secret));
        }
        Ok(entries)
    })
}

fn with_secret(info: EntryInfo, secret: Secret) -> Entry {
    Entry {
        name: info.name,
        url: info.url,
        username: info.username,
        secret,
        expires: info.expires,
        note: info.note,
        publish: info.publish,
        source: info.source,
    }
}

/// What a write changes in the keychain: the secrets of new entries and changed secrets, by
/// entry name, and the entries that are gone. Only these go to the keychain's blocking call, so
/// that a call that outlasts its timeout (an unlock prompt nobody answers) holds no secret but
/// those it writes.
pub struct Changes {
    set: Vec<(String, Secret)>,
    delete: Vec<String>,
}

/// The keychain changes from `before` to `after`.
pub fn changes(before: &[Entry], after: &[Entry]) -> Changes {
    let set = after
        .iter()
        .filter(|entry| {
            let old = before.iter().find(|old| old.name == entry.name);
            old.is_none_or(|old| old.secret.expose() != entry.secret.expose())
        })
        .map(|entry| (entry.name.clone(), entry.secret.clone()))
        .collect();
    let delete = before
        .iter()
        .filter(|old| !after.iter().any(|new| new.name == old.name))
        .map(|gone| gone.name.clone())
        .collect();
    Changes { set, delete }
}

/// Writes `changes` to `keychain`. Blocks.
pub fn apply(keychain: &Keychain, changes: &Changes) -> Result<(), KeychainError> {
    with_wiped_stack(|| {
        for (name, secret) in &changes.set {
            keychain.set(name, &label(name), secret.expose().as_bytes())?;
        }
        for name in &changes.delete {
            keychain.delete(name)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            url: "https://reg.test/".into(),
            username: Some("ci".into()),
            secret: Secret::new("tok-never-on-disk"),
            expires: Some(1_900_000_000),
            note: None,
            publish: false,
            source: None,
        }
    }

    /// The keyring store's entry list as written once by this format's writer. Never regenerate
    /// it: a format change must keep reading it (or migrate it, tested).
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/keyring-entries.json");

    #[test]
    fn the_committed_entry_list_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json"));
        fs::write(file.path(), FIXTURE).unwrap();
        let corp = EntryInfo {
            name: "corp".into(),
            url: "https://corp.example.com/simple/".into(),
            username: Some("ci".into()),
            expires: Some(1_900_000_000),
            note: Some("rotated monthly".into()),
            publish: false,
            source: None,
            minted: None,
            token_expires: None,
            source_error: None,
        };
        let pypi = EntryInfo {
            name: "pypi".into(),
            url: "https://pypi.example.com/simple/".into(),
            username: None,
            expires: None,
            note: None,
            publish: false,
            source: None,
            minted: None,
            token_expires: None,
            source_error: None,
        };
        assert_eq!(file.read().unwrap(), vec![corp, pypi]);
    }

    /// A publish credential, a team's entry and a team's AppRole login, as written once by this
    /// format's writer. Never regenerate it: it pins the publish flag and the team kinds' fields.
    const FIXTURE_TEAMS: &[u8] = include_bytes!("../../tests/fixtures/keyring-entries-teams.json");

    fn team_entries() -> Vec<Entry> {
        use credd_protocol::Source;
        vec![
            Entry {
                publish: true,
                ..entry("corp-publish")
            },
            Entry {
                source: Some(Source::Team {
                    team: "acme".into(),
                    fetched: 1_800_000_000,
                }),
                ..entry("acme/pypi")
            },
            Entry {
                url: "team-login:beta".into(),
                username: None,
                expires: None,
                source: Some(Source::TeamLogin {
                    team: "beta".into(),
                    role_id: Some("role-id-1".into()),
                    jwt_role: None,
                }),
                ..entry("team-login/beta")
            },
        ]
    }

    #[test]
    fn the_committed_list_of_publish_and_team_entries_is_written_and_read_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json"));
        let entries = team_entries();
        assert_eq!(file.encode(&entries).unwrap().0, FIXTURE_TEAMS);
        fs::write(file.path(), FIXTURE_TEAMS).unwrap();
        let infos: Vec<EntryInfo> = entries.iter().map(Entry::info).collect();
        assert_eq!(file.read().unwrap(), infos);
    }

    /// The entry list holding a source entry, as written once by this format's writer. Never
    /// regenerate it.
    const FIXTURE_SOURCES: &[u8] =
        include_bytes!("../../tests/fixtures/keyring-entries-sources.json");

    #[test]
    fn a_list_with_a_source_entry_is_marked_so_that_older_readers_refuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json"));
        let sourced = Entry {
            name: "gar".into(),
            url: "https://europe-python.pkg.dev/corp/py/".into(),
            username: None,
            expires: None,
            source: Some(credd_protocol::Source::Gcp { scopes: Vec::new() }),
            ..entry("gar")
        };
        assert_eq!(
            file.encode(std::slice::from_ref(&sourced)).unwrap().0,
            FIXTURE_SOURCES
        );
        fs::write(file.path(), FIXTURE_SOURCES).unwrap();
        assert_eq!(file.read().unwrap(), vec![sourced.info()]);
        // What a credd without sources checks: the store must be exactly "keyring".
        let contents: Contents = serde_json::from_slice(FIXTURE_SOURCES).unwrap();
        assert_ne!(contents.store, "keyring");
        // Without a source entry, the list stays readable by those older credds.
        let plain = String::from_utf8(file.encode(&[entry("a")]).unwrap().0).unwrap();
        assert!(
            plain.starts_with("{\n  \"store\": \"keyring\",\n"),
            "{plain}"
        );
    }

    #[test]
    fn an_entry_of_an_unknown_kind_is_never_encoded_lossily() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json"));
        let list = br#"{"store":"keyring+sources","entries":[{"name":"future","url":"https://f.example/","source":{"kind":"hsm-slot","slot":7}}]}"#;
        fs::write(file.path(), list).unwrap();
        let infos = file.read().unwrap();
        assert_eq!(infos[0].source, Some(credd_protocol::Source::Unknown));
        let future = Entry {
            source: infos[0].source.clone(),
            ..entry("future")
        };
        let err = file.encode(std::slice::from_ref(&future)).err().unwrap();
        assert!(
            matches!(&err, StoreError::BadRequest(why) if why.contains("credd remove future")),
            "{err:?}"
        );
        assert!(file.encode(&[entry("a")]).is_ok());
    }

    #[test]
    fn the_entry_list_round_trips_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("credd/keyring-entries.json"));
        assert!(matches!(file.read(), Err(StoreError::KeyringMissing(_))));
        file.create().unwrap();
        assert!(file.read().unwrap().is_empty());
        assert!(matches!(file.create(), Err(StoreError::Exists(_))));
        // A source entry keeps its source; its material goes to the keychain like any secret.
        let sourced = Entry {
            source: Some(credd_protocol::Source::Gcp { scopes: Vec::new() }),
            ..entry("b")
        };
        let encoded = file.encode(&[entry("a"), sourced.clone()]).unwrap();
        file.write(&encoded).unwrap();
        let infos = file.read().unwrap();
        assert_eq!(infos, vec![entry("a").info(), sourced.info()]);
        assert!(infos[1].source.is_some());
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains("tok-never-on-disk"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_reader_reads_every_entry_list_the_writer_accepts() {
        const MAX: u64 = 2048;
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json")).with_max_len(MAX);
        file.create().unwrap();
        let mut entries = vec![entry("a")];
        entries[0].note = Some(String::new());
        // Fill the list to the byte: still written, still read.
        let spare = MAX as usize - file.encode(&entries).unwrap().0.len();
        entries[0].note = Some("n".repeat(spare));
        let full = file.encode(&entries).unwrap();
        assert_eq!(full.0.len() as u64, MAX);
        file.write(&full).unwrap();
        assert_eq!(file.read().unwrap(), vec![entries[0].info()]);
        entries.push(entry("b"));
        let err = file.encode(&entries).err().unwrap();
        assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
        assert!(err.to_string().contains("remove entries"), "{err}");
    }

    #[test]
    fn a_foreign_file_is_damage_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::new(dir.path().join("keyring-entries.json"));
        fs::write(file.path(), b"{\"store\":\"vault\",\"entries\":[]}").unwrap();
        let err = file.read().unwrap_err();
        assert!(matches!(err, StoreError::KeyringDamaged { .. }), "{err:?}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(
            fs::read(file.path()).unwrap(),
            b"{\"store\":\"vault\",\"entries\":[]}"
        );
    }
}
