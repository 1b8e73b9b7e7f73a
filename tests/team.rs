//! Team entries read from a real OpenBao dev server (`bao server -dev` on 127.0.0.1, one per
//! test, killed at its end): login with a token or an AppRole, entries written with `bao kv
//! put` served to `credd get` and to the real cargo (sparse registry of tests/cargo.rs), rotation and deletion after a refresh, the
//! wipe on a revoked token, the offline copy and `stale`, a partial policy, and TLS.

mod common;

use std::time::{Duration, Instant};

use common::bao::{Bao, ROOT};
use common::cargo::Cargo;
use common::pypi::{PIP_CURRENT, PypiServer, pip_bin, tiny_package};
use common::registry::Registry;
use common::{Output, TestEnv, count_in_memory, run_with_limit, unique, wait_until};

/// The signal that makes the agent read its config again.
const SIGHUP: i32 = 1;

/// A `[[team]]` table for `bao`'s `secret/PATH`, with `extra` lines.
fn team_config(name: &str, bao: &Bao, path: &str, extra: &str) -> String {
    format!(
        "[[team]]\nname = \"{name}\"\naddress = \"{}\"\npath = \"{path}\"\n{extra}",
        bao.address()
    )
}

/// A vault and an agent, unlocked, with `config`.
fn agent(config: &str) -> (TestEnv, common::Agent) {
    let env = TestEnv::new();
    env.write_config(config);
    let agent = env.start_agent();
    env.init();
    (env, agent)
}

fn login_token(env: &TestEnv, team: &str, token: &str) -> Output {
    env.cli_with_input(
        &["team", "login", team, "--token-stdin"],
        &format!("{token}\n"),
    )
}

fn get(env: &TestEnv, name: &str) -> Output {
    env.cli(&["get", name])
}

fn status(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(env.cli(&["status", "--json"]).ok()).unwrap()
}

