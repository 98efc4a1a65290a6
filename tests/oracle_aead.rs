//! AES-GCM and ChaCha20-Poly1305 ciphertexts, plain, derived and convergent, checked
//! with the RustCrypto crates (`aes-gcm`, `chacha20poly1305`, `hkdf`, `hmac`) once the
//! key material is read from the data dir: an implementation that is not ours.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use chacha20poly1305::ChaCha20Poly1305;
use common::{Server, b64, unb64};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use vault_kms::keyring::key::KeyMaterial;

const ROOT: &str = "root";

/// Opens `payload` (nonce || ciphertext || tag) with the RustCrypto AEAD of `key_type`.
fn oracle_open(key_type: &str, key: &[u8], payload: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (nonce, sealed) = payload.split_at(12);
    let nonce = Nonce::from_slice(nonce);
    let message = Payload { msg: sealed, aad };
    match key_type {
        "aes128-gcm96" => Aes128Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(nonce, message)
            .ok(),
        "aes256-gcm96" => Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(nonce, message)
            .ok(),
        "chacha20-poly1305" => ChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .decrypt(nonce, message)
            .ok(),
        other => panic!("no oracle for {other}"),
    }
}

/// HKDF-SHA256 with no salt and the context as info (RFC 5869), by the `hkdf` crate.
fn oracle_derive(key: &[u8], context: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::new(None, key)
        .expand(context, &mut out)
        .unwrap();
    out
}

/// The raw version-1 key of each named key, read through the library after the
/// server stopped.
fn stored_keys(server: &Server, names: &[&str]) -> Vec<Vec<u8>> {
    let config = vault_kms::config::Config::load(&server.config).unwrap();
    let clock = Arc::new(vault_kms::clock::SystemClock);
    let service =
        vault_kms::service::Service::open(config, clock, vault_kms::service::Mode::Inspect)
            .unwrap();
    names
        .iter()
        .map(|name| {
            let key = service.keyring.get(name).unwrap();
            let KeyMaterial::Aead(aead) = &key.versions[&1].material else {
                panic!("{name} is not an AEAD key");
            };
            aead.raw().expose().to_vec()
        })
        .collect()
}

fn payload_of(ciphertext: &str) -> Vec<u8> {
    unb64(ciphertext.strip_prefix("vault:v1:").unwrap())
}

#[test]
fn plain_aead_ciphertexts_with_associated_data_open_in_rustcrypto() {
    let mut server = Server::start_dev();
    let types = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"];
    let plaintexts: [&[u8]; 3] = [b"", b"SECRET\n", &[0xa5; 3000]];
    let aad = b"associated";

    let mut sealed = Vec::new();
    for key_type in types {
        server.post(
            &format!("/v1/transit/keys/{key_type}"),
            ROOT,
            &json!({"type": key_type}).to_string(),
        );
        for plaintext in plaintexts {
            let body = json!({"plaintext": b64(plaintext), "associated_data": b64(aad)});
            let answer = server.post(
                &format!("/v1/transit/encrypt/{key_type}"),
                ROOT,
                &body.to_string(),
            );
            sealed.push((
                key_type,
                plaintext,
                payload_of(&answer.data_str("ciphertext")),
            ));
        }
    }
    server.stop();

    let keys = stored_keys(&server, &types);
    for (key_type, plaintext, payload) in sealed {
        let key = &keys[types.iter().position(|t| *t == key_type).unwrap()];
        assert_eq!(
            oracle_open(key_type, key, &payload, aad).as_deref(),
            Some(plaintext),
            "{key_type}"
        );
        assert_eq!(
            oracle_open(key_type, key, &payload, b"other"),
            None,
            "{key_type} with wrong AAD"
        );
    }
}

#[test]
fn derived_ciphertexts_open_under_the_hkdf_key_of_their_context() {
    let mut server = Server::start_dev();
    server.post(
        "/v1/transit/keys/derived",
        ROOT,
        r#"{"type":"aes256-gcm96","derived":true}"#,
    );
    let context = b"tenant-42";
    let answer = server.post(
        "/v1/transit/encrypt/derived",
        ROOT,
        &json!({"plaintext": b64(b"per-tenant data"), "context": b64(context)}).to_string(),
    );
    let payload = payload_of(&answer.data_str("ciphertext"));
    server.stop();

    let key = &stored_keys(&server, &["derived"])[0];
    let derived = oracle_derive(key, context, 32);
    assert_eq!(
        oracle_open("aes256-gcm96", &derived, &payload, b"").as_deref(),
        Some(&b"per-tenant data"[..])
    );
    assert_eq!(
        oracle_open("aes256-gcm96", key, &payload, b""),
        None,
        "the base key does not open it"
    );
    let other = oracle_derive(key, b"tenant-43", 32);
    assert_eq!(oracle_open("aes256-gcm96", &other, &payload, b""), None);
}

#[test]
fn convergent_nonces_are_the_hmac_of_the_plaintext_under_the_derived_mac_key() {
    let mut server = Server::start_dev();
    server.post(
        "/v1/transit/keys/conv",
        ROOT,
        r#"{"type":"chacha20-poly1305","derived":true,"convergent_encryption":true}"#,
    );
    let context = b"ctx";
    let plaintext = b"same every time";
    let encrypt = || {
        server
            .post(
                "/v1/transit/encrypt/conv",
                ROOT,
                &json!({"plaintext": b64(plaintext), "context": b64(context)}).to_string(),
            )
            .data_str("ciphertext")
    };
    let first = encrypt();
    assert_eq!(first, encrypt(), "convergent encryption is deterministic");
    server.stop();

    let key = &stored_keys(&server, &["conv"])[0];
    let derived = oracle_derive(key, context, 32 + 32);
    let (enc_key, mac_key) = derived.split_at(32);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).unwrap();
    mac.update(plaintext);
    let expected_nonce = mac.finalize().into_bytes();

    let payload = payload_of(&first);
    assert_eq!(&payload[..12], &expected_nonce[..12]);
    assert_eq!(
        oracle_open("chacha20-poly1305", enc_key, &payload, b"").as_deref(),
        Some(&plaintext[..])
    );
}

#[test]
fn hmacs_match_the_hmac_crate_under_the_stored_key() {
    let mut server = Server::start_dev();
    server.post(
        "/v1/transit/keys/mac",
        ROOT,
        r#"{"type":"hmac","key_size":48}"#,
    );
    let input = b"message to authenticate";
    let answer = server.post(
        "/v1/transit/hmac/mac/sha2-384",
        ROOT,
        &json!({"input": b64(input)}).to_string(),
    );
    let tag = unb64(answer.data_str("hmac").strip_prefix("vault:v1:").unwrap());
    server.stop();

    let config = vault_kms::config::Config::load(&server.config).unwrap();
    let clock = Arc::new(vault_kms::clock::SystemClock);
    let service =
        vault_kms::service::Service::open(config, clock, vault_kms::service::Mode::Inspect)
            .unwrap();
    let key = service.keyring.get("mac").unwrap();
    let KeyMaterial::Hmac(raw) = &key.versions[&1].material else {
        panic!("mac is not an hmac key");
    };
    assert_eq!(raw.len(), 48);

    let mut mac = <Hmac<sha2::Sha384> as Mac>::new_from_slice(raw.expose()).unwrap();
    mac.update(input);
    assert_eq!(mac.finalize().into_bytes().as_slice(), tag.as_slice());
}
