//! Requests, replies and the error kinds of protocol v1.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{MAX_FRAME_LEN, PROTOCOL_VERSION, SUPPORTED_VERSIONS, Secret, Source};

/// One request: the protocol version, an id the reply echoes, and the operation.
#[derive(Debug, Serialize)]
pub struct Request {
    /// Protocol version the client speaks.
    pub v: u32,
    /// Chosen by the client; echoed in the reply.
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub op: Operation,
}

impl Request {
    /// A version-1 request.
    pub fn new(id: u64, op: Operation) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            op,
        }
    }
}

/// The operations of protocol v1, tagged by the `op` field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Operation {
    /// Which versions the agent speaks; answered whatever `v` the request carries.
    Hello,
    /// Locked or unlocked, and the auto-lock timers.
    Status,
    /// Creates a new, empty store and leaves the agent unlocked.
    Init {
        /// The new vault's passphrase; required for the vault store, unused by the keyring store.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<Secret>,
        /// Key-derivation cost; the agent's strong default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kdf: Option<KdfParams>,
        /// Which store to create; the agent's configured store when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store: Option<StoreKind>,
    },
    /// Decrypts the vault into the agent (the keyring store ignores the passphrase and loads its
    /// secrets from the OS keychain).
    Unlock {
        /// The vault's passphrase.
        passphrase: Secret,
    },
    /// Unlocks without a passphrase, from the OS keychain: the keyring store loads its secrets,
    /// the vault store opens with the key that `remember` stored.
    UnlockKeychain,
    /// Stores the unlocked vault's key in the OS keychain, for `unlock-keychain`. The key lets
    /// whoever can read the keychain open the vault, so the person must confirm it.
    Remember {
        /// The vault passphrase, typed by the person.
        passphrase: Secret,
    },
    /// Removes the key that `remember` stored from the OS keychain.
    Forget,
    /// Wipes every secret and the key from the agent.
    Lock,
    /// Re-encrypts the vault under a new passphrase.
    Passwd {
        /// The current passphrase.
        old: Secret,
        /// The passphrase from now on.
        new: Secret,
    },
    /// One entry, with its secret: the one `lookup` selects. A publish credential is handed out
    /// only with a step-up: `passphrase` (the vault passphrase, typed by the person) or an
    /// allowance from `allow`.
    Get {
        /// Which entry.
        #[serde(flatten)]
        lookup: Lookup,
        /// Who asks and for what, for the audit log, and the step-up proof.
        #[serde(flatten)]
        ask: Ask,
    },
    /// The entry of the first of `lookups` that finds one, as `get` without a passphrase answers
    /// each in turn (a miss moves on to the next, any other error answers), in one request and
    /// one audit record: for a tool's fallback rules, such as git's URL, then its host. One to
    /// [`MAX_LOOKUPS`] lookups; `publish` and `passphrase` go with `get`.
    GetFirst {
        /// The lookups, in order.
        lookups: Vec<Lookup>,
        /// Who asks and for what, for the audit log (no passphrase: no step-up here).
        #[serde(flatten)]
        ask: Ask,
    },
    /// Lets the next `get` of the publish credential `name` through without a passphrase, once,
    /// within [`ALLOW_SECS`] seconds: for a publish run where no terminal can prompt.
    Allow {
        /// The publish credential.
        name: String,
        /// The vault passphrase, typed by the person.
        passphrase: Secret,
    },
    /// The most recent lookups the agent answered (or refused), oldest first; never a secret.
    Log {
        /// At most this many records (the agent may return fewer, to fit a frame).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Stores an entry.
    Put {
        /// The entry to store.
        entry: Entry,
        /// Replace an entry of the same name instead of failing with `exists`.
        #[serde(default, skip_serializing_if = "is_false")]
        replace: bool,
    },
    /// Stores a credential keyed by its service and username, as keyring-style tools do:
    /// replaces the secret of the entry whose `url` is exactly `url` for that username, else adds
    /// an entry with a name the agent makes up.
    Set {
        /// The service: a URL, `host[:port]`, or any other name the tool uses.
        url: String,
        /// The login name; absent or empty for none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// The token or password (may be empty).
        secret: Secret,
        /// Free text for a new entry; an existing entry keeps its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// When the secret stops working, in Unix seconds (git's `password_expiry_utc`);
        /// absent, a new entry has none and an existing one keeps its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<u64>,
    },
    /// Removes the entry `lookup` selects.
    Delete {
        /// Which entry.
        #[serde(flatten)]
        lookup: Lookup,
    },
    /// One page of the entries' metadata, sorted by name; never a secret.
    List {
        /// Only entries whose name sorts after this one: the `next` of the previous page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// At most this many entries (0 counts as 1); the agent may return fewer, to fit a frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Mints a new token for the source entry `name` now, whatever the cached one's age.
    Refresh {
        /// The source entry.
        name: String,
    },
    /// Wipes every secret and ends the agent.
    Stop,
    /// An operation this side does not know.
    #[serde(other)]
    Unknown,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The most lookups one `get-first` may carry.
pub const MAX_LOOKUPS: usize = 4;

/// How long an allowance from `allow` lasts, in seconds.
pub const ALLOW_SECS: u64 = 300;

/// The most bytes an [`Ask::operation`] may have; the agent cuts longer ones.
pub const MAX_OPERATION_LEN: usize = 256;

/// The context of a `get`: which front asks, what for, and the step-up proof. Every field is
/// optional; the front and operation only label the audit record (a client may lie about them:
/// the agent records the peer's executable beside them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ask {
    /// The front the request comes through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front: Option<Front>,
    /// What the credential is for, in words: `read`, `publish foo 1.2.3`, `yank foo 1.2.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The vault passphrase, typed by the person on the terminal: the step-up proof that a
    /// publish credential needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
}

/// The fronts through which tools reach the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Front {
    /// `credd --cargo-plugin`, run by cargo.
    Cargo,
    /// The `keyring` command or the Python keyring backend, run by pip, uv, Poetry or twine.
    Keyring,
    /// git's credential helper.
    Git,
    /// docker's credential helper.
    Docker,
    /// The `credd` command line.
    Cli,
    /// A front this side does not know.
    #[serde(other)]
    Unknown,
}

