//! Clients that send half a request: they are cut off after `read_timeout`, and the
//! server keeps answering everyone else meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ENDPOINTS, Server};

fn server() -> Server {
    Server::start_with(&format!("read_timeout: 1\n{ENDPOINTS}"))
}

/// Reads until the server closes the connection; returns what it sent.
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = server();
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stalled
        .write_all(b"POST /v1/transit/encrypt/app-data HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let started = Instant::now();
    let health = server.request("GET", "/v1/sys/health", None, None);
    assert_eq!(
        health.status, 200,
        "others are served while one client stalls"
    );

    read_until_closed(&mut stalled);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed after the read timeout"
    );
}

#[test]
fn a_client_that_never_finishes_its_body_gets_408() {
    let server = server();
    let token = server.token("app_encryption");
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = format!(
        "POST /v1/transit/encrypt/app-data HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    stalled.write_all(head.as_bytes()).unwrap();

    let answer = read_until_closed(&mut stalled);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#"{"errors":["timed out reading the request body"]}"#),
        "{answer}"
    );
}
