//! Project Wycheproof's signature vectors through the code `verify` runs.
//!
//! Each vector gives a public key, a message, a signature and a verdict. The checks
//! are the steps the transit `verify` endpoint takes after decoding a request: the
//! DER shape check Vault applies to ASN.1 ECDSA signatures, then the hash of the
//! message and the verification of the digest. "valid" vectors must verify and
//! "invalid" ones must not; "acceptable" ones (legacy encodings) may go either way.
//! HMAC vectors go through the code `hmac` and HMAC verification run.
//! The data and its source are in `tests/data/wycheproof/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

use std::path::Path;

use serde_json::Value;
use vault_kms::crypto::ecdsa::{Curve, EcdsaPublicKey, Marshaling, check_asn1_shape};
use vault_kms::crypto::ed25519;
use vault_kms::crypto::hash::HashAlgorithm;
use vault_kms::crypto::hmac;
use vault_kms::crypto::rsa_signing::{self, RsaScheme, SaltLength};

fn load(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wycheproof")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("missing {name}"))
}

fn hash_of(group: &Value) -> HashAlgorithm {
    match text(group, "sha") {
        "SHA-1" => HashAlgorithm::Sha1,
        "SHA-224" => HashAlgorithm::Sha2_224,
        "SHA-256" => HashAlgorithm::Sha2_256,
        "SHA-384" => HashAlgorithm::Sha2_384,
        "SHA-512" => HashAlgorithm::Sha2_512,
        "SHA3-224" => HashAlgorithm::Sha3_224,
        "SHA3-256" => HashAlgorithm::Sha3_256,
        "SHA3-384" => HashAlgorithm::Sha3_384,
        "SHA3-512" => HashAlgorithm::Sha3_512,
        other => panic!("no vectors expected for {other}"),
    }
}

/// Runs every test of `file` through `verdict(group, message, signature)` and checks
/// it against the expected result; returns how many vectors were judged.
fn run(file: &str, verdict: impl Fn(&Value, &[u8], &[u8]) -> bool) -> usize {
    let data = load(file);
    let mut judged = 0;
    let mut wrong = Vec::new();
    for group in data["testGroups"].as_array().unwrap() {
        for test in group["tests"].as_array().unwrap() {
            let expected = match text(test, "result") {
                "valid" => true,
                "invalid" => false,
                _ => continue,
            };
            let got = verdict(group, &hex(text(test, "msg")), &hex(text(test, "sig")));
            if got != expected {
                wrong.push(format!("tcId {} ({})", test["tcId"], text(test, "comment")));
            }
            judged += 1;
        }
    }
    assert!(wrong.is_empty(), "{file}: wrong verdicts for {wrong:?}");
    assert!(judged > 50, "{file}: only {judged} vectors");
    judged
}

fn ecdsa(file: &str, curve: Curve, marshaling: Marshaling) {
    run(file, |group, message, signature| {
        let point = hex(text(&group["publicKey"], "uncompressed"));
        let Ok(key) = EcdsaPublicKey::from_point(curve, &point) else {
            return false;
        };
        if marshaling == Marshaling::Asn1 && check_asn1_shape(signature).is_err() {
            return false;
        }
        let digest = hash_of(group).digest(message).unwrap();
        key.verify_digest(digest.as_ref(), signature, marshaling)
    });
}

#[test]
fn ecdsa_p256_der_signatures() {
    ecdsa(
        "ecdsa_secp256r1_sha256_test.json",
        Curve::P256,
        Marshaling::Asn1,
    );
}

#[test]
fn ecdsa_p256_with_sha512_digests_cut_to_the_order() {
    ecdsa(
        "ecdsa_secp256r1_sha512_test.json",
        Curve::P256,
        Marshaling::Asn1,
    );
}

#[test]
fn ecdsa_p256_jws_signatures() {
    ecdsa(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Curve::P256,
        Marshaling::Jws,
    );
}

#[test]
fn ecdsa_p384_signatures() {
    ecdsa(
        "ecdsa_secp384r1_sha384_test.json",
        Curve::P384,
        Marshaling::Asn1,
    );
    ecdsa(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Curve::P384,
        Marshaling::Jws,
    );
}

#[test]
fn ecdsa_p521_signatures() {
    ecdsa(
        "ecdsa_secp521r1_sha512_test.json",
        Curve::P521,
        Marshaling::Asn1,
    );
    ecdsa(
        "ecdsa_secp521r1_sha512_p1363_test.json",
        Curve::P521,
        Marshaling::Jws,
    );
}

#[test]
fn ed25519_signatures() {
    run("ed25519_test.json", |group, message, signature| {
        let public = hex(text(&group["publicKey"], "pk"));
        ed25519::verify(&public, message, signature)
    });
}

