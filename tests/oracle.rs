//! The real binary's crypto outputs checked by a second, independent implementation.
//!
//! vault-kms computes with aws-lc-rs; here RustCrypto is the oracle. `p256` verifies
//! every ECDSA signature the server makes against the PEM public key the server
//! publishes, over a digest computed by `sha2`, and `chacha20poly1305` opens every
//! ciphertext under the raw key read back from the data dir, and seals ciphertexts
//! that the server must open. Every check is paired with a case the oracle must
//! refuse, so that a check which cannot fail is caught here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use sha2::Digest as _;

use common::{Answer, Server, b64, unb64};
use vault_kms::clock::SystemClock;
use vault_kms::config::Config;
use vault_kms::keyring::key::KeyMaterial;
use vault_kms::service::{Mode, Service};

/// The SHA-2 names the transit API accepts for sign and verify.
const SHA2: [&str; 4] = ["sha2-224", "sha2-256", "sha2-384", "sha2-512"];

/// Bytes in a P-256 scalar: the length of the value ECDSA signs.
const P256_SCALAR_LEN: usize = 32;

/// ChaCha20-Poly1305 nonce and tag lengths (RFC 8439 §2.8).
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Associated data for the ciphertexts that carry some.
const AAD: &[u8] = b"tenant=42";

/// Where a sign or verify request names its hash algorithm.
#[derive(Clone, Copy, Debug)]
enum HashIn {
    /// `/v1/transit/sign/vault-sign/sha2-512`.
    Url,
    /// `{"hash_algorithm": "sha2-512"}` on `/v1/transit/sign/vault-sign`.
    Body,
}

/// How a signature is asked for: where the hash is named, which hash, and whether
/// the signature is JWS (`r || s`) rather than DER.
#[derive(Clone, Copy, Debug)]
struct Scheme {
    form: HashIn,
    algorithm: &'static str,
    jws: bool,
}

impl Scheme {
    /// Every SHA-2 algorithm, named in the URL and in the body.
    fn every(jws: bool) -> impl Iterator<Item = Scheme> {
        SHA2.into_iter().flat_map(move |algorithm| {
            [HashIn::Url, HashIn::Body].map(|form| Scheme {
                form,
                algorithm,
                jws,
            })
        })
    }

    /// The path and body of a `sign` or `verify` request that carries `body`.
    fn request(self, operation: &str, mut body: Value) -> (String, String) {
        if self.jws {
            body["marshaling_algorithm"] = json!("jws");
        }
        let path = match self.form {
            HashIn::Url => format!("/v1/transit/{operation}/vault-sign/{}", self.algorithm),
            HashIn::Body => {
                body["hash_algorithm"] = json!(self.algorithm);
                format!("/v1/transit/{operation}/vault-sign")
            }
        };
        (path, body.to_string())
    }

    /// Parses the encoded signature after `vault:vN:`.
    fn decode(self, payload: &str) -> Signature {
        let parsed = if self.jws {
            Signature::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap())
        } else {
            Signature::from_der(&unb64(payload))
        };
        parsed.unwrap_or_else(|e| panic!("{self:?}: not an ECDSA signature ({e}): {payload}"))
    }

    /// `signature` as a version 1 value in this scheme's encoding.
    fn encode_v1(self, signature: &Signature) -> String {
        if self.jws {
            format!("vault:v1:{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
        } else {
            format!("vault:v1:{}", b64(signature.to_der().as_bytes()))
        }
    }
}

/// A signature as the server returned it.
#[derive(Debug)]
struct Signed {
    scheme: Scheme,
    version: u32,
    /// The whole `vault:vN:...` string.
    text: String,
}

impl Signed {
    /// The encoded signature after `vault:vN:`.
    fn payload(&self) -> &str {
        let head = format!("vault:v{}:", self.version);
        self.text
            .strip_prefix(&head)
            .unwrap_or_else(|| panic!("{} does not start with {head}", self.text))
    }

    fn signature(&self) -> Signature {
        self.scheme.decode(self.payload())
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The inputs every signature check runs over.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("SECRET\\n", b"SECRET\n".to_vec()),
        ("1 KiB random", random_bytes(1024)),
    ]
}

fn changed(input: &[u8]) -> Vec<u8> {
    [input, b"!"].concat()
}

