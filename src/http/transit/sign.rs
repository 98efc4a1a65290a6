//! `sign/:name[/:hash_algorithm]` and `verify/:name[/:hash_algorithm]`.
//!
//! The hash comes from the URL, else `hash_algorithm`, else the deprecated
//! `algorithm`, else sha2-256. Unless `prehashed`, the input is hashed and the digest
//! signed. Signatures are `<prefix>:vN:` followed by base64 of the DER signature, or
//! unpadded base64url of `r || s` with `marshaling_algorithm=jws`.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NAME_FROM_PATH;
use crate::crypto::ecdsa::{Asn1Shape, Marshaling, check_asn1_shape};
use crate::crypto::hash::HashAlgorithm;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::key::{KeyMaterial, Purpose, ValueKind};
use crate::service::Service;

#[derive(Deserialize)]
struct SignRequest {
    input: Option<WeakString>,
    hash_algorithm: Option<WeakString>,
    algorithm: Option<WeakString>,
    key_version: Option<WeakInt>,
    context: Option<WeakString>,
    prehashed: Option<WeakBool>,
    signature_algorithm: Option<WeakString>,
    marshaling_algorithm: Option<WeakString>,
    salt_length: Option<WeakString>,
    batch_input: Option<Value>,
}

#[derive(Deserialize)]
struct VerifyRequest {
    input: Option<WeakString>,
    signature: Option<WeakString>,
    hmac: Option<WeakString>,
    hash_algorithm: Option<WeakString>,
    algorithm: Option<WeakString>,
    context: Option<WeakString>,
    prehashed: Option<WeakBool>,
    signature_algorithm: Option<WeakString>,
    marshaling_algorithm: Option<WeakString>,
    salt_length: Option<WeakString>,
    batch_input: Option<Value>,
}

#[derive(Serialize)]
struct Signed {
    key_version: u32,
    signature: String,
}

#[derive(Serialize)]
struct Verified {
    valid: bool,
}

/// The options sign and verify share, checked the same way for both.
struct Options {
    hash: Option<HashAlgorithm>,
    prehashed: bool,
    marshaling: Marshaling,
}

impl Options {
    /// `hash` is `None` only for `hash_algorithm=none` (a prehashed raw input).
    #[expect(clippy::too_many_arguments, reason = "one argument per request option")]
    fn parse(
        url_algorithm: Option<&str>,
        hash_algorithm: Option<&WeakString>,
        algorithm: Option<&WeakString>,
        prehashed: Option<WeakBool>,
        signature_algorithm: Option<&WeakString>,
        marshaling_algorithm: Option<&WeakString>,
        salt_length: Option<&WeakString>,
        batch: Option<&Value>,
    ) -> Result<Self, ApiError> {
        if !matches!(batch, None | Some(Value::Null)) {
            return Err(ApiError::bad_request(
                "batch_input is not supported by vault-kms yet; send one item per request",
            ));
        }

        let name = url_algorithm
            .or_else(|| hash_algorithm.map(|h| h.0.as_str()))
            .or_else(|| algorithm.map(|a| a.0.as_str()))
            .filter(|n| !n.is_empty())
            .unwrap_or(HashAlgorithm::DEFAULT.as_str());
        let hash = match name {
            "none" => None,
            other => Some(HashAlgorithm::from_vault_name(other).ok_or_else(|| {
                ApiError::bad_request(format!("invalid hash algorithm \"{other}\""))
            })?),
        };

        let marshaling = match marshaling_algorithm.map_or("asn1", |m| m.0.as_str()) {
            "asn1" | "" => Marshaling::Asn1,
            "jws" => Marshaling::Jws,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid marshaling type \"{other}\""
                )));
            }
        };

        if let Some(salt) = salt_length {
            let salt = salt.0.to_ascii_lowercase();
            if !matches!(salt.as_str(), "auto" | "hash") {
                let n: i64 = salt.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "salt length neither 'auto', 'hash', nor an int: {salt}"
                    ))
                })?;
                if n < -1 {
                    return Err(ApiError::bad_request(format!(
                        "salt length is invalid: {n}"
                    )));
                }
            }
        }

        let prehashed = prehashed.is_some_and(|p| p.0);
        let pkcs1v15 = signature_algorithm.is_some_and(|s| s.0 == "pkcs1v15");
        if hash.is_none() && !(prehashed && pkcs1v15) {
            return Err(ApiError::bad_request(
                "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
            ));
        }

        Ok(Self {
            hash,
            prehashed,
            marshaling,
        })
    }

    /// The digest to sign: the input itself when prehashed, else its hash.
    fn digest(&self, input: &[u8]) -> Result<Vec<u8>, ApiError> {
        match self.hash {
            Some(hash) if !self.prehashed => hash
                .digest(input)
                .map(|d| d.as_ref().to_vec())
                .map_err(|e| ApiError::bad_request(e.to_string())),
            _ => Ok(input.to_vec()),
        }
    }
}

