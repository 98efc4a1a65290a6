//! Key pairs taken apart into their numbers and rebuilt from them, as Vault's backups
//! carry them: an ECDSA key as its point (x, y) and scalar d, an RSA key as n, e, d and
//! its two primes, and an RSA public key alone as n and e.
//!
//! Numbers are big-endian byte strings here; `keyring::backup` turns them into the
//! decimal integers of the backup JSON. Rebuilding always goes through aws-lc-rs,
//! which checks that the parts belong together (the point is d·G, the primes
//! multiply to n); a key that fails those checks is [`CryptoError::MalformedKey`].
//! Intermediate big numbers of the RSA arithmetic are not zeroized (num-bigint keeps
//! no zeroizing buffers); the stored and returned key bytes are.

use std::fmt;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _,
};
use num_bigint::BigUint;
use pkcs1::UintRef;
use pkcs1::der::{Decode as _, Encode as _};

use super::CryptoError;
use super::ecdsa::{Curve, EcdsaKey};
use super::rsa::{RsaKey, RsaPublicKey};
use crate::secret::SecretBytes;

/// An ECDSA key as its public point and private scalar, each left-padded to the
/// curve's field size.
pub struct EcComponents {
    /// The point's x coordinate.
    pub x: Vec<u8>,
    /// The point's y coordinate.
    pub y: Vec<u8>,
    /// The private scalar.
    pub d: SecretBytes,
}

impl fmt::Debug for EcComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcComponents(..)")
    }
}

fn signing(curve: Curve) -> &'static EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        Curve::P521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
    }
}

/// Bytes of a field element of `curve` (SEC 1 §2.3.5).
fn field_len(curve: Curve) -> usize {
    match curve {
        Curve::P256 => 32,
        Curve::P384 => 48,
        Curve::P521 => 66,
    }
}

/// Takes an ECDSA key apart.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the stored PKCS#8 does not load again.
pub fn ec_components(key: &EcdsaKey) -> Result<EcComponents, CryptoError> {
    let pair = EcdsaKeyPair::from_pkcs8(signing(key.curve()), key.pkcs8().expose())
        .map_err(|_| CryptoError::MalformedKey)?;
    let scalar: EcPrivateKeyBin<'static> = pair
        .private_key()
        .as_be_bytes()
        .map_err(|_| CryptoError::MalformedKey)?;
    // The public key is the uncompressed point 0x04 || x || y (SEC 1 §2.3.3).
    let point = pair.public_key().as_ref();
    let len = field_len(key.curve());
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return Err(CryptoError::MalformedKey);
    }
    Ok(EcComponents {
        x: point[1..=len].to_vec(),
        y: point[1 + len..].to_vec(),
        d: SecretBytes::new(scalar.as_ref().to_vec()),
    })
}

/// Rebuilds an ECDSA key on `curve` from big-endian x, y and d of any length up to
/// the field size; the point must be the one d gives.
///
/// # Errors
/// [`CryptoError::MalformedKey`] for a number too long, a point off the curve, or a
/// point that does not belong to d.
pub fn ec_from_components(
    curve: Curve,
    x: &[u8],
    y: &[u8],
    d: &[u8],
) -> Result<EcdsaKey, CryptoError> {
    let len = field_len(curve);
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend(left_pad(x, len)?);
    point.extend(left_pad(y, len)?);
    let scalar = SecretBytes::new(left_pad(d, len)?);

    let pair =
        EcdsaKeyPair::from_private_key_and_public_key(signing(curve), scalar.expose(), &point)
            .map_err(|_| CryptoError::MalformedKey)?;
    let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError::MalformedKey)?;
    EcdsaKey::from_pkcs8(curve, SecretBytes::new(pkcs8.as_ref().to_vec()))
}

