//! `export/:type/:name` checked end to end by implementations that are not ours: the
//! RustCrypto crates parse every exported encoding, decrypt the server's ciphertexts
//! with the exported keys, verify its signatures with the exported public keys and
//! recompute its HMACs with the exported HMAC keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use chacha20poly1305::ChaCha20Poly1305;
use common::{Server, b64, unb64};
use hmac::{Hmac, Mac};
use pkcs8::der::Decode as _;
use pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use serde_json::Value;
use sha2::Sha256;

const ROOT: &str = "root";
const MESSAGE: &[u8] = b"exported keys must work elsewhere";

fn create(server: &Server, name: &str, body: &str) {
    let answer = server.post(&format!("/v1/transit/keys/{name}"), ROOT, body);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Version 1 of `name` exported as `kind` in `format`.
fn export(server: &Server, kind: &str, name: &str, format: &str) -> String {
    let answer = server.get(
        &format!("/v1/transit/export/{kind}/{name}?format={format}"),
        ROOT,
    );
    assert_eq!(answer.status, 200, "{kind} {format}: {}", answer.body);
    let json = answer.json();
    assert_eq!(json["data"]["name"], name);
    json["data"]["keys"]["1"].as_str().unwrap().to_owned()
}

/// The body of a PEM, decoded.
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let body = pem
        .strip_prefix(&format!("-----BEGIN {label}-----\n"))
        .unwrap_or_else(|| panic!("not a {label} PEM: {pem}"));
    let end = body.find("-----END").unwrap();
    unb64(&body[..end].replace('\n', ""))
}

/// The payload of a `vault:v1:` value.
fn payload(value: &str) -> Vec<u8> {
    unb64(value.strip_prefix("vault:v1:").unwrap())
}

