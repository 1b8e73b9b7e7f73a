//! Source entries whose tokens the agent mints, end to end with a real agent: a token command
//! (a shell script of the test's, counting its runs in a file) through `credd add
//! --token-command`, the single flight, refresh ahead of expiry, failures, lock wiping, the
//! Cargo provider and the keyring command; and `credd ci`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Output, TestEnv, count_in_memory, run_with_limit, unique, wait_until};

/// A token command: each run appends a line to `count`, then, unless the file `fail` exists
/// (exit 7 with a message on stderr) or `hang` does (sleeps a minute), prints
/// `{"token":"<prefix>-<run>","expires_in":<lifetime>}` after sleeping `delay` seconds.
struct TokenCommand {
    dir: PathBuf,
    prefix: String,
}

impl TokenCommand {
    fn new(env: &TestEnv, name: &str, lifetime: u32, delay: &str) -> Self {
        let dir = env.dir.path().join(format!("cmd-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("mint.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 echo run >> {dir}/count\n\
                 if [ -e {dir}/fail ]; then echo \"denied: key disabled\" >&2; exit 7; fi\n\
                 if [ -e {dir}/hang ]; then sleep 60; fi\n\
                 sleep {delay}\n\
                 n=$(wc -l < {dir}/count | tr -d ' ')\n\
                 printf '{{\"token\":\"%s-%s\",\"expires_in\":{lifetime}}}' \"$PREFIX\" \"$n\"\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let prefix = unique(&format!("minted-{name}-long-enough-to-scan-for-in-memory"));
        Self { dir, prefix }
    }

    /// `credd add NAME --url URL --token-command SCRIPT --token-env PREFIX=…`.
    fn add(&self, env: &TestEnv, name: &str, url: &str) {
        let script = self.dir.join("mint.sh");
        let prefix = format!("PREFIX={}", self.prefix);
        let out = env.cli(&[
            "add",
            name,
            "--url",
            url,
            "--token-command",
            script.to_str().unwrap(),
            "--token-env",
            &prefix,
        ]);
        assert!(out.stderr.contains("command source"), "{out:?}");
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.join("count")).map_or(0, |text| text.lines().count())
    }

    fn token(&self, run: usize) -> String {
        format!("{}-{run}", self.prefix)
    }

    fn set(&self, flag: &str, on: bool) {
        let path = self.dir.join(flag);
        if on {
            std::fs::write(path, "").unwrap();
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn get(env: &TestEnv, name: &str) -> Output {
    env.cli(&["get", name])
}

/// An unlocked agent on a fresh vault, with `toml` as its config.
fn agent(toml: &str) -> (TestEnv, common::Agent) {
    let env = TestEnv::new();
    env.write_config(toml);
    let agent = env.start_agent();
    env.init();
    (env, agent)
}

#[test]
fn a_command_source_is_minted_once_cached_and_refreshed_before_expiry() {
    let (env, _agent) = agent("");
    // Ten seconds: refreshed after six, never handed out with under two left.
    let command = TokenCommand::new(&env, "short", 10, "0");
    command.add(&env, "short", "https://short.test/");
    assert_eq!(command.runs(), 0, "adding does not mint");
    assert_eq!(get(&env, "short").ok().trim(), command.token(1));
    assert_eq!(get(&env, "short").ok().trim(), command.token(1));
    let json = env.cli(&["get", "short", "--json"]).ok().to_owned();
    let entry: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        entry.get("username").is_none(),
        "a bare token has none: {json}"
    );
    assert!(entry["expires"].as_u64().is_some(), "{json}");
    assert_eq!(command.runs(), 1, "the cached token is served");
    // The refresh shows as a new token within the token's lifetime and a margin.
    let started = Instant::now();
    while get(&env, "short").ok().trim() == command.token(1) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never refreshed"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(get(&env, "short").ok().trim(), command.token(2));
    let list = env.cli(&["list"]);
    assert!(
        list.stderr.contains("\tSOURCE\tMINTED\tTOKEN EXPIRES"),
        "{list:?}"
    );
    assert!(list.ok().contains("\tcommand\t"), "{list:?}");
    assert!(
        !list.stdout.contains(&command.prefix),
        "list shows no token"
    );
    let status = env.cli(&["status"]);
    assert!(
        status
            .ok()
            .contains("source: short (command): token minted"),
        "{status:?}"
    );
    // A forced refresh mints at once.
    env.cli(&["refresh", "short"]).ok();
    assert_eq!(
        get(&env, "short").ok().trim(),
        command.token(command.runs())
    );
}

/// A token living under five minutes is still refreshed in the background: while the refresh
/// runs (the command sleeps 2 s), lookups get the old token at once.
#[test]
fn a_short_lived_token_is_served_from_cache_while_its_refresh_runs() {
    let (env, _agent) = agent("");
    // Twenty seconds: handed out until 4 s are left, refreshed from 12 s on.
    let command = TokenCommand::new(&env, "ahead", 20, "2");
    command.add(&env, "ahead", "https://ahead.test/");
    assert_eq!(get(&env, "ahead").ok().trim(), command.token(1));
    let started = Instant::now();
    let mut served_while_refreshing = 0;
    loop {
        let refreshing = command.runs() == 2;
        let token = get(&env, "ahead").ok().trim().to_owned();
        if token == command.token(2) {
            break;
        }
        assert_eq!(token, command.token(1));
        if refreshing && command.runs() == 2 {
            served_while_refreshing += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "never refreshed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        served_while_refreshing > 0,
        "no lookup was answered from the cache during the refresh"
    );
    assert_eq!(command.runs(), 2);
}

/// A token said to live for a century is kept a day at most.
#[test]
fn a_minted_token_is_kept_a_day_at_most() {
    let (env, _agent) = agent("");
    let command = TokenCommand::new(&env, "century", 100 * 365 * 24 * 3600, "0");
    command.add(&env, "century", "https://century.test/");
    let json = env.cli(&["get", "century", "--json"]).ok().to_owned();
    let expires = serde_json::from_str::<serde_json::Value>(&json).unwrap()["expires"]
        .as_u64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expires <= now + 24 * 3600, "expires {expires}, now {now}");
}

#[test]
fn fifty_concurrent_lookups_on_a_cold_source_run_the_command_once() {
    let (env, _agent) = agent("");
    let command = TokenCommand::new(&env, "cold", 3600, "1");
    command.add(&env, "cold", "https://cold.test/");
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let mut client = env.connect_raw();
            std::thread::spawn(move || {
                client.request(&format!(r#"{{"v":1,"id":{i},"op":"get","name":"cold"}}"#))
            })
        })
        .collect();
    for thread in threads {
        let reply = thread.join().unwrap();
        assert_eq!(reply["ok"]["entry"]["secret"], command.token(1), "{reply}");
    }
    assert_eq!(command.runs(), 1);
}

#[test]
fn a_hung_command_delays_no_other_lookup_and_its_caller_gets_a_timeout_in_time() {
    let (env, _agent) = agent("mint-timeout = 3\n");
    let hung = TokenCommand::new(&env, "hung", 3600, "0");
    hung.set("hang", true);
    hung.add(&env, "hung", "https://hung.test/");
    env.add("plain", "https://plain.test/", "plain-secret");
    let other = TokenCommand::new(&env, "other", 3600, "0");
    other.add(&env, "other", "https://other.test/");
    let waiting = {
        let mut client = env.connect_raw();
        std::thread::spawn(move || {
            let started = Instant::now();
            let reply = client.request(r#"{"v":1,"id":1,"op":"get","name":"hung"}"#);
            (reply, started.elapsed())
        })
    };
    wait_until("the hung command runs", || hung.runs() == 1);
    // Other entries, static and minted, are answered while the mint hangs.
    assert_eq!(get(&env, "plain").ok().trim(), "plain-secret");
    assert_eq!(get(&env, "other").ok().trim(), other.token(1));
    assert!(!waiting.is_finished(), "the hung mint answered too early");
    let (reply, took) = waiting.join().unwrap();
    assert_eq!(reply["error"]["kind"], "source-failed", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("did not finish in time"), "{message}");
    assert!(message.contains("mint-timeout"), "{message}");
    assert!(took < Duration::from_secs(3 + 5), "took {took:?}");
}

#[test]
fn a_failed_command_says_its_exit_status_and_stderr_and_a_valid_token_is_still_served() {
    let (env, _agent) = agent("");
    let failing = TokenCommand::new(&env, "failing", 3600, "0");
    failing.set("fail", true);
    failing.add(&env, "failing", "https://failing.test/");
    let out = get(&env, "failing");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("exit status 7"), "{out:?}");
    assert!(out.stderr.contains("denied: key disabled"), "{out:?}");
    assert!(out.stderr.contains("credd refresh failing"), "{out:?}");
    let status = env.cli(&["status"]);
    assert!(status.ok().contains("last mint failed"), "{status:?}");
    // The failure is the answer for a while: lookups do not run the command again each time,
    // a forced refresh does.
    let again = get(&env, "failing");
    assert!(again.stderr.contains("exit status 7"), "{again:?}");
    assert_eq!(
        failing.runs(),
        1,
        "a lookup right after a failure minted again"
    );
    let refresh = env.cli(&["refresh", "failing"]);
    assert!(refresh.stderr.contains("exit status 7"), "{refresh:?}");
    assert_eq!(failing.runs(), 2, "refresh did not mint");

    // A token that is still valid is served while the command fails.
    let flaky = TokenCommand::new(&env, "flaky", 3600, "0");
    flaky.add(&env, "flaky", "https://flaky.test/");
    assert_eq!(get(&env, "flaky").ok().trim(), flaky.token(1));
    flaky.set("fail", true);
    let refresh = env.cli(&["refresh", "flaky"]);
    assert!(refresh.stderr.contains("exit status 7"), "{refresh:?}");
    assert_eq!(get(&env, "flaky").ok().trim(), flaky.token(1));
}

#[test]
fn lock_wipes_the_minted_token_and_the_sources_material() {
    let (env, agent) = agent("");
    let command = TokenCommand::new(&env, "wiped", 3600, "0");
    command.add(&env, "wiped", "https://wiped.test/");
    let token = command.token(1);
    assert_eq!(get(&env, "wiped").ok().trim(), token);
    // A gcp source's material: the key file, kept in the vault.
    let material = unique("planted-private-key-long-enough-that-its-tail-is-past-malloc-links");
    let key_file = env.dir.path().join("sa.json");
    std::fs::write(
        &key_file,
        format!(r#"{{"type":"service_account","private_key":"{material}"}}"#),
    )
    .unwrap();
    let out = env.cli(&[
        "add",
        "gar",
        "--url",
        "https://europe-python.pkg.dev/p/r/",
        "--gcp-key-file",
        key_file.to_str().unwrap(),
        "--remove-file",
    ]);
    assert!(out.stderr.contains("deleted"), "{out:?}");
    assert!(!key_file.exists());
    let tail = |text: &str| text.as_bytes()[text.len() - 24..].to_vec();
    assert!(
        count_in_memory(agent.pid(), &tail(&token)) > 0,
        "the scan sees nothing"
    );
    assert!(
        count_in_memory(agent.pid(), &tail(&material)) > 0,
        "the scan sees nothing"
    );
    env.cli(&["lock"]).ok();
    assert_eq!(
        (
            count_in_memory(agent.pid(), &tail(&token)),
            count_in_memory(agent.pid(), &tail(&material))
        ),
        (0, 0),
        "copies left after lock: (token, material)"
    );
    let log = env.log();
    assert!(
        !log.contains(&token) && !log.contains(&material),
        "a secret reached the log"
    );
}

/// A source's username counts as the entry's for duplicates, as it does for lookups: a static
/// `oauth2accesstoken` entry beside a gcp source for the same URL is refused, and the keyring
/// command's `set` does not silently turn a source entry into a static one.
#[test]
fn a_stored_secret_never_shadows_or_replaces_a_source_entry() {
    let (env, _agent) = agent("");
    let url = "https://europe-python.pkg.dev/p/r/";
    let key_file = env.dir.path().join("sa.json");
    std::fs::write(&key_file, r#"{"type":"service_account","private_key":"k"}"#).unwrap();
    let key = key_file.to_str().unwrap();
    env.cli(&["add", "gar", "--url", url, "--gcp-key-file", key])
        .ok();
    let out = env.run(
        &[
            "add",
            "static",
            "--url",
            url,
            "--username",
            "oauth2accesstoken",
            "--secret-stdin",
            "--socket",
            env.socket_str(),
        ],
        "s3cret\n",
    );
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("\"gar\" holds the credential of user \"oauth2accesstoken\""),
        "{out:?}"
    );
    let command = TokenCommand::new(&env, "kept", 3600, "0");
    command.add(&env, "kept", "https://kept.test/");
    let mut keyring = env.command();
    keyring
        .args(["keyring", "set", "https://kept.test/", ""])
        .env("CREDD_SOCKET", &env.socket);
    let out = run_with_limit(keyring, "s3cret\n");
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr.contains("mints this credential from a source"),
        "{out:?}"
    );
    assert_eq!(get(&env, "kept").ok().trim(), command.token(1));
}

#[test]
fn the_cargo_provider_and_the_keyring_command_serve_the_minted_token() {
    let (env, _agent) = agent("");
    let command = TokenCommand::new(&env, "fronts", 3600, "0");
    command.add(&env, "fronts", "sparse+https://cargo.minted.test/index/");
    let request = r#"{"v":1,"registry":{"index-url":"sparse+https://cargo.minted.test/index/"},"kind":"get","operation":"read","args":[]}"#;
    let mut plugin = env.command();
    plugin
        .arg("--cargo-plugin")
        .env("CREDD_SOCKET", &env.socket);
    let out = run_with_limit(plugin, &format!("{request}\n"));
    let listed: serde_json::Value =
        serde_json::from_str(env.cli(&["list", "--json"]).ok()).unwrap();
    let expires = listed[0]["token_expires"].as_u64().unwrap();
    assert_eq!(
        out.ok(),
        format!(
            "{{\"v\":[1]}}\n{{\"Ok\":{{\"kind\":\"get\",\"token\":\"{}\",\"cache\":\"expires\",\
             \"expiration\":{expires},\"operation_independent\":true}}}}\n",
            command.token(1)
        )
    );
    let mut keyring = env.command();
    keyring
        .args([
            "keyring",
            "get",
            "https://cargo.minted.test/index/",
            "__token__",
        ])
        .env("CREDD_SOCKET", &env.socket);
    let out = run_with_limit(keyring, "");
    assert_eq!(out.ok(), format!("{}\n", command.token(1)));
    assert_eq!(command.runs(), 1);
}

/// The fixture vault holding source entries (tests/fixtures/vault-v3-sources) opens through the
/// agent, and `list` shows its sources.
#[test]
fn the_committed_vault_with_sources_opens() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.vault().parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/vault-v3-sources", env.vault()).unwrap();
    let _agent = env.start_agent();
    let out = env.run(
        &["unlock", "--passphrase-stdin", "--socket", env.socket_str()],
        "correct horse\n",
    );
    out.ok();
    let listed = env.cli(&["list", "--json"]).ok().to_owned();
    for kind in [
        r#""kind":"gcp""#,
        r#""kind":"aws-codeartifact""#,
        r#""kind":"command""#,
    ] {
        assert!(listed.contains(kind), "{listed}");
    }
}

/// The soft open-files limit the recipes' shell sets: the job must get it back from `credd ci`,
/// which raises its own.
const JOB_OPEN_FILES: u32 = 1000;

/// The entries document of the CI recipes, for a static token and a command source.
fn ci_document(command: &TokenCommand) -> String {
    serde_json::json!({
        "entries": [
            {"name": "static", "url": "https://static.ci.test/", "username": "ci", "secret": "ci-static-secret"},
            {"name": "minted", "url": "https://minted.ci.test/",
             "secret": "",
             "source": {"kind": "command", "argv": [command.dir.join("mint.sh")],
                        "env": {"PREFIX": command.prefix}}}
        ]
    })
    .to_string()
}

/// The job of the recipe: reads both secrets through credd, and fails if either (or the
/// document holding them) is in its environment or that of any of its ancestors up to the
/// test (an ancestor that is not dumpable, `credd ci`, cannot be read by the job unless it is
/// root, and is read when it is).
fn ci_job(env: &TestEnv, command: &TokenCommand) -> PathBuf {
    let job = env.dir.path().join("job.sh");
    let credd = env!("CARGO_BIN_EXE_credd");
    std::fs::write(
        &job,
        format!(
            "#!/bin/sh\nset -e\n\
             test \"$({credd} get static)\" = ci-static-secret\n\
             test \"$({credd} keyring get https://minted.ci.test/ __token__)\" = {token}\n\
             pid=$$\n\
             while [ \"$pid\" -gt 1 ] && [ \"$pid\" != {top} ]; do\n\
               if [ -r /proc/$pid/environ ]; then tr '\\0' '\\n' < /proc/$pid/environ >> {environ}; fi\n\
               pid=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$pid/status)\n\
             done\n\
             grep -q '^CREDD_SOCKET=' {environ}\n\
             if grep -e '\"entries\"' {environ}; then exit 8; fi\n\
             if grep -e ci-static-secret -e {prefix} {environ}; then exit 9; fi\n\
             test -S \"$CREDD_SOCKET\"\n\
             case \"$CREDD_SOCKET\" in */credd-ci-$PPID/*) exit 6;; esac\n\
             test \"$(ulimit -n)\" = {open_files}\n\
             exit 5\n",
            token = command.token(1),
            prefix = command.prefix,
            environ = env.dir.path().join("environ").display(),
            top = std::process::id(),
            open_files = JOB_OPEN_FILES,
        ),
    )
    .unwrap();
    std::fs::set_permissions(&job, std::fs::Permissions::from_mode(0o755)).unwrap();
    job
}

#[test]
fn credd_ci_serves_the_job_from_memory_and_passes_its_exit_code_on() {
    let env = TestEnv::new();
    let command = TokenCommand::new(&env, "ci", 3600, "0");
    let job = ci_job(&env, &command);
    // The README's recipes, with `credd` and `./ci/build.sh` standing for the real paths.
    let recipe = |line: &str| {
        line.replace("credd ci", &format!("{} ci", env!("CARGO_BIN_EXE_credd")))
            .replace("./ci/build.sh", job.to_str().unwrap())
    };
    let credd_env = env.command();
    let shell = |shell: &str, line: String, var: &str| {
        let mut shell = std::process::Command::new(shell);
        let line = format!("ulimit -Sn {JOB_OPEN_FILES}; {line}");
        shell
            .args(["-e", "-c", &line])
            .env_clear()
            .envs(credd_env.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("CREDD_ENTRIES", var);
        run_with_limit(shell, "")
    };
    // GitHub Actions: the document in a secret's variable, moved to a descriptor by the step's
    // shell, which then becomes `credd ci`.
    let github = recipe(
        r#"exec 3<<<"$CREDD_ENTRIES"; unset CREDD_ENTRIES; exec credd ci --entries-fd 3 -- ./ci/build.sh"#,
    );
    let out = shell("/bin/bash", github, &ci_document(&command));
    assert_eq!(out.code(), 5, "{out:?}");
    assert_nothing_left(&env);

    // GitLab CI: a file variable, read and removed; stdin stays the job's. A new agent mints
    // anew: the command's count starts again.
    std::fs::remove_file(command.dir.join("count")).unwrap();
    std::fs::remove_file(env.dir.path().join("environ")).unwrap();
    let document = env.dir.path().join("entries.json");
    std::fs::write(&document, ci_document(&command)).unwrap();
    let gitlab =
        recipe(r#"credd ci --entries-file "$CREDD_ENTRIES" --remove-file -- ./ci/build.sh"#);
    let out = shell("/bin/sh", gitlab, document.to_str().unwrap());
    assert_eq!(out.code(), 5, "{out:?}");
    assert!(!document.exists(), "the GitLab file variable is left");
    assert_nothing_left(&env);
}

/// `credd ci` passes SIGTERM on to the job, whose agent keeps serving it until it exits, and a
/// SIGHUP (config reload) keeps the memory agent unlocked whatever the file's idle-timeout.
#[test]
fn credd_ci_passes_sigterm_to_the_job_and_a_reload_keeps_it_unlocked() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = 1\nmax-unlock = 1\n");
    let root = env.dir.path();
    let job = root.join("job.sh");
    std::fs::write(
        &job,
        format!(
            "#!/bin/sh\n\
             trap '{credd} get static > {got}; exit 7' TERM\n\
             echo up > {ready}\n\
             while :; do sleep 0.1; done\n",
            credd = env!("CARGO_BIN_EXE_credd"),
            got = root.join("got").display(),
            ready = root.join("ready").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&job, std::fs::Permissions::from_mode(0o755)).unwrap();
    let document = r#"{"entries": [{"name": "static", "url": "https://static.ci.test/", "secret": "ci-static-secret"}]}"#;
    let mut ci = env.command();
    ci.args(["ci", "--"])
        .arg(&job)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = ci.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), document.as_bytes()).unwrap();
    wait_until("the job runs", || root.join("ready").exists());
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-HUP");
    // Past the file's idle-timeout, which the reload must not bring back.
    std::thread::sleep(Duration::from_millis(2500));
    signal("-TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "credd ci did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(root.join("got")).unwrap().trim(),
        "ci-static-secret",
        "{stderr}"
    );
    assert_nothing_left(&env);
}

/// No vault and no socket directory is left behind by `credd ci`.
fn assert_nothing_left(env: &TestEnv) {
    assert!(!env.vault().exists());
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn credd_ci_refuses_a_broken_document_without_quoting_it() {
    let env = TestEnv::new();
    let mut ci = env.command();
    ci.args(["ci", "--", "/bin/true"]);
    let out = run_with_limit(ci, r#"{"entries":[{"name":"x","secret":"hunter2"}]}"#);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("credd ci:"), "{out:?}");
    assert!(!out.stderr.contains("hunter2"), "{out:?}");
}

/// `credd add`'s source options store the `Source` and the material in the formats
/// `credd_protocol::Source` documents; replacing an entry's source drops its cached token.
#[test]
fn add_stores_each_source_and_its_material_as_documented() {
    let (env, _agent) = agent("");
    let key_file = env.dir.path().join("key.json");
    let key =
        r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#;
    std::fs::write(&key_file, key).unwrap();
    let out = env.cli(&[
        "add",
        "gar",
        "--url",
        "https://us-python.pkg.dev/p/r/",
        "--gcp-key-file",
        key_file.to_str().unwrap(),
        "--gcp-scope",
        "https://www.googleapis.com/auth/cloud-platform.read-only",
    ]);
    assert!(out.stderr.contains("delete the plaintext file"), "{out:?}");
    assert!(key_file.exists(), "kept without --remove-file");
    env.cli_with_input(
        &[
            "add",
            "ca",
            "--url",
            "https://corp-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/r/simple/",
            "--aws-codeartifact",
            "corp",
            "--owner",
            "111122223333",
            "--region",
            "eu-west-1",
            "--duration",
            "900",
            "--session-token",
            "--secret-stdin",
        ],
        "AKIDEXAMPLE\nwJalrXUtnFEMI/K7MDENG\nsession-tok\n",
    )
    .ok();
    env.cli(&[
        "add",
        "cmd",
        "--url",
        "https://cmd.test/",
        "--token-command",
        r#"/usr/bin/tool --flag 'two words' "x\"y""#,
        "--token-env",
        "A=1",
        "--token-timeout",
        "5",
    ])
    .ok();
    let vault = credd::store::vault::VaultFile::new(env.vault());
    let (_, entries) = vault
        .open(&credd_protocol::Secret::new(common::PASSPHRASE))
        .unwrap();
    let stored = |name: &str| {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        (
            serde_json::to_value(&entry.source).unwrap(),
            entry.secret.expose().to_owned(),
        )
    };
    assert_eq!(
        stored("gar"),
        (
            serde_json::json!({"kind": "gcp", "scopes": ["https://www.googleapis.com/auth/cloud-platform.read-only"]}),
            key.to_owned()
        )
    );
    assert_eq!(
        stored("ca"),
        (
            serde_json::json!({"kind": "aws-codeartifact", "domain": "corp", "owner": "111122223333",
                               "region": "eu-west-1", "duration": 900}),
            r#"{"access_key_id":"AKIDEXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG","session_token":"session-tok"}"#.to_owned()
        )
    );
    assert_eq!(
        stored("cmd"),
        (
            serde_json::json!({"kind": "command", "argv": ["/usr/bin/tool", "--flag", "two words", "x\"y"],
                               "env": {"A": "1"}, "timeout": 5}),
            String::new()
        )
    );

    // A replaced source mints from the new command, not from the old token.
    let first = TokenCommand::new(&env, "first", 3600, "0");
    first.add(&env, "swap", "https://swap.test/");
    assert_eq!(get(&env, "swap").ok().trim(), first.token(1));
    let second = TokenCommand::new(&env, "second", 3600, "0");
    let script = second.dir.join("mint.sh");
    let prefix = format!("PREFIX={}", second.prefix);
    env.cli(&[
        "add",
        "swap",
        "--replace",
        "--url",
        "https://swap.test/",
        "--token-command",
        script.to_str().unwrap(),
        "--token-env",
        &prefix,
    ])
    .ok();
    assert_eq!(get(&env, "swap").ok().trim(), second.token(1));
}
