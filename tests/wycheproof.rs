//! Project Wycheproof's signature vectors, through the code `verify` runs and through
//! the server over HTTP.
//!
//! Each vector gives a public key, a message, a signature and a verdict. The first
//! half checks the steps the transit `verify` endpoint takes after decoding a request:
//! the DER shape check Vault applies to ASN.1 ECDSA signatures, then the hash of the
//! message and the verification of the digest. The second half (`http_*`) imports
//! every test group's public key into a running server through `keys/:name/import`
//! with `public_key` alone, and sends all of the group's vectors to `verify` as
//! `batch_input` (a few hundred per request, under OpenBao's limit of 1,000 strings
//! per body). Every vector of every file is sent; nothing is subsampled, and the whole
//! HTTP run takes a few seconds. HMAC vectors go through the code `hmac` and HMAC
//! verification run. "valid" vectors must verify and "invalid" ones must
//! not (an invalid one may also come back as a batch item error, as a malformed DER
//! signature does in Vault); "acceptable" ones (legacy encodings) may go either way.
//! The data and its source are in `tests/data/wycheproof/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Server, b64};
use serde_json::{Value, json};
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

/// How the signatures of a file travel to `verify`: the key type to import, the
/// verify path's hash and the request options.
struct HttpCase {
    key_type: &'static str,
    hash: Option<&'static str>,
    options: Value,
    /// `marshaling_algorithm=jws` signatures are base64url without padding.
    jws: bool,
    /// The verdict Vault's semantics give a vector; Wycheproof's unless said otherwise.
    expects_valid: fn(&Value) -> bool,
}

fn wycheproof_verdict(test: &Value) -> bool {
    text(test, "result") == "valid"
}

impl HttpCase {
    fn ecdsa(key_type: &'static str, hash: &'static str, jws: bool) -> Self {
        let options = if jws {
            json!({ "marshaling_algorithm": "jws" })
        } else {
            json!({})
        };
        Self {
            key_type,
            hash: Some(hash),
            options,
            jws,
            expects_valid: wycheproof_verdict,
        }
    }
}

/// Items per verify request: two strings each (four with their member names), well
/// under the 1,000 strings OpenBao allows in a body.
const BATCH: usize = 200;

