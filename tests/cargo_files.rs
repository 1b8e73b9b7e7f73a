//! `credd setup cargo` and `credd import cargo` end to end: a real agent, the real CLI, and a
//! temporary CARGO_HOME.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{Output, TestEnv, mode_of, run_with_limit};

/// A temporary CARGO_HOME inside the test environment.
fn cargo_home(env: &TestEnv) -> PathBuf {
    let home = env.dir.path().join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// Runs `credd ARGS --socket SOCKET` with CARGO_HOME set.
fn credd(env: &TestEnv, home: &Path, args: &[&str]) -> Output {
    let mut command = env.command();
    command
        .env("CARGO_HOME", home)
        .args(args)
        .args(["--socket", env.socket_str()]);
    run_with_limit(command, "")
}

const GLOBAL: &str = "[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd\"]\n";

#[test]
fn setup_creates_the_config_and_a_second_run_changes_nothing() {
    let env = TestEnv::new();
    let home = env.dir.path().join("new-cargo-home");
    let config = home.join("config.toml");

    let first = credd(&env, &home, &["setup", "cargo"]);
    first.ok();
    assert_eq!(std::fs::read_to_string(&config).unwrap(), GLOBAL);
    assert_eq!(mode_of(&config), 0o644);
    assert!(first.stderr.contains("import cargo"), "{first:?}");
    assert_eq!(first.stdout, "");

    let second = credd(&env, &home, &["setup", "cargo"]);
    second.ok();
    assert!(second.stderr.contains("nothing to change"), "{second:?}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), GLOBAL);
}

#[test]
fn setup_edits_an_existing_list_keeping_comments_and_mode() {
    let env = TestEnv::new();
    let home = cargo_home(&env);
    let config = home.join("config.toml");
    let before = "\
# my settings
[registry]
# providers, most trusted last
global-credential-providers = [\"credd\", \"cargo:libsecret\"] # linux

[net]
retry = 3
";
    std::fs::write(&config, before).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    credd(&env, &home, &["setup", "cargo"]).ok();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before.replace(
            "[\"credd\", \"cargo:libsecret\"]",
            "[\"cargo:token\", \"cargo:libsecret\", \"credd\"]"
        )
    );
    assert_eq!(mode_of(&config), 0o600);
}

#[test]
fn setup_dry_run_prints_the_change_and_writes_nothing() {
    let env = TestEnv::new();
    let home = cargo_home(&env);
    let config = home.join("config.toml");

    let dry = credd(&env, &home, &["setup", "cargo", "--dry-run"]);
    dry.ok();
    assert!(!config.exists());
    assert!(
        dry.stdout
            .contains("+global-credential-providers = [\"cargo:token\", \"credd\"]"),
        "{dry:?}"
    );
    assert!(dry.stderr.contains("dry run"), "{dry:?}");

    let before = "[net]\nretry = 3\n";
    std::fs::write(&config, before).unwrap();
    let dry = credd(
        &env,
        &home,
        &["setup", "cargo", "--registry", "corp", "--dry-run"],
    );
    dry.ok();
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert!(
        dry.stdout.contains("+credential-provider = \"credd\""),
        "{dry:?}"
    );
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        1,
        "no temporary files"
    );
}

#[test]
fn setup_registry_sets_the_provider_and_warns_without_an_index() {
    let env = TestEnv::new();
    let home = cargo_home(&env);
    let config = home.join("config.toml");
    let before = "\
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # corp
";
    std::fs::write(&config, before).unwrap();

    let corp = credd(&env, &home, &["setup", "cargo", "--registry", "corp"]);
    corp.ok();
    assert!(!corp.stderr.contains("no `index`"), "{corp:?}");
    assert!(
        corp.stderr.contains("cargo login --registry corp"),
        "{corp:?}"
    );
    let after = "\
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # corp
credential-provider = \"credd\"
";
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
    let again = credd(&env, &home, &["setup", "cargo", "--registry", "corp"]);
    assert!(again.ok().is_empty() && again.stderr.contains("nothing to change"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);

    let other = credd(&env, &home, &["setup", "cargo", "--registry", "other"]);
    other.ok();
    assert!(
        other.stderr.contains("[registries.other] has no `index`"),
        "{other:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!("{after}\n[registries.other]\ncredential-provider = \"credd\"\n")
    );

    let bad = credd(&env, &home, &["setup", "cargo", "--registry", "a.b"]);
    assert_eq!(bad.code(), 1, "{bad:?}");
}

#[test]
fn setup_edits_the_legacy_config_when_only_it_exists() {
    let env = TestEnv::new();
    let home = cargo_home(&env);
    std::fs::write(home.join("config"), "[net]\nretry = 3\n").unwrap();
    credd(&env, &home, &["setup", "cargo"]).ok();
    assert_eq!(
        std::fs::read_to_string(home.join("config")).unwrap(),
        format!("[net]\nretry = 3\n\n{GLOBAL}")
    );
    assert!(!home.join("config.toml").exists());
}

const CREDENTIALS: &str = "\
# Cargo credentials
[registry]
token = \"CIO-tok-1a2b\"

# the company registry
[registries.corp]
token = \"CORP-tok-3c4d\" # rotated monthly
user-note = \"keep me\"

[registries.team-b]
token = \"TEAMB-tok-5e6f\"

[registries.lost]
token = \"LOST-tok-7a8b\"

[registries.signed]
secret-key = \"k3.secret.SIGNED-key-9c0d\"
";

const IMPORTED: [(&str, &str); 3] = [
    ("sparse+https://index.crates.io/", "CIO-tok-1a2b"),
    ("sparse+https://cargo.corp.test/index/", "CORP-tok-3c4d"),
    ("sparse+https://b.team.test/", "TEAMB-tok-5e6f"),
];

const SECRETS: [&str; 5] = ["CIO-tok", "CORP-tok", "TEAMB-tok", "LOST-tok", "SIGNED-key"];

/// A CARGO_HOME with [`CREDENTIALS`] (mode 0600) and a config giving corp's index; team-b's index
/// comes from the environment in [`import`].
fn cargo_home_with_credentials(env: &TestEnv) -> PathBuf {
    let home = cargo_home(env);
    std::fs::write(
        home.join("config.toml"),
        "[registries.corp]\nindex = \"sparse+https://cargo.corp.test/index/\"\n",
    )
    .unwrap();
    let credentials = home.join("credentials.toml");
    std::fs::write(&credentials, CREDENTIALS).unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    home
}

/// `credd import cargo ARGS`, with team-b's index in the environment.
fn import(env: &TestEnv, home: &Path, args: &[&str]) -> Output {
    let mut command = env.command();
    command
        .env("CARGO_HOME", home)
        .env(
            "CARGO_REGISTRIES_TEAM_B_INDEX",
            "sparse+https://b.team.test/",
        )
        .args(["import", "cargo"])
        .args(args)
        .args(["--socket", env.socket_str()]);
    run_with_limit(command, "")
}

#[track_caller]
fn assert_no_secret(output: &Output) {
    for secret in SECRETS {
        assert!(
            !output.stdout.contains(secret) && !output.stderr.contains(secret),
            "{secret} printed: {output:?}"
        );
    }
}

#[test]
fn import_remove_moves_the_tokens_and_keeps_the_rest() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let home = cargo_home_with_credentials(&env);
    let credentials = home.join("credentials.toml");

    let out = import(&env, &home, &["--remove"]);
    out.ok();
    assert_no_secret(&out);
    assert_eq!(out.stdout, "");
    for (url, _) in IMPORTED {
        assert!(out.stderr.contains(url), "{url} not reported: {out:?}");
    }
    assert!(
        out.stderr.contains("lost") && out.stderr.contains("CARGO_REGISTRIES_LOST_INDEX"),
        "{out:?}"
    );
    assert!(out.stderr.contains("signed"), "{out:?}");

    for (url, token) in IMPORTED {
        assert_eq!(env.cli(&["get", "--url", url]).ok(), format!("{token}\n"));
    }
    assert_eq!(env.cli(&["get", "crates-io"]).ok(), "CIO-tok-1a2b\n");
    let list = env.cli(&["list"]);
    assert_eq!(
        list.ok(),
        "corp\tsparse+https://cargo.corp.test/index/\t-\t-\tread+publish (no step-up)\n\
         crates-io\tsparse+https://index.crates.io/\t-\t-\tread+publish (no step-up)\n\
         team-b\tsparse+https://b.team.test/\t-\t-\tread+publish (no step-up)\n"
    );

    let after = std::fs::read_to_string(&credentials).unwrap();
    for (_, token) in IMPORTED {
        assert!(!after.contains(token), "{token} left in:\n{after}");
    }
    assert_eq!(
        after,
        "\
# Cargo credentials

# the company registry
[registries.corp]
user-note = \"keep me\"

[registries.lost]
token = \"LOST-tok-7a8b\"

[registries.signed]
secret-key = \"k3.secret.SIGNED-key-9c0d\"
"
    );
    assert_eq!(mode_of(&credentials), 0o600);

    // Running it again imports nothing more and leaves the file alone.
    let again = import(&env, &home, &["--remove"]);
    again.ok();
    assert_no_secret(&again);
    assert_eq!(std::fs::read_to_string(&credentials).unwrap(), after);
}

