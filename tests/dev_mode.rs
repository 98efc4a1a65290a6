//! Development mode: a root token, keys managed over the API as in Vault, and the
//! data kept on disk (or in memory on request).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::process::Command;

use common::{BIN, Server};
use serde_json::json;

const ROOT: &str = "root";

#[test]
fn the_root_token_is_printed_at_start_and_has_every_capability() {
    let server = Server::start_dev();
    let stdout = server.log();
    assert!(stdout.contains("Root Token: root"), "{stdout}");

    let lookup = server.get("/v1/auth/token/lookup-self", ROOT).json();
    assert_eq!(lookup["data"]["policies"], json!(["root"]));
    assert_eq!(lookup["data"]["expire_time"], serde_json::Value::Null);

    // Endpoint tokens keep exactly their own rights beside it.
    let app = server.token("app_encryption");
    assert_eq!(
        server
            .request("LIST", "/v1/transit/keys", Some(&app), None)
            .status,
        403
    );
}

#[test]
fn keys_of_every_served_type_are_created_read_listed_and_deleted() {
    let server = Server::start_dev();
    let types = [
        "aes128-gcm96",
        "aes256-gcm96",
        "chacha20-poly1305",
        "ecdsa-p256",
        "rsa-2048",
    ];
    for key_type in types {
        let created = server.post(
            &format!("/v1/transit/keys/t-{key_type}"),
            ROOT,
            &json!({"type": key_type}).to_string(),
        );
        assert_eq!(created.status, 200, "{}", created.body);
        assert_eq!(created.json()["data"]["type"], key_type);
        assert_eq!(created.json()["data"]["latest_version"], 1);
    }

    let listed = server
        .request("LIST", "/v1/transit/keys", Some(ROOT), None)
        .json();
    let names = listed["data"]["keys"].as_array().unwrap();
    assert!(names.contains(&json!("t-rsa-2048")) && names.contains(&json!("app-data")));
    let same = server.get("/v1/transit/keys?list=true", ROOT).json();
    assert_eq!(same["data"], listed["data"]);

    let refused = server.request("DELETE", "/v1/transit/keys/t-rsa-2048", Some(ROOT), None);
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.error(),
        "error deleting policy t-rsa-2048: deletion is not allowed for this key"
    );
    server.post(
        "/v1/transit/keys/t-rsa-2048/config",
        ROOT,
        r#"{"deletion_allowed":true}"#,
    );
    let deleted = server.request("DELETE", "/v1/transit/keys/t-rsa-2048", Some(ROOT), None);
    assert_eq!(deleted.status, 204);
    assert_eq!(server.get("/v1/transit/keys/t-rsa-2048", ROOT).status, 404);
}

