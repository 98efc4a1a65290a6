//! Encryption and decryption with a named key's version, as Vault does them.
//!
//! This is where the key-level options meet the algorithms: derived keys get a
//! per-context key (HKDF), convergent keys a deterministic nonce, AEAD keys take
//! associated data, and RSA keys use OAEP. The texts of [`CipherError`] are Vault's.

use zeroize::Zeroizing;

use super::key::{KeyMaterial, KeyVersion, NamedKey};
use crate::crypto::aead::{AeadAlgorithm, AeadKey};
use crate::crypto::kdf::{self, CONVERGENT_MAC_LEN, Kdf};
use crate::crypto::public::PublicKey;
use crate::crypto::rsa::RsaPublicKey;
use crate::crypto::{CryptoError, KeyType};
use crate::secret::SecretBytes;

/// Why an encryption or decryption failed, in Vault's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// A derived key was used without a `context`.
    #[error(
        "missing 'context' for key derivation; the key was created using a derived key, which \
         means additional, per-request information must be included in order to perform \
         operations with the key"
    )]
    MissingContext,
    /// The key type cannot encrypt.
    #[error("message encryption not supported for key type {0}")]
    EncryptionNotSupported(KeyType),
    /// The key type cannot decrypt.
    #[error("message decryption not supported for key type {0}")]
    DecryptionNotSupported(KeyType),
    /// Associated data was given for an RSA key.
    #[error("'[0].associated_data' provided for non-AEAD cipher suite {0}")]
    AssociatedDataNotSupported(KeyType),
    /// The payload is shorter than a nonce.
    #[error("invalid ciphertext length")]
    Truncated,
    /// An AEAD payload did not authenticate.
    #[error("{}", .0.authentication_failure())]
    Authentication(AeadAlgorithm),
    /// An RSA plaintext is longer than the key allows (an internal error in Vault).
    #[error("failed to RSA encrypt the plaintext: crypto/rsa: message too long for RSA key size")]
    RsaTooLong,
    /// An RSA ciphertext did not decrypt (an internal error in Vault).
    #[error("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error")]
    RsaDecrypt,
    /// An RSA version imported without its private half (an internal error in Vault).
    #[error("cannot decrypt ciphertext, key version does not have a private counterpart")]
    NoPrivateHalf,
    /// Decryption with a counter-KDF key shorter than the KDF's 32-byte block (an
    /// internal error in Vault, which encrypts with the same key but cannot decrypt).
    #[error("could not derive enc key, length not correct")]
    DerivedKeyLength,
    /// A primitive failed.
    #[error("cryptographic operation failed")]
    Internal,
}

impl CipherError {
    /// Whether Vault reports this error as a client mistake (400) rather than an
    /// internal error (500).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::RsaTooLong
                | Self::RsaDecrypt
                | Self::NoPrivateHalf
                | Self::DerivedKeyLength
                | Self::Internal
        )
    }
}

impl From<CryptoError> for CipherError {
    fn from(_: CryptoError) -> Self {
        Self::Internal
    }
}

/// Encrypts `plaintext` under `version` of `key`.
///
/// # Errors
/// [`CipherError`] with Vault's reason.
pub fn encrypt(
    key: &NamedKey,
    version: &KeyVersion,
    plaintext: &[u8],
    context: Option<&[u8]>,
    aad: Option<&[u8]>,
) -> Result<Vec<u8>, CipherError> {
    match &version.material {
        KeyMaterial::Aead(base) => {
            let aad = aad.unwrap_or_default();
            if !key.derived {
                return Ok(base.seal(plaintext, aad)?);
            }
            let context = context.ok_or(CipherError::MissingContext)?;
            if !key.convergent {
                return Ok(derived_key(base, key.kdf, context)?.seal(plaintext, aad)?);
            }

            let derived = kdf::derive(
                base.raw().expose(),
                context,
                base.algorithm().key_len() + CONVERGENT_MAC_LEN,
            )?;
            let (enc, mac) = derived.expose().split_at(base.algorithm().key_len());
            let cipher = AeadKey::from_bytes(base.algorithm(), SecretBytes::new(enc.to_vec()))?;
            let nonce = kdf::convergent_nonce(mac, plaintext);
            Ok(cipher.seal_with_nonce(nonce, plaintext, aad)?)
        }
        KeyMaterial::Rsa(rsa) => rsa_encrypt(key, rsa.public(), plaintext, aad),
        // Vault encrypts with an RSA version that has only its public half.
        KeyMaterial::Public(public) => match public.as_ref() {
            PublicKey::Rsa(rsa) => rsa_encrypt(key, rsa, plaintext, aad),
            PublicKey::Ecdsa(_) | PublicKey::Ed25519(_) => {
                Err(CipherError::EncryptionNotSupported(key.key_type))
            }
        },
        KeyMaterial::Ecdsa(_) | KeyMaterial::Ed25519(_) | KeyMaterial::Hmac(_) => {
            Err(CipherError::EncryptionNotSupported(key.key_type))
        }
    }
}

