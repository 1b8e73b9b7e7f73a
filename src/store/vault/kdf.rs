//! The key derivation's costs: the default, the bounds a vault file may name, and what a new
//! vault may ask of this machine.

use std::io;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use credd_protocol::{KdfParams, Secret};
use zeroize::Zeroizing;

use super::format::KEY_LEN;
use super::{VaultError, io_error};

/// The strong default key-derivation cost: Argon2id with 64 MiB, 3 passes, 1 lane.
pub const DEFAULT_KDF: KdfParams = KdfParams {
    memory_kib: 65536,
    passes: 3,
    lanes: 1,
};

pub(super) const MEMORY_KIB_MIN: u32 = 8;
pub(super) const MEMORY_KIB_MAX: u32 = 4 * 1024 * 1024;
pub(super) const PASSES_MAX: u32 = 64;
pub(super) const LANES_MAX: u32 = 16;

/// The most passes a new vault may use (the format reads up to [`PASSES_MAX`]): a derivation
/// over the socket cannot be cancelled, and every unlock pays it again.
pub(super) const CREATE_PASSES_MAX: u32 = 16;

/// Checks `kdf` against the bounds that keep a crafted header from costing unbounded memory or
/// time; the error names the first parameter out of bounds.
pub(super) fn check_kdf(kdf: KdfParams) -> Result<(), String> {
    let KdfParams {
        memory_kib,
        passes,
        lanes,
    } = kdf;
    if !(1..=LANES_MAX).contains(&lanes) {
        return Err(format!("lanes = {lanes}"));
    }
    if !(MEMORY_KIB_MIN..=MEMORY_KIB_MAX).contains(&memory_kib) || memory_kib < 8 * lanes {
        return Err(format!("memory_kib = {memory_kib} with lanes = {lanes}"));
    }
    if !(1..=PASSES_MAX).contains(&passes) {
        return Err(format!("passes = {passes}"));
    }
    Ok(())
}

/// Checks that a new vault's `kdf` is affordable here: at most [`CREATE_PASSES_MAX`] passes, and
/// at most half of `available_kib` (the memory this process can get, when known) of memory; the
/// default cost is always allowed. Only creation is checked: an existing vault opens with
/// whatever cost it has within the format's bounds (and `passwd` keeps that cost).
pub(super) fn check_affordable(kdf: KdfParams, available_kib: Option<u64>) -> Result<(), String> {
    if kdf.passes > CREATE_PASSES_MAX {
        return Err(format!(
            "a new vault may use at most {CREATE_PASSES_MAX} passes, not {}: choose fewer \
             (--kdf-passes)",
            kdf.passes
        ));
    }
    let Some(available_kib) = available_kib else {
        return Ok(());
    };
    let limit_kib = (available_kib / 2).max(u64::from(DEFAULT_KDF.memory_kib));
    if u64::from(kdf.memory_kib) > limit_kib {
        return Err(format!(
            "the key derivation would need {} KiB, more than the {limit_kib} KiB a new vault may \
             use here (half of the {available_kib} KiB of memory available to credd, or the \
             default cost's if that is more): choose less memory (--kdf-memory)",
            kdf.memory_kib
        ));
    }
    Ok(())
}

/// Argon2id(passphrase, salt, kdf), with working memory that is ours and wiped afterwards.
pub(super) fn derive_key(
    passphrase: &Secret,
    salt: &[u8],
    kdf: KdfParams,
) -> Result<Box<Zeroizing<[u8; KEY_LEN]>>, VaultError> {
    let kdf_failed = |e: argon2::Error| VaultError::BadKdf(format!("key derivation failed: {e}"));
    let params =
        Params::new(kdf.memory_kib, kdf.passes, kdf.lanes, Some(KEY_LEN)).map_err(kdf_failed)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // argon2 does not wipe the memory it allocates itself, so hand it ours.
    let count = argon2.params().block_count();
    let mut blocks: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    blocks.try_reserve_exact(count).map_err(|_| {
        io_error(
            format!(
                "cannot allocate {} KiB for the key derivation",
                kdf.memory_kib
            ),
            io::ErrorKind::OutOfMemory.into(),
        )
    })?;
    blocks.resize(count, Block::default());
    let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
    argon2
        .hash_password_into_with_memory(
            passphrase.expose().as_bytes(),
            salt,
            &mut key[..],
            &mut blocks[..],
        )
        .map_err(kdf_failed)?;
    Ok(key)
}