fn left_pad(bytes: &[u8], len: usize) -> Result<Vec<u8>, CryptoError> {
    let bytes = strip_zeros(bytes);
    if bytes.len() > len {
        return Err(CryptoError::MalformedKey);
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(bytes);
    Ok(out)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// An RSA key as its numbers, big-endian without leading zeros.
pub struct RsaComponents {
    /// The modulus.
    pub n: Vec<u8>,
    /// The public exponent.
    pub e: Vec<u8>,
    /// The private exponent.
    pub d: SecretBytes,
    /// The first prime.
    pub p: SecretBytes,
    /// The second prime.
    pub q: SecretBytes,
    /// d mod (p - 1).
    pub dp: SecretBytes,
    /// d mod (q - 1).
    pub dq: SecretBytes,
    /// q⁻¹ mod p.
    pub qinv: SecretBytes,
}

impl fmt::Debug for RsaComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaComponents(..)")
    }
}

fn uint(v: &SecretBytes) -> Result<UintRef<'_>, CryptoError> {
    UintRef::new(v.expose()).map_err(|_| CryptoError::MalformedKey)
}

/// Takes an RSA key apart.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the stored PKCS#8 is not a two-prime RSA key.
pub fn rsa_components(key: &RsaKey) -> Result<RsaComponents, CryptoError> {
    let info = pkcs8::PrivateKeyInfo::from_der(key.pkcs8().expose())
        .map_err(|_| CryptoError::MalformedKey)?;
    let rsa =
        pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|_| CryptoError::MalformedKey)?;
    if rsa.other_prime_infos.is_some() {
        return Err(CryptoError::MalformedKey);
    }
    let secret = |n: UintRef<'_>| SecretBytes::new(n.as_bytes().to_vec());
    Ok(RsaComponents {
        n: rsa.modulus.as_bytes().to_vec(),
        e: rsa.public_exponent.as_bytes().to_vec(),
        d: secret(rsa.private_exponent),
        p: secret(rsa.prime1),
        q: secret(rsa.prime2),
        dp: secret(rsa.exponent1),
        dq: secret(rsa.exponent2),
        qinv: secret(rsa.coefficient),
    })
}

/// Rebuilds an RSA key from n, e, d and the primes p and q; the CRT values are
/// computed afresh. The parts must fit together: n = p·q, and e·d ≡ 1 modulo
/// p − 1 and q − 1.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when they do not, or aws-lc-rs refuses the key.
pub fn rsa_from_components(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &[u8],
    q: &[u8],
) -> Result<RsaKey, CryptoError> {
    let big = BigUint::from_bytes_be;
    let (n_big, e_big, d_big, p_big, q_big) = (big(n), big(e), big(d), big(p), big(q));
    let one = BigUint::from(1u8);
    if p_big <= one || q_big <= one || &p_big * &q_big != n_big {
        return Err(CryptoError::MalformedKey);
    }
    let p1 = &p_big - &one;
    let q1 = &q_big - &one;
    if (&e_big * &d_big) % &p1 != one || (&e_big * &d_big) % &q1 != one {
        return Err(CryptoError::MalformedKey);
    }
    let dp = &d_big % &p1;
    let dq = &d_big % &q1;
    let qinv = q_big.modinv(&p_big).ok_or(CryptoError::MalformedKey)?;

    let bytes = |v: &BigUint| SecretBytes::new(v.to_bytes_be());
    let (n, e) = (bytes(&n_big), bytes(&e_big));
    let (d, p, q) = (bytes(&d_big), bytes(&p_big), bytes(&q_big));
    let (dp, dq, qinv) = (bytes(&dp), bytes(&dq), bytes(&qinv));
    let pkcs1 = pkcs1::RsaPrivateKey {
        modulus: uint(&n)?,
        public_exponent: uint(&e)?,
        private_exponent: uint(&d)?,
        prime1: uint(&p)?,
        prime2: uint(&q)?,
        exponent1: uint(&dp)?,
        exponent2: uint(&dq)?,
        coefficient: uint(&qinv)?,
        other_prime_infos: None,
    };
    let der = SecretBytes::new(pkcs1.to_der().map_err(|_| CryptoError::MalformedKey)?);

    // aws-lc-rs checks the key (RSA_check_key) as it parses it.
    let pair =
        aws_lc_rs::rsa::KeyPair::from_der(der.expose()).map_err(|_| CryptoError::MalformedKey)?;
    let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| CryptoError::MalformedKey)?;
    RsaKey::from_pkcs8(SecretBytes::new(pkcs8.as_ref().to_vec()))
}

