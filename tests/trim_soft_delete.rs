//! Trimming key versions and soft-deleting keys through the real binary: the admin
//! policy grants both for its own key only, and both changes survive a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use common::{Answer, Server, b64};
use serde_json::{Value, json};

fn ok(answer: Answer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn version_numbers(description: &Value) -> Vec<String> {
    let mut numbers: Vec<String> = description["data"]["keys"]
        .as_object()
        .expect("a keys member")
        .keys()
        .cloned()
        .collect();
    numbers.sort();
    numbers
}

/// Rotates `key` twice and raises both minimums to 3, so that a trim to 3 is allowed.
fn prepare_trim(server: &Server, token: &str, key: &str) {
    for _ in 0..2 {
        ok(server.post(&format!("/v1/transit/keys/{key}/rotate"), token, ""));
    }
    ok(server.post(
        &format!("/v1/transit/keys/{key}/config"),
        token,
        r#"{"min_encryption_version":3,"min_decryption_version":3}"#,
    ));
}

fn decrypt(server: &Server, token: &str, ciphertext: &str) -> Answer {
    server.post(
        "/v1/transit/decrypt/app-data",
        token,
        &json!({ "ciphertext": ciphertext }).to_string(),
    )
}

#[test]
fn an_admin_token_trims_its_own_key_and_no_other() {
    let server = Server::start();
    let admin = server.token("manage_keys");
    let data_admin = server.token("data_admin");
    prepare_trim(&server, &admin, "vault-sign");
    prepare_trim(&server, &data_admin, "app-data");

    let refused = server.post(
        "/v1/transit/keys/app-data/trim",
        &admin,
        r#"{"min_available_version":3}"#,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let untouched = ok(server.get("/v1/transit/keys/app-data", &data_admin));
    assert_eq!(untouched["data"]["min_available_version"], 0);
    assert_eq!(
        version_numbers(&untouched),
        ["3"],
        "hidden, not yet trimmed"
    );

    let trimmed = ok(server.post(
        "/v1/transit/keys/vault-sign/trim",
        &admin,
        r#"{"min_available_version":3}"#,
    ));
    assert_eq!(trimmed["data"]["min_available_version"], 3);
    assert_eq!(trimmed["data"]["latest_version"], 3);

    // With the versions gone, the minimums cannot go back below them.
    let lowered = server.post(
        "/v1/transit/keys/vault-sign/config",
        &admin,
        r#"{"min_decryption_version":1}"#,
    );
    assert_eq!(lowered.status, 400, "{}", lowered.body);
    assert_eq!(
        lowered.error(),
        "min decryption version should not be less then min available version"
    );
    let read = ok(server.get("/v1/transit/keys/vault-sign", &admin));
    assert_eq!(read["data"]["min_decryption_version"], 3);
}

#[test]
fn an_admin_token_soft_deletes_and_restores_its_own_key_and_no_other() {
    let server = Server::start();
    let admin = server.token("manage_keys");
    let app = server.token("app_encryption");
    let input = json!({ "input": b64(b"to sign") }).to_string();

    for (method, path) in [
        ("DELETE", "/v1/transit/keys/app-data/soft-delete"),
        ("POST", "/v1/transit/keys/app-data/soft-delete-restore"),
    ] {
        let refused = server.request(method, path, Some(&admin), None);
        assert_eq!(refused.status, 403, "{method} {path}: {}", refused.body);
    }
    let encrypted = server.post(
        "/v1/transit/encrypt/app-data",
        &app,
        &json!({ "plaintext": b64(b"still usable") }).to_string(),
    );
    assert_eq!(encrypted.status, 200, "{}", encrypted.body);

    let deleted = server.request(
        "DELETE",
        "/v1/transit/keys/vault-sign/soft-delete",
        Some(&admin),
        None,
    );
    assert_eq!(ok(deleted)["data"]["soft_deleted"], true);
    let sign = server.post("/v1/transit/sign/vault-sign", &admin, &input);
    assert_eq!(sign.status, 500, "{}", sign.body);
    assert!(
        sign.error().contains("refusing to use soft-deleted key"),
        "{}",
        sign.body
    );
    let read = ok(server.get("/v1/transit/keys/vault-sign", &admin));
    assert_eq!(read["data"]["soft_deleted"], true);

    let restored = ok(server.post(
        "/v1/transit/keys/vault-sign/soft-delete-restore",
        &admin,
        "",
    ));
    assert_eq!(restored["data"]["soft_deleted"], false);
    assert_eq!(restored["warnings"], Value::Null);
    ok(server.post("/v1/transit/sign/vault-sign", &admin, &input));
}

#[test]
fn a_trim_and_a_soft_delete_survive_a_restart() {
    let mut server = Server::start();
    let data_admin = server.token("data_admin");
    let app = server.token("app_encryption");
    let encrypt = |server: &Server, text: &[u8]| {
        server
            .post(
                "/v1/transit/encrypt/app-data",
                &app,
                &json!({ "plaintext": b64(text) }).to_string(),
            )
            .data_str("ciphertext")
    };
    let old = encrypt(&server, b"version one");
    prepare_trim(&server, &data_admin, "app-data");
    let current = encrypt(&server, b"version three");
    ok(server.post(
        "/v1/transit/keys/app-data/trim",
        &data_admin,
        r#"{"min_available_version":3}"#,
    ));

    server.restart();

    let read = ok(server.get("/v1/transit/keys/app-data", &data_admin));
    assert_eq!(read["data"]["min_available_version"], 3);
    assert_eq!(version_numbers(&read), ["3"]);
    let refused = server.post(
        "/v1/transit/keys/app-data/config",
        &data_admin,
        r#"{"min_decryption_version":2}"#,
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        decrypt(&server, &app, &current).data_str("plaintext"),
        b64(b"version three")
    );
    let gone = decrypt(&server, &app, &old);
    assert_eq!(gone.status, 400, "{}", gone.body);
    assert_eq!(
        gone.error(),
        "ciphertext or signature version is disallowed by policy (too old)"
    );

    let deleted = server.request(
        "DELETE",
        "/v1/transit/keys/app-data/soft-delete",
        Some(&data_admin),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    server.restart();

    let read = ok(server.get("/v1/transit/keys/app-data", &data_admin));
    assert_eq!(read["data"]["soft_deleted"], true);
    let refused = decrypt(&server, &app, &current);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error(), "refusing to use soft-deleted key");
}
