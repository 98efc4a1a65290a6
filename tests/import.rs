//! Bring your own key, end to end: material is wrapped here with RustCrypto (`rsa`
//! OAEP, `aes-kw` KWP), imported over HTTP, and what the server then produces is
//! checked with the same material by independent code: AES-GCM and ChaCha20-Poly1305
//! decryption, ECDSA and Ed25519 verification, RSA-OAEP decryption and HMAC.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use chacha20poly1305::ChaCha20Poly1305;
use common::{Answer, Server, b64, unb64};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Sha256, Sha384, Sha512};

const ROOT: &str = "root";

/// The OAEP hash a blob is wrapped with.
#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn oaep(self) -> Oaep {
        match self {
            Hash::Sha256 => Oaep::new::<Sha256>(),
            Hash::Sha384 => Oaep::new::<Sha384>(),
            Hash::Sha512 => Oaep::new::<Sha512>(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "SHA512",
        }
    }
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn wrapping_key(server: &Server) -> RsaPublicKey {
    let answer = server.get("/v1/transit/wrapping_key", ROOT);
    assert_eq!(answer.status, 200, "{}", answer.body);
    RsaPublicKey::from_public_key_pem(&answer.data_str("public_key")).unwrap()
}

/// `ciphertext` for import: OAEP(ephemeral) || KWP(ephemeral, target), base64.
fn wrap(public: &RsaPublicKey, target: &[u8], hash: Hash) -> String {
    let ephemeral = random(32);
    let mut blob = public.encrypt(&mut OsRng, hash.oaep(), &ephemeral).unwrap();
    let kek = aes_kw::KekAes256::new(ephemeral.as_slice().into());
    blob.extend(kek.wrap_with_padding_vec(target).unwrap());
    b64(&blob)
}

fn import(server: &Server, name: &str, body: Value) -> Answer {
    server.post(
        &format!("/v1/transit/keys/{name}/import"),
        ROOT,
        &body.to_string(),
    )
}

fn post_ok(server: &Server, path: &str, body: Value) -> Answer {
    let answer = server.post(path, ROOT, &body.to_string());
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer
}

/// The payload of a `vault:vN:` value.
fn payload(value: &str) -> Vec<u8> {
    unb64(value.splitn(3, ':').nth(2).unwrap())
}

#[test]
fn the_wrapping_key_is_rsa_4096_pem_stable_across_restarts_and_root_only() {
    let mut server = Server::start_dev();
    let first = server.get("/v1/transit/wrapping_key", ROOT);
    let pem = first.data_str("public_key");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(wrapping_key(&server).n().bits(), 4096);
    assert_eq!(
        server
            .get("/v1/transit/wrapping_key", ROOT)
            .data_str("public_key"),
        pem
    );

    server.restart();
    assert_eq!(
        server
            .get("/v1/transit/wrapping_key", ROOT)
            .data_str("public_key"),
        pem
    );
    let admin = server.token("manage_keys");
    assert_eq!(server.get("/v1/transit/wrapping_key", &admin).status, 403);
    let post = server.post("/v1/transit/wrapping_key", ROOT, "{}");
    assert_eq!(post.status, 405);
}

#[test]
fn imported_symmetric_keys_encrypt_what_rustcrypto_decrypts() {
    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let cases = [
        ("aes256-gcm96", 32, Hash::Sha256),
        ("AES128-GCM96", 16, Hash::Sha384),
        ("chacha20-poly1305", 32, Hash::Sha512),
    ];
    for (key_type, len, hash) in cases {
        let name = format!("sym-{len}-{}", hash.name());
        let raw = random(len);
        let body = json!({
            "ciphertext": wrap(&public, &raw, hash),
            "type": key_type,
            "hash_function": hash.name(),
        });
        let answer = import(&server, &name, body);
        assert_eq!(answer.status, 204, "{key_type}: {}", answer.body);

        let read = server.get(&format!("/v1/transit/keys/{name}"), ROOT).json();
        assert_eq!(read["data"]["type"], key_type.to_ascii_lowercase());
        assert_eq!(read["data"]["imported_key"], true);
        assert_eq!(read["data"]["imported_key_allow_rotation"], false);

        let sealed = post_ok(
            &server,
            &format!("/v1/transit/encrypt/{name}"),
            json!({ "plaintext": b64(b"bring your own key") }),
        )
        .data_str("ciphertext");
        let sealed = payload(&sealed);
        let (nonce, body) = sealed.split_at(12);
        let nonce = Nonce::from_slice(nonce);
        let opened = match len {
            16 => Aes128Gcm::new_from_slice(&raw)
                .unwrap()
                .decrypt(nonce, body),
            _ if key_type.starts_with("chacha") => ChaCha20Poly1305::new_from_slice(&raw)
                .unwrap()
                .decrypt(nonce, body),
            _ => Aes256Gcm::new_from_slice(&raw)
                .unwrap()
                .decrypt(nonce, body),
        };
        assert_eq!(opened.unwrap(), b"bring your own key", "{key_type}");
    }
}

