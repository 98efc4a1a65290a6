//! ECDSA over NIST P-256, signing caller-chosen digests as Vault does.
//!
//! Vault hashes the input with the requested algorithm and signs the digest, so a
//! P-256 key may sign a SHA-512 digest. ECDSA uses the leftmost bits of a digest up
//! to the bit length of the group order (SEC 1 v2 §4.1.3 step 5), so a longer digest
//! is truncated to 32 bytes and a shorter one is left-padded with zeros, which
//! keeps its integer value. Either way the result is a 32-byte value that aws-lc-rs
//! signs as a SHA-256-sized digest.

use std::fmt;

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, ParsedPublicKey,
};

use super::{CryptoError, pem_encode};
use crate::secret::SecretBytes;

/// Bytes in a P-256 field element and in the group order.
const SCALAR_LEN: usize = 32;

/// How a signature is encoded on the wire (`marshaling_algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marshaling {
    /// DER `SEQUENCE { r INTEGER, s INTEGER }`, Vault's default.
    Asn1,
    /// `r || s`, each 32 bytes big-endian (RFC 7518 §3.4), for JWS.
    Jws,
}

/// One P-256 key pair with its public key in the encodings the API shows.
pub struct EcdsaP256Key {
    asn1: EcdsaKeyPair,
    fixed: EcdsaKeyPair,
    pkcs8: SecretBytes,
    verifier_asn1: ParsedPublicKey,
    verifier_fixed: ParsedPublicKey,
    public_pem: String,
}

impl EcdsaP256Key {
    /// A fresh key pair.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when key generation fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| CryptoError::Internal)?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError::Internal)?;
        Self::from_pkcs8(SecretBytes::new(pkcs8.as_ref().to_vec()))
    }

    /// Loads a key pair from its PKCS#8 v1 DER encoding.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the bytes are not a P-256 PKCS#8 key.
    pub fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self, CryptoError> {
        let load = |alg| {
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.expose()).map_err(|_| CryptoError::MalformedKey)
        };
        let asn1 = load(&ECDSA_P256_SHA256_ASN1_SIGNING)?;
        let fixed = load(&ECDSA_P256_SHA256_FIXED_SIGNING)?;

        let public_der = asn1
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::MalformedKey)?;
        let public_der = public_der.as_ref();
        let point = asn1.public_key().as_ref();
        let verifier_asn1 = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .map_err(|_| CryptoError::MalformedKey)?;
        let verifier_fixed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .map_err(|_| CryptoError::MalformedKey)?;

        Ok(Self {
            asn1,
            fixed,
            pkcs8,
            verifier_asn1,
            verifier_fixed,
            public_pem: pem_encode("PUBLIC KEY", public_der),
        })
    }

    /// The PKCS#8 encoding of the private key, for sealing into storage.
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The public key as PKIX PEM with a trailing newline, as Vault shows it.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs a message digest of any length.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the primitive fails.
    pub fn sign_digest(
        &self,
        digest: &[u8],
        marshaling: Marshaling,
    ) -> Result<Vec<u8>, CryptoError> {
        let digest = order_sized_digest(digest)?;
        let pair = match marshaling {
            Marshaling::Asn1 => &self.asn1,
            Marshaling::Jws => &self.fixed,
        };
        let signature = pair
            .sign_digest(&digest)
            .map_err(|_| CryptoError::Internal)?;
        Ok(signature.as_ref().to_vec())
    }

    /// Checks a signature over a message digest; false for any mismatch or malformed
    /// signature.
    pub fn verify_digest(&self, digest: &[u8], signature: &[u8], marshaling: Marshaling) -> bool {
        let Ok(digest) = order_sized_digest(digest) else {
            return false;
        };
        let verifier = match marshaling {
            Marshaling::Asn1 => &self.verifier_asn1,
            Marshaling::Jws => &self.verifier_fixed,
        };
        verifier.verify_digest_sig(&digest, signature).is_ok()
    }
}

impl fmt::Debug for EcdsaP256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaP256Key(..)")
    }
}

/// Why an ASN.1 signature is refused before any verification, in Vault's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asn1Shape {
    /// Not a DER `SEQUENCE { INTEGER, INTEGER }`.
    Invalid,
    /// A valid sequence followed by more bytes.
    ExtraData,
}

/// Checks that `signature` is a DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3) with
/// minimally encoded integers and nothing after it, as Go's `asn1.Unmarshal` does
/// before Vault verifies.
///
/// # Errors
/// [`Asn1Shape`] saying what is wrong.
pub fn check_asn1_shape(signature: &[u8]) -> Result<(), Asn1Shape> {
    let (sequence, rest) = read_der(signature, 0x30).ok_or(Asn1Shape::Invalid)?;
    let (r, after_r) = read_der(sequence, 0x02).ok_or(Asn1Shape::Invalid)?;
    let (s, after_s) = read_der(after_r, 0x02).ok_or(Asn1Shape::Invalid)?;
    if !after_s.is_empty() || !is_minimal_integer(r) || !is_minimal_integer(s) {
        return Err(Asn1Shape::Invalid);
    }
    if !rest.is_empty() {
        return Err(Asn1Shape::ExtraData);
    }
    Ok(())
}

