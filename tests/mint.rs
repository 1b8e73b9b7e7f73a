//! Minting against the suite's token endpoints (tests/common/tokenserver.rs) over HTTPS with a
//! test CA: every grant, the refusals, the clock, TLS trust and the deadline.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::registry::Registry;
use common::tokenserver::{Subject, TokenServer};
use credd::mint::{Context, MintError, Minted, mint};
use credd_protocol::{Secret, Source};

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

fn server() -> (tempfile::TempDir, TokenServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TokenServer::start(dir.path());
    (dir, server)
}

fn cx(server: &TokenServer) -> Context {
    Context {
        ca_file: Some(server.ca_file.clone()),
        deadline: Instant::now() + Duration::from_secs(20),
    }
}

fn gcp(scopes: &[&str]) -> Source {
    Source::Gcp {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

fn codeartifact(server: &TokenServer, duration: Option<u32>) -> Source {
    Source::AwsCodeartifact {
        domain: "my-domain".into(),
        owner: "111122223333".into(),
        region: "eu-west-1".into(),
        duration,
        endpoint: Some(server.base_url().to_string()),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks a minted token is one the server issued and still honours, by `grant`.
fn assert_minted(server: &TokenServer, minted: &Minted, username: &str, grant: &str) {
    assert_eq!(minted.username, username);
    assert!(server.is_valid(minted.token.expose()), "not a valid token");
    let issued = server.issued();
    let last = issued.last().unwrap();
    assert_eq!(last.token, minted.token.expose());
    assert_eq!(last.grant, grant);
    assert!(minted.expires.abs_diff(last.expires) <= 5, "expiry differs");
}

fn mint_err(source: &Source, material: &str, cx: &Context) -> MintError {
    match mint(source, &Secret::new(material), cx) {
        Ok(_) => panic!("minted where it should have failed"),
        Err(e) => e,
    }
}

#[test]
fn service_account_key_mints_an_access_token() {
    let (_dir, server) = server();
    let key = server.service_account("bot@credd-test.iam.gserviceaccount.com", false);
    let minted = mint(&gcp(&[]), &Secret::new(&key), &cx(&server)).unwrap();
    assert_minted(&server, &minted, "oauth2accesstoken", "jwt-bearer");
    let issued = server.issued();
    assert_eq!(issued[0].to, "bot@credd-test.iam.gserviceaccount.com");
    assert_eq!(issued[0].scope, CLOUD_PLATFORM);
    assert!(minted.expires.abs_diff(now() + 3600) <= 5);
}

#[test]
fn pkcs1_keys_and_several_scopes() {
    let (_dir, server) = server();
    let key = server.service_account("old@credd-test.iam.gserviceaccount.com", true);
    let scopes = [
        CLOUD_PLATFORM,
        "https://www.googleapis.com/auth/devstorage.read_only",
    ];
    let minted = mint(&gcp(&scopes), &Secret::new(&key), &cx(&server)).unwrap();
    assert_minted(&server, &minted, "oauth2accesstoken", "jwt-bearer");
    assert_eq!(server.issued()[0].scope, scopes.join(" "));
}

#[test]
fn short_lived_tokens_expire_and_each_mint_is_new() {
    let (_dir, server) = server();
    server.set_expires_in(2);
    let key =
        Secret::new(&server.service_account("short@credd-test.iam.gserviceaccount.com", false));
    let first = mint(&gcp(&[]), &key, &cx(&server)).unwrap();
    assert!(first.expires <= now() + 3);
    let second = mint(&gcp(&[]), &key, &cx(&server)).unwrap();
    assert_ne!(first.token.expose(), second.token.expose());
    common::wait_until("the first token to expire", || {
        !server.is_valid(first.token.expose())
    });
}

/// An `expires_in` past any time: the token is served, its expiry as far as it goes.
#[test]
fn a_lifetime_past_any_time_does_not_overflow() {
    let (_dir, server) = server();
    server.set_expires_in(u64::MAX);
    let key =
        Secret::new(&server.service_account("long@credd-test.iam.gserviceaccount.com", false));
    let minted = mint(&gcp(&[]), &key, &cx(&server)).unwrap();
    assert_eq!(minted.expires, u64::MAX);
}

#[test]
fn a_revoked_key_is_rejected_without_echoing_secrets() {
    let (_dir, server) = server();
    let key = server.service_account("gone@credd-test.iam.gserviceaccount.com", false);
    let kid = serde_json::from_str::<serde_json::Value>(&key).unwrap()["private_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.revoke(&kid);
    let error = mint_err(&gcp(&[]), &key, &cx(&server));
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("Invalid JWT Signature"), "{text}");
    assert!(text.contains("make a new key"), "{text}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("eyJ"),
        "{text}"
    );
}

#[test]
fn a_clock_off_by_hours_is_named() {
    let (_dir, server) = server();
    let key = server.service_account("late@credd-test.iam.gserviceaccount.com", false);
    server.set_clock_offset(-7200);
    let error = mint_err(&gcp(&[]), &key, &cx(&server));
    assert!(matches!(error, MintError::ClockSkew { .. }), "{error}");
    assert!(error.to_string().contains("clock"), "{error}");
}

#[test]
fn user_login_refreshes_and_a_revoked_login_is_rejected() {
    let (_dir, server) = server();
    let login = server.user();
    let minted = mint(&gcp(&[]), &Secret::new(&login), &cx(&server)).unwrap();
    assert_minted(&server, &minted, "oauth2accesstoken", "refresh_token");
    let file: serde_json::Value = serde_json::from_str(&login).unwrap();
    server.revoke(file["refresh_token"].as_str().unwrap());
    let error = mint_err(&gcp(&[]), &login, &cx(&server));
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("expired or revoked") && text.contains("gcloud auth"),
        "{text}"
    );
    for secret in ["refresh_token", "client_secret"] {
        assert!(!text.contains(file[secret].as_str().unwrap()), "{text}");
    }
}

#[test]
fn workload_identity_with_a_file_subject_token() {
    let (dir, server) = server();
    let subject = server.subject_token();
    let path = dir.path().join("oidc-token");
    std::fs::write(&path, format!("{subject}\n")).unwrap();
    let file = server.external_account(Subject::File(&path), None);
    let minted = mint(&gcp(&[]), &Secret::new(&file), &cx(&server)).unwrap();
    assert_minted(&server, &minted, "oauth2accesstoken", "sts");
    assert_eq!(server.issued()[0].to, subject);
    assert_eq!(server.issued()[0].scope, CLOUD_PLATFORM);

    server.revoke(&subject);
    let error = mint_err(&gcp(&[]), &file, &cx(&server));
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    assert!(!error.to_string().contains(&subject), "{error}");

    // A FIFO in the token file's place (nothing writing) is refused, not waited on.
    std::fs::remove_file(&path).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let error = mint_err(&gcp(&[]), &file, &cx(&server));
    assert!(
        matches!(&error, MintError::BadMaterial(m) if m.contains("not a regular file")),
        "{error}"
    );
}

#[test]
fn workload_identity_with_a_url_subject_token_and_impersonation() {
    let (_dir, server) = server();
    let subject = server.subject_token();
    server.serve_subject(&subject);
    let email = "deployer@credd-test.iam.gserviceaccount.com";
    let file = server.external_account(Subject::Url, Some(email));
    let scopes = ["https://www.googleapis.com/auth/devstorage.read_only"];
    let minted = mint(&gcp(&scopes), &Secret::new(&file), &cx(&server)).unwrap();
    assert_minted(&server, &minted, "oauth2accesstoken", "impersonation");
    let issued = server.issued();
    assert_eq!(
        (issued[0].grant, issued[0].to.as_str()),
        ("sts", subject.as_str())
    );
    assert_eq!(
        (issued[1].to.as_str(), issued[1].scope.as_str()),
        (email, scopes[0])
    );

    server.revoke(email);
    let error = mint_err(&gcp(&scopes), &file, &cx(&server));
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    assert!(error.to_string().contains("PERMISSION_DENIED"), "{error}");
}

#[test]
fn unsupported_credential_sources_are_named() {
    let (_dir, server) = server();
    let mut file: serde_json::Value =
        serde_json::from_str(&server.external_account(Subject::Url, None)).unwrap();
    file["credential_source"] = serde_json::json!({
        "executable": {"command": "/bin/true", "timeout_millis": 5000}
    });
    let error = mint_err(&gcp(&[]), &file.to_string(), &cx(&server));
    assert!(
        matches!(&error, MintError::BadMaterial(m) if m.contains("executable")),
        "{error}"
    );
    file["credential_source"] = serde_json::json!({
        "environment_id": "aws1",
        "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
    });
    let error = mint_err(&gcp(&[]), &file.to_string(), &cx(&server));
    assert!(
        matches!(&error, MintError::BadMaterial(m) if m.contains("AWS")),
        "{error}"
    );
    let error = mint_err(
        &gcp(&[]),
        r#"{"type":"impersonated_service_account"}"#,
        &cx(&server),
    );
    assert!(matches!(error, MintError::BadMaterial(_)), "{error}");
}

#[test]
fn codeartifact_tokens_with_and_without_a_session_token() {
    let (_dir, server) = server();
    for session in [false, true] {
        let keys = server.aws_key(session);
        let minted = mint(
            &codeartifact(&server, None),
            &Secret::new(&keys),
            &cx(&server),
        )
        .unwrap();
        assert_minted(&server, &minted, "aws", "codeartifact");
        assert_eq!(server.issued().last().unwrap().scope, "my-domain 43200");
    }
    let keys = server.aws_key(false);
    mint(
        &codeartifact(&server, Some(900)),
        &Secret::new(&keys),
        &cx(&server),
    )
    .unwrap();
    assert_eq!(server.issued().last().unwrap().scope, "my-domain 900");
}

#[test]
fn codeartifact_refusals() {
    let (_dir, server) = server();
    let keys = server.aws_key(true);
    let error = mint_err(&codeartifact(&server, Some(100)), &keys, &cx(&server));
    assert!(matches!(error, MintError::BadMaterial(_)), "{error}");
    let elsewhere = Source::AwsCodeartifact {
        domain: "d".into(),
        owner: "1".into(),
        region: "example.com/".into(),
        duration: None,
        endpoint: None,
    };
    let error = mint_err(&elsewhere, &keys, &cx(&server));
    assert!(matches!(error, MintError::BadMaterial(_)), "{error}");
    let error = mint_err(
        &codeartifact(&server, None),
        r#"{"access_key_id":"A"}"#,
        &cx(&server),
    );
    assert!(
        matches!(&error, MintError::BadMaterial(m) if m.contains("secret_access_key")),
        "{error}"
    );

    let mut wrong: serde_json::Value = serde_json::from_str(&keys).unwrap();
    wrong["secret_access_key"] = "not-the-secret".into();
    let error = mint_err(
        &codeartifact(&server, None),
        &wrong.to_string(),
        &cx(&server),
    );
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    assert!(error.to_string().contains("signature"), "{error}");

    server.set_clock_offset(3600);
    let error = mint_err(&codeartifact(&server, None), &keys, &cx(&server));
    assert!(matches!(error, MintError::ClockSkew { .. }), "{error}");
    server.set_clock_offset(0);

    let id = serde_json::from_str::<serde_json::Value>(&keys).unwrap()["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.revoke(&id);
    let error = mint_err(&codeartifact(&server, None), &keys, &cx(&server));
    assert!(matches!(error, MintError::Rejected { .. }), "{error}");
    let secret = serde_json::from_str::<serde_json::Value>(&keys).unwrap()["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!error.to_string().contains(&secret), "{error}");
}

#[test]
fn a_registry_in_front_accepts_only_currently_valid_minted_tokens() {
    let (_dir, server) = server();
    let registry = Registry::start_checked(server.validator());
    let keys = Secret::new(&server.aws_key(false));
    let minted = mint(&codeartifact(&server, None), &keys, &cx(&server)).unwrap();
    let config = format!("{}/index/config.json", registry.base_url());
    let status = |token: &str| {
        let client = credd::http::Client::new(None, Instant::now() + Duration::from_secs(20));
        client
            .unwrap()
            .get(&config, &[("authorization", token)])
            .unwrap()
            .status
    };
    assert_eq!(status(minted.token.expose()), 200);
    assert_eq!(status("made-up"), 401);
    let id = serde_json::from_str::<serde_json::Value>(keys.expose()).unwrap()["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.revoke(&id);
    assert_eq!(status(minted.token.expose()), 401);
}

#[test]
fn without_the_test_ca_tls_is_not_trusted() {
    let (_dir, server) = server();
    let key = server.service_account("bot@credd-test.iam.gserviceaccount.com", false);
    let cx = Context {
        ca_file: None,
        deadline: Instant::now() + Duration::from_secs(20),
    };
    let error = mint_err(&gcp(&[]), &key, &cx);
    assert!(matches!(error, MintError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains("not trusted"), "{error}");
    assert!(error.to_string().contains("CA"), "{error}");
}

#[test]
fn an_unusable_ca_file_is_named() {
    let (dir, server) = server();
    let key = server.service_account("bot@credd-test.iam.gserviceaccount.com", false);
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "just text\n").unwrap();
    for path in [dir.path().join("missing.pem"), not_pem] {
        let cx = Context {
            ca_file: Some(path.clone()),
            deadline: Instant::now() + Duration::from_secs(20),
        };
        let error = mint_err(&gcp(&[]), &key, &cx);
        assert!(matches!(error, MintError::Unreachable { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(&format!("cannot use the CA file {}", path.display())),
            "{text}"
        );
    }
}

#[test]
fn redirects_are_not_followed_with_credentials() {
    let (_dir, server) = server();
    let mut key: serde_json::Value = serde_json::from_str(
        &server.service_account("bot@credd-test.iam.gserviceaccount.com", false),
    )
    .unwrap();
    key["token_uri"] = format!("{}/moved", server.base_url()).into();
    let error = mint_err(&gcp(&[]), &key.to_string(), &cx(&server));
    assert!(matches!(error, MintError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains("307"), "{error}");
    assert!(server.issued().is_empty());
}

#[test]
fn a_hung_endpoint_times_out_by_the_deadline() {
    let (_dir, server) = server();
    let key = server.service_account("bot@credd-test.iam.gserviceaccount.com", false);
    server.hang(Some(Duration::from_secs(60)));
    let started = Instant::now();
    let cx = Context {
        ca_file: Some(server.ca_file.clone()),
        deadline: started + Duration::from_secs(2),
    };
    let error = mint_err(&gcp(&[]), &key, &cx);
    assert!(matches!(error, MintError::Timeout(_)), "{error}");
    // A generous "does not hang" bound, not a timing assertion.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn plain_http_and_closed_ports() {
    let (_dir, server) = server();
    let mut key: serde_json::Value = serde_json::from_str(
        &server.service_account("bot@credd-test.iam.gserviceaccount.com", false),
    )
    .unwrap();
    key["token_uri"] = "http://oauth2.example.com/token".into();
    let error = mint_err(&gcp(&[]), &key.to_string(), &cx(&server));
    assert!(
        matches!(&error, MintError::BadMaterial(m) if m.contains("https://")),
        "{error}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    key["token_uri"] = format!(
        "https://127.0.0.1:{}/token",
        closed.local_addr().unwrap().port()
    )
    .into();
    drop(closed);
    let error = mint_err(&gcp(&[]), &key.to_string(), &cx(&server));
    assert!(matches!(error, MintError::Unreachable { .. }), "{error}");
}
