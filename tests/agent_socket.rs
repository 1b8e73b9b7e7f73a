//! The agent's socket: private permissions, refusal of other users, framing abuse, clients that
//! stall or vanish, the connection cap, stale sockets, one agent per socket, and auto-start.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Output, RawClient, TestEnv, mode_of, run_with_limit, wait_until};
use serde_json::{Value, json};

/// The frame cap of protocol v1, in bytes before the newline.
const MAX_FRAME: usize = 64 * 1024;

/// The uid and gid of `nobody`, a user other than the agent's.
const OTHER_UID: u32 = 65534;

/// A status request line (without its newline).
fn status(id: u64) -> String {
    format!(r#"{{"v":1,"id":{id},"op":"status"}}"#)
}

/// The error kind of a reply, panicking when it is not an error.
fn kind(reply: &Value) -> &str {
    reply["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error reply: {reply}"))
}

/// Asserts that `client` is still served: a status request gets an ok reply with its id.
#[track_caller]
fn assert_served(client: &mut RawClient, id: u64) {
    let reply = client.request(&status(id));
    assert_eq!(reply["id"], json!(id), "{reply}");
    assert!(
        reply["ok"]["state"].is_string(),
        "status was not answered: {reply}"
    );
}

/// Sets the permission bits of `path`.
fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `credd daemon --socket SOCKET` in the foreground and returns what it printed; it must
/// exit within 5 s (it is killed and the test fails otherwise).
fn run_daemon_expecting_exit(env: &TestEnv) -> Output {
    let mut child = env
        .command()
        .args(["daemon", "--socket", env.socket_str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn credd daemon");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("credd daemon did not exit within 5 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// True when the agent has ended the connection: EOF, or a reset because it closed with bytes
/// of ours still unread.
fn connection_ended(client: &mut RawClient) -> bool {
    let mut byte = [0u8; 1];
    match client.stream.read(&mut byte) {
        Ok(0) => true,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        _ => false,
    }
}

#[test]
fn socket_directory_is_0700_and_socket_is_0600() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let dir = env.socket.parent().unwrap();
    assert_eq!(mode_of(dir), 0o700, "socket directory mode");
    assert_eq!(mode_of(&env.socket), 0o600, "socket mode");
    env.cli(&["status"]).ok();
}

#[test]
fn socket_directory_open_to_others_is_refused() {
    let env = TestEnv::new();
    let dir = env.socket.parent().unwrap();
    std::fs::DirBuilder::new().mode(0o755).create(dir).unwrap();
    chmod(dir, 0o755);
    let started = Instant::now();
    let out = run_daemon_expecting_exit(&env);
    assert!(
        !out.status.success(),
        "the agent accepted a 0755 socket directory: {out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let dir_text = dir.to_str().unwrap();
    assert!(
        out.stderr.contains(dir_text),
        "stderr does not name {dir_text}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("chmod 700"),
        "no chmod advice: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("remove it"),
        "no removal advice: {}",
        out.stderr
    );
    assert!(
        !env.socket.exists(),
        "a socket was created in an unsafe directory"
    );
    assert_eq!(
        mode_of(dir),
        0o755,
        "the agent changed the directory it refused"
    );
}

#[test]
fn socket_directory_owned_by_another_user_is_refused() {
    let env = TestEnv::new();
    let dir = env.socket.parent().unwrap();
    std::fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
    std::os::unix::fs::chown(dir, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let out = run_daemon_expecting_exit(&env);
    assert!(
        !out.status.success(),
        "the agent accepted a directory owned by uid {OTHER_UID}: {out:?}"
    );
    let dir_text = dir.to_str().unwrap();
    assert!(
        out.stderr.contains(dir_text),
        "stderr does not name {dir_text}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&OTHER_UID.to_string()),
        "stderr does not name the owner: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("chmod 700"),
        "no chmod advice: {}",
        out.stderr
    );
    assert!(
        !env.socket.exists(),
        "a socket was created in a directory of another user"
    );
}

/// Connects to the socket in argv[1], sends a status request and prints what came back.
const RAW_STATUS_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"v":1,"id":1,"op":"status"}\n')
    print("answer:", s.recv(65536))
except (BrokenPipeError, ConnectionResetError):
    print("answer:", b"")
"#;

#[test]
fn peer_with_another_uid_is_refused_and_root_still_served() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    // Open the way to the socket for uid 65534: only the peer check is left to refuse it.
    let root = env.dir.path();
    chmod(root, 0o711);
    chmod(&root.join("run"), 0o711);
    chmod(env.socket.parent().unwrap(), 0o711);
    chmod(&env.socket, 0o666);

    // A raw client: credd's own client would already refuse root's socket directory.
    let mut command = Command::new(common::SYSTEM_PYTHON);
    command
        .args(["-c", RAW_STATUS_CLIENT, env.socket_str()])
        .uid(OTHER_UID)
        .gid(OTHER_UID);
    let started = Instant::now();
    let out = run_with_limit(command, "");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refused client waited too long"
    );
    assert_eq!(
        out.stdout.trim(),
        "answer: b''",
        "another user got an answer: {out:?}"
    );
    wait_until("the agent logs the refusal", || {
        env.log().lines().any(|line| {
            line.contains("refused a connection from another user") && line.contains("uid=65534")
        })
    });

    // Closed again: credd's own clients refuse a socket directory open to others.
    chmod(env.socket.parent().unwrap(), 0o700);
    let status = env.cli(&["status"]);
    assert!(status.ok().contains("state: locked"), "{status:?}");
}

#[test]
fn over_long_line_is_refused_and_connection_closed() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let mut other = env.connect_raw();
    assert_served(&mut other, 1);

    // 64 KiB + 1 bytes without a newline: refused as soon as the cap is passed.
    let mut abuser = env.connect_raw();
    abuser.send(&vec![b'x'; MAX_FRAME + 1]);
    let reply = abuser.recv().expect("no reply to an over-long line");
    assert_eq!(kind(&reply), "frame-too-large", "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert!(
        abuser.is_closed(),
        "the connection stayed open after frame-too-large"
    );
    assert!(
        abuser.stream.write_all(b"\n").is_err(),
        "the agent still accepts bytes"
    );
    assert_served(&mut other, 2);

    // The same over-long line, newline included, in one write.
    let mut abuser = env.connect_raw();
    let mut line = vec![b'x'; MAX_FRAME + 1];
    line.push(b'\n');
    abuser.send(&line);
    let reply = abuser.recv().expect("no reply to an over-long line");
    assert_eq!(kind(&reply), "frame-too-large", "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert!(
        connection_ended(&mut abuser),
        "the connection stayed open after frame-too-large"
    );
    assert_served(&mut other, 3);
}

