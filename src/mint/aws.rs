//! AWS CodeArtifact authorization tokens: a SigV4-signed `GetAuthorizationToken`.

use credd_protocol::Secret;
use serde::Deserialize;

use super::{Context, MintError, Minted, sigv4};

/// The lifetime asked for when the entry names none: CodeArtifact's maximum, 12 hours.
const DEFAULT_DURATION: u32 = 43_200;

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

/// The entry's material: an access key pair, and a session token for temporary credentials.
#[derive(Deserialize)]
struct KeyPair {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

/// CodeArtifact's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    authorization_token: Secret,
    expiration: serde_json::Value,
}

/// Mints a CodeArtifact token for `target` with the key pair in `material`.
pub fn mint(target: &Target<'_>, material: &Secret, cx: &Context) -> Result<Minted, MintError> {
    let keys: KeyPair = serde_json::from_str(material.expose()).map_err(|e| {
        MintError::BadMaterial(format!(
            "expected JSON {{\"access_key_id\", \"secret_access_key\", \"session_token\"?}}: {}",
            super::json_error(&e)
        ))
    })?;
    // The region becomes part of the default host name: it must not be able to change the host.
    if target.region.is_empty()
        || !target
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(MintError::BadMaterial(format!(
            "region {:?} is not an AWS region name like eu-west-1",
            super::scrub(target.region)
        )));
    }
    let duration = target.duration.unwrap_or(DEFAULT_DURATION);
    if duration != 0 && !(900..=43_200).contains(&duration) {
        return Err(MintError::BadMaterial(format!(
            "duration {duration} is not 0 (the session's) or 900 to 43200 seconds"
        )));
    }
    let base = match target.endpoint {
        Some(endpoint) => endpoint.trim_end_matches('/').to_string(),
        None => format!("https://codeartifact.{}.amazonaws.com", target.region),
    };
    let host = url::Url::parse(&base)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
        })
        .ok_or_else(|| MintError::BadMaterial(format!("endpoint {base} is not a URL")))?;
    let duration = duration.to_string();
    let query = [
        ("domain", target.domain),
        ("domain-owner", target.owner),
        ("duration", duration.as_str()),
    ];
    let path = "/v1/authorization-token";
    let url = format!("{base}{path}?{}", sigv4::query_string(&query));
    let amz_date = amz_date(super::now());
    let payload_hash = sigv4::sha256_hex(b"");
    let mut headers = vec![
        ("host", host.as_str()),
        ("x-amz-date", amz_date.as_str()),
        ("x-amz-content-sha256", payload_hash.as_str()),
    ];
    if let Some(token) = &keys.session_token {
        headers.push(("x-amz-security-token", token.expose()));
    }
    let scope = sigv4::Scope {
        date: &amz_date[..8],
        region: target.region,
        service: "codeartifact",
    };
    let request = sigv4::Request {
        method: "POST",
        path,
        query: &query,
        headers: &headers,
        payload: b"",
    };
    let authorization = sigv4::authorization(
        &request,
        &keys.access_key_id,
        keys.secret_access_key.expose(),
        &scope,
        &amz_date,
    );
    // ureq sets Host itself, from the URL: the same value as signed.
    let mut sent: Vec<(&str, &str)> = headers.into_iter().filter(|(n, _)| *n != "host").collect();
    sent.push(("authorization", &authorization));
    let response = super::client(cx)?
        .post(&url, &sent, b"")
        .map_err(|e| super::unreachable_error(&url, e))?;
    answer(&url, response)
}

/// The token from CodeArtifact's answer, or the error it says.
fn answer(url: &str, response: crate::http::Response) -> Result<Minted, MintError> {
    let endpoint = super::endpoint_name(url);
    if response.status != 200 {
        return Err(refusal(endpoint, response.status, &response.body));
    }
    let answer: Answer =
        serde_json::from_slice(&response.body).map_err(|_| MintError::Unreachable {
            endpoint: endpoint.clone(),
            reason: "it answered without an authorizationToken and expiration".into(),
        })?;
    let expires =
        super::parse_expiry(&answer.expiration).ok_or_else(|| MintError::Unreachable {
            endpoint,
            reason: "its expiration is neither Unix seconds nor an RFC 3339 time".into(),
        })?;
    Ok(Minted {
        username: credd_protocol::AWS_USERNAME.into(),
        token: answer.authorization_token,
        expires,
    })
}

/// AWS's error answer (`{"message"}` or `{"Message"}`, `__type`) as the error it means.
fn refusal(endpoint: String, status: u16, body: &[u8]) -> MintError {
    #[derive(Deserialize, Default)]
    struct Error {
        #[serde(alias = "Message")]
        message: Option<String>,
        #[serde(rename = "__type")]
        kind: Option<String>,
    }
    let error: Error = serde_json::from_slice(body).unwrap_or_default();
    let kind = error
        .kind
        .as_deref()
        .map(|k| k.rsplit('#').next().unwrap_or(k));
    let message = match (kind, error.message.as_deref()) {
        (Some(kind), Some(message)) => super::scrub(&format!("{kind}: {message}")),
        (None, Some(message)) => super::scrub(message),
        (Some(kind), None) => super::scrub(kind),
        (None, None) => format!("HTTP {status}"),
    };
    // AWS allows 5 minutes of skew; past that it names the times it compared.
    let clock = [
        "Signature expired",
        "Signature not yet current",
        "RequestTimeTooSkewed",
    ];
    if clock.iter().any(|c| message.contains(c)) {
        MintError::ClockSkew { endpoint, message }
    } else if (400..500).contains(&status) {
        MintError::Rejected {
            endpoint,
            message: format!("{message} (check the access key, its permissions and the domain)"),
        }
    } else {
        MintError::Unreachable {
            endpoint,
            reason: format!("it answered {message}"),
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` for Unix time `unix`.
fn amz_date(unix: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    at.format(&format).expect("a date formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    }

    #[test]
    fn errors_are_sorted_by_cause() {
        let skew = br#"{"message":"Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z (20150830T124600Z - 5 min.)"}"#;
        assert!(matches!(
            refusal("e".into(), 403, skew),
            MintError::ClockSkew { .. }
        ));
        let denied =
            br#"{"__type":"com.amazon#AccessDeniedException","message":"User is not authorized"}"#;
        match refusal("e".into(), 403, denied) {
            MintError::Rejected { message, .. } => {
                assert!(message.starts_with("AccessDeniedException: User is not authorized"))
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            refusal("e".into(), 503, b"<html>"),
            MintError::Unreachable { .. }
        ));
    }
}