fn rsa(file: &str, scheme: impl Fn(&Value) -> RsaScheme) {
    run(file, |group, message, signature| {
        let public = hex(text(group, "publicKeyDer"));
        let modulus_len = usize::try_from(group["keySize"].as_u64().unwrap()).unwrap() / 8;
        let hash = hash_of(group);
        let digest = hash.digest(message).unwrap();
        let scheme = scheme(group);
        let verdict = rsa_signing::verify(
            &public,
            modulus_len,
            Some(hash),
            scheme,
            digest.as_ref(),
            signature,
        );
        // A signature valid under its exact salt length is also valid under `auto`.
        if verdict && matches!(scheme, RsaScheme::Pss(_)) {
            let auto = RsaScheme::Pss(SaltLength::Auto);
            assert!(rsa_signing::verify(
                &public,
                modulus_len,
                Some(hash),
                auto,
                digest.as_ref(),
                signature
            ));
        }
        verdict
    });
}

fn pss(group: &Value) -> RsaScheme {
    assert_eq!(text(group, "mgf"), "MGF1");
    assert_eq!(
        text(group, "mgfSha"),
        text(group, "sha"),
        "Vault's MGF1 uses the same hash"
    );
    let salt = usize::try_from(group["sLen"].as_u64().unwrap()).unwrap();
    RsaScheme::Pss(SaltLength::Bytes(salt))
}

#[test]
fn rsa_pss_signatures() {
    rsa("rsa_pss_2048_sha256_mgf1_32_test.json", pss);
    rsa("rsa_pss_2048_sha256_mgf1_0_test.json", pss);
    rsa("rsa_pss_3072_sha256_mgf1_32_test.json", pss);
    rsa("rsa_pss_4096_sha512_mgf1_64_test.json", pss);
}

#[test]
fn rsa_pss_signatures_over_sha1_through_aws_lc_s_c_api() {
    rsa("rsa_pss_2048_sha1_mgf1_20_test.json", pss);
}

#[test]
fn rsa_pkcs1v15_signatures() {
    let pkcs1 = |_: &Value| RsaScheme::Pkcs1v15;
    rsa("rsa_signature_2048_sha256_test.json", pkcs1);
    rsa("rsa_signature_3072_sha384_test.json", pkcs1);
    rsa("rsa_signature_4096_sha512_test.json", pkcs1);
}

#[test]
fn rsa_pkcs1v15_signatures_over_sha224_and_sha3_through_aws_lc_s_c_api() {
    let pkcs1 = |_: &Value| RsaScheme::Pkcs1v15;
    rsa("rsa_signature_2048_sha224_test.json", pkcs1);
    rsa("rsa_signature_2048_sha3_224_test.json", pkcs1);
    rsa("rsa_signature_3072_sha3_256_test.json", pkcs1);
    rsa("rsa_signature_2048_sha3_384_test.json", pkcs1);
    rsa("rsa_signature_3072_sha3_512_test.json", pkcs1);
}

/// HMAC vectors whose tag has the hash's full length (Vault never truncates): valid
/// tags must verify, invalid ones (changed tags) must not.
fn hmac_full_tags(file: &str, hash: HashAlgorithm) {
    let data = load(file);
    let mut judged = 0;
    let mut wrong = Vec::new();
    for group in data["testGroups"].as_array().unwrap() {
        if group["tagSize"].as_u64() != Some(hash.output_len() as u64 * 8) {
            continue;
        }
        for test in group["tests"].as_array().unwrap() {
            let expected = match text(test, "result") {
                "valid" => true,
                "invalid" => false,
                _ => continue,
            };
            let (key, message, tag) = (
                hex(text(test, "key")),
                hex(text(test, "msg")),
                hex(text(test, "tag")),
            );
            if hmac::verify(hash, &key, &message, &tag).unwrap() != expected {
                wrong.push(format!("tcId {} ({})", test["tcId"], text(test, "comment")));
            }
            if expected {
                assert_eq!(hmac::sign(hash, &key, &message).unwrap(), tag);
            }
            judged += 1;
        }
    }
    assert!(wrong.is_empty(), "{file}: wrong verdicts for {wrong:?}");
    assert!(judged > 50, "{file}: only {judged} vectors");
}

#[test]
fn hmac_sha3_tags_through_aws_lc_s_c_api() {
    hmac_full_tags("hmac_sha3_224_test.json", HashAlgorithm::Sha3_224);
    hmac_full_tags("hmac_sha3_256_test.json", HashAlgorithm::Sha3_256);
    hmac_full_tags("hmac_sha3_384_test.json", HashAlgorithm::Sha3_384);
    hmac_full_tags("hmac_sha3_512_test.json", HashAlgorithm::Sha3_512);
}
