//! AWS Signature Version 4 for one request with a body in hand (header signing, not
//! presigned URLs), as AWS's "Create a signed AWS API request" documents it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The characters SigV4 leaves unencoded in a query: RFC 3986's unreserved ones.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What is signed: the request as it will be sent.
pub struct Request<'a> {
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The absolute path, already in its sent (encoded) form, e.g. `/v1/authorization-token`.
    pub path: &'a str,
    /// The query's parameters, not yet encoded; [`query_string`] gives the sent form.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header sent and signed (`host` and `x-amz-date` among them), any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub payload: &'a [u8],
}

/// The credential scope: the day (`YYYYMMDD`), region and service a signature is good for.
pub struct Scope<'a> {
    /// `YYYYMMDD`, the date part of `x-amz-date`.
    pub date: &'a str,
    /// E.g. `us-east-1`.
    pub region: &'a str,
    /// E.g. `codeartifact`.
    pub service: &'a str,
}

impl Scope<'_> {
    fn path(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The query, sorted and encoded as SigV4 signs it; send exactly this.
pub fn query_string(query: &[(&str, &str)]) -> String {
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY).to_string();
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// The lower-case hex SHA-256 of `bytes` (`x-amz-content-sha256`'s value for a body).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The canonical request (task 1).
pub fn canonical_request(request: &Request<'_>) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), collapse_spaces(value)))
        .collect();
    headers.sort();
    let canonical: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    format!(
        "{}\n{}\n{}\n{canonical}\n{}\n{}",
        request.method,
        request.path,
        query_string(request.query),
        signed_headers(&headers),
        sha256_hex(request.payload)
    )
}

/// The string to sign (task 2) for a request made at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub fn string_to_sign(amz_date: &str, scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope.path(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key (task 3): HMACs of the scope under `"AWS4" + secret`.
pub fn signing_key(secret: &str, scope: &Scope<'_>) -> Zeroizing<[u8; 32]> {
    let mut first = Zeroizing::new(String::with_capacity(4 + secret.len()));
    first.push_str("AWS4");
    first.push_str(secret);
    let date = hmac(first.as_bytes(), scope.date.as_bytes());
    let region = hmac(&*date, scope.region.as_bytes());
    let service = hmac(&*region, scope.service.as_bytes());
    hmac(&*service, b"aws4_request")
}

/// The `Authorization` header's value for `request`, made at `amz_date` (which its
/// `x-amz-date` header must say).
pub fn authorization(
    request: &Request<'_>,
    access_key_id: &str,
    secret: &str,
    scope: &Scope<'_>,
    amz_date: &str,
) -> String {
    let to_sign = string_to_sign(amz_date, scope, &canonical_request(request));
    let signature = hex(&*hmac(&*signing_key(secret, scope), to_sign.as_bytes()));
    let mut names: Vec<String> = request
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{}, SignedHeaders={}, Signature={signature}",
        scope.path(),
        names.join(";")
    )
}

fn signed_headers(sorted: &[(String, String)]) -> String {
    let names: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
    names.join(";")
}

/// A header value as signed: trimmed, inner runs of spaces made one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Published vectors: AWS's SigV4 test suite (`aws-sig-v4-test-suite`, credentials
/// AKIDEXAMPLE, 20150830T123600Z, us-east-1, service `service`) and the examples of AWS's
/// SigV4 documentation (IAM `ListUsers`, "Deriving the signing key").
#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const SUITE: Scope<'static> = Scope {
        date: "20150830",
        region: "us-east-1",
        service: "service",
    };
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Checks the canonical request, the hash in the string to sign, and the signature.
    fn check(request: &Request<'_>, scope: &Scope<'_>, creq: &str, creq_hash: &str, sig: &str) {
        assert_eq!(canonical_request(request), creq);
        assert_eq!(
            string_to_sign(DATE, scope, creq),
            format!("AWS4-HMAC-SHA256\n{DATE}\n{}\n{creq_hash}", scope.path())
        );
        let auth = authorization(request, KEY_ID, SECRET, scope, DATE);
        assert!(auth.ends_with(&format!("Signature={sig}")), "{auth}");
        assert!(auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}, SignedHeaders=",
            scope.path()
        )));
    }

    const VANILLA_HEADERS: &[(&str, &str)] =
        &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];

    #[test]
    fn suite_get_vanilla() {
        let request = Request {
            method: "GET",
            path: "/",
            query: &[],
            headers: VANILLA_HEADERS,
            payload: b"",
        };
        let creq = format!(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"
        );
        check(
            &request,
            &SUITE,
            &creq,
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn suite_post_vanilla() {
        let request = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: VANILLA_HEADERS,
            payload: b"",
        };
        let creq = format!(
            "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"
        );
        check(
            &request,
            &SUITE,
            &creq,
            "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        );
    }

    #[test]
    fn suite_get_vanilla_query_order_key_case() {
        let request = Request {
            method: "GET",
            path: "/",
            query: &[("Param2", "value2"), ("Param1", "value1")],
            headers: VANILLA_HEADERS,
            payload: b"",
        };
        let creq = format!(
            "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"
        );
        check(
            &request,
            &SUITE,
            &creq,
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        );
    }

    #[test]
    fn suite_post_x_www_form_urlencoded() {
        let request = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", DATE),
            ],
            payload: b"Param1=value1",
        };
        let creq = format!(
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        check(
            &request,
            &SUITE,
            &creq,
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
    }

    #[test]
    fn docs_iam_list_users() {
        let request = Request {
            method: "GET",
            path: "/",
            query: &[("Action", "ListUsers"), ("Version", "2010-05-08")],
            headers: &[
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("Host", "iam.amazonaws.com"),
                ("X-Amz-Date", DATE),
            ],
            payload: b"",
        };
        let creq = format!(
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:{DATE}\n\ncontent-type;host;x-amz-date\n{EMPTY_SHA256}"
        );
        let iam = Scope {
            date: "20150830",
            region: "us-east-1",
            service: "iam",
        };
        check(
            &request,
            &iam,
            &creq,
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
    }

    #[test]
    fn docs_deriving_the_signing_key() {
        let scope = Scope {
            date: "20120215",
            region: "us-east-1",
            service: "iam",
        };
        assert_eq!(
            hex(&*signing_key(SECRET, &scope)),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn query_values_are_encoded_as_signed() {
        assert_eq!(
            query_string(&[("b", "a b/c~"), ("a", "ü")]),
            "a=%C3%BC&b=a%20b%2Fc~"
        );
    }
}
