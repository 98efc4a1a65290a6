//! The AEAD key types: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, with Vault's
//! ciphertext layout.
//!
//! A sealed payload is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, exactly as
//! Vault lays out `aes128-gcm96`, `aes256-gcm96` and `chacha20-poly1305` ciphertexts,
//! so payloads move between the two servers unchanged. Nonces are 96 random bits
//! from the OS CSPRNG, except for convergent encryption, whose caller supplies a
//! nonce derived from the plaintext.

use std::fmt;

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce,
    UnboundKey,
};
use zeroize::Zeroizing;

use super::{CryptoError, fill_nonce};
use crate::secret::SecretBytes;

/// Nonce length in bytes for every AEAD type here.
pub const NONCE_BYTES: usize = NONCE_LEN;

/// Authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// The AEAD algorithms, by Vault key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// `aes128-gcm96`.
    Aes128Gcm,
    /// `aes256-gcm96`.
    Aes256Gcm,
    /// `chacha20-poly1305` (RFC 8439).
    Chacha20Poly1305,
}

impl AeadAlgorithm {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes128Gcm => 16,
            AeadAlgorithm::Aes256Gcm | AeadAlgorithm::Chacha20Poly1305 => 32,
        }
    }

    fn algorithm(self) -> &'static Algorithm {
        match self {
            AeadAlgorithm::Aes128Gcm => &AES_128_GCM,
            AeadAlgorithm::Aes256Gcm => &AES_256_GCM,
            AeadAlgorithm::Chacha20Poly1305 => &CHACHA20_POLY1305,
        }
    }

    /// The text Vault (Go's crypto libraries) reports when authentication fails.
    pub fn authentication_failure(self) -> &'static str {
        match self {
            AeadAlgorithm::Aes128Gcm | AeadAlgorithm::Aes256Gcm => {
                "cipher: message authentication failed"
            }
            AeadAlgorithm::Chacha20Poly1305 => "chacha20poly1305: message authentication failed",
        }
    }
}

/// One AEAD key, ready to seal and open.
pub struct AeadKey {
    algorithm: AeadAlgorithm,
    aead: LessSafeKey,
    raw: SecretBytes,
}

impl AeadKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the OS has no randomness to give.
    pub fn generate(algorithm: AeadAlgorithm) -> Result<Self, CryptoError> {
        let raw = SecretBytes::random(algorithm.key_len()).map_err(|_| CryptoError::Internal)?;
        Self::from_bytes(algorithm, raw)
    }

    /// Loads a key from its raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when `raw` has the wrong length.
    pub fn from_bytes(algorithm: AeadAlgorithm, raw: SecretBytes) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(algorithm.algorithm(), raw.expose())
            .map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            algorithm,
            aead: LessSafeKey::new(unbound),
            raw,
        })
    }

    /// A ChaCha20-Poly1305 key from 32 raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when `raw` is not 32 bytes long.
    pub fn chacha20(raw: SecretBytes) -> Result<Self, CryptoError> {
        Self::from_bytes(AeadAlgorithm::Chacha20Poly1305, raw)
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// The raw key bytes, for sealing into storage.
    pub fn raw(&self) -> &SecretBytes {
        &self.raw
    }

    /// Encrypts `plaintext` under a fresh random nonce and returns
    /// `nonce || ciphertext || tag`.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when randomness or the primitive fails.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_nonce(&mut nonce)?;
        self.seal_with_nonce(nonce, plaintext, aad)
    }

    /// Encrypts under a nonce the caller guarantees is right for this message (a
    /// convergent nonce derived from the plaintext).
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the primitive fails.
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| CryptoError::Internal)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts a `nonce || ciphertext || tag` payload.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] when the payload is shorter than a nonce, and
    /// [`CryptoError::Authentication`] for every other failure.
    pub fn open(&self, payload: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Some((nonce, sealed)) = payload.split_first_chunk::<NONCE_LEN>() else {
            return Err(CryptoError::Truncated);
        };

        let mut buf = Zeroizing::new(sealed.to_vec());
        let plaintext_len = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CryptoError::Authentication)?
            .len();
        buf.truncate(plaintext_len);
        Ok(buf)
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AeadKey({:?}, ..)", self.algorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    #[test]
    fn seal_then_open_round_trips_with_vault_layout() {
        let key = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let payload = key.seal(b"SECRET\n", b"").unwrap();

        assert_eq!(payload.len(), NONCE_LEN + 7 + TAG_LEN);
        assert_eq!(&*key.open(&payload, b"").unwrap(), b"SECRET\n");
    }

    #[test]
    fn nonces_are_fresh_for_every_seal() {
        let key = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let a = key.seal(b"same", b"").unwrap();
        let b = key.seal(b"same", b"").unwrap();

        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn open_rejects_tampering_wrong_aad_and_short_payloads() {
        let key = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let mut payload = key.seal(b"data", b"context").unwrap();

        assert_eq!(
            key.open(&payload, b"other"),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            key.open(&payload[..5], b"context"),
            Err(CryptoError::Truncated)
        );
        assert_eq!(
            key.open(&payload[..20], b"context"),
            Err(CryptoError::Authentication)
        );

        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert_eq!(
            key.open(&payload, b"context"),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn aes_keys_round_trip_and_report_gos_failure_text() {
        for algorithm in [AeadAlgorithm::Aes128Gcm, AeadAlgorithm::Aes256Gcm] {
            let key = AeadKey::generate(algorithm).unwrap();
            assert_eq!(key.raw().len(), algorithm.key_len());
            let payload = key.seal(b"hello world", b"aad").unwrap();
            assert_eq!(payload.len(), 12 + 11 + 16);
            assert_eq!(&*key.open(&payload, b"aad").unwrap(), b"hello world");
            assert_eq!(key.open(&payload, b""), Err(CryptoError::Authentication));
            assert_eq!(
                algorithm.authentication_failure(),
                "cipher: message authentication failed"
            );
        }
    }

    #[test]
    fn rfc_8439_section_2_8_2_test_vector_opens() {
        // RFC 8439 §2.8.2: key, nonce, AAD and the sealed "Ladies and Gentlemen..." text.
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce = hex("070000004041424344454647");
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let ciphertext = hex(concat!(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
            "3ff4def08e4b7a9de576d26586cec64b6116",
        ));
        let tag = hex("1ae10b594f09e26a7e902ecbd0600691");

        let key = AeadKey::chacha20(SecretBytes::new(key)).unwrap();
        let payload = [nonce, ciphertext, tag].concat();
        let plaintext = key.open(&payload, &aad).unwrap();

        assert!(plaintext.starts_with(b"Ladies and Gentlemen of the class of '99"));
    }
}
