//! `decrypt/:name` and `rewrap/:name`, single or batch.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::NAME_FROM_PATH;
use super::batch::{self, Item, Outcome};
use super::encrypt::{ItemError, Sealed, associated_data, item_context};
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakInt, WeakString};
use crate::http::response::{envelope, envelope_with, push_member_name, unescaped};
use crate::keyring::NamedKey;
use crate::keyring::cipher;
use crate::keyring::key::{Purpose, ValueKind};
use crate::keyring::versioned::Prefix;
use crate::service::Service;

const MISSING_CIPHERTEXT: &str = "missing ciphertext to decrypt";

#[derive(Deserialize)]
struct DecryptRequest {
    ciphertext: Option<WeakString>,
    context: Option<WeakString>,
    associated_data: Option<WeakString>,
    partial_failure_response_code: Option<WeakInt>,
    batch_input: Option<Value>,
}

#[derive(Deserialize)]
struct RewrapRequest {
    ciphertext: Option<WeakString>,
    context: Option<WeakString>,
    key_version: Option<WeakInt>,
    batch_input: Option<Value>,
}

/// A plaintext answer, single or as a batch item (where it is always present).
#[derive(Serialize)]
struct Opened {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(serialize_with = "unescaped")]
    plaintext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

/// The items of a decrypt or rewrap request, single or batch.
fn items(
    batch: Option<&Value>,
    ciphertext: Option<WeakString>,
    context: Option<WeakString>,
    associated_data: Option<WeakString>,
    key_version: i64,
    required: Option<&str>,
) -> Result<Vec<Item>, ApiError> {
    if let Some(batch) = batch {
        let items = batch::parse(batch, "ciphertext", required)?;
        batch::check_contexts(&items)?;
        return Ok(items);
    }
    let ciphertext = ciphertext.map(|c| c.0).filter(|c| !c.is_empty());
    if ciphertext.is_none() {
        return Err(ApiError::bad_request(MISSING_CIPHERTEXT));
    }
    Ok(vec![Item {
        value: ciphertext,
        context: context.map(|c| c.0),
        associated_data: associated_data.map(|a| a.0),
        key_version,
        reference: String::new(),
    }])
}

fn existing_key(service: &Service, name: &str) -> Result<std::sync::Arc<NamedKey>, ApiError> {
    service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))
}

/// `POST decrypt/:name`.
///
/// # Errors
/// 400 with Vault's message for malformed, retired or tampered ciphertexts; batch
/// failures answer with the batch status rule instead.
pub fn decrypt(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<DecryptRequest>(NAME_FROM_PATH)?;
    let batch = request.batch_input.as_ref().filter(|b| !b.is_null());
    let items = items(
        batch,
        request.ciphertext,
        request.context,
        request.associated_data,
        0,
        Some(MISSING_CIPHERTEXT),
    )?;
    let key = existing_key(service, name)?;
    let prefix = &service.config.prefix;

    if batch.is_none() {
        let plaintext = open_item(&key, prefix, &items[0]).map_err(ItemError::into_api_error)?;
        // `{"plaintext":"..."}`, the plaintext encoded in place.
        return Ok(envelope_with(&warnings, |out| {
            out.push(b'{');
            push_member_name(out, "plaintext");
            out.push(b'"');
            encoding::append_std(&plaintext, out);
            out.extend_from_slice(b"\"}");
        }));
    }

    let mut results = Vec::with_capacity(items.len());
    let mut outcomes = Vec::with_capacity(items.len());
    for item in &items {
        let reference = Some(item.reference.clone());
        match open_item(&key, prefix, item) {
            Ok(plaintext) => {
                outcomes.push(Outcome::Success);
                results.push(Opened {
                    error: None,
                    plaintext: encoding::encode_std(&plaintext),
                    reference,
                });
            }
            Err(err) => {
                outcomes.push(err.outcome);
                results.push(Opened {
                    error: Some(err.message),
                    plaintext: String::new(),
                    reference,
                });
            }
        }
    }
    let code = request.partial_failure_response_code.map(|c| c.0);
    Ok(batch::respond(&results, &outcomes, code, warnings))
}

/// `POST rewrap/:name`: decrypts and encrypts again under the requested (default:
/// latest) version, without the plaintext leaving the server.
///
/// # Errors
/// The errors of decrypt, then those of encrypt; batches always answer 200.
pub fn rewrap(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<RewrapRequest>(NAME_FROM_PATH)?;
    let batch = request.batch_input.as_ref().filter(|b| !b.is_null());
    let key_version = request.key_version.map_or(0, |v| v.0);
    let items = items(
        batch,
        request.ciphertext,
        request.context,
        None,
        key_version,
        None,
    )?;
    let key = existing_key(service, name)?;
    let prefix = &service.config.prefix;

    if batch.is_none() {
        let sealed = rewrap_item(&key, prefix, &items[0]).map_err(ItemError::into_api_error)?;
        return Ok(envelope(&sealed, &warnings));
    }

    let results: Vec<Sealed> = items
        .iter()
        .map(|item| {
            let reference = Some(item.reference.clone());
            match rewrap_item(&key, prefix, item) {
                Ok(sealed) => sealed.with_reference(reference),
                Err(err) => Sealed::failed(err.message, reference),
            }
        })
        .collect();
    let outcomes = vec![Outcome::Success; results.len()];
    Ok(batch::respond(&results, &outcomes, None, warnings))
}

fn open_item(
    key: &NamedKey,
    prefix: &Prefix,
    item: &Item,
) -> Result<Zeroizing<Vec<u8>>, ItemError> {
    let Some(ciphertext) = item.value.as_deref().filter(|c| !c.is_empty()) else {
        return Err(ItemError::client(MISSING_CIPHERTEXT));
    };
    let context = item_context(item)?;
    key.usable().map_err(|e| ItemError::client(e.to_string()))?;
    let aad = associated_data(item.associated_data.as_deref())?;
    if !key.key_type.supports_encryption() {
        return Err(ItemError::client(format!(
            "message decryption not supported for key type {}",
            key.key_type
        )));
    }

    let value = prefix
        .parse(ciphertext)
        .map_err(|e| ItemError::client(e.message("ciphertext")))?;
    let (_, version) = key
        .version_of(ValueKind::Ciphertext, value.version)
        .map_err(|e| ItemError::client(e.to_string()))?;
    let payload = encoding::decode_std(value.payload)
        .map_err(|_| ItemError::client("invalid ciphertext: could not decode base64"))?;
    Ok(cipher::decrypt(
        key,
        version,
        &payload,
        context.as_deref().map(Vec::as_slice),
        aad.as_deref(),
    )?)
}

fn rewrap_item(key: &NamedKey, prefix: &Prefix, item: &Item) -> Result<Sealed, ItemError> {
    let plaintext = open_item(key, prefix, item)?;
    let context = item_context(item)?;
    let (number, version) = key
        .version_for(Purpose::Encryption, item.key_version)
        .map_err(|e| ItemError::client(e.to_string()))?;
    let payload = cipher::encrypt(
        key,
        version,
        &plaintext,
        context.as_deref().map(Vec::as_slice),
        None,
    )?;
    Ok(Sealed::new(prefix.format_bytes(number, &payload), number))
}
