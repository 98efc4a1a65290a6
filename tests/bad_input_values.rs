//! Bad values, end to end: keys out of reach, malformed or tampered ciphertexts,
//! versions out of range or retired, bad hash algorithms and malformed signatures
//! each get OpenBao's status and exact message, and nothing stored changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use common::bad_input::*;
use common::{b64, unb64};
use serde_json::{Value, json};

#[test]
fn keys_a_token_holds_no_policy_for_are_denied_whatever_their_type() {
    let mut fixture = Fixture::start();
    let denied = multierror("permission denied");
    let plaintext = json!({ "plaintext": SECRET });
    let ciphertext = json!({ "ciphertext": fixture.ciphertext });
    let input = json!({ "input": SECRET });
    let signed = json!({ "input": SECRET, "signature": fixture.signature });
    let mut refusals = Vec::new();
    let mut deny = |endpoint, path: &str, body: &Value| {
        refusals.push(refused(endpoint, path, body, 403, &denied));
    };

    // A key that does not exist.
    deny("encryptor", "/v1/transit/encrypt/nokey", &plaintext);
    deny("app_encryption", "/v1/transit/encrypt/nokey", &plaintext);
    deny("decryptor", "/v1/transit/decrypt/nokey", &ciphertext);
    deny("rewrapper", "/v1/transit/rewrap/nokey", &ciphertext);
    deny("signer", "/v1/transit/sign/nokey/sha2-256", &input);
    deny("verifier", "/v1/transit/verify/nokey", &signed);
    deny("data_admin", "/v1/transit/keys/nokey/rotate", &json!({}));
    deny("manage_keys", "/v1/transit/keys/nokey/config", &json!({}));

    // The key of the other type: the operation would not fit it, but no token here
    // holds a policy that could reach it.
    deny("manage_keys", "/v1/transit/encrypt/vault-sign", &plaintext);
    deny("manage_keys", "/v1/transit/decrypt/vault-sign", &ciphertext);
    deny("encryptor", "/v1/transit/encrypt/vault-sign", &plaintext);
    deny("decryptor", "/v1/transit/decrypt/vault-sign", &ciphertext);
    deny("app_encryption", "/v1/transit/sign/app-data", &input);
    deny("signer", "/v1/transit/sign/app-data/sha2-256", &input);
    deny("verifier", "/v1/transit/verify/app-data", &signed);
    deny(
        "data_admin",
        "/v1/transit/keys/vault-sign/rotate",
        &json!({}),
    );
    fixture.assert_refusals(&refusals);
}

#[test]
fn malformed_or_tampered_ciphertexts_are_refused_with_openbaos_messages() {
    let mut fixture = Fixture::start();
    let body = |ciphertext: &str| json!({ "ciphertext": ciphertext });
    let good = payload(&fixture.ciphertext).to_owned();
    let mut bytes = unb64(&good);
    assert_eq!(bytes.len(), 12 + 7 + 16, "nonce, SECRET, tag");

    let mut tampered = Vec::new();
    for index in [0, 12, bytes.len() - 1] {
        bytes[index] ^= 0x01;
        tampered.push(format!("vault:v1:{}", b64(&bytes)));
        bytes[index] ^= 0x01;
    }
    let truncated = format!("vault:v1:{}", b64(&bytes[..9]));
    let unpadded = format!("vault:v1:{}", good.trim_end_matches('='));
    assert_ne!(unpadded, fixture.ciphertext, "the payload ends in '='");

    let mut refusals = Vec::new();
    for ciphertext in &tampered {
        for (endpoint, path) in [("decryptor", DECRYPT), ("rewrapper", REWRAP)] {
            refusals.push(bad(
                endpoint,
                path,
                body(ciphertext),
                "chacha20poly1305: message authentication failed",
            ));
        }
    }
    for (ciphertext, message) in [
        (truncated.as_str(), "invalid ciphertext length"),
        ("vault:v1:AAAA", "invalid ciphertext length"),
        ("vault:v1:", "invalid ciphertext length"),
        (good.as_str(), "invalid ciphertext: no prefix"),
        ("vault:v1", "invalid ciphertext: wrong number of fields"),
        (
            &format!("vault:vx:{good}"),
            "invalid ciphertext: version number could not be decoded",
        ),
        (
            &format!("vault:v99:{good}"),
            "invalid ciphertext: version is too new",
        ),
        (
            "vault:v1:!!!!",
            "invalid ciphertext: could not decode base64",
        ),
        (
            unpadded.as_str(),
            "invalid ciphertext: could not decode base64",
        ),
    ] {
        refusals.push(bad("decryptor", DECRYPT, body(ciphertext), message));
    }
    refusals.push(bad(
        "decryptor",
        DECRYPT,
        json!({ "ciphertext": 123 }),
        "invalid ciphertext: no prefix",
    ));
    refusals.push(bad(
        "rewrapper",
        REWRAP,
        body("vault:v1:AAAA"),
        "invalid ciphertext length",
    ));
    fixture.assert_refusals(&refusals);
}

