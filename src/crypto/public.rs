//! Public keys on their own: the versions of a public-key-only import
//! (`keys/:name/import` with `public_key`), which verify (and, for RSA, encrypt) but
//! hold no private half.
//!
//! OpenBao reads the PEM with Go's `encoding/pem` and the key with Go's
//! `x509.ParsePKIXPublicKey`, and its answers carry their texts, so both readers are
//! followed here: the first well-formed PEM block counts whatever its label, and the
//! block must be a PKIX `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7). Mismatches with
//! the key type name Go's types, as OpenBao's texts do.

use pkcs8::der::asn1::{BitStringRef, IntRef, ObjectIdentifier};
use pkcs8::der::{Decode, Encode, Reader, SliceReader};
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use super::KeyType;
use super::ecdsa::{Curve, EcdsaPublicKey};
use super::ed25519::{Ed25519PublicKey, PUBLIC_KEY_LEN};
use super::rsa::RsaPublicKey;
use crate::encoding;

/// `id-ecPublicKey` (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `rsaEncryption` (RFC 8017 §A.1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-Ed25519` (RFC 8410 §3).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `id-X25519` (RFC 8410 §3), which Go reads as an ECDH key.
const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
/// `id-dsa` (RFC 3279 §2.3.2).
const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");

/// The named curves Go's x509 package reads (RFC 5480 §2.1.1.1): OID, name, the name
/// Go's point decoder uses in its texts, and bytes of a coordinate. P-224 is read but
/// has no vault-kms key type, so it only ever mismatches.
const CURVES: [(&str, &str, &str, usize); 4] = [
    ("1.3.132.0.33", "P-224", "P224", 28),
    ("1.2.840.10045.3.1.7", "P-256", "P256", 32),
    ("1.3.132.0.34", "P-384", "P384", 48),
    ("1.3.132.0.35", "P-521", "P521", 66),
];

/// The vault-kms curve of a name in [`CURVES`].
fn curve_named(name: &str) -> Option<Curve> {
    [Curve::P256, Curve::P384, Curve::P521]
        .into_iter()
        .find(|c| c.name() == name)
}

/// The public half of a signing key, without its private half.
#[derive(Debug)]
pub enum PublicKey {
    /// An `ecdsa-p256`, `ecdsa-p384` or `ecdsa-p521` key.
    Ecdsa(EcdsaPublicKey),
    /// An `ed25519` key.
    Ed25519(Ed25519PublicKey),
    /// An `rsa-2048`, `rsa-3072` or `rsa-4096` key.
    Rsa(RsaPublicKey),
}

impl PublicKey {
    /// Reads the first PEM block of `text` as a key of `key_type`.
    ///
    /// # Errors
    /// OpenBao's text (without its `error importing key: ` prefix) when the text holds
    /// no PEM block, the block is not a public key Go reads, or the key does not fit
    /// the type.
    pub fn from_pem(key_type: KeyType, text: &str) -> Result<Self, String> {
        let der = pem_block(text).ok_or("error parsing public key: not in PEM format")?;
        Self::from_spki_der(key_type, &der)
    }

    /// Reads a PKIX `SubjectPublicKeyInfo` as a key of `key_type`.
    ///
    /// # Errors
    /// As [`PublicKey::from_pem`].
    pub fn from_spki_der(key_type: KeyType, der: &[u8]) -> Result<Self, String> {
        let found = parse_spki(der).map_err(|e| format!("error parsing public key: {e}"))?;
        let wrong_type = |found: &Found| {
            format!(
                "invalid key type: expected {key_type}, got {}",
                found.go_type()
            )
        };
        match (key_type.curve(), key_type.rsa_bits(), &found) {
            (Some(curve), _, Found::Ecdsa { name, point, .. }) => {
                if *name != curve.name() {
                    return Err(format!(
                        "invalid curve: expected {}, got {name}",
                        curve.name()
                    ));
                }
                // `parse_spki` has checked the point against the curve.
                EcdsaPublicKey::from_point(curve, point)
                    .map(Self::Ecdsa)
                    .map_err(|_| format!("error parsing public key: {name} point not on curve"))
            }
            (_, Some(bits), Found::Rsa { modulus_len }) => {
                if *modulus_len != bits / 8 {
                    return Err(format!(
                        "invalid key size: expected {} bytes, got {modulus_len} bytes",
                        bits / 8
                    ));
                }
                RsaPublicKey::from_spki_der(der)
                    .map(Self::Rsa)
                    .map_err(|_| "error parsing public key: unusable RSA public key".to_owned())
            }
            (_, _, Found::Ed25519(bytes)) if key_type == KeyType::Ed25519 => {
                Ed25519PublicKey::from_bytes(bytes)
                    .map(Self::Ed25519)
                    .map_err(|_| wrong_type(&found))
            }
            _ => Err(wrong_type(&found)),
        }
    }

