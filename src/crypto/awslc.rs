//! The few operations Vault serves that aws-lc-rs's safe API does not expose, done by
//! the same AWS-LC library through its C API (`aws-lc-sys`, the version aws-lc-rs
//! itself builds, so one copy of AWS-LC is linked).
//!
//! - SHA3-224 digests.
//! - HMAC over SHA3-224, SHA3-256, SHA3-384 and SHA3-512.
//! - RSA signatures (RSASSA-PSS and RSASSA-PKCS1-v1_5) over digests of SHA-1, SHA-224
//!   and the SHA-3 hashes, and PKCS #1 v1.5 padding of an input without a DigestInfo
//!   (Vault's `hash_algorithm=none`).
//! - RSA-OAEP decryption with SHA-224 for the digest and MGF1 (BYOK `hash_function`).
//!
//! This is the only module of the crate allowed `unsafe` code. It implements no
//! primitive: every step is one AWS-LC call. Each object AWS-LC allocates is held by a
//! small owner that frees it on drop, so every path frees it; every return code is
//! checked; secrets cross into AWS-LC by pointer and what comes back (an HMAC being
//! compared, a decrypted key) lands in buffers zeroized on drop. Keys are parsed from
//! their DER encodings on each call: these combinations are rare, and parsing keeps
//! the module free of shared C objects.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint};
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoError;
use super::hash::HashAlgorithm;

/// The largest digest of any hash here (SHA-512, SHA3-512).
const MAX_DIGEST_LEN: usize = 64;

/// The AWS-LC message digest of `hash`.
fn md(hash: HashAlgorithm) -> *const sys::EVP_MD {
    // SAFETY: the EVP_* digest getters take no argument and return pointers to
    // static, immutable method tables that live as long as the program.
    unsafe {
        match hash {
            HashAlgorithm::Sha1 => sys::EVP_sha1(),
            HashAlgorithm::Sha2_224 => sys::EVP_sha224(),
            HashAlgorithm::Sha2_256 => sys::EVP_sha256(),
            HashAlgorithm::Sha2_384 => sys::EVP_sha384(),
            HashAlgorithm::Sha2_512 => sys::EVP_sha512(),
            HashAlgorithm::Sha3_224 => sys::EVP_sha3_224(),
            HashAlgorithm::Sha3_256 => sys::EVP_sha3_256(),
            HashAlgorithm::Sha3_384 => sys::EVP_sha3_384(),
            HashAlgorithm::Sha3_512 => sys::EVP_sha3_512(),
        }
    }
}

/// A failed AWS-LC call: drops the thread's queued AWS-LC errors, which carry
/// nothing this crate reports, and answers the crate's detail-free error.
fn failed() -> CryptoError {
    // SAFETY: ERR_clear_error takes no argument and only empties this thread's
    // error queue.
    unsafe { sys::ERR_clear_error() };
    CryptoError::Internal
}

/// Checks an AWS-LC return code: 1 is success, anything else a failure.
fn check(code: c_int) -> Result<(), CryptoError> {
    if code == 1 { Ok(()) } else { Err(failed()) }
}

/// The digest of `message` with `hash`.
///
/// # Errors
/// [`CryptoError::Internal`] if AWS-LC fails (out of memory).
pub fn digest(hash: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = [0u8; MAX_DIGEST_LEN];
    let mut len: c_uint = 0;
    // SAFETY: `message` is valid for reads of its length; `out` holds
    // EVP_MAX_MD_SIZE (64) bytes, the most any digest writes; `len` is a valid
    // out-parameter; the MD is a static table; no ENGINE is passed. EVP_Digest keeps
    // no pointer after it returns.
    let code = unsafe {
        sys::EVP_Digest(
            message.as_ptr().cast(),
            message.len(),
            out.as_mut_ptr(),
            &mut len,
            md(hash),
            ptr::null_mut(),
        )
    };
    check(code)?;
    let len = usize::try_from(len).map_err(|_| CryptoError::Internal)?;
    Ok(out.get(..len).ok_or(CryptoError::Internal)?.to_vec())
}