#[test]
fn team_entries_are_served_listed_rotated_and_deleted() {
    let bao = Bao::start();
    let old = unique("old-team-password-long-enough-to-scan-for");
    let new = unique("new-team-password-long-enough-to-scan-for");
    bao.put(
        "registries/pypi",
        &[
            ("url", "https://pypi.acme.example/simple/"),
            ("username", "ci"),
            ("password", &old),
            ("note", "shared CI login"),
        ],
    );
    bao.put(
        "registries/cargo",
        &[
            ("url", "sparse+https://cargo.acme.example/index/"),
            ("token", "cargo-tok"),
        ],
    );
    let (env, agent) = agent(&team_config("acme", &bao, "registries", ""));
    env.add("mine", "https://mine.example/", "local-secret");

    let out = login_token(&env, "acme", ROOT);
    assert!(
        out.stderr.contains("logged in to team acme: 2 entries"),
        "{out:?}"
    );
    assert_eq!(get(&env, "acme/pypi").ok().trim(), old);
    let by_url = env.cli(&[
        "get",
        "--url",
        "sparse+https://cargo.acme.example/index/config.json",
    ]);
    assert_eq!(by_url.ok().trim(), "cargo-tok");

    // `list` shows where each entry comes from, never the login.
    let list = env.cli(&["list"]);
    let lines: Vec<&str> = list.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{list:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("acme/pypi\t") && l.ends_with("\tacme"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("mine\t") && l.ends_with("\tlocal"))
    );
    assert!(!list.stdout.contains("team-login"), "{list:?}");
    let team = &status(&env)["teams"][0];
    assert_eq!(
        (team["name"].as_str(), team["entries"].as_u64()),
        (Some("acme"), Some(2))
    );
    assert!(team.get("error").is_none(), "{team}");

    // A team entry changes on the server only.
    let out = env.cli(&["remove", "acme/pypi"]);
    assert!(
        out.stderr.contains("comes from team \"acme\"'s server"),
        "{out:?}"
    );
    let out = env.cli_with_input(
        &[
            "add",
            "acme/pypi",
            "--url",
            "https://x.example/",
            "--secret-stdin",
            "--replace",
        ],
        "mine\n",
    );
    assert!(out.stderr.contains("change or delete it there"), "{out:?}");

    // Rotation: served after a refresh, and the old password is gone from the agent's memory.
    bao.put(
        "registries/pypi",
        &[
            ("url", "https://pypi.acme.example/simple/"),
            ("username", "ci"),
            ("password", &new),
        ],
    );
    let out = env.cli(&["refresh", "acme"]);
    assert!(
        out.stderr.contains("read 2 entries of team acme"),
        "{out:?}"
    );
    assert_eq!(get(&env, "acme/pypi").ok().trim(), new);
    assert_eq!(
        count_in_memory(agent.pid(), old.as_bytes()),
        0,
        "old password left in memory"
    );

    // A deleted secret disappears (a soft delete: the key stays listed, its data is gone);
    // local entries stay.
    bao.ok(&["kv", "delete", "secret/registries/cargo"], "");
    env.cli(&["refresh", "acme"]).ok();
    assert_eq!(get(&env, "acme/cargo").code(), 4);
    assert_eq!(get(&env, "mine").ok().trim(), "local-secret");
    // A team entry is no local one to overwrite; the login is never handed out.
    let out = get(&env, "team-login/acme");
    assert!(out.stderr.contains("never handed out"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    // A lock wipes the team's entries from memory with the rest.
    env.cli(&["lock"]).ok();
    assert_eq!(
        count_in_memory(agent.pid(), new.as_bytes()),
        0,
        "left after lock"
    );
}

#[test]
fn a_token_that_cannot_be_renewed_is_reported_with_the_fix() {
    let bao = Bao::start();
    bao.ok(&["policy", "write", "reader", "-"], READ_ALL);
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw1")],
    );
    let token = bao.ok(
        &[
            "token",
            "create",
            "-field=token",
            "-ttl=10s",
            "-renewable=false",
            "-policy=reader",
        ],
        "",
    );
    let (env, _agent) = agent(&team_config(
        "acme",
        &bao,
        "registries",
        "refresh-interval = 5\n",
    ));
    login_token(&env, "acme", &token).ok();
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw1");
    let team = &status(&env)["teams"][0];
    let error = team["error"].as_str().unwrap();
    assert!(
        error.contains("cannot be renewed (it is not renewable)"),
        "{error}"
    );
    assert!(
        error.contains("'credd team login acme --token-stdin'"),
        "{error}"
    );
    assert!(team["token_expires"].as_u64().is_some(), "{team}");
}

#[test]
fn real_cargo_builds_with_a_token_the_team_keeps() {
    const TOKEN: &str = "team-cargo-token-b2";
    let bao = Bao::start();
    let registry = Registry::start(TOKEN);
    bao.put(
        "registries/corp",
        &[("url", &registry.index_url()), ("token", TOKEN)],
    );
    let (env, _agent) = agent(&team_config("acme", &bao, "registries", ""));
    login_token(&env, "acme", ROOT).ok();
    let cargo = Cargo::new(&env);
    cargo.config(&format!(
        "[registries.corp]\nindex = \"{}\"\ncredential-provider = [\"{}\", \"--socket\", \"{}\"]\n",
        registry.index_url(),
        env!("CARGO_BIN_EXE_credd"),
        env.socket_str()
    ));
    cargo.seed(&registry, "team-lib", "0.1.0");
    let app = cargo.app_project("team-lib = { version = \"0.1\", registry = \"corp\" }");
    let out = cargo.run(&app, &["build"]);
    assert!(out.status.success(), "cargo build: {out:?}");
    assert!(out.stderr.contains("Compiling team-lib v0.1.0"), "{out:?}");
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.path == "/index/config.json" && r.authorization_ok),
        "the registry saw the team's token"
    );
}

#[test]
fn real_pip_installs_with_a_password_the_team_keeps() {
    let bao = Bao::start();
    let (env, _agent) = agent(&team_config("acme", &bao, "registries", ""));
    let pypi = PypiServer::start(env.dir.path(), &[("ci", "team-pypi-pw")]);
    pypi.add(tiny_package());
    bao.put(
        "registries/pypi",
        &[
            ("url", &pypi.simple_url()),
            ("username", "ci"),
            ("password", "team-pypi-pw"),
        ],
    );
    login_token(&env, "acme", ROOT).ok();
    // pip asks the `keyring` command, which is credd under that name (see python_installers.rs).
    let bin = env.dir.path().join("keyring-bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_credd"), bin.join("keyring")).unwrap();
    let site = env.dir.path().join("site");
    let mut pip = std::process::Command::new(pip_bin(PIP_CURRENT, "pip"));
    pip.env_clear()
        .envs(
            env.command()
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .args([
            "install",
            "--no-cache-dir",
            "--no-input",
            "--keyring-provider",
            "subprocess",
        ])
        .args(["--index-url", &pypi.simple_url(), "--target"])
        .arg(&site)
        .arg("corp-tiny");
    let out = run_with_limit(pip, "");
    assert!(out.status.success(), "pip install: {out:?}");
    assert!(site.join("corp_tiny/__init__.py").exists(), "{out:?}");
}

