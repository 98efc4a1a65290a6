//! Backup and restore through the real binary: the blob's key bytes checked with an
//! independent AES-GCM, restores that survive a restart, refusals of blobs whose parts
//! do not fit together, and the root-only ACL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use common::{Server, b64, unb64};
use serde_json::{Value, json};

const ROOT: &str = "root";

fn create(server: &Server, name: &str, key_type: &str) {
    let body = json!({"type": key_type, "exportable": true, "allow_plaintext_backup": true});
    let answer = server.post(&format!("/v1/transit/keys/{name}"), ROOT, &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn backup_document(server: &Server, name: &str) -> Value {
    let answer = server.get(&format!("/v1/transit/backup/{name}"), ROOT);
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_slice(&unb64(&answer.data_str("backup"))).unwrap()
}

fn restore(server: &Server, name: &str, document: &Value) -> common::Answer {
    let blob = b64(document.to_string().as_bytes());
    let body = json!({ "backup": blob }).to_string();
    server.post(&format!("/v1/transit/restore/{name}"), ROOT, &body)
}

#[test]
fn backup_holds_the_key_that_decrypts_the_servers_ciphertexts() {
    let server = Server::start_dev();
    create(&server, "bk", "aes256-gcm96");
    let plaintext = b"checked outside vault-kms";
    let answer = server.post(
        "/v1/transit/encrypt/bk",
        ROOT,
        &json!({"plaintext": b64(plaintext)}).to_string(),
    );
    let ciphertext = answer.data_str("ciphertext");

    let document = backup_document(&server, "bk");
    let key = unb64(document["policy"]["keys"]["1"]["key"].as_str().unwrap());
    let sealed = unb64(ciphertext.strip_prefix("vault:v1:").unwrap());
    let (nonce, body) = sealed.split_at(12);
    let opened = Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .decrypt(Nonce::from_slice(nonce), body)
        .unwrap();
    assert_eq!(opened, plaintext);
    assert_eq!(document["policy"]["type"], 0);
    assert!(document["policy"]["backup_info"]["time"].is_string());
}

#[test]
fn restored_key_and_backup_stamp_survive_a_restart() {
    let mut server = Server::start_dev();
    create(&server, "orig", "chacha20-poly1305");
    let answer = server.post("/v1/transit/encrypt/orig", ROOT, r#"{"plaintext":"aGk="}"#);
    let ciphertext = answer.data_str("ciphertext");
    let document = backup_document(&server, "orig");
    assert_eq!(restore(&server, "copy", &document).status, 204);

    server.restart();
    let key = server.get("/v1/transit/keys/copy", ROOT).json();
    assert_eq!(key["data"]["restore_info"]["version"], 1);
    let original = server.get("/v1/transit/keys/orig", ROOT).json();
    assert_eq!(original["data"]["backup_info"]["version"], 1);
    let body = json!({ "ciphertext": ciphertext }).to_string();
    let answer = server.post("/v1/transit/decrypt/copy", ROOT, &body);
    assert_eq!(answer.data_str("plaintext"), "aGk=");
}

#[test]
fn blobs_whose_parts_do_not_fit_together_are_refused_and_nothing_is_stored() {
    let server = Server::start_dev();
    for (name, key_type) in [("ec1", "ecdsa-p256"), ("ec2", "ecdsa-p256")] {
        create(&server, name, key_type);
    }
    create(&server, "rsa1", "rsa-2048");
    create(&server, "rsa2", "rsa-2048");
    create(&server, "ed", "ed25519");
    create(&server, "aes", "aes256-gcm96");
    // EC and RSA numbers are JSON integers past f64, so those blobs are edited as text.
    let text = |name: &str| {
        let answer = server.get(&format!("/v1/transit/backup/{name}"), ROOT);
        String::from_utf8(unb64(&answer.data_str("backup"))).unwrap()
    };
    let mut bad = Vec::new();
    // An EC point that does not belong to d.
    let ec_d = |text: &str| member(text, "\"ec_d\":", ',').to_owned();
    let ec1 = text("ec1");
    bad.push(("ec-mismatch", ec1.replace(&ec_d(&ec1), &ec_d(&text("ec2")))));
    // RSA primes of another key.
    let primes = |text: &str| member(text, "\"Primes\":", ']').to_owned();
    let rsa1 = text("rsa1");
    bad.push((
        "rsa-mismatch",
        rsa1.replace(&primes(&rsa1), &primes(&text("rsa2"))),
    ));

    // An Ed25519 key whose public half is not the seed's.
    let mut doc = backup_document(&server, "ed");
    for place in ["/policy/keys/1/key", "/archived_keys/keys/1/key"] {
        let mut full = unb64(doc.pointer(place).unwrap().as_str().unwrap());
        full[40] ^= 1;
        *doc.pointer_mut(place).unwrap() = json!(b64(&full));
    }
    bad.push(("ed-mismatch", doc.to_string()));
    // An AES-256 key of 16 bytes.
    let mut doc = backup_document(&server, "aes");
    for place in ["/policy/keys/1/key", "/archived_keys/keys/1/key"] {
        *doc.pointer_mut(place).unwrap() = json!(b64(&[7u8; 16]));
    }
    bad.push(("aes-short", doc.to_string()));

    for (name, document) in bad {
        let body = json!({ "backup": b64(document.as_bytes()) }).to_string();
        let answer = server.post(&format!("/v1/transit/restore/{name}"), ROOT, &body);
        assert_eq!(answer.status, 500, "{name}: {}", answer.body);
        assert!(
            answer
                .error()
                .contains("key version 1 in the backup is malformed"),
            "{name}"
        );
        assert_eq!(
            server.get(&format!("/v1/transit/keys/{name}"), ROOT).status,
            404
        );
    }
}

#[test]
fn a_forced_restore_cannot_change_the_type_of_a_key_the_config_declares() {
    let mut server = Server::start_dev();
    create(&server, "aes", "aes256-gcm96");
    let document = backup_document(&server, "aes");
    let body = json!({ "backup": b64(document.to_string().as_bytes()), "force": true });
    let answer = server.post("/v1/transit/restore/vault-sign", ROOT, &body.to_string());
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(answer.error().contains("a restore cannot change its type"));

    server.restart();
    let key = server.get("/v1/transit/keys/vault-sign", ROOT).json();
    assert_eq!(key["data"]["type"], "ecdsa-p256");
}

/// The first value of `tag` in `text`, up to `end` (excluded).
fn member<'a>(text: &'a str, tag: &str, end: char) -> &'a str {
    let start = text.find(tag).unwrap() + tag.len();
    let len = text[start..].find(end).unwrap();
    &text[start..start + len]
}

#[test]
fn only_root_may_back_up_or_restore() {
    let server = Server::start_dev();
    let admin = server.token("manage_keys");
    let backup = server.get("/v1/transit/backup/vault-sign", &admin);
    assert_eq!(backup.status, 403, "{}", backup.body);
    let restore = server.post("/v1/transit/restore/x", &admin, r#"{"backup":"e30K"}"#);
    assert_eq!(restore.status, 403, "{}", restore.body);
}