/// The HMAC of `message` under `key` with `hash`, into a buffer zeroized on drop.
fn hmac_into(
    hash: HashAlgorithm,
    key: &[u8],
    message: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; MAX_DIGEST_LEN]);
    let mut len: c_uint = 0;
    // SAFETY: `key` and `message` are valid for reads of their lengths; `out` holds
    // 64 bytes, the largest HMAC output; `len` is a valid out-parameter. HMAC keeps
    // no pointer after it returns and cleanses its own working state, which holds
    // the key, on every path.
    let tag = unsafe {
        sys::HMAC(
            md(hash),
            key.as_ptr().cast(),
            key.len(),
            message.as_ptr(),
            message.len(),
            out.as_mut_ptr(),
            &mut len,
        )
    };
    if tag.is_null() {
        return Err(failed());
    }
    let len = usize::try_from(len).map_err(|_| CryptoError::Internal)?;
    if len > out.len() {
        return Err(CryptoError::Internal);
    }
    out.truncate(len);
    Ok(out)
}

/// The HMAC (RFC 2104) of `message` under `key` with `hash`.
///
/// # Errors
/// [`CryptoError::Internal`] if AWS-LC fails.
pub fn hmac(hash: HashAlgorithm, key: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    Ok(hmac_into(hash, key, message)?.to_vec())
}

/// Whether `tag` is the HMAC of `message` under `key` with `hash`, compared in
/// constant time.
///
/// # Errors
/// [`CryptoError::Internal`] if AWS-LC fails.
pub fn hmac_verify(
    hash: HashAlgorithm,
    key: &[u8],
    message: &[u8],
    tag: &[u8],
) -> Result<bool, CryptoError> {
    let expected = hmac_into(hash, key, message)?;
    Ok(bool::from(expected.as_slice().ct_eq(tag)))
}

/// An `EVP_PKEY` this module owns; freed on drop.
struct Pkey(NonNull<sys::EVP_PKEY>);

impl Pkey {
    /// An RSA key from DER bytes with `parse` (`EVP_parse_private_key` for PKCS#8,
    /// `EVP_parse_public_key` for SubjectPublicKeyInfo); the whole input must be one
    /// RSA key.
    fn parse_rsa(
        der: &[u8],
        parse: unsafe extern "C" fn(*mut sys::CBS) -> *mut sys::EVP_PKEY,
    ) -> Result<Self, CryptoError> {
        let mut cbs = MaybeUninit::<sys::CBS>::uninit();
        // SAFETY: CBS_init fully initialises the CBS to borrow `der`, which outlives
        // every use of `cbs` in this function; `parse` reads through the CBS only
        // and returns a new EVP_PKEY that we own, or null.
        let (raw, rest) = unsafe {
            sys::CBS_init(cbs.as_mut_ptr(), der.as_ptr(), der.len());
            let raw = parse(cbs.as_mut_ptr());
            (raw, sys::CBS_len(cbs.as_ptr()))
        };
        let key = Self(NonNull::new(raw).ok_or_else(failed)?);
        // SAFETY: `key` holds a valid EVP_PKEY.
        let id = unsafe { sys::EVP_PKEY_id(key.0.as_ptr()) };
        if rest != 0 || id != sys::EVP_PKEY_RSA {
            return Err(CryptoError::MalformedKey);
        }
        Ok(key)
    }

    fn private_rsa(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        Self::parse_rsa(pkcs8, sys::EVP_parse_private_key).map_err(|_| CryptoError::MalformedKey)
    }

    fn public_rsa(spki: &[u8]) -> Result<Self, CryptoError> {
        Self::parse_rsa(spki, sys::EVP_parse_public_key).map_err(|_| CryptoError::MalformedKey)
    }

    /// The size of the key's RSA modulus in bytes.
    fn size(&self) -> Result<usize, CryptoError> {
        // SAFETY: `self` holds a valid EVP_PKEY.
        let size = unsafe { sys::EVP_PKEY_size(self.0.as_ptr()) };
        usize::try_from(size).map_err(|_| CryptoError::Internal)
    }

    /// A fresh operation context on this key.
    fn context(&self) -> Result<PkeyCtx, CryptoError> {
        // SAFETY: `self` holds a valid EVP_PKEY; the context takes its own
        // reference to it, so it stays valid whichever is dropped first. No ENGINE.
        let raw = unsafe { sys::EVP_PKEY_CTX_new(self.0.as_ptr(), ptr::null_mut()) };
        NonNull::new(raw).map(PkeyCtx).ok_or_else(failed)
    }
}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: we own this reference, made by a parse function, and drop it once.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// An `EVP_PKEY_CTX` this module owns; freed on drop.
struct PkeyCtx(NonNull<sys::EVP_PKEY_CTX>);

