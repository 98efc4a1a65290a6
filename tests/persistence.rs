//! Durability: keys, versions and tokens survive restarts and `kill -9`, and the
//! data dir reveals nothing without its master key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use common::{Server, b64};

fn latest_version(server: &Server, token: &str, key: &str) -> u64 {
    let answer = server.get(&format!("/v1/transit/keys/{key}"), token);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["data"]["latest_version"].as_u64().unwrap()
}

#[test]
fn ciphertexts_signatures_versions_and_tokens_survive_a_restart() {
    let mut server = Server::start();
    let admin = server.token("manage_keys");
    let app = server.token("app_encryption");
    let input = b64(b"SECRET\n");

    let ciphertext = server
        .post(
            "/v1/transit/encrypt/app-data",
            &app,
            &format!(r#"{{"plaintext":"{input}"}}"#),
        )
        .data_str("ciphertext");
    let signature = server
        .post(
            "/v1/transit/sign/vault-sign/sha2-256",
            &admin,
            &format!(r#"{{"input":"{input}"}}"#),
        )
        .data_str("signature");
    let rotated = server.post("/v1/transit/keys/vault-sign/rotate", &admin, "");
    assert_eq!(rotated.status, 200, "{}", rotated.body);

    server.restart();

    assert_eq!(server.token("manage_keys"), admin, "tokens are stable");
    assert_eq!(latest_version(&server, &admin, "vault-sign"), 2);
    let decrypted = server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        &format!(r#"{{"ciphertext":"{ciphertext}"}}"#),
    );
    assert_eq!(decrypted.data_str("plaintext"), input);
    let verified = server.post(
        "/v1/transit/verify/vault-sign/sha2-256",
        &admin,
        &format!(r#"{{"input":"{input}","signature":"{signature}"}}"#),
    );
    assert_eq!(verified.json()["data"]["valid"], true, "{}", verified.body);
}

#[test]
fn a_rotation_that_answered_survives_kill_9() {
    let mut server = Server::start();
    let admin = server.token("manage_keys");

    for expected in 2..=4 {
        let rotated = server.post("/v1/transit/keys/vault-sign/rotate", &admin, "");
        assert_eq!(rotated.json()["data"]["latest_version"], expected);

        server.kill9();
        server.launch();
        assert_eq!(latest_version(&server, &admin, "vault-sign"), expected);
    }

    // Each version still signs and verifies after the crashes.
    let signed = server.post(
        "/v1/transit/sign/vault-sign",
        &admin,
        r#"{"input":"aGk=","key_version":2}"#,
    );
    assert!(signed.data_str("signature").starts_with("vault:v2:"));
}

#[test]
fn a_config_change_that_answered_survives_kill_9() {
    let mut server = Server::start();
    let admin = server.token("data_admin");
    server.post("/v1/transit/keys/app-data/rotate", &admin, "");
    let changed = server.post(
        "/v1/transit/keys/app-data/config",
        &admin,
        r#"{"min_decryption_version":2,"deletion_allowed":true}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);

    server.kill9();
    server.launch();

    let key = server.get("/v1/transit/keys/app-data", &admin).json();
    assert_eq!(key["data"]["min_decryption_version"], 2);
    assert_eq!(key["data"]["deletion_allowed"], true);
    assert!(
        key["data"]["keys"].get("1").is_none(),
        "retired versions are hidden"
    );
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let server = Server::start();

    let output = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", common::free_port()),
            "--config",
        ])
        .arg(&server.config)
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another vault-kms server is already using this data dir"),
        "{stderr}"
    );
}

#[test]
fn the_data_dir_without_its_master_key_reveals_no_token_or_plaintext() {
    let mut server = Server::start();
    let app = server.token("app_encryption");
    let marker = b"plaintext-marker-that-must-not-be-stored";
    server.post(
        "/v1/transit/encrypt/app-data",
        &app,
        &format!(r#"{{"plaintext":"{}"}}"#, b64(marker)),
    );
    server.stop();

    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "master.key" {
            continue;
        }
        let bytes = common::read_all(&path);
        // Key names and endpoint ids are record paths and stay readable, as in Vault;
        // tokens, plaintext and key material must not.
        for needle in [
            app.as_bytes(),
            &marker[..],
            b"BEGIN",
            b"hmac_key",
            b"created",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in the clear",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn the_master_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let mode = std::fs::metadata(server.data_dir().join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_wrong_master_key_is_refused_at_start_and_nothing_is_lost() {
    let mut server = Server::start();
    let app = server.token("app_encryption");
    let ciphertext = server
        .post(
            "/v1/transit/encrypt/app-data",
            &app,
            r#"{"plaintext":"aGk="}"#,
        )
        .data_str("ciphertext");
    server.stop();

    let key_file = server.data_dir().join("master.key");
    let original = std::fs::read(&key_file).unwrap();
    std::fs::write(&key_file, format!("{}\n", b64(&[7u8; 32]))).unwrap();
    let output = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("master key"), "{stderr}");

    std::fs::write(&key_file, original).unwrap();
    server.launch();
    let decrypted = server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        &format!(r#"{{"ciphertext":"{ciphertext}"}}"#),
    );
    assert_eq!(decrypted.data_str("plaintext"), "aGk=");
}

#[test]
fn a_change_racing_a_delete_never_brings_the_deleted_key_back() {
    let mut server = Server::start_dev();
    let names: Vec<String> = (0..12).map(|i| format!("raced-{i}")).collect();
    for name in &names {
        let path = format!("/v1/transit/keys/{name}");
        assert_eq!(
            server
                .post(&path, "root", r#"{"type":"aes256-gcm96"}"#)
                .status,
            200
        );
        let config = format!("{path}/config");
        let allowed = server.post(&config, "root", r#"{"deletion_allowed":true}"#);
        assert_eq!(allowed.status, 200, "{}", allowed.body);
    }

    std::thread::scope(|scope| {
        for name in &names {
            let server = &server;
            scope.spawn(move || {
                let path = format!("/v1/transit/keys/{name}");
                assert_eq!(
                    server.request("DELETE", &path, Some("root"), None).status,
                    204
                );
            });
            for _ in 0..4 {
                scope.spawn(move || {
                    let rotated =
                        server.post(&format!("/v1/transit/keys/{name}/rotate"), "root", "");
                    // Before the delete a rotation succeeds; after it, the key is gone.
                    assert!(matches!(rotated.status, 200 | 400), "{}", rotated.body);
                });
            }
        }
    });

    for round in ["before a restart", "after a restart"] {
        for name in &names {
            let read = server.get(&format!("/v1/transit/keys/{name}"), "root");
            assert_eq!(read.status, 404, "{name} {round}: {}", read.body);
        }
        server.restart();
    }
    let created = server.post("/v1/transit/keys/raced-0", "root", r#"{"type":"ed25519"}"#);
    assert_eq!(
        created.json()["data"]["type"],
        "ed25519",
        "{}",
        created.body
    );
    assert_eq!(
        created.json()["data"]["latest_version"],
        1,
        "{}",
        created.body
    );
}
