//! Key material in the encodings `export/:type/:name` answers with, byte for byte
//! as Vault writes them.
//!
//! The structures are rebuilt from the key's parts rather than copied from what the
//! key stores, so the output does not depend on how aws-lc-rs lays out its own
//! PKCS#8: ECDSA private keys are SEC 1 `ECPrivateKey` (RFC 5915) with the curve OID
//! and the public point, or PKCS#8 (RFC 5208) around one without the OID; RSA private
//! keys are PKCS#1 (RFC 8017 §A.1.2) or PKCS#8 with `rsaEncryption` and NULL
//! parameters; Ed25519 private keys are RFC 8410 PKCS#8 holding the seed only; public
//! keys are PKIX `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7). Every buffer that holds
//! private material is zeroized when dropped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pkcs8::PrivateKeyInfo;
use pkcs8::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use sec1::{EcParameters, EcPrivateKey};
use zeroize::Zeroizing;

use super::CryptoError;
use super::ecdsa::EcdsaKey;
use super::ed25519::Ed25519Key;
use super::rsa::RsaKey;
use crate::secret::{SecretBytes, SecretString};

/// `id-ecPublicKey` (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `rsaEncryption` (RFC 8017 §A.1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-Ed25519` (RFC 8410 §3).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Whether a PEM ends with a newline. Vault trims ECDSA and Ed25519 PEMs and leaves
/// the newline on RSA ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PemEnd {
    /// Ends with `-----END ...-----`.
    Trimmed,
    /// Ends with `-----END ...-----\n`.
    Newline,
}

/// An ECDSA private key as SEC 1 `ECPrivateKey` DER, with the curve OID and the
/// public point (Vault's default export of an ECDSA signing key).
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn ecdsa_sec1_der(key: &EcdsaKey) -> Result<SecretBytes, CryptoError> {
    let info = PrivateKeyInfo::from_der(key.pkcs8().expose()).map_err(malformed)?;
    let curve = info.algorithm.parameters_oid().map_err(malformed)?;
    let inner = EcPrivateKey::from_der(info.private_key).map_err(malformed)?;
    let Some(public_key) = inner.public_key else {
        return Err(CryptoError::MalformedKey);
    };
    encode_secret(&EcPrivateKey {
        private_key: inner.private_key,
        parameters: Some(EcParameters::NamedCurve(curve)),
        public_key: Some(public_key),
    })
}

/// An ECDSA private key as PKCS#8 DER: the curve OID in the algorithm, the inner
/// `ECPrivateKey` without it but with the public point.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn ecdsa_pkcs8_der(key: &EcdsaKey) -> Result<SecretBytes, CryptoError> {
    let info = PrivateKeyInfo::from_der(key.pkcs8().expose()).map_err(malformed)?;
    let curve = info.algorithm.parameters_oid().map_err(malformed)?;
    let inner = EcPrivateKey::from_der(info.private_key).map_err(malformed)?;
    if inner.public_key.is_none() {
        return Err(CryptoError::MalformedKey);
    }
    let inner = encode_secret(&EcPrivateKey {
        parameters: None,
        ..inner
    })?;
    let algorithm = AlgorithmIdentifierRef {
        oid: EC_PUBLIC_KEY,
        parameters: Some(AnyRef::from(&curve)),
    };
    encode_secret(&PrivateKeyInfo::new(algorithm, inner.expose()))
}

/// An ECDSA public key as PKIX `SubjectPublicKeyInfo` DER (uncompressed point).
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn ecdsa_public_der(key: &EcdsaKey) -> Result<Vec<u8>, CryptoError> {
    let info = PrivateKeyInfo::from_der(key.pkcs8().expose()).map_err(malformed)?;
    let curve = info.algorithm.parameters_oid().map_err(malformed)?;
    let inner = EcPrivateKey::from_der(info.private_key).map_err(malformed)?;
    let point = inner.public_key.ok_or(CryptoError::MalformedKey)?;
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        },
        subject_public_key: BitStringRef::from_bytes(point).map_err(malformed)?,
    };
    spki.to_der().map_err(malformed)
}