#[test]
fn decrypt_reads_a_version_zero_ciphertext_as_version_one() {
    let fixture = Fixture::start();
    let relabelled = format!("vault:v0:{}", payload(&fixture.ciphertext));

    assert_eq!(fixture.decrypt(&relabelled), SECRET);
    fixture.assert_unchanged("decrypting a v0 ciphertext");
}

#[test]
fn out_of_range_key_versions_are_400_on_encrypt_and_500_on_sign() {
    let mut fixture = Fixture::start();
    let higher = "requested version for encryption is higher than the latest key version";
    let not_int = "error converting input for field \"key_version\": '' cannot parse value as \
                   'int': strconv.ParseInt: invalid syntax";
    let ciphertext = fixture.ciphertext.clone();
    fixture.assert_refusals(&[
        bad(
            "encryptor",
            ENCRYPT,
            json!({ "plaintext": SECRET, "key_version": 99 }),
            higher,
        ),
        bad(
            "encryptor",
            ENCRYPT,
            json!({ "plaintext": SECRET, "key_version": 2 }),
            higher,
        ),
        bad(
            "encryptor",
            ENCRYPT,
            json!({ "plaintext": SECRET, "key_version": -1 }),
            "requested version for encryption is negative",
        ),
        bad(
            "encryptor",
            ENCRYPT,
            json!({ "plaintext": SECRET, "key_version": "x" }),
            not_int,
        ),
        bad(
            "rewrapper",
            REWRAP,
            json!({ "ciphertext": ciphertext, "key_version": 99 }),
            higher,
        ),
        // Vault reports sign's version errors as internal ones, wrapped.
        refused(
            "signer",
            SIGN,
            json!({ "input": SECRET, "key_version": 99 }),
            500,
            &multierror("requested version for signing is higher than the latest key version"),
        ),
        refused(
            "signer",
            SIGN,
            json!({ "input": SECRET, "key_version": -1 }),
            500,
            &multierror("requested version for signing is negative"),
        ),
        bad(
            "signer",
            SIGN,
            json!({ "input": SECRET, "key_version": "x" }),
            &format!("Field validation failed: {not_int}"),
        ),
        bad(
            "signer",
            SIGN,
            json!({ "input": SECRET, "key_version": 2.5 }),
            &format!("Field validation failed: {not_int}"),
        ),
    ]);
}

#[test]
fn bad_hash_algorithms_paths_and_methods_are_refused() {
    let mut fixture = Fixture::start();
    let input = json!({ "input": SECRET });
    let invalid = |name: &str| format!("invalid hash algorithm \"{name}\"");
    fixture.assert_refusals(&[
        bad(
            "signer",
            "/v1/transit/sign/vault-sign/sha2-999",
            &input,
            &invalid("sha2-999"),
        ),
        bad(
            "signer",
            "/v1/transit/sign/vault-sign/SHA2-256",
            &input,
            &invalid("SHA2-256"),
        ),
        bad(
            "signer",
            "/v1/transit/sign/vault-sign",
            json!({ "input": SECRET, "hash_algorithm": "sha2-999" }),
            &invalid("sha2-999"),
        ),
        bad(
            "signer",
            "/v1/transit/sign/vault-sign",
            json!({ "input": SECRET, "algorithm": "sha2-999" }),
            &invalid("sha2-999"),
        ),
        bad(
            "signer",
            "/v1/transit/sign/vault-sign/none",
            &input,
            "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
        ),
        bad(
            "signer",
            "/v1/transit/sign/vault-sign/",
            &input,
            "cannot write to a path ending in '/'",
        ),
        Refusal {
            method: "OPTIONS",
            ..bad(
                "signer",
                SIGN,
                &input,
                "cannot handle internal-only request operation",
            )
        },
        // curl's form content type on a PATCH: refused before the ACL is consulted.
        Refusal {
            method: "PATCH",
            ..refused(
                "signer",
                SIGN,
                &input,
                415,
                "PATCH requires Content-Type of application/merge-patch+json, provided \
                 application/x-www-form-urlencoded",
            )
        },
        bad(
            "verifier",
            "/v1/transit/verify/vault-sign/sha2-999",
            json!({ "input": SECRET, "signature": fixture.signature }),
            &invalid("sha2-999"),
        ),
    ]);
}