#[test]
fn import_without_remove_keeps_the_file_and_counts_the_same_token_as_imported() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let home = cargo_home_with_credentials(&env);
    let credentials = home.join("credentials.toml");
    env.add(
        "corp",
        "sparse+https://cargo.corp.test/index/",
        "CORP-tok-3c4d",
    );
    env.add("team-b", "sparse+https://b.team.test/", "OTHER-tok-0000");

    let out = import(&env, &home, &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(!out.stderr.contains("OTHER-tok"), "{out:?}");
    assert!(out.stderr.contains("--remove"), "{out:?}");
    assert!(
        out.stderr.contains("team-b") && out.stderr.contains("another token"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&credentials).unwrap(), CREDENTIALS);
    assert_eq!(env.cli(&["get", "team-b"]).ok(), "OTHER-tok-0000\n");
    assert_eq!(env.cli(&["get", "crates-io"]).ok(), "CIO-tok-1a2b\n");

    // With --remove, the token credd already had is removed; the conflicting one stays.
    let out = import(&env, &home, &["--remove"]);
    out.ok();
    assert_no_secret(&out);
    let after = std::fs::read_to_string(&credentials).unwrap();
    assert!(
        !after.contains("CIO-tok") && !after.contains("CORP-tok"),
        "{after}"
    );
    assert!(after.contains("TEAMB-tok-5e6f"), "{after}");
    assert_eq!(env.cli(&["get", "team-b"]).ok(), "OTHER-tok-0000\n");
}

