//! Cryptographic algorithms, one file per family, all backed by aws-lc-rs, and by the
//! same AWS-LC through its C API where aws-lc-rs lacks a combination ([`awslc`]).
//!
//! - [`aead`]: `aes128-gcm96`, `aes256-gcm96` and `chacha20-poly1305`.
//! - [`rsa`]: `rsa-2048`, `rsa-3072` and `rsa-4096` keys and RSA-OAEP encryption.
//! - [`rsa_signing`]: RSASSA-PSS and PKCS #1 v1.5 signatures with those keys.
//! - [`components`]: ECDSA and RSA keys taken apart into their numbers (backups).
//! - [`ecdsa`]: the `ecdsa-p256`, `ecdsa-p384` and `ecdsa-p521` signing key types.
//! - [`ed25519`]: the `ed25519` signing key type.
//! - [`public`]: public keys without their private halves (public-key-only imports),
//!   read as Go's PEM and PKIX readers read them.
//! - [`kdf`]: Vault's per-context key derivation and convergent nonces.
//! - [`hmac`]: HMAC over the SHA-1, SHA-2 and SHA-3 hashes.
//! - [`hash`]: the hash algorithm names of the transit API and their digests.
//! - [`export`]: key material in the DER and PEM encodings that `export` answers with
//!   (RustCrypto's `pkcs8`, `pkcs1` and `sec1` format crates; no primitives).
//! - [`wrap`]: the BYOK wrapping key and the unwrapping of imported material.
//! - [`awslc`]: the one module with `unsafe` code: SHA3-224, SHA-3 HMACs, RSA
//!   signatures over other hashes and OAEP with SHA-224, through `aws-lc-sys`.
//!
//! Nothing here knows about key versions or policies; that is `keyring`'s job.

pub mod aead;
pub mod awslc;
pub mod components;
pub mod ecdsa;
pub mod ed25519;
pub mod export;
pub mod hash;
pub mod hmac;
pub mod kdf;
pub mod public;
pub mod rsa;
pub mod rsa_signing;
pub mod wrap;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use aead::AeadAlgorithm;

/// The key types vault-kms serves, named as Vault names them.
///
/// The serde names are the persisted form, so a stored key never depends on the
/// order of these variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// AES-128-GCM with 96-bit nonces.
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
    /// AES-256-GCM with 96-bit nonces; Vault's default type.
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    /// ChaCha20-Poly1305 (RFC 8439); the service's `encrypt` type.
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    /// ECDSA over NIST P-256; the service's `sign` type.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA over NIST P-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// ECDSA over NIST P-521.
    #[serde(rename = "ecdsa-p521")]
    EcdsaP521,
    /// Ed25519 (RFC 8032).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA with a 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// A plain HMAC key of 32 to 512 bytes.
    #[serde(rename = "hmac")]
    Hmac,
}

impl KeyType {
    /// Every supported type, for error messages and tests.
    pub const ALL: [KeyType; 11] = [
        KeyType::Aes128Gcm96,
        KeyType::Aes256Gcm96,
        KeyType::Chacha20Poly1305,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::Hmac,
    ];

