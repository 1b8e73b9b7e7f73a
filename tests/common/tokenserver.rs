//! Token endpoints written in the suite, over HTTPS on 127.0.0.1 with a test CA: Google's OAuth
//! token endpoint (JWT-bearer and refresh-token grants), its STS (RFC 8693 token exchange) and
//! IAM Credentials impersonation, a subject-token URL, and CodeArtifact's
//! `GetAuthorizationToken`. Each checks what the real one checks (the JWT's signature against
//! the key's public half, `iss`, `aud`, `scope`, `iat`/`exp`; SigV4 signatures re-derived from
//! the secret, stale `x-amz-date`), issues tokens with a lifetime the test sets, and remembers
//! them, so that a registry in front can accept only currently valid minted tokens.
//!
//! Routes: `POST /token` (and `POST /moved`, redirecting there), `POST /sts`, `POST /iam/{email}:generateAccessToken`,
//! `GET /subject`, `POST /v1/authorization-token`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use serde_json::{Value, json};
use sha2::Digest;

use super::httpserver::{Reply, Request, Response, Server, TestCa};

/// The audience an external-account file names and the STS expects.
pub const AUDIENCE: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/providers/test";
/// The header the subject-token URL requires, as a metadata server does.
pub const SUBJECT_HEADER: (&str, &str) = ("Metadata-Flavor", "Google");

/// One token the server issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token.
    pub token: String,
    /// Which grant: `jwt-bearer`, `refresh_token`, `sts`, `impersonation`, `codeartifact`.
    pub grant: &'static str,
    /// Who it was issued to (client email, client id, subject token, access key id).
    pub to: String,
    /// The scope or (CodeArtifact) the domain and duration asked for.
    pub scope: String,
    /// When it stops being valid, in Unix seconds (of the server's clock).
    pub expires: u64,
}

/// How a test source's subject token is handed over.
pub enum Subject<'a> {
    /// A file holding the token as text.
    File(&'a Path),
    /// The server's `/subject` URL, answering `{"id_token": …}`.
    Url,
}

/// A running token server; stopped when dropped.
pub struct TokenServer {
    state: Arc<State>,
    _server: Server,
    /// The test CA's certificate (PEM): the `ca_file` clients need.
    pub ca_file: PathBuf,
}

#[derive(Default)]
struct State {
    base: String,
    config: Mutex<Config>,
    issued: Mutex<Vec<Issued>>,
    /// Client email → (key id, public key).
    service_accounts: Mutex<BTreeMap<String, (String, rsa::PublicKey)>>,
    /// Client id → (client secret, refresh token).
    users: Mutex<BTreeMap<String, (String, String)>>,
    /// Subject tokens the STS accepts.
    subjects: Mutex<BTreeSet<String>>,
    /// The subject token `/subject` serves.
    url_subject: Mutex<Option<String>>,
    /// Access key id → (secret, session token).
    aws_keys: Mutex<BTreeMap<String, (String, Option<String>)>>,
    /// Key ids, emails, refresh tokens, access key ids no longer honoured.
    revoked: Mutex<BTreeSet<String>>,
}

struct Config {
    expires_in: u64,
    /// Seconds the server's clock is ahead of the machine's.
    clock_offset: i64,
    /// Answer nothing for this long instead.
    hang: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            expires_in: 3600,
            clock_offset: 0,
            hang: None,
        }
    }
}

