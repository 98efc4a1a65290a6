//! Cryptographic algorithms, one file per family, all backed by aws-lc-rs.
//!
//! - [`hash`]: the hash algorithm names of the transit API and their digests.
//! - [`chacha20_poly1305`]: the `chacha20-poly1305` AEAD key type.
//! - [`ecdsa`]: the `ecdsa-p256` signing key type.
//!
//! Nothing here knows about key versions or policies; that is `keyring`'s job.

pub mod chacha20_poly1305;
pub mod ecdsa;
pub mod hash;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The key types vault-kms serves, named as Vault names them.
///
/// The serde names are the persisted form, so a stored key never depends on the
/// order of these variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// ECDSA over NIST P-256; the service's `sign` type.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ChaCha20-Poly1305 (RFC 8439); the service's `encrypt` type.
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
}

impl KeyType {
    /// Every supported type, for error messages and tests.
    pub const ALL: [KeyType; 2] = [KeyType::EcdsaP256, KeyType::Chacha20Poly1305];

    /// The Vault name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Chacha20Poly1305 => "chacha20-poly1305",
        }
    }

    /// Parses a Vault type name.
    pub fn from_vault_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether encrypt, decrypt, rewrap and datakey work with this type.
    pub fn supports_encryption(self) -> bool {
        matches!(self, KeyType::Chacha20Poly1305)
    }

    /// Whether sign and verify work with this type.
    pub fn supports_signing(self) -> bool {
        matches!(self, KeyType::EcdsaP256)
    }

    /// Whether the type can derive per-context keys (Vault's `derived` flag).
    pub fn supports_derivation(self) -> bool {
        matches!(self, KeyType::Chacha20Poly1305)
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
