//! Requests that compute for long (batches of RSA signatures to check, say) do not
//! hold up the others, and bodies beyond OpenBao's JSON complexity limit are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Server, b64};

const ROOT: &str = "root";

#[test]
fn a_health_check_is_answered_while_rsa_batches_keep_every_core_busy() {
    let server = Server::start_dev();
    let created = server.post("/v1/transit/keys/rsa", ROOT, r#"{"type":"rsa-4096"}"#);
    assert_eq!(created.status, 200, "{}", created.body);
    // 240 RSA-4096 signatures: a few milliseconds each, about a second a batch.
    let item = format!(r#"{{"input":"{}"}}"#, b64(b"hi"));
    let batch = format!(r#"{{"batch_input":[{}]}}"#, vec![item; 240].join(","));

    let finished = AtomicUsize::new(0);
    let batches = 3;
    std::thread::scope(|scope| {
        for _ in 0..batches {
            scope.spawn(|| {
                let answer = server.post("/v1/transit/sign/rsa", ROOT, &batch);
                assert_eq!(answer.status, 200, "{}", answer.body);
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        // More batches than cores are running; a health check still gets through
        // before any of them is done.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let health = server.get("/v1/sys/health", ROOT);
        assert_eq!(health.status, 200);
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "the health check waited for the batches"
        );
    });
}

#[test]
fn a_body_of_more_than_a_thousand_strings_is_refused_before_the_token() {
    let server = Server::start_dev();
    let batch = |items: usize| {
        let item = r#"{"plaintext":"aGk="}"#;
        format!(r#"{{"batch_input":[{}]}}"#, vec![item; items].join(","))
    };

    let accepted = server.post("/v1/transit/encrypt/many", ROOT, &batch(499));
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    for token in [ROOT, "not-a-token"] {
        let refused = server.post("/v1/transit/encrypt/many", token, &batch(500));
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(
            refused.error(),
            "refused JSON input due to high complexity: exceeded maximum number of strings"
        );
    }
}
