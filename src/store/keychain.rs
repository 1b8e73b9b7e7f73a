//! The OS keychains of Linux: the Secret Service (GNOME Keyring, KWallet) over D-Bus, through
//! `keyring-core` and its D-Bus store, and the kernel's keyutils session keyring ([`kernel`]).
//! The other values of [`KeychainKind`] are the protocol's; credd opens none of them.
//!
//! Every function here blocks, for as long as the keychain takes (a D-Bus round trip, or a prompt
//! the OS shows): callers run them on a blocking thread under [`TIMEOUT`]. Each [`Keychain`] is
//! its own connection, so a call that hangs holds nothing another call needs.
//!
//! Secrets come back in wiping buffers. Errors never carry a secret: `keyring-core` errors that
//! can hold item bytes (`BadEncoding`, `BadDataFormat`) are replaced by a fixed text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use credd_protocol::{KeychainKind, KeychainState, KeychainStatus};
use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

mod kernel;

/// How long one keychain operation may take before credd gives up on it: shorter than a client's
/// request timeout, so that the client gets this clear error rather than its own.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The service name of every item credd keeps in a keychain.
pub const SERVICE: &str = "credd";

/// The keychain that keeps secrets across reboots: the keyring store's.
pub const PERSISTENT: KeychainKind = KeychainKind::SecretService;

/// The keychains that can remember the vault key, best first: the kernel keyring only where the
/// persistent one is absent, since a reboot empties it.
pub const FOR_REMEMBER: &[KeychainKind] = &[PERSISTENT, KeychainKind::KernelKeyutils];

/// What people call `kind`, with its article, for messages.
pub fn name(kind: KeychainKind) -> &'static str {
    match kind {
        KeychainKind::SecretService => "the Secret Service",
        KeychainKind::KernelKeyutils => "the kernel keyring",
        _ => "the OS keychain",
    }
}

/// A keychain that is absent, locked, silent or failing. The message names what is missing and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KeychainError {
    /// The keychain.
    pub keychain: KeychainKind,
    /// How it failed.
    pub state: KeychainState,
    /// What is wrong and what to do.
    pub message: String,
}

impl KeychainError {
    /// The keychain did not answer within [`TIMEOUT`].
    pub fn not_answering(keychain: KeychainKind) -> Self {
        Self {
            keychain,
            state: KeychainState::NotAnswering,
            message: format!(
                "{} did not answer within {} s: if it shows an unlock prompt, answer it and try \
                 again; otherwise check that it runs, or use the vault store",
                name(keychain),
                TIMEOUT.as_secs()
            ),
        }
    }

    fn failed(keychain: KeychainKind, detail: &str) -> Self {
        Self {
            keychain,
            state: KeychainState::Failed,
            message: format!("{} failed: {detail}", name(keychain)),
        }
    }

    fn absent(keychain: KeychainKind, detail: &str) -> Self {
        let message = match keychain {
            KeychainKind::SecretService => format!("no Secret Service: {}", why_no_service(detail)),
            _ => format!("{} cannot be used here: {detail}", name(keychain)),
        };
        Self {
            keychain,
            state: KeychainState::Absent,
            message,
        }
    }

    fn locked(keychain: KeychainKind, detail: &str) -> Self {
        let message = match keychain {
            KeychainKind::SecretService => "the Secret Service is locked (or has no default \
                keyring): unlock it, by logging in to the desktop or with 'gnome-keyring-daemon \
                --unlock', and try again"
                .to_owned(),
            _ => format!(
                "{} refused access ({detail}): unlock it and try again",
                name(keychain)
            ),
        };
        Self {
            keychain,
            state: KeychainState::Locked,
            message,
        }
    }

    /// This error as the status the agent reports, keeping what it knows of the session keyring.
    pub fn to_status(&self, session_keyring: bool) -> KeychainStatus {
        KeychainStatus {
            keychain: self.keychain,
            state: self.state,
            message: Some(self.message.clone()),
            session_keyring,
        }
    }
}

