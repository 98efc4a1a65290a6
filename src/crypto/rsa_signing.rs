//! RSA signatures as Vault makes them: RSASSA-PSS by default, or RSASSA-PKCS1-v1_5
//! (RFC 8017 §8.1 and §8.2), over a digest computed by the caller.
//!
//! Vault's `salt_length` for PSS is `auto` (Go's 0), `hash` (Go's -1) or a byte count.
//! Signing with `auto` uses the largest salt the key allows; verifying with `auto`
//! accepts any salt length, as Go's verifier recovers it from the encoded message.
//! aws-lc-rs takes salt lengths as `'static` parameters, so the tables below hold one
//! parameter set per possible length, built at compile time.
//!
//! aws-lc-rs signs RSA only with SHA-256, SHA-384 and SHA-512, and those keep its fast
//! paths. The other hashes Vault accepts for RSA (SHA-1, SHA-224, the SHA-3 hashes,
//! and `none` with PKCS #1 v1.5, which pads the input without a DigestInfo as Go's
//! `SignPKCS1v15` with hash 0 does) go to the same AWS-LC through its C API, in
//! [`super::awslc`]; there PSS verification with `auto` recovers the salt length from
//! the signature, as Go does, instead of trying each length.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::signature::{
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384,
    RSA_PKCS1_2048_8192_SHA512, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RSA_PSS_SHA256,
    RSA_PSS_SHA384, RSA_PSS_SHA512, RsaKeyPair, RsaParameters, RsaPssSaltLength,
    RsaSignatureEncoding,
};

use super::awslc::{self, PssSalt, RsaPadding};
use super::hash::HashAlgorithm;

/// How the PSS salt length is chosen (`salt_length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaltLength {
    /// `auto`: the largest possible when signing, any when verifying.
    Auto,
    /// `hash`: the digest's length.
    Hash,
    /// An explicit number of bytes.
    Bytes(usize),
}

/// The RSA signature scheme (`signature_algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaScheme {
    /// RSASSA-PSS with MGF1 over the same hash, Vault's default.
    Pss(SaltLength),
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
}

/// Why an RSA signature could not be made. The texts are Vault's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RsaSignError {
    /// A salt longer than the key and hash allow.
    #[error("requested salt length {0} is invalid")]
    SaltLength(usize),
    /// A prehashed input whose length is not the hash's, for PSS.
    #[error("crypto/rsa: input must be hashed with given hash")]
    DigestLength,
    /// A prehashed input whose length is not the hash's, for PKCS #1 v1.5 (Go's
    /// text differs between the two schemes).
    #[error("crypto/rsa: input must be hashed message")]
    HashedMessage,
    /// An unhashed PKCS #1 v1.5 input longer than the key can pad (Go's text).
    #[error("crypto/rsa: message too long for RSA key size")]
    MessageTooLong,
    /// The signing operation itself failed.
    #[error("failed to sign the input with the RSA key")]
    Internal,
}

/// One entry per salt length from 0 up to the largest any supported key allows:
/// a 4096-bit modulus with SHA-256 takes at most 512 - 32 - 2 = 478 bytes.
const SALT_LENGTHS: usize = 479;

macro_rules! salt_table {
    ($name:ident, $ty:ty, $base:path) => {
        static $name: [$ty; SALT_LENGTHS] = {
            let mut table = [$base; SALT_LENGTHS];
            let mut n = 0;
            while n < SALT_LENGTHS {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "n < SALT_LENGTHS, which fits in u16"
                )]
                let length = RsaPssSaltLength::Custom(n as u16);
                table[n] = $base.with_pss_salt_length(length);
                n += 1;
            }
            table
        };
    };
}

salt_table!(PSS_SHA256_SIGN, RsaSignatureEncoding, RSA_PSS_SHA256);
salt_table!(PSS_SHA384_SIGN, RsaSignatureEncoding, RSA_PSS_SHA384);
salt_table!(PSS_SHA512_SIGN, RsaSignatureEncoding, RSA_PSS_SHA512);
salt_table!(PSS_SHA256_VERIFY, RsaParameters, RSA_PSS_2048_8192_SHA256);
salt_table!(PSS_SHA384_VERIFY, RsaParameters, RSA_PSS_2048_8192_SHA384);
salt_table!(PSS_SHA512_VERIFY, RsaParameters, RSA_PSS_2048_8192_SHA512);

