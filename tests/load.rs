//! Load: 1,000 clients at once while 200 others connect and stay silent. Every honest client is
//! answered or told `busy`, never reset, cut off or left waiting; the silent ones delay nobody.
//! The counts are printed (`--nocapture`) for docs/SECURITY.md.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::Value;

const HONEST: usize = 1000;
const SILENT: usize = 200;

/// How one honest client fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Answered,
    Busy,
    Reset,
    Closed,
    TimedOut,
    Other,
}

fn honest_client(socket: &std::path::Path, id: usize) -> Outcome {
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => return Outcome::Reset,
        Err(_) => return Outcome::Other,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!("{{\"v\":1,\"id\":{id},\"op\":\"get\",\"name\":\"reg\"}}\n");
    if let Err(e) = (&stream).write_all(request.as_bytes()) {
        return match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => Outcome::Reset,
            _ => Outcome::Other,
        };
    }
    let mut line = String::new();
    match BufReader::new(&stream).read_line(&mut line) {
        Ok(0) => Outcome::Closed,
        Ok(_) => {
            let reply: Value = serde_json::from_str(&line).unwrap();
            if reply["ok"]["entry"]["secret"] == "tok" {
                Outcome::Answered
            } else if reply["error"]["kind"] == "busy" {
                Outcome::Busy
            } else {
                panic!("unexpected reply: {reply}");
            }
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Outcome::Reset,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Outcome::TimedOut
        }
        Err(_) => Outcome::Other,
    }
}

/// Raises this test process's descriptor limit: it holds 1,200 sockets at once.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur as usize > HONEST + SILENT + 100,
        "the hard descriptor limit {} is too low for this test",
        limit.rlim_cur
    );
}

#[test]
fn a_thousand_clients_and_two_hundred_silent_ones_are_all_answered_or_told_busy() {
    raise_fd_limit();
    let env = TestEnv::new();
    // Silent clients keep their slot until the read timeout: longer than the whole test.
    env.write_config("read-timeout = 120\n");
    let _agent = env.start_agent();
    env.init();
    env.add("reg", "https://reg.test/", "tok");

    let silent: Vec<UnixStream> = (0..SILENT)
        .map(|_| UnixStream::connect(&env.socket).unwrap())
        .collect();
    let started = Instant::now();
    let barrier = Barrier::new(HONEST);
    let mut outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..HONEST)
            .map(|id| {
                let (socket, barrier) = (&env.socket, &barrier);
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, move || {
                        barrier.wait();
                        honest_client(socket, id)
                    })
                    .unwrap()
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    outcomes.sort();
    let count = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count();
    eprintln!(
        "load: {HONEST} clients with {SILENT} silent ones: {} answered, {} busy, {} reset, {} closed, {} timed out, {} other, in {elapsed:?}",
        count(Outcome::Answered),
        count(Outcome::Busy),
        count(Outcome::Reset),
        count(Outcome::Closed),
        count(Outcome::TimedOut),
        count(Outcome::Other),
    );
    assert_eq!(
        count(Outcome::Answered) + count(Outcome::Busy),
        HONEST,
        "some honest clients were neither answered nor told busy"
    );
    assert!(count(Outcome::Answered) > 0, "nobody was served");
    // Once the silent ones hang up, a real client is served as usual.
    drop(silent);
    let got = env.cli(&["get", "reg"]);
    assert_eq!(got.ok(), "tok\n");
}