impl Front {
    /// The front's name as on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cargo => "cargo",
            Self::Keyring => "keyring",
            Self::Git => "git",
            Self::Docker => "docker",
            Self::Cli => "cli",
            Self::Unknown => "unknown",
        }
    }
}

/// Which entry a `get`, a lookup of `get-first` or a `delete` means: exactly one of `name` or
/// `url`; with `url`, optionally the `username` it must have and `exact` (only an entry whose
/// `url` is this very string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// Exact entry name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A service: a registry URL (URL rules apply), `host[:port]`, or an exact service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Only an entry with this username (empty or `__token__`: also one without a username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Only an entry whose `url` equals the query byte for byte; no URL rules.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exact: bool,
    /// With `url`: the service's publish credential (else, when it has none, the one credential
    /// it has). Without it a `url` never selects a publish credential.
    #[serde(default, skip_serializing_if = "is_false")]
    pub publish: bool,
    /// With a `host[:port]` `url`: only entries whose URL has this scheme (`https`), besides
    /// those stored for that very string. For git's host rule, which must not answer an `https`
    /// request with an entry for `http` on the host (or the reverse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

impl Lookup {
    /// The entry named `name`.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// The entry serving `url`, whatever its username.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The same lookup, restricted to `username` when one is given.
    #[must_use]
    pub fn username(self, username: Option<String>) -> Self {
        Self { username, ..self }
    }

    /// The same lookup of a `host[:port]`, among the entries of `scheme` only.
    #[must_use]
    pub fn scheme(self, scheme: Option<String>) -> Self {
        Self { scheme, ..self }
    }

    /// The same lookup, for the publish credential.
    #[must_use]
    pub fn for_publish(self) -> Self {
        Self {
            publish: true,
            ..self
        }
    }
}

impl Operation {
    /// A `get` of `lookup` with no context.
    pub fn get(lookup: Lookup) -> Self {
        Self::Get {
            lookup,
            ask: Ask::default(),
        }
    }

    /// A `get` of `lookup` through `front`, for `operation`.
    pub fn get_for(lookup: Lookup, front: Front, operation: impl Into<String>) -> Self {
        Self::Get {
            lookup,
            ask: Ask::through(front, operation),
        }
    }

    /// A `get-first` of `lookups` through `front`, for `operation`.
    pub fn get_first_for(lookups: Vec<Lookup>, front: Front, operation: impl Into<String>) -> Self {
        Self::GetFirst {
            lookups,
            ask: Ask::through(front, operation),
        }
    }
}

impl Ask {
    /// Through `front`, for `operation`, without a step-up.
    fn through(front: Front, operation: impl Into<String>) -> Self {
        Self {
            front: Some(front),
            operation: Some(operation.into()),
            passphrase: None,
        }
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub passes: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

/// Where the secrets are kept at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StoreKind {
    /// credd's own encrypted vault file, opened with a passphrase.
    #[default]
    Vault,
    /// The OS keychain (one item per entry); the metadata in a file of credd's.
    Keyring,
    /// Memory only, nothing on disk: the store of `credd ci`, filled by `put`s, gone at lock.
    Memory,
    /// A store this side does not know.
    #[serde(other)]
    Unknown,
}

/// An OS keychain credd can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeychainKind {
    /// The freedesktop Secret Service on the D-Bus session bus (GNOME Keyring, KWallet).
    SecretService,
    /// The Linux kernel's keyutils session keyring: gone at reboot.
    KernelKeyutils,
    /// The macOS Keychain: reserved, the credd agent (Linux only) never uses it.
    MacosKeychain,
    /// The Windows Credential Manager: reserved, the credd agent (Linux only) never uses it.
    WindowsCredentialManager,
    /// A keychain this side does not know.
    #[serde(other)]
    Unknown,
}

/// What the agent last saw of a keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeychainState {
    /// It answered.
    Available,
    /// It is there but locked, or refused access.
    Locked,
    /// It is not there (no D-Bus session bus, or no Secret Service on it).
    Absent,
    /// It did not answer in time.
    NotAnswering,
    /// It failed otherwise.
    Failed,
    /// A state this side does not know.
    #[serde(other)]
    Unknown,
}

/// The OS keychain as the agent last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeychainStatus {
    /// The keychain that holds the keyring store's secrets on this system.
    pub keychain: KeychainKind,
    /// Whether it answered.
    pub state: KeychainState,
    /// What is wrong and what to do; absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True when the kernel keyutils session keyring can remember the vault key instead (for this
    /// login session, never across a reboot).
    #[serde(default)]
    pub session_keyring: bool,
}

