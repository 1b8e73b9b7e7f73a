//! The vault: every entry, encrypted under a key derived from the passphrase.
//!
//! The file is a fixed-size header followed by one XChaCha20-Poly1305 ciphertext of the entries'
//! JSON; `docs/vault-format.md` describes it byte by byte. The header carries a SHA-256 digest of
//! itself, checked first, so that any damage to it is reported as damage, and a key check (a tag
//! over nothing), so that a wrong passphrase is told apart from a damaged body. Version 1 files
//! (without the digest) are still read; every write is version 2. A file that fails to decrypt
//! or parse is never written to.
//!
//! Memory: the key, the passphrase bytes and the plaintext only ever live in buffers that are
//! wiped when dropped and sized up front so that they never reallocate (a reallocation frees
//! the old block unwiped). The key derivation's working memory is ours too, and wiped.

use std::fmt;
use std::fs;
use std::io::{self, Read};

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{AeadInOut, Generate, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use credd_protocol::{Entry, KdfParams, Secret};
use sha2::{Digest, Sha256};

mod format;
mod kdf;

pub use format::KEY_LEN;
use format::*;
pub use kdf::DEFAULT_KDF;
use kdf::*;
use zeroize::Zeroizing;

use super::memory;
use super::wipe_stack::with_wiped_stack;
use crate::atomic::{create_atomic, write_atomic};

/// The largest vault: a reader refuses larger files as damaged rather than read them into memory,
/// and a writer refuses to write one, so that whatever is written can be opened again.
const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

/// Why a vault operation failed. Messages say what to do and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// There is no vault file yet.
    #[error("no vault at {}: run 'credd init'", .0.display())]
    Missing(PathBuf),
    /// `create` found something at the vault's path.
    #[error("a vault already exists at {}: it was left untouched", .0.display())]
    Exists(PathBuf),
    /// The passphrase does not open the vault.
    #[error("wrong passphrase")]
    BadPassphrase,
    /// The file is not a vault this version can read, or fails authentication.
    #[error(
        "the vault at {} is damaged ({reason}); it was left untouched: restore it from a backup",
        .path.display()
    )]
    Damaged {
        /// The vault's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A write would make the vault larger than a reader accepts; nothing was written.
    #[error(
        "the vault would be {len} bytes long, more than the {max} a vault may have; nothing was \
         changed: remove entries you no longer use ('credd remove NAME')"
    )]
    TooLarge {
        /// The size the vault would have.
        len: u64,
        /// The largest vault, 64 MiB.
        max: u64,
    },
    /// Key-derivation parameters out of bounds.
    #[error("{0}")]
    BadKdf(String),
    /// An entry of a kind this credd does not know would be lost by the write; nothing was
    /// written.
    #[error("{0}")]
    UnknownKind(String),
    /// A file-system (or other operating-system) failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Where a vault lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFile {
    path: PathBuf,
    /// [`MAX_FILE_LEN`], except in tests that need a small vault to be full.
    max_len: u64,
}

