//! `hmac/:name[/:algorithm]`: HMACs under a key's per-version HMAC key, single or
//! batch. Every key type has one (an `hmac` key's is the key itself). Verifying an
//! HMAC goes through `verify` (see `sign.rs`).

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::batch;
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::hmac;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakInt, WeakString, present};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::versioned::Prefix;
use crate::service::Service;

#[derive(Deserialize)]
struct HmacRequest {
    /// Vault reads a null `input` as given and empty.
    #[serde(default, deserialize_with = "present")]
    input: Option<WeakString>,
    /// Given as `""` or null, it names no algorithm and is refused, as in Vault.
    #[serde(default, deserialize_with = "present")]
    algorithm: Option<WeakString>,
    key_version: Option<WeakInt>,
    batch_input: Option<Value>,
}

#[derive(Serialize)]
struct Mac {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hmac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

/// Parses an HMAC algorithm name as the hmac endpoint does.
///
/// # Errors
/// 400 for `none` or an unknown name (Vault's text is literally `'\x00'`, a
/// formatting slip clients may match on).
pub fn algorithm(name: &str) -> Result<HashAlgorithm, ApiError> {
    if name == "none" {
        return Err(ApiError::bad_request("algorithm cannot be none"));
    }
    HashAlgorithm::from_vault_name(name)
        .ok_or_else(|| ApiError::bad_request(r"unsupported algorithm '\x00'"))
}

/// `POST hmac/:name[/:algorithm]`.
///
/// # Errors
/// 400 with Vault's message; batch items fail on their own and answer 200.
pub fn hmac(
    service: &Service,
    name: &str,
    url_algorithm: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<HmacRequest>(&["name", "urlalgorithm"])?;
    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))?;
    // OpenBao refuses the whole request, batches included, before any other check.
    key.usable()?;
    let (number, version) = key
        .hmac_version(request.key_version.map_or(0, |v| v.0))
        .map_err(ApiError::BadRequest)?;
    let name = url_algorithm
        .or(request.algorithm.as_ref().map(|a| a.0.as_str()))
        .unwrap_or("sha2-256");
    let hash = algorithm(name)?;
    let prefix = &service.config.prefix;
    let mac = |input: &str| -> Result<String, String> {
        let input = encoding::decode_std(input)
            .map_err(|e| format!("unable to decode input as base64: {e}"))?;
        let tag = hmac::sign(hash, version.hmac_key.expose(), &input).map_err(|e| e.to_string())?;
        Ok(prefix.format_bytes(number, &tag))
    };

    let Some(batch) = request.batch_input.as_ref().filter(|b| !b.is_null()) else {
        let input = request
            .input
            .ok_or_else(|| ApiError::bad_request("missing input for HMAC"))?;
        let answer = Mac {
            error: None,
            hmac: Some(mac(&input.0).map_err(ApiError::BadRequest)?),
            reference: None,
        };
        return Ok(envelope(&answer, &warnings));
    };

    let results: Vec<Mac> = batch::parse_string_items(batch, "batchRequestHMACItem")?
        .into_iter()
        .map(|mut item| {
            let reference = item.take("reference").unwrap_or_default();
            let outcome = item
                .get("input")
                .ok_or_else(|| "missing input for HMAC".to_owned())
                .and_then(mac);
            match outcome {
                Ok(tag) => Mac {
                    error: None,
                    hmac: Some(tag),
                    reference: Some(reference),
                },
                Err(error) => Mac {
                    error: Some(error),
                    hmac: None,
                    reference: Some(reference),
                },
            }
        })
        .collect();
    Ok(envelope(
        &BatchResults {
            batch_results: results,
        },
        &warnings,
    ))
}

#[derive(Serialize)]
struct BatchResults<T: Serialize> {
    batch_results: Vec<T>,
}

/// Checks an `hmac` string against `input` under `key`, constant time.
///
/// # Errors
/// Vault's message for a malformed HMAC string, a version outside the policy, or
/// undecodable input.
pub(super) fn verify_hmac(
    key: &NamedKey,
    prefix: &Prefix,
    hash: HashAlgorithm,
    input: &str,
    hmac_value: &str,
) -> Result<bool, String> {
    let input = encoding::decode_std(input)
        .map_err(|e| format!("unable to decode input as base64: {e}"))?;
    let value = prefix.parse(hmac_value).map_err(|e| match e {
        crate::keyring::versioned::ParseError::NoPrefix => {
            "invalid HMAC to verify: no prefix".to_owned()
        }
        other => other.message("HMAC"),
    })?;
    let tag = encoding::decode_std(value.payload)
        .map_err(|e| format!("unable to decode verification HMAC as base64: {e}"))?;
    let version = key.hmac_verify_version(value.version)?;
    key.usable().map_err(|e| e.to_string())?;
    hmac::verify(hash, version.hmac_key.expose(), &input, &tag).map_err(|e| e.to_string())
}
