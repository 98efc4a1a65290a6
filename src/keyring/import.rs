//! Imported key material: checking unwrapped bytes against the key type, and the
//! keyring's wrapping key that the material arrives under.
//!
//! Symmetric and `hmac` keys arrive as raw bytes; key pairs as PKCS#8 DER. What a
//! PKCS#8 blob holds is found out by trying each algorithm, so that a mismatch is
//! named as OpenBao names it (with Go's type names, which are part of its texts).
//! Signing keys may also arrive as a public key alone (PEM, see
//! [`crate::crypto::public`]), and such a version may later get its private half.

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rsa::PrivateDecryptingKey;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, Ed25519KeyPair,
};

use std::sync::Arc;

use super::key::{HMAC_KEY_SIZES, KeyMaterial};
use super::{Keyring, KeyringError, stored};
use crate::barrier::Barrier;
use crate::crypto::KeyType;
use crate::crypto::ecdsa::Curve;
use crate::crypto::public::PublicKey;
use crate::crypto::wrap::WrappingKey;
use crate::secret::SecretBytes;

/// Storage path of the BYOK wrapping key: outside `keys/`, so no key name reaches it.
const WRAPPING_KEY_PATH: &str = "core/wrapping-key";

impl Keyring {
    /// The BYOK wrapping key: loaded from storage, or generated and stored on first
    /// use. Concurrent first calls agree on one key, across processes too.
    ///
    /// # Errors
    /// [`KeyringError`] when generation or storage fails, or the stored key is bad.
    pub async fn wrapping_key(&self) -> Result<Arc<WrappingKey>, KeyringError> {
        self.wrapping_key
            .get_or_try_init(|| async {
                let barrier = self.barrier.clone();
                tokio::task::spawn_blocking(move || Self::load_wrapping_key(&barrier))
                    .await
                    .map_err(|_| KeyringError::WriteTask)?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    fn load_wrapping_key(barrier: &Barrier) -> Result<WrappingKey, KeyringError> {
        let corrupt = || KeyringError::Corrupt {
            name: WRAPPING_KEY_PATH.to_owned(),
            source: stored::DecodeError::Material(1),
        };
        if let Some(bytes) = barrier.get(WRAPPING_KEY_PATH)? {
            return WrappingKey::from_pkcs8(SecretBytes::new(bytes.to_vec()))
                .map_err(|_| corrupt());
        }
        let key = WrappingKey::generate()?;
        if barrier.put_if_absent(WRAPPING_KEY_PATH, key.pkcs8().expose())? {
            return Ok(key);
        }
        let bytes = barrier.get(WRAPPING_KEY_PATH)?.ok_or_else(corrupt)?;
        WrappingKey::from_pkcs8(SecretBytes::new(bytes.to_vec())).map_err(|_| corrupt())
    }
}

/// What a PKCS#8 private key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Ecdsa(Curve),
    Ed25519,
    /// An RSA key with a modulus of this many bytes.
    Rsa(usize),
}

impl Found {
    /// The Go type OpenBao names in its mismatch texts.
    fn go_type(self) -> &'static str {
        match self {
            Found::Ecdsa(_) => "*ecdsa.PrivateKey",
            Found::Ed25519 => "ed25519.PrivateKey",
            Found::Rsa(_) => "*rsa.PrivateKey",
        }
    }
}

fn identify(pkcs8: &[u8]) -> Option<Found> {
    for (curve, algorithm) in [
        (Curve::P256, &ECDSA_P256_SHA256_ASN1_SIGNING),
        (Curve::P384, &ECDSA_P384_SHA384_ASN1_SIGNING),
        (Curve::P521, &ECDSA_P521_SHA512_ASN1_SIGNING),
    ] {
        if EcdsaKeyPair::from_pkcs8(algorithm, pkcs8).is_ok() {
            return Some(Found::Ecdsa(curve));
        }
    }
    if Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).is_ok() {
        return Some(Found::Ed25519);
    }
    PrivateDecryptingKey::from_pkcs8(pkcs8)
        .ok()
        .map(|key| Found::Rsa(key.key_size_bytes()))
}

/// Loads unwrapped `bytes` as a version of `key_type`.
///
/// # Errors
/// OpenBao's message (without its `error importing key: ` prefix) when the bytes do
/// not fit the type.
pub fn material(key_type: KeyType, bytes: SecretBytes) -> Result<KeyMaterial, String> {
    let size = bytes.len();
    let wrong_size = || format!("invalid key size {size} bytes for key type {key_type}");
    if key_type == KeyType::Hmac {
        if !HMAC_KEY_SIZES.contains(&size) {
            return Err(wrong_size());
        }
        return Ok(KeyMaterial::Hmac(bytes));
    }
    if let Some(algorithm) = key_type.aead() {
        if size != algorithm.key_len() {
            return Err(wrong_size());
        }
        return KeyMaterial::from_stored(key_type, bytes).map_err(|_| wrong_size());
    }

    let Some(found) = identify(bytes.expose()) else {
        return Err("error parsing asymmetric key: not a PKCS#8 private key".to_owned());
    };
    let wrong_type = || {
        format!(
            "invalid key type: expected {key_type}, got {}",
            found.go_type()
        )
    };
    let unusable = |_| "error parsing asymmetric key: unusable private key".to_owned();
    match (key_type.curve(), key_type.rsa_bits(), found) {
        (Some(curve), _, Found::Ecdsa(got)) if got == curve => {
            KeyMaterial::from_stored(key_type, bytes).map_err(unusable)
        }
        (Some(curve), _, Found::Ecdsa(got)) => Err(format!(
            "invalid curve: expected {}, got {}",
            curve.name(),
            got.name()
        )),
        (_, Some(bits), Found::Rsa(got)) if got == bits / 8 => {
            KeyMaterial::from_stored(key_type, bytes).map_err(unusable)
        }
        (_, Some(bits), Found::Rsa(got)) => Err(format!(
            "invalid key size: expected {} bytes, got {got} bytes",
            bits / 8
        )),
        _ if key_type == KeyType::Ed25519 && found == Found::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes.expose())
                .map_err(|_| wrong_type())?;
            let seed = pair
                .seed()
                .and_then(|seed| seed.as_be_bytes())
                .map_err(|_| wrong_type())?;
            let seed = SecretBytes::new(seed.as_ref().to_vec());
            KeyMaterial::from_stored(key_type, seed).map_err(unusable)
        }
        _ => Err(wrong_type()),
    }
}

