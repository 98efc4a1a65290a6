//! Hash algorithm names as the transit API spells them (`sha2-256`, ...).

use std::fmt;

use aws_lc_rs::digest;

/// A hash algorithm accepted by sign and verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1, kept for Vault compatibility only.
    Sha1,
    /// SHA-224 (FIPS 180-4).
    Sha2_224,
    /// SHA-256 (FIPS 180-4), Vault's default.
    Sha2_256,
    /// SHA-384 (FIPS 180-4).
    Sha2_384,
    /// SHA-512 (FIPS 180-4).
    Sha2_512,
    /// SHA3-224 (FIPS 202).
    Sha3_224,
    /// SHA3-256 (FIPS 202).
    Sha3_256,
    /// SHA3-384 (FIPS 202).
    Sha3_384,
    /// SHA3-512 (FIPS 202).
    Sha3_512,
}

/// The hash named in a request is one vault-kms cannot compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hash algorithm {0} is not supported by vault-kms")]
pub struct UnsupportedHash(pub HashAlgorithm);

impl HashAlgorithm {
    /// Vault's default when a request names none.
    pub const DEFAULT: HashAlgorithm = HashAlgorithm::Sha2_256;

    /// Parses a Vault hash name; names are case-sensitive, as in Vault.
    pub fn from_vault_name(name: &str) -> Option<Self> {
        Some(match name {
            "sha1" => Self::Sha1,
            "sha2-224" => Self::Sha2_224,
            "sha2-256" => Self::Sha2_256,
            "sha2-384" => Self::Sha2_384,
            "sha2-512" => Self::Sha2_512,
            "sha3-224" => Self::Sha3_224,
            "sha3-256" => Self::Sha3_256,
            "sha3-384" => Self::Sha3_384,
            "sha3-512" => Self::Sha3_512,
            _ => return None,
        })
    }

    /// The Vault name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha2_224 => "sha2-224",
            Self::Sha2_256 => "sha2-256",
            Self::Sha2_384 => "sha2-384",
            Self::Sha2_512 => "sha2-512",
            Self::Sha3_224 => "sha3-224",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }

    fn algorithm(self) -> Result<&'static digest::Algorithm, UnsupportedHash> {
        Ok(match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha2_224 => &digest::SHA224,
            Self::Sha2_256 => &digest::SHA256,
            Self::Sha2_384 => &digest::SHA384,
            Self::Sha2_512 => &digest::SHA512,
            Self::Sha3_256 => &digest::SHA3_256,
            Self::Sha3_384 => &digest::SHA3_384,
            Self::Sha3_512 => &digest::SHA3_512,
            // aws-lc-rs offers no SHA3-224.
            Self::Sha3_224 => return Err(UnsupportedHash(self)),
        })
    }

    /// The digest of `message`.
    ///
    /// # Errors
    /// [`UnsupportedHash`] for an algorithm the crypto provider lacks.
    pub fn digest(self, message: &[u8]) -> Result<digest::Digest, UnsupportedHash> {
        Ok(digest::digest(self.algorithm()?, message))
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "sha1", "sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-256",
        ] {
            let alg = HashAlgorithm::from_vault_name(name).unwrap();
            assert_eq!(alg.as_str(), name);
        }
        assert_eq!(HashAlgorithm::from_vault_name("SHA2-256"), None);
        assert_eq!(HashAlgorithm::from_vault_name("sha256"), None);
    }

    #[test]
    fn digest_lengths_match_the_algorithm() {
        let cases = [
            (HashAlgorithm::Sha2_224, 28),
            (HashAlgorithm::Sha2_256, 32),
            (HashAlgorithm::Sha2_384, 48),
            (HashAlgorithm::Sha2_512, 64),
        ];
        for (alg, len) in cases {
            assert_eq!(alg.digest(b"abc").unwrap().as_ref().len(), len, "{alg}");
        }
    }

    #[test]
    fn sha256_known_answer_from_fips_180_2() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let digest = HashAlgorithm::Sha2_256.digest(b"abc").unwrap();
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }
}
