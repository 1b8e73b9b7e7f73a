//! Google OAuth access tokens from a credentials file: a service-account key (RFC 7523
//! JWT-bearer grant), a gcloud user login (refresh-token grant), or a workload identity
//! federation file (an RFC 8693 token exchange at Google's STS, then optionally a
//! service-account impersonation).

use std::collections::BTreeMap;

use credd_protocol::{GCP_USERNAME as USERNAME, Secret};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::{Context, MintError, Minted, jwt};
use crate::http::{self, Client};

/// The scope asked for when the entry names none.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Where user logins are refreshed when their file names no `token_uri`.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The longest lifetime Google grants a JWT assertion or an impersonated token.
const LIFETIME: u64 = 3600;

/// Mints an access token for `scopes` from the credentials file in `material`.
pub fn mint(scopes: &[String], material: &Secret, cx: &Context) -> Result<Minted, MintError> {
    let scope = if scopes.is_empty() {
        CLOUD_PLATFORM.to_string()
    } else {
        scopes.join(" ")
    };
    let text = material.expose();
    match kind(text)?.as_str() {
        "service_account" => service_account(&parse(text)?, &scope, cx),
        "authorized_user" => authorized_user(&parse(text)?, cx),
        "external_account" => external_account(&parse(text)?, &scope, cx),
        other => Err(MintError::BadMaterial(format!(
            "a Google credentials file of type {:?}; credd knows service_account, \
             authorized_user and external_account",
            super::scrub(other)
        ))),
    }
}

/// The file's `type`, read first so that each kind's fields are parsed (and named in errors)
/// by that kind alone.
fn kind(text: &str) -> Result<String, MintError> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    let kind: Kind = serde_json::from_str(text).map_err(|e| bad_json(&e))?;
    Ok(kind.kind)
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, MintError> {
    serde_json::from_str(text).map_err(|e| bad_json(&e))
}

fn bad_json(error: &serde_json::Error) -> MintError {
    MintError::BadMaterial(format!(
        "not a Google credentials file: {}",
        super::json_error(error)
    ))
}

/// A service-account key file (the fields this grant uses).
#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: Secret,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

fn service_account(key: &ServiceAccount, scope: &str, cx: &Context) -> Result<Minted, MintError> {
    let token_uri = key.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI);
    let now = super::now();
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &key.private_key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": key.client_email,
        "scope": scope,
        "aud": token_uri,
        "iat": now,
        "exp": now + LIFETIME,
    });
    let assertion = jwt::sign(&header, &claims, &jwt::rsa_key(key.private_key.expose())?)?;
    let form = form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", &assertion),
    ]);
    let hint = "the key may be deleted or its service account disabled: make a new key and \
                store it in credd";
    oauth_token(&super::client(cx)?, token_uri, &form, hint)
}

/// A gcloud user login (`application_default_credentials.json`).
#[derive(Deserialize)]
struct AuthorizedUser {
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    token_uri: Option<String>,
}

fn authorized_user(user: &AuthorizedUser, cx: &Context) -> Result<Minted, MintError> {
    let token_uri = user.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI);
    let form = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", &user.client_id),
        ("client_secret", user.client_secret.expose()),
        ("refresh_token", user.refresh_token.expose()),
    ]);
    let hint = "the login may be revoked or expired: run `gcloud auth application-default \
                login` and store the new file in credd";
    oauth_token(&super::client(cx)?, token_uri, &form, hint)
}

/// A workload identity federation file (the fields this grant uses).
#[derive(Deserialize)]
struct ExternalAccount {
    audience: String,
    subject_token_type: String,
    token_url: String,
    credential_source: CredentialSource,
    service_account_impersonation_url: Option<String>,
    #[serde(default)]
    service_account_impersonation: Impersonation,
}

#[derive(Deserialize, Default)]
struct Impersonation {
    token_lifetime_seconds: Option<u64>,
}

