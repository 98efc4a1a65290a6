//! Microbenchmarks of the raw cryptographic operations behind the transit endpoints,
//! through the crate's public API and without HTTP, JSON or base64 around them.
//!
//! `bench/run` turns each mean time into operations per second per core: the ceiling
//! a single core could reach if serving a request cost nothing but its cryptography.
//! Every message is 1 KiB, the plaintext and input size of the HTTP benchmark.

use std::fmt::Debug;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vault_kms::crypto::aead::{AeadAlgorithm, AeadKey};
use vault_kms::crypto::ecdsa::{Curve, EcdsaKey, Marshaling};
use vault_kms::crypto::hash::HashAlgorithm;
use vault_kms::crypto::hmac;

/// The message size of every benchmark, as in the HTTP benchmark's bodies.
const MESSAGE_BYTES: usize = 1024;

/// Setup cannot go on without its key; the message names the step that failed.
fn ready<T, E: Debug>(result: Result<T, E>, step: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("benchmark setup failed at {step}: {err:?}"),
    }
}

fn aead_seal(c: &mut Criterion, name: &str, algorithm: AeadAlgorithm) {
    let key = ready(AeadKey::generate(algorithm), "AEAD key generation");
    let message = vec![0x5a_u8; MESSAGE_BYTES];
    c.bench_function(name, |b| {
        b.iter(|| black_box(key.seal(black_box(&message), b"")));
    });
}

fn aead(c: &mut Criterion) {
    aead_seal(
        c,
        "chacha20_poly1305_seal_1kib",
        AeadAlgorithm::Chacha20Poly1305,
    );
    aead_seal(c, "aes256_gcm_seal_1kib", AeadAlgorithm::Aes256Gcm);
}

/// Sign and verify hash the 1 KiB input first, as the sign and verify endpoints do.
fn ecdsa(c: &mut Criterion) {
    let key = ready(EcdsaKey::generate(Curve::P256), "P-256 key generation");
    let message = vec![0x5a_u8; MESSAGE_BYTES];
    let hash = HashAlgorithm::Sha2_256;

    c.bench_function("ecdsa_p256_sha256_sign_1kib", |b| {
        b.iter(|| {
            let digest = ready(hash.digest(black_box(&message)), "SHA-256");
            black_box(key.sign_digest(digest.as_ref(), Marshaling::Asn1))
        });
    });

    let digest = ready(hash.digest(&message), "SHA-256");
    let signature = ready(
        key.sign_digest(digest.as_ref(), Marshaling::Asn1),
        "signing",
    );
    c.bench_function("ecdsa_p256_sha256_verify_1kib", |b| {
        b.iter(|| {
            let digest = ready(hash.digest(black_box(&message)), "SHA-256");
            black_box(key.verify_digest(digest.as_ref(), &signature, Marshaling::Asn1))
        });
    });
}

fn hmac_sha256(c: &mut Criterion) {
    let key = [0x11_u8; 32];
    let message = vec![0x5a_u8; MESSAGE_BYTES];
    c.bench_function("hmac_sha256_1kib", |b| {
        b.iter(|| {
            black_box(hmac::sign(
                HashAlgorithm::Sha2_256,
                &key,
                black_box(&message),
            ))
        });
    });
}

criterion_group!(benches, aead, ecdsa, hmac_sha256);
criterion_main!(benches);
