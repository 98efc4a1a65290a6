//! The BYOK wrapping key and the unwrapping of imported key material.
//!
//! A client wraps key material for import as Vault's `CKM_RSA_AES_KEY_WRAP`
//! construction: a fresh 32-byte AES key is encrypted to the mount's RSA-4096
//! wrapping key with RSAES-OAEP (RFC 8017 §7.1; the named hash for both the digest
//! and MGF1, empty label), and the material itself is wrapped with that AES key by
//! AES Key Wrap with Padding (RFC 5649). The two are concatenated and base64-encoded.
//!
//! The error texts are the ones OpenBao answers with for each failure.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    OAEP_SHA512_MGF1SHA512, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use zeroize::Zeroizing;

use super::hash::HashAlgorithm;
use super::{CryptoError, awslc, pem_encode};
use crate::secret::SecretBytes;

/// Bytes of the OAEP part: the size of an RSA-4096 modulus.
pub const OAEP_LEN: usize = 512;

/// Bytes of the ephemeral AES-256 key inside the OAEP part.
const EPHEMERAL_KEY_LEN: usize = 32;

/// Smallest KWP input the unwrapper accepts: a 16-byte key wrapped with padding.
const MIN_KWP_LEN: usize = 24;

/// The OAEP hash a client wrapped with (`hash_function`, SHA256 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1.
    Sha1,
    /// SHA-224: not offered by aws-lc-rs for OAEP, so AWS-LC's C API decrypts it.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl OaepHash {
    /// The hash named `name`, case-insensitively, as Vault spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "SHA1" => Self::Sha1,
            "SHA224" => Self::Sha224,
            "SHA256" => Self::Sha256,
            "SHA384" => Self::Sha384,
            "SHA512" => Self::Sha512,
            _ => return None,
        })
    }

    /// The hash as the transit API names it.
    fn hash(self) -> HashAlgorithm {
        match self {
            Self::Sha1 => HashAlgorithm::Sha1,
            Self::Sha224 => HashAlgorithm::Sha2_224,
            Self::Sha256 => HashAlgorithm::Sha2_256,
            Self::Sha384 => HashAlgorithm::Sha2_384,
            Self::Sha512 => HashAlgorithm::Sha2_512,
        }
    }

    /// The aws-lc-rs algorithm; `None` for SHA-224, which aws-lc-rs does not offer.
    fn algorithm(self) -> Option<&'static OaepAlgorithm> {
        match self {
            Self::Sha1 => Some(&OAEP_SHA1_MGF1SHA1),
            Self::Sha224 => None,
            Self::Sha256 => Some(&OAEP_SHA256_MGF1SHA256),
            Self::Sha384 => Some(&OAEP_SHA384_MGF1SHA384),
            Self::Sha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

/// Why wrapped material did not unwrap; the texts are OpenBao's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    /// The whole blob is no longer than the OAEP part.
    #[error("provided ciphertext is too short")]
    TooShort,
    /// The OAEP part did not decrypt with the wrapping key and hash.
    #[error("crypto/rsa: decryption error")]
    Oaep,
    /// The OAEP part held something other than a 32-byte key.
    #[error("expected ephemeral AES key to be 256-bit")]
    EphemeralKeySize,
    /// The KWP part is shorter than any wrapped key.
    #[error("kwp: wrapped key size too small")]
    KwpTooSmall,
    /// The KWP part is not a whole number of 8-byte blocks.
    #[error("kwp: wrapped key size must be a multiple of 8 bytes")]
    KwpBlocks,
    /// The KWP part failed its integrity check.
    #[error("kwp: unwrap failed integrity check")]
    KwpIntegrity,
}

/// The mount's RSA-4096 wrapping key.
pub struct WrappingKey {
    private: OaepPrivateDecryptingKey,
    pkcs8: SecretBytes,
    public_pem: String,
}