#[test]
fn import_never_shows_a_password_in_an_index_url() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let home = cargo_home_with_credentials(&env);
    std::fs::write(
        home.join("config.toml"),
        "[registries.corp]\nindex = \"sparse+https://bot:URL-pw-9z@cargo.corp.test/index/\"\n",
    )
    .unwrap();
    let out = import(&env, &home, &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(
        !out.stderr.contains("URL-pw-9z") && out.stderr.contains("cargo.corp.test/index/"),
        "{out:?}"
    );
}

#[test]
fn import_while_locked_fails_and_leaves_the_file_alone() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.cli(&["lock"]).ok();
    let home = cargo_home_with_credentials(&env);
    let credentials = home.join("credentials.toml");

    let out = import(&env, &home, &["--remove"]);
    assert_eq!(out.code(), 3, "{out:?}");
    assert!(
        out.stderr.contains("credd is locked: run 'credd unlock'"),
        "{out:?}"
    );
    assert_no_secret(&out);
    assert_eq!(std::fs::read(&credentials).unwrap(), CREDENTIALS.as_bytes());
    assert_eq!(mode_of(&credentials), 0o600);
}

#[test]
fn import_of_a_broken_file_names_the_line_only() {
    let env = TestEnv::new();
    let home = cargo_home(&env);
    let credentials = home.join("credentials.toml");
    let broken = "[registry]\ntoken = \"CIO-tok-1a2b\"\nCORP-tok-3c4d\n";
    std::fs::write(&credentials, broken).unwrap();
    let out = import(&env, &home, &["--remove"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("line 3"), "{out:?}");
    assert_no_secret(&out);
    assert_eq!(std::fs::read_to_string(&credentials).unwrap(), broken);
}

#[test]
fn import_reads_the_legacy_credentials_file() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let home = cargo_home(&env);
    let legacy = home.join("credentials");
    std::fs::write(&legacy, "[registry]\ntoken = \"CIO-tok-1a2b\"\n").unwrap();
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = import(&env, &home, &["--remove"]);
    out.ok();
    assert_no_secret(&out);
    assert_eq!(std::fs::read_to_string(&legacy).unwrap(), "");
    assert_eq!(mode_of(&legacy), 0o640);
    assert!(!home.join("credentials.toml").exists());
    assert_eq!(
        env.cli(&["get", "--url", "sparse+https://index.crates.io/"])
            .ok(),
        "CIO-tok-1a2b\n"
    );
}
