//! Operations over time: changing the config between restarts, losing files, and
//! reading connection details, without ever losing or silently replacing a secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::process::Command;

use common::{BIN, Server};

const APP: &str = "endpoints:\n  app:\n    - {policy: encrypt, key: app-data, type: encrypt}\n    - {policy: decrypt, key: app-data, type: encrypt}\n";

fn run(args: &[&str], config: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn changing_the_prefix_keeps_older_values_readable() {
    let mut server = Server::start_with(&format!("prefix: vault-kms\n{APP}"));
    let app = server.token("app");
    let ciphertext = server
        .post(
            "/v1/transit/encrypt/app-data",
            &app,
            r#"{"plaintext":"aGk="}"#,
        )
        .data_str("ciphertext");
    assert!(ciphertext.starts_with("vault-kms:v1:"), "{ciphertext}");
    server.stop();

    let config = std::fs::read_to_string(&server.config).unwrap();
    std::fs::write(&server.config, config.replace("prefix: vault-kms\n", "")).unwrap();
    server.launch();

    let decrypted = server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        &format!(r#"{{"ciphertext":"{ciphertext}"}}"#),
    );
    assert_eq!(decrypted.data_str("plaintext"), "aGk=");
}

#[test]
fn connection_details_need_a_started_server_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, format!("data_dir: {}\n{APP}", data.display())).unwrap();

    for args in [&["env", "app"][..], &["relationships"][..]] {
        let output = run(args, &config);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("holds no data yet: start the server once"),
            "{stderr}"
        );
    }
    assert!(!data.exists(), "nothing was created");
}

#[test]
fn a_missing_master_key_is_not_replaced_beside_sealed_data() {
    let mut server = Server::start_with(APP);
    server.stop();
    let key_file = server.data_dir().join("master.key");
    std::fs::remove_file(&key_file).unwrap();

    let output = run(&["serve"], &server.config);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("master.key is missing"), "{stderr}");
    assert!(!key_file.exists(), "no new key was written");
}

#[test]
fn removing_an_endpoint_revokes_its_token_for_good() {
    let both = format!("{APP}  other:\n    - {{policy: encrypt, key: app-data, type: encrypt}}\n");
    let mut server = Server::start_with(&both);
    let old = server.token("other");
    server.stop();

    std::fs::write(
        &server.config,
        std::fs::read_to_string(&server.config)
            .unwrap()
            .replace(&both, APP),
    )
    .unwrap();
    server.launch();
    server.stop();
    let config = std::fs::read_to_string(&server.config).unwrap();
    std::fs::write(&server.config, config.replace(APP, &both)).unwrap();
    server.launch();

    let new = server.token("other");
    assert_ne!(new, old);
    let answer = server.post(
        "/v1/transit/encrypt/app-data",
        &old,
        r#"{"plaintext":"aGk="}"#,
    );
    assert_eq!(answer.status, 403);
}

#[test]
fn env_follows_a_listen_override_and_refuses_bad_prefixes() {
    let server = Server::start_with(APP);

    let output = Command::new(BIN)
        .args([
            "env",
            "app",
            "--prefix",
            "V",
            "--listen",
            "[::1]:9999",
            "--config",
        ])
        .arg(&server.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("V_PORT=9999"), "{stdout}");
    assert!(stdout.contains("V_HOST='[::1]'"), "{stdout}");

    for bad in ["a b", "x-y", "$(id)", "1X"] {
        let output = run(&["env", "app", "--prefix", bad], &server.config);
        assert!(!output.status.success(), "{bad}");
    }
}