/// An RSA private key as PKCS#1 `RSAPrivateKey` DER.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn rsa_pkcs1_der(key: &RsaKey) -> Result<SecretBytes, CryptoError> {
    let info = PrivateKeyInfo::from_der(key.pkcs8().expose()).map_err(malformed)?;
    let inner = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(malformed)?;
    encode_secret(&inner)
}

/// An RSA private key as PKCS#8 DER (`rsaEncryption`, NULL parameters).
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn rsa_pkcs8_der(key: &RsaKey) -> Result<SecretBytes, CryptoError> {
    let pkcs1 = rsa_pkcs1_der(key)?;
    let algorithm = AlgorithmIdentifierRef {
        oid: RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    };
    encode_secret(&PrivateKeyInfo::new(algorithm, pkcs1.expose()))
}

/// An RSA public key as PKIX `SubjectPublicKeyInfo` DER.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the stored PKCS#8 cannot be read.
pub fn rsa_public_der(key: &RsaKey) -> Result<Vec<u8>, CryptoError> {
    let info = PrivateKeyInfo::from_der(key.pkcs8().expose()).map_err(malformed)?;
    let private = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(malformed)?;
    let public = pkcs1::RsaPublicKey {
        modulus: private.modulus,
        public_exponent: private.public_exponent,
    }
    .to_der()
    .map_err(malformed)?;
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&public).map_err(malformed)?,
    };
    spki.to_der().map_err(malformed)
}

/// The 64 bytes `seed || public key`, Go's form of an Ed25519 private key.
pub fn ed25519_keypair_bytes(key: &Ed25519Key) -> SecretBytes {
    let mut bytes = Zeroizing::new(Vec::with_capacity(64));
    bytes.extend_from_slice(key.seed().expose());
    bytes.extend_from_slice(key.public_key());
    SecretBytes::from(bytes)
}

/// An Ed25519 private key as RFC 8410 PKCS#8 DER: the seed only, no public key.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the seed cannot be encoded.
pub fn ed25519_pkcs8_der(key: &Ed25519Key) -> Result<SecretBytes, CryptoError> {
    let seed = OctetStringRef::new(key.seed().expose()).map_err(malformed)?;
    let inner = encode_secret(&seed)?;
    let algorithm = AlgorithmIdentifierRef {
        oid: ED25519,
        parameters: None,
    };
    encode_secret(&PrivateKeyInfo::new(algorithm, inner.expose()))
}

/// An Ed25519 public key as PKIX `SubjectPublicKeyInfo` DER.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when the key cannot be encoded.
pub fn ed25519_public_der(key: &Ed25519Key) -> Result<Vec<u8>, CryptoError> {
    Ok(super::public::ed25519_spki_der(key.public_key()))
}

/// Standard base64 of `bytes`, in a zeroizing string.
pub fn base64_secret(bytes: &[u8]) -> SecretString {
    let mut text = String::with_capacity(base64::encoded_len(bytes.len(), true).unwrap_or(0));
    STANDARD.encode_string(bytes, &mut text);
    SecretString::new(text)
}

/// PEM armour (RFC 7468) of `der` under `label`: base64 in 64-column lines, with or
/// without a final newline. Built in place so no partial copy of a private key is
/// left behind in freed memory.
pub fn pem_secret(label: &str, der: &[u8], end: PemEnd) -> SecretString {
    let body = base64_secret(der);
    let lines = body.expose().len().div_ceil(64);
    let mut pem = String::with_capacity(2 * label.len() + body.expose().len() + lines + 32);
    pem.push_str("-----BEGIN ");
    pem.push_str(label);
    pem.push_str("-----\n");
    for line in body.expose().as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END ");
    pem.push_str(label);
    pem.push_str("-----");
    if end == PemEnd::Newline {
        pem.push('\n');
    }
    SecretString::new(pem)
}

