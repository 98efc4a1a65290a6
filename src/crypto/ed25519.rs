//! Ed25519 (RFC 8032) signing keys, as Vault's `ed25519` type.
//!
//! Signatures are pure Ed25519 over the raw input: the hash options of sign and
//! verify do not apply. The key is kept as its 32-byte seed.

use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use zeroize::Zeroizing;

use super::{CryptoError, kdf};
use crate::secret::SecretBytes;

/// Seed length in bytes.
pub const SEED_LEN: usize = 32;

/// One Ed25519 key pair.
pub struct Ed25519Key {
    pair: Ed25519KeyPair,
    seed: SecretBytes,
    public: Vec<u8>,
}

impl Ed25519Key {
    /// A fresh key from 32 random bytes of the OS CSPRNG.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the OS has no randomness to give.
    pub fn generate() -> Result<Self, CryptoError> {
        let seed = SecretBytes::random(SEED_LEN).map_err(|_| CryptoError::Internal)?;
        Self::from_seed(seed)
    }

    /// Loads a key from its seed.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the seed is not 32 bytes.
    pub fn from_seed(seed: SecretBytes) -> Result<Self, CryptoError> {
        if seed.len() != SEED_LEN {
            return Err(CryptoError::MalformedKey);
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.expose())
            .map_err(|_| CryptoError::MalformedKey)?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(Self { pair, seed, public })
    }

    /// The seed, for sealing into storage.
    pub fn seed(&self) -> &SecretBytes {
        &self.seed
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The key Vault derives for `context` from a derived key: the first 32 bytes of
    /// `HKDF-SHA256(seed || public key, info = context)` are its seed.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when derivation fails.
    pub fn derive(&self, context: &[u8]) -> Result<Self, CryptoError> {
        let mut ikm = Zeroizing::new(Vec::with_capacity(2 * SEED_LEN));
        ikm.extend_from_slice(self.seed.expose());
        ikm.extend_from_slice(&self.public);
        Self::from_seed(kdf::derive(&ikm, context, SEED_LEN)?)
    }

    /// The 64-byte signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        verify(&self.public, message, signature)
    }
}

/// An Ed25519 public key on its own: a version imported without its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey([u8; PUBLIC_KEY_LEN]);

/// Public key length in bytes (RFC 8032 §5.1.5).
pub const PUBLIC_KEY_LEN: usize = 32;

impl Ed25519PublicKey {
    /// The key with these 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| CryptoError::MalformedKey)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        verify(&self.0, message, signature)
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519PublicKey(..)")
    }
}

/// Whether `signature` is the signature of `message` by the 32-byte `public_key`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Key(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    #[test]
    fn derivation_matches_openbao() {
        // Captured from OpenBao 2.7.2: a derived, exportable ed25519 key's exported
        // `seed || public` master, and its public key and signature of "hi" for the
        // context "abc" (GET keys/:name?context=YWJj, POST sign).
        let master = hex(concat!(
            "94c94d8f7663292da3cd5fcb8073cdb413428f87e361a0bac4ad1589dee06c79",
            "37ebecf75890ac52661ae68c8a97cf2b9387da7cd1dfcd3654f5a9e25f53c944",
        ));
        let key = Ed25519Key::from_seed(SecretBytes::new(master[..SEED_LEN].to_vec())).unwrap();
        assert_eq!(key.public_key(), &master[SEED_LEN..]);

        let derived = key.derive(b"abc").unwrap();
        assert_eq!(
            derived.public_key(),
            hex("cde708688e4fb7909bba6dabb3c9dbc6f719721657849f391ef7628246531974")
        );
        assert_eq!(
            derived.sign(b"hi"),
            hex(concat!(
                "5fbcb7d60f5672d7ab53e7a4fa5e051275a2a6a2261d0a259eaa524aea776577",
                "a8bc70dd0d48ddf5ecd0ce1157c50c10120cdce371ccf4577b9b54f8ad29e90f",
            ))
        );
    }

    #[test]
    fn rfc_8032_test_1() {
        // RFC 8032 §7.1, TEST 1: the empty message.
        let key = Ed25519Key::from_seed(SecretBytes::new(hex(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        )))
        .unwrap();
        assert_eq!(
            key.public_key(),
            hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let signature = key.sign(b"");
        assert_eq!(
            signature,
            hex(concat!(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ))
        );
        assert!(key.verify(b"", &signature));
        assert!(!key.verify(b"x", &signature));
    }
}
