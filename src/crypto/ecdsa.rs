//! ECDSA over NIST P-256, P-384 and P-521, signing caller-chosen digests as Vault
//! does.
//!
//! Vault hashes the input with the requested algorithm and signs the digest, so a
//! P-256 key may sign a SHA-512 digest. ECDSA uses the leftmost bits of a digest up
//! to the bit length of the group order (SEC 1 v2 §4.1.3 step 5), so a longer digest
//! is truncated to the order's size and a shorter one is left-padded with zeros,
//! which keeps its integer value. Either way the result has the length of the hash
//! aws-lc-rs pairs with the curve, and is signed as such a digest.

use std::fmt;

use aws_lc_rs::digest::{Algorithm, Digest, SHA256, SHA384, SHA512};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING,
    ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, ECDSA_P521_SHA512_ASN1,
    ECDSA_P521_SHA512_ASN1_SIGNING, ECDSA_P521_SHA512_FIXED, ECDSA_P521_SHA512_FIXED_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair, ParsedPublicKey,
};

use super::{CryptoError, pem_encode};
use crate::secret::SecretBytes;

/// How a signature is encoded on the wire (`marshaling_algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marshaling {
    /// DER `SEQUENCE { r INTEGER, s INTEGER }`, Vault's default.
    Asn1,
    /// `r || s`, each left-padded to the coordinate size (RFC 7518 §3.4), for JWS.
    Jws,
}

/// The NIST curves Vault signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (`ecdsa-p256`).
    P256,
    /// P-384 (`ecdsa-p384`).
    P384,
    /// P-521 (`ecdsa-p521`).
    P521,
}

impl Curve {
    /// The curve's name as a key read shows it.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn signing(self, marshaling: Marshaling) -> &'static EcdsaSigningAlgorithm {
        match (self, marshaling) {
            (Curve::P256, Marshaling::Asn1) => &ECDSA_P256_SHA256_ASN1_SIGNING,
            (Curve::P256, Marshaling::Jws) => &ECDSA_P256_SHA256_FIXED_SIGNING,
            (Curve::P384, Marshaling::Asn1) => &ECDSA_P384_SHA384_ASN1_SIGNING,
            (Curve::P384, Marshaling::Jws) => &ECDSA_P384_SHA384_FIXED_SIGNING,
            (Curve::P521, Marshaling::Asn1) => &ECDSA_P521_SHA512_ASN1_SIGNING,
            (Curve::P521, Marshaling::Jws) => &ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn verification(self, marshaling: Marshaling) -> &'static EcdsaVerificationAlgorithm {
        match (self, marshaling) {
            (Curve::P256, Marshaling::Asn1) => &ECDSA_P256_SHA256_ASN1,
            (Curve::P256, Marshaling::Jws) => &ECDSA_P256_SHA256_FIXED,
            (Curve::P384, Marshaling::Asn1) => &ECDSA_P384_SHA384_ASN1,
            (Curve::P384, Marshaling::Jws) => &ECDSA_P384_SHA384_FIXED,
            (Curve::P521, Marshaling::Asn1) => &ECDSA_P521_SHA512_ASN1,
            (Curve::P521, Marshaling::Jws) => &ECDSA_P521_SHA512_FIXED,
        }
    }

    /// The hash aws-lc-rs pairs with the curve, which fixes the digest length.
    fn digest_algorithm(self) -> &'static Algorithm {
        match self {
            Curve::P256 => &SHA256,
            Curve::P384 => &SHA384,
            Curve::P521 => &SHA512,
        }
    }

    /// Bytes of a field element (SEC 1 §2.3.5); a point holds two.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// Bytes of the group order, to which longer digests are cut. P-521's order has
    /// 521 bits, more than any digest here, so its digests are never cut.
    fn order_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// An ECDSA public key, prepared to verify both signature encodings: the public half
/// of a key pair, or on its own a version imported without a private key.
pub struct EcdsaPublicKey {
    curve: Curve,
    asn1: ParsedPublicKey,
    fixed: ParsedPublicKey,
    /// PKIX `SubjectPublicKeyInfo` DER.
    der: Vec<u8>,
    pem: String,
}

impl EcdsaPublicKey {
    /// Loads the public key `point` (SEC 1 uncompressed encoding) on `curve`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the point is not on the curve.
    pub fn from_point(curve: Curve, point: &[u8]) -> Result<Self, CryptoError> {
        let parse = |marshaling| {
            ParsedPublicKey::new(curve.verification(marshaling), point)
                .map_err(|_| CryptoError::MalformedKey)
        };
        let asn1 = parse(Marshaling::Asn1)?;
        let der = asn1.as_der().map_err(|_| CryptoError::MalformedKey)?;
        Ok(Self {
            curve,
            fixed: parse(Marshaling::Jws)?,
            der: der.as_ref().to_vec(),
            pem: pem_encode("PUBLIC KEY", der.as_ref()),
            asn1,
        })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The point in SEC 1 uncompressed form, `04 || x || y`, as it was loaded.
    pub fn point(&self) -> &[u8] {
        self.asn1.as_ref()
    }

    /// The PKIX `SubjectPublicKeyInfo` DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.der
    }