/// Imports each group's public key into `server` and checks every vector of `file`
/// through `verify`; `case` gives the key type and options of a group. Returns how
/// many vectors were judged.
fn run_http(server: &Server, file: &str, case: impl Fn(&Value) -> HttpCase) -> usize {
    let data = load(file);
    let stem = file.trim_end_matches(".json").replace('_', "-");
    let mut judged = 0;
    let mut wrong = Vec::new();
    for (index, group) in data["testGroups"].as_array().unwrap().iter().enumerate() {
        let case = case(group);
        let name = format!("{stem}-{index}");
        let body = json!({ "type": case.key_type, "public_key": text(group, "publicKeyPem") });
        let imported = server.post(
            &format!("/v1/transit/keys/{name}/import"),
            "root",
            &body.to_string(),
        );
        assert_eq!(imported.status, 204, "{name}: {}", imported.body);

        let path = match case.hash {
            Some(hash) => format!("/v1/transit/verify/{name}/{hash}"),
            None => format!("/v1/transit/verify/{name}"),
        };
        let tests: Vec<&Value> = group["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| text(t, "result") != "acceptable")
            .collect();
        for chunk in tests.chunks(BATCH) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|test| {
                    let signature = hex(text(test, "sig"));
                    let encoded = if case.jws {
                        URL_SAFE_NO_PAD.encode(&signature)
                    } else {
                        b64(&signature)
                    };
                    json!({
                        "input": b64(&hex(text(test, "msg"))),
                        "signature": format!("vault:v1:{encoded}"),
                    })
                })
                .collect();
            let mut body = case.options.clone();
            body["batch_input"] = Value::Array(items);
            let answer = server.post(&path, "root", &body.to_string());
            assert_eq!(answer.status, 200, "{name}: {}", answer.body);
            let results = answer.json()["data"]["batch_results"].clone();
            let results = results.as_array().unwrap();
            assert_eq!(results.len(), chunk.len(), "{name}");
            for (test, result) in chunk.iter().zip(results) {
                let verified = result["valid"] == true && result.get("error").is_none();
                if verified != (case.expects_valid)(test) {
                    wrong.push(format!(
                        "{name} tcId {} ({})",
                        test["tcId"],
                        text(test, "comment")
                    ));
                }
                judged += 1;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{file}: wrong verdicts over HTTP for {wrong:?}"
    );
    assert!(judged > 50, "{file}: only {judged} vectors");
    judged
}

#[test]
fn http_ecdsa_signatures_verify_with_imported_public_keys() {
    let server = Server::start_dev();
    let files = [
        (
            "ecdsa_secp256r1_sha256_test.json",
            "ecdsa-p256",
            "sha2-256",
            false,
        ),
        (
            "ecdsa_secp256r1_sha512_test.json",
            "ecdsa-p256",
            "sha2-512",
            false,
        ),
        (
            "ecdsa_secp256r1_sha256_p1363_test.json",
            "ecdsa-p256",
            "sha2-256",
            true,
        ),
        (
            "ecdsa_secp384r1_sha384_test.json",
            "ecdsa-p384",
            "sha2-384",
            false,
        ),
        (
            "ecdsa_secp384r1_sha384_p1363_test.json",
            "ecdsa-p384",
            "sha2-384",
            true,
        ),
        (
            "ecdsa_secp521r1_sha512_test.json",
            "ecdsa-p521",
            "sha2-512",
            false,
        ),
        (
            "ecdsa_secp521r1_sha512_p1363_test.json",
            "ecdsa-p521",
            "sha2-512",
            true,
        ),
    ];
    for (file, key_type, hash, jws) in files {
        run_http(&server, file, |_| HttpCase::ecdsa(key_type, hash, jws));
    }
}

#[test]
fn http_ed25519_signatures_verify_with_imported_public_keys() {
    let server = Server::start_dev();
    run_http(&server, "ed25519_test.json", |_| HttpCase {
        key_type: "ed25519",
        hash: None,
        options: json!({}),
        jws: false,
        expects_valid: wycheproof_verdict,
    });
}

/// The RSA key type and verify hash of a group.
fn rsa_case(group: &Value, options: Value) -> HttpCase {
    let key_type = match group["keySize"].as_u64().unwrap() {
        2048 => "rsa-2048",
        3072 => "rsa-3072",
        4096 => "rsa-4096",
        other => panic!("no vectors expected for {other}-bit keys"),
    };
    HttpCase {
        key_type,
        hash: Some(hash_of(group).as_str()),
        options,
        jws: false,
        expects_valid: wycheproof_verdict,
    }
}

/// Vault's `salt_length=0` means `auto` (any salt length, as Go's verifier recovers
/// it), and the API has no way to ask for exactly 0. So in the `sLen = 0` file the
/// vectors whose only change is another salt length ("s_len changed to N") are valid
/// signatures for `verify`, in OpenBao as here; every other verdict is Wycheproof's.
fn pss_salt_zero_verdict(test: &Value) -> bool {
    wycheproof_verdict(test) || text(test, "comment").starts_with("s_len changed to")
}

#[test]
fn http_rsa_signatures_verify_with_imported_public_keys() {
    let server = Server::start_dev();
    for file in [
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        "rsa_pss_2048_sha256_mgf1_0_test.json",
        "rsa_pss_3072_sha256_mgf1_32_test.json",
        "rsa_pss_4096_sha512_mgf1_64_test.json",
        "rsa_pss_2048_sha1_mgf1_20_test.json",
    ] {
        run_http(&server, file, |group| {
            assert_eq!(
                pss(group),
                RsaScheme::Pss(SaltLength::Bytes(salt_of(group)))
            );
            let options = json!({
                "signature_algorithm": "pss",
                "salt_length": salt_of(group).to_string(),
            });
            let mut case = rsa_case(group, options);
            if salt_of(group) == 0 {
                case.expects_valid = pss_salt_zero_verdict;
            }
            case
        });
    }
    for file in [
        "rsa_signature_2048_sha256_test.json",
        "rsa_signature_3072_sha384_test.json",
        "rsa_signature_4096_sha512_test.json",
        "rsa_signature_2048_sha224_test.json",
        "rsa_signature_2048_sha3_224_test.json",
        "rsa_signature_3072_sha3_256_test.json",
        "rsa_signature_2048_sha3_384_test.json",
        "rsa_signature_3072_sha3_512_test.json",
    ] {
        run_http(&server, file, |group| {
            rsa_case(group, json!({ "signature_algorithm": "pkcs1v15" }))
        });
    }
}

fn salt_of(group: &Value) -> usize {
    usize::try_from(group["sLen"].as_u64().unwrap()).unwrap()
}