impl TokenServer {
    /// Starts a server whose test CA's certificate is written under `dir`.
    pub fn start(dir: &Path) -> TokenServer {
        let ca = TestCa::new(dir);
        let mut state = None;
        let server = Server::start(Some(ca.server), |addr| {
            let made = Arc::new(State {
                base: format!("https://127.0.0.1:{}", addr.port()),
                ..State::default()
            });
            state = Some(Arc::clone(&made));
            Arc::new(move |request: &Request| made.reply(request))
        });
        TokenServer {
            state: state.unwrap(),
            _server: server,
            ca_file: ca.ca_file,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.state.base
    }

    /// Its Google token endpoint (`token_uri`).
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.state.base)
    }

    /// Makes a service account with a fresh 2048-bit key; its key file's JSON, PKCS#8 as
    /// Google issues it, or PKCS#1 when `pkcs1`.
    pub fn service_account(&self, email: &str, pkcs1: bool) -> String {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let kid = random_hex(20);
        let pem = if pkcs1 {
            key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string()
        } else {
            key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
        };
        self.state
            .service_accounts
            .lock()
            .unwrap()
            .insert(email.to_string(), (kid.clone(), key.to_public_key()));
        json!({
            "type": "service_account",
            "project_id": "credd-test",
            "private_key_id": kid,
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    /// Makes a user login; its `authorized_user` file's JSON.
    pub fn user(&self) -> String {
        let (id, secret, refresh) = (random_hex(8), random_hex(12), random_hex(24));
        self.state
            .users
            .lock()
            .unwrap()
            .insert(id.clone(), (secret.clone(), refresh.clone()));
        json!({
            "type": "authorized_user",
            "client_id": id,
            "client_secret": secret,
            "refresh_token": refresh,
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    /// Makes a subject token the STS accepts (a CI system's identity token).
    pub fn subject_token(&self) -> String {
        let token = format!("ci.{}", random_hex(24));
        self.state.subjects.lock().unwrap().insert(token.clone());
        token
    }

    /// Sets the subject token `/subject` serves.
    pub fn serve_subject(&self, token: &str) {
        *self.state.url_subject.lock().unwrap() = Some(token.to_string());
    }

    /// An `external_account` file's JSON reading its subject token from `subject`, and
    /// impersonating service account `impersonate` when given.
    pub fn external_account(&self, subject: Subject<'_>, impersonate: Option<&str>) -> String {
        let source = match subject {
            Subject::File(path) => json!({"file": path, "format": {"type": "text"}}),
            Subject::Url => json!({
                "url": format!("{}/subject", self.state.base),
                "headers": {SUBJECT_HEADER.0: SUBJECT_HEADER.1},
                "format": {"type": "json", "subject_token_field_name": "id_token"},
            }),
        };
        let mut file = json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}/sts", self.state.base),
            "credential_source": source,
        });
        if let Some(email) = impersonate {
            file["service_account_impersonation_url"] = json!(format!(
                "{}/iam/{email}:generateAccessToken",
                self.state.base
            ));
        }
        file.to_string()
    }

    /// Makes an AWS access key (with a session token when `session`); the material JSON.
    pub fn aws_key(&self, session: bool) -> String {
        let id = format!("AKIA{}", random_hex(8).to_uppercase());
        let secret = random_hex(20);
        let token = session.then(|| random_hex(32));
        self.state
            .aws_keys
            .lock()
            .unwrap()
            .insert(id.clone(), (secret.clone(), token.clone()));
        let mut material = json!({"access_key_id": id, "secret_access_key": secret});
        if let Some(token) = token {
            material["session_token"] = json!(token);
        }
        material.to_string()
    }

    /// Every token issued so far, in order.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    /// Whether `token` was issued here, has not expired and its holder is not revoked.
    pub fn is_valid(&self, token: &str) -> bool {
        self.state.is_valid(token)
    }

    /// [`TokenServer::is_valid`] for another server's threads (a registry in front, which
    /// accepts only currently valid minted tokens).
    pub fn validator(&self) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
        let state = Arc::clone(&self.state);
        Arc::new(move |token| state.is_valid(token))
    }

    /// Sets the lifetime of the tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.config.lock().unwrap().expires_in = seconds;
    }

    /// Stops honouring `who`: a client email, a key id, a client id, an access key id, or a
    /// subject token; tokens already issued to it stop being valid.
    pub fn revoke(&self, who: &str) {
        self.state.revoked.lock().unwrap().insert(who.to_string());
    }

    /// Puts the server's clock `seconds` ahead of the machine's (negative: behind).
    pub fn set_clock_offset(&self, seconds: i64) {
        self.state.config.lock().unwrap().clock_offset = seconds;
    }

    /// Makes every request go unanswered for `how_long` (`None`: answer again).
    pub fn hang(&self, how_long: Option<Duration>) {
        self.state.config.lock().unwrap().hang = how_long;
    }
}