#[test]
fn an_imported_hmac_key_of_any_allowed_size_matches_the_hmac_crate() {
    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let raw = random(48);
    let answer = import(
        &server,
        "mac",
        json!({ "ciphertext": wrap(&public, &raw, Hash::Sha256), "type": "hmac" }),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let read = server.get("/v1/transit/keys/mac", ROOT).json();
    assert_eq!(read["data"]["key_size"], 48);

    let hmac = post_ok(
        &server,
        "/v1/transit/hmac/mac/sha2-256",
        json!({ "input": b64(b"message") }),
    )
    .data_str("hmac");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&raw).unwrap();
    mac.update(b"message");
    assert_eq!(payload(&hmac), mac.finalize().into_bytes().to_vec());

    // A new version of another size becomes the key's size, as OpenBao reports it.
    let longer = random(64);
    let answer = server.post(
        "/v1/transit/keys/mac/import_version",
        ROOT,
        &json!({ "ciphertext": wrap(&public, &longer, Hash::Sha256) }).to_string(),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let read = server.get("/v1/transit/keys/mac", ROOT).json();
    assert_eq!(read["data"]["key_size"], 64);
    let hmac = post_ok(
        &server,
        "/v1/transit/hmac/mac",
        json!({ "input": b64(b"message") }),
    )
    .data_str("hmac");
    assert!(hmac.starts_with("vault:v2:"), "{hmac}");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&longer).unwrap();
    mac.update(b"message");
    assert_eq!(payload(&hmac), mac.finalize().into_bytes().to_vec());

    let short = import(
        &server,
        "short-mac",
        json!({ "ciphertext": wrap(&public, &random(16), Hash::Sha256), "type": "hmac" }),
    );
    assert_eq!(short.status, 500);
    assert_eq!(
        short.error(),
        "1 error occurred:\n\t* error importing key: invalid key size 16 bytes for key type \
         hmac\n\n"
    );
}

#[test]
fn imported_signing_keys_sign_what_rustcrypto_verifies() {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::EncodePrivateKey as _;

    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let sign = |name: &str, path: &str| {
        let signature = post_ok(
            &server,
            &format!("/v1/transit/sign/{name}{path}"),
            json!({ "input": b64(b"signed message") }),
        )
        .data_str("signature");
        payload(&signature)
    };
    let import_pkcs8 = |name: &str, key_type: &str, der: &[u8]| {
        let body = json!({ "ciphertext": wrap(&public, der, Hash::Sha256), "type": key_type });
        let answer = import(&server, name, body);
        assert_eq!(answer.status, 204, "{key_type}: {}", answer.body);
    };

    let p256_key = p256::ecdsa::SigningKey::random(&mut OsRng);
    import_pkcs8(
        "p256",
        "ecdsa-p256",
        p256_key.to_pkcs8_der().unwrap().as_bytes(),
    );
    let signature = p256::ecdsa::DerSignature::try_from(sign("p256", "/sha2-256").as_slice());
    p256_key
        .verifying_key()
        .verify(b"signed message", &signature.unwrap())
        .unwrap();

    let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
    import_pkcs8(
        "p384",
        "ecdsa-p384",
        p384_key.to_pkcs8_der().unwrap().as_bytes(),
    );
    let signature = p384::ecdsa::DerSignature::try_from(sign("p384", "/sha2-384").as_slice());
    p384_key
        .verifying_key()
        .verify(b"signed message", &signature.unwrap())
        .unwrap();

    let ed_key = ed25519_dalek::SigningKey::from_bytes(&random(32).try_into().unwrap());
    import_pkcs8("ed", "ed25519", ed_key.to_pkcs8_der().unwrap().as_bytes());
    let signature = ed25519_dalek::Signature::from_slice(&sign("ed", "")).unwrap();
    ed_key
        .verifying_key()
        .verify(b"signed message", &signature)
        .unwrap();

    // The curve must be the type's.
    let wrong = import(
        &server,
        "wrong-curve",
        json!({
            "ciphertext": wrap(&public, p384_key.to_pkcs8_der().unwrap().as_bytes(), Hash::Sha256),
            "type": "ecdsa-p256",
        }),
    );
    assert_eq!(
        wrong.error(),
        "1 error occurred:\n\t* error importing key: invalid curve: expected P-256, got P-384\n\n"
    );
}