    /// The key as PKIX PEM with a trailing newline, as Vault shows it.
    pub fn public_pem(&self) -> &str {
        &self.pem
    }

    /// Checks a signature over a message digest of any length; false for any
    /// mismatch or malformed signature.
    pub fn verify_digest(&self, digest: &[u8], signature: &[u8], marshaling: Marshaling) -> bool {
        let Ok(digest) = order_sized_digest(self.curve, digest) else {
            return false;
        };
        let verifier = match marshaling {
            Marshaling::Asn1 => &self.asn1,
            Marshaling::Jws => &self.fixed,
        };
        verifier.verify_digest_sig(&digest, signature).is_ok()
    }
}

impl fmt::Debug for EcdsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcdsaPublicKey({})", self.curve.name())
    }
}

/// One ECDSA key pair with its public key in the encodings the API shows.
pub struct EcdsaKey {
    curve: Curve,
    asn1: EcdsaKeyPair,
    fixed: EcdsaKeyPair,
    pkcs8: SecretBytes,
    public: EcdsaPublicKey,
}

impl EcdsaKey {
    /// A fresh key pair on `curve`.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when key generation fails.
    pub fn generate(curve: Curve) -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::generate(curve.signing(Marshaling::Asn1))
            .map_err(|_| CryptoError::Internal)?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError::Internal)?;
        Self::from_pkcs8(curve, SecretBytes::new(pkcs8.as_ref().to_vec()))
    }

    /// Loads a key pair on `curve` from its PKCS#8 v1 DER encoding.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the bytes are not a PKCS#8 key on the curve.
    pub fn from_pkcs8(curve: Curve, pkcs8: SecretBytes) -> Result<Self, CryptoError> {
        let load = |marshaling| {
            EcdsaKeyPair::from_pkcs8(curve.signing(marshaling), pkcs8.expose())
                .map_err(|_| CryptoError::MalformedKey)
        };
        let asn1 = load(Marshaling::Asn1)?;
        let fixed = load(Marshaling::Jws)?;

        let public = EcdsaPublicKey::from_point(curve, asn1.public_key().as_ref())?;
        Ok(Self {
            curve,
            public,
            asn1,
            fixed,
            pkcs8,
        })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
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
    pub fn public(&self) -> &EcdsaPublicKey {
        &self.public
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
        let digest = order_sized_digest(self.curve, digest)?;
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
        self.public.verify_digest(digest, signature, marshaling)
    }
}

impl fmt::Debug for EcdsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcdsaKey({}, ..)", self.curve.name())
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

/// Maps a digest of any length to the value ECDSA on `curve` signs (see the module
/// documentation), presented as a digest of the curve's paired hash.
fn order_sized_digest(curve: Curve, digest: &[u8]) -> Result<Digest, CryptoError> {
    let algorithm = curve.digest_algorithm();
    let len = algorithm.output_len();
    let digest = &digest[..digest.len().min(curve.order_len())];
    if digest.len() > len {
        // Only P-521 can meet this, and no hash here is longer than its paired one.
        return Err(CryptoError::Internal);
    }
    let mut sized = [0u8; 64];
    sized[len - digest.len()..len].copy_from_slice(digest);
    Digest::import_less_safe(&sized[..len], algorithm).map_err(|_| CryptoError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash::HashAlgorithm;

    #[test]
    fn signatures_verify_for_every_sha2_digest_and_encoding() {
        let key = EcdsaKey::generate(Curve::P256).unwrap();
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
    fn every_curve_signs_every_sha2_digest_in_both_encodings() {
        for (curve, jws_len) in [(Curve::P256, 64), (Curve::P384, 96), (Curve::P521, 132)] {
            let key = EcdsaKey::generate(curve).unwrap();
            for alg in [
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha2_256,
                HashAlgorithm::Sha2_512,
            ] {
                let digest = alg.digest(b"payload").unwrap();
                let jws = key.sign_digest(digest.as_ref(), Marshaling::Jws).unwrap();
                assert_eq!(jws.len(), jws_len, "{curve:?}");
                assert!(key.verify_digest(digest.as_ref(), &jws, Marshaling::Jws));
                let der = key.sign_digest(digest.as_ref(), Marshaling::Asn1).unwrap();
                assert!(key.verify_digest(digest.as_ref(), &der, Marshaling::Asn1));
                assert!(!key.verify_digest(b"other digest", &der, Marshaling::Asn1));
            }
        }
    }

    #[test]
    fn jws_signatures_are_64_raw_bytes() {
        let key = EcdsaKey::generate(Curve::P256).unwrap();
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
        let key = EcdsaKey::generate(Curve::P256).unwrap();
        let again = EcdsaKey::from_pkcs8(Curve::P256, key.pkcs8().clone()).unwrap();

        assert_eq!(key.public_pem(), again.public_pem());
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(key.public_pem().ends_with("-----END PUBLIC KEY-----\n"));
    }

    #[test]
    fn asn1_shape_accepts_real_signatures_and_rejects_malformed_ones() {
        let key = EcdsaKey::generate(Curve::P256).unwrap();
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
        let err = EcdsaKey::from_pkcs8(Curve::P256, SecretBytes::new(vec![1, 2, 3])).unwrap_err();
        assert_eq!(err, CryptoError::MalformedKey);
    }
}
