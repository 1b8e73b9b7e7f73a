//! `credd import pip` end to end: a real agent, the real CLI, pip's configuration files and
//! `.netrc` in a temporary HOME and XDG_CONFIG_HOME; and the real pip, to check that credd reads
//! pip's files as pip does.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::pypi::venv_bin;
use common::{Output, TestEnv, mode_of, run_with_limit};

/// Every secret the files below hold, as written and as decoded: none may ever be printed.
const SECRETS: [&str; 9] = [
    "pw%2Fa1",
    "pw/a1",
    "TOKEN-b2",
    "LEG-pw-c3",
    "NETRC-pw-d4",
    "GH-tok-e5",
    "guest-f6",
    "ENV-pw-g7",
    "SYS-pw-h8",
];

/// The user's pip.conf ($XDG_CONFIG_HOME/pip/pip.conf).
const PIP_CONF: &str = "\
# corp indexes
[global]
index-url = https://alice:pw%2Fa1@pypi.corp.test/simple/
timeout = 30
extra-index-url =
    https://mirror.test/simple/
    # the token index
    https://:TOKEN-b2@tok.test/simple/

[install]
; the same login, written twice
extra_index_url: https://alice:pw%2Fa1@pypi.corp.test/simple/
trusted-host = pypi.corp.test
";

/// PIP_CONF once imported with --remove.
const PIP_CONF_AFTER: &str = "\
# corp indexes
[global]
index-url = https://alice@pypi.corp.test/simple/
timeout = 30
extra-index-url =
    https://mirror.test/simple/
    # the token index
    https://tok.test/simple/

[install]
; the same login, written twice
extra_index_url: https://alice@pypi.corp.test/simple/
trusted-host = pypi.corp.test
";

/// The legacy ~/.pip/pip.conf.
const LEGACY_CONF: &str =
    "[global]\r\nextra-index-url = https://bob:LEG-pw-c3@legacy.test/simple\r\n";

/// ~/.netrc: a login for an index host, one for another host, and a default.
const NETRC: &str = "\
# hosts
machine mirror.test
  login mirrorbot
  password NETRC-pw-d4
machine github.com login me password GH-tok-e5
default login anonymous password guest-f6
";

/// NETRC without its `default` entry, once imported with --remove.
const NETRC_AFTER: &str = "\
# hosts
machine github.com login me password GH-tok-e5
";

/// The entries the files above become, as `credd list` prints them.
const LISTED: &str = "\
alice@pypi.corp.test/simple\thttps://pypi.corp.test/simple/\talice\t-\tread+publish (no step-up)
bob@legacy.test/simple\thttps://legacy.test/simple\tbob\t-\tread+publish (no step-up)
mirrorbot@mirror.test/simple\thttps://mirror.test/simple/\tmirrorbot\t-\tread+publish (no step-up)
tok.test/simple\thttps://tok.test/simple/\t-\t-\tread+publish (no step-up)
";

/// The paths of a test's pip files.
struct PipFiles {
    conf: PathBuf,
    legacy: PathBuf,
    netrc: PathBuf,
}

