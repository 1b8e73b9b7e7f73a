//! The CLI end to end against a real agent: the everyday life of a credential.

mod common;

use common::{PASSPHRASE, TestEnv};

#[test]
fn init_add_get_list_remove_lock_unlock() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("corp", "sparse+https://cargo.corp.test/index/", "tok-corp");
    let add = [
        "add",
        "pypi",
        "--url",
        "https://pypi.corp.test/simple/",
        "--username",
        "ci",
        "--expires",
        "2030-01-31",
        "--note",
        "robot",
        "--secret-stdin",
    ];
    env.run(
        &[&add[..], &["--socket", env.socket_str()]].concat(),
        "pw-pypi\n",
    )
    .ok();

    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok-corp\n");
    let json: serde_json::Value =
        serde_json::from_str(env.cli(&["get", "pypi", "--json"]).ok()).unwrap();
    assert_eq!(json["username"], "ci");
    assert_eq!(json["secret"], "pw-pypi");
    assert_eq!(json["expires"], 1_896_048_000);

    let list = env.cli(&["list"]);
    assert_eq!(
        list.ok(),
        "corp\tsparse+https://cargo.corp.test/index/\t-\t-\npypi\thttps://pypi.corp.test/simple/\tci\t2030-01-31\n"
    );
    let listed: serde_json::Value =
        serde_json::from_str(env.cli(&["list", "--json"]).ok()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains("tok-corp") && !listed.to_string().contains("pw-pypi"));

    env.cli(&["remove", "pypi"]).ok();
    let gone = env.cli(&["get", "pypi"]);
    assert_eq!(gone.code(), 4, "{gone:?}");
    assert!(gone.stderr.contains("no entry named \"pypi\""), "{gone:?}");
    assert_eq!(env.cli(&["remove", "pypi"]).code(), 4);

    env.cli(&["lock"]).ok();
    let locked = env.cli(&["get", "corp"]);
    assert_eq!(locked.code(), 3, "{locked:?}");
    assert!(
        locked
            .stderr
            .contains("credd is locked: run 'credd unlock'"),
        "{locked:?}"
    );
    assert_eq!(env.cli(&["list"]).code(), 3);
    env.unlock().ok();
    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok-corp\n");
}

#[test]
fn url_lookup_follows_the_matching_rules() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("host", "https://reg.test/", "t-host");
    env.add("index", "sparse+https://reg.test/index/", "t-index");
    env.add("api", "https://reg.test/index/api", "t-api");
    env.add("port", "http://reg.test:8080/", "t-port");
    let get = |url: &str| env.cli(&["get", "--url", url]);
    for (url, secret) in [
        ("https://reg.test/index/", "t-index"),
        ("https://reg.test/index", "t-index"),
        ("sparse+https://reg.test/index/config.json", "t-index"),
        ("registry+https://REG.TEST/index/ab/cd/serde", "t-index"),
        ("https://reg.test:443/index/api/v1/crates", "t-api"),
        ("https://reg.test/indexes/", "t-host"),
        ("https://reg.test/?q=index", "t-host"),
        ("http://reg.test:8080/simple/", "t-port"),
    ] {
        assert_eq!(get(url).ok().trim_end(), secret, "{url}");
    }
    assert_eq!(
        get("http://reg.test/").code(),
        4,
        "http on port 80 is not https nor port 8080"
    );
    assert_eq!(get("https://other.test/index/").code(), 4);
    let empty = get("");
    assert_eq!(empty.code(), 1, "{empty:?}");
    assert!(
        empty.stderr.contains("name") || empty.stderr.contains("URL"),
        "{empty:?}"
    );
    assert_eq!(get("not a url").code(), 1);
}

#[test]
fn names_are_unique_unless_replaced() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("corp", "https://corp.test/", "first");
    let again = env.run(
        &[
            "add",
            "corp",
            "--url",
            "https://corp.test/",
            "--secret-stdin",
            "--socket",
            env.socket_str(),
        ],
        "second\n",
    );
    assert_eq!(again.code(), 1);
    assert!(again.stderr.contains("exists already"), "{again:?}");
    assert_eq!(env.cli(&["get", "corp"]).ok(), "first\n");
    env.run(
        &[
            "add",
            "corp",
            "--url",
            "https://corp.test/",
            "--secret-stdin",
            "--replace",
            "--socket",
            env.socket_str(),
        ],
        "second\n",
    )
    .ok();
    assert_eq!(env.cli(&["get", "corp"]).ok(), "second\n");
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let empty_secret = env.run(
        &[
            "add",
            "x",
            "--url",
            "https://x.test/",
            "--secret-stdin",
            "--socket",
            env.socket_str(),
        ],
        "\n",
    );
    assert!(
        empty_secret.stderr.contains("secret is empty"),
        "{empty_secret:?}"
    );
    let bad_url = env.run(
        &[
            "add",
            "x",
            "--url",
            "no-scheme",
            "--secret-stdin",
            "--socket",
            env.socket_str(),
        ],
        "s\n",
    );
    assert!(bad_url.stderr.contains("URL"), "{bad_url:?}");
    let bad_date = env.run(
        &[
            "add",
            "x",
            "--url",
            "https://x.test/",
            "--expires",
            "tomorrow",
            "--secret-stdin",
        ],
        "s\n",
    );
    assert_eq!(bad_date.code(), 2, "{bad_date:?}");
    assert_eq!(env.cli(&["get"]).code(), 2, "get needs a name or --url");
    assert_eq!(env.cli(&["list", "--json"]).ok(), "[]\n");
}

#[test]
fn init_refuses_an_existing_vault_and_passwd_changes_the_passphrase() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("corp", "https://corp.test/", "tok");
    let before = std::fs::read(env.vault()).unwrap();
    let again = env.run(
        &[
            "init",
            "--passphrase-stdin",
            "--kdf-memory",
            "64",
            "--kdf-passes",
            "1",
            "--socket",
            env.socket_str(),
        ],
        "other\n",
    );
    assert_eq!(again.code(), 1);
    assert!(again.stderr.contains("already exists"), "{again:?}");
    assert_eq!(
        std::fs::read(env.vault()).unwrap(),
        before,
        "init touched the existing vault"
    );

    env.run(
        &["passwd", "--passphrase-stdin", "--socket", env.socket_str()],
        &format!("{PASSPHRASE}\nnew passphrase\n"),
    )
    .ok();
    env.cli(&["lock"]).ok();
    assert!(env.unlock().stderr.contains("wrong passphrase"));
    env.run(
        &["unlock", "--passphrase-stdin", "--socket", env.socket_str()],
        "new passphrase\n",
    )
    .ok();
    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok\n");
}

#[test]
fn unlock_without_a_vault_and_without_a_terminal_names_the_fix() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let unlock = env.unlock();
    assert_eq!(unlock.code(), 1);
    assert!(unlock.stderr.contains("credd init"), "{unlock:?}");
    assert!(!env.vault().exists());
}

#[test]
fn vault_and_dirs_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let vault = env.vault();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&vault), 0o600);
    assert_eq!(mode(vault.parent().unwrap()), 0o700);
    let bytes = std::fs::read(&vault).unwrap();
    assert!(
        !bytes
            .windows(PASSPHRASE.len())
            .any(|w| w == PASSPHRASE.as_bytes())
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let env = TestEnv::new();
    let help = env.run(&["--help"], "");
    for line in [
        "0  success",
        "2  usage error",
        "3  credd is locked",
        "4  no such entry",
    ] {
        assert!(help.ok().contains(line), "{line}");
    }
}
