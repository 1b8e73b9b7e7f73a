//! AWS CodeArtifact authorization tokens, SigV4-signed (skeleton: filled by the tokens work).

use credd_protocol::Secret;

use super::{Context, MintError, Minted};

/// The CodeArtifact domain a token is asked for.
pub struct Target<'a> {
    /// The domain.
    pub domain: &'a str,
    /// The account id owning it.
    pub owner: &'a str,
    /// The region.
    pub region: &'a str,
    /// The token lifetime asked for, in seconds.
    pub duration: Option<u32>,
    /// The endpoint, when not AWS's own.
    pub endpoint: Option<&'a str>,
}

/// Mints a CodeArtifact token for `target` with the key pair in `material`.
pub fn mint(_target: &Target<'_>, _material: &Secret, _cx: &Context) -> Result<Minted, MintError> {
    Err(MintError::Unsupported)
}
