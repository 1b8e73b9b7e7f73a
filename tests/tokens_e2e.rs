//! Google and CodeArtifact sources end to end: a real agent minting from the suite's token
//! endpoints (tests/common/tokenserver.rs) over HTTPS, trusting their test CA through the
//! config's `ca-file`, with the sources added by `credd add --gcp-key-file` and
//! `--aws-codeartifact`, and served to `credd get`, the keyring command and `credd exec`.

mod common;

use std::time::{Duration, Instant};

use common::tokenserver::{Subject, TokenServer};
use common::{Agent, Output, TestEnv, count_in_memory, run_with_limit, wait_until};
use serde_json::Value;

const USERNAME: &str = "oauth2accesstoken";
const GAR_URL: &str = "https://europe-python.pkg.dev/corp/py/";

/// An unlocked agent trusting `server`'s CA, with `extra` appended to its config.
fn agent_for(env: &TestEnv, server: &TokenServer, extra: &str) -> Agent {
    env.write_config(&format!(
        "ca-file = \"{}\"\n{extra}",
        server.ca_file.display()
    ));
    let agent = env.start_agent();
    env.init();
    agent
}

/// A test's environment, its token server (CA under the test's dir) and agent.
fn setup(extra: &str) -> (TestEnv, TokenServer, Agent) {
    let env = TestEnv::new();
    let server = TokenServer::start(env.dir.path());
    let agent = agent_for(&env, &server, extra);
    (env, server, agent)
}

/// `credd add NAME --url URL --gcp-key-file FILE --remove-file` with `key` as the file.
fn add_gcp(env: &TestEnv, name: &str, url: &str, key: &str) -> Output {
    let file = env.dir.path().join(format!("{name}-key.json"));
    std::fs::write(&file, key).unwrap();
    let out = env.cli(&[
        "add",
        name,
        "--url",
        url,
        "--gcp-key-file",
        file.to_str().unwrap(),
        "--remove-file",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(!file.exists(), "--remove-file left the key file");
    out
}

/// `credd get NAME --json` as JSON.
fn get_json(env: &TestEnv, name: &str) -> Value {
    serde_json::from_str(env.cli(&["get", name, "--json"]).ok()).unwrap()
}

/// The token `credd get NAME` prints.
fn token(env: &TestEnv, name: &str) -> String {
    env.cli(&["get", name]).ok().trim().to_owned()
}

/// The last `n` characters of `text`, for scanning memory and output for it.
fn tail(text: &str, n: usize) -> &str {
    &text[text.len() - n..]
}

/// A piece of a key file's private key: the middle of the PEM's last full line, which a
/// process holding the file's text (JSON-escaped or not) holds verbatim.
fn private_key_piece(key: &str) -> String {
    let file: Value = serde_json::from_str(key).unwrap();
    let pem = file["private_key"].as_str().unwrap();
    let lines: Vec<&str> = pem.lines().filter(|l| l.len() == 64).collect();
    lines.last().unwrap()[16..48].to_owned()
}

#[test]
fn a_service_account_key_serves_get_the_keyring_command_and_exec() {
    let (env, server, _agent) = setup("");
    let key = server.service_account("ci@corp.iam.gserviceaccount.com", false);
    let out = add_gcp(&env, "gar", GAR_URL, &key);
    assert!(out.stderr.contains("deleted"), "{out:?}");
    assert!(server.issued().is_empty(), "adding does not mint");

    let entry = get_json(&env, "gar");
    assert_eq!(entry["username"], USERNAME, "{entry}");
    let minted = entry["secret"].as_str().unwrap().to_owned();
    assert!(server.is_valid(&minted), "{entry}");
    assert_eq!(server.issued()[0].grant, "jwt-bearer");
    assert!(entry["expires"].as_u64().is_some(), "{entry}");

    // The keyring command, in both modes.
    let keyring = |args: &[&str]| {
        let mut command = env.command();
        command
            .arg("keyring")
            .args(args)
            .env("CREDD_SOCKET", &env.socket);
        run_with_limit(command, "")
    };
    let out = keyring(&["get", GAR_URL, USERNAME]);
    assert_eq!(out.ok(), format!("{minted}\n"));
    let out = keyring(&["--mode", "creds", "--output", "json", "get", GAR_URL]);
    let creds: Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(
        (creds["username"].as_str(), creds["password"].as_str()),
        (Some(USERNAME), Some(minted.as_str())),
        "{creds}"
    );

    // `credd exec` puts the source's pair in Poetry's variables for the project's source.
    let project = env.dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[tool.poetry.source]]\n\
             name = \"gar\"\nurl = \"{GAR_URL}simple/\"\npriority = \"primary\"\n"
        ),
    )
    .unwrap();
    let mut exec = env.command();
    exec.args(["exec", "--", "/usr/bin/env"])
        .env("CREDD_SOCKET", &env.socket)
        .current_dir(&project);
    let out = run_with_limit(exec, "");
    let vars = out.ok();
    assert!(
        vars.contains(&format!("POETRY_HTTP_BASIC_GAR_USERNAME={USERNAME}\n")),
        "{out:?}"
    );
    assert!(
        vars.contains(&format!("POETRY_HTTP_BASIC_GAR_PASSWORD={minted}\n")),
        "{out:?}"
    );
    assert_eq!(server.issued().len(), 1, "every front got the cached token");

    // list and status: the kind and the token's times, never the token or the key.
    let list = env.cli(&["list"]);
    assert!(list.ok().contains("\tgcp\t"), "{list:?}");
    let listed: Value = serde_json::from_str(env.cli(&["list", "--json"]).ok()).unwrap();
    assert_eq!(listed[0]["source"]["kind"], "gcp", "{listed}");
    assert!(listed[0]["minted"].as_u64().is_some(), "{listed}");
    assert_eq!(listed[0]["token_expires"], entry["expires"], "{listed}");
    let status = env.cli(&["status"]).ok().to_owned();
    assert!(
        status.contains("source: gar (gcp): token minted"),
        "{status}"
    );
    let piece = private_key_piece(&key);
    for shown in [&list.stdout, &list.stderr, &listed.to_string(), &status] {
        assert!(!shown.contains(tail(&minted, 24)), "a token shown: {shown}");
        assert!(!shown.contains(&piece), "the key shown: {shown}");
    }
}