#[test]
fn a_revoked_token_wipes_the_team_and_status_names_the_fix() {
    let bao = Bao::start();
    bao.ok(&["policy", "write", "reader", "-"], READ_ALL);
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw1")],
    );
    let token = bao.token(&["reader"], "1h");
    let (env, _agent) = agent(&team_config("acme", &bao, "registries", ""));
    login_token(&env, "acme", &token).ok();
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw1");

    bao.ok(&["token", "revoke", &token], "");
    let out = env.cli(&["refresh", "acme"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("permission denied"),
        "the server's errors: {out:?}"
    );
    assert!(
        !out.stderr.contains(&token),
        "the token is never echoed: {out:?}"
    );
    assert_eq!(get(&env, "acme/pypi").code(), 4, "wiped at once");
    let team = &status(&env)["teams"][0];
    assert_eq!(team["entries"], 0);
    let error = team["error"].as_str().unwrap();
    assert!(error.contains("credd team login acme"), "{error}");
    let text = env.cli(&["status"]);
    assert!(text.ok().contains("team acme ("), "{text:?}");
    // Nothing was left to serve from the vault either: a restart of the agent finds none.
    env.cli(&["lock"]).ok();
    env.unlock().ok();
    assert_eq!(get(&env, "acme/pypi").code(), 4);
}

#[test]
fn a_local_and_a_team_entry_for_one_url_and_user_are_ambiguous_unless_the_config_says() {
    let bao = Bao::start();
    let url = "https://pypi.acme.example/simple/";
    bao.put(
        "registries/pypi",
        &[("url", url), ("username", "ci"), ("password", "team-pw")],
    );
    let base = team_config("acme", &bao, "registries", "");
    let (env, agent) = agent(&base);
    env.cli_with_input(
        &[
            "add",
            "mine",
            "--url",
            url,
            "--username",
            "ci",
            "--secret-stdin",
        ],
        "local-pw\n",
    )
    .ok();
    login_token(&env, "acme", ROOT).ok();
    let by_url = || env.cli(&["get", "--url", &format!("{url}pkg/"), "--username", "ci"]);
    let out = by_url();
    assert!(
        out.stderr.contains("\"acme/pypi\"") && out.stderr.contains("\"mine\""),
        "{out:?}"
    );
    for (precedence, served) in [("team", "team-pw"), ("local", "local-pw")] {
        env.write_config(&format!("{base}precedence = \"{precedence}\"\n"));
        agent.signal(SIGHUP);
        wait_until("the config is read again", || {
            by_url().stdout.trim() == served
        });
    }
}

/// A policy that reads and lists everything under secret/registries.
const READ_ALL: &str = "path \"secret/data/registries/*\" { capabilities = [\"read\"] }\n\
                        path \"secret/metadata/registries/*\" { capabilities = [\"list\"] }\n\
                        path \"secret/metadata/registries\" { capabilities = [\"list\"] }\n";

#[test]
fn a_policy_that_allows_part_of_the_path_serves_the_rest_and_says_what_is_missing() {
    let bao = Bao::start();
    let policy = "path \"secret/data/registries/open\" { capabilities = [\"read\"] }\n\
                  path \"secret/metadata/registries\" { capabilities = [\"list\"] }\n";
    bao.ok(&["policy", "write", "part", "-"], policy);
    bao.put(
        "registries/open",
        &[("url", "https://open.example/"), ("password", "o")],
    );
    bao.put(
        "registries/closed",
        &[("url", "https://closed.example/"), ("password", "c")],
    );
    bao.put(
        "registries/broken",
        &[("username", "no-url"), ("password", "b")],
    );
    let token = bao.token(&["part"], "1h");
    let (env, _agent) = agent(&team_config("acme", &bao, "registries", ""));
    let out = login_token(&env, "acme", &token);
    assert!(out.stderr.contains(": 1 entry,"), "{out:?}");
    assert_eq!(get(&env, "acme/open").ok().trim(), "o");
    assert_eq!(get(&env, "acme/closed").code(), 4);
    let error = status(&env)["teams"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("does not let it read broken, closed"),
        "{error}"
    );
}