/// The digest of `input` under the SHA-2 algorithm Vault calls `algorithm`, computed
/// by the `sha2` crate.
fn sha2_digest(algorithm: &str, input: &[u8]) -> Vec<u8> {
    match algorithm {
        "sha2-224" => sha2::Sha224::digest(input).to_vec(),
        "sha2-256" => sha2::Sha256::digest(input).to_vec(),
        "sha2-384" => sha2::Sha384::digest(input).to_vec(),
        "sha2-512" => sha2::Sha512::digest(input).to_vec(),
        other => panic!("not a SHA-2 algorithm: {other}"),
    }
}

/// The 32 bytes that ECDSA over P-256 signs for `digest`. SEC 1 v2 §4.1.3 step 5
/// takes the leftmost 256 bits of a longer digest; a shorter one is used whole as
/// an integer, which is the digest left-padded with zeros to 32 bytes.
fn p256_prehash(digest: &[u8]) -> [u8; P256_SCALAR_LEN] {
    let mut sized = [0u8; P256_SCALAR_LEN];
    if digest.len() >= P256_SCALAR_LEN {
        sized.copy_from_slice(&digest[..P256_SCALAR_LEN]);
    } else {
        sized[P256_SCALAR_LEN - digest.len()..].copy_from_slice(digest);
    }
    sized
}

/// Whether the oracle accepts `signature` over `input` hashed with `algorithm`.
fn p256_accepts(key: &VerifyingKey, algorithm: &str, input: &[u8], signature: &Signature) -> bool {
    let prehash = p256_prehash(&sha2_digest(algorithm, input));
    key.verify_prehash(&prehash, signature).is_ok()
}

fn expect_ok(answer: Answer, what: &str) -> Answer {
    assert_eq!(answer.status, 200, "{what}: {}", answer.body);
    answer
}

/// Signs `input` on the server with the latest version.
fn sign(server: &Server, token: &str, scheme: Scheme, input: &[u8]) -> Signed {
    let (path, body) = scheme.request("sign", json!({ "input": b64(input) }));
    let answer = expect_ok(server.post(&path, token, &body), &path);

    let version = answer.json()["data"]["key_version"]
        .as_u64()
        .unwrap_or_else(|| panic!("no key_version in {}", answer.body));
    let signed = Signed {
        scheme,
        version: u32::try_from(version).unwrap(),
        text: answer.data_str("signature"),
    };
    assert!(!signed.payload().is_empty());
    signed
}

/// The server's verdict on `signature` (a whole `vault:vN:` value) over `input`.
fn server_accepts(
    server: &Server,
    token: &str,
    scheme: Scheme,
    input: &[u8],
    signature: &str,
) -> bool {
    let body = json!({ "input": b64(input), "signature": signature });
    let (path, body) = scheme.request("verify", body);
    let answer = expect_ok(server.post(&path, token, &body), &path);
    answer.json()["data"]["valid"]
        .as_bool()
        .unwrap_or_else(|| panic!("no boolean data.valid in {}", answer.body))
}

/// The public key of `vault-sign` version `version`, parsed by `p256` from the PEM
/// the server publishes.
fn public_key(server: &Server, token: &str, version: u32) -> VerifyingKey {
    let answer = expect_ok(server.get("/v1/transit/keys/vault-sign", token), "read key");
    let json = answer.json();
    let pem = json["data"]["keys"][version.to_string()]["public_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no public_key for version {version} in {}", answer.body));
    VerifyingKey::from_public_key_pem(pem)
        .unwrap_or_else(|e| panic!("p256 refuses the PEM of version {version} ({e}): {pem}"))
}

/// Stops the server and reads the raw key of `app-data` version 1 through the
/// library, as the server itself would load it.
fn stored_chacha_key(server: &mut Server) -> ChaCha20Poly1305 {
    server.stop();
    let config = Config::load(&server.config).unwrap();
    let service = Service::open(config, Arc::new(SystemClock), Mode::Inspect).unwrap();
    let key = service
        .keyring
        .get("app-data")
        .expect("app-data is declared");
    let KeyMaterial::Aead(cipher) = &key.versions[&1].material else {
        panic!("app-data version 1 is not a ChaCha20-Poly1305 key");
    };
    let raw = cipher.raw().expose();
    assert_eq!(raw.len(), 32, "a ChaCha20-Poly1305 key is 32 bytes");
    ChaCha20Poly1305::new_from_slice(raw).unwrap()
}

/// Opens a `nonce || ciphertext || tag` payload with the oracle.
fn oracle_open(cipher: &ChaCha20Poly1305, payload: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (nonce, sealed) = payload.split_at_checked(NONCE_LEN)?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .ok()
}