/// A stored credential, secret included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Unique name.
    pub name: String,
    /// The registry or index URL it serves, as given (`sparse+`/`registry+` kept).
    pub url: String,
    /// Login name, for registries that use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The token or password.
    pub secret: Secret,
    /// When the secret stops working, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Free text for the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A publish credential: handed out only with a step-up, and never for a read.
    #[serde(default, skip_serializing_if = "is_false")]
    pub publish: bool,
    /// Where the tokens come from, for a source entry: `secret` is then the long-lived material
    /// the agent mints them from, and a `get` answers with a minted token in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

impl Entry {
    /// The entry without its secret (and without any minted token).
    pub fn info(&self) -> EntryInfo {
        EntryInfo {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            expires: self.expires,
            note: self.note.clone(),
            publish: self.publish,
            source: self.source.clone(),
            minted: None,
            token_expires: None,
            source_error: None,
        }
    }
}

/// The most bytes (of UTF-8) an entry's name may have; `put` refuses longer fields.
pub const MAX_NAME_LEN: usize = 256;
/// The most bytes an entry's URL may have.
pub const MAX_URL_LEN: usize = 2048;
/// The most bytes an entry's username may have.
pub const MAX_USERNAME_LEN: usize = 256;
/// The most bytes an entry's note may have.
pub const MAX_NOTE_LEN: usize = 4096;
/// The most bytes an entry's secret may have: room for any registry token, JWTs included, and
/// for a service-account key file.
pub const MAX_SECRET_LEN: usize = 16 * 1024;
/// The most bytes an entry's `source` may take in JSON.
pub const MAX_SOURCE_LEN: usize = 4096;
/// The most bytes of an [`EntryInfo::source_error`]; the agent cuts longer messages.
pub const MAX_SOURCE_ERROR_LEN: usize = 1024;

impl Entry {
    /// Checks every field against its limit (`MAX_NAME_LEN` and the others), which keep one
    /// entry well inside a frame and bound what a store must hold; the error names the first
    /// field that is too long, never its contents.
    pub fn check_lengths(&self) -> Result<(), String> {
        let fields = [
            ("name", self.name.len(), MAX_NAME_LEN),
            ("URL", self.url.len(), MAX_URL_LEN),
            (
                "username",
                self.username.as_ref().map_or(0, String::len),
                MAX_USERNAME_LEN,
            ),
            (
                "note",
                self.note.as_ref().map_or(0, String::len),
                MAX_NOTE_LEN,
            ),
            ("secret", self.secret.expose().len(), MAX_SECRET_LEN),
            (
                "source",
                self.source.as_ref().map_or(0, json_len),
                MAX_SOURCE_LEN,
            ),
        ];
        match fields.into_iter().find(|(_, len, max)| len > max) {
            Some((field, len, max)) => Err(format!(
                "the entry's {field} is {len} bytes long, more than the {max} it may have: \
                 shorten it"
            )),
            None => Ok(()),
        }
    }
}

/// A stored credential's metadata: what `list` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// Unique name.
    pub name: String,
    /// The registry or index URL it serves.
    pub url: String,
    /// Login name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Expiry in Unix seconds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Free text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A publish credential (step-up required).
    #[serde(default, skip_serializing_if = "is_false")]
    pub publish: bool,
    /// A source entry's source (never its material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// When the cached token of a source entry was minted, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted: Option<u64>,
    /// When that token expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires: Option<u64>,
    /// Why the last mint failed, when it did (cleared by the next good one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_error: Option<String>,
}

/// The answer to one request: the request's id and a result or an error.
///
/// On the wire: `{"id":N,"ok":RESULT}` or `{"id":N,"error":{"kind":…,"message":…}}`. The id is
/// `null` when the request was too broken to read one.
#[derive(Debug)]
pub struct Reply<T> {
    /// The id of the request this answers.
    pub id: Option<u64>,
    /// The result, or why there is none.
    pub outcome: Result<T, ErrorReply>,
}

#[derive(Serialize)]
struct ReplyOut<'a, T> {
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorReply>,
}

#[derive(Deserialize)]
struct ReplyIn<T> {
    id: Option<u64>,
    ok: Option<T>,
    error: Option<ErrorReply>,
}

impl<T: Serialize> Serialize for Reply<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReplyOut {
            id: self.id,
            ok: self.outcome.as_ref().ok(),
            error: self.outcome.as_ref().err(),
        }
        .serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Reply<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = ReplyIn::<T>::deserialize(deserializer)?;
        let outcome = match (raw.ok, raw.error) {
            (_, Some(error)) => Err(error),
            (Some(ok), None) => Ok(ok),
            (None, None) => return Err(serde::de::Error::missing_field("ok")),
        };
        Ok(Self {
            id: raw.id,
            outcome,
        })
    }
}

/// Why a request failed: a stable kind for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    /// What went wrong, for programs.
    pub kind: ErrorKind,
    /// What went wrong and what to do, for people. Never contains a secret.
    pub message: String,
}

impl ErrorReply {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The agent holds no secrets until unlocked.
    pub fn locked() -> Self {
        Self::new(ErrorKind::Locked, "credd is locked: run 'credd unlock'")
    }
}

