//! The agent's HTTP client and the environment's proxy: a plain `http://` request (allowed to
//! loopback and link-local addresses only) never goes through `ALL_PROXY`/`HTTP_PROXY`, which
//! would carry it in cleartext off the machine. A binary of its own: it sets the proxy
//! variables for the whole process, which no other test may see.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Accepts connections on loopback; each one sets `used` and gets a `502`.
fn fake_proxy(used: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            used.store(true, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

/// Answers every request on loopback with `200` and the body `direct`.
fn target() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndirect",
            );
        }
    });
    port
}

#[test]
fn a_plain_http_request_to_loopback_never_uses_the_environments_proxy() {
    let used = Arc::new(AtomicBool::new(false));
    let proxy = format!("http://127.0.0.1:{}", fake_proxy(used.clone()));
    // SAFETY: the only test of this binary, and no thread of it reads the environment yet.
    unsafe {
        for name in ["ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"] {
            std::env::set_var(name, &proxy);
        }
        std::env::remove_var("NO_PROXY");
    }
    let url = format!("http://127.0.0.1:{}/token", target());
    let client = credd::http::Client::new(None, Instant::now() + Duration::from_secs(10)).unwrap();
    let answer = client.get(&url, &[]).unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"direct"[..]));
    assert!(
        !used.load(Ordering::SeqCst),
        "the request went to the proxy"
    );
}