/// Seals with the oracle under a random nonce, in Vault's `nonce || ciphertext || tag`
/// layout.
fn oracle_seal(cipher: &ChaCha20Poly1305, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = random_bytes(NONCE_LEN);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap();
    [nonce, sealed].concat()
}

/// One plaintext the encryption checks run over, with or without associated data.
struct EncryptionCase {
    label: String,
    plaintext: Vec<u8>,
    aad: Option<&'static [u8]>,
}

fn encryption_cases() -> Vec<EncryptionCase> {
    let plaintexts = [
        ("empty", Vec::new()),
        ("SECRET\\n", b"SECRET\n".to_vec()),
        ("4 KiB random", random_bytes(4096)),
    ];
    let mut cases = Vec::new();
    for (label, plaintext) in plaintexts {
        cases.push(EncryptionCase {
            label: format!("{label}, no aad"),
            plaintext: plaintext.clone(),
            aad: None,
        });
        cases.push(EncryptionCase {
            label: format!("{label}, aad"),
            plaintext,
            aad: Some(AAD),
        });
    }
    cases
}

fn encrypt(server: &Server, token: &str, plaintext: &[u8], aad: Option<&[u8]>) -> String {
    let mut body = json!({ "plaintext": b64(plaintext) });
    if let Some(aad) = aad {
        body["associated_data"] = json!(b64(aad));
    }
    let answer = server.post("/v1/transit/encrypt/app-data", token, &body.to_string());
    expect_ok(answer, "encrypt").data_str("ciphertext")
}

fn vault_v1_payload(ciphertext: &str) -> Vec<u8> {
    let payload = ciphertext
        .strip_prefix("vault:v1:")
        .unwrap_or_else(|| panic!("{ciphertext} is not a version 1 ciphertext"));
    unb64(payload)
}

#[test]
fn every_sha2_der_signature_verifies_under_p256_over_the_sha2_digest() {
    let server = Server::start();
    let token = server.token("manage_keys");

    for scheme in Scheme::every(false) {
        for (label, input) in inputs() {
            let signed = sign(&server, &token, scheme, &input);
            let key = public_key(&server, &token, signed.version);
            let signature = signed.signature();

            assert!(
                p256_accepts(&key, scheme.algorithm, &input, &signature),
                "{scheme:?}, input {label}: p256 refuses {}",
                signed.text
            );
            assert!(
                !p256_accepts(&key, scheme.algorithm, &changed(&input), &signature),
                "{scheme:?}, input {label}: p256 accepts it for a different input"
            );
        }
    }
}

#[test]
fn jws_signatures_are_unpadded_base64url_r_s_that_p256_verifies() {
    let server = Server::start();
    let token = server.token("manage_keys");

    for scheme in Scheme::every(true) {
        for (label, input) in inputs() {
            let signed = sign(&server, &token, scheme, &input);
            let payload = signed.payload();
            // 64 bytes in unpadded base64url (RFC 4648 §5) are 86 characters.
            assert_eq!(payload.len(), 86, "{scheme:?}: {payload}");
            let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert!(payload.bytes().all(url_safe), "{scheme:?}: {payload}");

            let key = public_key(&server, &token, signed.version);
            let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap_or_else(|e| panic!("{scheme:?}: not r || s ({e}): {payload}"));
            assert!(
                p256_accepts(&key, scheme.algorithm, &input, &signature),
                "{scheme:?}, input {label}: p256 refuses {payload}"
            );
            assert!(
                !p256_accepts(&key, scheme.algorithm, &changed(&input), &signature),
                "{scheme:?}, input {label}: p256 accepts it for a different input"
            );
        }
    }
}

/// Pins how `p256`'s `PrehashVerifier` (ecdsa 0.16 `bits2field`) maps a digest that
/// is not 32 bytes, and checks that the server signs what SEC 1 says: a right-padded
/// SHA-224 digest, or the rightmost 32 bytes of a SHA-384/512 one, must not verify.
#[test]
fn p256_prehash_verifier_left_pads_short_digests_and_truncates_long_ones() {
    let server = Server::start();
    let token = server.token("manage_keys");
    let input = b"SECRET\n";

    for scheme in Scheme::every(false) {
        let signed = sign(&server, &token, scheme, input);
        let key = public_key(&server, &token, signed.version);
        let signature = signed.signature();
        let digest = sha2_digest(scheme.algorithm, input);

        assert!(
            key.verify_prehash(&digest, &signature).is_ok(),
            "{scheme:?}: p256 refuses the whole {}-byte digest",
            digest.len()
        );
        let misread = match digest.len() {
            28 => [digest.as_slice(), &[0u8; 4]].concat(),
            32 => continue,
            len => digest[len - P256_SCALAR_LEN..].to_vec(),
        };
        assert!(
            key.verify_prehash(&misread, &signature).is_err(),
            "{scheme:?}: a misread digest verifies too"
        );
    }
}