/// The modulus and public exponent of an RSA public key, big-endian without leading
/// zeros.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if the key's DER does not read back.
pub fn rsa_public_components(key: &RsaPublicKey) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let spki = pkcs8::spki::SubjectPublicKeyInfoRef::from_der(key.spki_der())
        .map_err(|_| CryptoError::MalformedKey)?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(CryptoError::MalformedKey)?;
    let rsa = pkcs1::RsaPublicKey::from_der(bits).map_err(|_| CryptoError::MalformedKey)?;
    Ok((
        rsa.modulus.as_bytes().to_vec(),
        rsa.public_exponent.as_bytes().to_vec(),
    ))
}

/// The PKIX `SubjectPublicKeyInfo` DER of the RSA public key (n, e), big-endian.
///
/// # Errors
/// [`CryptoError::MalformedKey`] when a number cannot be encoded.
pub fn rsa_public_spki_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let malformed = |_| CryptoError::MalformedKey;
    let public = pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).map_err(malformed)?,
        public_exponent: UintRef::new(e).map_err(malformed)?,
    }
    .to_der()
    .map_err(malformed)?;
    let spki = pkcs8::spki::SubjectPublicKeyInfoRef {
        algorithm: pkcs8::spki::AlgorithmIdentifierRef {
            oid: pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
            parameters: Some(pkcs8::der::asn1::AnyRef::NULL),
        },
        subject_public_key: pkcs8::der::asn1::BitStringRef::from_bytes(&public)
            .map_err(malformed)?,
    };
    spki.to_der().map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_keys_survive_being_taken_apart() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let key = EcdsaKey::generate(curve).unwrap();
            let parts = ec_components(&key).unwrap();
            assert_eq!(parts.x.len(), field_len(curve));

            let again = ec_from_components(curve, &parts.x, &parts.y, parts.d.expose()).unwrap();
            assert_eq!(again.public_pem(), key.public_pem());
        }
    }

    #[test]
    fn ec_point_that_does_not_belong_to_the_scalar_is_refused() {
        let a = ec_components(&EcdsaKey::generate(Curve::P256).unwrap()).unwrap();
        let b = ec_components(&EcdsaKey::generate(Curve::P256).unwrap()).unwrap();
        assert!(ec_from_components(Curve::P256, &a.x, &a.y, b.d.expose()).is_err());

        let mut long = vec![1u8];
        long.extend_from_slice(a.d.expose());
        assert!(ec_from_components(Curve::P256, &a.x, &a.y, &long).is_err());
    }

    #[test]
    fn rsa_keys_survive_being_taken_apart() {
        let key = RsaKey::generate(2048).unwrap();
        let parts = rsa_components(&key).unwrap();
        let again = rsa_from_components(
            &parts.n,
            &parts.e,
            parts.d.expose(),
            parts.p.expose(),
            parts.q.expose(),
        )
        .unwrap();
        assert_eq!(again.public_pem(), key.public_pem());
        assert_eq!(again.pkcs8(), key.pkcs8());

        let (n, e) = rsa_public_components(key.public()).unwrap();
        assert_eq!((n.as_slice(), e.as_slice()), (&parts.n[..], &parts.e[..]));
        assert_eq!(
            rsa_public_spki_der(&n, &e).unwrap(),
            key.public().spki_der()
        );
    }

    #[test]
    fn rsa_parts_that_do_not_match_are_refused() {
        let a = rsa_components(&RsaKey::generate(2048).unwrap()).unwrap();
        let b = rsa_components(&RsaKey::generate(2048).unwrap()).unwrap();
        let rebuilt = rsa_from_components(&a.n, &a.e, b.d.expose(), a.p.expose(), a.q.expose());
        assert!(rebuilt.is_err());
        let swapped = rsa_from_components(&a.n, &a.e, a.d.expose(), b.p.expose(), a.q.expose());
        assert!(swapped.is_err());
    }
}
