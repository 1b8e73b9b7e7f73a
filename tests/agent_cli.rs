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
        "corp\tsparse+https://cargo.corp.test/index/\t-\t-\tread+publish (no step-up)\n\
         pypi\thttps://pypi.corp.test/simple/\tci\t2030-01-31\tread+publish (no step-up)\n"
    );
    assert!(
        list.stderr.starts_with(
            "NAME\tURL\tUSERNAME\tEXPIRES\tUSE\ncredd: 2 of these also serve publishing"
        ),
        "{list:?}"
    );
    let status = env.cli(&["status"]);
    assert!(
        status.ok().contains("state: unlocked, 2 entries;"),
        "{status:?}"
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
    // Any string is a service a keyring-style tool may have stored: not a URL is no error.
    assert_eq!(get("not a url").code(), 4);
}

#[test]
fn several_users_of_one_index_are_chosen_by_username_never_guessed() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let index = "https://pypi.corp.test/simple/";
    for (name, user, secret) in [
        ("corp-bot", "bot", "pw-bot"),
        ("corp-pub", "publisher", "pw-pub"),
    ] {
        let added = env.run(
            &[
                "add",
                name,
                "--url",
                index,
                "--username",
                user,
                "--secret-stdin",
                "--socket",
                env.socket_str(),
            ],
            &format!("{secret}\n"),
        );
        assert!(added.status.success(), "{added:?}");
    }
    let get = |args: &[&str]| {
        env.cli(
            &[
                &["get", "--url", "https://pypi.corp.test/simple/pkg/"],
                args,
            ]
            .concat(),
        )
    };
    assert_eq!(get(&["--username", "bot"]).ok(), "pw-bot\n");
    assert_eq!(get(&["--username", "publisher"]).ok(), "pw-pub\n");
    assert_eq!(get(&["--username", "mallory"]).code(), 4);
    let ambiguous = get(&[]);
    assert_eq!(ambiguous.code(), 1, "{ambiguous:?}");
    assert!(
        ambiguous.stderr.contains(r#""bot" (entry "corp-bot")"#)
            && ambiguous
                .stderr
                .contains(r#""publisher" (entry "corp-pub")"#)
            && ambiguous.stderr.contains("--username"),
        "{ambiguous:?}"
    );
    assert!(ambiguous.stdout.is_empty() && !ambiguous.stderr.contains("pw-"));
    let by_name_with_user = env.cli(&["get", "corp-bot", "--username", "bot"]);
    assert_eq!(by_name_with_user.code(), 2, "--username goes with --url");
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
    assert!(
        again.stderr.contains("exists already") && again.stderr.contains("--replace"),
        "{again:?}"
    );
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
    // No terminal to ask on: the message names the option that reads stdin.
    let no_tty = env.cli(&["add", "x", "--url", "https://x.test/"]);
    assert!(
        no_tty.stderr.contains("with --secret-stdin") && !no_tty.stderr.contains("--*-"),
        "{no_tty:?}"
    );
    let no_tty = env.cli(&["passwd"]);
    assert!(
        no_tty.stderr.contains("with --passphrase-stdin"),
        "{no_tty:?}"
    );
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
    let again = env.init_with("other");
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
    // The entry point Cargo runs is findable.
    assert!(help.ok().contains("--cargo-plugin"), "{help:?}");
    let bare = env.run(&[], "");
    assert_eq!(bare.code(), 2);
    assert!(bare.stderr.contains("Usage: credd"), "{bare:?}");
}

#[test]
fn the_front_door_and_credd_full_answer_as_one_credd() {
    let env = TestEnv::new();
    let full = |args: &[&str]| {
        let mut command = env.command_of(std::path::Path::new(common::CREDD_FULL));
        command.args(args);
        common::run_with_limit(command, "")
    };
    // The front door prints the version itself; it must say what the parser says.
    let version = env.run(&["--version"], "");
    assert_eq!(version.ok(), full(&["--version"]).ok());
    assert_eq!(
        version.stdout,
        format!("credd {}\n", env!("CARGO_PKG_VERSION"))
    );
    // Handed over, the parser's messages still name `credd`.
    let usage = env.run(&["no-such-command"], "");
    assert_eq!(usage.code(), 2, "{usage:?}");
    assert!(usage.stderr.contains("Usage: credd "), "{usage:?}");
}

#[test]
fn a_front_door_without_credd_full_serves_the_fronts_and_names_what_is_missing() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("alone", "https://alone.test/", "s3cret");
    let bin = env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let lone = bin.join("credd");
    std::fs::copy(env!("CARGO_BIN_EXE_credd"), &lone).unwrap();
    let run = |args: &[&str]| {
        let mut command = env.command_of(&lone);
        command.env("CREDD_SOCKET", &env.socket).args(args);
        common::run_with_limit(command, "")
    };
    assert_eq!(run(&["get", "alone"]).ok(), "s3cret\n");
    let status = run(&["status"]);
    assert_eq!(status.code(), 1, "{status:?}");
    let missing = bin.join("credd-full");
    for words in [missing.to_str().unwrap(), "cargo install --path ."] {
        assert!(status.stderr.contains(words), "{status:?}");
    }
    // With no agent, a front cannot start one: it says so, naming the missing binary.
    let empty = TestEnv::new();
    let mut command = empty.command_of(&lone);
    command.args(["get", "alone"]);
    let unstarted = common::run_with_limit(command, "");
    assert_eq!(unstarted.code(), 1, "{unstarted:?}");
    let named = format!(
        "cannot start the credd agent: {} is missing",
        missing.display()
    );
    assert!(unstarted.stderr.contains(&named), "{unstarted:?}");
    // A credd-full that is the front door again (a link here) is refused, not run forever.
    std::os::unix::fs::symlink(&lone, &missing).unwrap();
    let looped = run(&["status"]);
    assert_eq!(looped.code(), 1, "{looped:?}");
    assert!(
        looped.stderr.contains("is this small credd again"),
        "{looped:?}"
    );
}

