//! The vault's bytes: the header's layout, reading it, and the plaintext's shape
//! (`docs/vault-format.md` describes them byte by byte).

use std::io;

use credd_protocol::{Entry, KdfParams};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::kdf::check_kdf;

/// The first eight bytes of every vault.
pub(super) const MAGIC: &[u8; 8] = b"CREDDVLT";
/// The format version written: version 1 plus a digest of the header.
pub(super) const FORMAT_VERSION: u8 = 2;
/// Version 2's layout, written when an entry has a `source`: a reader that knows only version 2
/// would ignore the source and hand out the long-lived material as a password, so it must
/// refuse the file instead.
pub(super) const FORMAT_VERSION_SOURCES: u8 = 3;
/// The first version, without the header digest: still read, never written.
pub(super) const FORMAT_VERSION_1: u8 = 1;
/// Key-derivation id 1: Argon2id, version 0x13.
pub(super) const KDF_ARGON2ID: u8 = 1;

pub(super) const SALT_LEN: usize = 16;
pub(super) const NONCE_LEN: usize = 24;
pub(super) const TAG_LEN: usize = 16;
/// Length of the vault key in bytes.
pub const KEY_LEN: usize = 32;

pub(super) const KDF_AT: usize = 10;
pub(super) const SALT_AT: usize = 22;
pub(super) const CHECK_NONCE_AT: usize = SALT_AT + SALT_LEN; // 38: also the length of the key check's AAD
pub(super) const CHECK_TAG_AT: usize = CHECK_NONCE_AT + NONCE_LEN; // 62
pub(super) const BODY_NONCE_AT: usize = CHECK_TAG_AT + TAG_LEN; // 78
/// Where version 2's header digest starts: the length of the bytes it covers, and of the whole
/// header in version 1.
pub(super) const DIGEST_AT: usize = BODY_NONCE_AT + NONCE_LEN; // 102
pub(super) const DIGEST_LEN: usize = 32;
/// Length of the version-2 header, which is the body's associated data.
pub(super) const HEADER_LEN: usize = DIGEST_AT + DIGEST_LEN; // 134

/// The plaintext: `{"entries":[…]}`.
#[derive(Serialize)]
pub(super) struct Plaintext<'a> {
    pub(super) entries: &'a [Entry],
}

/// The plaintext as read; unknown fields are ignored.
#[derive(Deserialize)]
pub(super) struct PlaintextIn {
    pub(super) entries: Vec<Entry>,
}

/// The values read from a vault's header.
pub(super) struct Header {
    /// The header's length: [`HEADER_LEN`], or [`DIGEST_AT`] in version 1.
    pub(super) len: usize,
    pub(super) kdf: KdfParams,
    pub(super) salt: [u8; SALT_LEN],
    pub(super) check_nonce: [u8; NONCE_LEN],
    pub(super) check_tag: [u8; TAG_LEN],
    pub(super) body_nonce: [u8; NONCE_LEN],
}

impl Header {
    /// Reads and checks the header of `data`, the whole file; the error is the reason it is
    /// damaged.
    pub(super) fn parse(data: &[u8]) -> Result<Self, String> {
        if data.len() < MAGIC.len() + 1 {
            return Err(format!(
                "it is {} bytes long, too short for a vault",
                data.len()
            ));
        }
        if !data.starts_with(MAGIC) {
            return Err("it is not a credd vault".into());
        }
        let len = match data[8] {
            FORMAT_VERSION | FORMAT_VERSION_SOURCES => HEADER_LEN,
            FORMAT_VERSION_1 => DIGEST_AT,
            other => {
                return Err(format!(
                    "format version {other} is not supported by this credd, which reads \
                     versions {FORMAT_VERSION_1} to {FORMAT_VERSION_SOURCES}: upgrade credd"
                ));
            }
        };
        if data.len() < len + TAG_LEN {
            return Err(format!(
                "it is {} bytes long, shorter than the {} of an empty vault",
                data.len(),
                len + TAG_LEN
            ));
        }
        // Checked before anything else in the header is believed: damage anywhere in it would
        // otherwise make the key check fail, which reads as a wrong passphrase.
        if len == HEADER_LEN && Sha256::digest(&data[..DIGEST_AT])[..] != data[DIGEST_AT..len] {
            return Err("its header does not match its SHA-256 digest".into());
        }
        if data[9] != KDF_ARGON2ID {
            return Err(format!("unknown key-derivation id {}", data[9]));
        }
        let u32_at = |at: usize| u32::from_le_bytes(array(&data[at..at + 4]));
        let kdf = KdfParams {
            memory_kib: u32_at(KDF_AT),
            passes: u32_at(KDF_AT + 4),
            lanes: u32_at(KDF_AT + 8),
        };
        check_kdf(kdf).map_err(|problem| {
            format!("its key-derivation parameters are out of bounds: {problem}")
        })?;
        Ok(Self {
            len,
            kdf,
            salt: array(&data[SALT_AT..CHECK_NONCE_AT]),
            check_nonce: array(&data[CHECK_NONCE_AT..CHECK_TAG_AT]),
            check_tag: array(&data[CHECK_TAG_AT..BODY_NONCE_AT]),
            body_nonce: array(&data[BODY_NONCE_AT..DIGEST_AT]),
        })
    }
}

/// Copies a slice of known length into an array.
pub(super) fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes
        .try_into()
        .expect("slice length matches the header layout")
}

/// An `io::Write` that only counts bytes.
pub(super) struct ByteCounter(pub(super) usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