#[test]
fn malformed_signatures_are_refused_and_wrong_ones_verify_false() {
    let mut fixture = Fixture::start();
    let good = payload(&fixture.signature).to_owned();
    let body = |signature: &str| json!({ "input": SECRET, "signature": signature });
    let no_prefix = "invalid signature: no prefix";
    let invalid = "supplied signature is invalid";
    let not_base64 = "invalid base64 signature value";
    let cut = format!("vault:v1:{}", &good[..good.len() - 1]);

    let cases = [
        ("vault:v1:", invalid),
        ("vault:v1:AAAA", invalid),
        ("vault:v1:aGVsbG8gd29ybGQsIG5vdCBERVI=", invalid),
        ("vault:v1:!!!notb64", not_base64),
        (cut.as_str(), not_base64),
        (good.as_str(), no_prefix),
        (&format!("v1:{good}"), no_prefix),
        (&format!("VAULT:v1:{good}"), no_prefix),
        ("", no_prefix),
        ("vault:v1", "invalid signature: wrong number of fields"),
        (
            &format!("vault:vx:{good}"),
            "invalid signature: version number could not be decoded",
        ),
        (
            &format!("vault:v9:{good}"),
            "invalid signature: version is too new",
        ),
        (
            &format!("vault:v0:{good}"),
            "ciphertext or signature version is disallowed by policy (too old)",
        ),
    ];
    let refusals: Vec<Refusal> = cases
        .iter()
        .map(|(signature, message)| bad("verifier", VERIFY, body(signature), message))
        .collect();
    fixture.assert_refusals(&refusals);

    // A well-formed signature that does not match is an answer, not an error.
    assert!(!fixture.verifies("aGk=", &fixture.signature), "other input");
    assert!(!fixture.verifies("", &fixture.signature), "empty input");
    let other_hash = fixture.ok(
        "verifier",
        "/v1/transit/verify/vault-sign/sha2-512",
        &body(&fixture.signature),
    );
    assert_eq!(other_hash.json()["data"]["valid"], json!(false));
    // Go's Atoi reads these version numbers as 1.
    assert!(fixture.verifies(SECRET, &format!("vault:v01:{good}")));
    assert!(fixture.verifies(SECRET, &format!("vault:v+1:{good}")));
    fixture.assert_unchanged("verifying signatures that do not match");
}

#[test]
fn decrypt_rejects_version_below_min_decryption_version() {
    let fixture = Fixture::start();
    let old_ciphertext = fixture.ciphertext.clone();
    let old_signature = fixture.signature.clone();

    // Rotating is what the admin policies are for.
    let rotated = fixture.ok("data_admin", "/v1/transit/keys/app-data/rotate", &json!({}));
    assert_eq!(rotated.json()["data"]["latest_version"], json!(2));
    let rotated = fixture.ok(
        "manage_keys",
        "/v1/transit/keys/vault-sign/rotate",
        &json!({}),
    );
    assert_eq!(rotated.json()["data"]["latest_version"], json!(2));

    // A v1 payload labelled v2 is opened with the v2 key, and fails.
    let relabelled = format!("vault:v2:{}", payload(&old_ciphertext));
    let answer = fixture.post(
        "decryptor",
        DECRYPT,
        &json!({ "ciphertext": relabelled }).to_string(),
    );
    assert_eq!(
        (answer.status, errors(&answer)),
        (
            400,
            json!(["chacha20poly1305: message authentication failed"])
        )
    );
    // Until the minimum moves, v1 values still work.
    assert_eq!(fixture.decrypt(&old_ciphertext), SECRET);
    assert!(fixture.verifies(SECRET, &old_signature));

    for (admin, key) in [("data_admin", "app-data"), ("manage_keys", "vault-sign")] {
        let path = format!("/v1/transit/keys/{key}/config");
        let configured = fixture.ok(admin, &path, &json!({ "min_decryption_version": 2 }));
        assert_eq!(
            configured.json()["data"]["min_decryption_version"],
            json!(2)
        );
    }

    let too_old = json!(["ciphertext or signature version is disallowed by policy (too old)"]);
    // Version 0 is read as version 1 (Vault's compatibility rule), so it is retired too.
    let as_v0 = format!("vault:v0:{}", payload(&old_ciphertext));
    for _ in 0..2 {
        for ciphertext in [&old_ciphertext, &as_v0] {
            let decrypt = fixture.post(
                "decryptor",
                DECRYPT,
                &json!({ "ciphertext": ciphertext }).to_string(),
            );
            assert_eq!(
                (decrypt.status, errors(&decrypt)),
                (400, too_old.clone()),
                "{ciphertext}"
            );
        }
        let verify = fixture.post(
            "verifier",
            VERIFY,
            &json!({ "input": SECRET, "signature": old_signature }).to_string(),
        );
        assert_eq!((verify.status, errors(&verify)), (400, too_old.clone()));
    }

    // Version 2 values are made and opened as before, and the refusals moved nothing.
    let new_ciphertext = fixture.encrypt(SECRET);
    assert!(new_ciphertext.starts_with("vault:v2:"), "{new_ciphertext}");
    assert_eq!(fixture.decrypt(&new_ciphertext), SECRET);
    let new_signature = fixture.sign(SECRET);
    assert!(new_signature.starts_with("vault:v2:"), "{new_signature}");
    assert!(fixture.verifies(SECRET, &new_signature));
    for (admin, key) in [("data_admin", "app-data"), ("manage_keys", "vault-sign")] {
        assert_eq!(fixture.versions(admin, key), (json!(2), json!(2)), "{key}");
    }
}
