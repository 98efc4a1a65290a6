//! Logging: one line per request, and nothing secret in any line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use common::{Server, b64};

#[test]
fn logs_hold_one_line_per_request_and_no_token_payload_or_signature() {
    let mut server = Server::start();
    let admin = server.token("manage_keys");
    let app = server.token("app_encryption");
    let plaintext = b64(b"log-check-plaintext");

    let ciphertext = server
        .post(
            "/v1/transit/encrypt/app-data",
            &app,
            &format!(r#"{{"plaintext":"{plaintext}"}}"#),
        )
        .data_str("ciphertext");
    let decrypted = server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        &format!(r#"{{"ciphertext":"{ciphertext}"}}"#),
    );
    assert_eq!(decrypted.status, 200);
    let signature = server
        .post(
            "/v1/transit/sign/vault-sign",
            &admin,
            &format!(r#"{{"input":"{plaintext}"}}"#),
        )
        .data_str("signature");
    server.post(
        "/v1/transit/verify/vault-sign",
        &admin,
        &format!(r#"{{"input":"{plaintext}","signature":"{signature}"}}"#),
    );
    // Failures log too, and must not echo what was sent.
    server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        r#"{"ciphertext":"vault:v1:bm90LWEtcmVhbC1jaXBoZXJ0ZXh0"}"#,
    );
    server.request(
        "GET",
        "/v1/transit/keys/vault-sign",
        Some("vkms.not-a-real-token-value"),
        None,
    );
    server.stop();

    let log = server.log();
    let secrets = [
        admin.as_str(),
        app.as_str(),
        plaintext.as_str(),
        ciphertext.as_str(),
        signature.as_str(),
        "bm90LWEtcmVhbC1jaXBoZXJ0ZXh0",
        "vkms.not-a-real-token-value",
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }

    let request_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" request ") && !l.contains(r#"route="sys""#))
        .collect();
    assert_eq!(request_lines.len(), 6, "{log}");
    assert!(
        request_lines[0].contains("route=\"transit/encrypt/:name\"")
            && request_lines[0].contains("status=200")
    );
    assert!(request_lines[4].contains("status=400"));
    assert!(request_lines[5].contains("status=403"));
    assert!(request_lines[5].contains(r#"route="transit/keys/:name""#));
    assert!(
        request_lines
            .iter()
            .all(|l| l.contains("token=") && l.contains("latency_us="))
    );
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    let port = common::free_port();
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ndata_dir: {}\n{}",
            dir.path().join("data").display(),
            common::ENDPOINTS
        ),
    )
    .unwrap();
    let log_path = dir.path().join("log");
    let mut child = std::process::Command::new(common::BIN)
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let answered = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/v1/sys/health")).is_ok()
    });
    // Lines are written by a background thread: wait for the request's line before
    // the process is killed, or it may not have reached the file yet.
    let written = (0..200).any(|_| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("vault-kms listening") && log.contains(r#""route":"sys""#) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        false
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answered);
    assert!(written, "the log lines never reached the file");

    let log = std::fs::read_to_string(log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "vault-kms listening"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["route"] == "sys" && l["fields"]["status"] == 200),
        "{log}"
    );
}