/// The parameter tables of one hash.
struct HashTables {
    pss_sign: &'static [RsaSignatureEncoding; SALT_LENGTHS],
    pss_verify: &'static [RsaParameters; SALT_LENGTHS],
    pkcs1_sign: &'static RsaSignatureEncoding,
    pkcs1_verify: &'static RsaParameters,
    algorithm: &'static aws_lc_rs::digest::Algorithm,
}

/// The aws-lc-rs parameters of `hash`; `None` for the hashes it cannot sign RSA with.
fn tables(hash: HashAlgorithm) -> Option<HashTables> {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
    Some(match hash {
        HashAlgorithm::Sha2_256 => HashTables {
            pss_sign: &PSS_SHA256_SIGN,
            pss_verify: &PSS_SHA256_VERIFY,
            pkcs1_sign: &RSA_PKCS1_SHA256,
            pkcs1_verify: &RSA_PKCS1_2048_8192_SHA256,
            algorithm: &SHA256,
        },
        HashAlgorithm::Sha2_384 => HashTables {
            pss_sign: &PSS_SHA384_SIGN,
            pss_verify: &PSS_SHA384_VERIFY,
            pkcs1_sign: &RSA_PKCS1_SHA384,
            pkcs1_verify: &RSA_PKCS1_2048_8192_SHA384,
            algorithm: &SHA384,
        },
        HashAlgorithm::Sha2_512 => HashTables {
            pss_sign: &PSS_SHA512_SIGN,
            pss_verify: &PSS_SHA512_VERIFY,
            pkcs1_sign: &RSA_PKCS1_SHA512,
            pkcs1_verify: &RSA_PKCS1_2048_8192_SHA512,
            algorithm: &SHA512,
        },
        _ => return None,
    })
}

/// The largest PSS salt for a modulus of `modulus_len` bytes and a digest of
/// `digest_len` bytes (RFC 8017 §9.1.1: emLen - hLen - 2).
fn max_salt(modulus_len: usize, digest_len: usize) -> usize {
    modulus_len.saturating_sub(digest_len + 2)
}

/// Bytes of PKCS #1 v1.5 padding around an unhashed input (RFC 8017 §9.2: at least
/// eight bytes of padding string and three fixed bytes).
const PKCS1_OVERHEAD: usize = 11;

/// Whether a PSS salt of `n` bytes fits a modulus of `modulus_len` bytes with `hash`;
/// with no hash (`none`, which PSS refuses) nothing fits.
pub fn salt_fits(modulus_len: usize, hash: Option<HashAlgorithm>, n: usize) -> bool {
    hash.is_some_and(|hash| n <= max_salt(modulus_len, hash.output_len()))
}

/// Signs `digest`, the output of `hash`, with `key`, whose PKCS#8 encoding `pkcs8`
/// serves the hashes aws-lc-rs cannot sign with. With no hash (`none`), `digest` is
/// the input itself, padded with PKCS #1 v1.5; the caller refuses `none` with PSS.
///
/// # Errors
/// [`RsaSignError`] for a salt that does not fit, a digest of the wrong length or an
/// unhashed input too long for the key.
pub fn sign(
    key: &RsaKeyPair,
    pkcs8: &[u8],
    hash: Option<HashAlgorithm>,
    scheme: RsaScheme,
    digest: &[u8],
) -> Result<Vec<u8>, RsaSignError> {
    let modulus_len = key.public_modulus_len();
    let Some(hash) = hash else {
        if scheme != RsaScheme::Pkcs1v15 {
            return Err(RsaSignError::Internal);
        }
        if digest.len() + PKCS1_OVERHEAD > modulus_len {
            return Err(RsaSignError::MessageTooLong);
        }
        return awslc::rsa_sign(pkcs8, None, RsaPadding::Pkcs1v15, digest)
            .map_err(|_| RsaSignError::Internal);
    };
    let digest_len = hash.output_len();
    let wrong_length = match scheme {
        RsaScheme::Pkcs1v15 => RsaSignError::HashedMessage,
        RsaScheme::Pss(_) => RsaSignError::DigestLength,
    };
    if digest.len() != digest_len {
        return Err(wrong_length);
    }
    let salt = match scheme {
        RsaScheme::Pkcs1v15 => None,
        RsaScheme::Pss(salt) => {
            let max = max_salt(modulus_len, digest_len);
            let length = match salt {
                SaltLength::Auto => max,
                SaltLength::Hash => digest_len,
                SaltLength::Bytes(n) => n,
            };
            if length > max {
                return Err(RsaSignError::SaltLength(length));
            }
            Some(length)
        }
    };

    let Some(tables) = tables(hash) else {
        let padding = salt.map_or(RsaPadding::Pkcs1v15, |n| RsaPadding::Pss(PssSalt::Bytes(n)));
        return awslc::rsa_sign(pkcs8, Some(hash), padding, digest)
            .map_err(|_| RsaSignError::Internal);
    };
    let digest = Digest::import_less_safe(digest, tables.algorithm).map_err(|_| wrong_length)?;
    let encoding = match salt {
        None => tables.pkcs1_sign,
        Some(length) => &tables.pss_sign[length],
    };
    let mut signature = vec![0u8; modulus_len];
    key.sign_digest(encoding, &digest, &mut signature)
        .map_err(|_| RsaSignError::Internal)?;
    Ok(signature)
}