#[test]
fn an_imported_rsa_key_encrypts_what_the_rsa_crate_decrypts() {
    // Generated by aws-lc-rs for speed; the check below is done by the `rsa` crate.
    use aws_lc_rs::encoding::AsDer as _;
    let generated =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = generated.as_der().unwrap();
    let private = RsaPrivateKey::from_pkcs8_der(der.as_ref()).unwrap();

    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let too_big = import(
        &server,
        "rsa-big",
        json!({ "ciphertext": wrap(&public, der.as_ref(), Hash::Sha256), "type": "rsa-3072" }),
    );
    assert_eq!(
        too_big.error(),
        "1 error occurred:\n\t* error importing key: invalid key size: expected 384 bytes, got \
         256 bytes\n\n"
    );
    let answer = import(
        &server,
        "rsa",
        json!({ "ciphertext": wrap(&public, der.as_ref(), Hash::Sha256), "type": "rsa-2048" }),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);

    let sealed = post_ok(
        &server,
        "/v1/transit/encrypt/rsa",
        json!({ "plaintext": b64(b"for the holder of the key") }),
    )
    .data_str("ciphertext");
    let opened = private
        .decrypt(Oaep::new::<Sha256>(), &payload(&sealed))
        .unwrap();
    assert_eq!(opened, b"for the holder of the key");
}

#[test]
fn import_version_appends_a_version_and_rotation_follows_allow_rotation() {
    let mut server = Server::start_dev();
    let public = wrapping_key(&server);
    let (first, second) = (random(32), random(32));
    let body = json!({ "ciphertext": wrap(&public, &first, Hash::Sha256) });
    assert_eq!(import(&server, "byok", body.clone()).status, 204);

    let again = import(&server, "byok", body);
    assert_eq!(
        again.error(),
        "1 error occurred:\n\t* the import path cannot be used with an existing key; use \
         import-version to rotate an existing imported key\n\n"
    );
    let old = post_ok(
        &server,
        "/v1/transit/encrypt/byok",
        json!({ "plaintext": b64(b"v1") }),
    )
    .data_str("ciphertext");

    let answer = server.post(
        "/v1/transit/keys/byok/import_version",
        ROOT,
        &json!({ "ciphertext": wrap(&public, &second, Hash::Sha256) }).to_string(),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    server.restart();

    let new = post_ok(
        &server,
        "/v1/transit/encrypt/byok",
        json!({ "plaintext": b64(b"v2") }),
    )
    .data_str("ciphertext");
    assert!(new.starts_with("vault:v2:"), "{new}");
    let sealed = payload(&new);
    let (nonce, body) = sealed.split_at(12);
    let opened = Aes256Gcm::new_from_slice(&second)
        .unwrap()
        .decrypt(Nonce::from_slice(nonce), body);
    assert_eq!(opened.unwrap(), b"v2");
    let decrypted = post_ok(
        &server,
        "/v1/transit/decrypt/byok",
        json!({ "ciphertext": old }),
    );
    assert_eq!(unb64(&decrypted.data_str("plaintext")), b"v1");

    let refused = server.post("/v1/transit/keys/byok/rotate", ROOT, "{}");
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.error(),
        "1 error occurred:\n\t* imported key byok does not allow rotation within Vault\n\n"
    );
    let read = server.get("/v1/transit/keys/byok", ROOT).json();
    assert_eq!(read["data"]["latest_version"], 2);

    let body = json!({ "ciphertext": wrap(&public, &first, Hash::Sha256), "allow_rotation": true });
    assert_eq!(import(&server, "rotating", body).status, 204);
    let rotated = post_ok(&server, "/v1/transit/keys/rotating/rotate", json!({})).json();
    assert_eq!(rotated["data"]["latest_version"], 2);
    // OpenBao clears imported_key once Vault generates a version itself.
    assert_eq!(rotated["data"]["imported_key"], false);
    let after = server.post(
        "/v1/transit/keys/rotating/import_version",
        ROOT,
        &json!({ "ciphertext": wrap(&public, &second, Hash::Sha256) }).to_string(),
    );
    assert_eq!(
        after.error(),
        "1 error occurred:\n\t* the import_version endpoint can only be used with an imported \
         key\n\n"
    );
}

