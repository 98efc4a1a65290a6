//! HMAC (RFC 2104): with aws-lc-rs for SHA-1 and SHA-2, with AWS-LC's C API for the
//! SHA-3 hashes (see [`super::awslc`]).

use aws_lc_rs::hmac;

use super::hash::HashAlgorithm;
use super::{CryptoError, awslc};

/// The aws-lc-rs algorithm of `hash`; `None` for the SHA-3 hashes, which aws-lc-rs
/// offers no HMAC for and AWS-LC's C API computes instead.
fn algorithm(hash: HashAlgorithm) -> Option<hmac::Algorithm> {
    match hash {
        HashAlgorithm::Sha1 => Some(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        HashAlgorithm::Sha2_224 => Some(hmac::HMAC_SHA224),
        HashAlgorithm::Sha2_256 => Some(hmac::HMAC_SHA256),
        HashAlgorithm::Sha2_384 => Some(hmac::HMAC_SHA384),
        HashAlgorithm::Sha2_512 => Some(hmac::HMAC_SHA512),
        HashAlgorithm::Sha3_224
        | HashAlgorithm::Sha3_256
        | HashAlgorithm::Sha3_384
        | HashAlgorithm::Sha3_512 => None,
    }
}

/// The HMAC of `message` under `key`.
///
/// # Errors
/// [`CryptoError::Internal`] if AWS-LC fails on a SHA-3 HMAC (out of memory).
pub fn sign(hash: HashAlgorithm, key: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let Some(algorithm) = algorithm(hash) else {
        return awslc::hmac(hash, key, message);
    };
    let key = hmac::Key::new(algorithm, key);
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Whether `tag` is the HMAC of `message`, compared in constant time.
///
/// # Errors
/// [`CryptoError::Internal`] if AWS-LC fails on a SHA-3 HMAC (out of memory).
pub fn verify(
    hash: HashAlgorithm,
    key: &[u8],
    message: &[u8],
    tag: &[u8],
) -> Result<bool, CryptoError> {
    let Some(algorithm) = algorithm(hash) else {
        return awslc::hmac_verify(hash, key, message, tag);
    };
    let key = hmac::Key::new(algorithm, key);
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
    fn sha3_hmacs_match_the_nist_examples() {
        // NIST's HMAC example values (csrc.nist.gov, "HMAC_SHA3-*.pdf", sample 1): the
        // key is the bytes 00..1f for SHA3-224 and SHA3-256, 00..2f for SHA3-384 and
        // 00..3f for SHA3-512, the message "Sample message for keylen<blocklen".
        let message = b"Sample message for keylen<blocklen";
        let key = |len: u8| (0..len).collect::<Vec<u8>>();
        let cases = [
            (
                HashAlgorithm::Sha3_224,
                28,
                "332cfd59347fdb8e576e77260be4aba2d6dc53117b3bfb52c6d18c04",
            ),
            (
                HashAlgorithm::Sha3_256,
                32,
                "4fe8e202c4f058e8dddc23d8c34e467343e23555e24fc2f025d598f558f67205",
            ),
            (
                HashAlgorithm::Sha3_384,
                48,
                "d588a3c51f3f2d906e8298c1199aa8ff6296218127f6b38a90b6afe2c5617725\
                 bc99987f79b22a557b6520db710b7f42",
            ),
            (
                HashAlgorithm::Sha3_512,
                64,
                "4efd629d6c71bf86162658f29943b1c308ce27cdfa6db0d9c3ce81763f9cbce5\
                 f7ebe9868031db1a8f8eb7b6b95e5c5e3f657a8996c86a2f6527e307f0213196",
            ),
        ];
        for (hash, key_len, expected) in cases {
            let tag = sign(hash, &key(key_len), message).unwrap();
            let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, expected, "{hash}");
            assert!(verify(hash, &key(key_len), message, &tag).unwrap());
            assert!(!verify(hash, &key(key_len), b"other", &tag).unwrap());
        }
    }
}
