//! The kernel keyutils keychain, on keyrings fixed once per process.
//!
//! The kernel keeps a session keyring per thread. A thread with none (a login without PAM's
//! keyinit) falls back to the user-session keyring, but one that asks to link into "its session
//! keyring" gets a new anonymous keyring of its own. The agent's keychain calls run on whichever
//! blocking thread is free, so a key written on one thread was out of reach of a `forget` on the
//! next. Here every call names its keyrings by serial number, resolved on the first call, and
//! never asks the kernel for "the session keyring" again.
//!
//! An item is a `user` key described `keyring:<account>@credd` (the naming of the keyutils store
//! credd used before, so that keys it wrote are still found), added to the session keyring and
//! linked into the user's persistent keyring, through which a later login session finds it.

use std::sync::OnceLock;

use linux_keyutils::{Key, KeyError, KeyRing, KeyRingIdentifier};
use zeroize::Zeroizing;

use super::SERVICE;

/// How many copies of one item `delete` removes from one keyring at most: a bound, so that a key
/// the kernel keeps finding cannot loop it forever.
const MAX_COPIES: usize = 16;

/// The keyrings of every kernel keyring call of this process.
#[derive(Debug, Clone, Copy)]
struct Keyrings {
    /// The session keyring the agent started in, or the user-session keyring when it has none.
    session: KeyRing,
    /// How to name `session` when asking for the persistent keyring to be linked into it: never
    /// `Session` when that is the user-session keyring, which would make a new one per thread.
    session_id: KeyRingIdentifier,
}

static KEYRINGS: OnceLock<Keyrings> = OnceLock::new();

/// The process's keyrings, resolved on the first call. Asking without `create` never makes a
/// keyring: a thread without a session keyring gets the user-session keyring.
fn keyrings() -> Result<Keyrings, KeyError> {
    if let Some(keyrings) = KEYRINGS.get() {
        return Ok(*keyrings);
    }
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)?;
    let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false)?;
    let session_id = if session == user_session {
        KeyRingIdentifier::UserSession
    } else {
        KeyRingIdentifier::Session
    };
    Ok(*KEYRINGS.get_or_init(|| Keyrings {
        session,
        session_id,
    }))
}

/// Whether the kernel keyring can be used here: resolves the session keyring.
pub fn probe() -> Result<(), KeyError> {
    keyrings().map(drop)
}

/// The user's persistent keyring, linked into the session keyring (which also restarts its
/// expiry); `None` where the kernel has none.
fn persistent(keyrings: Keyrings) -> Option<KeyRing> {
    KeyRing::get_persistent(keyrings.session_id).ok()
}

fn description(account: &str) -> String {
    format!("keyring:{account}@{SERVICE}")
}

/// Whether `error` means that there is no such key.
pub fn is_missing(error: &KeyError) -> bool {
    matches!(
        error,
        KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired
    )
}

/// The secret of item `account`, found in the session keyring or the persistent one, and linked
/// into both (so that it outlives either); `None` when there is none.
pub fn get(account: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let keyrings = keyrings()?;
    let persistent = persistent(keyrings);
    let key = match keyrings.session.search(&description(account)) {
        Ok(key) => key,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    keyrings.session.link_key(key)?;
    if let Some(persistent) = persistent {
        persistent.link_key(key)?;
    }
    Ok(Some(Zeroizing::new(key.read_to_vec()?)))
}

/// Creates or replaces item `account`, in the session keyring and the persistent one. When a step
/// fails, the key is invalidated: a failed call leaves no copy anywhere.
pub fn set(account: &str, secret: &[u8]) -> Result<(), KeyError> {
    let keyrings = keyrings()?;
    let persistent = persistent(keyrings);
    let key = keyrings.session.add_key(&description(account), secret)?;
    let linked = persistent.map_or(Ok(()), |persistent| persistent.link_key(key));
    if let Err(error) = linked {
        undo(key);
        return Err(error);
    }
    Ok(())
}

/// Invalidates `key`, which removes it from every keyring at once.
fn undo(key: Key) {
    if let Err(error) = key.invalidate() {
        tracing::warn!(%error, "cannot remove a kernel key that was not stored whole");
    }
}

/// Invalidates every copy of item `account` that this process can reach: in the session keyring
/// (and what is linked into it), the persistent, the user and the user-session keyrings, where
/// earlier versions of credd may have left one. False when there was none.
pub fn delete(account: &str) -> Result<bool, KeyError> {
    let keyrings = keyrings()?;
    let description = description(account);
    // Asked for first, so that it is linked into the session keyring the search goes through.
    let persistent = persistent(keyrings);
    let mut removed = remove_copies(keyrings.session, &description)?;
    let others = [
        persistent,
        KeyRing::from_special_id(KeyRingIdentifier::User, false).ok(),
        KeyRing::from_special_id(KeyRingIdentifier::UserSession, false).ok(),
    ];
    for keyring in others.into_iter().flatten() {
        // Only the session keyring must be searchable; another may deny it or be gone.
        removed |= remove_copies(keyring, &description).unwrap_or(false);
    }
    Ok(removed)
}

/// Invalidates the keys described `description` in `keyring` (and the keyrings linked into it).
fn remove_copies(keyring: KeyRing, description: &str) -> Result<bool, KeyError> {
    let mut removed = false;
    for _ in 0..MAX_COPIES {
        match keyring.search(description) {
            Ok(key) => {
                key.invalidate()?;
                removed = true;
            }
            Err(error) if is_missing(&error) => break,
            Err(error) => return Err(error),
        }
    }
    Ok(removed)
}