/// Names what is missing from a failed connection to the Secret Service, and what to do.
fn why_no_service(detail: &str) -> String {
    // What fits every store; what fits the store in use is the caller's to add.
    const ADVICE: &str = "start GNOME Keyring or KWallet in your session";
    let no_owner = [
        "ServiceUnknown",
        "NameHasNoOwner",
        "not provided by any .service files",
    ];
    if no_owner.iter().any(|mark| detail.contains(mark)) {
        format!("nothing provides org.freedesktop.secrets on the D-Bus session bus; {ADVICE}")
    } else {
        format!("there is no D-Bus session bus to reach it on ({detail}); {ADVICE}")
    }
}

/// One open keychain, for the items of one operation.
pub struct Keychain {
    kind: KeychainKind,
    backend: Backend,
}

/// What a [`Keychain`] talks to.
enum Backend {
    /// A store crate's connection.
    Store(Arc<CredentialStore>),
    /// The kernel keyring, on the process's fixed keyrings ([`kernel`]).
    Kernel,
}

impl Keychain {
    /// Connects to `kind`. Errors here mean the keychain is absent (or not answering).
    pub fn open(kind: KeychainKind) -> Result<Self, KeychainError> {
        if kind == KeychainKind::KernelKeyutils {
            // The kernel store reaches the session keyring here.
            kernel::probe().map_err(|error| KeychainError::absent(kind, &error.to_string()))?;
            return Ok(Self {
                kind,
                backend: Backend::Kernel,
            });
        }
        let store = connect(kind).map_err(|error| match error {
            keyring_core::Error::PlatformFailure(inner) => {
                KeychainError::absent(kind, &inner.to_string())
            }
            other => classify(kind, other),
        })?;
        Ok(Self {
            kind,
            backend: Backend::Store(store),
        })
    }

    /// Which keychain this is.
    pub fn kind(&self) -> KeychainKind {
        self.kind
    }

    /// The secret of item `account`, or `None` when there is no such item.
    pub fn get(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeychainError> {
        let store = match &self.backend {
            Backend::Store(store) => store,
            Backend::Kernel => return kernel::get(account).map_err(classify_kernel),
        };
        match self.entry(store, account, None)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(error) => Err(classify(self.kind, error)),
        }
    }

    /// Creates or replaces item `account`; `label` is what keychain managers show.
    pub fn set(&self, account: &str, label: &str, secret: &[u8]) -> Result<(), KeychainError> {
        let store = match &self.backend {
            Backend::Store(store) => store,
            Backend::Kernel => return kernel::set(account, secret).map_err(classify_kernel),
        };
        self.entry(store, account, Some(label))?
            .set_secret(secret)
            .map_err(|error| classify(self.kind, error))
    }

    /// Deletes item `account` (in the kernel keyring: every copy); false when there was none.
    pub fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        let store = match &self.backend {
            Backend::Store(store) => store,
            Backend::Kernel => return kernel::delete(account).map_err(classify_kernel),
        };
        match self.entry(store, account, None)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(error) => Err(classify(self.kind, error)),
        }
    }

    fn entry(
        &self,
        store: &Arc<CredentialStore>,
        account: &str,
        label: Option<&str>,
    ) -> Result<Entry, KeychainError> {
        // Only the Secret Service store takes a label; the others refuse unknown modifiers.
        let modifiers: HashMap<&str, &str> = match (self.kind, label) {
            (KeychainKind::SecretService, Some(label)) => HashMap::from([("label", label)]),
            _ => HashMap::new(),
        };
        store
            .build(SERVICE, account, Some(&modifiers))
            .map_err(|error| match error {
                keyring_core::Error::NoStorageAccess(inner) => {
                    KeychainError::absent(self.kind, &inner.to_string())
                }
                other => classify(self.kind, other),
            })
    }
}

/// The store crate for `kind`, connected.
fn connect(kind: KeychainKind) -> keyring_core::Result<Arc<CredentialStore>> {
    match kind {
        KeychainKind::SecretService => Ok(zbus_secret_service_keyring_store::Store::new()?),
        _ => Err(keyring_core::Error::NotSupportedByStore(
            "credd uses the Secret Service and the kernel keyring only".to_owned(),
        )),
    }
}

