//! Minting short-lived tokens from a source entry's long-lived material.
//!
//! Everything here is blocking and bounded by [`Context::deadline`]; the agent runs it on a
//! blocking thread, outside its state lock. Nothing here caches: the agent keeps the minted
//! token until shortly before [`Minted::expires`].

use std::path::PathBuf;
use std::time::Instant;

use credd_protocol::{Secret, Source};

mod aws;
mod command;
mod gcp;

/// A freshly minted token.
pub struct Minted {
    /// The username the registry expects with it (`oauth2accesstoken`, `aws`, …).
    pub username: String,
    /// The token.
    pub token: Secret,
    /// When it stops working, in Unix seconds.
    pub expires: u64,
}

/// What minting may use: where extra CA certificates are, and when to give up.
pub struct Context {
    /// A PEM file of CA certificates trusted besides the system's (company proxies, tests).
    pub ca_file: Option<PathBuf>,
    /// When the whole mint must be done, network calls and commands included.
    pub deadline: Instant,
}

/// Why no token could be minted. Messages never contain the material or a token.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The source's material is not what its kind needs (the message says which field).
    #[error("the source's key material is not usable: {0}")]
    BadMaterial(String),
    /// The token endpoint refused (key revoked or disabled, grant invalid).
    #[error("{endpoint} refused to issue a token: {message}")]
    Rejected {
        /// Where the request went.
        endpoint: String,
        /// The server's own error text, scrubbed.
        message: String,
    },
    /// The endpoint says the request's time is off.
    #[error("{endpoint} says this machine's clock is off: {message}; set the clock right (NTP)")]
    ClockSkew {
        /// Where the request went.
        endpoint: String,
        /// The server's own error text, scrubbed.
        message: String,
    },
    /// The endpoint could not be reached, or answered something unreadable.
    #[error("cannot get a token from {endpoint}: {reason}")]
    Unreachable {
        /// Where the request went.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The token command failed.
    #[error("the token command {program} failed ({status}): {stderr_tail}")]
    CommandFailed {
        /// The program run.
        program: String,
        /// Its exit status, or why it has none.
        status: String,
        /// The end of its standard error, scrubbed.
        stderr_tail: String,
    },
    /// The deadline passed.
    #[error("no token within the deadline: {0}")]
    Timeout(String),
    /// A source kind this build does not know.
    #[error("this credd does not know the entry's source kind; upgrade credd")]
    Unsupported,
}

/// Mints a token from `source` with `material` (the entry's secret).
pub fn mint(source: &Source, material: &Secret, cx: &Context) -> Result<Minted, MintError> {
    match source {
        Source::Gcp { scopes } => gcp::mint(scopes, material, cx),
        Source::AwsCodeartifact {
            domain,
            owner,
            region,
            duration,
            endpoint,
        } => aws::mint(
            &aws::Target {
                domain,
                owner,
                region,
                duration: *duration,
                endpoint: endpoint.as_deref(),
            },
            material,
            cx,
        ),
        Source::Command { argv, env, timeout } => command::mint(argv, env, *timeout, cx),
        _ => Err(MintError::Unsupported),
    }
}