/// Runs `credd ARGS --socket SOCKET` on a pseudo-terminal, answering its prompts.
fn run_on_tty(env: &TestEnv, args: &str, dialogue: &[(&str, &str)]) -> String {
    let line = format!(
        "{} {args} --socket {}",
        env!("CARGO_BIN_EXE_credd"),
        env.socket_str()
    );
    common::run_on_tty(env, &line, dialogue)
}

#[test]
fn unlock_on_a_terminal_offers_to_create_the_vault_then_asks_the_passphrase() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let shown = run_on_tty(
        &env,
        "unlock",
        &[
            ("Create one now? [Y/n]", "y\n"),
            ("New passphrase:", "first pass\n"),
            ("Repeat the new passphrase:", "first pass\n"),
        ],
    );
    assert!(shown.contains("created a new vault"), "{shown:?}");
    assert!(
        !shown.contains("first pass"),
        "the passphrase was echoed: {shown:?}"
    );
    assert!(env.vault().exists());

    env.cli(&["lock"]).ok();
    let shown = run_on_tty(&env, "unlock", &[("credd passphrase:", "first pass\n")]);
    assert!(
        shown.contains("credd: unlocked") && !shown.contains("first pass"),
        "{shown:?}"
    );
    assert!(
        env.cli(&["status", "--json"])
            .ok()
            .contains("\"state\":\"unlocked\"")
    );
}

#[test]
fn a_mistyped_new_passphrase_creates_nothing() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let shown = run_on_tty(
        &env,
        "init",
        &[
            ("New passphrase:", "one\n"),
            ("Repeat the new passphrase:", "two\n"),
        ],
    );
    assert!(shown.contains("the two passphrases differ"), "{shown:?}");
    assert!(!env.vault().exists());
    let shown = run_on_tty(&env, "unlock", &[("Create one now? [Y/n]", "n\n")]);
    assert!(shown.contains("no vault created"), "{shown:?}");
    assert!(!env.vault().exists());
}

/// Key derivation and the wrong-passphrase delay run off the agent's async threads: another
/// client is answered while they are in progress.
#[test]
fn slow_unlocks_never_hold_up_other_clients() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    // A deliberately expensive KDF, so the unlock is still running when status is asked.
    let init = [
        "init",
        "--passphrase-stdin",
        "--kdf-memory",
        "262144",
        "--kdf-passes",
        "6",
        "--socket",
        env.socket_str(),
    ];
    env.run(&init, &format!("{PASSPHRASE}\n")).ok();
    env.cli(&["lock"]).ok();
    for passphrase in [PASSPHRASE, "wrong passphrase"] {
        let mut unlock = env.command();
        unlock.args(["unlock", "--passphrase-stdin", "--socket", env.socket_str()]);
        let unlock =
            std::thread::spawn(move || common::run_with_limit(unlock, &format!("{passphrase}\n")));
        std::thread::sleep(std::time::Duration::from_millis(100));
        env.cli(&["status"]).ok();
        assert!(
            !unlock.is_finished(),
            "status was answered only after the unlock finished"
        );
        let done = unlock.join().unwrap();
        assert_eq!(done.status.success(), passphrase == PASSPHRASE, "{done:?}");
        env.cli(&["lock"]).ok();
    }
}