#[test]
fn broken_wraps_answer_openbaos_errors_and_store_nothing() {
    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let raw = random(32);
    let cases = [
        (
            json!({ "ciphertext": wrap(&public, &raw, Hash::Sha512), "hash_function": "SHA256" }),
            "crypto/rsa: decryption error",
        ),
        (
            json!({ "ciphertext": wrap(&public, &raw, Hash::Sha256), "hash_function": "SHA224" }),
            "crypto/rsa: decryption error",
        ),
        (
            json!({ "ciphertext": wrap(&public, &random(16), Hash::Sha256) }),
            "error importing key: invalid key size 16 bytes for key type aes256-gcm96",
        ),
    ];
    for (body, message) in cases {
        let answer = import(&server, "broken", body);
        assert_eq!(answer.status, 500, "{}", answer.body);
        assert_eq!(
            answer.error(),
            format!("1 error occurred:\n\t* {message}\n\n")
        );
    }

    // A valid OAEP part around a KWP part that fails its integrity check.
    let mut blob = public
        .encrypt(&mut OsRng, Oaep::new::<Sha256>(), &random(32))
        .unwrap();
    blob.extend(random(40));
    let answer = import(&server, "broken", json!({ "ciphertext": b64(&blob) }));
    assert_eq!(
        answer.error(),
        "1 error occurred:\n\t* kwp: unwrap failed integrity check\n\n"
    );
    assert_eq!(server.get("/v1/transit/keys/broken", ROOT).status, 404);
}

#[test]
fn an_admin_token_reaches_import_for_its_own_key_only() {
    let server = Server::start_dev();
    let admin = server.token("manage_keys");
    let own = server.post(
        "/v1/transit/keys/vault-sign/import",
        &admin,
        r#"{"ciphertext":""}"#,
    );
    assert_eq!(own.status, 500, "the key exists: {}", own.body);
    let other = server.post(
        "/v1/transit/keys/app-data/import_version",
        &admin,
        r#"{"ciphertext":""}"#,
    );
    assert_eq!(other.status, 403, "{}", other.body);
    let new = server.post("/v1/transit/keys/fresh/import", &admin, "{}");
    assert_eq!(new.status, 403, "{}", new.body);
}

#[test]
fn derived_imported_keys_use_the_counter_kdf_across_restarts() {
    let mut server = Server::start_dev();
    let public = wrapping_key(&server);
    let raw = random(32);
    let body = json!({ "ciphertext": wrap(&public, &raw, Hash::Sha256), "derived": true });
    assert_eq!(import(&server, "derived", body).status, 204);
    server.restart();

    let read = server.get("/v1/transit/keys/derived", ROOT).json();
    assert_eq!(read["data"]["kdf"], "hmac-sha256-counter");
    assert_eq!(read["data"]["kdf_mode"], "hmac-sha256-counter");
    let sealed = post_ok(
        &server,
        "/v1/transit/encrypt/derived",
        json!({ "plaintext": b64(b"tenant data"), "context": b64(b"tenant-7") }),
    )
    .data_str("ciphertext");

    // NIST SP 800-108 counter mode, one block: HMAC(key, BE32(0) || context || BE32(256)).
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&raw).unwrap();
    mac.update(&0u32.to_be_bytes());
    mac.update(b"tenant-7");
    mac.update(&256u32.to_be_bytes());
    let derived = mac.finalize().into_bytes();
    let sealed = payload(&sealed);
    let (nonce, body) = sealed.split_at(12);
    let opened = Aes256Gcm::new_from_slice(&derived)
        .unwrap()
        .decrypt(Nonce::from_slice(nonce), body);
    assert_eq!(opened.unwrap(), b"tenant data");
}

#[test]
fn import_version_refuses_a_soft_deleted_key_and_adds_nothing() {
    let server = Server::start_dev();
    let public = wrapping_key(&server);
    let body =
        json!({"type": "aes256-gcm96", "ciphertext": wrap(&public, &random(32), Hash::Sha256)});
    assert_eq!(import(&server, "gone", body).status, 204);
    let deleted = server.request(
        "DELETE",
        "/v1/transit/keys/gone/soft-delete",
        Some(ROOT),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);

    let path = "/v1/transit/keys/gone/import_version";
    let with_material = json!({"ciphertext": wrap(&public, &random(32), Hash::Sha256)});
    let answer = server.post(path, ROOT, &with_material.to_string());
    assert_eq!(
        answer.error(),
        "1 error occurred:\n\t* refusing to use soft-deleted key\n\n"
    );
    // Without material, OpenBao 2.7.2 first finds that the type has no public key.
    let answer = server.post(path, ROOT, "{}");
    assert_eq!(
        answer.error(),
        "1 error occurred:\n\t* provided type does not support public_key import\n\n"
    );
    let key = server.get("/v1/transit/keys/gone", ROOT);
    assert_eq!(key.json()["data"]["latest_version"], 1, "{}", key.body);
}