/// The machine-readable error kinds. Clients must treat kinds they do not know as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The agent is locked.
    Locked,
    /// No entry matches.
    NotFound,
    /// The request is malformed or asks for something impossible.
    BadRequest,
    /// The passphrase does not open the vault.
    BadPassphrase,
    /// The request's protocol version is not spoken here.
    UnsupportedVersion,
    /// The operation is not known to this agent.
    UnsupportedOperation,
    /// A line exceeded the frame cap; the connection is closed after this reply.
    FrameTooLarge,
    /// The agent is at its connection cap; try again shortly.
    Busy,
    /// Several entries serve the query equally well; the message lists their usernames.
    Ambiguous,
    /// The entry is a publish credential: ask again with the passphrase the person types (or
    /// after `allow`); the message says how.
    StepUpRequired,
    /// An entry with that name exists already.
    Exists,
    /// There is no vault yet.
    NoVault,
    /// A vault exists already.
    VaultExists,
    /// The vault file is damaged or not a credd vault; it is left untouched.
    VaultDamaged,
    /// The OS keychain is absent, locked or not answering; the message names what is missing.
    KeychainUnavailable,
    /// No vault key is remembered in the OS keychain, or the remembered one no longer fits.
    NotRemembered,
    /// A source entry's token could not be minted (endpoint refused or unreachable, command
    /// failed, deadline passed); the message says why and what to do.
    SourceFailed,
    /// A team entry's offline copy is older than its team's `max-age`: the team's server has not
    /// answered since; the message names it.
    Stale,
    /// Something failed inside the agent.
    Internal,
    /// A kind this side does not know.
    #[serde(other)]
    Unknown,
}

/// Whether the agent holds decrypted secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LockState {
    /// No secret in memory.
    Locked,
    /// Secrets in memory, lookups answered.
    Unlocked,
    /// A state this side does not know.
    #[serde(other)]
    Unknown,
}

/// Result of `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResult {
    /// Protocol versions the agent speaks.
    pub versions: Vec<u32>,
    /// The agent's name and version, e.g. `credd 0.1.0`.
    pub agent: String,
}

/// Result of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResult {
    /// Locked or unlocked.
    pub state: LockState,
    /// Whether the store exists (the vault file, or the keyring store's entry list).
    pub vault: bool,
    /// Which store the agent uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreKind>,
    /// The agent's process id.
    pub pid: u32,
    /// Number of entries, when unlocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    /// Seconds until the idle timer locks, when unlocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_lock_in: Option<u64>,
    /// Seconds until the absolute maximum locks, when unlocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lock_in: Option<u64>,
    /// The keychain holding the vault key that `remember` stored, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered: Option<KeychainKind>,
    /// The OS keychain as the agent last saw it; absent before it first looked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keychain: Option<KeychainStatus>,
    /// When unlocked: entries that also serve publishing without a step-up (no separate
    /// publish credential serves their service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprotected: Option<usize>,
    /// Lookups since the agent started whose caller is not a known tool of its front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_callers: Option<u64>,
    /// Seconds a step-up keeps a publish credential open to the terminal session it came from,
    /// when the agent's config sets a grace window (`step-up-grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_grace: Option<u64>,
    /// When unlocked: each configured team (OpenBao source) and how its last read went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamStatus>,
}

/// What `status` says of one team: its server, what it serves, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamStatus {
    /// The team's name in the config.
    pub name: String,
    /// Its server's address.
    pub address: String,
    /// The team's entries the agent holds.
    pub entries: usize,
    /// When the entries were last read from the server, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<u64>,
    /// When the agent's server token expires, in Unix seconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires: Option<u64>,
    /// Why the last read failed, and what to do; absent after a good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Result of `remember`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberResult {
    /// Where the vault key now is.
    pub keychain: KeychainKind,
    /// False for the kernel keyring, which a reboot empties.
    pub survives_reboot: bool,
}

/// Result of `forget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetResult {
    /// True when a remembered key was removed.
    pub removed: bool,
}

/// Result of `get`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetResult {
    /// The entry, secret included.
    pub entry: Entry,
    /// True when the service has a separate publish credential besides this entry: a tool must
    /// not use this one to publish (Cargo: `operation_independent: false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub separate_publish: bool,
}

/// Result of `get-first`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetFirstResult {
    /// The entry, as `get` gives it.
    #[serde(flatten)]
    pub found: GetResult,
    /// Which of the lookups found it (0 for the first).
    pub lookup: u32,
}

/// Result of `log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogResult {
    /// The records, oldest first.
    pub records: Vec<LogRecord>,
}

/// One lookup, as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When, in Unix seconds.
    pub time: u64,
    /// The process that connected.
    pub peer: Process,
    /// Its parents, nearest first, up to its session leader.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<Process>,
    /// The front the client named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front: Option<Front>,
    /// The entry found (or refused), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// What was asked: the client's words, else `read` or `publish`.
    pub operation: String,
    /// `ok`, `ok (step-up)`, `ok (allowed once)`, or the error kind.
    pub outcome: String,
    /// False when neither the peer nor its parent is a tool known to use this front: a build
    /// script or another program reading tokens.
    pub known_tool: bool,
}

/// A process in a [`LogRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Its process id.
    pub pid: u32,
    /// Its user id, for the connecting process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Its executable (`/proc/PID/exe`), when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
}

/// Result of `refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResult {
    /// When the new token was minted, in Unix seconds.
    pub minted: u64,
    /// When it expires, in Unix seconds.
    pub token_expires: u64,
    /// For a team: how many of its entries the agent serves after the read (`minted` is then
    /// when it read them, `token_expires` when that copy turns stale offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
}