#[test]
fn line_of_exactly_64_kib_is_a_frame() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let mut other = env.connect_raw();
    assert_served(&mut other, 1);

    // Not JSON, exactly at the cap: a bad request, not an over-long line.
    let mut client = env.connect_raw();
    let mut line = vec![b'x'; MAX_FRAME];
    line.push(b'\n');
    client.send(&line);
    let reply = client
        .recv()
        .expect("the agent closed a connection over a 64 KiB line");
    assert_eq!(kind(&reply), "bad-request", "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert_served(&mut client, 2);
    assert_served(&mut other, 3);

    // A valid request padded to exactly 64 KiB is answered.
    let head = r#"{"v":1,"id":7,"op":"status","pad":""#;
    let tail = r#""}"#;
    let request = format!(
        "{head}{}{tail}",
        "p".repeat(MAX_FRAME - head.len() - tail.len())
    );
    assert_eq!(request.len(), MAX_FRAME);
    let reply = client.request(&request);
    assert_eq!(reply["id"], json!(7), "{reply}");
    assert!(
        reply["ok"]["state"].is_string(),
        "a 64 KiB request was not answered: {reply}"
    );
    assert_served(&mut client, 8);
    assert_served(&mut other, 4);
}

#[test]
fn broken_requests_are_bad_requests_and_connection_stays_usable() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let mut other = env.connect_raw();
    assert_served(&mut other, 1);
    let mut client = env.connect_raw();

    let reply = client.request("{not json");
    assert_eq!(kind(&reply), "bad-request", "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert_served(&mut client, 2);
    assert_served(&mut other, 3);

    client.send(b"\xff\xfe\n");
    let reply = client
        .recv()
        .expect("the agent closed the connection over invalid UTF-8");
    assert_eq!(kind(&reply), "bad-request", "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert_served(&mut client, 4);
    assert_served(&mut other, 5);

    let reply = client.request(r#"{"v":1,"id":6,"op":"fly"}"#);
    assert_eq!(kind(&reply), "unsupported-operation", "{reply}");
    assert_eq!(reply["id"], json!(6), "{reply}");
    assert_served(&mut other, 7);

    let reply = client.request(r#"{"v":99,"id":8,"op":"status"}"#);
    assert_eq!(kind(&reply), "unsupported-version", "{reply}");
    assert_eq!(reply["id"], json!(8), "{reply}");
    assert_served(&mut other, 9);

    let reply = client.request(r#"{"v":99,"id":10,"op":"hello"}"#);
    assert_eq!(reply["id"], json!(10), "{reply}");
    assert_eq!(reply["ok"]["versions"], json!([1]), "{reply}");
    assert_served(&mut client, 11);
    assert_served(&mut other, 12);
}

#[test]
fn get_without_a_usable_key_is_a_bad_request_even_when_unlocked() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("reg", "https://reg.test/index/", "s3cret-token");
    let mut other = env.connect_raw();
    assert_served(&mut other, 1);
    let mut client = env.connect_raw();
    // The vault is unlocked and the entry is there: a proper get finds it.
    let found = client.request(r#"{"v":1,"id":2,"op":"get","name":"reg"}"#);
    assert_eq!(
        found["ok"]["entry"]["secret"],
        json!("s3cret-token"),
        "{found}"
    );

    let broken = [
        r#"{"v":1,"id":3,"op":"get"}"#,
        r#"{"v":1,"id":3,"op":"get","name":""}"#,
        r#"{"v":1,"id":3,"op":"get","url":""}"#,
        r#"{"v":1,"id":3,"op":"get","url":"   "}"#,
        r#"{"v":1,"id":3,"op":"get","name":"reg","url":"https://reg.test/index/"}"#,
    ];
    for request in broken {
        let reply = client.request(request);
        assert!(reply.get("ok").is_none(), "{request} matched: {reply}");
        assert_eq!(kind(&reply), "bad-request", "{request}: {reply}");
        assert_eq!(reply["id"], json!(3), "{request}: {reply}");
        assert_served(&mut other, 4);
    }
    assert_served(&mut client, 5);
}

/// A `get-first` of `lookups` (the JSON objects, comma-separated) through git's front.
fn get_first(client: &mut RawClient, id: u64, lookups: &str) -> Value {
    client.request(&format!(
        r#"{{"v":1,"id":{id},"op":"get-first","lookups":[{lookups}],"front":"git","operation":"get"}}"#
    ))
}

#[test]
fn get_first_answers_by_the_first_lookup_that_finds_an_entry_in_one_record() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("root", "https://both.test/", "root-secret");
    env.add("deep", "https://host.test/index/", "deep-secret");
    for user in ["ann", "bob"] {
        let args = [
            "add",
            user,
            "--url",
            "https://tied.test/",
            "--username",
            user,
        ];
        env.cli_with_input(&[&args[..], &["--secret-stdin"]].concat(), "pw\n")
            .ok();
    }
    let mut client = env.connect_raw();

    // No entry serves the root of host.test by the URL rules: the host rule finds one.
    let by_host = get_first(
        &mut client,
        1,
        r#"{"url":"https://host.test/"},{"url":"host.test"}"#,
    );
    assert_eq!(by_host["ok"]["lookup"], json!(1), "{by_host}");
    assert_eq!(
        by_host["ok"]["entry"]["secret"],
        json!("deep-secret"),
        "{by_host}"
    );
    // The first lookup that finds an entry answers, though a later one would find another.
    let first = get_first(
        &mut client,
        2,
        r#"{"url":"https://both.test/x"},{"name":"deep"}"#,
    );
    assert_eq!(first["ok"]["lookup"], json!(0), "{first}");
    assert_eq!(first["ok"]["entry"]["name"], json!("root"), "{first}");
    // A miss of every lookup is one not-found, naming the last.
    let none = get_first(
        &mut client,
        3,
        r#"{"url":"https://none.test/"},{"url":"none.test"}"#,
    );
    assert_eq!(kind(&none), "not-found", "{none}");
    assert!(
        none["error"]["message"]
            .as_str()
            .unwrap()
            .contains("none.test:"),
        "{none}"
    );
    // An error other than a miss answers: the next lookup is not asked.
    let tied = get_first(
        &mut client,
        4,
        r#"{"url":"https://tied.test/"},{"name":"root"}"#,
    );
    assert_eq!(kind(&tied), "ambiguous", "{tied}");

    // Refused whole, before any lookup: a malformed lookup after one that would find an entry,
    // too few or too many lookups, `publish`.
    let five = [r#"{"name":"root"}"#; 5].join(",");
    let refused = [r#"{"name":"root"},{"name":""}"#, "", &five];
    for lookups in refused {
        let reply = get_first(&mut client, 5, lookups);
        assert_eq!(kind(&reply), "bad-request", "{lookups}: {reply}");
    }
    let publish = get_first(
        &mut client,
        6,
        r#"{"url":"https://both.test/","publish":true}"#,
    );
    assert_eq!(
        publish["error"]["message"],
        json!("`publish` and `passphrase` go with `get`, not `get-first`"),
        "{publish}"
    );
    let with_step_up = client.request(
        r#"{"v":1,"id":7,"op":"get-first","lookups":[{"name":"root"}],"front":"git","passphrase":"x"}"#,
    );
    assert_eq!(kind(&with_step_up), "bad-request", "{with_step_up}");

    // One record per get-first, saying which lookup answered; refused ones recorded too.
    let log = client.request(r#"{"v":1,"id":8,"op":"log"}"#);
    let records: Vec<(Value, Value)> = log["ok"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["front"] == json!("git"))
        .map(|record| (record["entry"].clone(), record["outcome"].clone()))
        .collect();
    let refusal = (Value::Null, json!("bad-request"));
    let expected = [
        (json!("deep"), json!("ok (lookup 2 of 2)")),
        (json!("root"), json!("ok (lookup 1 of 2)")),
        (Value::Null, json!("not-found (lookup 2 of 2)")),
        (Value::Null, json!("ambiguous (lookup 1 of 2)")),
        refusal.clone(),
        refusal.clone(),
        refusal.clone(),
        refusal.clone(),
        refusal,
    ];
    assert_eq!(records, expected, "{log}");
}

#[test]
fn a_put_over_a_field_limit_is_refused_and_changes_nothing() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("reg", "https://reg.test/index/", "s3cret-token");
    let vault_before = std::fs::read(env.vault()).unwrap();
    let mut client = env.connect_raw();
    let long = |n: usize| "x".repeat(n);
    let url = "https://big.test/";
    for (field, entry) in [
        (
            "name",
            json!({"name": long(257), "url": url, "secret": "s"}),
        ),
        (
            "URL",
            json!({"name": "big", "url": format!("{url}{}", long(2048)), "secret": "s"}),
        ),
        (
            "username",
            json!({"name": "big", "url": url, "secret": "s", "username": long(257)}),
        ),
        (
            "note",
            json!({"name": "big", "url": url, "secret": "s", "note": long(4097)}),
        ),
        (
            "secret",
            json!({"name": "big", "url": url, "secret": long(16 * 1024 + 1)}),
        ),
    ] {
        let request = json!({"v": 1, "id": 7, "op": "put", "entry": entry}).to_string();
        assert!(
            request.len() < MAX_FRAME,
            "{field}: the request must fit a frame"
        );
        let reply = client.request(&request);
        assert_eq!(kind(&reply), "bad-request", "{field}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("entry's {field} is")),
            "{message}"
        );
        assert!(!message.contains("xxxx"), "{message}");
    }
    let listed = client.request(r#"{"v":1,"id":8,"op":"list"}"#);
    assert_eq!(
        listed["ok"]["entries"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(std::fs::read(env.vault()).unwrap(), vault_before);
}

#[test]
fn init_with_more_passes_than_a_new_vault_may_use_is_refused() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let mut client = env.connect_raw();
    let reply = client.request(
        r#"{"v":1,"id":3,"op":"init","passphrase":"p","kdf":{"memory_kib":65536,"passes":64,"lanes":1}}"#,
    );
    assert_eq!(kind(&reply), "bad-request", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 16 passes"), "{message}");
    assert!(!env.vault().exists());
    assert_served(&mut client, 4);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let mut client = env.connect_raw();
    let batch: String = (1..=50).map(|id| format!("{}\n", status(id))).collect();
    client.send(batch.as_bytes());
    for id in 1..=50u64 {
        let reply = client
            .recv()
            .unwrap_or_else(|| panic!("closed before reply {id}"));
        assert_eq!(reply["id"], json!(id), "{reply}");
        assert!(reply["ok"]["state"].is_string(), "{reply}");
    }
    assert_served(&mut client, 51);
}

/// The agent records a lookup right after its reply's first write (issue 15); a reply the
/// client does not read must still be recorded before the agent waits to send it.
#[test]
fn a_reply_the_agent_waits_to_send_is_recorded_already() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    let mut client = env.connect_raw();
    let entry = json!({"name": "big", "url": "https://big.test/", "secret": "s".repeat(16_000),
        "note": "n".repeat(4000)});
    let put = client.request(&json!({"v": 1, "id": 1, "op": "put", "entry": entry}).to_string());
    assert!(put["ok"].is_object(), "{put}");
    // Far more reply bytes (6 MB) than the socket buffers hold (the agent's send buffer is
    // about 200 KiB by default, net.core.wmem_default), none of them read.
    let gets: String = (0..300)
        .map(|id| format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",\"name\":\"big\"}}\n"))
        .collect();
    client.send(gets.as_bytes());

    let mut observer = env.connect_raw();
    let mut records = |id| {
        let log = observer.request(&format!(r#"{{"v":1,"id":{id},"op":"log","limit":1000}}"#));
        let records = log["ok"]["records"].as_array().expect("records").clone();
        records
            .iter()
            .filter(|r| r["entry"] == json!("big"))
            .count()
    };
    // The agent has stalled once the count holds still.
    let mut last = usize::MAX;
    let mut id = 1;
    wait_until("the agent stalls on the unread replies", || {
        std::thread::sleep(Duration::from_millis(300));
        id += 1;
        let now = records(id);
        std::mem::replace(&mut last, now) == now
    });
    let mut queued = vec![0u8; 4 << 20];
    let (peeked, _) = rustix::net::recv(
        &client.stream,
        &mut queued[..],
        rustix::net::RecvFlags::PEEK,
    )
    .expect("peek at the queued replies");
    let sent = queued[..peeked].iter().filter(|&&b| b == b'\n').count();
    assert!(sent > 0 && sent < 300, "{sent} replies sent");
    assert_eq!(
        last,
        sent + 1,
        "each reply sent is recorded, and the one waiting to go"
    );
}

#[test]
fn silent_and_stalled_clients_do_not_delay_others() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    let _silent: Vec<RawClient> = (0..5).map(|_| env.connect_raw()).collect();
    let started = Instant::now();
    env.cli(&["status"]).ok();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "status took {:?}",
        started.elapsed()
    );

    let mut stalled = env.connect_raw();
    stalled.send(br#"{"v":1,"id":1,"op":"#);
    let started = Instant::now();
    env.cli(&["status"]).ok();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "status took {:?}",
        started.elapsed()
    );
    // The stalled client is still served once it finishes its line.
    stalled.send(b"\"status\"}\n");
    let reply = stalled.recv().expect("the stalled client was dropped");
    assert_eq!(reply["id"], json!(1), "{reply}");
}

#[test]
fn read_timeout_closes_a_silent_connection() {
    let env = TestEnv::new();
    env.write_config("read-timeout = 1\n");
    let _agent = env.start_agent();
    let mut client = env.connect_raw();
    let started = Instant::now();
    assert!(client.is_closed(), "the silent connection was not closed");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "closed only after {waited:?}"
    );
    assert!(
        waited > Duration::from_millis(500),
        "closed after {waited:?}, before the timeout"
    );
}

/// `read-timeout` is documented (src/config.rs) as the time a connection may take to send its
/// next complete request; a client trickling one byte at a time must not hold its slot forever.
#[test]
fn read_timeout_bounds_a_whole_request_not_each_read() {
    let env = TestEnv::new();
    env.write_config("read-timeout = 1\n");
    let _agent = env.start_agent();
    let mut client = env.connect_raw();
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let started = Instant::now();
    let mut closed_after = None;
    // A request that never ends: one space after another, well within the per-read timeout.
    client.send(br#"{"v":1,"id":1,"op":"status""#);
    while started.elapsed() < Duration::from_secs(4) {
        if client.stream.write_all(b" ").is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut byte = [0u8; 1];
        match client.stream.read(&mut byte) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(_) => panic!("unexpected reply to an unfinished request"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after
        .expect("a client trickling bytes kept its connection for 4 s with read-timeout = 1");
    assert!(
        closed_after < Duration::from_millis(2500),
        "closed only after {closed_after:?}"
    );
}

#[test]
fn clients_leaving_before_their_reply_leave_the_agent_healthy() {
    let env = TestEnv::new();
    let mut agent = env.start_agent();
    env.init();
    env.add("reg", "https://reg.test/index/", "s3cret-token");
    for id in 0..20 {
        let mut client = env.connect_raw();
        client
            .send(format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",\"name\":\"reg\"}}\n").as_bytes());
        let _ = client.stream.shutdown(std::net::Shutdown::Both);
    }
    assert_eq!(env.cli(&["get", "reg"]).ok().trim_end(), "s3cret-token");
    assert!(agent.child.try_wait().unwrap().is_none(), "the agent died");
}

#[test]
fn connection_cap_answers_busy_and_frees_slots() {
    let env = TestEnv::new();
    env.write_config("max-connections = 2\n");
    let _agent = env.start_agent();
    // Two clients, each proven to hold a slot by an answered request, then kept silent.
    let mut held: Vec<RawClient> = Vec::new();
    for id in 1..=2 {
        let mut client = wait_for_slot(&env);
        assert_served(&mut client, id);
        held.push(client);
    }

    let mut third = env.connect_raw();
    third
        .stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let started = Instant::now();
    let reply = third
        .recv()
        .expect("the third connection got no busy reply");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply["id"], Value::Null, "{reply}");
    assert_eq!(kind(&reply), "busy", "{reply}");
    assert!(third.is_closed(), "the busy connection stayed open");

    drop(held);
    let mut next = wait_for_slot(&env);
    assert_served(&mut next, 3);
}

#[test]
fn clients_over_the_cap_read_busy_never_a_reset() {
    let env = TestEnv::new();
    env.write_config("max-connections = 1\nread-timeout = 60\n");
    let _agent = env.start_agent();
    let mut held = wait_for_slot(&env);
    assert_served(&mut held, 1);

    // A raw client that sends its request at once, as every real client does, then reads.
    for id in 2..=21 {
        let mut eager = env.connect_raw();
        let reply = eager.request(&status(id));
        assert_eq!(kind(&reply), "busy", "{reply}");
    }
    // The real clients, many at once: each reports busy, none a broken connection.
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..16)
            .map(|i| {
                let env = &env;
                scope.spawn(move || match i % 2 {
                    0 => env.cli(&["status"]),
                    _ => env.cli_with_input(
                        &["unlock", "--passphrase-stdin"],
                        &format!("{}\n", common::PASSPHRASE),
                    ),
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for out in outputs {
        assert!(!out.status.success(), "{out:?}");
        assert!(
            out.stderr.contains("serving too many connections"),
            "not told busy: {out:?}"
        );
    }
    drop(held);
    let mut next = wait_for_slot(&env);
    assert_served(&mut next, 99);
}

/// A connection that the agent serves (not one answered `busy`), waiting for slots to free up.
fn wait_for_slot(env: &TestEnv) -> RawClient {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut client = env.connect_raw();
        let reply = client.request(&status(100));
        if reply.get("ok").is_some() {
            return client;
        }
        assert_eq!(kind(&reply), "busy", "{reply}");
        assert!(Instant::now() < deadline, "no slot became free");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stale_socket_file_is_replaced() {
    let env = TestEnv::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(env.socket.parent().unwrap())
        .unwrap();
    drop(std::os::unix::net::UnixListener::bind(&env.socket).unwrap());
    assert!(env.socket.exists(), "the stale socket file is gone already");
    let _agent = env.start_agent();
    let status = env.cli(&["status"]);
    assert!(status.ok().contains("state: locked"), "{status:?}");
    assert!(
        env.log().contains("replaced a stale socket file"),
        "log: {}",
        env.log()
    );
}

#[test]
fn second_agent_on_the_same_socket_is_refused() {
    let env = TestEnv::new();
    let mut first = env.start_agent();
    let started = Instant::now();
    let out = run_daemon_expecting_exit(&env);
    assert!(!out.status.success(), "a second agent ran: {out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Same vault too: the vault's owner lock refuses it first, naming where the first listens.
    assert!(
        out.stderr.contains("is in use by another credd agent")
            && out.stderr.contains(env.socket_str()),
        "stderr: {}",
        out.stderr
    );
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first agent died"
    );
    let status = env.cli(&["status"]);
    assert!(
        status.ok().contains(&format!("pid {}", first.pid())),
        "{status:?}"
    );
}

/// A symbolic link planted at the agent's lock file is refused, not followed: the file it points
/// to is never created.
#[test]
fn a_symlink_at_the_lock_file_is_refused() {
    let env = TestEnv::new();
    let dir = env.socket.parent().unwrap();
    std::fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
    let target = env.dir.path().join("created-through-the-link");
    let mut lock = env.socket.clone().into_os_string();
    lock.push(".lock");
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let out = run_daemon_expecting_exit(&env);
    assert!(!out.status.success(), "the agent ran: {out:?}");
    assert!(
        out.stderr
            .contains("is a symbolic link, which credd does not follow: remove it"),
        "{out:?}"
    );
    assert!(!target.exists(), "the lock followed the link");
}

/// Kills an agent the CLI started in the background, should the test fail before stopping it.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill on a pid this test read from the agent it started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn cli_starts_a_detached_agent_and_stop_ends_it() {
    let env = TestEnv::new();
    assert!(!env.socket.exists());
    let started = Instant::now();
    let out = env.cli(&["status"]);
    let took = started.elapsed();
    let mut guard = KillOnDrop(None);
    let json = env.cli(&["status", "--json"]);
    let pid = serde_json::from_str::<Value>(json.ok()).unwrap()["pid"]
        .as_i64()
        .unwrap();
    guard.0 = Some(pid as i32);
    assert!(out.ok().contains("state: locked"), "{out:?}");
    // run_with_limit reads stdout and stderr to EOF: an agent holding them would stall it.
    assert!(took < Duration::from_secs(5), "auto-start took {took:?}");

    env.cli(&["stop"]).ok();
    wait_until("the socket file is removed", || !env.socket.exists());
    wait_until("the agent exits", || {
        !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid)
    });
    guard.0 = None;
    let left: Vec<_> = std::fs::read_dir(env.socket.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "stop left {left:?} behind");
}

#[test]
fn an_agent_that_cannot_start_tells_the_client_why_at_once() {
    let env = TestEnv::new();
    env.write_config("idle-timeout = \"soon\"\n");
    let started = Instant::now();
    let out = env.cli(&["status"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr
            .contains("cannot start the credd agent: invalid config"),
        "the agent's own error did not reach the client: {}",
        out.stderr
    );
    // The agent said so on its pipe: no waiting for a socket that never comes.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

fn is_zombie(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.contains(") Z "))
        .unwrap_or(true)
}

/// No record outgrows `log`: a client's over-long `refresh` name, or a caller run from a path
/// of kilobytes, is cut in its record, so `log` still shows it and every record before it.
#[test]
fn over_long_names_and_paths_never_hide_the_records_before_them() {
    let env = TestEnv::new();
    let _agent = env.start_agent();
    env.init();
    env.add("corp", "https://corp.test/", "tok-corp");
    assert_eq!(env.cli(&["get", "corp"]).ok(), "tok-corp\n");

    // The client three kilobytes deep (it hands `get NAME` to credd-full beside it): its record
    // keeps the end of the path.
    let mut deep = env.dir.path().to_path_buf();
    for part in 'a'..='l' {
        deep.push(part.to_string().repeat(250));
    }
    std::fs::create_dir_all(&deep).unwrap();
    // Linked where it can be (the binaries are large), for the agent sees the path run.
    let place = |built: &str, name: &str| {
        let at = deep.join(name);
        if std::fs::hard_link(built, &at).is_err() {
            std::fs::copy(built, &at).unwrap();
        }
        at
    };
    place(env!("CARGO_BIN_EXE_credd-full"), "credd-full");
    let client = place(env!("CARGO_BIN_EXE_credd"), "credd");
    let mut run_deep = env.command_of(&client);
    run_deep.args(["get", "corp", "--socket", env.socket_str()]);
    let out = run_with_limit(run_deep, "");
    assert_eq!(out.stdout, "tok-corp\n", "{out:?}");

    let mut raw = env.connect_raw();
    let name = "n".repeat(MAX_FRAME - 100);
    let refresh = raw.request(&format!(
        r#"{{"v":1,"id":1,"op":"refresh","name":"{name}"}}"#
    ));
    assert_eq!(kind(&refresh), "not-found", "{refresh}");

    let log = raw.request(r#"{"v":1,"id":2,"op":"log","limit":1000}"#);
    let records = log["ok"]["records"].as_array().expect("records");
    let entries: Vec<&Value> = records.iter().map(|r| &r["entry"]).collect();
    assert_eq!(
        entries.len(),
        3,
        "the first get, the deep one and the refresh: {entries:?}"
    );
    let deep_exe = records[1]["peer"]["exe"].as_str().unwrap();
    assert!(
        deep_exe.len() <= 512 && deep_exe.starts_with('…') && deep_exe.ends_with("/credd-full"),
        "{deep_exe}"
    );
    let recorded = records[2]["entry"].as_str().unwrap();
    assert_eq!(
        recorded.len(),
        256,
        "the refresh name is cut to a name's length"
    );
}