impl WrappingKey {
    /// A fresh RSA-4096 key.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when generation fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let key =
            PrivateDecryptingKey::generate(KeySize::Rsa4096).map_err(|_| CryptoError::Internal)?;
        let pkcs8: Pkcs8V1Der<'static> = key.as_der().map_err(|_| CryptoError::Internal)?;
        Self::from_pkcs8(SecretBytes::new(pkcs8.as_ref().to_vec()))
    }

    /// Loads the key from its stored PKCS#8 DER encoding.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] unless the bytes hold an RSA-4096 key.
    pub fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self, CryptoError> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8.expose())
            .map_err(|_| CryptoError::MalformedKey)?;
        if key.key_size_bytes() != OAEP_LEN {
            return Err(CryptoError::MalformedKey);
        }
        let public_der: PublicKeyX509Der<'static> = key
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::MalformedKey)?;
        let private = OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            private,
            pkcs8,
            public_pem: pem_encode("PUBLIC KEY", public_der.as_ref()),
        })
    }

    /// The PKCS#8 encoding, for sealing into storage.
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The public key as PKIX PEM with a trailing newline.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The key material inside a decoded `ciphertext` wrapped with `hash`.
    ///
    /// # Errors
    /// [`UnwrapError`] with OpenBao's text for the step that failed.
    pub fn unwrap(&self, wrapped: &[u8], hash: OaepHash) -> Result<SecretBytes, UnwrapError> {
        if wrapped.len() <= OAEP_LEN {
            return Err(UnwrapError::TooShort);
        }
        let (oaep, kwp) = wrapped.split_at(OAEP_LEN);
        let ephemeral = self.decrypt_oaep(oaep, hash)?;
        if ephemeral.len() != EPHEMERAL_KEY_LEN {
            return Err(UnwrapError::EphemeralKeySize);
        }

        if kwp.len() < MIN_KWP_LEN {
            return Err(UnwrapError::KwpTooSmall);
        }
        if kwp.len() % 8 != 0 {
            return Err(UnwrapError::KwpBlocks);
        }
        let kek = AesKek::new(&AES_256, &ephemeral[..EPHEMERAL_KEY_LEN])
            .map_err(|_| UnwrapError::KwpIntegrity)?;
        let mut target = Zeroizing::new(vec![0u8; kwp.len()]);
        let len = kek
            .unwrap_with_padding(kwp, &mut target)
            .map_err(|_| UnwrapError::KwpIntegrity)?
            .len();
        Ok(SecretBytes::new(target[..len].to_vec()))
    }
}

impl WrappingKey {
    /// The ephemeral AES key inside the OAEP part: aws-lc-rs decrypts the hashes it
    /// offers for OAEP, AWS-LC's C API the others (SHA-224).
    fn decrypt_oaep(&self, oaep: &[u8], hash: OaepHash) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let Some(algorithm) = hash.algorithm() else {
            return awslc::rsa_oaep_decrypt(self.pkcs8.expose(), hash.hash(), oaep)
                .map_err(|_| UnwrapError::Oaep);
        };
        let mut ephemeral = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let len = self
            .private
            .decrypt(algorithm, oaep, &mut ephemeral, None)
            .map_err(|_| UnwrapError::Oaep)?
            .len();
        ephemeral.truncate(len);
        Ok(ephemeral)
    }
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_names_are_case_insensitive() {
        assert_eq!(OaepHash::from_name("sha384"), Some(OaepHash::Sha384));
        assert_eq!(OaepHash::from_name("SHA1"), Some(OaepHash::Sha1));
        assert_eq!(OaepHash::from_name("md5"), None);
    }

    #[test]
    fn blobs_no_longer_than_the_oaep_part_are_too_short() {
        // An RSA-4096 key takes a while to generate; one serves every check here.
        let key = WrappingKey::generate().unwrap();
        assert!(key.public_pem().ends_with("-----END PUBLIC KEY-----\n"));
        assert_eq!(
            key.unwrap(&[0u8; OAEP_LEN], OaepHash::Sha256),
            Err(UnwrapError::TooShort)
        );
        assert_eq!(
            key.unwrap(&[1u8; OAEP_LEN + 24], OaepHash::Sha256),
            Err(UnwrapError::Oaep)
        );
        let again = WrappingKey::from_pkcs8(key.pkcs8().clone()).unwrap();
        assert_eq!(again.public_pem(), key.public_pem());
    }
}