/// Decrypts a payload made by [`encrypt`] under `version` of `key`.
///
/// # Errors
/// [`CipherError`] with Vault's reason; nothing says why authentication failed.
pub fn decrypt(
    key: &NamedKey,
    version: &KeyVersion,
    payload: &[u8],
    context: Option<&[u8]>,
    aad: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    match &version.material {
        KeyMaterial::Aead(base) => {
            let derived;
            let cipher = if key.derived {
                let context = context.ok_or(CipherError::MissingContext)?;
                if key.kdf == Kdf::HmacSha256Counter
                    && base.algorithm().key_len() != kdf::COUNTER_KDF_LEN
                {
                    return Err(CipherError::DerivedKeyLength);
                }
                derived = derived_key(base, key.kdf, context)?;
                &derived
            } else {
                base
            };
            cipher
                .open(payload, aad.unwrap_or_default())
                .map_err(|e| match e {
                    CryptoError::Truncated => CipherError::Truncated,
                    _ => CipherError::Authentication(base.algorithm()),
                })
        }
        KeyMaterial::Rsa(rsa) => {
            if aad.is_some() {
                return Err(CipherError::AssociatedDataNotSupported(key.key_type));
            }
            rsa.decrypt(payload).map_err(|_| CipherError::RsaDecrypt)
        }
        KeyMaterial::Public(public) => match public.as_ref() {
            PublicKey::Rsa(_) => Err(CipherError::NoPrivateHalf),
            PublicKey::Ecdsa(_) | PublicKey::Ed25519(_) => {
                Err(CipherError::DecryptionNotSupported(key.key_type))
            }
        },
        KeyMaterial::Ecdsa(_) | KeyMaterial::Ed25519(_) | KeyMaterial::Hmac(_) => {
            Err(CipherError::DecryptionNotSupported(key.key_type))
        }
    }
}

/// RSA-OAEP under a key pair's public half or a public half alone.
fn rsa_encrypt(
    key: &NamedKey,
    rsa: &RsaPublicKey,
    plaintext: &[u8],
    aad: Option<&[u8]>,
) -> Result<Vec<u8>, CipherError> {
    if aad.is_some() {
        return Err(CipherError::AssociatedDataNotSupported(key.key_type));
    }
    rsa.encrypt(plaintext).map_err(|e| match e {
        CryptoError::MessageTooLong => CipherError::RsaTooLong,
        _ => CipherError::Internal,
    })
}