/// Where the subject token (the CI system's own token) is read.
#[derive(Deserialize)]
struct CredentialSource {
    file: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    format: Format,
    executable: Option<serde_json::Value>,
    environment_id: Option<String>,
}

/// How the subject token is written: the whole text, or one field of a JSON object.
#[derive(Deserialize, Default)]
struct Format {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    subject_token_field_name: Option<String>,
}

fn external_account(
    account: &ExternalAccount,
    scope: &str,
    cx: &Context,
) -> Result<Minted, MintError> {
    let client = super::client(cx)?;
    let subject = subject_token(&client, &account.credential_source)?;
    // With impersonation the STS token only has to be good for the impersonation call.
    let sts_scope = match account.service_account_impersonation_url {
        Some(_) => CLOUD_PLATFORM,
        None => scope,
    };
    let form = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", &account.audience),
        ("scope", sts_scope),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", &subject),
        ("subject_token_type", &account.subject_token_type),
    ]);
    let hint = "the CI token may not match the workload identity provider: check its \
                audience, issuer and attribute conditions";
    let sts = oauth_token(&client, &account.token_url, &form, hint)?;
    match &account.service_account_impersonation_url {
        Some(url) => {
            let lifetime = account
                .service_account_impersonation
                .token_lifetime_seconds
                .unwrap_or(LIFETIME);
            impersonate(&client, url, &sts.token, scope, lifetime)
        }
        None => Ok(sts),
    }
}

/// The subject token, from the file or URL the credentials file names.
fn subject_token(
    client: &Client,
    source: &CredentialSource,
) -> Result<Zeroizing<String>, MintError> {
    if source.executable.is_some() {
        return Err(MintError::BadMaterial(
            "executable-sourced credentials are not supported: use a file- or URL-sourced \
             credential configuration, or a `command` source running the executable"
                .into(),
        ));
    }
    if source
        .environment_id
        .as_deref()
        .is_some_and(|e| e.starts_with("aws"))
    {
        return Err(MintError::BadMaterial(
            "AWS-sourced credentials are not supported: use a file- or URL-sourced credential \
             configuration"
                .into(),
        ));
    }
    let (raw, origin) = match (&source.file, &source.url) {
        (Some(path), _) => (read_subject_file(path)?, path.clone()),
        (None, Some(url)) => (
            fetch_subject(client, url, &source.headers)?,
            super::endpoint_name(url),
        ),
        (None, None) => {
            return Err(MintError::BadMaterial(
                "credential_source names neither a file nor a url".into(),
            ));
        }
    };
    let text = std::str::from_utf8(&raw).map_err(|_| {
        MintError::BadMaterial(format!("the subject token in {origin} is not text"))
    })?;
    match source.format.kind.as_deref() {
        None | Some("text") => Ok(Zeroizing::new(text.trim().to_string())),
        Some("json") => {
            let field = source
                .format
                .subject_token_field_name
                .as_deref()
                .ok_or_else(|| {
                    MintError::BadMaterial("format json without subject_token_field_name".into())
                })?;
            json_field(text, field).ok_or_else(|| {
                MintError::BadMaterial(format!(
                    "{origin} has no string field {field:?} holding the subject token"
                ))
            })
        }
        Some(other) => Err(MintError::BadMaterial(format!(
            "credential_source format {:?}: use text or json",
            super::scrub(other)
        ))),
    }
}

fn read_subject_file(path: &str) -> Result<Zeroizing<Vec<u8>>, MintError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        MintError::BadMaterial(format!("cannot read the subject token file {path}: {e}"))
    };
    // Non-blocking, so that a FIFO in its place cannot hang the open; then only regular files.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(MintError::BadMaterial(format!(
            "the subject token file {path} is not a regular file"
        )));
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(http::BODY_LIMIT + 1));
    file.take(http::BODY_LIMIT as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(fail)?;
    if raw.len() > http::BODY_LIMIT {
        return Err(MintError::BadMaterial(format!(
            "the subject token file {path} is larger than {} bytes",
            http::BODY_LIMIT
        )));
    }
    Ok(raw)
}

