//! Vault's context-based key derivation and convergent nonces.
//!
//! A derived key is `HKDF-SHA256(IKM = version key, salt = none, info = context, L)`
//! (RFC 5869; an absent salt is HashLen zero bytes). Convergent encryption (Vault's
//! version 3) takes `L = key length + 32`: the first bytes are the AEAD key, the last
//! 32 an HMAC key, and the nonce is `HMAC-SHA256(hmac key, plaintext)` cut to 12
//! bytes. The same key, context and plaintext therefore give the same ciphertext.

use aws_lc_rs::{hkdf, hmac};
use serde::{Deserialize, Serialize};

use super::CryptoError;
use super::aead::NONCE_BYTES;
use crate::secret::SecretBytes;

/// The key derivation function of a derived key.
///
/// Every key created by Vault uses HKDF; keys imported with `derived` get Vault's
/// older counter-mode KDF, as OpenBao 2.7.2 leaves them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kdf {
    /// HKDF-SHA256 (RFC 5869).
    #[default]
    #[serde(rename = "hkdf_sha256")]
    Hkdf,
    /// NIST SP 800-108 counter mode with HMAC-SHA256, one 32-byte block.
    #[serde(rename = "hmac-sha256-counter")]
    HmacSha256Counter,
}

impl Kdf {
    /// The name a key read shows.
    pub fn name(self) -> &'static str {
        match self {
            Kdf::Hkdf => "hkdf_sha256",
            Kdf::HmacSha256Counter => "hmac-sha256-counter",
        }
    }
}

/// Output bits of the counter-mode KDF, which Vault fixes at one SHA-256 block.
const COUNTER_KDF_BITS: u32 = 256;

/// Output bytes of the counter-mode KDF.
pub const COUNTER_KDF_LEN: usize = 32;

/// Vault's counter-mode KDF (NIST SP 800-108 §5.1 with HMAC-SHA256):
/// `HMAC-SHA256(key, BE32(0) || context || BE32(256))`, 32 bytes.
pub fn derive_counter(key: &[u8], context: &[u8]) -> SecretBytes {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut input = Vec::with_capacity(8 + context.len());
    input.extend_from_slice(&0u32.to_be_bytes());
    input.extend_from_slice(context);
    input.extend_from_slice(&COUNTER_KDF_BITS.to_be_bytes());
    SecretBytes::new(hmac::sign(&key, &input).as_ref().to_vec())
}

/// Bytes of the HMAC key that follows the AEAD key in convergent derivation.
pub const CONVERGENT_MAC_LEN: usize = 32;

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// `HKDF-SHA256(ikm, no salt, info = context)`, `len` bytes.
///
/// # Errors
/// [`CryptoError::Internal`] when `len` is beyond what HKDF can produce.
pub fn derive(ikm: &[u8], context: &[u8], len: usize) -> Result<SecretBytes, CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(ikm);
    let info = [context];
    let okm = prk
        .expand(&info, Len(len))
        .map_err(|_| CryptoError::Internal)?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).map_err(|_| CryptoError::Internal)?;
    Ok(SecretBytes::new(out))
}

/// The convergent nonce of `plaintext` under `mac_key`.
pub fn convergent_nonce(mac_key: &[u8], plaintext: &[u8]) -> [u8; NONCE_BYTES] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, mac_key);
    let tag = hmac::sign(&key, plaintext);
    let mut nonce = [0u8; NONCE_BYTES];
    nonce.copy_from_slice(&tag.as_ref()[..NONCE_BYTES]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    #[test]
    fn counter_kdf_is_one_hmac_sha256_block_over_counter_context_and_length() {
        // Expected value from Python's hmac module over
        // BE32(0) || "tenant-42" || BE32(256) with the key 00 01 .. 1f; OpenBao
        // decrypted with the same derivation in tests/clients/test_byok.py.
        let key: Vec<u8> = (0u8..32).collect();
        let derived = derive_counter(&key, b"tenant-42");
        assert_eq!(
            derived.expose(),
            hex("1598c32c270f5eb424c95988f015d4fd60c7b05dfb210808dd02feb650a69a8f").as_slice()
        );
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_3_without_salt() {
        // RFC 5869 appendix A.3: SHA-256, zero-length salt and info.
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let okm = derive(&ikm, b"", 42).unwrap();
        let expected = hex(concat!(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d",
            "9d201395faa4b61a96c8"
        ));
        assert_eq!(okm.expose(), expected.as_slice());
    }

    #[test]
    fn longer_outputs_extend_shorter_ones() {
        let short = derive(b"key", b"ctx", 32).unwrap();
        let long = derive(b"key", b"ctx", 64).unwrap();
        assert_eq!(&long.expose()[..32], short.expose());
    }

    #[test]
    fn convergent_nonces_depend_on_key_and_plaintext_only() {
        let a = convergent_nonce(b"mac", b"plaintext");
        assert_eq!(a, convergent_nonce(b"mac", b"plaintext"));
        assert_ne!(a, convergent_nonce(b"mac", b"other"));
        assert_ne!(a, convergent_nonce(b"other mac", b"plaintext"));
    }
}