/// Loads a PEM public key as a version of `key_type` without its private half.
///
/// # Errors
/// OpenBao's message (without its `error importing key: ` prefix) when the text is
/// not a public key of the type.
pub fn public_material(key_type: KeyType, pem: &str) -> Result<KeyMaterial, String> {
    PublicKey::from_pem(key_type, pem).map(|key| KeyMaterial::Public(Box::new(key)))
}

/// Loads unwrapped `bytes` as the private half of the public-only version `public`
/// of a `key_type` key.
///
/// # Errors
/// OpenBao's message when the bytes are not a PKCS#8 key, or not the private key of
/// `public` (a key of another type or curve is a pair that does not match, as in
/// OpenBao, which compares the public halves before it checks the type).
pub fn private_half(
    key_type: KeyType,
    public: &PublicKey,
    bytes: SecretBytes,
) -> Result<KeyMaterial, String> {
    let Some(found) = identify(bytes.expose()) else {
        return Err("error parsing asymmetric key: not a PKCS#8 private key".to_owned());
    };
    // OpenBao reads the stored public key in the form its own type keeps (a PEM for
    // ECDSA, base64 for Ed25519, numbers for RSA) and fails on the other forms.
    match (found, public) {
        (Found::Ecdsa(_), PublicKey::Ed25519(_) | PublicKey::Rsa(_)) => {
            return Err("failed to parse key entry public key: invalid PEM blob".to_owned());
        }
        (Found::Ed25519, PublicKey::Ecdsa(_)) => {
            return Err(
                "failed to parse key entry public key: illegal base64 data at input byte 0"
                    .to_owned(),
            );
        }
        _ => {}
    }
    let mismatch = || "cannot import key, key pair does not match".to_owned();
    let material = material(key_type, bytes).map_err(|_| mismatch())?;
    if material.public_spki_der() != Some(public.spki_der()) {
        return Err(mismatch());
    }
    Ok(material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ecdsa::EcdsaKey;

    #[test]
    fn raw_keys_must_have_the_types_size() {
        let err = material(KeyType::Aes256Gcm96, SecretBytes::new(vec![0; 16])).unwrap_err();
        assert_eq!(err, "invalid key size 16 bytes for key type aes256-gcm96");
        let err = material(KeyType::Hmac, SecretBytes::new(vec![0; 31])).unwrap_err();
        assert_eq!(err, "invalid key size 31 bytes for key type hmac");
        assert!(material(KeyType::Hmac, SecretBytes::new(vec![0; 48])).is_ok());
    }

    #[test]
    fn key_pairs_of_another_curve_or_type_are_named() {
        let p384 = EcdsaKey::generate(Curve::P384).unwrap();
        let err = material(KeyType::EcdsaP256, p384.pkcs8().clone()).unwrap_err();
        assert_eq!(err, "invalid curve: expected P-256, got P-384");
        let err = material(KeyType::Ed25519, p384.pkcs8().clone()).unwrap_err();
        assert_eq!(
            err,
            "invalid key type: expected ed25519, got *ecdsa.PrivateKey"
        );
        assert!(material(KeyType::EcdsaP384, p384.pkcs8().clone()).is_ok());
    }

    #[test]
    fn a_private_half_must_match_its_public_half() {
        let pair = EcdsaKey::generate(Curve::P256).unwrap();
        let public = PublicKey::from_pem(KeyType::EcdsaP256, pair.public_pem()).unwrap();
        let filled = private_half(KeyType::EcdsaP256, &public, pair.pkcs8().clone()).unwrap();
        assert!(matches!(filled, KeyMaterial::Ecdsa(_)));

        let other = EcdsaKey::generate(Curve::P256).unwrap();
        let err = private_half(KeyType::EcdsaP256, &public, other.pkcs8().clone()).unwrap_err();
        assert_eq!(err, "cannot import key, key pair does not match");
        let p384 = EcdsaKey::generate(Curve::P384).unwrap();
        let err = private_half(KeyType::EcdsaP256, &public, p384.pkcs8().clone()).unwrap_err();
        assert_eq!(err, "cannot import key, key pair does not match");
    }
}