impl PkeyCtx {
    fn as_ptr(&self) -> *mut sys::EVP_PKEY_CTX {
        self.0.as_ptr()
    }

    /// Sets the padding, and for a signature with a hash the hash (also MGF1's).
    fn set_rsa_padding(
        &self,
        padding: RsaPadding,
        hash: Option<HashAlgorithm>,
    ) -> Result<(), CryptoError> {
        let mode = match padding {
            RsaPadding::Pkcs1v15 => sys::RSA_PKCS1_PADDING,
            RsaPadding::Pss(_) => sys::RSA_PKCS1_PSS_PADDING,
        };
        // SAFETY: `self` holds a valid context initialised for sign or verify.
        check(unsafe { sys::EVP_PKEY_CTX_set_rsa_padding(self.as_ptr(), mode) })?;
        if let Some(hash) = hash {
            // SAFETY: as above; the MD is a static table.
            check(unsafe { sys::EVP_PKEY_CTX_set_signature_md(self.as_ptr(), md(hash)) })?;
        }
        let RsaPadding::Pss(salt) = padding else {
            return Ok(());
        };
        let Some(hash) = hash else {
            // PSS always hashes; `none` is refused before this by the caller.
            return Err(CryptoError::Internal);
        };
        let salt = match salt {
            PssSalt::Bytes(n) => c_int::try_from(n).map_err(|_| CryptoError::Internal)?,
            PssSalt::Recover => sys::RSA_PSS_SALTLEN_AUTO,
        };
        // SAFETY: as above; the context's padding is PSS, which these calls require.
        unsafe {
            check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(self.as_ptr(), md(hash)))?;
            check(sys::EVP_PKEY_CTX_set_rsa_pss_saltlen(self.as_ptr(), salt))
        }
    }
}

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: we own this context, made by EVP_PKEY_CTX_new, and drop it once.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

/// The PSS salt length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PssSalt {
    /// Exactly this many bytes.
    Bytes(usize),
    /// Verification only: any length, recovered from the signature (Go's
    /// `PSSSaltLengthAuto` when verifying).
    Recover,
}

/// The RSA signature padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5: with a hash, its DigestInfo and the digest; without one,
    /// the input itself, padded.
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 over the signature's hash.
    Pss(PssSalt),
}

/// Signs `digest` (or with `hash` `None`, the raw input of PKCS #1 v1.5) with the RSA
/// key in `pkcs8`. The caller checks the digest length and the salt length first.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if `pkcs8` is not an RSA key, else
/// [`CryptoError::Internal`] when AWS-LC refuses the operation.
pub fn rsa_sign(
    pkcs8: &[u8],
    hash: Option<HashAlgorithm>,
    padding: RsaPadding,
    digest: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = Pkey::private_rsa(pkcs8)?;
    let ctx = key.context()?;
    // SAFETY: `ctx` holds a valid context on an RSA private key.
    check(unsafe { sys::EVP_PKEY_sign_init(ctx.as_ptr()) })?;
    ctx.set_rsa_padding(padding, hash)?;

    let mut signature = vec![0u8; key.size()?];
    let mut len = signature.len();
    // SAFETY: `signature` is writable for `len` bytes, the key's size, which is what
    // an RSA signature takes; `digest` is valid for reads of its length; `len` is a
    // valid in/out parameter. Nothing is kept after the call.
    let code = unsafe {
        sys::EVP_PKEY_sign(
            ctx.as_ptr(),
            signature.as_mut_ptr(),
            &mut len,
            digest.as_ptr(),
            digest.len(),
        )
    };
    check(code)?;
    if len > signature.len() {
        return Err(CryptoError::Internal);
    }
    signature.truncate(len);
    Ok(signature)
}