/// Result of `put`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResult {
    /// True when an entry of the same name was replaced.
    pub replaced: bool,
}

/// Result of `set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetResult {
    /// The name of the entry that holds the credential now.
    pub name: String,
    /// True when an existing entry's secret was replaced.
    pub replaced: bool,
}

/// Result of `list`: one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResult {
    /// Metadata of the page's entries, sorted by name.
    pub entries: Vec<EntryInfo>,
    /// The `after` that asks for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Room kept in a frame for the reply around a `list` result: `{"id":N,"ok":…}` takes 33 bytes
/// with the longest id; the rest is margin.
const LIST_REPLY_OVERHEAD: usize = 64;
/// The most a `list` result may take in JSON.
const LIST_PAGE_BUDGET: usize = MAX_FRAME_LEN - LIST_REPLY_OVERHEAD;
/// `{"entries":[]}`: a `list` result without entries or cursor.
const EMPTY_PAGE_LEN: usize = 14;
/// `,"next":` before the cursor.
const NEXT_FIELD_LEN: usize = 8;

#[cfg(test)]
impl EntryInfo {
    /// True when a `list` page of this entry alone, with its cursor, fits in one frame. Every
    /// stored entry must pass, or `list` could not page past it: the field limits guarantee it
    /// (tested), so it is checked here and not on every `put`.
    fn fits_a_page(&self) -> bool {
        EMPTY_PAGE_LEN + json_len(self) + NEXT_FIELD_LEN + json_len(&self.name) <= LIST_PAGE_BUDGET
    }
}

impl ListResult {
    /// The first page of `sorted` (entries sorted by name): the longest run of at most `limit`
    /// entries whose reply, `next` cursor included, fits in one frame. A page holds at least one
    /// entry when there is one, so that paging always advances (a `limit` of 0 counts as 1).
    pub fn page(sorted: impl IntoIterator<Item = EntryInfo>, limit: Option<u32>) -> Self {
        let limit = limit.map_or(usize::MAX, |l| (l as usize).max(1));
        let mut rest = sorted.into_iter().peekable();
        let mut entries: Vec<EntryInfo> = Vec::new();
        let mut used = EMPTY_PAGE_LEN;
        while entries.len() < limit {
            let Some(entry) = rest.next() else {
                return Self {
                    entries,
                    next: None,
                };
            };
            let grown = used + usize::from(!entries.is_empty()) + json_len(&entry);
            // Every entry but the very last may end a page, so it must fit with its cursor.
            let cursor = match rest.peek() {
                Some(_) => NEXT_FIELD_LEN + json_len(&entry.name),
                None => 0,
            };
            if grown + cursor > LIST_PAGE_BUDGET && !entries.is_empty() {
                return Self::continued(entries);
            }
            used = grown;
            entries.push(entry);
        }
        match rest.peek() {
            Some(_) => Self::continued(entries),
            None => Self {
                entries,
                next: None,
            },
        }
    }

    /// A page that more entries follow: its cursor is its last entry's name.
    fn continued(entries: Vec<EntryInfo>) -> Self {
        let next = entries.last().map(|last| last.name.clone());
        Self { entries, next }
    }
}