fn read_public_key(server: &Server, name: &str) -> String {
    let answer = server.get(&format!("/v1/transit/keys/{name}"), ROOT);
    answer.json()["data"]["keys"]["1"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn post_data(server: &Server, path: &str, body: &str, field: &str) -> String {
    let answer = server.post(path, ROOT, body);
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.data_str(field)
}

#[test]
fn exported_aead_keys_decrypt_the_servers_ciphertexts() {
    let server = Server::start_dev();
    for key_type in ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"] {
        let name = format!("e-{key_type}");
        create(
            &server,
            &name,
            &format!(r#"{{"type":"{key_type}","exportable":true}}"#),
        );
        let ciphertext = post_data(
            &server,
            &format!("/v1/transit/encrypt/{name}"),
            &format!(r#"{{"plaintext":"{}"}}"#, b64(MESSAGE)),
            "ciphertext",
        );

        let key = unb64(&export(&server, "encryption-key", &name, "raw"));
        assert_eq!(export(&server, "encryption-key", &name, ""), b64(&key));
        let sealed = payload(&ciphertext);
        let (nonce, body) = sealed.split_at(12);
        let nonce = Nonce::from_slice(nonce);
        let plaintext = match key_type {
            "aes128-gcm96" => Aes128Gcm::new_from_slice(&key)
                .unwrap()
                .decrypt(nonce, body),
            "aes256-gcm96" => Aes256Gcm::new_from_slice(&key)
                .unwrap()
                .decrypt(nonce, body),
            _ => ChaCha20Poly1305::new_from_slice(&key)
                .unwrap()
                .decrypt(nonce, body),
        };
        assert_eq!(plaintext.unwrap(), MESSAGE, "{key_type}");
    }
}

/// Checks one curve's exports with its RustCrypto crate: the three private encodings
/// hold one key, whose public half is the exported and the read public key, and
/// which verifies the server's signature.
macro_rules! check_ecdsa {
    ($server:expr, $curve:ident, $key_type:literal, $hash:literal, $oid:literal) => {{
        use $curve::ecdsa::signature::Verifier as _;
        let server = $server;
        let name = concat!("e-", $key_type);
        create(
            server,
            name,
            concat!(r#"{"type":""#, $key_type, r#"","exportable":true}"#),
        );
        let signature = post_data(
            server,
            &format!("/v1/transit/sign/{name}/{}", $hash),
            &format!(r#"{{"input":"{}"}}"#, b64(MESSAGE)),
            "signature",
        );

        let sec1_pem = export(server, "signing-key", name, "");
        assert!(!sec1_pem.ends_with('\n'), "Vault trims ECDSA PEMs");
        let sec1_der = pem_der(&sec1_pem, "EC PRIVATE KEY");
        let sec1 = sec1::EcPrivateKey::from_der(&sec1_der).unwrap();
        let curve = sec1.parameters.and_then(|p| p.named_curve()).unwrap();
        assert_eq!(curve.to_string(), $oid);
        assert!(
            sec1.public_key.is_some(),
            "SEC 1 export carries the public key"
        );

        let secret = $curve::SecretKey::from_sec1_der(&sec1_der).unwrap();
        let pkcs8_der = unb64(&export(server, "signing-key", name, "der"));
        let pkcs8_pem = export(server, "signing-key", name, "pem");
        assert!(!pkcs8_pem.ends_with('\n'));
        assert_eq!(
            $curve::SecretKey::from_pkcs8_der(&pkcs8_der).unwrap(),
            secret
        );
        assert_eq!(pem_der(&pkcs8_pem, "PRIVATE KEY"), pkcs8_der);

        let public = secret.public_key();
        let exported_pem = export(server, "public-key", name, "");
        assert!(!exported_pem.ends_with('\n'));
        let exported = $curve::PublicKey::from_public_key_pem(&exported_pem).unwrap();
        assert_eq!(exported, public);
        let der = unb64(&export(server, "public-key", name, "der"));
        assert_eq!(
            $curve::PublicKey::from_public_key_der(&der).unwrap(),
            public
        );
        let read = $curve::PublicKey::from_public_key_pem(&read_public_key(server, name));
        assert_eq!(read.unwrap(), public);

        let verifying = $curve::ecdsa::VerifyingKey::from_sec1_bytes(&public.to_sec1_bytes());
        let verifying = verifying.unwrap();
        let signature = $curve::ecdsa::Signature::from_der(&payload(&signature)).unwrap();
        assert!(verifying.verify(MESSAGE, &signature).is_ok());
        assert!(verifying.verify(b"another message", &signature).is_err());
    }};
}

#[test]
fn exported_ecdsa_keys_verify_the_servers_signatures() {
    let server = Server::start_dev();
    check_ecdsa!(
        &server,
        p256,
        "ecdsa-p256",
        "sha2-256",
        "1.2.840.10045.3.1.7"
    );
    check_ecdsa!(&server, p384, "ecdsa-p384", "sha2-384", "1.3.132.0.34");
    check_ecdsa!(&server, p521, "ecdsa-p521", "sha2-512", "1.3.132.0.35");
}

#[test]
fn exported_ed25519_keys_verify_the_servers_signatures() {
    use ed25519_dalek::{Signature, SigningKey, Verifier as _, VerifyingKey};

    let server = Server::start_dev();
    create(&server, "e-ed", r#"{"type":"ed25519","exportable":true}"#);
    let signature = post_data(
        &server,
        "/v1/transit/sign/e-ed",
        &format!(r#"{{"input":"{}"}}"#, b64(MESSAGE)),
        "signature",
    );

    // seed || public: from_keypair_bytes refuses a public half that does not match.
    let pair: [u8; 64] = unb64(&export(&server, "signing-key", "e-ed", ""))
        .try_into()
        .unwrap();
    let signing = SigningKey::from_keypair_bytes(&pair).unwrap();
    assert_eq!(export(&server, "signing-key", "e-ed", "raw"), b64(&pair));
    let der = unb64(&export(&server, "signing-key", "e-ed", "der"));
    assert_eq!(der.len(), 48, "RFC 8410 PKCS#8 holds the seed only");
    assert_eq!(SigningKey::from_pkcs8_der(&der).unwrap(), signing);
    let pem = export(&server, "signing-key", "e-ed", "pem");
    assert!(!pem.ends_with('\n'));
    assert_eq!(SigningKey::from_pkcs8_pem(&pem).unwrap(), signing);

    let public = signing.verifying_key();
    assert_eq!(
        export(&server, "public-key", "e-ed", ""),
        b64(public.as_bytes())
    );
    assert_eq!(read_public_key(&server, "e-ed"), b64(public.as_bytes()));
    let der = unb64(&export(&server, "public-key", "e-ed", "der"));
    assert_eq!(VerifyingKey::from_public_key_der(&der).unwrap(), public);
    let pem = export(&server, "public-key", "e-ed", "pem");
    assert_eq!(VerifyingKey::from_public_key_pem(&pem).unwrap(), public);

    let signature = Signature::from_slice(&payload(&signature)).unwrap();
    assert!(public.verify(MESSAGE, &signature).is_ok());
    assert!(public.verify(b"another message", &signature).is_err());
}

#[test]
fn exported_rsa_keys_decrypt_the_servers_ciphertexts() {
    use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

    let server = Server::start_dev();
    for bits in [2048, 3072, 4096] {
        let name = format!("e-rsa-{bits}");
        create(
            &server,
            &name,
            &format!(r#"{{"type":"rsa-{bits}","exportable":true}}"#),
        );
        let ciphertext = post_data(
            &server,
            &format!("/v1/transit/encrypt/{name}"),
            &format!(r#"{{"plaintext":"{}"}}"#, b64(MESSAGE)),
            "ciphertext",
        );

        let pkcs1_pem = export(&server, "encryption-key", &name, "");
        assert!(pkcs1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(pkcs1_pem.ends_with("-----END RSA PRIVATE KEY-----\n"));
        let private = RsaPrivateKey::from_pkcs1_pem(&pkcs1_pem).unwrap();
        assert_eq!(export(&server, "signing-key", &name, ""), pkcs1_pem);
        let der = unb64(&export(&server, "encryption-key", &name, "der"));
        assert_eq!(RsaPrivateKey::from_pkcs8_der(&der).unwrap(), private);
        let pem = export(&server, "signing-key", &name, "pem");
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert_eq!(RsaPrivateKey::from_pkcs8_pem(&pem).unwrap(), private);

        let public = private.to_public_key();
        let exported = export(&server, "public-key", &name, "");
        assert!(
            exported.ends_with('\n'),
            "Vault keeps the newline on RSA PEMs"
        );
        assert_eq!(exported, read_public_key(&server, &name));
        assert_eq!(
            RsaPublicKey::from_public_key_pem(&exported).unwrap(),
            public
        );
        let der = unb64(&export(&server, "public-key", &name, "der"));
        assert_eq!(RsaPublicKey::from_public_key_der(&der).unwrap(), public);

        let plaintext = private
            .decrypt(Oaep::new::<Sha256>(), &payload(&ciphertext))
            .unwrap();
        assert_eq!(plaintext, MESSAGE, "rsa-{bits}");
    }
}

#[test]
fn exported_hmac_keys_reproduce_the_servers_hmacs() {
    let server = Server::start_dev();
    create(
        &server,
        "e-mac",
        r#"{"type":"hmac","key_size":48,"exportable":true}"#,
    );
    create(
        &server,
        "e-aes",
        r#"{"type":"aes256-gcm96","exportable":true}"#,
    );
    let rotated = server.post("/v1/transit/keys/e-aes/rotate", ROOT, "");
    assert_eq!(rotated.status, 200);

    let answer = server.get("/v1/transit/export/hmac-key/e-mac", ROOT);
    let key = unb64(answer.json()["data"]["keys"]["1"].as_str().unwrap());
    assert_eq!(key.len(), 48, "an hmac key exports the key itself");
    let versions = server.get("/v1/transit/export/hmac-key/e-aes?format=raw", ROOT);
    let versions: Value = versions.json()["data"]["keys"].clone();
    assert_eq!(versions.as_object().unwrap().len(), 2);

    let cases = [
        ("e-mac", 1, key),
        ("e-aes", 1, unb64(versions["1"].as_str().unwrap())),
        ("e-aes", 2, unb64(versions["2"].as_str().unwrap())),
    ];
    for (name, version, key) in cases {
        let tag = post_data(
            &server,
            &format!("/v1/transit/hmac/{name}"),
            &format!(r#"{{"input":"{}","key_version":{version}}}"#, b64(MESSAGE)),
            "hmac",
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(MESSAGE);
        let expected = mac.finalize().into_bytes();
        assert_eq!(
            tag,
            format!("vault:v{version}:{}", b64(&expected)),
            "{name}"
        );
    }
}

#[test]
fn private_material_leaves_only_exportable_keys_and_only_for_root() {
    let server = Server::start_dev();
    // `vault-sign` is the configured endpoints' key, created without `exportable`.
    create(&server, "e-open", r#"{"type":"ed25519","exportable":true}"#);

    let refused = server.get("/v1/transit/export/signing-key/vault-sign", ROOT);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error(), "private key material is not exportable");
    let public = server.get("/v1/transit/export/public-key/vault-sign", ROOT);
    assert_eq!(public.status, 200, "public keys need no exportable flag");

    // The service's admin token manages the key but may not export it.
    let admin = server.token("manage_keys");
    let denied = server.get("/v1/transit/export/public-key/vault-sign", &admin);
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("permission denied"), "{}", denied.body);

    // Exported material never reaches the log.
    let pair = export(&server, "signing-key", "e-open", "");
    let der = export(&server, "signing-key", "e-open", "der");
    let log = server.log();
    assert!(log.contains("exported key"), "the export is logged");
    assert!(!log.contains(&pair) && !log.contains(&der));
}