/// The per-context key of a derived AEAD key: the first `key_len` bytes of the KDF.
fn derived_key(base: &AeadKey, kdf: Kdf, context: &[u8]) -> Result<AeadKey, CryptoError> {
    let algorithm = base.algorithm();
    let bytes = match kdf {
        Kdf::Hkdf => kdf::derive(base.raw().expose(), context, algorithm.key_len())?,
        Kdf::HmacSha256Counter => {
            let block = kdf::derive_counter(base.raw().expose(), context);
            SecretBytes::new(block.expose()[..algorithm.key_len()].to_vec())
        }
    };
    AeadKey::from_bytes(algorithm, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn key(key_type: KeyType, derived: bool, convergent: bool) -> NamedKey {
        let mut key = NamedKey::generate("k", key_type, OffsetDateTime::UNIX_EPOCH).unwrap();
        key.derived = derived;
        key.convergent = convergent;
        key
    }

    fn v1(key: &NamedKey) -> &KeyVersion {
        &key.versions[&1]
    }

    /// Known answers from a live OpenBao 2.7.2; the fixture names its source.
    const OPENBAO_VECTORS: &str =
        include_str!("../../tests/data/openbao-2.7.2-encryption-vectors.json");

    struct Vector {
        key: NamedKey,
        context: Option<Vec<u8>>,
        aad: Option<Vec<u8>>,
        plaintext: Vec<u8>,
        payload: Vec<u8>,
    }

    fn vectors(group: &str, derived: bool, convergent: bool) -> Vec<Vector> {
        let all: serde_json::Value = serde_json::from_str(OPENBAO_VECTORS).unwrap();
        let b64 = |v: &serde_json::Value| crate::encoding::decode_std(v.as_str().unwrap()).unwrap();
        all[group]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let key_type = KeyType::from_vault_name(v["type"].as_str().unwrap()).unwrap();
                let mut key =
                    NamedKey::generate("k", key_type, OffsetDateTime::UNIX_EPOCH).unwrap();
                let material = crate::keyring::key::KeyMaterial::from_stored(
                    key_type,
                    SecretBytes::new(b64(&v["key"])),
                )
                .unwrap();
                let version = crate::keyring::key::KeyVersion {
                    created: OffsetDateTime::UNIX_EPOCH,
                    material,
                    hmac_key: SecretBytes::new(vec![0; 32]),
                };
                key.versions.insert(1, std::sync::Arc::new(version));
                key.derived = derived;
                key.convergent = convergent;
                let payload = v["ciphertext"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("vault:v1:");
                Vector {
                    key,
                    context: v.get("context").map(b64),
                    aad: v.get("associated_data").map(b64),
                    plaintext: b64(&v["plaintext"]),
                    payload: crate::encoding::decode_std(payload).unwrap(),
                }
            })
            .collect()
    }

    #[test]
    fn openbao_ciphertexts_decrypt_for_derived_aad_and_datakey_vectors() {
        let groups = [
            ("derived", true),
            ("associated_data", false),
            ("datakey", false),
        ];
        for (group, derived) in groups {
            for v in vectors(group, derived, false) {
                let plaintext = decrypt(
                    &v.key,
                    v1(&v.key),
                    &v.payload,
                    v.context.as_deref(),
                    v.aad.as_deref(),
                )
                .unwrap_or_else(|e| panic!("{group}: {e}"));
                assert_eq!(&*plaintext, v.plaintext.as_slice(), "{group}");
            }
        }
    }

    #[test]
    fn convergent_encryption_matches_openbao_byte_for_byte() {
        for v in vectors("convergent", true, true) {
            let payload =
                encrypt(&v.key, v1(&v.key), &v.plaintext, v.context.as_deref(), None).unwrap();
            assert_eq!(payload, v.payload);
        }
    }

    #[test]
    fn every_encryption_type_round_trips() {
        for key_type in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::Chacha20Poly1305,
            KeyType::Rsa2048,
        ] {
            let key = key(key_type, false, false);
            let payload = encrypt(&key, v1(&key), b"hello", None, None).unwrap();
            assert_eq!(
                &*decrypt(&key, v1(&key), &payload, None, None).unwrap(),
                b"hello"
            );
        }
    }

    #[test]
    fn derived_keys_need_the_same_context_to_decrypt() {
        let key = key(KeyType::Aes256Gcm96, true, false);
        assert_eq!(
            encrypt(&key, v1(&key), b"x", None, None),
            Err(CipherError::MissingContext)
        );

        let payload = encrypt(&key, v1(&key), b"x", Some(b"ctx"), None).unwrap();
        assert_eq!(
            &*decrypt(&key, v1(&key), &payload, Some(b"ctx"), None).unwrap(),
            b"x"
        );
        assert_eq!(
            decrypt(&key, v1(&key), &payload, Some(b"other"), None),
            Err(CipherError::Authentication(AeadAlgorithm::Aes256Gcm))
        );
    }

    #[test]
    fn convergent_encryption_is_deterministic_per_context_and_plaintext() {
        let key = key(KeyType::Chacha20Poly1305, true, true);
        let a = encrypt(&key, v1(&key), b"same", Some(b"ctx"), None).unwrap();
        let b = encrypt(&key, v1(&key), b"same", Some(b"ctx"), None).unwrap();
        let c = encrypt(&key, v1(&key), b"same", Some(b"ctx2"), None).unwrap();
        let d = encrypt(&key, v1(&key), b"diff", Some(b"ctx"), None).unwrap();

        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a[..12], d[..12]);
        assert_eq!(
            &*decrypt(&key, v1(&key), &a, Some(b"ctx"), None).unwrap(),
            b"same"
        );
    }

    #[test]
    fn rsa_refuses_associated_data_and_reports_failures_as_vault() {
        let key = key(KeyType::Rsa2048, false, false);
        let err = encrypt(&key, v1(&key), b"x", None, Some(b"ad")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'[0].associated_data' provided for non-AEAD cipher suite rsa-2048"
        );
        let err = decrypt(&key, v1(&key), b"garbage", None, None).unwrap_err();
        assert!(!err.is_client_error());
    }

    #[test]
    fn signing_keys_cannot_encrypt() {
        let key = key(KeyType::EcdsaP256, false, false);
        let err = encrypt(&key, v1(&key), b"x", None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "message encryption not supported for key type ecdsa-p256"
        );
    }
}