/// DER of `value` written straight into a zeroizing buffer of its exact size.
fn encode_secret(value: &impl Encode) -> Result<SecretBytes, CryptoError> {
    let len = usize::try_from(value.encoded_len().map_err(malformed)?)
        .map_err(|_| CryptoError::MalformedKey)?;
    let mut buf = Zeroizing::new(vec![0u8; len]);
    value.encode_to_slice(&mut buf).map_err(malformed)?;
    Ok(SecretBytes::from(buf))
}

fn malformed(_: impl std::fmt::Debug) -> CryptoError {
    CryptoError::MalformedKey
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ecdsa::Curve;
    use crate::crypto::hex;

    #[test]
    fn ed25519_encodings_follow_rfc_8410() {
        // RFC 8032 §7.1 TEST 1 key; RFC 8410 §10.3 gives the PKCS#8 and SPKI framing.
        let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        let key = Ed25519Key::from_seed(SecretBytes::new(hex(seed))).unwrap();

        assert_eq!(
            ed25519_pkcs8_der(&key).unwrap().expose(),
            hex(&format!("302e020100300506032b657004220420{seed}"))
        );
        assert_eq!(
            ed25519_public_der(&key).unwrap(),
            hex(&format!("302a300506032b6570032100{public}"))
        );
        assert_eq!(
            ed25519_keypair_bytes(&key).expose(),
            hex(&format!("{seed}{public}"))
        );
    }

    #[test]
    fn ecdsa_private_keys_carry_the_curve_oid_only_in_sec1() {
        let key = EcdsaKey::generate(Curve::P256).unwrap();
        let sec1_der = ecdsa_sec1_der(&key).unwrap();
        let sec1 = EcPrivateKey::from_der(sec1_der.expose()).unwrap();
        assert_eq!(
            sec1.parameters.and_then(|p| p.named_curve()),
            Some(ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"))
        );
        assert_eq!(sec1.private_key.len(), 32);
        assert_eq!(sec1.public_key.map(<[u8]>::len), Some(65));

        let pkcs8_der = ecdsa_pkcs8_der(&key).unwrap();
        // Go's layout for P-256: 138 bytes, curve OID in the algorithm only.
        assert_eq!(pkcs8_der.len(), 138);
        let info = PrivateKeyInfo::from_der(pkcs8_der.expose()).unwrap();
        let inner = EcPrivateKey::from_der(info.private_key).unwrap();
        assert!(inner.parameters.is_none());
        assert_eq!(inner.public_key, sec1.public_key);

        let public = ecdsa_public_der(&key).unwrap();
        assert_eq!(
            pem_secret("PUBLIC KEY", &public, PemEnd::Newline).expose(),
            key.public_pem()
        );
    }

    #[test]
    fn rsa_encodings_nest_pkcs1_in_pkcs8() {
        let key = RsaKey::generate(2048).unwrap();
        let pkcs1 = rsa_pkcs1_der(&key).unwrap();
        let pkcs8 = rsa_pkcs8_der(&key).unwrap();
        let info = PrivateKeyInfo::from_der(pkcs8.expose()).unwrap();

        assert_eq!(info.private_key, pkcs1.expose());
        assert_eq!(info.algorithm.oid, RSA_ENCRYPTION);
        let public = rsa_public_der(&key).unwrap();
        assert_eq!(
            pem_secret("PUBLIC KEY", &public, PemEnd::Newline).expose(),
            key.public_pem()
        );
    }

    #[test]
    fn pem_lines_wrap_at_64_and_end_as_asked() {
        let pem = pem_secret("X", &[0u8; 60], PemEnd::Trimmed);
        let lines: Vec<&str> = pem.expose().split('\n').collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[3], "-----END X-----");
        assert!(
            pem_secret("X", &[1], PemEnd::Newline)
                .expose()
                .ends_with("-----\n")
        );
    }
}
