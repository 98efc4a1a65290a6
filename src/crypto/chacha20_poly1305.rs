//! ChaCha20-Poly1305 (RFC 8439) with Vault's ciphertext layout.
//!
//! A sealed payload is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, exactly
//! as Vault lays out its `chacha20-poly1305` ciphertexts, so payloads move between
//! the two servers unchanged. Nonces are 96 random bits from the OS CSPRNG.

use std::fmt;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::{CryptoError, fill_random};
use crate::secret::SecretBytes;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;

/// Authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// One ChaCha20-Poly1305 key, ready to seal and open.
pub struct ChaChaKey {
    aead: LessSafeKey,
    raw: SecretBytes,
}

impl ChaChaKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the OS has no randomness to give.
    pub fn generate() -> Result<Self, CryptoError> {
        let raw = SecretBytes::random(KEY_LEN).map_err(|_| CryptoError::Internal)?;
        Self::from_bytes(raw)
    }

    /// Loads a key from its 32 raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when `raw` is not 32 bytes long.
    pub fn from_bytes(raw: SecretBytes) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, raw.expose())
            .map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            aead: LessSafeKey::new(unbound),
            raw,
        })
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
        fill_random(&mut nonce)?;

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

impl fmt::Debug for ChaChaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChaChaKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_with_vault_layout() {
        let key = ChaChaKey::generate().unwrap();
        let payload = key.seal(b"SECRET\n", b"").unwrap();

        assert_eq!(payload.len(), NONCE_LEN + 7 + TAG_LEN);
        assert_eq!(&*key.open(&payload, b"").unwrap(), b"SECRET\n");
    }

    #[test]
    fn nonces_are_fresh_for_every_seal() {
        let key = ChaChaKey::generate().unwrap();
        let a = key.seal(b"same", b"").unwrap();
        let b = key.seal(b"same", b"").unwrap();

        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn open_rejects_tampering_wrong_aad_and_short_payloads() {
        let key = ChaChaKey::generate().unwrap();
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

        let key = ChaChaKey::from_bytes(SecretBytes::new(key)).unwrap();
        let payload = [nonce, ciphertext, tag].concat();
        let plaintext = key.open(&payload, &aad).unwrap();

        assert!(plaintext.starts_with(b"Ladies and Gentlemen of the class of '99"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