#[test]
fn signatures_verify_under_their_own_version_only_after_a_rotate() {
    let server = Server::start();
    let token = server.token("manage_keys");
    let rotated = server.post("/v1/transit/keys/vault-sign/rotate", &token, "");
    assert_eq!(
        rotated.json()["data"]["latest_version"],
        2,
        "{}",
        rotated.body
    );

    let scheme = Scheme {
        form: HashIn::Url,
        algorithm: "sha2-256",
        jws: false,
    };
    let input = b"SECRET\n";
    let latest = sign(&server, &token, scheme, input);
    assert_eq!(latest.version, 2);
    let (path, body) = scheme.request("sign", json!({ "input": b64(input), "key_version": 1 }));
    let answer = expect_ok(server.post(&path, &token, &body), "sign with key_version 1");
    let first = Signed {
        scheme,
        version: 1,
        text: answer.data_str("signature"),
    };

    let v1 = public_key(&server, &token, 1);
    let v2 = public_key(&server, &token, 2);
    assert_ne!(v1, v2, "a rotate makes a new key pair");
    let algorithm = scheme.algorithm;
    assert!(p256_accepts(&v2, algorithm, input, &latest.signature()));
    assert!(p256_accepts(&v1, algorithm, input, &first.signature()));
    assert!(
        !p256_accepts(&v1, algorithm, input, &latest.signature()),
        "the v1 public key accepts a v2 signature"
    );
    assert!(
        !p256_accepts(&v2, algorithm, input, &first.signature()),
        "the v2 public key accepts a v1 signature"
    );
}

#[test]
fn verify_endpoint_agrees_with_p256_on_every_server_signature() {
    let server = Server::start();
    let token = server.token("manage_keys");

    for scheme in Scheme::every(false).chain(Scheme::every(true)) {
        for (label, input) in inputs() {
            let signed = sign(&server, &token, scheme, &input);
            let key = public_key(&server, &token, signed.version);
            let signature = signed.signature();
            let other = changed(&input);

            assert!(p256_accepts(&key, scheme.algorithm, &input, &signature));
            assert!(
                server_accepts(&server, &token, scheme, &input, &signed.text),
                "{scheme:?}, input {label}: the server refuses its own signature"
            );
            assert!(!p256_accepts(&key, scheme.algorithm, &other, &signature));
            assert!(
                !server_accepts(&server, &token, scheme, &other, &signed.text),
                "{scheme:?}, input {label}: the server accepts what p256 refuses"
            );
        }
    }
}

#[test]
fn a_valid_signature_by_another_p256_key_verifies_as_false_not_an_error() {
    let server = Server::start();
    let token = server.token("manage_keys");
    let stranger = SigningKey::random(&mut OsRng);
    let input = b"SECRET\n";

    for scheme in Scheme::every(false).chain(Scheme::every(true)) {
        let prehash = p256_prehash(&sha2_digest(scheme.algorithm, input));
        let signature: Signature = stranger.sign_prehash(&prehash).unwrap();
        // The signature is sound: only the key is wrong.
        let sound = p256_accepts(
            stranger.verifying_key(),
            scheme.algorithm,
            input,
            &signature,
        );
        assert!(sound);

        let text = scheme.encode_v1(&signature);
        assert!(
            !server_accepts(&server, &token, scheme, input, &text),
            "{scheme:?}: the server accepts another key's signature {text}"
        );
    }
}