/// Writes PIP_CONF, LEGACY_CONF and NETRC where pip finds them in `env`'s HOME.
fn write_pip_files(env: &TestEnv) -> PipFiles {
    let root = env.dir.path();
    let files = PipFiles {
        conf: root.join("config/pip/pip.conf"),
        legacy: root.join("home/.pip/pip.conf"),
        netrc: root.join("home/.netrc"),
    };
    for (path, text, mode) in [
        (&files.conf, PIP_CONF, 0o640),
        (&files.legacy, LEGACY_CONF, 0o600),
        (&files.netrc, NETRC, 0o600),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    files
}

/// Runs `credd import pip ARGS` with `vars` added to `env`'s environment.
fn import(env: &TestEnv, args: &[&str], vars: &[(&str, &Path)]) -> Output {
    let mut command = env.command();
    command
        .args(["import", "pip"])
        .args(args)
        .args(["--socket", env.socket_str()]);
    for (name, value) in vars {
        command.env(name, value);
    }
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

/// The entry `name` as `credd get --json` prints it.
fn entry_json(env: &TestEnv, name: &str) -> serde_json::Value {
    serde_json::from_str(env.cli(&["get", name, "--json"]).ok()).unwrap()
}

#[test]
fn import_remove_moves_url_and_netrc_passwords_and_keeps_the_rest() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let files = write_pip_files(&env);

    let out = import(&env, &["--remove"], &[]);
    out.ok();
    assert_no_secret(&out);
    assert_eq!(out.stdout, "");
    for reported in [
        "https://pypi.corp.test/simple/",
        "https://tok.test/simple/",
        "https://legacy.test/simple",
        "machine mirror.test",
        "the `default` entry",
        "--remove leaves machine mirror.test",
    ] {
        assert!(
            out.stderr.contains(reported),
            "{reported} not reported: {out:?}"
        );
    }
    assert!(!out.stderr.contains("github.com"), "{out:?}");

    assert_eq!(env.cli(&["list"]).ok(), LISTED);
    for (name, username, secret) in [
        ("alice@pypi.corp.test/simple", Some("alice"), "pw/a1"),
        ("tok.test/simple", None, "TOKEN-b2"),
        ("bob@legacy.test/simple", Some("bob"), "LEG-pw-c3"),
        (
            "mirrorbot@mirror.test/simple",
            Some("mirrorbot"),
            "NETRC-pw-d4",
        ),
    ] {
        let entry = entry_json(&env, name);
        assert_eq!(entry["secret"], secret, "{entry}");
        assert_eq!(entry["username"].as_str(), username, "{entry}");
    }
    assert_eq!(
        env.cli(&["get", "--url", "https://mirror.test/simple/pkg/"])
            .ok(),
        "NETRC-pw-d4\n"
    );

    assert_eq!(
        std::fs::read_to_string(&files.conf).unwrap(),
        PIP_CONF_AFTER
    );
    assert_eq!(
        std::fs::read_to_string(&files.legacy).unwrap(),
        "[global]\r\nextra-index-url = https://bob@legacy.test/simple\r\n"
    );
    // Without its machine, mirror.test would get the `default` entry's login from pip first.
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC);
    assert_eq!(mode_of(&files.conf), 0o640);
    assert_eq!(mode_of(&files.legacy), 0o600);
    assert_eq!(mode_of(&files.netrc), 0o600);

    // Once the `default` entry is gone, a second run removes the machine it had imported, and
    // changes nothing else.
    let without_default = NETRC.replace("default login anonymous password guest-f6\n", "");
    std::fs::write(&files.netrc, without_default).unwrap();
    let again = import(&env, &["--remove"], &[]);
    again.ok();
    assert_no_secret(&again);
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC_AFTER);
    assert_eq!(env.cli(&["list"]).ok(), LISTED);
    let third = import(&env, &["--remove"], &[]);
    third.ok();
    assert!(third.stderr.contains("nothing imported"), "{third:?}");
}

#[test]
fn import_without_remove_keeps_the_files_and_never_replaces_an_entry() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let files = write_pip_files(&env);
    env.add(
        "tok.test/simple",
        "https://tok.test/simple/",
        "OTHER-tok-0000",
    );

    let out = import(&env, &[], &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(out.stderr.contains("--remove"), "{out:?}");
    assert!(
        out.stderr.contains("tok.test/simple") && out.stderr.contains("another password"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&files.conf).unwrap(), PIP_CONF);
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC);
    assert_eq!(
        env.cli(&["get", "tok.test/simple"]).ok(),
        "OTHER-tok-0000\n"
    );

    // Imported once already: --remove now takes the passwords out, except the conflicting one.
    let out = import(&env, &["--remove"], &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(out.stderr.contains("was already in credd"), "{out:?}");
    let after = std::fs::read_to_string(&files.conf).unwrap();
    assert_eq!(
        after,
        PIP_CONF_AFTER.replace("https://tok.test/", "https://:TOKEN-b2@tok.test/")
    );
    // The `default` entry keeps the machine in (see the test above).
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC);
    assert_eq!(
        env.cli(&["get", "tok.test/simple"]).ok(),
        "OTHER-tok-0000\n"
    );
}