#[test]
fn creating_an_existing_key_returns_it_unchanged() {
    let server = Server::start_dev();
    let first = server.post("/v1/transit/keys/same", ROOT, r#"{"type":"aes128-gcm96"}"#);
    let again = server.post("/v1/transit/keys/same", ROOT, r#"{"type":"rsa-2048"}"#);

    assert_eq!(again.status, 200);
    assert_eq!(again.json()["data"]["type"], "aes128-gcm96");
    assert_eq!(again.json()["data"]["keys"], first.json()["data"]["keys"]);
}

#[test]
fn encrypt_creates_a_missing_key_derived_when_a_context_is_given() {
    let server = Server::start_dev();

    let sealed = server.post(
        "/v1/transit/encrypt/upserted",
        ROOT,
        r#"{"plaintext":"aGk=","context":"Y3R4"}"#,
    );
    assert_eq!(sealed.status, 200, "{}", sealed.body);
    let key = server.get("/v1/transit/keys/upserted", ROOT).json();
    assert_eq!(key["data"]["type"], "aes256-gcm96");
    assert_eq!(key["data"]["derived"], true);

    let ciphertext = sealed.data_str("ciphertext");
    let opened = server.post(
        "/v1/transit/decrypt/upserted",
        ROOT,
        &json!({"ciphertext": ciphertext, "context": "Y3R4"}).to_string(),
    );
    assert_eq!(opened.data_str("plaintext"), "aGk=");
    let wrong = server.post(
        "/v1/transit/decrypt/upserted",
        ROOT,
        &json!({"ciphertext": ciphertext, "context": "b3RoZXI="}).to_string(),
    );
    assert_eq!(wrong.error(), "cipher: message authentication failed");
}

#[test]
fn batches_report_each_item_and_follow_vaults_status_rule() {
    let server = Server::start_dev();
    server.post(
        "/v1/transit/keys/b",
        ROOT,
        r#"{"type":"chacha20-poly1305"}"#,
    );

    let mixed = server.post(
        "/v1/transit/encrypt/b",
        ROOT,
        r#"{"batch_input":[{"plaintext":"aGk=","reference":"ok"},{"plaintext":"!!","reference":"bad"}]}"#,
    );
    assert_eq!(mixed.status, 400);
    let results = mixed.json()["data"]["batch_results"].clone();
    assert_eq!(results[0]["reference"], "ok");
    assert!(
        results[0]["ciphertext"]
            .as_str()
            .unwrap()
            .starts_with("vault:v1:")
    );
    assert_eq!(
        results[1],
        json!({"error": "illegal base64 data at input byte 0", "reference": "bad"})
    );

    let overridden = server.post(
        "/v1/transit/encrypt/b",
        ROOT,
        r#"{"partial_failure_response_code":207,"batch_input":[{"plaintext":"aGk="},{"plaintext":"!!"}]}"#,
    );
    assert_eq!(overridden.status, 207);

    let ciphertext = results[0]["ciphertext"].as_str().unwrap();
    let decrypted = server.post(
        "/v1/transit/decrypt/b",
        ROOT,
        &json!({"batch_input": [{"ciphertext": ciphertext, "reference": "r"}]}).to_string(),
    );
    assert_eq!(decrypted.status, 200);
    assert_eq!(
        decrypted.json()["data"]["batch_results"],
        json!([{"plaintext": "aGk=", "reference": "r"}])
    );
}

#[test]
fn datakeys_decrypt_to_their_plaintext_and_random_bytes_have_the_asked_size() {
    let server = Server::start_dev();
    server.post("/v1/transit/keys/dk", ROOT, r#"{"type":"aes128-gcm96"}"#);

    let datakey = server.post("/v1/transit/datakey/plaintext/dk", ROOT, r#"{"bits":512}"#);
    let plaintext = datakey.data_str("plaintext");
    assert_eq!(common::unb64(&plaintext).len(), 64);
    let opened = server.post(
        "/v1/transit/decrypt/dk",
        ROOT,
        &json!({"ciphertext": datakey.data_str("ciphertext")}).to_string(),
    );
    assert_eq!(opened.data_str("plaintext"), plaintext);

    let wrapped = server
        .post("/v1/transit/datakey/wrapped/dk", ROOT, "{}")
        .json();
    assert!(wrapped["data"].get("plaintext").is_none());

    let random = server.post("/v1/transit/random/16", ROOT, r#"{"format":"hex"}"#);
    assert_eq!(random.data_str("random_bytes").len(), 32);
    let bad = server.post("/v1/transit/random", ROOT, r#"{"bytes":0}"#);
    assert_eq!(bad.error(), "'bytes' cannot be less than 1");
}

#[test]
fn dev_mode_keeps_keys_on_disk_across_restarts() {
    let mut server = Server::start_dev();
    server.post("/v1/transit/keys/kept", ROOT, r#"{"type":"aes256-gcm96"}"#);
    server.post("/v1/transit/keys/kept/rotate", ROOT, "");

    server.restart();

    let key = server.get("/v1/transit/keys/kept", ROOT).json();
    assert_eq!(key["data"]["latest_version"], 2);
}

#[test]
fn in_memory_mode_writes_nothing_to_the_data_dir() {
    let mut server =
        Server::start_with_args(&format!("dev_root_token: {ROOT}\n"), &["--in-memory"]);
    server.post("/v1/transit/keys/gone", ROOT, "{}");
    server.restart();

    assert_eq!(server.get("/v1/transit/keys/gone", ROOT).status, 404);
    assert!(
        !server.data_dir().exists(),
        "nothing is written to the data dir"
    );
}

#[test]
fn without_dev_mode_or_endpoints_the_server_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("data_dir: {}\n", dir.path().join("d").display()),
    )
    .unwrap();

    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("declare at least one endpoint (or run with --dev)"),
        "{stderr}"
    );
}

#[test]
fn a_key_the_config_declares_keeps_its_type_after_a_delete() {
    let mut server = Server::start_dev();
    let key = "/v1/transit/keys/app-data";
    let allowed = server.post(
        &format!("{key}/config"),
        "root",
        r#"{"deletion_allowed":true}"#,
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(
        server.request("DELETE", key, Some("root"), None).status,
        204
    );

    // Neither create nor encrypt's upsert may bring it back as another type.
    let created = server.post(key, "root", r#"{"type":"aes256-gcm96"}"#);
    assert_eq!(created.status, 400, "{}", created.body);
    assert!(
        created
            .error()
            .contains("declared in the config as chacha20-poly1305")
    );
    let upsert = server.post(
        "/v1/transit/encrypt/app-data",
        "root",
        r#"{"plaintext":"aGk="}"#,
    );
    assert_eq!(upsert.status, 400, "{}", upsert.body);

    // Its own type is fine, and the server starts again with it.
    let again = server.post(key, "root", r#"{"type":"chacha20-poly1305"}"#);
    assert_eq!(again.status, 200, "{}", again.body);
    server.restart();
    assert_eq!(
        server.get(key, "root").json()["data"]["type"],
        "chacha20-poly1305"
    );
}

#[test]
fn a_dev_server_starts_without_a_config_file_but_a_named_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "--dev", "--dev-root-token-id", ROOT, "--in-memory"])
        .args(["--listen", &address])
        .env_remove("VAULT_KMS_CONFIG")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let health = common::first_health_answer(&address);
    let created = reqwest::blocking::Client::new()
        .post(format!("http://{address}/v1/transit/keys/k"))
        .header("X-Vault-Token", ROOT)
        .body(r#"{"type":"ecdsa-p256"}"#)
        .send()
        .map(|answer| answer.status().as_u16());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health.expect("server answered").status(), 200);
    assert_eq!(created.unwrap(), 200);

    // A config named but missing, and the default one missing without --dev, are
    // errors that name the file.
    let refusals = [
        (
            &["serve", "--dev", "--in-memory", "--config", "missing.yaml"][..],
            "missing.yaml",
        ),
        (&["serve", "--in-memory"][..], "config/vault-kms.yaml"),
    ];
    for (args, file) in refusals {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("VAULT_KMS_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(file), "{args:?}: {stderr}");
    }
}