fn fetch_subject(
    client: &Client,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, MintError> {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let response = client
        .get(url, &headers)
        .map_err(|e| super::unreachable_error(url, e))?;
    if response.status != 200 {
        return Err(MintError::Unreachable {
            endpoint: super::endpoint_name(url),
            reason: format!("the subject token URL answered HTTP {}", response.status),
        });
    }
    Ok(response.body)
}

/// The string field `name` of the JSON object `text`, read without copying the other fields.
fn json_field(text: &str, name: &str) -> Option<Zeroizing<String>> {
    struct One<'a>(&'a str);
    impl<'de> serde::de::DeserializeSeed<'de> for One<'_> {
        type Value = Option<Secret>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for One<'_> {
        type Value = Option<Secret>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == self.0 {
                    found = map.next_value::<Option<Secret>>()?;
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let secret = serde::de::DeserializeSeed::deserialize(One(name), &mut de).ok()??;
    Some(Zeroizing::new(secret.expose().to_string()))
}

/// Trades the STS token for the service account's own token (IAM Credentials API).
fn impersonate(
    client: &Client,
    url: &str,
    sts_token: &Secret,
    scope: &str,
    lifetime: u64,
) -> Result<Minted, MintError> {
    let mut bearer = Zeroizing::new(String::with_capacity(7 + sts_token.expose().len()));
    bearer.push_str("Bearer ");
    bearer.push_str(sts_token.expose());
    let body = json!({
        "scope": scope.split(' ').collect::<Vec<_>>(),
        "lifetime": format!("{lifetime}s"),
    })
    .to_string();
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let response = client
        .post(url, &headers, body.as_bytes())
        .map_err(|e| super::unreachable_error(url, e))?;
    let endpoint = super::endpoint_name(url);
    if response.status != 200 {
        let hint = "the pool's principal may lack roles/iam.workloadIdentityUser on the \
                    service account";
        return Err(refusal(endpoint, response.status, &response.body, hint));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        access_token: Secret,
        expire_time: String,
    }
    let answer: Answer =
        serde_json::from_slice(&response.body).map_err(|_| MintError::Unreachable {
            endpoint: endpoint.clone(),
            reason: "it answered without an accessToken and expireTime".into(),
        })?;
    let expires = super::rfc3339(&answer.expire_time).ok_or_else(|| MintError::Unreachable {
        endpoint,
        reason: "its expireTime is not an RFC 3339 time".into(),
    })?;
    Ok(Minted {
        username: USERNAME.into(),
        token: answer.access_token,
        expires,
    })
}

/// `application/x-www-form-urlencoded` of `pairs`, in a wiped buffer.
fn form(pairs: &[(&str, &str)]) -> Zeroizing<String> {
    let length: usize = pairs.iter().map(|(k, v)| k.len() + v.len() * 3 + 2).sum();
    let mut body = Zeroizing::new(String::with_capacity(length));
    let mut serializer = url::form_urlencoded::Serializer::new(&mut *body);
    serializer.extend_pairs(pairs);
    serializer.finish();
    body
}

/// POSTs an OAuth token request; the answer's access token, or the error it says.
fn oauth_token(client: &Client, url: &str, form: &str, hint: &str) -> Result<Minted, MintError> {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let response = client
        .post(url, &headers, form.as_bytes())
        .map_err(|e| super::unreachable_error(url, e))?;
    let endpoint = super::endpoint_name(url);
    if response.status != 200 {
        return Err(refusal(endpoint, response.status, &response.body, hint));
    }
    #[derive(Deserialize)]
    struct Answer {
        access_token: Secret,
        expires_in: serde_json::Value,
    }
    let answer: Answer =
        serde_json::from_slice(&response.body).map_err(|_| MintError::Unreachable {
            endpoint: endpoint.clone(),
            reason: "it answered without an access_token and expires_in".into(),
        })?;
    // `expires_in` is a number, or its text (Google has sent both).
    let lifetime =
        super::parse_seconds(&answer.expires_in).ok_or_else(|| MintError::Unreachable {
            endpoint,
            reason: "its expires_in is not a number of seconds".into(),
        })?;
    Ok(Minted {
        username: USERNAME.into(),
        token: answer.access_token,
        // A server may say any number: the expiry saturates rather than wrap into the past.
        expires: super::now().saturating_add(lifetime),
    })
}

/// A refusal as the error it means. OAuth errors are `{"error","error_description"}`; Google
/// APIs' are `{"error":{"message","status"}}`.
fn refusal(endpoint: String, status: u16, body: &[u8], hint: &str) -> MintError {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Error {
        OAuth {
            error: String,
            error_description: Option<String>,
        },
        Api {
            error: ApiError,
        },
    }
    #[derive(Deserialize)]
    struct ApiError {
        message: Option<String>,
        status: Option<String>,
    }
    let (code, description) = match serde_json::from_slice::<Error>(body) {
        Ok(Error::OAuth {
            error,
            error_description,
        }) => (error, error_description.unwrap_or_default()),
        Ok(Error::Api { error }) => (
            error.status.unwrap_or_default(),
            error.message.unwrap_or_default(),
        ),
        Err(_) if !(400..500).contains(&status) => {
            return MintError::Unreachable {
                endpoint,
                reason: format!("it answered HTTP {status}"),
            };
        }
        Err(_) => (format!("HTTP {status}"), String::new()),
    };
    let message = super::scrub(&format!("{code}: {description}"));
    if code == "invalid_grant" && is_about_time(&description) {
        MintError::ClockSkew { endpoint, message }
    } else if status >= 500 {
        MintError::Unreachable {
            endpoint,
            reason: format!("it answered HTTP {status}: {message}"),
        }
    } else {
        MintError::Rejected {
            endpoint,
            message: format!("{message} ({hint})"),
        }
    }
}

/// Whether an `invalid_grant` is about the assertion's times (Google: "Invalid JWT: Token must
/// be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp
/// values in the JWT claim.").
fn is_about_time(description: &str) -> bool {
    let description = description.to_ascii_lowercase();
    ["reasonable timeframe", "iat and exp", "clock"]
        .iter()
        .any(|needle| description.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_refusals_are_sorted_by_cause() {
        let skew = br#"{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}"#;
        assert!(matches!(
            refusal("e".into(), 400, skew, "h"),
            MintError::ClockSkew { .. }
        ));
        let revoked = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        match refusal("e".into(), 400, revoked, "make a new key") {
            MintError::Rejected { message, .. } => {
                assert_eq!(
                    message,
                    "invalid_grant: Invalid JWT Signature. (make a new key)"
                )
            }
            other => panic!("{other}"),
        }
        let api =
            br#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            refusal("e".into(), 403, api, "h"),
            MintError::Rejected { message, .. } if message.starts_with("PERMISSION_DENIED: Permission denied")
        ));
        assert!(matches!(
            refusal("e".into(), 502, b"<html>", "h"),
            MintError::Unreachable { .. }
        ));
    }

    #[test]
    fn json_subject_tokens_take_one_field() {
        let text = r#"{"value":"abc.def","count":3,"nested":{"value":"no"}}"#;
        assert_eq!(json_field(text, "value").unwrap().as_str(), "abc.def");
        assert!(json_field(text, "count").is_none());
        assert!(json_field(text, "missing").is_none());
        assert!(json_field("not json", "value").is_none());
    }

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("a", "x y"), ("b", "1+2/3=")]).as_str(),
            "a=x+y&b=1%2B2%2F3%3D"
        );
    }
}