#[test]
fn an_entry_of_another_name_for_the_same_url_and_user_counts_as_imported() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let files = write_pip_files(&env);
    let add = |name: &str, url: &str, username: &str, secret: &str| {
        let args = [
            "add",
            name,
            "--url",
            url,
            "--username",
            username,
            "--secret-stdin",
        ];
        env.cli_with_input(&args, &format!("{secret}\n")).ok();
    };
    add("corp", "https://pypi.corp.test/simple", "alice", "pw/a1");
    add(
        "mirror",
        "https://mirror.test/simple/",
        "mirrorbot",
        "OTHER-pw-0000",
    );

    let out = import(&env, &["--remove"], &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(out.stderr.contains("was already in credd"), "{out:?}");
    assert!(
        out.stderr.contains(
            "credd's entry mirror serves https://mirror.test/simple/ for mirrorbot \
                             with another password"
        ),
        "{out:?}"
    );
    // No second entry for alice, so that a lookup stays unambiguous; the conflicting login stays.
    let list = env.cli(&["list"]);
    assert!(!list.ok().contains("alice@"), "{list:?}");
    assert_eq!(
        env.cli(&[
            "get",
            "--url",
            "https://pypi.corp.test/simple/",
            "--username",
            "alice"
        ])
        .ok(),
        "pw/a1\n"
    );
    assert_eq!(
        std::fs::read_to_string(&files.conf).unwrap(),
        PIP_CONF_AFTER
    );
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC);
}

#[test]
fn pip_config_file_and_netrc_variables_name_the_files() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let files = write_pip_files(&env);
    let root = env.dir.path();
    let custom = root.join("custom.conf");
    std::fs::write(
        &custom,
        "[download]\nindex-url=http://bot:ENV-pw-g7@127.0.0.1:8080/\n",
    )
    .unwrap();
    let netrc = root.join("other-netrc");
    std::fs::write(
        &netrc,
        "machine 127.0.0.1 login x password SYS-pw-h8\nmachine mirror.test password GH-tok-e5\n",
    )
    .unwrap();

    let out = import(
        &env,
        &["--remove"],
        &[("PIP_CONFIG_FILE", &custom), ("NETRC", &netrc)],
    );
    out.ok();
    assert_no_secret(&out);
    // An existing PIP_CONFIG_FILE hides the user files from pip, and so from credd.
    assert_eq!(std::fs::read_to_string(&files.conf).unwrap(), PIP_CONF);
    assert_eq!(std::fs::read_to_string(&files.legacy).unwrap(), LEGACY_CONF);
    assert_eq!(std::fs::read_to_string(&files.netrc).unwrap(), NETRC);
    assert_eq!(
        std::fs::read_to_string(&custom).unwrap(),
        "[download]\nindex-url=http://bot@127.0.0.1:8080/\n"
    );
    // mirror.test is no index host of these files: its machine stays.
    assert_eq!(
        std::fs::read_to_string(&netrc).unwrap(),
        "machine mirror.test password GH-tok-e5\n"
    );
    assert_eq!(
        env.cli(&["list"]).ok(),
        "bot@127.0.0.1:8080\thttp://127.0.0.1:8080/\tbot\t-\tread+publish (no step-up)\n\
         x@127.0.0.1:8080\thttp://127.0.0.1:8080/\tx\t-\tread+publish (no step-up)\n"
    );
}