#[test]
fn the_offline_copy_is_served_within_max_age_then_stale_and_refresh_resumes() {
    let mut bao = Bao::start();
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw1")],
    );
    let base = team_config("acme", &bao, "registries", "");
    let config = |max_age: u32| format!("{base}max-age = {max_age}\n");
    let (env, mut agent) = agent(&config(3600));
    login_token(&env, "acme", ROOT).ok();

    // Server away: the copy in the vault is served, across an agent restart too.
    bao.stop();
    let out = env.cli(&["refresh", "acme"]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("the last copy is served"), "{out:?}");
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw1");
    env.cli(&["stop"]).ok();
    agent.wait_exit();
    let agent = env.start_agent();
    env.unlock().ok();
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw1");

    // Older than max-age: `stale`, naming the server.
    env.write_config(&config(1));
    agent.signal(SIGHUP);
    wait_until("the copy is stale", || {
        get(&env, "acme/pypi")
            .stderr
            .contains("longer than its max-age")
    });
    let out = get(&env, "acme/pypi");
    assert!(
        out.stderr.contains(&bao.address()),
        "names the server: {out:?}"
    );

    // Server back: a refresh serves again, without restarting the agent.
    bao.resume();
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw2")],
    );
    env.write_config(&config(3600));
    agent.signal(SIGHUP);
    wait_until("the team is read again", || {
        env.cli(&["refresh", "acme"]).status.success()
    });
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw2");
}

#[test]
fn approle_tokens_are_renewed_and_logged_in_again_past_their_maximum() {
    let bao = Bao::start();
    bao.ok(&["policy", "write", "reader", "-"], READ_ALL);
    bao.ok(&["auth", "enable", "approle"], "");
    bao.ok(
        &[
            "write",
            "auth/approle/role/ci",
            "token_policies=reader",
            "token_ttl=4s",
            "token_max_ttl=9s",
        ],
        "",
    );
    let role_id = bao.ok(
        &["read", "-field=role_id", "auth/approle/role/ci/role-id"],
        "",
    );
    let secret_id = bao.ok(
        &[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/ci/secret-id",
        ],
        "",
    );
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw1")],
    );
    let (env, _agent) = agent(&team_config(
        "acme",
        &bao,
        "registries",
        "refresh-interval = 1\n",
    ));
    let out = env.cli_with_input(
        &[
            "team",
            "login",
            "acme",
            "--approle",
            &role_id,
            "--secret-id-stdin",
        ],
        &format!("{secret_id}\n"),
    );
    assert!(out.stderr.contains(": 1 entry,"), "{out:?}");
    // Read every second for longer than the token's maximum lifetime: the agent renews, then
    // logs in again, and the rotated password arrives through each kind of token.
    let first = status(&env)["teams"][0]["token_expires"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(11));
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw2")],
    );
    wait_until("the rotated password is served", || {
        get(&env, "acme/pypi").stdout.trim() == "pw2"
    });
    let team = &status(&env)["teams"][0];
    assert!(team.get("error").is_none(), "{team}");
    assert!(
        team["token_expires"].as_u64().unwrap() > first + 5,
        "{team}"
    );
    let log = env.log();
    assert!(log.contains("renewed the team's token"), "renewal: {log}");
    assert!(
        log.matches("logged in to the team's server").count() >= 2,
        "re-login: {log}"
    );
    assert!(!log.contains(&secret_id), "never logged");
}

