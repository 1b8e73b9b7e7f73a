//! Tokens printed by a command (skeleton: filled by the tokens work).

use std::collections::BTreeMap;

use super::{Context, MintError, Minted};

/// Runs `argv` with `env` on a clean environment; its output is the token.
pub fn mint(
    _argv: &[String],
    _env: &BTreeMap<String, String>,
    _timeout: Option<u32>,
    _cx: &Context,
) -> Result<Minted, MintError> {
    Err(MintError::Unsupported)
}