    /// The PKIX `SubjectPublicKeyInfo` DER, as stored and exported.
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            Self::Ecdsa(key) => key.spki_der().to_vec(),
            Self::Ed25519(key) => ed25519_spki_der(key.as_bytes()),
            Self::Rsa(key) => key.spki_der().to_vec(),
        }
    }
}

/// The PKIX `SubjectPublicKeyInfo` DER of a 32-byte Ed25519 public key (RFC 8410 §4).
pub fn ed25519_spki_der(public: &[u8]) -> Vec<u8> {
    let encoded = BitStringRef::from_bytes(public).and_then(|bits| {
        SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: ED25519,
                parameters: None,
            },
            subject_public_key: bits,
        }
        .to_der()
    });
    // A 32-byte key always encodes; the fallback is never taken.
    encoded.unwrap_or_default()
}

/// What a `SubjectPublicKeyInfo` holds, as Go's x509 package tells the types apart.
#[derive(Debug)]
enum Found {
    Ecdsa {
        name: &'static str,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
    Rsa {
        /// Bytes of the modulus without leading zeros (Go's `Size()`).
        modulus_len: usize,
    },
    X25519,
    Dsa,
}

impl Found {
    /// The Go type OpenBao names in its mismatch texts.
    fn go_type(&self) -> &'static str {
        match self {
            Found::Ecdsa { .. } => "*ecdsa.PublicKey",
            Found::Ed25519(_) => "ed25519.PublicKey",
            Found::Rsa { .. } => "*rsa.PublicKey",
            Found::X25519 => "*ecdh.PublicKey",
            Found::Dsa => "*dsa.PublicKey",
        }
    }
}

/// Reads a `SubjectPublicKeyInfo` with the checks and texts of Go's
/// `x509.ParsePKIXPublicKey`. DER that is not a `SubjectPublicKeyInfo` at all gets
/// one generic text where Go describes its ASN.1 decoder's state.
fn parse_spki(der: &[u8]) -> Result<Found, String> {
    let mut reader = SliceReader::new(der).map_err(|_| MALFORMED.to_owned())?;
    let Ok(spki) = SubjectPublicKeyInfoRef::decode(&mut reader) else {
        if pkcs1::RsaPublicKey::from_der(der).is_ok() {
            return Err(
                "x509: failed to parse public key (use ParsePKCS1PublicKey instead \
                        for this key format)"
                    .to_owned(),
            );
        }
        return Err(MALFORMED.to_owned());
    };
    if !padding_bits_are_zero(&spki.subject_public_key) {
        return Err("asn1: syntax error: invalid padding bits in BIT STRING".to_owned());
    }
    if !reader.is_finished() {
        return Err("x509: trailing data after ASN.1 of public-key".to_owned());
    }
    let aligned = right_align(&spki.subject_public_key);
    let key = aligned.as_slice();
    let parameters = spki.algorithm.parameters;
    let oid = spki.algorithm.oid;

    if oid == RSA_ENCRYPTION {
        if !parameters.is_some_and(|p| p.is_null()) {
            return Err("x509: RSA key missing NULL parameters".to_owned());
        }
        let (modulus, exponent) =
            rsa_integers(key).ok_or_else(|| "x509: invalid RSA public key".to_owned())?;
        if is_negative_or_zero(modulus) {
            return Err("x509: RSA modulus is not a positive number".to_owned());
        }
        if is_negative_or_zero(exponent) {
            return Err("x509: RSA public exponent is not a positive number".to_owned());
        }
        let modulus_len = modulus.iter().skip_while(|b| **b == 0).count();
        return Ok(Found::Rsa { modulus_len });
    }
    if oid == EC_PUBLIC_KEY {
        let curve = parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or("x509: invalid ECDSA parameters")?
            .to_string();
        let (_, name, go_name, field) = CURVES
            .iter()
            .find(|(oid, ..)| *oid == curve)
            .ok_or("x509: unsupported elliptic curve")?;
        // Go reads only the uncompressed form, and only a point on the curve.
        if key.first() != Some(&4) {
            return Err("ecdsa: invalid uncompressed public key".to_owned());
        }
        if key.len() != 1 + 2 * field {
            return Err(format!("invalid {go_name} point encoding"));
        }
        let on_curve = curve_named(name).is_none_or(|c| EcdsaPublicKey::from_point(c, key).is_ok());
        if !on_curve {
            return Err(format!("{go_name} point not on curve"));
        }
        return Ok(Found::Ecdsa {
            name,
            point: key.to_vec(),
        });
    }
    if oid == ED25519 {
        if parameters.is_some() {
            return Err("x509: Ed25519 key encoded with illegal parameters".to_owned());
        }
        if key.len() != PUBLIC_KEY_LEN {
            return Err("x509: wrong Ed25519 public key size".to_owned());
        }
        return Ok(Found::Ed25519(aligned));
    }
    if oid == X25519 {
        return Ok(Found::X25519);
    }
    if oid == DSA {
        return Ok(Found::Dsa);
    }
    Err("x509: unknown public key algorithm".to_owned())
}

