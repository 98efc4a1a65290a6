//! The combinations vault-kms serves through AWS-LC's C API, end to end over HTTP and
//! checked by independent code (RustCrypto): RSA signatures over SHA-1, SHA-224 and
//! the SHA-3 hashes with PSS and PKCS #1 v1.5, and over unhashed input; ECDSA over
//! SHA3-224; the `sha3-224` hash; HMACs over the SHA-3 hashes; and BYOK material
//! wrapped with RSA-OAEP SHA-224.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use common::{Answer, Server, b64, unb64};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rand_core::{OsRng, RngCore};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256};
use sha3::{Sha3_224, Sha3_256, Sha3_384, Sha3_512};

const ROOT: &str = "root";
const MESSAGE: &[u8] = b"signed through AWS-LC's C API";

/// The hashes aws-lc-rs cannot sign RSA with, by their Vault names.
const OTHER_HASHES: [&str; 6] = [
    "sha1", "sha2-224", "sha3-224", "sha3-256", "sha3-384", "sha3-512",
];

/// RustCrypto's digest of `data` with the Vault hash `hash`.
fn digest(hash: &str, data: &[u8]) -> Vec<u8> {
    match hash {
        "sha1" => Sha1::digest(data).to_vec(),
        "sha2-224" => Sha224::digest(data).to_vec(),
        "sha2-256" => Sha256::digest(data).to_vec(),
        "sha3-224" => Sha3_224::digest(data).to_vec(),
        "sha3-256" => Sha3_256::digest(data).to_vec(),
        "sha3-384" => Sha3_384::digest(data).to_vec(),
        "sha3-512" => Sha3_512::digest(data).to_vec(),
        other => panic!("no oracle for {other}"),
    }
}

/// RustCrypto's RSASSA-PSS with `hash` and exactly `salt` bytes of salt.
fn pss(hash: &str, salt: usize) -> Pss {
    match hash {
        "sha1" => Pss::new_with_salt::<Sha1>(salt),
        "sha2-224" => Pss::new_with_salt::<Sha224>(salt),
        "sha3-224" => Pss::new_with_salt::<Sha3_224>(salt),
        "sha3-256" => Pss::new_with_salt::<Sha3_256>(salt),
        "sha3-384" => Pss::new_with_salt::<Sha3_384>(salt),
        "sha3-512" => Pss::new_with_salt::<Sha3_512>(salt),
        other => panic!("no oracle for {other}"),
    }
}

/// RustCrypto's RSASSA-PKCS1-v1_5 with the DigestInfo of `hash`.
fn pkcs1v15(hash: &str) -> Pkcs1v15Sign {
    match hash {
        "sha1" => Pkcs1v15Sign::new::<Sha1>(),
        "sha2-224" => Pkcs1v15Sign::new::<Sha224>(),
        "sha3-224" => Pkcs1v15Sign::new::<Sha3_224>(),
        "sha3-256" => Pkcs1v15Sign::new::<Sha3_256>(),
        "sha3-384" => Pkcs1v15Sign::new::<Sha3_384>(),
        "sha3-512" => Pkcs1v15Sign::new::<Sha3_512>(),
        other => panic!("no oracle for {other}"),
    }
}

fn post_ok(server: &Server, path: &str, body: Value) -> Answer {
    let answer = server.post(path, ROOT, &body.to_string());
    assert_eq!(answer.status, 200, "{path} {body}: {}", answer.body);
    answer
}

/// The raw bytes of a `vault:v1:` value.
fn payload(value: &str) -> Vec<u8> {
    unb64(value.strip_prefix("vault:v1:").unwrap())
}