#[test]
fn a_jwt_login_like_a_ci_jobs_oidc_token() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let bao = Bao::start();
    bao.ok(&["policy", "write", "reader", "-"], READ_ALL);
    bao.put(
        "registries/pypi",
        &[("url", "https://pypi.acme.example/"), ("password", "pw1")],
    );
    // The CI's issuer: an RSA key whose public half the server trusts for JWTs of `credd-test`.
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    bao.ok(&["auth", "enable", "jwt"], "");
    bao.ok(
        &[
            "write",
            "auth/jwt/config",
            "jwt_validation_pubkeys=-",
            "bound_issuer=credd-test",
        ],
        &public,
    );
    bao.ok(
        &[
            "write",
            "auth/jwt/role/ci",
            "role_type=jwt",
            "bound_audiences=credd",
            "user_claim=sub",
            "token_policies=reader",
            "token_ttl=1h",
        ],
        "",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "credd-test", "aud": "credd", "sub": "job-1", "iat": now, "nbf": now,
        "exp": now + 600,
    });
    let encode = |v: serde_json::Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let signed = format!(
        "{}.{}",
        encode(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        encode(claims)
    );
    let signature = key
        .pkcs1v15_sign::<rsa::sha2::Sha256>(signed.as_bytes())
        .unwrap();
    let jwt = format!("{signed}.{}", Base64UrlUnpadded::encode_string(&signature));

    let (env, _agent) = agent(&team_config("acme", &bao, "registries", ""));
    let out = env.cli_with_input(
        &["team", "login", "acme", "--jwt-role", "ci", "--jwt-stdin"],
        &format!("{jwt}\n"),
    );
    assert!(out.stderr.contains(": 1 entry,"), "{out:?}");
    assert_eq!(get(&env, "acme/pypi").ok().trim(), "pw1");
    // A JWT the server does not trust: its own error list, and no JWT echoed.
    let forged = format!(
        "{signed}.{}",
        Base64UrlUnpadded::encode_string(b"not-a-signature")
    );
    let out = env.cli_with_input(
        &["team", "login", "acme", "--jwt-role", "ci", "--jwt-stdin"],
        &format!("{forged}\n"),
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(!out.stderr.contains(&signed), "{out:?}");
    assert!(
        out.stderr.contains("error validating token"),
        "the server's errors: {out:?}"
    );
}

/// Team entries the scale test loads.
const MANY: usize = 1000;

/// Scale: a thousand team entries load on login and are served like local ones. The load time,
/// the lookup times of a team and a local entry, and the agent's memory are printed
/// (`--nocapture`) for docs/BENCHMARKS.md; nothing is timed as an assertion.
#[test]
fn a_thousand_team_entries_load_and_are_served_like_local_ones() {
    let bao = Bao::start();
    let http = credd::http::Client::new(None, Instant::now() + Duration::from_secs(120)).unwrap();
    for i in 0..MANY {
        let body = serde_json::json!({"data": {
            "url": format!("https://reg{i}.acme.example/index/"),
            "username": "ci",
            "password": format!("team-pw-{i}"),
        }});
        let url = format!("{}/v1/secret/data/registries/e{i:04}", bao.address());
        let headers = [
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/json"),
        ];
        let answer = http
            .post(&url, &headers, body.to_string().as_bytes())
            .unwrap();
        assert_eq!(answer.status, 200);
    }
    let (env, agent) = agent(&team_config("acme", &bao, "registries", ""));
    env.add("local", "https://local.example/index/", "local-pw");
    let started = Instant::now();
    let out = login_token(&env, "acme", ROOT);
    let load = started.elapsed();
    assert!(out.stderr.contains(&format!("{MANY} entries")), "{out:?}");
    assert_eq!(get(&env, "acme/e0777").ok().trim(), "team-pw-777");

    let mut client = env.connect_raw();
    let mut median = |url: &str| {
        let mut took: Vec<Duration> = (0..500)
            .map(|id| {
                let line = format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",\"url\":\"{url}\"}}");
                let at = Instant::now();
                let reply = client.request(&line);
                let took = at.elapsed();
                assert!(reply.get("ok").is_some(), "{reply}");
                took
            })
            .collect();
        took.sort_unstable();
        took[took.len() / 2]
    };
    let team = median("https://reg500.acme.example/index/crate");
    let local = median("https://local.example/index/crate");
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.pid())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .to_owned();
    println!(
        "{MANY} team entries: login and load {load:?}; get by URL median: team entry {team:?}, \
         local entry {local:?}; agent {rss}"
    );
}

