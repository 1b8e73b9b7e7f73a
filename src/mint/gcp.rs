//! Google OAuth access tokens from a credentials file (skeleton: filled by the tokens work).

use credd_protocol::Secret;

use super::{Context, MintError, Minted};

/// Mints an access token for `scopes` from the credentials file in `material`.
pub fn mint(_scopes: &[String], _material: &Secret, _cx: &Context) -> Result<Minted, MintError> {
    Err(MintError::Unsupported)
}