#[test]
fn agent_disables_core_dumps_and_logs_every_get_with_its_caller() {
    let env = TestEnv::new();
    let agent = env.start_agent();
    env.init();
    env.add("corp", "https://corp.test/", "tok-logged-never");
    env.cli(&["get", "corp"]).ok();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().skip(4).take(2).all(|v| v == "0"),
        "{core}"
    );
    let log = env.log();
    let get = log
        .lines()
        .find(|l| l.contains("credd::audit: lookup "))
        .unwrap_or_else(|| panic!("no get in {log}"));
    assert!(
        get.contains("pid=") && get.contains("uid=0") && get.contains("entry=\"corp\""),
        "{get}"
    );
    assert!(!log.contains("tok-logged-never"));
}

/// Runs `credd ARGS --socket SOCKET`, typing `input` only after a pause longer than the agent's
/// read timeout, like a person at a prompt.
fn run_typing_slowly(env: &TestEnv, args: &[&str], input: &str) -> common::Output {
    use std::io::Write;
    let mut child = env
        .command()
        .args(args)
        .args(["--socket", env.socket_str()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    common::Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The agent closes connections silent past its read timeout; commands that wait on a person
/// must not lose their request to that.
#[test]
fn a_slow_typist_is_not_cut_off_by_the_read_timeout() {
    let env = TestEnv::new();
    env.write_config("read-timeout = 1\n");
    let _agent = env.start_agent();
    env.init();
    let steps: [(&[&str], String); 4] = [
        (
            &[
                "add",
                "corp",
                "--url",
                "https://corp.test/",
                "--secret-stdin",
            ],
            "tok\n".into(),
        ),
        (
            &["passwd", "--passphrase-stdin"],
            format!("{PASSPHRASE}\nslow passphrase\n"),
        ),
        (&["lock"], String::new()),
        (
            &["unlock", "--passphrase-stdin"],
            "slow passphrase\n".into(),
        ),
    ];
    for (args, input) in steps {
        let out = run_typing_slowly(&env, args, &input);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok\n");
}

/// `count` entries named `reg-0000`…, each serving its own index, with secret `tok-N`.
fn numbered_entries(count: usize) -> Vec<credd_protocol::Entry> {
    (0..count)
        .map(|i| credd_protocol::Entry {
            name: format!("reg-{i:04}"),
            url: format!("sparse+https://reg-{i:04}.test/index/"),
            username: None,
            secret: credd_protocol::Secret::new(&format!("tok-{i}")),
            expires: None,
            note: Some(format!("entry {i}")),
            publish: false,
            source: None,
        })
        .collect()
}

#[test]
fn list_and_import_page_through_thousands_of_entries() {
    const COUNT: usize = 3000;
    let env = TestEnv::new();
    let entries = numbered_entries(COUNT);
    env.init_with_entries(&entries);
    let _agent = env.start_agent();
    env.unlock().ok();
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();

    // More than one frame's worth: the agent must answer in several pages.
    let mut raw = env.connect_raw();
    let first = raw.request(r#"{"v":1,"id":1,"op":"list"}"#);
    let page = first["ok"]["entries"].as_array().expect("a page").len();
    assert!(
        page > 100 && page < COUNT,
        "{page} entries in the first page"
    );
    assert_eq!(first["ok"]["next"], names[page - 1].as_str());

    let table = env.cli(&["list"]);
    let listed: Vec<&str> = table
        .ok()
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        listed, names,
        "credd list must show every entry once, in order"
    );
    assert!(table.ok().contains(
        "reg-2999\tsparse+https://reg-2999.test/index/\t-\t-\tread+publish (no step-up)\n"
    ));

    let json: serde_json::Value = serde_json::from_str(env.cli(&["list", "--json"]).ok()).unwrap();
    let listed: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, names);
    assert!(!json.to_string().contains("tok-"), "a secret was listed");

    // `credd import cargo` checks the agent with a list before storing anything.
    let cargo_home = env.dir.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    std::fs::write(
        cargo_home.join("config.toml"),
        "[registries.reg-1234]\nindex = \"sparse+https://reg-1234.test/index/\"\n\
         [registries.newcomer]\nindex = \"sparse+https://new.test/index/\"\n",
    )
    .unwrap();
    std::fs::write(
        cargo_home.join("credentials.toml"),
        "[registries.reg-1234]\ntoken = \"tok-1234\"\n[registries.newcomer]\ntoken = \"tok-new\"\n",
    )
    .unwrap();
    let mut import = env.command();
    import
        .env("CARGO_HOME", &cargo_home)
        .args(["import", "cargo", "--socket", env.socket_str()]);
    let imported = common::run_with_limit(import, "");
    imported.ok();
    assert!(
        imported
            .stderr
            .contains("reg-1234 (sparse+https://reg-1234.test/index/) was already in credd")
            && imported.stderr.contains("imported newcomer"),
        "{imported:?}"
    );
    assert_eq!(env.cli(&["list"]).ok().lines().count(), COUNT + 1);
}

/// The small binary starts without Rust's runtime (src/main.rs) and opens /dev/null on closed
/// standard descriptors itself, as std does: else the next file or socket it opens would take
/// the closed number, and what it prints there would go into it.
#[test]
fn a_front_started_with_stderr_closed_has_dev_null_there() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    let mut command = env.command();
    command
        .arg("--cargo-plugin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    // SAFETY: close is async-signal-safe; the child closes its stderr before exec.
    unsafe {
        command.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    let mut provider = command.spawn().unwrap();
    // Cargo's hello comes once the provider has started, and it waits for a request.
    let mut hello = String::new();
    BufReader::new(provider.stdout.take().unwrap())
        .read_line(&mut hello)
        .unwrap();
    assert_eq!(hello, "{\"v\":[1]}\n");
    let stderr = std::fs::read_link(format!("/proc/{}/fd/2", provider.id()));
    // Kept across exec, as std's runtime opens it, for the credd-full a front may exec.
    let fdinfo = std::fs::read_to_string(format!("/proc/{}/fdinfo/2", provider.id()));
    // No request: the provider ends at the end of its input.
    drop(provider.stdin.take());
    provider.wait().unwrap();
    assert_eq!(stderr.unwrap(), std::path::Path::new("/dev/null"));
    let fdinfo = fdinfo.unwrap();
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .map(|octal| u32::from_str_radix(octal.trim(), 8).unwrap())
        .expect("fdinfo has flags");
    assert_eq!(flags & libc::O_CLOEXEC as u32, 0, "{fdinfo}");
}

/// SIGPIPE is ignored in the small binary too (std's runtime did it; src/main.rs starts without
/// it): a lookup whose reader has gone fails with an exit code instead of dying by a signal.
#[test]
fn a_lookup_whose_reader_is_gone_exits_with_a_code() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("reg", "https://reg.test/", "s3cret-token");
    let (read_end, write_end) = credd::sys::pipe().unwrap();
    drop(read_end);
    let output = env
        .command()
        .env("CREDD_SOCKET", &env.socket)
        .args(["get", "reg"])
        .stdout(write_end)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Broken pipe"), "{stderr}");
}

/// Connects to the agent at `argv[1]`, waits for the file `argv[2]`, then asks for the publish
/// credential `corp-publish` on that old connection and on a new one, and prints both outcomes.
const GRACE_PROBE: &str = r#"
import json, os, socket, sys, time

def connect():
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(sys.argv[1])
    return sock

def ask(sock):
    sock.sendall(b'{"v":1,"id":1,"op":"get","name":"corp-publish"}\n')
    reply = json.loads(sock.makefile().readline())
    return reply.get("error", {}).get("kind", "ok")

old = connect()
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
print("old:", ask(old), "new:", ask(connect()), flush=True)
"#;

/// A grace window serves only connections made after it opened. One kept open from before (which
/// its process could hand to a child that leaves the terminal, past what the agent read at
/// connect) gets nothing from it; a new one from the same terminal does.
#[test]
fn a_grace_window_serves_no_connection_made_before_it() {
    let env = TestEnv::new();
    env.write_config("step-up-grace = 300\n");
    let _agent = env.start_agent();
    env.init();
    env.cli_with_input(
        &[
            "add",
            "corp-publish",
            "--url",
            "https://reg.test/",
            "--publish",
            "--secret-stdin",
        ],
        "tok-publish\n",
    )
    .ok();
    let root = env.dir.path();
    let (probe, flag, printed) = (
        root.join("probe.py"),
        root.join("stepped-up"),
        root.join("probe.out"),
    );
    std::fs::write(&probe, GRACE_PROBE).unwrap();
    let mut python = env.command_of(std::path::Path::new("python3"));
    python
        .current_dir(root)
        .arg(&probe)
        .arg(&env.socket)
        .arg(&flag);
    let mut step_up = env.command();
    step_up
        .current_dir(root)
        .args(["get", "corp-publish", "--socket", env.socket_str()]);
    let line = format!(
        "{} > '{}' & sleep 0.5; {} > /dev/null && touch '{}'; wait",
        common::shell_line(&python),
        printed.display(),
        common::shell_line(&step_up),
        flag.display()
    );
    let answer = format!("{PASSPHRASE}\n");
    let shown = common::run_on_tty(&env, &line, &[("enter the credd passphrase", &answer)]);
    let outcomes = std::fs::read_to_string(&printed).unwrap();
    assert_eq!(
        outcomes.trim(),
        "old: step-up-required new: ok",
        "terminal: {shown}"
    );
}

/// A URL's password never reaches a message: not a pyproject source's in `credd exec`'s
/// warning, not the URL's of `credd token`, which miss (lookups ignore what is before the `@`).
#[test]
fn messages_name_urls_without_their_passwords() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let project = env.dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\n\n[[tool.poetry.source]]\nname = \"corp\"\n\
         url = \"https://ci:S3cret-in-url@pypi.corp.test/simple/\"\n",
    )
    .unwrap();
    let mut exec = env.command();
    exec.args(["exec", "--", "true"]).current_dir(&project);
    let out = common::run_with_limit(common::without_tty(exec), "");
    assert!(
        out.stderr
            .contains("no credd entry serves source corp (https://pypi.corp.test/simple/)"),
        "{out:?}"
    );
    let token = env.cli(&["token", "https://ci:S3cret-in-url@pypi.corp.test/simple/"]);
    assert_eq!(token.code(), 4, "{token:?}");
    for out in [&out, &token] {
        assert!(!format!("{out:?}").contains("S3cret"), "{out:?}");
    }
}

/// An agent with a locked vault, and the command line of `credd unlock` for it.
fn locked_unlock_line(env: &TestEnv) -> (common::Agent, String) {
    let agent = env.start_agent();
    env.init();
    env.cli(&["lock"]).ok();
    let unlock = format!(
        "{} unlock --socket {}",
        env!("CARGO_BIN_EXE_credd"),
        env.socket_str()
    );
    (agent, unlock)
}

/// The passphrase prompt after a stop and resume (Ctrl-Z, `fg`): the shell gives the resumed
/// job the terminal with echo on, and credd turns it off again before anything is typed.
#[test]
fn a_prompt_resumed_with_echo_on_hides_again() {
    let env = TestEnv::new();
    let (_agent, unlock) = locked_unlock_line(&env);
    let answer = format!("{PASSPHRASE}\n");
    let shown =
        common::type_after_a_resume_with_echo_on(&env, &unlock, "credd passphrase:", &answer);
    assert!(shown.contains("credd: unlocked"), "{shown:?}");
    assert!(!shown.contains(PASSPHRASE), "echoed: {shown:?}");
}

/// A stop the kernel discards (Ctrl-Z where no shell could resume the job: an orphaned process
/// group, such as this test's) leaves the prompt as hidden as before it.
#[test]
fn a_prompt_whose_stop_is_discarded_stays_hidden() {
    let env = TestEnv::new();
    let (_agent, unlock) = locked_unlock_line(&env);
    let answer = format!("{PASSPHRASE}\n");
    let shown = common::type_after_a_discarded_stop(&env, &unlock, "credd passphrase:", &answer);
    assert!(shown.contains("credd: unlocked"), "{shown:?}");
    assert!(!shown.contains(PASSPHRASE), "echoed: {shown:?}");
}

/// A prompt ended by a signal leaves the terminal's echo on, as it found it.
#[test]
fn a_prompt_ended_by_a_signal_puts_echo_back() {
    let env = TestEnv::new();
    let (_agent, unlock) = locked_unlock_line(&env);
    for signal in ["TERM", "INT", "HUP"] {
        common::assert_signal_leaves_echo_on(&env, &unlock, "credd passphrase:", signal);
    }
}
