//! Hash algorithm names as the transit API spells them (`sha2-256`, ...).

use std::fmt;

use aws_lc_rs::digest;

use super::{CryptoError, awslc};

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

    /// The length of a digest, in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha2_224 | Self::Sha3_224 => 28,
            Self::Sha2_256 | Self::Sha3_256 => 32,
            Self::Sha2_384 | Self::Sha3_384 => 48,
            Self::Sha2_512 | Self::Sha3_512 => 64,
        }
    }

    /// The digest of `message`: aws-lc-rs computes every hash it offers, AWS-LC's C
    /// API (see [`super::awslc`]) the SHA3-224 it does not.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] if AWS-LC fails (out of memory).
    pub fn digest(self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let algorithm = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha2_224 => &digest::SHA224,
            Self::Sha2_256 => &digest::SHA256,
            Self::Sha2_384 => &digest::SHA384,
            Self::Sha2_512 => &digest::SHA512,
            Self::Sha3_256 => &digest::SHA3_256,
            Self::Sha3_384 => &digest::SHA3_384,
            Self::Sha3_512 => &digest::SHA3_512,
            Self::Sha3_224 => return awslc::digest(self, message),
        };
        Ok(digest::digest(algorithm, message).as_ref().to_vec())
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
            "sha1", "sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-224", "sha3-256",
            "sha3-384", "sha3-512",
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
            (HashAlgorithm::Sha3_224, 28),
            (HashAlgorithm::Sha3_256, 32),
            (HashAlgorithm::Sha3_384, 48),
            (HashAlgorithm::Sha3_512, 64),
            (HashAlgorithm::Sha1, 20),
        ];
        for (alg, len) in cases {
            assert_eq!(alg.digest(b"abc").unwrap().len(), len, "{alg}");
            assert_eq!(alg.output_len(), len, "{alg}");
        }
    }

    #[test]
    fn sha256_known_answer_from_fips_180_2() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let digest = HashAlgorithm::Sha2_256.digest(b"abc").unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }
}