/// Reads one DER element with `tag`; returns its contents and what follows it.
fn read_der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, input) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, input) = input.split_first()?;
    let (len, input) = match len_byte {
        0..=0x7f => (usize::from(len_byte), input),
        0x81 => {
            let (&len, input) = input.split_first()?;
            // DER forbids the long form for lengths below 128.
            if len < 0x80 {
                return None;
            }
            (usize::from(len), input)
        }
        _ => return None,
    };
    (input.len() >= len).then(|| input.split_at(len))
}

fn is_minimal_integer(bytes: &[u8]) -> bool {
    match bytes {
        [] => false,
        [0x00, next, ..] => next & 0x80 != 0,
        [0xff, next, ..] => next & 0x80 == 0,
        _ => true,
    }
}

/// Maps a digest of any length to the 32-byte value ECDSA over P-256 signs.
fn order_sized_digest(digest: &[u8]) -> Result<Digest, CryptoError> {
    let mut sized = [0u8; SCALAR_LEN];
    if digest.len() >= SCALAR_LEN {
        sized.copy_from_slice(&digest[..SCALAR_LEN]);
    } else {
        sized[SCALAR_LEN - digest.len()..].copy_from_slice(digest);
    }
    Digest::import_less_safe(&sized, &SHA256).map_err(|_| CryptoError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash::HashAlgorithm;

    #[test]
    fn signatures_verify_for_every_sha2_digest_and_encoding() {
        let key = EcdsaP256Key::generate().unwrap();
        let algorithms = [
            HashAlgorithm::Sha2_224,
            HashAlgorithm::Sha2_256,
            HashAlgorithm::Sha2_384,
            HashAlgorithm::Sha2_512,
        ];
        for alg in algorithms {
            let digest = alg.digest(b"payload").unwrap();
            for marshaling in [Marshaling::Asn1, Marshaling::Jws] {
                let sig = key.sign_digest(digest.as_ref(), marshaling).unwrap();
                assert!(
                    key.verify_digest(digest.as_ref(), &sig, marshaling),
                    "{alg}"
                );

                let other = alg.digest(b"other payload").unwrap();
                assert!(
                    !key.verify_digest(other.as_ref(), &sig, marshaling),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn jws_signatures_are_64_raw_bytes() {
        let key = EcdsaP256Key::generate().unwrap();
        let digest = HashAlgorithm::Sha2_256.digest(b"jwt").unwrap();

        assert_eq!(
            key.sign_digest(digest.as_ref(), Marshaling::Jws)
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn key_reloads_from_pkcs8_with_the_same_public_key() {
        let key = EcdsaP256Key::generate().unwrap();
        let again = EcdsaP256Key::from_pkcs8(key.pkcs8().clone()).unwrap();

        assert_eq!(key.public_pem(), again.public_pem());
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(key.public_pem().ends_with("-----END PUBLIC KEY-----\n"));
    }

    #[test]
    fn asn1_shape_accepts_real_signatures_and_rejects_malformed_ones() {
        let key = EcdsaP256Key::generate().unwrap();
        let digest = HashAlgorithm::Sha2_256.digest(b"x").unwrap();
        let sig = key.sign_digest(digest.as_ref(), Marshaling::Asn1).unwrap();

        assert_eq!(check_asn1_shape(&sig), Ok(()));
        assert_eq!(
            check_asn1_shape(&[sig, vec![0]].concat()),
            Err(Asn1Shape::ExtraData)
        );
        assert_eq!(check_asn1_shape(&[]), Err(Asn1Shape::Invalid));
        assert_eq!(
            check_asn1_shape(b"hello world, not DER"),
            Err(Asn1Shape::Invalid)
        );
        assert_eq!(
            check_asn1_shape(&[0x30, 0x03, 0x02, 0x01, 0x01]),
            Err(Asn1Shape::Invalid)
        );
        // INTEGER 1 encoded with a needless leading zero.
        let padded = [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01];
        assert_eq!(check_asn1_shape(&padded), Err(Asn1Shape::Invalid));
        assert_eq!(
            check_asn1_shape(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]),
            Ok(())
        );
    }

    #[test]
    fn garbage_pkcs8_is_rejected() {
        let err = EcdsaP256Key::from_pkcs8(SecretBytes::new(vec![1, 2, 3])).unwrap_err();
        assert_eq!(err, CryptoError::MalformedKey);
    }
}