/// Creates `name` with `body` and reads its public key (version 1) from the key read.
fn create_rsa(server: &Server, name: &str, body: Value) -> RsaPublicKey {
    post_ok(server, &format!("/v1/transit/keys/{name}"), body);
    let read = server.get(&format!("/v1/transit/keys/{name}"), ROOT);
    let pem = read.json()["data"]["keys"]["1"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    RsaPublicKey::from_public_key_pem(&pem).unwrap()
}

/// What vault-kms's verify says of `signature` over `input` with `options`.
fn server_verifies(
    server: &Server,
    name: &str,
    input: &[u8],
    signature: &[u8],
    options: &Value,
) -> bool {
    let mut body =
        json!({"input": b64(input), "signature": format!("vault:v1:{}", b64(signature))});
    body.as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    let answer = post_ok(server, &format!("/v1/transit/verify/{name}"), body);
    answer.json()["data"]["valid"].as_bool().unwrap()
}

#[test]
fn rsa_signatures_over_the_other_hashes_verify_in_rustcrypto_for_every_key_size() {
    let server = Server::start_dev();
    for bits in [2048, 3072, 4096] {
        let name = format!("rsa-{bits}");
        let public = create_rsa(&server, &name, json!({"type": format!("rsa-{bits}")}));
        let modulus_len = public.size();
        for hash in OTHER_HASHES {
            let hash_len = digest(hash, b"").len();
            let max_salt = modulus_len - hash_len - 2;
            // (request options, RustCrypto's scheme with the salt Go would use)
            let cases = [
                (json!({}), Some(max_salt)),
                (json!({"salt_length": "auto"}), Some(max_salt)),
                (json!({"salt_length": "hash"}), Some(hash_len)),
                (json!({"salt_length": "20"}), Some(20)),
                (json!({"salt_length": "0"}), Some(max_salt)),
                (json!({"signature_algorithm": "pkcs1v15"}), None),
            ];
            for (options, salt) in cases {
                let mut body = json!({"input": b64(MESSAGE), "hash_algorithm": hash});
                body.as_object_mut()
                    .unwrap()
                    .extend(options.as_object().unwrap().clone());
                let signed = post_ok(&server, &format!("/v1/transit/sign/{name}"), body);
                let signature = payload(&signed.data_str("signature"));
                let what = format!("rsa-{bits} {hash} {options}");
                assert_eq!(signature.len(), modulus_len, "{what}");

                let check = |message: &[u8]| match salt {
                    Some(salt) => {
                        public.verify(pss(hash, salt), &digest(hash, message), &signature)
                    }
                    None => public.verify(pkcs1v15(hash), &digest(hash, message), &signature),
                };
                assert!(check(MESSAGE).is_ok(), "{what}");
                assert!(check(b"another message").is_err(), "{what}");

                let mut verify_options = options.clone();
                verify_options["hash_algorithm"] = json!(hash);
                assert!(
                    server_verifies(&server, &name, MESSAGE, &signature, &verify_options),
                    "{what}"
                );
                assert!(
                    !server_verifies(&server, &name, b"changed", &signature, &verify_options),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn prehashed_rsa_signatures_sign_the_given_digest_and_unhashed_pkcs1v15_pads_the_input() {
    let server = Server::start_dev();
    let public = create_rsa(&server, "prehashed", json!({"type": "rsa-2048"}));
    for hash in OTHER_HASHES {
        let hashed = digest(hash, MESSAGE);
        for (scheme, salt) in [("pss", Some(hash_salt(hash))), ("pkcs1v15", None)] {
            let body = json!({
                "input": b64(&hashed),
                "hash_algorithm": hash,
                "prehashed": true,
                "signature_algorithm": scheme,
                "salt_length": "hash",
            });
            let signed = post_ok(&server, "/v1/transit/sign/prehashed", body);
            let signature = payload(&signed.data_str("signature"));
            let verified = match salt {
                Some(salt) => public.verify(pss(hash, salt), &hashed, &signature),
                None => public.verify(pkcs1v15(hash), &hashed, &signature),
            };
            assert!(verified.is_ok(), "{hash} {scheme}");
        }
        // A digest of another length is refused as Go refuses it.
        let short = json!({"input": b64(&hashed[1..]), "hash_algorithm": hash, "prehashed": true});
        let refused = server.post("/v1/transit/sign/prehashed", ROOT, &short.to_string());
        assert_eq!(refused.status, 500, "{hash}");
        assert!(
            refused
                .body
                .contains("crypto/rsa: input must be hashed with given hash")
        );
    }

    // hash_algorithm=none: PKCS #1 v1.5 padding of the input itself, no DigestInfo.
    let unhashed = [0x5au8; 40];
    let none =
        json!({"input": b64(&unhashed), "prehashed": true, "signature_algorithm": "pkcs1v15"});
    let signed = post_ok(&server, "/v1/transit/sign/prehashed/none", none);
    let signature = payload(&signed.data_str("signature"));
    public
        .verify(Pkcs1v15Sign::new_unprefixed(), &unhashed, &signature)
        .unwrap();
    let options =
        json!({"hash_algorithm": "none", "prehashed": true, "signature_algorithm": "pkcs1v15"});
    assert!(server_verifies(
        &server,
        "prehashed",
        &unhashed,
        &signature,
        &options
    ));
    assert!(!server_verifies(
        &server,
        "prehashed",
        &unhashed[1..],
        &signature,
        &options
    ));

    // Longer than the key can pad (256 - 11 bytes): Go's error, as OpenBao answers it.
    let long =
        json!({"input": b64(&[1u8; 246]), "prehashed": true, "signature_algorithm": "pkcs1v15"});
    let refused = server.post("/v1/transit/sign/prehashed/none", ROOT, &long.to_string());
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("crypto/rsa: message too long for RSA key size")
    );
    // none needs both prehashed and pkcs1v15, as in OpenBao.
    for body in [
        json!({"input": b64(&unhashed), "prehashed": true}),
        json!({"input": b64(&unhashed), "signature_algorithm": "pkcs1v15"}),
    ] {
        let refused = server.post("/v1/transit/sign/prehashed/none", ROOT, &body.to_string());
        assert_eq!(refused.status, 400, "{body}");
        assert!(
            refused
                .body
                .contains("hash_algorithm=none requires both prehashed=true")
        );
    }
}

fn hash_salt(hash: &str) -> usize {
    digest(hash, b"").len()
}

#[test]
fn rsa_signatures_made_by_rustcrypto_over_the_other_hashes_verify_in_vault_kms() {
    let server = Server::start_dev();
    create_rsa(
        &server,
        "theirs",
        json!({"type": "rsa-2048", "exportable": true}),
    );
    let exported = server.get("/v1/transit/export/signing-key/theirs", ROOT);
    assert_eq!(exported.status, 200, "{}", exported.body);
    let pem = exported.json()["data"]["keys"]["1"]
        .as_str()
        .unwrap()
        .to_owned();
    let private = RsaPrivateKey::from_pkcs1_pem(&pem).unwrap();
    let modulus_len = private.size();

    for hash in OTHER_HASHES {
        let hashed = digest(hash, MESSAGE);
        let max_salt = modulus_len - hashed.len() - 2;
        for salt in [0, 7, hashed.len(), max_salt] {
            let signature = private
                .sign_with_rng(&mut OsRng, pss(hash, salt), &hashed)
                .unwrap();
            // Go's auto accepts any salt length; an explicit one only itself.
            let auto = json!({"hash_algorithm": hash});
            let exact = json!({"hash_algorithm": hash, "salt_length": salt.to_string()});
            let what = format!("{hash} salt {salt}");
            assert!(
                server_verifies(&server, "theirs", MESSAGE, &signature, &auto),
                "{what}"
            );
            assert!(
                !server_verifies(&server, "theirs", b"forged", &signature, &auto),
                "{what}"
            );
            if salt != 0 {
                // A salt_length of 0 is Vault's spelling of auto.
                assert!(
                    server_verifies(&server, "theirs", MESSAGE, &signature, &exact),
                    "{what}"
                );
                let off = json!({"hash_algorithm": hash, "salt_length": (salt - 1).to_string()});
                assert!(
                    !server_verifies(&server, "theirs", MESSAGE, &signature, &off),
                    "{what}"
                );
            }
        }
        let signature = private.sign(pkcs1v15(hash), &hashed).unwrap();
        let options = json!({"hash_algorithm": hash, "signature_algorithm": "pkcs1v15"});
        assert!(
            server_verifies(&server, "theirs", MESSAGE, &signature, &options),
            "{hash}"
        );
        assert!(
            !server_verifies(&server, "theirs", b"forged", &signature, &options),
            "{hash}"
        );
        let pss_options = json!({"hash_algorithm": hash});
        assert!(
            !server_verifies(&server, "theirs", MESSAGE, &signature, &pss_options),
            "{hash}"
        );
    }

    let unhashed = b"raw input, padded without a DigestInfo";
    let signature = private
        .sign(Pkcs1v15Sign::new_unprefixed(), unhashed)
        .unwrap();
    let options =
        json!({"hash_algorithm": "none", "prehashed": true, "signature_algorithm": "pkcs1v15"});
    assert!(server_verifies(
        &server, "theirs", unhashed, &signature, &options
    ));
    // The same bytes under a DigestInfo are another signature.
    let sha256 = Sha256::digest(unhashed).to_vec();
    let prefixed = private
        .sign(Pkcs1v15Sign::new::<Sha256>(), &sha256)
        .unwrap();
    assert!(!server_verifies(
        &server, "theirs", &sha256, &prefixed, &options
    ));
}

#[test]
fn ecdsa_signs_and_verifies_over_sha3_224() {
    let server = Server::start_dev();
    post_ok(
        &server,
        "/v1/transit/keys/ec",
        json!({"type": "ecdsa-p256"}),
    );
    let read = server.get("/v1/transit/keys/ec", ROOT);
    let pem = read.json()["data"]["keys"]["1"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();

    let signed = post_ok(
        &server,
        "/v1/transit/sign/ec/sha3-224",
        json!({"input": b64(MESSAGE)}),
    );
    let der = payload(&signed.data_str("signature"));
    let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
    // A 28-byte digest is an integer shorter than the order: left-padded to 32 bytes.
    let mut prehash = [0u8; 32];
    prehash[4..].copy_from_slice(&digest("sha3-224", MESSAGE));
    public.verify_prehash(&prehash, &signature).unwrap();
    let options = json!({"hash_algorithm": "sha3-224"});
    assert!(server_verifies(&server, "ec", MESSAGE, &der, &options));
    assert!(!server_verifies(&server, "ec", b"changed", &der, &options));
}

#[test]
fn the_sha3_224_hash_matches_rustcrypto_in_hex_and_base64() {
    let server = Server::start_dev();
    let expected = digest("sha3-224", MESSAGE);
    let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();

    let url = post_ok(
        &server,
        "/v1/transit/hash/sha3-224",
        json!({"input": b64(MESSAGE)}),
    );
    assert_eq!(url.data_str("sum"), hex);
    let body = json!({"input": b64(MESSAGE), "algorithm": "sha3-224", "format": "base64"});
    let answer = post_ok(&server, "/v1/transit/hash", body);
    assert_eq!(answer.data_str("sum"), b64(&expected));
}

/// RustCrypto's HMAC of `message` under `key` with the SHA-3 hash `hash`.
fn sha3_hmac(hash: &str, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn tag<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match hash {
        "sha3-224" => tag::<Hmac<Sha3_224>>(key, message),
        "sha3-256" => tag::<Hmac<Sha3_256>>(key, message),
        "sha3-384" => tag::<Hmac<Sha3_384>>(key, message),
        "sha3-512" => tag::<Hmac<Sha3_512>>(key, message),
        other => panic!("no oracle for {other}"),
    }
}

#[test]
fn sha3_hmacs_match_rustcrypto_and_rustcrypto_tags_verify() {
    let server = Server::start_dev();
    post_ok(
        &server,
        "/v1/transit/keys/mac",
        json!({"type": "hmac", "key_size": 48, "exportable": true}),
    );
    let exported = server.get("/v1/transit/export/hmac-key/mac", ROOT);
    let key = unb64(exported.json()["data"]["keys"]["1"].as_str().unwrap());

    for hash in ["sha3-224", "sha3-256", "sha3-384", "sha3-512"] {
        let expected = sha3_hmac(hash, &key, MESSAGE);
        let from_url = post_ok(
            &server,
            &format!("/v1/transit/hmac/mac/{hash}"),
            json!({"input": b64(MESSAGE)}),
        );
        assert_eq!(
            from_url.data_str("hmac"),
            format!("vault:v1:{}", b64(&expected)),
            "{hash}"
        );
        let from_body = post_ok(
            &server,
            "/v1/transit/hmac/mac",
            json!({"input": b64(MESSAGE), "algorithm": hash}),
        );
        assert_eq!(
            from_body.data_str("hmac"),
            from_url.data_str("hmac"),
            "{hash}"
        );

        let tag = format!("vault:v1:{}", b64(&expected));
        let verify = |path: &str, input: &[u8], hmac: &str| {
            let body = json!({"input": b64(input), "hmac": hmac});
            post_ok(&server, path, body).json()["data"]["valid"]
                .as_bool()
                .unwrap()
        };
        let path = format!("/v1/transit/verify/mac/{hash}");
        assert!(verify(&path, MESSAGE, &tag), "{hash}");
        assert!(!verify(&path, b"changed", &tag), "{hash}");
        assert!(
            !verify("/v1/transit/verify/mac", MESSAGE, &tag),
            "{hash} under sha2-256"
        );
        let mut forged = expected.clone();
        forged[0] ^= 1;
        assert!(
            !verify(&path, MESSAGE, &format!("vault:v1:{}", b64(&forged))),
            "{hash}"
        );
    }
}

/// `ciphertext` for import wrapped with RSA-OAEP SHA-224 (MGF1 SHA-224).
fn wrap_sha224(server: &Server, target: &[u8]) -> String {
    let answer = server.get("/v1/transit/wrapping_key", ROOT);
    let public = RsaPublicKey::from_public_key_pem(&answer.data_str("public_key")).unwrap();
    let mut ephemeral = [0u8; 32];
    OsRng.fill_bytes(&mut ephemeral);
    let mut blob = public
        .encrypt(&mut OsRng, Oaep::new::<Sha224>(), &ephemeral)
        .unwrap();
    let kek = aes_kw::KekAes256::new(ephemeral.as_slice().into());
    blob.extend(kek.wrap_with_padding_vec(target).unwrap());
    b64(&blob)
}

#[test]
fn keys_wrapped_with_oaep_sha224_import_and_work() {
    let server = Server::start_dev();
    let mut aes_key = [0u8; 32];
    OsRng.fill_bytes(&mut aes_key);
    let body = json!({"ciphertext": wrap_sha224(&server, &aes_key), "hash_function": "SHA224"});
    let imported = server.post("/v1/transit/keys/aes/import", ROOT, &body.to_string());
    assert_eq!(imported.status, 204, "{}", imported.body);

    let sealed = post_ok(
        &server,
        "/v1/transit/encrypt/aes",
        json!({"plaintext": b64(MESSAGE)}),
    );
    let raw = payload(&sealed.data_str("ciphertext"));
    let (nonce, ciphertext) = raw.split_at(12);
    let cipher = Aes256Gcm::new_from_slice(&aes_key).unwrap();
    let opened = cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .unwrap();
    assert_eq!(opened, MESSAGE);

    // An RSA key imported this way signs over SHA3-256 under its own public key.
    create_rsa(
        &server,
        "source",
        json!({"type": "rsa-2048", "exportable": true}),
    );
    let exported = server.get("/v1/transit/export/signing-key/source", ROOT);
    let pem = exported.json()["data"]["keys"]["1"]
        .as_str()
        .unwrap()
        .to_owned();
    let private = RsaPrivateKey::from_pkcs1_pem(&pem).unwrap();
    let pkcs8 = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&private).unwrap();
    let body = json!({
        "ciphertext": wrap_sha224(&server, pkcs8.as_bytes()),
        "hash_function": "sha224",
        "type": "rsa-2048",
    });
    let imported = server.post("/v1/transit/keys/rsa/import", ROOT, &body.to_string());
    assert_eq!(imported.status, 204, "{}", imported.body);
    let body = json!({"input": b64(MESSAGE), "signature_algorithm": "pkcs1v15"});
    let signed = post_ok(&server, "/v1/transit/sign/rsa/sha3-256", body);
    let signature = payload(&signed.data_str("signature"));
    private
        .to_public_key()
        .verify(
            pkcs1v15("sha3-256"),
            &digest("sha3-256", MESSAGE),
            &signature,
        )
        .unwrap();

    // Material wrapped with SHA-256 does not unwrap as SHA-224: OpenBao's error.
    let answer = server.get("/v1/transit/wrapping_key", ROOT);
    let public = RsaPublicKey::from_public_key_pem(&answer.data_str("public_key")).unwrap();
    let mut blob = public
        .encrypt(&mut OsRng, Oaep::new::<Sha256>(), &aes_key)
        .unwrap();
    blob.extend(
        aes_kw::KekAes256::new((&aes_key).into())
            .wrap_with_padding_vec(&aes_key)
            .unwrap(),
    );
    let body = json!({"ciphertext": b64(&blob), "hash_function": "SHA224"});
    let refused = server.post("/v1/transit/keys/wrong/import", ROOT, &body.to_string());
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(
        refused.body.contains("crypto/rsa: decryption error"),
        "{}",
        refused.body
    );
}