    /// The Vault name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes128Gcm96 => "aes128-gcm96",
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::Chacha20Poly1305 => "chacha20-poly1305",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::EcdsaP521 => "ecdsa-p521",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::Hmac => "hmac",
        }
    }

    /// Parses a Vault type name.
    pub fn from_vault_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The AEAD algorithm of a symmetric type.
    pub fn aead(self) -> Option<AeadAlgorithm> {
        match self {
            KeyType::Aes128Gcm96 => Some(AeadAlgorithm::Aes128Gcm),
            KeyType::Aes256Gcm96 => Some(AeadAlgorithm::Aes256Gcm),
            KeyType::Chacha20Poly1305 => Some(AeadAlgorithm::Chacha20Poly1305),
            _ => None,
        }
    }

    /// The modulus size of an RSA type, in bits.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// Whether encrypt, decrypt, rewrap and datakey work with this type.
    pub fn supports_encryption(self) -> bool {
        self.aead().is_some() || self.rsa_bits().is_some()
    }

    /// The curve of an ECDSA type.
    pub fn curve(self) -> Option<ecdsa::Curve> {
        match self {
            KeyType::EcdsaP256 => Some(ecdsa::Curve::P256),
            KeyType::EcdsaP384 => Some(ecdsa::Curve::P384),
            KeyType::EcdsaP521 => Some(ecdsa::Curve::P521),
            _ => None,
        }
    }

    /// Whether sign and verify work with this type (as Vault reports it).
    pub fn supports_signing(self) -> bool {
        self.curve().is_some() || self == KeyType::Ed25519 || self.rsa_bits().is_some()
    }

    /// Whether the type can derive per-context keys (Vault's `derived` flag).
    pub fn supports_derivation(self) -> bool {
        self.aead().is_some() || self == KeyType::Ed25519
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure inside a cryptographic primitive.
///
/// Deliberately carries no detail: a failed decryption or a malformed key must not
/// tell a caller why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication of a ciphertext failed (wrong key, tampering, wrong AAD).
    #[error("message authentication failed")]
    Authentication,
    /// A plaintext is longer than an RSA key can encrypt.
    #[error("message too long for RSA key size")]
    MessageTooLong,
    /// A sealed payload is shorter than its nonce.
    #[error("ciphertext is too short")]
    Truncated,
    /// Stored key material could not be loaded.
    #[error("key material is malformed")]
    MalformedKey,
    /// The operating system could not supply random bytes, or a primitive failed.
    #[error("cryptographic operation failed")]
    Internal,
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// [`CryptoError::Internal`] when the OS has no randomness to give.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Internal)
}

/// Bytes of OS randomness a thread fetches at once for nonces.
const NONCE_POOL: usize = 4096;

/// A thread's batch of OS randomness for nonces and the count of its bytes used.
struct NoncePool {
    bytes: Box<[u8; NONCE_POOL]>,
    used: usize,
}

std::thread_local! {
    static NONCES: std::cell::RefCell<NoncePool> = std::cell::RefCell::new(NoncePool {
        bytes: Box::new([0; NONCE_POOL]),
        used: NONCE_POOL,
    });
}

/// Fills `buf` with bytes from the operating system's CSPRNG for a nonce, a value
/// that is public (it travels in the ciphertext) and must only never repeat.
///
/// Each thread fetches [`NONCE_POOL`] bytes in one call and hands each byte out
/// once, so an encryption does not pay a system call for its 12 bytes. Every byte
/// still comes straight from the OS; nothing is stretched or reused. (A process that
/// forked would share its pool with the child; vault-kms never forks.) Secrets such
/// as keys come from [`fill_random`] instead.
///
/// # Errors
/// [`CryptoError::Internal`] when the OS has no randomness to give.
pub fn fill_nonce(buf: &mut [u8]) -> Result<(), CryptoError> {
    if buf.len() > NONCE_POOL {
        return fill_random(buf);
    }
    NONCES.with(|pool| {
        let mut pool = pool.borrow_mut();
        if NONCE_POOL - pool.used < buf.len() {
            fill_random(&mut pool.bytes[..])?;
            pool.used = 0;
        }
        let taken = pool.used..pool.used + buf.len();
        buf.copy_from_slice(&pool.bytes[taken.clone()]);
        pool.bytes[taken].fill(0);
        pool.used += buf.len();
        Ok(())
    })
}

/// PEM armour (RFC 7468): base64 in 64-column lines, ending with a newline.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Hex decoding for the known-answer tests of the algorithm files.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod nonce_tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nonces_never_repeat_across_pool_refills_and_threads() {
        let draw = || {
            (0..2000)
                .map(|_| {
                    let mut nonce = [0u8; 12];
                    fill_nonce(&mut nonce).unwrap();
                    nonce
                })
                .collect::<Vec<_>>()
        };
        // 2,000 nonces of 12 bytes use almost six pools on each thread.
        let here = draw();
        let there = std::thread::spawn(draw).join().unwrap();
        let distinct: HashSet<[u8; 12]> = here.iter().chain(&there).copied().collect();
        assert_eq!(distinct.len(), 4000);
        assert!(!distinct.contains(&[0u8; 12]));
    }

    #[test]
    fn requests_larger_than_the_pool_go_to_the_os_directly() {
        let mut big = vec![0u8; NONCE_POOL + 1];
        fill_nonce(&mut big).unwrap();
        assert!(big.iter().any(|&b| b != 0));
    }
}