/// An OAuth error answer.
fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

const SKEW_TEXT: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                         reasonable timeframe. Check your iat and exp values in the JWT claim.";

impl State {
    fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        real.saturating_add_signed(self.config.lock().unwrap().clock_offset)
    }

    fn is_valid(&self, token: &str) -> bool {
        let now = self.now();
        let revoked = self.revoked.lock().unwrap();
        self.issued
            .lock()
            .unwrap()
            .iter()
            .any(|i| i.token == token && i.expires > now && !revoked.contains(&i.to))
    }

    fn reply(&self, request: &Request) -> Reply {
        if let Some(how_long) = self.config.lock().unwrap().hang {
            return Reply::Hang(how_long);
        }
        let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
        let response = match (request.method.as_str(), path) {
            ("POST", "/token") => self.token(&form(&request.body)),
            ("POST", "/moved") => {
                let mut moved = Response::text(307, "moved\n");
                moved
                    .headers
                    .push(("Location", format!("{}/token", self.base)));
                moved
            }
            ("POST", "/sts") => self.sts(&form(&request.body)),
            ("GET", "/subject") => self.subject(request),
            ("POST", "/v1/authorization-token") => self.codeartifact(request, query),
            ("POST", iam) if iam.starts_with("/iam/") => self.impersonate(request, iam),
            _ => Response::text(404, "not found\n"),
        };
        Reply::Send(response)
    }

    fn issue(&self, grant: &'static str, to: &str, scope: &str) -> (String, u64) {
        let expires_in = self.config.lock().unwrap().expires_in;
        let token = format!("ya29.{grant}.{}", random_hex(24));
        self.issued.lock().unwrap().push(Issued {
            token: token.clone(),
            grant,
            to: to.to_string(),
            scope: scope.to_string(),
            expires: self.now().saturating_add(expires_in),
        });
        (token, expires_in)
    }

    fn is_revoked(&self, who: &str) -> bool {
        self.revoked.lock().unwrap().contains(who)
    }

    fn token(&self, form: &BTreeMap<String, String>) -> Response {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match get("grant_type") {
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => self.jwt_bearer(get("assertion")),
            "refresh_token" => {
                self.refresh(get("client_id"), get("client_secret"), get("refresh_token"))
            }
            other => oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            ),
        }
    }

    /// What Google checks of a JWT-bearer assertion.
    fn jwt_bearer(&self, assertion: &str) -> Response {
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return oauth_error(400, "invalid_grant", "Invalid JWT: not three parts.");
        };
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).ok()?).ok()
        };
        let (Some(header), Some(claims), Ok(signature)) = (
            decode(header),
            decode(claims),
            Base64UrlUnpadded::decode_vec(signature),
        ) else {
            return oauth_error(400, "invalid_grant", "Invalid JWT: not base64url JSON.");
        };
        if header["alg"] != "RS256" || header["typ"] != "JWT" {
            return oauth_error(400, "invalid_grant", "Invalid JWT: alg must be RS256.");
        }
        let iss = claims["iss"].as_str().unwrap_or("");
        let Some((kid, public)) = self.service_accounts.lock().unwrap().get(iss).cloned() else {
            return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
        };
        let signed = &assertion[..assertion.rfind('.').unwrap()];
        if header["kid"] != kid.as_str()
            || self.is_revoked(&kid)
            || public
                .pkcs1v15_verify::<Sha256>(signed.as_bytes(), &signature)
                .is_err()
        {
            return oauth_error(400, "invalid_grant", "Invalid JWT Signature.");
        }
        if self.is_revoked(iss) {
            return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
        }
        if claims["aud"] != format!("{}/token", self.base).as_str() {
            return oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.");
        }
        let scope = claims["scope"].as_str().unwrap_or("");
        if scope.is_empty() || !scope.split(' ').all(|s| s.starts_with("https://")) {
            return oauth_error(
                400,
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            );
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
            return oauth_error(400, "invalid_grant", SKEW_TEXT);
        };
        let now = self.now();
        if exp <= iat || exp - iat > 3600 || iat > now + 60 || exp <= now {
            return oauth_error(400, "invalid_grant", SKEW_TEXT);
        }
        let (token, expires_in) = self.issue("jwt-bearer", iss, scope);
        Response::json(
            200,
            json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}),
        )
    }

    fn refresh(&self, client_id: &str, client_secret: &str, refresh_token: &str) -> Response {
        let users = self.users.lock().unwrap();
        let Some((secret, refresh)) = users.get(client_id) else {
            return oauth_error(401, "invalid_client", "The OAuth client was not found.");
        };
        if secret != client_secret {
            return oauth_error(401, "invalid_client", "Unauthorized");
        }
        if refresh != refresh_token || self.is_revoked(refresh) {
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
        }
        drop(users);
        let (token, expires_in) = self.issue("refresh_token", client_id, "");
        // Google sends expires_in as a number; its text form is accepted too, so send that here.
        Response::json(
            200,
            json!({"access_token": token, "expires_in": expires_in.to_string(), "token_type": "Bearer"}),
        )
    }

    /// RFC 8693 token exchange, as Google's STS does it.
    fn sts(&self, form: &BTreeMap<String, String>) -> Response {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
            || get("requested_token_type") != "urn:ietf:params:oauth:token-type:access_token"
            || get("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt"
        {
            return oauth_error(400, "invalid_request", "Invalid token exchange request.");
        }
        if get("audience") != AUDIENCE {
            return oauth_error(
                400,
                "invalid_target",
                "The target service indicated by the \"audience\" parameters is invalid.",
            );
        }
        let subject = get("subject_token");
        if !self.subjects.lock().unwrap().contains(subject) || self.is_revoked(subject) {
            return oauth_error(400, "invalid_grant", "The subject token is invalid.");
        }
        let (token, expires_in) = self.issue("sts", subject, get("scope"));
        Response::json(
            200,
            json!({
                "access_token": token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": expires_in,
            }),
        )
    }

    fn subject(&self, request: &Request) -> Response {
        if request.header(SUBJECT_HEADER.0) != Some(SUBJECT_HEADER.1) {
            return Response::text(403, "missing the metadata header\n");
        }
        match &*self.url_subject.lock().unwrap() {
            Some(token) => Response::json(200, json!({"id_token": token, "other": 1})),
            None => Response::text(404, "no subject token\n"),
        }
    }

    /// IAM Credentials `generateAccessToken` with an STS token.
    fn impersonate(&self, request: &Request, path: &str) -> Response {
        let api_error = |status: u16, kind: &str, message: &str| {
            Response::json(
                status,
                json!({"error": {"code": status, "message": message, "status": kind}}),
            )
        };
        let Some(email) = path
            .strip_prefix("/iam/")
            .and_then(|p| p.strip_suffix(":generateAccessToken"))
        else {
            return api_error(404, "NOT_FOUND", "no such method");
        };
        let bearer = request
            .header("Authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        let valid_sts = self.is_valid(bearer)
            && (self.issued.lock().unwrap())
                .iter()
                .any(|i| i.token == bearer && i.grant == "sts");
        if !valid_sts {
            return api_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        if self.is_revoked(email) {
            return api_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            );
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let (Some(scopes), Some(lifetime)) = (body["scope"].as_array(), body["lifetime"].as_str())
        else {
            return api_error(400, "INVALID_ARGUMENT", "scope and lifetime are required");
        };
        let lifetime: u64 = lifetime
            .strip_suffix('s')
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if scopes.is_empty() || !(1..=3600).contains(&lifetime) {
            return api_error(400, "INVALID_ARGUMENT", "bad scope or lifetime");
        }
        let scope: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
        let (token, expires_in) = self.issue("impersonation", email, &scope.join(" "));
        let expire = time::OffsetDateTime::from_unix_timestamp(
            (self.now() + expires_in.min(lifetime)) as i64,
        )
        .unwrap();
        let expire = expire
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        Response::json(200, json!({"accessToken": token, "expireTime": expire}))
    }

    /// CodeArtifact `GetAuthorizationToken`, verifying the SigV4 signature as AWS does.
    fn codeartifact(&self, request: &Request, query: &str) -> Response {
        let aws_error = |kind: &str, message: &str| {
            let mut response = Response::json(403, json!({"__type": kind, "message": message}));
            response
                .headers
                .push(("x-amzn-ErrorType", kind.to_string()));
            response
        };
        let Some(signed) = verify_sigv4(self, request, query) else {
            return aws_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            );
        };
        let (access_key_id, amz_date) = match signed {
            Ok(signed) => signed,
            Err(response) => return response,
        };
        let now = self.now();
        let sent = parse_amz_date(&amz_date).unwrap_or(0);
        if sent.abs_diff(now) > 300 {
            let now = format_amz_date(now);
            return aws_error(
                "InvalidSignatureException",
                &format!(
                    "Signature expired: {amz_date} is now earlier than {now} ({now} - 5 min.)"
                ),
            );
        }
        let params = form(query.as_bytes());
        let duration: u64 = params
            .get("duration")
            .and_then(|d| d.parse().ok())
            .unwrap_or(43200);
        let (Some(domain), Some(_owner)) = (params.get("domain"), params.get("domain-owner"))
        else {
            return Response::json(
                400,
                json!({"message": "domain and domain-owner are required"}),
            );
        };
        if duration != 0 && !(900..=43200).contains(&duration) {
            return Response::json(400, json!({"message": "duration out of range"}));
        }
        let (token, expires_in) = self.issue(
            "codeartifact",
            &access_key_id,
            &format!("{domain} {duration}"),
        );
        Response::json(
            200,
            json!({"authorizationToken": token, "expiration": (now + expires_in) as f64}),
        )
    }
}

/// Re-derives the request's SigV4 signature with the key's secret. `None`: the signature does
/// not match; `Err`: another refusal; `Ok((access key id, x-amz-date))`.
fn verify_sigv4(
    state: &State,
    request: &Request,
    query: &str,
) -> Option<Result<(String, String), Response>> {
    let unknown = || {
        Response::json(
            403,
            json!({"__type": "UnrecognizedClientException", "message": "The security token included in the request is invalid."}),
        )
    };
    let auth = request
        .header("Authorization")?
        .strip_prefix("AWS4-HMAC-SHA256 ")?;
    let fields: BTreeMap<&str, &str> = auth.split(", ").filter_map(|f| f.split_once('=')).collect();
    let credential: Vec<&str> = fields.get("Credential")?.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = credential[..] else {
        return None;
    };
    let Some((secret, session)) = state.aws_keys.lock().unwrap().get(key_id).cloned() else {
        return Some(Err(unknown()));
    };
    if state.is_revoked(key_id) || session.as_deref() != request.header("x-amz-security-token") {
        return Some(Err(unknown()));
    }
    let amz_date = request.header("x-amz-date")?;
    let payload_hash = hex(&sha2::Sha256::digest(&request.body));
    if service != "codeartifact"
        || !amz_date.starts_with(date)
        || request.header("x-amz-content-sha256") != Some(&payload_hash)
    {
        return None;
    }
    let signed_headers = *fields.get("SignedHeaders")?;
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return None;
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let value = request.header(name)?;
        canonical_headers.push_str(&format!(
            "{name}:{}\n",
            value.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    // Sorted by name, then value, as sent (encoded): `domain` before `domain-owner`.
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let path = request.path.split('?').next().unwrap();
    let creq = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method,
        pairs.join("&")
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&sha2::Sha256::digest(creq.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, to_sign.as_bytes()));
    (fields.get("Signature") == Some(&expected.as_str()))
        .then(|| Ok((key_id.to_string(), amz_date.to_string())))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap();
    hex(&buf)
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

fn parse_amz_date(text: &str) -> Option<u64> {
    let at = time::PrimitiveDateTime::parse(text, AMZ_DATE).ok()?;
    u64::try_from(at.assume_utc().unix_timestamp()).ok()
}

fn format_amz_date(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap()
        .format(AMZ_DATE)
        .unwrap()
}