/// Whether `signature` is a valid RSA signature of `digest` (or with `hash` `None`,
/// of the raw PKCS #1 v1.5 input) under the SubjectPublicKeyInfo `public_der`.
/// Anything AWS-LC refuses, a malformed key included, is simply not valid.
pub fn rsa_verify(
    public_der: &[u8],
    hash: Option<HashAlgorithm>,
    padding: RsaPadding,
    digest: &[u8],
    signature: &[u8],
) -> bool {
    let verified = || -> Result<(), CryptoError> {
        let key = Pkey::public_rsa(public_der)?;
        let ctx = key.context()?;
        // SAFETY: `ctx` holds a valid context on an RSA public key.
        check(unsafe { sys::EVP_PKEY_verify_init(ctx.as_ptr()) })?;
        ctx.set_rsa_padding(padding, hash)?;
        // SAFETY: `signature` and `digest` are valid for reads of their lengths and
        // are not kept after the call.
        check(unsafe {
            sys::EVP_PKEY_verify(
                ctx.as_ptr(),
                signature.as_ptr(),
                signature.len(),
                digest.as_ptr(),
                digest.len(),
            )
        })
    };
    verified().is_ok()
}

/// Decrypts an RSAES-OAEP `ciphertext` (RFC 8017 §7.1.2, `hash` for the digest and
/// MGF1, empty label) with the RSA key in `pkcs8`, into a buffer zeroized on drop.
///
/// # Errors
/// [`CryptoError::MalformedKey`] if `pkcs8` is not an RSA key;
/// [`CryptoError::Authentication`] for any ciphertext that does not decrypt.
pub fn rsa_oaep_decrypt(
    pkcs8: &[u8],
    hash: HashAlgorithm,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = Pkey::private_rsa(pkcs8)?;
    let ctx = key.context()?;
    // SAFETY: `ctx` holds a valid context on an RSA private key; the MD is a static
    // table; OAEP padding is set before the OAEP and MGF1 hashes, as they require.
    unsafe {
        check(sys::EVP_PKEY_decrypt_init(ctx.as_ptr()))?;
        check(sys::EVP_PKEY_CTX_set_rsa_padding(
            ctx.as_ptr(),
            sys::RSA_PKCS1_OAEP_PADDING,
        ))?;
        check(sys::EVP_PKEY_CTX_set_rsa_oaep_md(ctx.as_ptr(), md(hash)))?;
        check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.as_ptr(), md(hash)))?;
    }

    let mut plaintext = Zeroizing::new(vec![0u8; key.size()?]);
    let mut len = plaintext.len();
    // SAFETY: `plaintext` is writable for `len` bytes, the key's size, the most OAEP
    // can recover; `ciphertext` is valid for reads of its length; `len` is a valid
    // in/out parameter. Nothing is kept after the call.
    let code = unsafe {
        sys::EVP_PKEY_decrypt(
            ctx.as_ptr(),
            plaintext.as_mut_ptr(),
            &mut len,
            ciphertext.as_ptr(),
            ciphertext.len(),
        )
    };
    if code != 1 {
        failed();
        return Err(CryptoError::Authentication);
    }
    if len > plaintext.len() {
        return Err(CryptoError::Internal);
    }
    plaintext.truncate(len);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    #[test]
    fn sha3_224_known_answer_from_fips_202_examples() {
        // NIST's SHA3-224 example for the empty message and for "abc".
        assert_eq!(
            digest(HashAlgorithm::Sha3_224, b"").unwrap(),
            hex("6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7")
        );
        assert_eq!(
            digest(HashAlgorithm::Sha3_224, b"abc").unwrap(),
            hex("e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf")
        );
    }

    #[test]
    fn hmac_sha3_256_matches_its_own_verification_only() {
        let tag = hmac(HashAlgorithm::Sha3_256, b"key", b"message").unwrap();
        assert_eq!(tag.len(), 32);
        assert!(hmac_verify(HashAlgorithm::Sha3_256, b"key", b"message", &tag).unwrap());
        assert!(!hmac_verify(HashAlgorithm::Sha3_256, b"key", b"other", &tag).unwrap());
        assert!(!hmac_verify(HashAlgorithm::Sha3_256, b"key", b"message", &tag[1..]).unwrap());
    }

    #[test]
    fn malformed_keys_are_refused_and_do_not_verify() {
        assert_eq!(
            rsa_sign(b"not a key", None, RsaPadding::Pkcs1v15, &[0; 20]),
            Err(CryptoError::MalformedKey)
        );
        assert!(!rsa_verify(
            b"not a key",
            None,
            RsaPadding::Pkcs1v15,
            &[0; 20],
            &[0; 256]
        ));
        assert_eq!(
            rsa_oaep_decrypt(b"", HashAlgorithm::Sha2_224, &[0; 256]),
            Err(CryptoError::MalformedKey)
        );
    }
}