/// Whether `signature` is a valid signature of `digest` under the public key
/// `public_der` (SubjectPublicKeyInfo DER) of `modulus_len` bytes.
///
/// A digest of the wrong length is simply not valid. With [`SaltLength::Auto`] any
/// salt length is accepted: for the hashes of aws-lc-rs, the two common lengths (the
/// largest, as Vault signs, and the digest's, as JOSE's PS256 and most libraries
/// sign) are tried first through aws-lc-rs, then AWS-LC's C API recovers the length
/// from the signature, so an invalid signature costs three checks at most.
pub fn verify(
    public_der: &[u8],
    modulus_len: usize,
    hash: Option<HashAlgorithm>,
    scheme: RsaScheme,
    digest: &[u8],
    signature: &[u8],
) -> bool {
    let Some(hash) = hash else {
        return scheme == RsaScheme::Pkcs1v15
            && awslc::rsa_verify(public_der, None, RsaPadding::Pkcs1v15, digest, signature);
    };
    let digest_len = hash.output_len();
    let max = max_salt(modulus_len, digest_len);
    if digest.len() != digest_len {
        return false;
    }

    let Some(tables) = tables(hash) else {
        let padding = match scheme {
            RsaScheme::Pkcs1v15 => RsaPadding::Pkcs1v15,
            RsaScheme::Pss(SaltLength::Auto) => RsaPadding::Pss(PssSalt::Recover),
            RsaScheme::Pss(SaltLength::Hash) => RsaPadding::Pss(PssSalt::Bytes(digest_len)),
            RsaScheme::Pss(SaltLength::Bytes(n)) if n <= max => RsaPadding::Pss(PssSalt::Bytes(n)),
            RsaScheme::Pss(SaltLength::Bytes(_)) => return false,
        };
        return awslc::rsa_verify(public_der, Some(hash), padding, digest, signature);
    };
    let Ok(digest) = Digest::import_less_safe(digest, tables.algorithm) else {
        return false;
    };
    let check = |parameters: &'static RsaParameters| {
        ParsedPublicKey::new(parameters, public_der)
            .is_ok_and(|key| key.verify_digest_sig(&digest, signature).is_ok())
    };
    match scheme {
        RsaScheme::Pkcs1v15 => check(tables.pkcs1_verify),
        RsaScheme::Pss(SaltLength::Hash) => check(&tables.pss_verify[digest_len]),
        RsaScheme::Pss(SaltLength::Bytes(n)) => n <= max && check(&tables.pss_verify[n]),
        // The two lengths signers use (Vault's largest and the digest's) go through
        // aws-lc-rs; any other is read off the signature by AWS-LC's C API, so an
        // invalid signature costs three verifications, not one per possible length.
        RsaScheme::Pss(SaltLength::Auto) => {
            check(&tables.pss_verify[max])
                || check(&tables.pss_verify[digest_len])
                || awslc::rsa_verify(
                    public_der,
                    Some(hash),
                    RsaPadding::Pss(PssSalt::Recover),
                    digest.as_ref(),
                    signature,
                )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa::RsaKey;

    fn digest(input: &[u8]) -> Vec<u8> {
        HashAlgorithm::Sha2_256.digest(input).unwrap()
    }

    #[test]
    fn every_salt_length_signs_and_verifies_with_auto() {
        let key = RsaKey::generate(2048).unwrap();
        let hash = Some(HashAlgorithm::Sha2_256);
        let digest = digest(b"hello");
        for salt in [
            SaltLength::Auto,
            SaltLength::Hash,
            SaltLength::Bytes(0),
            SaltLength::Bytes(20),
        ] {
            let signature = key.sign(hash, RsaScheme::Pss(salt), &digest).unwrap();
            assert!(key.verify(hash, RsaScheme::Pss(SaltLength::Auto), &digest, &signature));
            assert!(key.verify(hash, RsaScheme::Pss(salt), &digest, &signature));
            assert!(!key.verify(hash, RsaScheme::Pkcs1v15, &digest, &signature));
        }
    }

    #[test]
    fn a_salt_too_long_for_the_key_is_refused_with_vaults_text() {
        let key = RsaKey::generate(2048).unwrap();
        let hash = Some(HashAlgorithm::Sha2_256);
        // 256 - 32 - 2 = 222 bytes at most.
        assert!(
            key.sign(hash, RsaScheme::Pss(SaltLength::Bytes(222)), &digest(b"x"))
                .is_ok()
        );
        let err = key
            .sign(hash, RsaScheme::Pss(SaltLength::Bytes(223)), &digest(b"x"))
            .unwrap_err();
        assert_eq!(err.to_string(), "requested salt length 223 is invalid");
    }

    #[test]
    fn pkcs1v15_is_deterministic_and_checks_the_digest_length() {
        let key = RsaKey::generate(2048).unwrap();
        let hash = Some(HashAlgorithm::Sha2_256);
        let one = key.sign(hash, RsaScheme::Pkcs1v15, &digest(b"m")).unwrap();
        let two = key.sign(hash, RsaScheme::Pkcs1v15, &digest(b"m")).unwrap();

        assert_eq!(one, two);
        assert!(key.verify(hash, RsaScheme::Pkcs1v15, &digest(b"m"), &one));
        assert!(!key.verify(hash, RsaScheme::Pkcs1v15, &digest(b"n"), &one));
        assert_eq!(
            key.sign(hash, RsaScheme::Pkcs1v15, b"short"),
            Err(RsaSignError::HashedMessage)
        );
    }

    #[test]
    fn the_hashes_of_aws_lc_s_c_api_sign_and_verify_with_both_schemes() {
        let key = RsaKey::generate(2048).unwrap();
        let hashes = [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha2_224,
            HashAlgorithm::Sha3_224,
            HashAlgorithm::Sha3_256,
            HashAlgorithm::Sha3_384,
            HashAlgorithm::Sha3_512,
        ];
        for hash in hashes {
            let digest = hash.digest(b"payload").unwrap();
            let other = hash.digest(b"other").unwrap();
            let max = 256 - hash.output_len() - 2;
            let schemes = [
                RsaScheme::Pkcs1v15,
                RsaScheme::Pss(SaltLength::Auto),
                RsaScheme::Pss(SaltLength::Hash),
                RsaScheme::Pss(SaltLength::Bytes(0)),
                RsaScheme::Pss(SaltLength::Bytes(max)),
            ];
            for scheme in schemes {
                let signature = key.sign(Some(hash), scheme, &digest).unwrap();
                assert_eq!(signature.len(), 256);
                assert!(
                    key.verify(Some(hash), scheme, &digest, &signature),
                    "{hash}"
                );
                assert!(
                    !key.verify(Some(hash), scheme, &other, &signature),
                    "{hash}"
                );
                if scheme != RsaScheme::Pkcs1v15 {
                    let auto = RsaScheme::Pss(SaltLength::Auto);
                    assert!(key.verify(Some(hash), auto, &digest, &signature), "{hash}");
                }
            }
            assert_eq!(
                key.sign(
                    Some(hash),
                    RsaScheme::Pss(SaltLength::Bytes(max + 1)),
                    &digest
                ),
                Err(RsaSignError::SaltLength(max + 1))
            );
            assert_eq!(
                key.sign(Some(hash), RsaScheme::Pkcs1v15, &digest[1..]),
                Err(RsaSignError::HashedMessage)
            );
        }
    }

    #[test]
    fn unhashed_pkcs1v15_pads_the_input_itself() {
        let key = RsaKey::generate(2048).unwrap();
        let input = digest(b"m");
        let raw = key.sign(None, RsaScheme::Pkcs1v15, &input).unwrap();
        let with_digest_info = key
            .sign(Some(HashAlgorithm::Sha2_256), RsaScheme::Pkcs1v15, &input)
            .unwrap();

        assert_ne!(raw, with_digest_info);
        assert!(key.verify(None, RsaScheme::Pkcs1v15, &input, &raw));
        assert!(!key.verify(None, RsaScheme::Pkcs1v15, &input, &with_digest_info));
        assert!(!key.verify(None, RsaScheme::Pss(SaltLength::Auto), &input, &raw));
        // 256 - 11 = 245 bytes at most.
        assert!(key.sign(None, RsaScheme::Pkcs1v15, &[7; 245]).is_ok());
        assert_eq!(
            key.sign(None, RsaScheme::Pkcs1v15, &[7; 246]),
            Err(RsaSignError::MessageTooLong)
        );
    }
}
