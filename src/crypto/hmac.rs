//! HMAC (RFC 2104) with the hash algorithms aws-lc-rs offers for it.

use aws_lc_rs::hmac;

use super::hash::{HashAlgorithm, UnsupportedHash};

fn algorithm(hash: HashAlgorithm) -> Result<hmac::Algorithm, UnsupportedHash> {
    Ok(match hash {
        HashAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha2_224 => hmac::HMAC_SHA224,
        HashAlgorithm::Sha2_256 => hmac::HMAC_SHA256,
        HashAlgorithm::Sha2_384 => hmac::HMAC_SHA384,
        HashAlgorithm::Sha2_512 => hmac::HMAC_SHA512,
        // aws-lc-rs has no HMAC over SHA-3.
        other => return Err(UnsupportedHash(other)),
    })
}

/// The HMAC of `message` under `key`.
///
/// # Errors
/// [`UnsupportedHash`] for a hash aws-lc-rs offers no HMAC for.
pub fn sign(hash: HashAlgorithm, key: &[u8], message: &[u8]) -> Result<Vec<u8>, UnsupportedHash> {
    let key = hmac::Key::new(algorithm(hash)?, key);
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Whether `tag` is the HMAC of `message`, compared in constant time.
///
/// # Errors
/// [`UnsupportedHash`] for a hash aws-lc-rs offers no HMAC for.
pub fn verify(
    hash: HashAlgorithm,
    key: &[u8],
    message: &[u8],
    tag: &[u8],
) -> Result<bool, UnsupportedHash> {
    let key = hmac::Key::new(algorithm(hash)?, key);
    Ok(hmac::verify(&key, message, tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let tag = sign(
            HashAlgorithm::Sha2_256,
            b"Jefe",
            b"what do ya want for nothing?",
        )
        .unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(
            verify(
                HashAlgorithm::Sha2_256,
                b"Jefe",
                b"what do ya want for nothing?",
                &tag
            )
            .unwrap()
        );
        assert!(!verify(HashAlgorithm::Sha2_256, b"Jefe", b"other", &tag).unwrap());
    }

    #[test]
    fn sha3_hmacs_are_refused() {
        assert!(sign(HashAlgorithm::Sha3_256, b"k", b"m").is_err());
    }
}
