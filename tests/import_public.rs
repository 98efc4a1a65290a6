//! Public-key-only import, end to end: public keys made by RustCrypto (`p256`, `p384`,
//! `p521`, `ed25519-dalek`, `rsa`) are imported over HTTP without their private
//! halves, the same libraries sign, and the server must verify those signatures,
//! refuse to sign, export the key it was given and keep all of it across a restart.
//! A private half imported later through `import_version` completes its version.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use common::{Answer, Server, b64, unb64};
use rand_core::{OsRng, RngCore};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};

const ROOT: &str = "root";
const MESSAGE: &[u8] = b"signed outside the server";
const NO_PRIVATE_PART: &str =
    "1 error occurred:\n\t* requested version for signing does not contain a private part\n\n";

/// PEM armour of a `PUBLIC KEY` (RFC 7468): 64-column base64 lines.
fn pem(der: &[u8]) -> String {
    let body = b64(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

fn post(server: &Server, path: &str, body: Value) -> Answer {
    server.post(path, ROOT, &body.to_string())
}

fn import_public(server: &Server, name: &str, key_type: &str, public_der: &[u8]) {
    let body = json!({ "type": key_type, "public_key": pem(public_der) });
    let answer = post(server, &format!("/v1/transit/keys/{name}/import"), body);
    assert_eq!(answer.status, 204, "{key_type}: {}", answer.body);
}

/// `valid` of a verify request for `signature` (raw bytes) over `message`.
fn verifies(server: &Server, path: &str, version: u32, message: &[u8], signature: &[u8]) -> bool {
    let body = json!({
        "input": b64(message),
        "signature": format!("vault:v{version}:{}", b64(signature)),
    });
    let answer = post(server, &format!("/v1/transit/verify/{path}"), body);
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json()["data"]["valid"].as_bool().unwrap()
}

/// Everything a public-only key must do, checked on one server state.
struct Expect<'a> {
    name: &'a str,
    /// The verify path after `verify/`, with the hash the library signed with.
    verify_path: String,
    public_der: Vec<u8>,
    signature: Vec<u8>,
}

impl Expect<'_> {
    fn check(&self, server: &Server) {
        let name = self.name;
        assert!(verifies(
            server,
            &self.verify_path,
            1,
            MESSAGE,
            &self.signature
        ));
        assert!(!verifies(
            server,
            &self.verify_path,
            1,
            b"other message",
            &self.signature
        ));

        let refused = post(
            server,
            &format!("/v1/transit/sign/{name}"),
            json!({ "input": b64(MESSAGE) }),
        );
        assert_eq!(refused.status, 500, "{name}: {}", refused.body);
        assert_eq!(refused.error(), NO_PRIVATE_PART);

        let exported = server.get(
            &format!("/v1/transit/export/public-key/{name}/1?format=der"),
            ROOT,
        );
        assert_eq!(exported.status, 200, "{name}: {}", exported.body);
        let der = exported.json()["data"]["keys"]["1"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(unb64(&der), self.public_der, "{name}");

        let read = server.get(&format!("/v1/transit/keys/{name}"), ROOT).json();
        assert_eq!(read["data"]["imported_key"], true, "{name}");
        assert_eq!(read["data"]["latest_version"], 1, "{name}");
    }
}

#[test]
fn public_keys_imported_alone_verify_what_rustcrypto_signs_and_survive_a_restart() {
    use p256::ecdsa::signature::{RandomizedSigner as _, Signer as _};
    use p256::pkcs8::EncodePublicKey as _;

    let mut server = Server::start_dev();
    let mut expected = Vec::new();

    let p256_key = p256::ecdsa::SigningKey::random(&mut OsRng);
    let public = p256_key.verifying_key().to_public_key_der().unwrap();
    let signature: p256::ecdsa::Signature = p256_key.sign(MESSAGE);
    expected.push((
        "ecdsa-p256",
        Expect {
            name: "p256",
            verify_path: "p256/sha2-256".to_owned(),
            public_der: public.as_bytes().to_vec(),
            signature: signature.to_der().as_bytes().to_vec(),
        },
    ));

    let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
    let public = p384_key.verifying_key().to_public_key_der().unwrap();
    let signature: p384::ecdsa::Signature = p384_key.sign(MESSAGE);
    expected.push((
        "ecdsa-p384",
        Expect {
            name: "p384",
            verify_path: "p384/sha2-384".to_owned(),
            public_der: public.as_bytes().to_vec(),
            signature: signature.to_der().as_bytes().to_vec(),
        },
    ));

    let p521_key = p521::ecdsa::SigningKey::random(&mut OsRng);
    // The crate's `verifying` feature is off here; the public key comes from the scalar.
    let public = p521::SecretKey::from_bytes(&p521_key.to_bytes())
        .unwrap()
        .public_key()
        .to_public_key_der()
        .unwrap();
    let signature: p521::ecdsa::Signature = p521_key.sign(MESSAGE);
    expected.push((
        "ecdsa-p521",
        Expect {
            name: "p521",
            verify_path: "p521/sha2-512".to_owned(),
            public_der: public.as_bytes().to_vec(),
            signature: signature.to_der().as_bytes().to_vec(),
        },
    ));

    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let ed_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = ed_key.verifying_key().to_public_key_der().unwrap();
    expected.push((
        "ed25519",
        Expect {
            name: "ed",
            verify_path: "ed".to_owned(),
            public_der: public.as_bytes().to_vec(),
            signature: ed_key.sign(MESSAGE).to_bytes().to_vec(),
        },
    ));

    // Generated by aws-lc-rs for speed; the `rsa` crate signs and encodes.
    let generated = vault_kms::crypto::rsa::RsaKey::generate(2048).unwrap();
    let rsa_key = RsaPrivateKey::from_pkcs8_der(generated.pkcs8().expose()).unwrap();
    let public = rsa_key.to_public_key().to_public_key_der().unwrap();
    let pss = rsa::pss::BlindedSigningKey::<Sha256>::new(rsa_key.clone());
    let signature = pss.sign_with_rng(&mut OsRng, MESSAGE);
    expected.push((
        "rsa-2048",
        Expect {
            name: "rsa",
            verify_path: "rsa/sha2-256".to_owned(),
            public_der: public.as_bytes().to_vec(),
            signature: rsa::signature::SignatureEncoding::to_vec(&signature),
        },
    ));

    for (key_type, expect) in &expected {
        import_public(&server, expect.name, key_type, &expect.public_der);
        expect.check(&server);
    }

    // An RSA version without its private half still encrypts, for the holder of the
    // private key to decrypt.
    let ciphertext = post(
        &server,
        "/v1/transit/encrypt/rsa",
        json!({ "plaintext": b64(b"for the key holder") }),
    )
    .data_str("ciphertext");
    let raw = unb64(ciphertext.splitn(3, ':').nth(2).unwrap());
    let opened = rsa_key.decrypt(Oaep::new::<Sha256>(), &raw).unwrap();
    assert_eq!(opened, b"for the key holder");
    let refused = post(
        &server,
        "/v1/transit/decrypt/rsa",
        json!({ "ciphertext": ciphertext }),
    );
    assert_eq!(
        refused.error(),
        "1 error occurred:\n\t* cannot decrypt ciphertext, key version does not have a \
         private counterpart\n\n"
    );

    // PKCS #1 v1.5 signatures verify too.
    let pkcs1 = rsa::pkcs1v15::SigningKey::<Sha512>::new(rsa_key);
    let signature = rsa::signature::Signer::sign(&pkcs1, MESSAGE);
    let body = json!({
        "input": b64(MESSAGE),
        "signature": format!("vault:v1:{}", b64(&rsa::signature::SignatureEncoding::to_vec(&signature))),
        "signature_algorithm": "pkcs1v15",
    });
    let answer = post(&server, "/v1/transit/verify/rsa/sha2-512", body);
    assert_eq!(answer.json()["data"]["valid"], true, "{}", answer.body);

    server.restart();
    for (_, expect) in &expected {
        expect.check(&server);
    }
}

#[test]
fn the_read_shows_the_public_key_as_given() {
    use p256::pkcs8::EncodePublicKey as _;

    let server = Server::start_dev();
    let key = p256::ecdsa::SigningKey::random(&mut OsRng);
    let der = key.verifying_key().to_public_key_der().unwrap();
    import_public(&server, "shown", "ecdsa-p256", der.as_bytes());

    let read = server.get("/v1/transit/keys/shown", ROOT).json();
    assert_eq!(read["data"]["keys"]["1"]["public_key"], pem(der.as_bytes()));
    assert_eq!(read["data"]["keys"]["1"]["name"], "P-256");
    let exported = server.get("/v1/transit/export/public-key/shown?format=pem", ROOT);
    // Vault trims the newline of ECDSA PEMs in exports.
    assert_eq!(
        exported.json()["data"]["keys"]["1"],
        pem(der.as_bytes()).trim_end()
    );
}

fn wrapping_key(server: &Server) -> RsaPublicKey {
    let answer = server.get("/v1/transit/wrapping_key", ROOT);
    RsaPublicKey::from_public_key_pem(&answer.data_str("public_key")).unwrap()
}

/// `ciphertext` for import: OAEP-SHA256(ephemeral) || KWP(ephemeral, target), base64.
fn wrap(public: &RsaPublicKey, target: &[u8]) -> String {
    let mut ephemeral = [0u8; 32];
    OsRng.fill_bytes(&mut ephemeral);
    let mut blob = public
        .encrypt(&mut OsRng, Oaep::new::<Sha256>(), &ephemeral)
        .unwrap();
    let kek = aes_kw::KekAes256::new(&ephemeral.into());
    blob.extend(kek.wrap_with_padding_vec(target).unwrap());
    b64(&blob)
}

#[test]
fn import_version_gives_a_public_only_version_its_private_half() {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};

    let mut server = Server::start_dev();
    let wrapping = wrapping_key(&server);
    let mine = p256::ecdsa::SigningKey::random(&mut OsRng);
    let other = p256::ecdsa::SigningKey::random(&mut OsRng);
    let private = |key: &p256::ecdsa::SigningKey| key.to_pkcs8_der().unwrap().as_bytes().to_vec();
    let public_der = mine.verifying_key().to_public_key_der().unwrap();
    import_public(&server, "half", "ecdsa-p256", public_der.as_bytes());
    let import_version =
        |server: &Server, body: Value| post(server, "/v1/transit/keys/half/import_version", body);

    // With `version`, only the matching private key completes the version.
    let wrong = import_version(
        &server,
        json!({ "ciphertext": wrap(&wrapping, &private(&other)), "version": 1 }),
    );
    assert_eq!(
        wrong.error(),
        "1 error occurred:\n\t* cannot import key, key pair does not match\n\n"
    );
    let right = import_version(
        &server,
        json!({ "ciphertext": wrap(&wrapping, &private(&mine)), "version": 1 }),
    );
    assert_eq!(right.status, 204, "{}", right.body);
    let again = import_version(
        &server,
        json!({ "ciphertext": wrap(&wrapping, &private(&mine)), "version": 1 }),
    );
    assert_eq!(
        again.error(),
        "1 error occurred:\n\t* private key imported, key version cannot be updated\n\n"
    );
    server.restart();

    let signature = post(
        &server,
        "/v1/transit/sign/half/sha2-256",
        json!({ "input": b64(MESSAGE) }),
    )
    .data_str("signature");
    assert!(signature.starts_with("vault:v1:"), "{signature}");
    let der = unb64(signature.splitn(3, ':').nth(2).unwrap());
    let der = p256::ecdsa::DerSignature::try_from(der.as_slice()).unwrap();
    mine.verifying_key().verify(MESSAGE, &der).unwrap();
    let read = server.get("/v1/transit/keys/half", ROOT).json();
    assert_eq!(read["data"]["latest_version"], 1);

    // Without `version`, a private key completes a public-only latest version when the
    // pair matches; another private key becomes a new version.
    let second = p256::ecdsa::SigningKey::random(&mut OsRng);
    let der = second.verifying_key().to_public_key_der().unwrap();
    let answer = import_version(&server, json!({ "public_key": pem(der.as_bytes()) }));
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = import_version(
        &server,
        json!({ "ciphertext": wrap(&wrapping, &private(&second)) }),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let read = server.get("/v1/transit/keys/half", ROOT).json();
    assert_eq!(read["data"]["latest_version"], 2);
    let signed = post(
        &server,
        "/v1/transit/sign/half/sha2-256",
        json!({ "input": b64(MESSAGE) }),
    );
    assert!(signed.data_str("signature").starts_with("vault:v2:"));

    let answer = import_version(
        &server,
        json!({ "ciphertext": wrap(&wrapping, &private(&other)) }),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let read = server.get("/v1/transit/keys/half", ROOT).json();
    assert_eq!(read["data"]["latest_version"], 3);
}
