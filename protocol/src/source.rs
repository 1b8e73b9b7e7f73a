//! Token sources: entries whose secret is long-lived material the agent mints short-lived
//! tokens from, instead of a token handed out as it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a source entry's tokens come from. The entry's `secret` holds the long-lived material
/// (see each kind); a lookup answers with a minted token, never with that material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Source {
    /// A Google OAuth access token (username `oauth2accesstoken`). The secret is a Google
    /// credentials file: `service_account`, `authorized_user` or `external_account`.
    Gcp {
        /// OAuth scopes; empty means `https://www.googleapis.com/auth/cloud-platform`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
    },
    /// An AWS CodeArtifact authorization token (username `aws`). The secret is JSON:
    /// `{"access_key_id","secret_access_key","session_token"?}`.
    AwsCodeartifact {
        /// The CodeArtifact domain.
        domain: String,
        /// The AWS account id that owns the domain.
        owner: String,
        /// The AWS region, e.g. `eu-west-1`.
        region: String,
        /// The token's lifetime in seconds: 0 (the session's) or 900–43200; absent means 43200.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<u32>,
        /// The endpoint, when not `https://codeartifact.REGION.amazonaws.com`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
    },
    /// A command line run without a shell; its standard output is the token. The secret is
    /// unused (empty).
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Variables set for it, on top of a clean environment.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        /// Seconds it may run; absent means the agent's mint deadline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
    },
    /// An entry read from a team's OpenBao server (`TEAM/PATH`): the secret is the credential
    /// as the server holds it, served as it is until the copy is older than the team's
    /// `max-age`. The agent writes these; a `put` of one is refused.
    Team {
        /// The team's name in the config.
        team: String,
        /// When the agent last read it from the server, in Unix seconds.
        fetched: u64,
    },
    /// The agent's login to a team's server: the secret is an OpenBao token, with `role_id`
    /// the AppRole secret id, with `jwt_role` a JWT for the server's JWT/OIDC login. Never
    /// handed out, never listed.
    TeamLogin {
        /// The team's name in the config.
        team: String,
        /// The AppRole role id, for an AppRole login.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_id: Option<String>,
        /// The JWT auth role, for a JWT login (`auth/jwt/login`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jwt_role: Option<String>,
    },
    /// A kind this side does not know.
    #[serde(other)]
    Unknown,
}

/// The username Google Artifact Registry expects with an access token.
pub const GCP_USERNAME: &str = "oauth2accesstoken";
/// The username CodeArtifact's Python and other Basic-auth repositories expect with its token.
pub const AWS_USERNAME: &str = "aws";

impl Source {
    /// The username the kind's registries expect with its tokens (`None` for a command, whose
    /// output may name one). An entry without a username of its own answers lookups for it.
    pub fn username(&self) -> Option<&'static str> {
        match self {
            Self::Gcp { .. } => Some(GCP_USERNAME),
            Self::AwsCodeartifact { .. } => Some(AWS_USERNAME),
            Self::Command { .. } | Self::Team { .. } | Self::TeamLogin { .. } | Self::Unknown => {
                None
            }
        }
    }

    /// The kind's name as on the wire: `gcp`, `aws-codeartifact`, `command`, `team`,
    /// `team-login` or `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Gcp { .. } => "gcp",
            Self::AwsCodeartifact { .. } => "aws-codeartifact",
            Self::Command { .. } => "command",
            Self::Team { .. } => "team",
            Self::TeamLogin { .. } => "team-login",
            Self::Unknown => "unknown",
        }
    }
}