#[test]
fn a_team_in_a_namespace_with_a_sub_folder() {
    let bao = Bao::start();
    bao.ok(&["namespace", "create", "eng"], "");
    let enable = [
        "secrets",
        "enable",
        "-namespace=eng",
        "-path=secret",
        "kv-v2",
    ];
    bao.ok(&enable, "");
    let put = |path: &str, fields: &[&str]| {
        let args = [&["kv", "put", "-namespace=eng", path][..], fields].concat();
        bao.ok(&args, "");
    };
    put(
        "secret/registries/pypi",
        &["url=https://eng.example/", "password=eng-pw"],
    );
    // A sub-folder's secrets are the team's too, named by their path below the team's.
    put(
        "secret/registries/eu/pypi",
        &["url=https://eu.example/", "password=eu-pw"],
    );
    let (env, _agent) = agent(&team_config(
        "eng",
        &bao,
        "registries",
        "namespace = \"eng\"\n",
    ));
    let out = login_token(&env, "eng", ROOT);
    assert!(out.stderr.contains("2 entries"), "{out:?}");
    assert_eq!(get(&env, "eng/pypi").ok().trim(), "eng-pw");
    assert_eq!(get(&env, "eng/eu/pypi").ok().trim(), "eu-pw");
}

#[test]
fn tls_with_the_servers_ca_as_the_teams_ca_file() {
    let bao = Bao::start_tls();
    bao.put(
        "registries/cargo",
        &[
            ("url", "sparse+https://cargo.acme.example/index/"),
            ("token", "cargo-team-token"),
        ],
    );
    let without = team_config("acme", &bao, "registries", "");
    let (env, agent) = agent(&without);
    let out = login_token(&env, "acme", ROOT);
    assert!(out.stderr.contains("not trusted"), "{out:?}");
    env.write_config(&format!(
        "{without}ca-file = \"{}\"\n",
        bao.ca_file().display()
    ));
    agent.signal(SIGHUP);
    wait_until("the agent trusts the server", || {
        env.cli(&["refresh", "acme"]).status.success()
    });
    assert_eq!(get(&env, "acme/cargo").ok().trim(), "cargo-team-token");
}

/// A server that is no real team's (a wrong address, a broken or hostile one) answers every
/// folder listing with ten sub-folders, and the top one with a secret whose entry name would be
/// too long: the read stops at its bound of listings, leaves that secret unread, serves the
/// good one, and `status` says what was left out.
#[test]
fn a_server_without_end_to_its_folders_is_read_within_bounds() {
    use common::httpserver::{Reply, Response, Server};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listings = Arc::new(AtomicUsize::new(0));
    let long = "x".repeat(300);
    let server = {
        let listings = Arc::clone(&listings);
        Server::start(None, move |_| {
            Arc::new(move |request| {
                let path = request.path.as_str();
                let json = if path == "/v1/auth/token/lookup-self" {
                    serde_json::json!({"data": {"ttl": 0, "renewable": false}})
                } else if path == "/v1/secret/data/registries/ok" {
                    serde_json::json!({"data": {"data": {
                        "url": "https://ok.example/", "password": "ok-pw"}}})
                } else if let Some(folder) = path
                    .strip_prefix("/v1/secret/metadata/registries")
                    .and_then(|p| p.strip_suffix("?list=true"))
                {
                    listings.fetch_add(1, Ordering::SeqCst);
                    let mut keys: Vec<String> = (0..10).map(|i| format!("f{i}/")).collect();
                    if folder.is_empty() {
                        keys.extend(["ok".to_owned(), long.clone()]);
                    }
                    serde_json::json!({"data": {"keys": keys}})
                } else {
                    return Reply::Send(Response::json(404, serde_json::json!({"errors": []})));
                };
                Reply::Send(Response::json(200, json))
            })
        })
    };
    let config = format!(
        "[[team]]\nname = \"acme\"\naddress = \"http://{}\"\npath = \"registries\"\n",
        server.addr()
    );
    let (env, _agent) = agent(&config);
    let out = login_token(&env, "acme", "any-token");
    assert!(out.stderr.contains(": 1 entry,"), "{out:?}");
    assert_eq!(get(&env, "acme/ok").ok().trim(), "ok-pw");
    assert_eq!(listings.load(Ordering::SeqCst), 1000);
    let error = status(&env)["teams"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("1 secret whose entry name would be longer than 256 bytes")
            && error.contains("past the first 1000 listings"),
        "{error}"
    );
}