/// The two INTEGERs of a PKCS #1 `RSAPublicKey` (RFC 8017 §A.1.1), as two's
/// complement bytes: Go reads them signed, then refuses what is not positive.
fn rsa_integers(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut reader = SliceReader::new(der).ok()?;
    let integers = reader
        .sequence(|inner| {
            let modulus = IntRef::decode(inner)?;
            let exponent = IntRef::decode(inner)?;
            Ok((modulus.as_bytes(), exponent.as_bytes()))
        })
        .ok()?;
    Some(integers)
}

fn is_negative_or_zero(twos_complement: &[u8]) -> bool {
    twos_complement.first().is_none_or(|b| b & 0x80 != 0) || twos_complement.iter().all(|b| *b == 0)
}

/// The bytes of a BIT STRING shifted right by its unused bits, as Go's `RightAlign`
/// reads a public key.
/// Whether the unused bits at the end of a BIT STRING are zero, as DER requires and
/// Go's parser checks.
fn padding_bits_are_zero(bits: &BitStringRef<'_>) -> bool {
    let unused = bits.unused_bits();
    bits.raw_bytes()
        .last()
        .is_none_or(|last| last & ((1u8 << unused) - 1) == 0)
}

fn right_align(bits: &BitStringRef<'_>) -> Vec<u8> {
    let raw = bits.raw_bytes();
    let shift = u32::from(bits.unused_bits());
    if shift == 0 || raw.is_empty() {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    out.push(raw[0] >> shift);
    for pair in raw.windows(2) {
        out.push((pair[0] << (8 - shift)) | (pair[1] >> shift));
    }
    out
}

/// The text for DER that is not a `SubjectPublicKeyInfo` (see [`parse_spki`]).
const MALFORMED: &str = "asn1: structure error: not a PKIX SubjectPublicKeyInfo";

/// `-----BEGIN` lines tried before a text is judged not PEM. Each try scans the rest of
/// the text for its END line, so an unbounded number would make a large body of BEGIN
/// lines cost quadratic time; Go keeps trying (docs/compat.md).
const PEM_CANDIDATES: usize = 16;

/// The bytes of the first PEM block in `text`, found as Go's `pem.Decode` finds it:
/// a `-----BEGIN LABEL-----` line at the start of the text or of a line, optional
/// `Name: value` headers, base64 (whitespace ignored) and `-----END LABEL-----` with
/// the same label. A candidate that fails any of these is skipped for the next one,
/// up to [`PEM_CANDIDATES`].
fn pem_block(text: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN ";
    let mut rest = text;
    for _ in 0..PEM_CANDIDATES {
        let start = if rest.starts_with(BEGIN) {
            0
        } else {
            rest.find(&format!("\n{BEGIN}"))? + 1
        };
        rest = &rest[start + BEGIN.len()..];
        if let Some(der) = pem_body(rest) {
            return Some(der);
        }
    }
    None
}

/// The bytes of a block whose `-----BEGIN ` has just been read.
fn pem_body(after_begin: &str) -> Option<Vec<u8>> {
    let (first_line, body) = after_begin.split_once('\n').unwrap_or((after_begin, ""));
    let label = first_line.trim_end().strip_suffix("-----")?;
    let end = format!("-----END {label}-----");
    let (mut body, after) = if body.starts_with(&end) {
        ("", &body[end.len()..])
    } else {
        let at = body.find(&format!("\n{end}"))?;
        (&body[..at], &body[at + 1 + end.len()..])
    };
    // Go wants the END line to end there, apart from spaces and tabs.
    let end_line = after.split('\n').next().unwrap_or_default();
    if !end_line.trim_matches([' ', '\t', '\r']).is_empty() {
        return None;
    }
    // Headers: `Name: value` lines, up to the first line without a colon (a blank
    // one or the first line of base64), as Go reads them.
    while let Some((line, rest)) = body.split_once('\n') {
        if !line.contains(':') {
            break;
        }
        body = rest;
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    encoding::decode_std(&compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ecdsa::EcdsaKey;
    use crate::crypto::rsa::RsaKey;

    #[test]
    fn pem_blocks_are_found_as_go_finds_them() {
        let key = EcdsaKey::generate(Curve::P256).unwrap();
        let pem = key.public_pem();
        let der = key.public().spki_der();

        assert_eq!(pem_block(pem).unwrap(), der);
        assert_eq!(pem_block(&format!("junk\n{pem}trailer")).unwrap(), der);
        let relabelled = pem.replace("PUBLIC KEY", "ANYTHING");
        assert_eq!(pem_block(&relabelled).unwrap(), der);
        assert!(pem_block("hello").is_none());
        // Headers end at the first line without a colon, blank or not.
        let headed = pem.replacen("-----\n", "-----\nProc-Type: 4,X\nA: b\n", 1);
        assert_eq!(pem_block(&headed).unwrap(), der);
        let spaced = pem.replacen("-----\n", "-----\nA: b\n\n", 1);
        assert_eq!(pem_block(&spaced).unwrap(), der);
        assert!(pem_block(&pem.replace("END PUBLIC", "END OTHER")).is_none());
        assert!(pem_block("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_none());
        // Not at the start of a line: not a block.
        assert!(pem_block(&format!("x{pem}")).is_none());
        // Only so many broken blocks are skipped.
        let broken = "-----BEGIN X-----\n!!\n-----END X-----\n";
        let after = |n: usize| format!("{}{pem}", broken.repeat(n));
        assert_eq!(pem_block(&after(PEM_CANDIDATES - 1)).unwrap(), der);
        assert!(pem_block(&after(PEM_CANDIDATES)).is_none());
    }

    #[test]
    fn keys_load_for_their_type_and_mismatches_name_go_types() {
        let p384 = EcdsaKey::generate(Curve::P384).unwrap();
        let pem = p384.public_pem();

        let loaded = PublicKey::from_pem(KeyType::EcdsaP384, pem).unwrap();
        assert_eq!(loaded.spki_der(), p384.public().spki_der());
        assert_eq!(
            PublicKey::from_pem(KeyType::EcdsaP256, pem).unwrap_err(),
            "invalid curve: expected P-256, got P-384"
        );
        assert_eq!(
            PublicKey::from_pem(KeyType::Rsa2048, pem).unwrap_err(),
            "invalid key type: expected rsa-2048, got *ecdsa.PublicKey"
        );
        assert_eq!(
            PublicKey::from_pem(KeyType::EcdsaP256, "x").unwrap_err(),
            "error parsing public key: not in PEM format"
        );
    }

    #[test]
    fn rsa_keys_are_checked_for_size_and_pkcs1_is_named() {
        let rsa = RsaKey::generate(2048).unwrap();
        let loaded = PublicKey::from_pem(KeyType::Rsa2048, rsa.public_pem()).unwrap();
        assert_eq!(loaded.spki_der(), rsa.public().spki_der());
        assert_eq!(
            PublicKey::from_pem(KeyType::Rsa3072, rsa.public_pem()).unwrap_err(),
            "invalid key size: expected 384 bytes, got 256 bytes"
        );

        // The PKCS #1 `RSAPublicKey` inside the SubjectPublicKeyInfo, on its own.
        let spki = SubjectPublicKeyInfoRef::from_der(rsa.public().spki_der()).unwrap();
        let pkcs1 = spki.subject_public_key.as_bytes().unwrap();
        let pem = crate::crypto::pem_encode("RSA PUBLIC KEY", pkcs1);
        assert_eq!(
            PublicKey::from_pem(KeyType::Rsa2048, &pem).unwrap_err(),
            "error parsing public key: x509: failed to parse public key (use \
             ParsePKCS1PublicKey instead for this key format)"
        );
    }

    #[test]
    fn ed25519_keys_round_trip_through_their_spki() {
        let public = [7u8; 32];
        let der = ed25519_spki_der(&public);
        let loaded = PublicKey::from_spki_der(KeyType::Ed25519, &der).unwrap();
        assert_eq!(loaded.spki_der(), der);
        assert_eq!(
            PublicKey::from_spki_der(KeyType::EcdsaP256, &der).unwrap_err(),
            "invalid key type: expected ecdsa-p256, got ed25519.PublicKey"
        );
    }

    #[test]
    fn a_bit_string_with_set_padding_bits_is_refused_as_go_refuses_it() {
        // An Ed25519 SPKI whose BIT STRING says one unused bit, and sets it.
        let pem = "-----BEGIN PUBLIC KEY-----\n\
                   MCowBQYDK2VwAyEBAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n\
                   -----END PUBLIC KEY-----\n";
        assert_eq!(
            PublicKey::from_pem(KeyType::Ed25519, pem).unwrap_err(),
            "error parsing public key: asn1: syntax error: invalid padding bits in BIT STRING"
        );
    }
}
