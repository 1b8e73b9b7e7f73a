//! Every example in README.md, checked byte for byte against the crate's types: each request
//! line must parse and serialize back to exactly itself, each reply line must deserialize as the
//! result type of its request and serialize back to exactly itself, and a request the parser
//! rejects must produce exactly the error reply shown after it.

use credd_protocol::{
    Done, ForgetResult, GetFirstResult, GetResult, HelloResult, ListResult, LogResult, Operation,
    PutResult, RefreshResult, RememberResult, Reply, Request, SetResult, StatusResult,
    parse_request,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

const README: &str = include_str!("../README.md");

/// What the last request line was, to know how to read the reply after it.
enum Pending {
    None,
    Parsed(Box<Request>),
    Rejected(String),
}

#[test]
fn readme_examples_round_trip_byte_for_byte() {
    let mut pending = Pending::None;
    let (mut requests, mut replies) = (0, 0);
    for line in README.lines() {
        if let Some(request) = line.strip_prefix("C: ") {
            pending = check_request(request);
            requests += 1;
        } else if let Some(reply) = line.strip_prefix("A: ") {
            check_reply(reply, &pending);
            pending = Pending::None;
            replies += 1;
        }
    }
    assert!(
        requests >= 20 && replies >= 20,
        "found only {requests} requests and {replies} replies"
    );
}

fn check_request(line: &str) -> Pending {
    match parse_request(line.as_bytes()) {
        Ok(request) => {
            assert_eq!(
                serde_json::to_string(&request).unwrap(),
                line,
                "request does not round-trip"
            );
            Pending::Parsed(Box::new(request))
        }
        Err(rejected) => {
            let reply = Reply::<Done> {
                id: rejected.id,
                outcome: Err(rejected.error),
            };
            Pending::Rejected(serde_json::to_string(&reply).unwrap())
        }
    }
}

fn check_reply(line: &str, pending: &Pending) {
    match pending {
        Pending::Rejected(expected) => {
            assert_eq!(line, expected, "the parser's error reply differs")
        }
        Pending::Parsed(request) => match request.op {
            Operation::Hello => round_trip::<HelloResult>(line),
            Operation::Status => round_trip::<StatusResult>(line),
            Operation::Get { .. } => round_trip::<GetResult>(line),
            Operation::GetFirst { .. } => round_trip::<GetFirstResult>(line),
            Operation::Put { .. } => round_trip::<PutResult>(line),
            Operation::Set { .. } => round_trip::<SetResult>(line),
            Operation::List { .. } => round_trip::<ListResult>(line),
            Operation::Log { .. } => round_trip::<LogResult>(line),
            Operation::Remember { .. } => round_trip::<RememberResult>(line),
            Operation::Forget => round_trip::<ForgetResult>(line),
            Operation::Refresh { .. } => round_trip::<RefreshResult>(line),
            _ => round_trip::<Done>(line),
        },
        Pending::None => round_trip::<Done>(line),
    }
}

fn round_trip<T: Serialize + DeserializeOwned>(line: &str) {
    let reply: Reply<T> = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(
        serde_json::to_string(&reply).unwrap(),
        line,
        "reply does not round-trip"
    );
}