/// ECDSA signatures are malleable: `(r, n - s)` verifies wherever `(r, s)` does. Vault
/// verifies with Go's `crypto/ecdsa`, which does not require a low `s`, so the
/// server accepts the twin of each of its signatures, in both encodings.
#[test]
fn the_negated_s_twin_of_a_server_signature_verifies_as_in_vault() {
    let server = Server::start();
    let token = server.token("manage_keys");
    let input = b"SECRET\n";

    for scheme in Scheme::every(false).chain(Scheme::every(true)) {
        let signed = sign(&server, &token, scheme, input);
        let signature = signed.signature();
        let twin = Signature::from_scalars(signature.r(), -signature.s()).unwrap();
        assert_ne!(twin, signature);
        let key = public_key(&server, &token, signed.version);
        assert!(p256_accepts(&key, scheme.algorithm, input, &twin));

        assert!(
            server_accepts(&server, &token, scheme, input, &scheme.encode_v1(&twin)),
            "{scheme:?}: the server refuses the twin of {}",
            signed.text
        );
    }
}

#[test]
fn server_ciphertexts_open_in_chacha20poly1305_under_the_stored_key() {
    let mut server = Server::start();
    let token = server.token("app_encryption");
    let cases = encryption_cases();
    let ciphertexts: Vec<String> = cases
        .iter()
        .map(|case| encrypt(&server, &token, &case.plaintext, case.aad))
        .collect();

    let cipher = stored_chacha_key(&mut server);
    let mut nonces = Vec::new();
    for (case, ciphertext) in cases.iter().zip(&ciphertexts) {
        let label = &case.label;
        let aad = case.aad.unwrap_or_default();
        let payload = vault_v1_payload(ciphertext);
        let expected_len = NONCE_LEN + case.plaintext.len() + TAG_LEN;
        assert_eq!(payload.len(), expected_len, "{label}");
        nonces.push(payload[..NONCE_LEN].to_vec());

        let opened = oracle_open(&cipher, &payload, aad);
        assert_eq!(opened.as_ref(), Some(&case.plaintext), "{label}");

        // One flipped bit in the nonce, in the first ciphertext byte and in the tag.
        for index in [0, NONCE_LEN, payload.len() - 1] {
            let mut tampered = payload.clone();
            tampered[index] ^= 0x01;
            let opened = oracle_open(&cipher, &tampered, aad);
            assert_eq!(opened, None, "{label}: opens with byte {index} flipped");
        }
        let wrong_aad: &[u8] = if aad.is_empty() { AAD } else { b"" };
        let opened = oracle_open(&cipher, &payload, wrong_aad);
        assert_eq!(opened, None, "{label}: opens with other associated data");
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), cases.len(), "a nonce was used twice");
}

#[test]
fn chacha20poly1305_ciphertexts_in_vault_layout_decrypt_on_the_server() {
    let mut server = Server::start();
    let cipher = stored_chacha_key(&mut server);
    let cases = encryption_cases();
    let sealed: Vec<Vec<u8>> = cases
        .iter()
        .map(|case| oracle_seal(&cipher, &case.plaintext, case.aad.unwrap_or_default()))
        .collect();

    server.launch();
    let token = server.token("app_encryption");
    for (case, payload) in cases.iter().zip(&sealed) {
        let label = &case.label;
        let mut body = json!({ "ciphertext": format!("vault:v1:{}", b64(payload)) });
        if let Some(aad) = case.aad {
            body["associated_data"] = json!(b64(aad));
        }
        let answer = server.post("/v1/transit/decrypt/app-data", &token, &body.to_string());
        let opened = unb64(&expect_ok(answer, label).data_str("plaintext"));
        assert_eq!(opened, case.plaintext, "{label}");

        let mut tampered = payload.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        body["ciphertext"] = json!(format!("vault:v1:{}", b64(&tampered)));
        let refused = server.post("/v1/transit/decrypt/app-data", &token, &body.to_string());
        assert_eq!(refused.status, 400, "{label}: {}", refused.body);
        let message = refused.error();
        assert_eq!(message, "chacha20poly1305: message authentication failed");
    }
}

/// OpenBao's `chacha20-poly1305` ciphertext of a 7-byte plaintext is 48 base64
/// characters (observed on a real OpenBao server): its `sdk/helper/keysutil/policy.go`
/// appends the AEAD output (ciphertext || 16-byte tag) to the 12-byte nonce.
#[test]
fn a_seven_byte_plaintext_seals_to_a_35_byte_payload() {
    let server = Server::start();
    let token = server.token("app_encryption");

    let ciphertext = encrypt(&server, &token, b"SECRET\n", None);
    let text = ciphertext.strip_prefix("vault:v1:").unwrap();
    assert_eq!(text.len(), 48, "{ciphertext}");
    assert_eq!(unb64(text).len(), NONCE_LEN + 7 + TAG_LEN);
}
