//! The options `sign` and `verify` share: the hash, `prehashed`,
//! `marshaling_algorithm`, `signature_algorithm` and `salt_length`, read and refused
//! in Vault's order.

use crate::crypto::KeyType;
use crate::crypto::ecdsa::Marshaling;
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::rsa_signing::{RsaScheme, SaltLength};
use crate::http::error::ApiError;
use crate::http::params::{WeakBool, WeakString};

/// The options sign and verify share, checked the same way for both: the marshaling
/// and salt options when they are read, the hash only once the key is known
/// ([`Options::check_for_key`]), in Vault's order.
pub(super) struct Options {
    /// `None` for `hash_algorithm=none` (a prehashed raw input), and for a name that is
    /// no hash, which [`Options::check_for_key`] refuses before any use.
    pub(super) hash: Option<HashAlgorithm>,
    /// The name as given.
    hash_name: String,
    prehashed: bool,
    pub(super) marshaling: Marshaling,
    /// `signature_algorithm` as given; it matters for RSA keys only.
    signature_algorithm: Option<String>,
    /// The PSS salt length; it matters for RSA keys only.
    salt: SaltLength,
}

/// The hash a sign or verify request names: in the URL, else `hash_algorithm`, else
/// `algorithm`, else sha2-256.
pub(super) fn hash_name<'a>(
    url_algorithm: Option<&'a str>,
    hash_algorithm: Option<&'a WeakString>,
    algorithm: Option<&'a WeakString>,
) -> &'a str {
    [
        url_algorithm,
        hash_algorithm.map(|h| h.0.as_str()),
        algorithm.map(|a| a.0.as_str()),
    ]
    .into_iter()
    .flatten()
    .find(|name| !name.is_empty())
    .unwrap_or(HashAlgorithm::DEFAULT.as_str())
}

/// Refuses a hash name that is neither a hash nor `none`.
pub(super) fn check_hash_name(name: &str) -> Result<(), ApiError> {
    if name == "none" || HashAlgorithm::from_vault_name(name).is_some() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "invalid hash algorithm \"{name}\""
    )))
}

/// Parses `salt_length` as Vault does: `auto` (or 0), `hash` (or -1), or a count.
fn parse_salt_length(text: &str) -> Result<SaltLength, ApiError> {
    let salt = text.to_ascii_lowercase();
    match salt.as_str() {
        "auto" => return Ok(SaltLength::Auto),
        "hash" => return Ok(SaltLength::Hash),
        _ => {}
    }
    let n: i64 = salt.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "salt length neither 'auto', 'hash', nor an int: {salt}"
        ))
    })?;
    match n {
        0 => Ok(SaltLength::Auto),
        -1 => Ok(SaltLength::Hash),
        n => usize::try_from(n)
            .map(SaltLength::Bytes)
            .map_err(|_| ApiError::bad_request(format!("salt length is invalid: {n}"))),
    }
}

impl Options {
    pub(super) fn parse(
        url_algorithm: Option<&str>,
        hash_algorithm: Option<&WeakString>,
        algorithm: Option<&WeakString>,
        prehashed: Option<WeakBool>,
        signature_algorithm: Option<&WeakString>,
        marshaling_algorithm: Option<&WeakString>,
        salt_length: Option<&WeakString>,
    ) -> Result<Self, ApiError> {
        let name = hash_name(url_algorithm, hash_algorithm, algorithm);
        let hash = HashAlgorithm::from_vault_name(name);

        let marshaling = match marshaling_algorithm.map_or("asn1", |m| m.0.as_str()) {
            "asn1" | "" => Marshaling::Asn1,
            "jws" => Marshaling::Jws,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid marshaling type \"{other}\""
                )));
            }
        };

        let salt = match salt_length {
            None => SaltLength::Auto,
            Some(salt) => parse_salt_length(&salt.0)?,
        };

        let prehashed = prehashed.is_some_and(|p| p.0);

        Ok(Self {
            hash,
            hash_name: name.to_owned(),
            prehashed,
            marshaling,
            signature_algorithm: signature_algorithm.map(|s| s.0.clone()),
            salt,
        })
    }

    /// Refuses a name that is no hash, then `hash_algorithm=none` unless the input is
    /// prehashed for PKCS #1 v1.5; ed25519 keys ignore `none`, as in Vault.
    pub(super) fn check_for_key(&self, key_type: KeyType) -> Result<(), ApiError> {
        check_hash_name(&self.hash_name)?;
        let pkcs1v15 = self.signature_algorithm.as_deref() == Some("pkcs1v15");
        if self.hash.is_none() && key_type != KeyType::Ed25519 && !(self.prehashed && pkcs1v15) {
            return Err(ApiError::bad_request(
                "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
            ));
        }
        Ok(())
    }

    /// The RSA scheme: PSS unless `signature_algorithm` says `pkcs1v15`.
    pub(super) fn rsa_scheme(&self) -> Result<RsaScheme, String> {
        match self.signature_algorithm.as_deref() {
            None | Some("" | "pss") => Ok(RsaScheme::Pss(self.salt)),
            Some("pkcs1v15") => Ok(RsaScheme::Pkcs1v15),
            Some(other) => Err(format!("unsupported rsa signature algorithm {other}")),
        }
    }

    /// The digest to sign: the input itself when prehashed, else its hash.
    pub(super) fn digest(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        match self.hash {
            Some(hash) if !self.prehashed => hash.digest(input).map_err(|e| e.to_string()),
            _ => Ok(input.to_vec()),
        }
    }
}