fn decode_input(input: Option<&WeakString>) -> Result<Vec<u8>, ApiError> {
    let input = input.map_or("", |i| i.0.as_str());
    encoding::decode_std(input)
        .map_err(|e| ApiError::bad_request(format!("unable to decode input as base64: {e}")))
}

fn signing_key(
    service: &Service,
    name: &str,
    missing: &str,
    verb: &str,
) -> Result<std::sync::Arc<NamedKey>, ApiError> {
    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request(missing))?;
    if !key.key_type.supports_signing() {
        return Err(ApiError::bad_request(format!(
            "key type {} does not support {verb}",
            key.key_type
        )));
    }
    Ok(key)
}

/// `POST sign/:name[/:hash_algorithm]`.
///
/// # Errors
/// 400 for bad options or input; 500 (wrapped) for a refused `key_version`, as Vault.
pub fn sign(
    service: &Service,
    name: &str,
    url_algorithm: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<SignRequest>(NAME_FROM_PATH)?;
    let options = Options::parse(
        url_algorithm,
        request.hash_algorithm.as_ref(),
        request.algorithm.as_ref(),
        request.prehashed,
        request.signature_algorithm.as_ref(),
        request.marshaling_algorithm.as_ref(),
        request.salt_length.as_ref(),
        request.batch_input.as_ref(),
    )?;
    let key = signing_key(service, name, "signing key not found", "signing")?;
    if let Some(context) = &request.context {
        encoding::decode_std(&context.0)
            .map_err(|_| ApiError::bad_request("failed to base64-decode context"))?;
    }

    let input = decode_input(request.input.as_ref())?;
    let requested = request.key_version.map_or(0, |v| v.0);
    let (number, version) = key
        .version_for(Purpose::Signing, requested)
        .map_err(|e| ApiError::Wrapped(e.to_string()))?;
    let KeyMaterial::EcdsaP256(pair) = &version.material else {
        return Err(ApiError::internal("signing key holds no key pair"));
    };

    let digest = options.digest(&input)?;
    let signature = pair
        .sign_digest(&digest, options.marshaling)
        .map_err(ApiError::internal)?;
    let encoded = match options.marshaling {
        Marshaling::Asn1 => encoding::encode_std(&signature),
        Marshaling::Jws => encoding::encode_url_nopad(&signature),
    };
    let signed = Signed {
        key_version: number,
        signature: service.config.prefix.format(number, &encoded),
    };
    Ok(envelope(&signed, &warnings))
}

/// `POST verify/:name[/:hash_algorithm]`. A signature that does not match is
/// `valid: false`, not an error.
///
/// # Errors
/// 400 for bad options, input, or a malformed or retired signature.
pub fn verify(
    service: &Service,
    name: &str,
    url_algorithm: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<VerifyRequest>(NAME_FROM_PATH)?;
    let options = Options::parse(
        url_algorithm,
        request.hash_algorithm.as_ref(),
        request.algorithm.as_ref(),
        request.prehashed,
        request.signature_algorithm.as_ref(),
        request.marshaling_algorithm.as_ref(),
        request.salt_length.as_ref(),
        request.batch_input.as_ref(),
    )?;
    let Some(signature) = request.signature.as_ref() else {
        return Err(match request.hmac {
            Some(_) => ApiError::bad_request(
                "verifying an hmac is not supported by vault-kms yet; only signatures are",
            ),
            None => {
                ApiError::bad_request("neither a 'signature' nor an 'hmac' were given to verify")
            }
        });
    };
    let key = signing_key(
        service,
        name,
        "signature verification key not found",
        "verification",
    )?;
    if let Some(context) = &request.context {
        encoding::decode_std(&context.0)
            .map_err(|_| ApiError::bad_request("failed to base64-decode context"))?;
    }
    let input = decode_input(request.input.as_ref())?;

    let value = service
        .config
        .prefix
        .parse(&signature.0)
        .map_err(|e| ApiError::bad_request(e.message("signature")))?;
    let (_, version) = key.version_of(ValueKind::Signature, value.version)?;
    let bad_base64 = |_| ApiError::bad_request("invalid base64 signature value");
    let raw = match options.marshaling {
        Marshaling::Asn1 => encoding::decode_std(value.payload).map_err(bad_base64)?,
        Marshaling::Jws => encoding::decode_url_nopad(value.payload).map_err(bad_base64)?,
    };
    if options.marshaling == Marshaling::Asn1 {
        check_asn1_shape(&raw).map_err(|shape| match shape {
            Asn1Shape::Invalid => ApiError::bad_request("supplied signature is invalid"),
            Asn1Shape::ExtraData => ApiError::bad_request("supplied signature contains extra data"),
        })?;
    }

    let KeyMaterial::EcdsaP256(pair) = &version.material else {
        return Err(ApiError::internal("verification key holds no key pair"));
    };
    let digest = options.digest(&input)?;
    let verified = Verified {
        valid: pair.verify_digest(&digest, &raw, options.marshaling),
    };
    Ok(envelope(&verified, &warnings))
}