#[test]
fn odd_urls_are_skipped_and_said_why_without_their_passwords() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let root = env.dir.path();
    let conf = root.join("config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    let text = "[global]\nindex-url = https://u:TOKEN-b2@/simple/\n\
                extra-index-url = https://nopass@h.test/ https://u:@empty.test/ /local/dir\n\
                [install]\nindex-url = https://u:TOKEN-b2@h.test:99999/\n";
    std::fs::write(&conf, text).unwrap();

    let out = import(&env, &["--remove"], &[]);
    out.ok();
    assert_no_secret(&out);
    assert!(
        out.stderr.contains("[global] index-url") && out.stderr.contains("not a URL"),
        "{out:?}"
    );
    assert!(out.stderr.contains("password is empty"), "{out:?}");
    assert!(
        out.stderr.contains("[install] index-url")
            && out.stderr.contains("https://h.test:99999/ is not a URL"),
        "{out:?}"
    );
    assert!(out.stderr.contains("nothing imported"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);
}

#[test]
fn broken_or_unreadable_files_fail_by_line_without_their_text() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let root = env.dir.path();
    let conf = root.join("config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();

    std::fs::write(
        &conf,
        "[global]\nindex-url = https://u:TOKEN-b2@h.test/\nTOKEN-b2\n",
    )
    .unwrap();
    let out = import(&env, &[], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_no_secret(&out);
    assert!(
        out.stderr.contains(&conf.display().to_string()) && out.stderr.contains("line 3"),
        "{out:?}"
    );

    std::fs::write(&conf, "[global]\nindex-url = https://u:TOKEN-b2@h.test/\n").unwrap();
    let netrc = root.join("home/.netrc");
    std::fs::write(&netrc, "machine h.test\n  passwd GH-tok-e5\n").unwrap();
    let out = import(&env, &["--remove"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_no_secret(&out);
    assert!(
        out.stderr.contains(".netrc") && out.stderr.contains("line 2"),
        "{out:?}"
    );

    // A file that cannot be read (a directory where .netrc belongs; root reads any file).
    std::fs::remove_file(&netrc).unwrap();
    std::fs::create_dir(&netrc).unwrap();
    let out = import(&env, &["--remove"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot read") && out.stderr.contains(".netrc"),
        "{out:?}"
    );
    // Nothing was stored or removed.
    assert!(!env.cli(&["list"]).stdout.contains("h.test"));
    assert!(std::fs::read_to_string(&conf).unwrap().contains("TOKEN-b2"));
}

#[test]
fn no_pip_files_nothing_to_import() {
    let env = TestEnv::new();
    let out = import(&env, &[], &[]);
    out.ok();
    assert!(out.stderr.contains("nothing to import"), "{out:?}");
}

/// The real pip reads the same index URLs from the same files, sections and lines: what
/// `pip config list` prints, against what credd imports from them; and Python's netrc module
/// reads the `.netrc` credd rewrote.
#[test]
fn pip_itself_reads_the_urls_credd_imports() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    write_pip_files(&env);
    let root = env.dir.path();

    // The environment credd runs in (TestEnv::command), for pip.
    let mut command = std::process::Command::new(venv_bin("pip"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root.join("home"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    command.current_dir(root).args(["config", "list"]);
    let listed = run_with_limit(command, "");
    let listed = listed.ok();
    // pip prints `section.key='value'`, the value as configparser joined it.
    let urls: Vec<String> = listed
        .lines()
        .filter(|l| l.contains("index-url="))
        .flat_map(|l| {
            let value = l.split_once('=').unwrap().1.trim_matches('\'').to_owned();
            value
                .replace("\\n", "\n")
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut urls: Vec<String> = urls;
    urls.sort();
    urls.dedup();
    assert_eq!(
        urls,
        [
            "https://:TOKEN-b2@tok.test/simple/",
            "https://alice:pw%2Fa1@pypi.corp.test/simple/",
            "https://bob:LEG-pw-c3@legacy.test/simple",
            "https://mirror.test/simple/",
        ],
        "pip config list:\n{listed}"
    );
    assert!(listed.contains("install.extra-index-url="), "{listed}");

    // Without a `default` entry, which would keep the machines in.
    let netrc = root.join("home/.netrc");
    let without_default = NETRC.replace("default login anonymous password guest-f6\n", "");
    std::fs::write(&netrc, without_default).unwrap();
    let out = import(&env, &["--remove"], &[]);
    out.ok();
    assert_eq!(env.cli(&["list"]).ok(), LISTED);

    // Python's netrc module (which requests, inside pip, uses) reads the rewritten .netrc: the
    // other machines are still there, the imported one is gone.
    let mut python = std::process::Command::new(venv_bin("python"));
    python.args([
        "-c",
        "import json, netrc, sys; n = netrc.netrc(sys.argv[1]); \
         print(json.dumps({h: a[0] for h, a in sorted(n.hosts.items())}))",
    ]);
    python.arg(&netrc);
    let hosts = run_with_limit(python, "");
    assert_eq!(hosts.ok(), "{\"github.com\": \"me\"}\n");
}

/// Two of pip's files set the same index with different passwords: pip uses the later file's
/// (the user file over the legacy one), and so does the import; the other stays where it is.
#[test]
fn the_password_of_the_file_pip_reads_last_is_imported() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let root = env.dir.path();
    for (path, password) in [
        ("home/.pip/pip.conf", "OLD-pw-legacy"),
        ("config/pip/pip.conf", "NEW-pw-user"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            format!("[global]\nindex-url = https://u:{password}@dup.test/simple/\n"),
        )
        .unwrap();
    }
    let out = import(&env, &[], &[]);
    out.ok();
    assert!(out.stderr.contains("skipped"), "{out:?}");
    assert!(!format!("{out:?}").contains("-pw-"), "{out:?}");
    assert_eq!(env.cli(&["get", "u@dup.test/simple"]).ok(), "NEW-pw-user\n");
}