/// Turns a kernel keyring error into ours.
fn classify_kernel(error: linux_keyutils::KeyError) -> KeychainError {
    use linux_keyutils::KeyError as E;
    let kind = KeychainKind::KernelKeyutils;
    match error {
        E::AccessDenied | E::PermissionDenied => KeychainError::locked(kind, &error.to_string()),
        E::OperationNotSupported => KeychainError::absent(kind, &error.to_string()),
        other => KeychainError::failed(kind, &other.to_string()),
    }
}

/// Turns a `keyring-core` error into ours, never quoting item bytes.
fn classify(kind: KeychainKind, error: keyring_core::Error) -> KeychainError {
    use keyring_core::Error as E;
    match error {
        E::NoStorageAccess(inner) => KeychainError::locked(kind, &inner.to_string()),
        E::PlatformFailure(inner) => KeychainError::failed(kind, &inner.to_string()),
        E::BadEncoding(_) | E::BadDataFormat(..) => {
            KeychainError::failed(kind, "an item is not in the format credd writes")
        }
        E::Ambiguous(_) => KeychainError::failed(
            kind,
            "it holds several items for one credd entry: delete the duplicates with your \
             keychain manager",
        ),
        E::NotSupportedByStore(detail) => KeychainError::absent(kind, &detail),
        other => KeychainError::failed(kind, &other.to_string()),
    }
}

/// Whether the persistent keychain answers, without touching any item (and so without a
/// prompt). Blocks; run it under [`TIMEOUT`].
pub fn probe_persistent() -> Result<(), KeychainError> {
    Keychain::open(PERSISTENT).map(drop)
}

/// Whether the kernel session keyring can hold the remembered vault key: building an item
/// reaches the session keyring, without reading or writing one. Never blocks for long: these are
/// system calls.
pub fn probe_session_keyring() -> Result<(), KeychainError> {
    Keychain::open(KeychainKind::KernelKeyutils).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bus_and_a_missing_service_are_told_apart() {
        let no_bus = KeychainError::absent(
            KeychainKind::SecretService,
            "Failed to connect to address `unix:path=/run/user/0/bus`: No such file",
        );
        assert_eq!(no_bus.state, KeychainState::Absent);
        assert!(no_bus.message.contains("no D-Bus session bus"), "{no_bus}");
        assert!(no_bus.message.contains("/run/user/0/bus"), "{no_bus}");
        assert!(no_bus.message.contains("start GNOME Keyring"), "{no_bus}");
        assert!(
            !no_bus.message.contains("init"),
            "advice for one store only: {no_bus}"
        );
        let no_service = KeychainError::absent(
            KeychainKind::SecretService,
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was \
             not provided by any .service files",
        );
        assert!(
            no_service
                .message
                .contains("nothing provides org.freedesktop.secrets"),
            "{no_service}"
        );
    }

    #[test]
    fn keychains_of_other_systems_are_refused_unopened() {
        for kind in [
            KeychainKind::MacosKeychain,
            KeychainKind::WindowsCredentialManager,
        ] {
            let Err(error) = Keychain::open(kind) else {
                panic!("{kind:?} opened");
            };
            assert_eq!(error.state, KeychainState::Absent);
            assert_eq!(
                error.message,
                "the OS keychain cannot be used here: credd uses the Secret Service and the \
                 kernel keyring only"
            );
        }
    }

    #[test]
    fn errors_that_hold_item_bytes_never_show_them() {
        let error = classify(
            KeychainKind::SecretService,
            keyring_core::Error::BadEncoding(b"hunter2".to_vec()),
        );
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }

    #[test]
    fn timeouts_name_the_keychain_and_the_way_out() {
        let error = KeychainError::not_answering(KeychainKind::SecretService);
        assert!(
            error
                .message
                .starts_with("the Secret Service did not answer within 3 s"),
            "{error}"
        );
        assert_eq!(error.to_status(true).state, KeychainState::NotAnswering);
    }
}
