//! RSA keys, as Vault's `rsa-2048`, `rsa-3072` and `rsa-4096`.
//!
//! Vault encrypts with RSAES-OAEP (RFC 8017 §7.1), SHA-256 for both the digest and
//! MGF1, and an empty label; the payload is the raw modulus-sized ciphertext. Signing
//! is in [`super::rsa_signing`]. A key pair holds its public half as an
//! [`RsaPublicKey`], which also stands alone for versions imported without a private key.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use zeroize::Zeroizing;

use aws_lc_rs::signature::RsaKeyPair;

use super::hash::HashAlgorithm;
use super::rsa_signing::{self, RsaScheme, RsaSignError};
use super::{CryptoError, pem_encode};
use crate::secret::SecretBytes;

/// The public half of an RSA key, prepared for OAEP encryption and for verifying.
pub struct RsaPublicKey {
    oaep: OaepPublicEncryptingKey,
    /// PKIX `SubjectPublicKeyInfo` DER.
    der: Vec<u8>,
    pem: String,
}

impl RsaPublicKey {
    /// Loads a public key from its PKIX `SubjectPublicKeyInfo` DER.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when aws-lc-rs does not accept the key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PublicEncryptingKey::from_der(der).map_err(|_| CryptoError::MalformedKey)?;
        let oaep = OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            oaep,
            der: der.to_vec(),
            pem: pem_encode("PUBLIC KEY", der),
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// The PKIX `SubjectPublicKeyInfo` DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.der
    }

    /// The key as PKIX PEM with a trailing newline, as Vault shows it.
    pub fn public_pem(&self) -> &str {
        &self.pem
    }

    /// Encrypts `plaintext` with RSA-OAEP (SHA-256).
    ///
    /// # Errors
    /// [`CryptoError::MessageTooLong`] when the plaintext exceeds the modulus limit.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if plaintext.len() > self.oaep.max_plaintext_size(&OAEP_SHA256_MGF1SHA256) {
            return Err(CryptoError::MessageTooLong);
        }
        let mut out = vec![0u8; self.oaep.ciphertext_size()];
        let len = self
            .oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
            .map_err(|_| CryptoError::Internal)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// Whether a PSS salt of `n` bytes fits this key with `hash`.
    pub fn salt_fits(&self, hash: Option<HashAlgorithm>, n: usize) -> bool {
        rsa_signing::salt_fits(self.bits().div_ceil(8), hash, n)
    }

    /// Whether `signature` signs `digest` under this key.
    pub fn verify(
        &self,
        hash: Option<HashAlgorithm>,
        scheme: RsaScheme,
        digest: &[u8],
        signature: &[u8],
    ) -> bool {
        let modulus_len = self.bits().div_ceil(8);
        rsa_signing::verify(&self.der, modulus_len, hash, scheme, digest, signature)
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}

/// One RSA key pair, prepared for OAEP and for signing.
pub struct RsaKey {
    private: OaepPrivateDecryptingKey,
    public: RsaPublicKey,
    signing: RsaKeyPair,
    pkcs8: SecretBytes,
}

impl RsaKey {
    /// A fresh key with a modulus of `bits` (2048, 3072 or 4096).
    ///
    /// # Errors
    /// [`CryptoError::Internal`] for another size or a failed generation.
    pub fn generate(bits: usize) -> Result<Self, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::Internal),
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|_| CryptoError::Internal)?;
        let pkcs8: Pkcs8V1Der<'static> = key.as_der().map_err(|_| CryptoError::Internal)?;
        Self::from_pkcs8(SecretBytes::new(pkcs8.as_ref().to_vec()))
    }

    /// Loads a key from its PKCS#8 DER encoding.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the bytes are not an RSA PKCS#8 key.
    pub fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self, CryptoError> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8.expose())
            .map_err(|_| CryptoError::MalformedKey)?;
        let public_der: PublicKeyX509Der<'static> = key
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::MalformedKey)?;
        let public = RsaPublicKey::from_spki_der(public_der.as_ref())?;
        let private = OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError::MalformedKey)?;
        let signing =
            RsaKeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            private,
            public,
            signing,
            pkcs8,
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.private.key_size_bits()
    }

    /// The PKCS#8 encoding of the private key, for sealing into storage.
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The public key as PKIX PEM with a trailing newline, as Vault shows it.
    pub fn public_pem(&self) -> &str {
        self.public.public_pem()
    }

    /// The public half.
    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Encrypts `plaintext` with RSA-OAEP (SHA-256).
    ///
    /// # Errors
    /// [`CryptoError::MessageTooLong`] when the plaintext exceeds the modulus limit.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.public.encrypt(plaintext)
    }

    /// Decrypts an RSA-OAEP (SHA-256) ciphertext.
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] for any ciphertext that does not decrypt.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let len = self
            .private
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::Authentication)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

impl RsaKey {
    /// Signs `digest`, the output of `hash` (`None` for Vault's `none`).
    ///
    /// # Errors
    /// [`RsaSignError`] for a hash or salt length that cannot be used, or a digest of
    /// the wrong length.
    pub fn sign(
        &self,
        hash: Option<HashAlgorithm>,
        scheme: RsaScheme,
        digest: &[u8],
    ) -> Result<Vec<u8>, RsaSignError> {
        rsa_signing::sign(&self.signing, self.pkcs8.expose(), hash, scheme, digest)
    }

    /// Whether a PSS salt of `n` bytes fits this key with `hash`.
    pub fn salt_fits(&self, hash: Option<HashAlgorithm>, n: usize) -> bool {
        self.public.salt_fits(hash, n)
    }

    /// Whether `signature` signs `digest` under this key.
    pub fn verify(
        &self,
        hash: Option<HashAlgorithm>,
        scheme: RsaScheme,
        digest: &[u8],
        signature: &[u8],
    ) -> bool {
        self.public.verify(hash, scheme, digest, signature)
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits, ..)", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oaep_round_trips_and_limits_the_plaintext_like_vault() {
        let key = RsaKey::generate(2048).unwrap();
        let ciphertext = key.encrypt(b"hello world").unwrap();

        assert_eq!(ciphertext.len(), 256);
        assert_eq!(&*key.decrypt(&ciphertext).unwrap(), b"hello world");
        // k - 2*hLen - 2 = 256 - 66 = 190 bytes at most.
        assert!(key.encrypt(&[0u8; 190]).is_ok());
        assert_eq!(key.encrypt(&[0u8; 191]), Err(CryptoError::MessageTooLong));
        assert_eq!(
            key.decrypt(&ciphertext[1..]),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn keys_reload_from_pkcs8() {
        let key = RsaKey::generate(2048).unwrap();
        let again = RsaKey::from_pkcs8(key.pkcs8().clone()).unwrap();

        assert_eq!(again.public_pem(), key.public_pem());
        assert_eq!(&*again.decrypt(&key.encrypt(b"x").unwrap()).unwrap(), b"x");
        assert_eq!(again.bits(), 2048);
    }
}