impl VaultFile {
    /// A vault at `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_len: MAX_FILE_LEN,
        }
    }

    /// This vault with a smaller size cap, for reader and writer alike.
    #[cfg(test)]
    fn with_max_len(self, max_len: u64) -> Self {
        Self { max_len, ..self }
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when anything (even a damaged file or a broken link) is at the vault's path.
    pub fn exists(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok()
    }

    /// Writes a new empty vault; refuses when one exists (even a damaged one). Slow (KDF).
    pub fn create(&self, passphrase: &Secret, kdf: KdfParams) -> Result<VaultKey, VaultError> {
        with_wiped_stack(|| self.create_inner(passphrase, kdf))
    }

    fn create_inner(&self, passphrase: &Secret, kdf: KdfParams) -> Result<VaultKey, VaultError> {
        check_kdf(kdf).map_err(|problem| {
            VaultError::BadKdf(format!(
                "invalid key-derivation parameters ({problem}): memory_kib must be \
                 {MEMORY_KIB_MIN}..={MEMORY_KIB_MAX} and at least 8 × lanes, passes \
                 1..={PASSES_MAX}, lanes 1..={LANES_MAX}"
            ))
        })?;
        check_affordable(kdf, memory::available_kib()).map_err(VaultError::BadKdf)?;
        if self.exists() {
            return Err(VaultError::Exists(self.path.clone()));
        }
        ensure_private_dir(&self.path)?;
        let key = VaultKey::derive(self.clone(), passphrase, random()?, kdf)?;
        let bytes = key.seal(&[])?;
        create_atomic(&self.path, &bytes, 0o600).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => VaultError::Exists(self.path.clone()),
            _ => io_error(
                format!("cannot create the vault at {}", self.path.display()),
                e,
            ),
        })?;
        Ok(key)
    }

    /// Decrypts the vault. Slow (KDF): callers run it off async threads.
    pub fn open(&self, passphrase: &Secret) -> Result<(VaultKey, Vec<Entry>), VaultError> {
        with_wiped_stack(|| self.open_inner(passphrase))
    }

    fn open_inner(&self, passphrase: &Secret) -> Result<(VaultKey, Vec<Entry>), VaultError> {
        let data = self.read()?;
        let header = Header::parse(&data).map_err(|reason| self.damaged(reason))?;
        let key = VaultKey::derive(self.clone(), passphrase, header.salt, header.kdf)?;
        self.decrypt(&data, &header, key)
    }

    /// Decrypts the vault with a key kept from an earlier opening (`VaultKey::raw`), without the
    /// passphrase or a key derivation. A key that fails the key check is `BadPassphrase`.
    pub fn open_with_key(&self, raw: &[u8; KEY_LEN]) -> Result<(VaultKey, Vec<Entry>), VaultError> {
        with_wiped_stack(|| {
            let data = self.read()?;
            self.open_data_with_key(&data, raw)
        })
    }

    /// [`Self::open_with_key`] on `data`, the whole file as read.
    fn open_data_with_key(
        &self,
        data: &[u8],
        raw: &[u8; KEY_LEN],
    ) -> Result<(VaultKey, Vec<Entry>), VaultError> {
        let header = Header::parse(data).map_err(|reason| self.damaged(reason))?;
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(raw);
        let key = VaultKey {
            file: self.clone(),
            key,
            kdf: header.kdf,
            salt: header.salt,
        };
        self.decrypt(data, &header, key)
    }

    /// Verifies the key check, then decrypts and parses the body of `data`, the whole file.
    fn decrypt(
        &self,
        data: &[u8],
        header: &Header,
        key: VaultKey,
    ) -> Result<(VaultKey, Vec<Entry>), VaultError> {
        let cipher = key.cipher();
        let check_aad = &data[..CHECK_NONCE_AT];
        let check_nonce = XNonce::from(header.check_nonce);
        let check_tag = Tag::from(header.check_tag);
        cipher
            .decrypt_inout_detached(&check_nonce, check_aad, (&mut [][..]).into(), &check_tag)
            .map_err(|_| VaultError::BadPassphrase)?;

        let body = &data[header.len..];
        let mut plaintext = Zeroizing::new(Vec::with_capacity(body.len()));
        plaintext.extend_from_slice(body);
        let body_nonce = XNonce::from(header.body_nonce);
        cipher
            .decrypt_in_place(&body_nonce, &data[..header.len], &mut *plaintext)
            .map_err(|_| self.damaged("its contents fail authentication".into()))?;
        // Secret's deserializer copies each secret once, straight from `plaintext`. A secret with
        // JSON escapes (quotes, backslashes, control characters) goes through serde_json's own
        // unescaping buffer first, which is not ours to wipe: the binary's wiping allocator
        // (`crate::wipe_alloc`) wipes it when freed.
        let parsed: PlaintextIn = serde_json::from_slice(&plaintext).map_err(|e| {
            self.damaged(format!(
                "its decrypted contents are not a valid entry list: {}",
                super::json_error::describe(&e)
            ))
        })?;
        Ok((key, parsed.entries))
    }

    /// The whole file, or why it cannot be read.
    fn read(&self) -> Result<Vec<u8>, VaultError> {
        let context = || format!("cannot read the vault at {}", self.path.display());
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VaultError::Missing(self.path.clone()));
            }
            Err(e) => return Err(io_error(context(), e)),
        };
        let max = self.max_len;
        let len = file.metadata().map_err(|e| io_error(context(), e))?.len();
        if len > max {
            return Err(self.damaged(format!(
                "it is {len} bytes long, more than the {max} a vault may have"
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(max + 1)
            .read_to_end(&mut data)
            .map_err(|e| io_error(context(), e))?;
        if data.len() as u64 > max {
            return Err(self.damaged(format!(
                "it is longer than the {max} bytes a vault may have"
            )));
        }
        Ok(data)
    }

    fn damaged(&self, reason: String) -> VaultError {
        VaultError::Damaged {
            path: self.path.clone(),
            reason,
        }
    }
}

/// The derived key and the header values needed to write the vault again. Debug must not show
/// the key.
pub struct VaultKey {
    /// The vault this key writes, with its size cap.
    file: VaultFile,
    /// Boxed so that moving a `VaultKey` never leaves a copy of the key behind.
    key: Box<Zeroizing<[u8; KEY_LEN]>>,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
}

impl VaultKey {
    /// Encrypts `entries` under this key with a fresh nonce and replaces the file atomically.
    pub fn save(&self, entries: &[Entry]) -> Result<(), VaultError> {
        let bytes = with_wiped_stack(|| self.seal(entries))?;
        let path = self.file.path();
        ensure_private_dir(path)?;
        write_atomic(path, &bytes, 0o600)
            .map_err(|e| io_error(format!("cannot write the vault at {}", path.display()), e))
    }

    /// The raw 32-byte key, for the one place that keeps it outside the agent: the OS keychain
    /// (`remember`). Never log or format it.
    pub fn raw(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// True when `passphrase` derives this very key: the step-up check, made against the key in
    /// memory (no file read). Slow (KDF): callers run it off async threads.
    pub fn accepts(&self, passphrase: &Secret) -> Result<bool, VaultError> {
        let derived =
            with_wiped_stack(|| Self::derive(self.file.clone(), passphrase, self.salt, self.kdf))?;
        // Constant time: how much of the key matched must not show in the answer's timing.
        let differing = derived
            .key
            .iter()
            .zip(self.key.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        Ok(differing == 0)
    }

    /// A key for `new_passphrase` (fresh salt, same KDF params); the caller then `save`s with it.
    pub fn rekey(&self, new_passphrase: &Secret) -> Result<VaultKey, VaultError> {
        let salt = random()?;
        with_wiped_stack(|| Self::derive(self.file.clone(), new_passphrase, salt, self.kdf))
    }

    /// The key for `passphrase` under `salt` and `kdf` ([`kdf::derive_key`]).
    fn derive(
        file: VaultFile,
        passphrase: &Secret,
        salt: [u8; SALT_LEN],
        kdf: KdfParams,
    ) -> Result<Self, VaultError> {
        let key = kdf::derive_key(passphrase, &salt, kdf)?;
        Ok(Self {
            file,
            key,
            kdf,
            salt,
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.key[..]).expect("the key is 32 bytes")
    }

    /// The whole vault file for `entries`: header, then the encrypted entries.
    fn seal(&self, entries: &[Entry]) -> Result<Vec<u8>, VaultError> {
        if let Some(why) = super::unknown_kind(entries) {
            return Err(VaultError::UnknownKind(why));
        }
        let cipher = self.cipher();
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8] = if entries.iter().any(|e| e.source.is_some()) {
            FORMAT_VERSION_SOURCES
        } else {
            FORMAT_VERSION
        };
        header[9] = KDF_ARGON2ID;
        header[KDF_AT..KDF_AT + 4].copy_from_slice(&self.kdf.memory_kib.to_le_bytes());
        header[KDF_AT + 4..KDF_AT + 8].copy_from_slice(&self.kdf.passes.to_le_bytes());
        header[KDF_AT + 8..KDF_AT + 12].copy_from_slice(&self.kdf.lanes.to_le_bytes());
        header[SALT_AT..CHECK_NONCE_AT].copy_from_slice(&self.salt);

        let check_nonce = XNonce::from(random::<NONCE_LEN>()?);
        let check_tag = cipher
            .encrypt_inout_detached(
                &check_nonce,
                &header[..CHECK_NONCE_AT],
                (&mut [][..]).into(),
            )
            .map_err(|_| encrypt_failed())?;
        header[CHECK_NONCE_AT..CHECK_TAG_AT].copy_from_slice(&check_nonce);
        header[CHECK_TAG_AT..BODY_NONCE_AT].copy_from_slice(&check_tag);
        let body_nonce = XNonce::from(random::<NONCE_LEN>()?);
        header[BODY_NONCE_AT..DIGEST_AT].copy_from_slice(&body_nonce);
        let digest = Sha256::digest(&header[..DIGEST_AT]);
        header[DIGEST_AT..].copy_from_slice(&digest);

        // Measure the JSON first so that the buffer holding it is allocated once, at its final
        // size (plus the tag), and never reallocates.
        let plaintext = Plaintext { entries };
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, &plaintext).map_err(|e| encode_failed(&e))?;
        let len = (HEADER_LEN + counter.0 + TAG_LEN) as u64;
        if len > self.file.max_len {
            return Err(VaultError::TooLarge {
                len,
                max: self.file.max_len,
            });
        }
        let mut buffer = Zeroizing::new(Vec::with_capacity(counter.0 + TAG_LEN));
        serde_json::to_writer(&mut *buffer, &plaintext).map_err(|e| encode_failed(&e))?;
        debug_assert_eq!(buffer.len(), counter.0);
        debug_assert!(buffer.capacity() >= buffer.len() + TAG_LEN);
        cipher
            .encrypt_in_place(&body_nonce, &header, &mut *buffer)
            .map_err(|_| encrypt_failed())?;

        let mut bytes = Vec::with_capacity(HEADER_LEN + buffer.len());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&buffer);
        Ok(bytes)
    }
}

impl Clone for VaultKey {
    fn clone(&self) -> Self {
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(&self.key[..]);
        Self {
            file: self.file.clone(),
            key,
            kdf: self.kdf,
            salt: self.salt,
        }
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("path", &self.file.path)
            .field("kdf", &self.kdf)
            .field("key", &"REDACTED")
            .finish_non_exhaustive()
    }
}

/// Creates the directory of `file` (the vault, or a file beside it) private to this user, or
/// closes an existing one of ours that is open ([`crate::private_dir`]).
pub(crate) fn ensure_private_dir(file: &Path) -> Result<(), VaultError> {
    let dir = crate::private_dir::parent_of(file);
    crate::private_dir::ensure(dir, crate::private_dir::WhenOpen::Tighten).map_err(|e| {
        io_error(
            format!("cannot prepare the vault's directory {}", dir.display()),
            io::Error::other(e.to_string()),
        )
    })
}

/// `N` random bytes from the operating system.
fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    <[u8; N]>::try_generate().map_err(|e| {
        io_error(
            "cannot get random bytes from the system".into(),
            io::Error::other(e),
        )
    })
}

fn io_error(context: String, source: io::Error) -> VaultError {
    VaultError::Io { context, source }
}

fn encrypt_failed() -> VaultError {
    io_error(
        "cannot encrypt the vault".into(),
        io::Error::other("the vault is too large to encrypt"),
    )
}

fn encode_failed(error: &serde_json::Error) -> VaultError {
    io_error(
        "cannot encode the vault's entries".into(),
        io::Error::other(super::json_error::describe(error)),
    )
}

/// The vault reader without a file or a key derivation, for the fuzz targets (`crate::fuzzing`):
/// Argon2 on every input would leave the fuzzer no time to reach the parsers.
#[cfg(any(test, fuzzing))]
pub(crate) mod fuzz_seam {
    use super::*;

    /// The key every fuzzed vault is sealed under.
    pub const KEY: [u8; KEY_LEN] = [7; KEY_LEN];

    fn key() -> VaultKey {
        VaultKey {
            file: VaultFile::new(PathBuf::from("fuzz.vault")),
            key: Box::new(Zeroizing::new(KEY)),
            kdf: KdfParams {
                memory_kib: MEMORY_KIB_MIN,
                passes: 1,
                lanes: 1,
            },
            salt: [0; SALT_LEN],
        }
    }

    /// Opens `data` as a vault file with [`KEY`], as `VaultFile::open_with_key` does.
    pub fn open(data: &[u8]) -> Result<Vec<Entry>, VaultError> {
        let vault = VaultFile::new(PathBuf::from("fuzz.vault"));
        Ok(vault.open_data_with_key(data, &KEY)?.1)
    }

    /// A vault file of `entries` under [`KEY`], as `VaultKey::save` writes it.
    pub fn seal(entries: &[Entry]) -> Vec<u8> {
        key().seal(entries).expect("entries encrypt")
    }

    /// A vault file under [`KEY`] whose body decrypts to `plaintext`, whatever that is: the way
    /// to the body's JSON parser.
    pub fn seal_plaintext(plaintext: &[u8]) -> Vec<u8> {
        key().seal_plaintext(plaintext)
    }

    impl VaultKey {
        /// A vault file of this key whose body decrypts to `plaintext`, whatever that is.
        pub(crate) fn seal_plaintext(&self, plaintext: &[u8]) -> Vec<u8> {
            let mut file = self.seal(&[]).expect("an empty vault encrypts");
            file.truncate(HEADER_LEN);
            let nonce = XNonce::from(array::<NONCE_LEN>(&file[BODY_NONCE_AT..DIGEST_AT]));
            let mut body = plaintext.to_vec();
            self.cipher()
                .encrypt_in_place(&nonce, &file[..], &mut body)
                .expect("the body encrypts");
            file.extend_from_slice(&body);
            file
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credd_protocol::Source;
    use std::fs::Permissions;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// Cheap parameters so that tests stay fast; never used outside tests.
    const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        passes: 1,
        lanes: 1,
    };

    fn pass(text: &str) -> Secret {
        Secret::new(text)
    }

    /// Entries with every field used. The version-1 fixture holds exactly these: keep them.
    fn sample_entries() -> Vec<Entry> {
        vec![
            Entry {
                name: "work".into(),
                url: "sparse+https://cargo.example.com/index/".into(),
                username: Some("ann".into()),
                secret: Secret::new("tok\"en\\with é and 🔑"),
                expires: Some(1_900_000_000),
                note: Some("rotated monthly".into()),
                publish: false,
                source: None,
            },
            Entry {
                name: "pypi".into(),
                url: "https://pypi.example.com/simple/".into(),
                username: None,
                secret: Secret::new("plain-token"),
                expires: None,
                note: None,
                publish: false,
                source: None,
            },
        ]
    }

    fn assert_same(a: &[Entry], b: &[Entry]) {
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(b) {
            assert_eq!(a.info(), b.info());
            assert_eq!(a.secret.expose(), b.secret.expose());
        }
    }

    /// A vault in a fresh directory, holding the sample entries under "right".
    fn sample_vault() -> (tempfile::TempDir, VaultFile) {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("credd").join("vault"));
        let key = vault.create(&pass("right"), FAST).unwrap();
        key.save(&sample_entries()).unwrap();
        (dir, vault)
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn default_kdf_is_within_bounds() {
        assert_eq!(check_kdf(DEFAULT_KDF), Ok(()));
        let strong = KdfParams {
            memory_kib: 65536,
            passes: 3,
            lanes: 1,
        };
        assert_eq!(DEFAULT_KDF, strong);
    }

    #[test]
    fn create_then_open_round_trips() {
        let (_dir, vault) = sample_vault();
        let (_key, entries) = vault.open(&pass("right")).unwrap();
        assert_same(&entries, &sample_entries());
    }

    /// A version-1 vault made once by the version-1 writer (KDF 64 KiB, 1 pass, 1 lane;
    /// passphrase "correct horse"), holding the sample entries. Never regenerate it: it proves
    /// that vaults written by earlier credds still open.
    const FIXTURE_V1: &[u8] = include_bytes!("../../../tests/fixtures/vault-v1");

    /// A copy of the version-1 fixture in a fresh directory.
    fn fixture_v1() -> (tempfile::TempDir, VaultFile) {
        fixture(FIXTURE_V1)
    }

    /// A copy of the committed vault `bytes` in a fresh directory.
    fn fixture(bytes: &[u8]) -> (tempfile::TempDir, VaultFile) {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        fs::write(vault.path(), bytes).unwrap();
        (dir, vault)
    }

    #[test]
    fn a_version_1_vault_opens_with_its_exact_entries() {
        let (_dir, vault) = fixture_v1();
        let (key, entries) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&entries, &sample_entries());
        assert_eq!(key.kdf, FAST);
        let err = vault.open(&pass("wrong horse")).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
        assert_eq!(fs::read(vault.path()).unwrap(), FIXTURE_V1);
    }

    /// A version-2 vault made once by the version-2 writer, like [`FIXTURE_V1`]. Never
    /// regenerate it: a change of format must keep opening it (or migrate it, tested).
    const FIXTURE_V2: &[u8] = include_bytes!("../../../tests/fixtures/vault-v2");

    #[test]
    fn a_version_2_vault_opens_with_its_exact_entries() {
        let (_dir, vault) = fixture(FIXTURE_V2);
        assert_eq!(FIXTURE_V2[8], 2, "the fixture is of format version 2");
        let (key, entries) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&entries, &sample_entries());
        assert_eq!(key.kdf, FAST);
        let err = vault.open(&pass("wrong horse")).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
        assert_eq!(fs::read(vault.path()).unwrap(), FIXTURE_V2);
    }

    /// Source entries of every kind beside a plain one. The version-3 fixture holds exactly
    /// these: keep them.
    fn source_entries() -> Vec<Entry> {
        let entry = |name: &str, url: &str, secret: &str, source: Option<Source>| Entry {
            name: name.into(),
            url: url.into(),
            username: None,
            secret: Secret::new(secret),
            expires: None,
            note: None,
            publish: false,
            source,
        };
        let gcp = Entry {
            note: Some("service account".into()),
            ..entry(
                "gar",
                "https://europe-python.pkg.dev/proj/repo/",
                r#"{"type":"service_account","client_email":"bot@proj.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n","token_uri":"https://oauth2.googleapis.com/token"}"#,
                Some(Source::Gcp { scopes: vec![] }),
            )
        };
        let aws = entry(
            "codeartifact",
            "https://corp-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/repo/simple/",
            r#"{"access_key_id":"AKIDEXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}"#,
            Some(Source::AwsCodeartifact {
                domain: "corp".into(),
                owner: "111122223333".into(),
                region: "eu-west-1".into(),
                duration: Some(3600),
                endpoint: None,
            }),
        );
        let command = Entry {
            username: Some("az".into()),
            ..entry(
                "az",
                "https://pkgs.dev.azure.com/org/_packaging/feed/pypi/simple/",
                "",
                Some(Source::Command {
                    argv: vec!["az".into(), "account".into(), "get-access-token".into()],
                    env: [("AZURE_CONFIG_DIR".to_owned(), "/home/me/.azure".to_owned())].into(),
                    timeout: Some(20),
                }),
            )
        };
        let plain = entry(
            "pypi",
            "https://pypi.example.com/simple/",
            "plain-token",
            None,
        );
        vec![gcp, aws, command, plain]
    }

    /// A version-3 vault (entries with sources) made once by its writer, like [`FIXTURE_V1`].
    /// Never regenerate it.
    const FIXTURE_V3: &[u8] = include_bytes!("../../../tests/fixtures/vault-v3-sources");

    #[test]
    fn a_vault_with_sources_is_version_3_and_the_committed_one_opens_with_its_exact_entries() {
        let (_dir, vault) = fixture(FIXTURE_V3);
        assert_eq!(FIXTURE_V3[8], FORMAT_VERSION_SOURCES);
        let (key, entries) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&entries, &source_entries());
        assert_eq!(key.kdf, FAST);
        // A write keeps version 3 while a source is left, and goes back to 2 without one.
        key.save(&entries).unwrap();
        assert_eq!(fs::read(vault.path()).unwrap()[8], FORMAT_VERSION_SOURCES);
        key.save(&sample_entries()).unwrap();
        assert_eq!(fs::read(vault.path()).unwrap()[8], FORMAT_VERSION);
    }

    /// A publish credential, a team's entry and the three kinds of team login. The fixture
    /// below holds exactly these: keep them.
    fn team_entries() -> Vec<Entry> {
        let login =
            |team: &str, secret: &str, role_id: Option<&str>, jwt_role: Option<&str>| Entry {
                name: format!("team-login/{team}"),
                url: format!("team-login:{team}"),
                username: None,
                secret: Secret::new(secret),
                expires: None,
                note: None,
                publish: false,
                source: Some(Source::TeamLogin {
                    team: team.into(),
                    role_id: role_id.map(Into::into),
                    jwt_role: jwt_role.map(Into::into),
                }),
            };
        vec![
            Entry {
                name: "corp-publish".into(),
                url: "sparse+https://cargo.corp.example/index/".into(),
                username: None,
                secret: Secret::new("publish-token"),
                expires: Some(1_900_000_000),
                note: Some("cargo publish only".into()),
                publish: true,
                source: None,
            },
            Entry {
                name: "acme/pypi".into(),
                url: "https://pypi.acme.example/simple/".into(),
                username: Some("ci".into()),
                secret: Secret::new("team-password"),
                expires: None,
                note: None,
                publish: false,
                source: Some(Source::Team {
                    team: "acme".into(),
                    fetched: 1_800_000_000,
                }),
            },
            login("acme", "hvs.token", None, None),
            login("beta", "secret-id", Some("role-id-1"), None),
            login("gamma", "eyJhbGciOi.jwt.sig", None, Some("ci-job")),
        ]
    }

    /// A vault of [`team_entries`] made once by its writer, like [`FIXTURE_V1`]. Never
    /// regenerate it: it pins the publish flag and the team kinds' fields as written.
    const FIXTURE_V3_TEAMS: &[u8] = include_bytes!("../../../tests/fixtures/vault-v3-teams");

    #[test]
    fn the_committed_vault_of_publish_and_team_entries_opens_with_its_exact_entries() {
        let (_dir, vault) = fixture(FIXTURE_V3_TEAMS);
        assert_eq!(FIXTURE_V3_TEAMS[8], FORMAT_VERSION_SOURCES);
        let (key, entries) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&entries, &team_entries());
        assert!(entries[0].publish);
        key.save(&entries).unwrap();
        let (_, again) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&again, &team_entries());
    }

    #[test]
    fn a_new_vault_is_empty_and_the_key_saves() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        assert!(!vault.exists());
        let key = vault.create(&pass("p"), FAST).unwrap();
        assert!(vault.exists());
        let (_, entries) = vault.open(&pass("p")).unwrap();
        assert!(entries.is_empty());
        // The returned key (and a clone of it) writes what the passphrase then opens.
        key.clone().save(&sample_entries()).unwrap();
        assert_same(&vault.open(&pass("p")).unwrap().1, &sample_entries());
        // Every write uses fresh nonces.
        let before = fs::read(vault.path()).unwrap();
        key.save(&sample_entries()).unwrap();
        let after = fs::read(vault.path()).unwrap();
        assert_eq!(before[..CHECK_NONCE_AT], after[..CHECK_NONCE_AT]);
        assert_ne!(
            before[BODY_NONCE_AT..DIGEST_AT],
            after[BODY_NONCE_AT..DIGEST_AT]
        );
    }

    #[test]
    fn the_reader_opens_every_vault_the_writer_accepts_and_a_refused_write_changes_nothing() {
        const MAX: u64 = 4096;
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault")).with_max_len(MAX);
        let key = vault.create(&pass("p"), FAST).unwrap();
        let mut entries = Vec::new();
        let refused = loop {
            let mut more = entries.clone();
            let round = entries.len();
            more.extend(sample_entries().into_iter().map(|mut entry| {
                entry.name = format!("{}-{round}", entry.name);
                entry
            }));
            match key.save(&more) {
                Ok(()) => entries = more,
                Err(error) => break error,
            }
            assert_same(&vault.open(&pass("p")).unwrap().1, &entries);
        };
        assert!(
            matches!(refused, VaultError::TooLarge { max: MAX, .. }),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("remove entries"), "{refused}");
        // Fill the vault to the byte: still written, still read.
        let before = fs::read(vault.path()).unwrap();
        let spare = MAX as usize - before.len();
        entries[0].note = Some(format!(
            "{}{}",
            entries[0].note.take().unwrap(),
            "n".repeat(spare)
        ));
        key.save(&entries).unwrap();
        assert_eq!(fs::metadata(vault.path()).unwrap().len(), MAX);
        assert_same(&vault.open(&pass("p")).unwrap().1, &entries);
        // One byte more is refused, and the file stays as it was.
        let full = fs::read(vault.path()).unwrap();
        entries[0].note.as_mut().unwrap().push('n');
        let err = key.save(&entries).unwrap_err();
        assert!(
            matches!(err, VaultError::TooLarge { len, max: MAX } if len == MAX + 1),
            "{err:?}"
        );
        assert_eq!(fs::read(vault.path()).unwrap(), full);
    }

    #[test]
    fn a_kept_key_opens_the_vault_and_a_wrong_one_is_refused() {
        let (_dir, vault) = sample_vault();
        let (key, _) = vault.open(&pass("right")).unwrap();
        let (reopened, entries) = vault.open_with_key(key.raw()).unwrap();
        assert_same(&entries, &sample_entries());
        assert_eq!(reopened.raw(), key.raw());
        // The key from the keychain writes what the passphrase still opens.
        reopened.save(&entries).unwrap();
        assert_same(&vault.open(&pass("right")).unwrap().1, &sample_entries());
        let mut wrong = *key.raw();
        wrong[0] ^= 1;
        let err = vault.open_with_key(&wrong).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
    }

    #[test]
    fn header_layout_is_as_documented() {
        let (_dir, vault) = sample_vault();
        let data = fs::read(vault.path()).unwrap();
        assert_eq!(&data[..8], b"CREDDVLT");
        assert_eq!(data[8..10], [2, 1]);
        assert_eq!(data[10..22], [64, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!((DIGEST_AT, HEADER_LEN), (102, 134));
        assert_eq!(data[102..134], Sha256::digest(&data[..102])[..]);
    }

    #[test]
    fn open_of_a_missing_vault_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let err = vault.open(&pass("x")).unwrap_err();
        assert!(matches!(err, VaultError::Missing(_)), "{err:?}");
        assert!(err.to_string().contains("run 'credd init'"));
    }

    #[test]
    fn wrong_passphrase_is_told_apart() {
        let (_dir, vault) = sample_vault();
        let before = fs::read(vault.path()).unwrap();
        let err = vault.open(&pass("wrong")).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("wrong\""));
        assert_eq!(fs::read(vault.path()).unwrap(), before);
    }

    #[test]
    fn flipped_body_byte_is_damage_and_the_file_is_untouched() {
        let (_dir, vault) = sample_vault();
        let mut data = fs::read(vault.path()).unwrap();
        for at in [HEADER_LEN, HEADER_LEN + 7, data.len() - 1] {
            data[at] ^= 0x01;
            fs::write(vault.path(), &data).unwrap();
            let err = vault.open(&pass("right")).unwrap_err();
            assert!(matches!(err, VaultError::Damaged { .. }), "{err:?}");
            assert!(err.to_string().contains("restore it from a backup"));
            assert_eq!(fs::read(vault.path()).unwrap(), data);
            data[at] ^= 0x01;
        }
    }

    #[test]
    fn every_flipped_header_bit_is_damage_never_a_wrong_passphrase() {
        let (_dir, vault) = sample_vault();
        let good = fs::read(vault.path()).unwrap();
        // Every byte, each with another bit (file writes are slow on some disks: one per byte).
        for at in 0..HEADER_LEN {
            let mask = 1u8 << (at % 8);
            let mut data = good.clone();
            data[at] ^= mask;
            fs::write(vault.path(), &data).unwrap();
            let err = vault.open(&pass("right")).unwrap_err();
            assert!(
                matches!(err, VaultError::Damaged { .. }),
                "byte {at} ^ {mask:#04x}: {err:?}"
            );
            assert_eq!(fs::read(vault.path()).unwrap(), data);
        }
        // A body byte, too; and the intact vault still tells a wrong passphrase apart.
        for at in [
            HEADER_LEN,
            good.len() / 2,
            good.len() - TAG_LEN,
            good.len() - 1,
        ] {
            let mut data = good.clone();
            data[at] ^= 0x80;
            fs::write(vault.path(), &data).unwrap();
            let err = vault.open(&pass("right")).unwrap_err();
            assert!(
                matches!(err, VaultError::Damaged { .. }),
                "byte {at}: {err:?}"
            );
            assert_eq!(fs::read(vault.path()).unwrap(), data);
        }
        fs::write(vault.path(), &good).unwrap();
        let err = vault.open(&pass("wrong")).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
    }

    /// Version 1 has no header digest: damage to the KDF cost, salt or key check reads as a wrong
    /// passphrase there (documented), everything else as damage, and nothing is written.
    #[test]
    fn flipped_version_1_header_bytes_are_damage_or_bad_passphrase() {
        let (_dir, vault) = fixture_v1();
        for at in 0..DIGEST_AT {
            // Byte 12 ^ 0x01 would ask for 64 MiB, valid but slow; 0x40 puts it out of bounds.
            let mask = if at == KDF_AT + 2 { 0x40 } else { 0x01 };
            let mut data = FIXTURE_V1.to_vec();
            data[at] ^= mask;
            fs::write(vault.path(), &data).unwrap();
            let err = vault.open(&pass("correct horse")).unwrap_err();
            let expected_damage =
                at < SALT_AT && !(at == KDF_AT || at == KDF_AT + 1) || at >= BODY_NONCE_AT;
            match err {
                VaultError::Damaged { .. } => assert!(expected_damage, "byte {at}: {err:?}"),
                VaultError::BadPassphrase => assert!(!expected_damage, "byte {at}: {err:?}"),
                other => panic!("byte {at}: {other:?}"),
            }
            assert_eq!(fs::read(vault.path()).unwrap(), data);
        }
    }

    #[test]
    fn saving_a_version_1_vault_makes_it_version_2() {
        let (_dir, vault) = fixture_v1();
        let (key, mut entries) = vault.open(&pass("correct horse")).unwrap();
        entries.pop();
        key.save(&entries).unwrap();
        let data = fs::read(vault.path()).unwrap();
        assert_eq!(data[8], FORMAT_VERSION);
        // Same KDF cost and salt: the key (and a remembered copy of it) stays valid.
        assert_eq!(data[9..CHECK_NONCE_AT], FIXTURE_V1[9..CHECK_NONCE_AT]);
        assert_eq!(
            data[DIGEST_AT..HEADER_LEN],
            Sha256::digest(&data[..DIGEST_AT])[..]
        );
        let (reopened, read) = vault.open(&pass("correct horse")).unwrap();
        assert_same(&read, &sample_entries()[..1]);
        assert_eq!(reopened.raw(), key.raw());
        let (_, read) = vault.open_with_key(key.raw()).unwrap();
        assert_same(&read, &sample_entries()[..1]);
    }

    #[test]
    fn truncated_files_are_damage() {
        let (_dir, vault) = sample_vault();
        let good = fs::read(vault.path()).unwrap();
        for len in (0..=HEADER_LEN + TAG_LEN).chain([good.len() - 1]) {
            fs::write(vault.path(), &good[..len]).unwrap();
            let err = vault.open(&pass("right")).unwrap_err();
            assert!(
                matches!(err, VaultError::Damaged { .. }),
                "length {len}: {err:?}"
            );
        }
    }

    #[test]
    fn foreign_and_future_files_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        fs::write(
            vault.path(),
            b"[registries.x]\ntoken = \"abc\"\n".repeat(10),
        )
        .unwrap();
        let err = vault.open(&pass("x")).unwrap_err();
        assert!(err.to_string().contains("not a credd vault"), "{err}");

        let (_dir, vault) = sample_vault();
        let mut data = fs::read(vault.path()).unwrap();
        data[8] = 4;
        fs::write(vault.path(), &data).unwrap();
        let err = vault.open(&pass("right")).unwrap_err();
        assert!(err.to_string().contains("format version 4"), "{err}");
    }

    #[test]
    fn a_key_over_bad_json_is_damage_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let key = vault.create(&pass("p"), FAST).unwrap();
        // Hand-seal a plaintext whose secret has the wrong type: serde would quote it.
        let bytes = key.seal_plaintext(
            br#"{"entries":[{"name":"n","url":"u","secret":"s","expires":"hunter2"}]}"#,
        );
        fs::write(vault.path(), &bytes).unwrap();
        let err = vault.open(&pass("p")).unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    }

    /// An entry of a kind a newer credd wrote opens (as `Unknown`), but no write keeps it as
    /// such: the vault is left as it is until the entry is removed.
    #[test]
    fn a_source_of_an_unknown_kind_is_never_written_back_lossily() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let key = vault.create(&pass("p"), FAST).unwrap();
        let bytes = key.seal_plaintext(br#"{"entries":[{"name":"future","url":"https://f.example/","secret":"s","source":{"kind":"hsm-slot","slot":7}},{"name":"plain","url":"https://p.example/","secret":"t"}]}"#);
        fs::write(vault.path(), &bytes).unwrap();
        let (key, entries) = vault.open(&pass("p")).unwrap();
        assert_eq!(entries[0].source, Some(Source::Unknown));
        let err = key.save(&entries).unwrap_err();
        assert!(matches!(err, VaultError::UnknownKind(_)), "{err:?}");
        assert!(
            err.to_string().contains("\"future\"") && err.to_string().contains("credd remove"),
            "{err}"
        );
        assert_eq!(fs::read(vault.path()).unwrap(), bytes);
        key.save(&entries[1..]).unwrap();
        let (_, left) = vault.open(&pass("p")).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name, "plain");
    }

    #[test]
    fn create_refuses_an_existing_vault_and_leaves_it_identical() {
        let (_dir, vault) = sample_vault();
        let before = fs::read(vault.path()).unwrap();
        let err = vault.create(&pass("other"), FAST).unwrap_err();
        assert!(matches!(err, VaultError::Exists(_)), "{err:?}");
        assert_eq!(fs::read(vault.path()).unwrap(), before);

        fs::write(vault.path(), b"junk").unwrap();
        let err = vault.create(&pass("other"), FAST).unwrap_err();
        assert!(matches!(err, VaultError::Exists(_)), "{err:?}");
        assert_eq!(fs::read(vault.path()).unwrap(), b"junk");
    }

    #[test]
    fn rekey_then_save_changes_the_passphrase() {
        let (_dir, vault) = sample_vault();
        let (key, entries) = vault.open(&pass("right")).unwrap();
        let new_key = key.rekey(&pass("newer")).unwrap();
        assert_ne!(new_key.salt, key.salt);
        assert_eq!(new_key.kdf, key.kdf);
        new_key.save(&entries).unwrap();
        let err = vault.open(&pass("right")).unwrap_err();
        assert!(matches!(err, VaultError::BadPassphrase), "{err:?}");
        assert_same(&vault.open(&pass("newer")).unwrap().1, &sample_entries());
    }

    #[test]
    fn modes_are_private_and_a_loose_dir_is_tightened() {
        let (dir, vault) = sample_vault();
        let vault_dir = dir.path().join("credd");
        assert_eq!(mode_of(vault.path()), 0o600);
        assert_eq!(mode_of(&vault_dir), 0o700);
        let names: Vec<_> = fs::read_dir(&vault_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["vault"]);

        fs::set_permissions(&vault_dir, Permissions::from_mode(0o755)).unwrap();
        let (key, entries) = vault.open(&pass("right")).unwrap();
        key.save(&entries).unwrap();
        assert_eq!(mode_of(&vault_dir), 0o700);
        assert_eq!(mode_of(vault.path()), 0o600);

        let loose = dir.path().join("loose");
        fs::create_dir(&loose).unwrap();
        fs::set_permissions(&loose, Permissions::from_mode(0o775)).unwrap();
        VaultFile::new(loose.join("vault"))
            .create(&pass("p"), FAST)
            .unwrap();
        assert_eq!(mode_of(&loose), 0o700);
    }

    #[test]
    fn out_of_bounds_kdf_is_refused_by_create() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let bad = [
            KdfParams {
                memory_kib: 4,
                passes: 1,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 4_194_305,
                passes: 1,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 16,
                passes: 1,
                lanes: 4,
            },
            KdfParams {
                memory_kib: 64,
                passes: 0,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 64,
                passes: 65,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 1024,
                passes: 1,
                lanes: 0,
            },
            KdfParams {
                memory_kib: 1024,
                passes: 1,
                lanes: 17,
            },
        ];
        for kdf in bad {
            let err = vault.create(&pass("p"), kdf).unwrap_err();
            assert!(matches!(err, VaultError::BadKdf(_)), "{kdf:?}: {err:?}");
            assert!(err.to_string().contains("1..=64"), "{err}");
        }
        assert!(!vault.exists());
    }

    #[test]
    fn a_new_vault_costs_at_most_half_the_memory_and_16_passes() {
        let kdf = |memory_kib, passes| KdfParams {
            memory_kib,
            passes,
            lanes: 1,
        };
        const GIB: u32 = 1024 * 1024;
        // 8 GiB available: up to 4 GiB.
        let plenty = Some(8 * u64::from(GIB));
        assert_eq!(check_affordable(kdf(4 * GIB, 16), plenty), Ok(()));
        let err = check_affordable(kdf(4 * GIB, 17), plenty).unwrap_err();
        assert!(err.contains("at most 16 passes, not 17"), "{err}");
        // 1 GiB available: 512 MiB.
        let some = Some(u64::from(GIB));
        assert_eq!(check_affordable(kdf(GIB / 2, 3), some), Ok(()));
        let err = check_affordable(kdf(GIB / 2 + 1, 3), some).unwrap_err();
        assert!(err.contains("more than the 524288 KiB"), "{err}");
        assert!(
            err.contains("of the 1048576 KiB") && err.contains("--kdf-memory"),
            "{err}"
        );
        // Very little available: the default still goes; more does not.
        let little = Some(1024);
        assert_eq!(check_affordable(DEFAULT_KDF, little), Ok(()));
        assert!(check_affordable(kdf(DEFAULT_KDF.memory_kib + 1, 3), little).is_err());
        // Unknown: only the passes are capped.
        assert_eq!(check_affordable(kdf(4 * GIB, 16), None), Ok(()));
        assert!(check_affordable(kdf(64, 17), None).is_err());
    }

    #[test]
    fn create_refuses_an_unaffordable_kdf_and_open_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let err = vault.create(&pass("p"), kdf_with_passes(17)).unwrap_err();
        assert!(matches!(err, VaultError::BadKdf(_)), "{err:?}");
        assert!(err.to_string().contains("at most 16 passes"), "{err}");
        assert!(!vault.exists());
        // A vault that already has such a cost (as older credds could create) still opens, and
        // passwd keeps its cost.
        let key = VaultKey::derive(
            vault.clone(),
            &pass("p"),
            [7; SALT_LEN],
            kdf_with_passes(17),
        )
        .unwrap();
        key.save(&sample_entries()).unwrap();
        let (key, entries) = vault.open(&pass("p")).unwrap();
        assert_same(&entries, &sample_entries());
        key.rekey(&pass("q")).unwrap().save(&entries).unwrap();
        assert_same(&vault.open(&pass("q")).unwrap().1, &sample_entries());
    }

    fn kdf_with_passes(passes: u32) -> KdfParams {
        KdfParams { passes, ..FAST }
    }

    #[test]
    fn debug_and_errors_never_show_the_key_or_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let key = vault.create(&pass("sesame"), FAST).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("REDACTED"), "{shown}");
        let hex: String = key.key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex) && !shown.contains(&format!("{:?}", &key.key[..4])));
        assert!(!shown.contains("sesame"));
    }

    /// How often `needle` occurs in the mapping of this process that contains `address`.
    fn count_in_mapping(address: usize, needle: &[u8]) -> usize {
        use std::io::{Seek, SeekFrom};
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        let (start, end) = maps
            .lines()
            .filter_map(|line| {
                let (start, end) = line.split_whitespace().next()?.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                (start..end).contains(&address).then_some((start, end))
            })
            .next()
            .unwrap();
        let mut memory = vec![0u8; end - start];
        let mut mem = fs::File::open("/proc/self/mem").unwrap();
        mem.seek(SeekFrom::Start(start as u64)).unwrap();
        mem.read_exact(&mut memory).unwrap();
        memory
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    #[test]
    fn no_copy_of_key_passphrase_or_secret_is_left_on_the_stack() {
        const PASSPHRASE: &str = "a passphrase long enough to be found on the stack";
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultFile::new(dir.path().join("vault"));
        let (sender, receiver) = std::sync::mpsc::channel();
        let _worker = std::thread::spawn(move || {
            let marker = 0u8;
            let created = vault.create(&pass(PASSPHRASE), FAST).unwrap();
            drop(created.rekey(&pass("q")).unwrap());
            created.save(&sample_entries()).unwrap();
            // Last, so that nothing overwrites what it leaves behind.
            let (key, entries) = vault.open(&pass(PASSPHRASE)).unwrap();
            drop(entries);
            // Kept inverted so that only the vault code's copies can match.
            let inverted: Vec<u8> = key.key.iter().map(|b| !b).collect();
            drop(key);
            // A copy the scan must find, to prove that it sees this stack.
            let canary: [u8; KEY_LEN] = array(&inverted);
            std::hint::black_box(&canary);
            sender.send((inverted, &raw const marker as usize)).unwrap();
            loop {
                std::thread::park();
            }
        });
        let (inverted, stack_address) = receiver.recv().unwrap();
        let key: Vec<u8> = inverted.iter().map(|b| !b).collect();
        assert!(
            count_in_mapping(stack_address, &inverted) > 0,
            "the scan cannot see the stack"
        );
        assert_eq!(count_in_mapping(stack_address, &key[..16]), 0);
        assert_eq!(
            count_in_mapping(stack_address, &PASSPHRASE.as_bytes()[20..]),
            0
        );
        for entry in sample_entries() {
            assert_eq!(
                count_in_mapping(stack_address, entry.secret.expose().as_bytes()),
                0
            );
        }
    }

    #[test]
    fn error_messages_are_as_specified() {
        let path = PathBuf::from("/v");
        assert_eq!(
            VaultError::Missing(path.clone()).to_string(),
            "no vault at /v: run 'credd init'"
        );
        assert_eq!(
            VaultError::Exists(path.clone()).to_string(),
            "a vault already exists at /v: it was left untouched"
        );
        assert_eq!(VaultError::BadPassphrase.to_string(), "wrong passphrase");
        let damaged = VaultError::Damaged {
            path,
            reason: "r".into(),
        };
        assert_eq!(
            damaged.to_string(),
            "the vault at /v is damaged (r); it was left untouched: restore it from a backup"
        );
    }
}