/// The length of `value` in JSON, counted without building it. Serializing these plain types
/// cannot fail; if it did, the count would be short and the agent's own check that every reply
/// fits its frame would still refuse the oversized one.
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Result of operations that return nothing: `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Done {}

/// A request that cannot be carried out as sent: the reply to give, with the id when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The request's id, when it could be read.
    pub id: Option<u64>,
    /// The error reply to send.
    pub error: ErrorReply,
}

/// Only the fields every request has; read first so that errors can echo the id.
#[derive(Deserialize)]
struct Envelope {
    v: Option<u32>,
    id: Option<u64>,
    op: Option<String>,
}

/// Reads one frame as a request, or says which error reply it deserves.
///
/// `hello` is answered whatever its `v`, so that a client can learn which versions to speak.
/// Error messages never quote the frame: it may hold a secret.
pub fn parse_request(frame: &[u8]) -> Result<Request, RequestError> {
    let text = std::str::from_utf8(frame)
        .map_err(|_| bad_request(None, "the request is not valid UTF-8".into()))?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        bad_request(
            None,
            format!("the request is not a JSON object ({})", describe(&e)),
        )
    })?;
    let (Some(v), Some(id)) = (envelope.v, envelope.id) else {
        return Err(bad_request(
            envelope.id,
            "the request needs `v` and `id` fields".into(),
        ));
    };
    let is_hello = envelope.op.as_deref() == Some("hello");
    if !SUPPORTED_VERSIONS.contains(&v) && !is_hello {
        let message = format!(
            "protocol version {v} is not supported; this agent speaks {SUPPORTED_VERSIONS:?}: upgrade the older side"
        );
        return Err(RequestError {
            id: Some(id),
            error: ErrorReply::new(ErrorKind::UnsupportedVersion, message),
        });
    }
    let op: Operation = serde_json::from_str(text).map_err(|e| {
        let op_name = envelope.op.as_deref().map_or("(none)".into(), quote_op);
        bad_request(
            Some(id),
            format!("malformed {op_name} request ({})", describe(&e)),
        )
    })?;
    if let Operation::Unknown = op {
        let message = format!(
            "unknown operation {}: see `credd --help` or upgrade the agent",
            quote_op(envelope.op.as_deref().unwrap_or_default())
        );
        return Err(RequestError {
            id: Some(id),
            error: ErrorReply::new(ErrorKind::UnsupportedOperation, message),
        });
    }
    Ok(Request { v, id, op })
}

/// How many characters of an `op` an error message quotes.
const QUOTED_OP_CHARS: usize = 32;

/// `op` quoted for an error message: the sender chose it, so at most [`QUOTED_OP_CHARS`]
/// characters of it, everything but printable ASCII escaped (no control characters or
/// look-alikes reach a terminal or log), and `…` after the quote when it was cut.
fn quote_op(op: &str) -> String {
    let mut quoted = String::from("\"");
    let mut chars = op.chars();
    for c in chars.by_ref().take(QUOTED_OP_CHARS) {
        quoted.extend(c.escape_default());
    }
    quoted.push('"');
    if chars.next().is_some() {
        quoted.push('…');
    }
    quoted
}

fn bad_request(id: Option<u64>, message: String) -> RequestError {
    RequestError {
        id,
        error: ErrorReply::new(ErrorKind::BadRequest, message),
    }
}

/// Describes a JSON error without quoting any value from the input (which may be a secret):
/// serde's "invalid type: string \"…\"" messages echo the value, so only "missing field" ones,
/// which name a field of ours, are passed on verbatim.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") {
        return text;
    }
    let what = match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON",
        _ => "a field has the wrong type or value",
    };
    format!("{what} at column {}", error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(frame: &str) -> RequestError {
        parse_request(frame.as_bytes()).unwrap_err()
    }

    #[test]
    fn request_serializes_flat_with_op_tag() {
        let req = Request::new(7, Operation::get(Lookup::url("https://h/")));
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"v":1,"id":7,"op":"get","url":"https://h/"}"#
        );
    }

    #[test]
    fn a_lookup_by_user_and_a_set_keep_their_fields_and_order() {
        let lookup = Lookup {
            exact: true,
            ..Lookup::url("h:8080").username(Some("ci".into()))
        };
        let get = Request::new(8, Operation::get(lookup));
        assert_eq!(
            serde_json::to_string(&get).unwrap(),
            r#"{"v":1,"id":8,"op":"get","url":"h:8080","username":"ci","exact":true}"#
        );
        let frame = br#"{"v":1,"id":9,"op":"delete","name":"n","username":"u"}"#;
        let Operation::Delete { lookup } = parse_request(frame).unwrap().op else {
            panic!("not a delete");
        };
        assert_eq!(lookup, Lookup::name("n").username(Some("u".into())));
        let set = parse_request(br#"{"v":1,"id":10,"op":"set","url":"my-app","secret":""}"#)
            .unwrap()
            .op;
        let Operation::Set {
            url,
            username,
            secret,
            note,
            expires,
        } = set
        else {
            panic!("not a set");
        };
        assert_eq!(
            (url.as_str(), username, note, expires),
            ("my-app", None, None, None)
        );
        assert!(secret.is_empty());
        let set = Request::new(
            11,
            Operation::Set {
                url: "https://h/".into(),
                username: None,
                secret: Secret::new("s"),
                note: None,
                expires: Some(1_900_000_000),
            },
        );
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"{"v":1,"id":11,"op":"set","url":"https://h/","secret":"s","expires":1900000000}"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let req = parse_request(br#"{"v":1,"id":3,"op":"lock","future":[1,2]}"#).unwrap();
        assert!(matches!(req.op, Operation::Lock));
    }

    #[test]
    fn keychain_operations_and_a_keyring_init_parse() {
        for (frame, expected) in [
            (r#"{"v":1,"id":1,"op":"unlock-keychain"}"#, "UnlockKeychain"),
            (
                r#"{"v":1,"id":2,"op":"remember","passphrase":"p"}"#,
                "Remember { passphrase: REDACTED }",
            ),
            (r#"{"v":1,"id":3,"op":"forget"}"#, "Forget"),
        ] {
            let op = parse_request(frame.as_bytes()).unwrap().op;
            assert_eq!(format!("{op:?}"), expected);
        }
        let init = parse_request(br#"{"v":1,"id":4,"op":"init","store":"keyring"}"#).unwrap();
        assert!(matches!(
            init.op,
            Operation::Init {
                passphrase: None,
                kdf: None,
                store: Some(StoreKind::Keyring)
            }
        ));
        let init = parse_request(br#"{"v":1,"id":5,"op":"init","store":"cloud"}"#).unwrap();
        assert!(matches!(
            init.op,
            Operation::Init {
                store: Some(StoreKind::Unknown),
                ..
            }
        ));
    }

    #[test]
    fn unknown_operation_is_an_error_with_the_id() {
        let err = parse_err(r#"{"v":1,"id":9,"op":"fly"}"#);
        assert_eq!(err.id, Some(9));
        assert_eq!(err.error.kind, ErrorKind::UnsupportedOperation);
    }

    #[test]
    fn unknown_operation_quotes_only_a_short_escaped_prefix() {
        let long = format!("x\\u001b[31m\\u202e{}", "A".repeat(60_000));
        let frame = format!(r#"{{"v":1,"id":9,"op":"{long}"}}"#);
        let err = parse_err(&frame);
        assert_eq!(err.error.kind, ErrorKind::UnsupportedOperation);
        let message = err.error.message;
        assert!(message.len() < 200, "{} bytes: {message}", message.len());
        assert!(
            message.starts_with(r#"unknown operation "x\u{1b}[31m\u{202e}AAAA"#),
            "{message}"
        );
        assert!(message.contains("A\"…: see"), "{message}");
        assert!(
            !message
                .chars()
                .any(|c| c.is_control() || !c.is_ascii() && c != '…')
        );
        let err = parse_err(r#"{"v":1,"id":9,"op":"fly"}"#);
        assert_eq!(
            err.error.message,
            "unknown operation \"fly\": see `credd --help` or upgrade the agent"
        );
    }

    #[test]
    fn unsupported_version_except_for_hello() {
        let err = parse_err(r#"{"v":2,"id":1,"op":"status"}"#);
        assert_eq!(err.error.kind, ErrorKind::UnsupportedVersion);
        assert!(parse_request(br#"{"v":2,"id":1,"op":"hello"}"#).is_ok());
    }

    #[test]
    fn broken_frames_are_bad_requests() {
        assert_eq!(
            parse_request(b"\xff\xfe").unwrap_err().error.kind,
            ErrorKind::BadRequest
        );
        assert_eq!(parse_err("{not json").error.kind, ErrorKind::BadRequest);
        assert_eq!(
            parse_err(r#"{"op":"status"}"#).error.kind,
            ErrorKind::BadRequest
        );
        let err = parse_err(r#"{"v":1,"id":4,"op":"get","name":5}"#);
        assert_eq!((err.id, err.error.kind), (Some(4), ErrorKind::BadRequest));
    }

    #[test]
    fn error_messages_never_quote_the_request() {
        let err = parse_err(r#"{"v":1,"id":4,"op":"unlock","passphrase":{"x":"hunter2"}}"#);
        assert!(
            !err.error.message.contains("hunter2"),
            "{}",
            err.error.message
        );
        let err = parse_err(
            r#"{"v":1,"id":4,"op":"put","entry":{"name":"n","url":"u","secret":"s","expires":"hunter2"}}"#,
        );
        assert!(
            !err.error.message.contains("hunter2"),
            "{}",
            err.error.message
        );
    }

    #[test]
    fn unknown_error_kinds_and_states_fall_back() {
        let reply: Reply<Done> =
            serde_json::from_str(r#"{"id":1,"error":{"kind":"brand-new","message":"m"}}"#).unwrap();
        assert_eq!(reply.outcome.unwrap_err().kind, ErrorKind::Unknown);
        let state: LockState = serde_json::from_str(r#""sleeping""#).unwrap();
        assert_eq!(state, LockState::Unknown);
    }

    fn info(name: &str) -> EntryInfo {
        EntryInfo {
            name: name.into(),
            url: format!("https://{name}.example/simple/"),
            username: None,
            expires: None,
            note: None,
            publish: false,
            source: None,
            minted: None,
            token_expires: None,
            source_error: None,
        }
    }

    /// What an agent sends for a page: the reply line, with the longest possible id.
    fn reply_line(page: &ListResult) -> String {
        let reply = Reply {
            id: Some(u64::MAX),
            outcome: Ok::<_, ErrorReply>(page.clone()),
        };
        serde_json::to_string(&reply).unwrap()
    }

    #[test]
    fn list_requests_with_and_without_paging_fields() {
        let plain = parse_request(br#"{"v":1,"id":1,"op":"list"}"#).unwrap();
        assert!(matches!(
            plain.op,
            Operation::List {
                after: None,
                limit: None
            }
        ));
        let paged = Request::new(
            2,
            Operation::List {
                after: Some("b\"c".into()),
                limit: Some(10),
            },
        );
        let line = serde_json::to_string(&paged).unwrap();
        assert_eq!(
            line,
            r#"{"v":1,"id":2,"op":"list","after":"b\"c","limit":10}"#
        );
        assert!(matches!(
            parse_request(line.as_bytes()).unwrap().op,
            Operation::List { after: Some(a), limit: Some(10) } if a == "b\"c"
        ));
        let err = parse_err(r#"{"v":1,"id":3,"op":"list","limit":-1}"#);
        assert_eq!((err.id, err.error.kind), (Some(3), ErrorKind::BadRequest));
    }

    #[test]
    fn a_last_page_encodes_as_before_and_an_old_reply_reads_as_one() {
        let page = ListResult::page([info("a")], None);
        assert_eq!(page.next, None);
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"entries":[{"name":"a","url":"https://a.example/simple/"}]}"#
        );
        let old: ListResult = serde_json::from_str(r#"{"entries":[]}"#).unwrap();
        assert_eq!(old.next, None);
    }

    #[test]
    fn pages_fill_a_frame_and_together_hold_every_entry_once() {
        let all: Vec<EntryInfo> = (0..3000).map(|i| info(&format!("reg-{i:05}"))).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let rest = all
                .iter()
                .filter(|e| after.as_ref().is_none_or(|a| e.name > *a));
            let page = ListResult::page(rest.cloned(), None);
            let line = reply_line(&page);
            assert!(line.len() <= MAX_FRAME_LEN, "{} bytes", line.len());
            pages += 1;
            seen.extend(page.entries.iter().cloned());
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), page.entries.last().map(|e| &e.name));
                    // Full: the next entry would not have fit.
                    assert!(line.len() > LIST_PAGE_BUDGET - 100, "{}", line.len());
                    after = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert!(
            pages >= 3,
            "{pages} pages: the entries must need several frames"
        );
    }

    #[test]
    fn a_page_respects_the_limit_and_holds_at_least_one_entry() {
        let three = || ["a", "b", "c"].map(info);
        let page = ListResult::page(three(), Some(2));
        let names: Vec<&str> = page.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!((names, page.next.as_deref()), (vec!["a", "b"], Some("b")));
        assert_eq!(ListResult::page(three(), Some(3)).next, None);
        let page = ListResult::page(three(), Some(0));
        assert_eq!((page.entries.len(), page.next.as_deref()), (1, Some("a")));
        let empty = ListResult::page([], Some(5));
        assert_eq!((empty.entries.len(), empty.next), (0, None));
    }

    fn names(page: &ListResult) -> Vec<&str> {
        page.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn the_cursor_counts_toward_the_frame() {
        // `b` fits after `a`, but not with its long name repeated as the cursor.
        let long = format!("b{}", "x".repeat(MAX_FRAME_LEN / 3));
        let a = EntryInfo {
            note: Some("n".repeat(MAX_FRAME_LEN / 2)),
            ..info("a")
        };
        let b = EntryInfo {
            url: "https://b.example/".into(),
            ..info(&long)
        };
        assert!(a.fits_a_page() && b.fits_a_page());
        let page = ListResult::page([a.clone(), b.clone(), info("c")], None);
        assert_eq!((names(&page), page.next.as_deref()), (vec!["a"], Some("a")));
        // As the last entry it needs no cursor, and shares the page.
        let page = ListResult::page([a, b.clone()], None);
        assert_eq!(
            (names(&page), page.next.as_deref()),
            (vec!["a", &long], None)
        );
        assert!(reply_line(&page).len() <= MAX_FRAME_LEN);
    }

    #[test]
    fn every_entry_the_field_limits_allow_fits_a_page_of_its_own() {
        // Control characters: the longest JSON escapes (six bytes each) at every field's limit.
        let worst = |n: usize| "\u{1}".repeat(n);
        let largest = EntryInfo {
            name: worst(MAX_NAME_LEN),
            url: worst(MAX_URL_LEN),
            username: Some(worst(MAX_USERNAME_LEN)),
            expires: Some(u64::MAX),
            note: Some(worst(MAX_NOTE_LEN)),
            publish: false,
            // A source at its limit: its JSON length is what the limit counts.
            source: Some(Source::Command {
                argv: vec!["x".repeat(MAX_SOURCE_LEN - 64)],
                env: Default::default(),
                timeout: Some(u32::MAX),
            }),
            minted: Some(u64::MAX),
            token_expires: Some(u64::MAX),
            source_error: Some(worst(MAX_SOURCE_ERROR_LEN)),
        };
        assert!(json_len(largest.source.as_ref().unwrap()) <= MAX_SOURCE_LEN);
        assert!(largest.fits_a_page());
    }

    #[test]
    fn an_entry_too_large_for_a_page_of_its_own_is_recognized() {
        let huge_name = info(&"x".repeat(MAX_FRAME_LEN / 2));
        let huge_note = EntryInfo {
            note: Some("\u{1}".repeat(MAX_FRAME_LEN / 6)),
            ..info("a")
        };
        assert!(!huge_name.fits_a_page() && !huge_note.fits_a_page());
        let fits = EntryInfo {
            note: Some("n".repeat(MAX_FRAME_LEN - 200)),
            ..info("a")
        };
        assert!(fits.fits_a_page());
        let page = ListResult::page([fits, info("b")], None);
        assert!(reply_line(&page).len() <= MAX_FRAME_LEN);
    }

    #[test]
    fn entry_lengths_are_checked_field_by_field() {
        let entry = |name: usize, url: usize, user: usize, note: usize, secret: usize| Entry {
            name: "n".repeat(name),
            url: format!("https://h/{}", "u".repeat(url - 10)),
            username: Some("u".repeat(user)),
            secret: Secret::new(&"s".repeat(secret)),
            expires: None,
            note: Some("é".repeat(note / 2)),
            publish: false,
            source: None,
        };
        let at_limits = entry(
            MAX_NAME_LEN,
            MAX_URL_LEN,
            MAX_USERNAME_LEN,
            MAX_NOTE_LEN,
            MAX_SECRET_LEN,
        );
        assert_eq!(at_limits.check_lengths(), Ok(()));
        // One entry at every limit, quoted as JSON, fits in a frame with room to spare.
        let frame = serde_json::to_vec(&at_limits).unwrap();
        assert!(frame.len() < crate::MAX_FRAME_LEN / 2, "{}", frame.len());
        for (over, field) in [
            (entry(MAX_NAME_LEN + 1, 20, 1, 2, 1), "name"),
            (entry(1, MAX_URL_LEN + 1, 1, 2, 1), "URL"),
            (entry(1, 20, MAX_USERNAME_LEN + 1, 2, 1), "username"),
            (entry(1, 20, 1, MAX_NOTE_LEN + 2, 1), "note"),
            (entry(1, 20, 1, 2, MAX_SECRET_LEN + 1), "secret"),
        ] {
            let message = over.check_lengths().unwrap_err();
            assert!(
                message.contains(&format!("entry's {field} is")),
                "{message}"
            );
            assert!(
                !message.contains("sss") && !message.contains("nnn"),
                "{message}"
            );
        }
    }

    #[test]
    fn reply_without_ok_or_error_is_rejected() {
        assert!(serde_json::from_str::<Reply<Done>>(r#"{"id":1}"#).is_err());
    }
}