#[test]
fn fifty_concurrent_lookups_on_a_cold_gcp_source_mint_one_token() {
    let (env, server, _agent) = setup("");
    let key = server.service_account("cold@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "cold", GAR_URL, &key);
    let clients: Vec<_> = (0..50).map(|_| env.connect_raw()).collect();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            std::thread::spawn(move || {
                client.request(&format!(r#"{{"v":1,"id":{i},"op":"get","name":"cold"}}"#))
            })
        })
        .collect();
    let replies: Vec<Value> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let issued = server.issued();
    assert_eq!(issued.len(), 1, "{issued:?}");
    for reply in replies {
        assert_eq!(reply["ok"]["entry"]["secret"], issued[0].token, "{reply}");
        assert_eq!(reply["ok"]["entry"]["username"], USERNAME, "{reply}");
    }
}

#[test]
fn short_lived_tokens_are_refreshed_and_refresh_forces_a_new_one() {
    let (env, server, _agent) = setup("");
    // Eight seconds: refreshed from 6.4 s on, never handed out with under 2 s left.
    server.set_expires_in(8);
    let key = server.service_account("short@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "short", GAR_URL, &key);
    let first = token(&env, "short");
    assert!(server.is_valid(&first));
    let started = Instant::now();
    let second = loop {
        let now = token(&env, "short");
        assert!(server.is_valid(&now), "an expired token was handed out");
        if now != first {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never refreshed"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(server.issued().len(), 2, "one refresh, one new token");
    assert_eq!(server.issued()[1].token, second);

    let before = server.issued().len();
    let out = env.cli(&["refresh", "short"]);
    out.ok();
    let issued = server.issued();
    assert_eq!(issued.len(), before + 1, "refresh mints");
    assert_eq!(token(&env, "short"), issued.last().unwrap().token);
}

#[test]
fn a_hung_token_endpoint_delays_no_static_lookup_and_times_out_in_time() {
    let (env, server, _agent) = setup("mint-timeout = 3\n");
    env.add("plain", "https://plain.test/", "plain-secret");
    let key = server.service_account("hung@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "hung", GAR_URL, &key);
    server.hang(Some(Duration::from_secs(30)));
    let waiting = {
        let mut client = env.connect_raw();
        std::thread::spawn(move || {
            let started = Instant::now();
            let reply = client.request(r#"{"v":1,"id":1,"op":"get","name":"hung"}"#);
            (reply, started.elapsed())
        })
    };
    // The mint is under way (the lookup has not answered) while static lookups go on.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        assert_eq!(token(&env, "plain"), "plain-secret");
    }
    assert!(!waiting.is_finished(), "the hung mint answered too early");
    let (reply, took) = waiting.join().unwrap();
    assert_eq!(reply["error"]["kind"], "source-failed", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("mint-timeout"), "{message}");
    assert!(message.contains("credd refresh hung"), "{message}");
    assert!(took < Duration::from_secs(3 + 5), "took {took:?}");
    assert!(!message.contains(&private_key_piece(&key)), "{message}");
}

#[test]
fn a_revoked_key_names_the_fix_without_echoing_the_key() {
    let (env, server, _agent) = setup("");
    let key = server.service_account("gone@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "gone", GAR_URL, &key);
    server.revoke("gone@corp.iam.gserviceaccount.com");
    let out = env.cli(&["get", "gone"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains("account not found"), "{out:?}");
    assert!(out.stderr.contains("revoked or disabled"), "{out:?}");
    assert!(out.stderr.contains("credd add gone --replace"), "{out:?}");
    assert!(!out.stderr.contains(&private_key_piece(&key)), "{out:?}");
    assert!(!out.stderr.contains("PRIVATE KEY"), "{out:?}");
}

#[test]
fn while_the_endpoint_is_down_the_cached_token_is_served() {
    let env = TestEnv::new();
    let server = TokenServer::start(env.dir.path());
    let _agent = agent_for(&env, &server, "mint-timeout = 3\n");
    let key = server.service_account("down@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "down", GAR_URL, &key);
    let cached = token(&env, "down");
    assert!(server.is_valid(&cached));
    // Stopped: nothing listens on its port any more.
    drop(server);
    let refresh = env.cli(&["refresh", "down"]);
    assert_eq!(refresh.code(), 1, "{refresh:?}");
    assert!(refresh.stderr.contains("check the network"), "{refresh:?}");
    assert_eq!(token(&env, "down"), cached);
    let status = env.cli(&["status"]).ok().to_owned();
    assert!(status.contains("last mint failed"), "{status}");
}

#[test]
fn a_gcloud_user_login_and_a_workload_identity_file_mint_through_the_agent() {
    let (env, server, _agent) = setup("");
    add_gcp(&env, "user", "https://user.pkg.dev/p/r/", &server.user());
    let user = get_json(&env, "user");
    assert_eq!(user["username"], USERNAME, "{user}");
    assert!(server.is_valid(user["secret"].as_str().unwrap()));
    assert_eq!(server.issued().last().unwrap().grant, "refresh_token");

    let subject_file = env.dir.path().join("oidc-token");
    std::fs::write(&subject_file, server.subject_token()).unwrap();
    let federated = server.external_account(
        Subject::File(&subject_file),
        Some("ci@corp.iam.gserviceaccount.com"),
    );
    add_gcp(&env, "wif", "https://wif.pkg.dev/p/r/", &federated);
    let wif = get_json(&env, "wif");
    assert_eq!(wif["username"], USERNAME, "{wif}");
    assert!(server.is_valid(wif["secret"].as_str().unwrap()));
    let grants: Vec<&str> = server.issued().iter().map(|i| i.grant).collect();
    assert_eq!(grants, ["refresh_token", "sts", "impersonation"]);
    assert_eq!(server.issued()[2].token, wif["secret"]);
}

#[test]
fn a_codeartifact_source_mints_with_username_aws() {
    let (env, server, _agent) = setup("");
    let key: Value = serde_json::from_str(&server.aws_key(false)).unwrap();
    let url = "https://corp-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/py/simple/";
    env.cli_with_input(
        &[
            "add",
            "ca",
            "--url",
            url,
            "--aws-codeartifact",
            "corp",
            "--owner",
            "111122223333",
            "--region",
            "eu-west-1",
            "--endpoint",
            server.base_url(),
            "--secret-stdin",
        ],
        &format!(
            "{}\n{}\n",
            key["access_key_id"].as_str().unwrap(),
            key["secret_access_key"].as_str().unwrap()
        ),
    )
    .ok();
    let entry = get_json(&env, "ca");
    assert_eq!(entry["username"], "aws", "{entry}");
    assert!(
        server.is_valid(entry["secret"].as_str().unwrap()),
        "{entry}"
    );
    let issued = server.issued();
    assert_eq!(
        (issued[0].grant, issued[0].to.as_str()),
        ("codeartifact", key["access_key_id"].as_str().unwrap())
    );
    let list = env.cli(&["list"]).ok().to_owned();
    assert!(list.contains("\taws-codeartifact\t"), "{list}");
    let secret = key["secret_access_key"].as_str().unwrap();
    assert!(!list.contains(secret) && !list.contains(&issued[0].token));
}

#[test]
fn lock_wipes_the_service_account_key_and_its_token() {
    let (env, server, agent) = setup("");
    let key = server.service_account("wiped@corp.iam.gserviceaccount.com", false);
    add_gcp(&env, "wiped", GAR_URL, &key);
    let minted = token(&env, "wiped");
    let piece = private_key_piece(&key);
    let token_tail = tail(&minted, 24).to_owned();
    assert!(
        count_in_memory(agent.pid(), token_tail.as_bytes()) > 0,
        "the scan sees no token"
    );
    assert!(
        count_in_memory(agent.pid(), piece.as_bytes()) > 0,
        "the scan sees no key"
    );
    env.cli(&["lock"]).ok();
    wait_until("the lock is done", || {
        env.cli(&["status"]).ok().contains("state: locked")
    });
    assert_eq!(
        (
            count_in_memory(agent.pid(), token_tail.as_bytes()),
            count_in_memory(agent.pid(), piece.as_bytes())
        ),
        (0, 0),
        "copies left after lock: (token, key)"
    );
    let log = env.log();
    assert!(!log.contains(&token_tail) && !log.contains(&piece));
}
