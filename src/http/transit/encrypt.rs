//! `encrypt/:name`, `decrypt/:name` and `rewrap/:name`.
//!
//! Plaintext travels base64-encoded both ways; ciphertexts are
//! `<prefix>:vN:base64(nonce || ciphertext || tag)`, Vault's layout.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::NAME_FROM_PATH;
use crate::crypto::CryptoError;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString, present};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::key::{KeyMaterial, Purpose, ValueKind};
use crate::keyring::versioned::Prefix;
use crate::service::Service;

#[derive(Deserialize)]
struct EncryptRequest {
    #[serde(default, deserialize_with = "present")]
    plaintext: Option<WeakString>,
    context: Option<WeakString>,
    key_version: Option<WeakInt>,
    associated_data: Option<WeakString>,
    #[serde(rename = "type")]
    key_type: Option<WeakString>,
    convergent_encryption: Option<WeakBool>,
    partial_failure_response_code: Option<WeakInt>,
    batch_input: Option<Value>,
}

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

#[derive(Serialize)]
struct Sealed {
    ciphertext: String,
    key_version: u32,
}

#[derive(Serialize)]
struct Opened {
    plaintext: String,
}

/// Refuses `batch_input`, which this version does not process.
fn refuse_batch(batch: Option<&Value>) -> Result<(), ApiError> {
    match batch {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "batch_input is not supported by vault-kms yet; send one item per request",
        )),
    }
}

/// `POST encrypt/:name`.
///
/// # Errors
/// 400 with Vault's message for bad input, version or key type.
pub fn encrypt(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode_unprefixed::<EncryptRequest>(NAME_FROM_PATH)?;
    refuse_batch(request.batch_input.as_ref())?;
    // `type`, `convergent_encryption` and `partial_failure_response_code` only matter
    // when encrypt creates a key or handles a batch, which this version does not do.
    let _ = (
        request.key_type,
        request.convergent_encryption,
        request.partial_failure_response_code,
    );

    let plaintext = request
        .plaintext
        .ok_or_else(|| ApiError::bad_request("missing plaintext to encrypt"))?;
    let plaintext = Zeroizing::new(
        encoding::decode_std(&plaintext.0).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    decode_context(request.context.as_ref())?;

    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))?;
    let aad = associated_data(request.associated_data.as_ref())?;
    let sealed = seal(
        &key,
        &service.config.prefix,
        &plaintext,
        &aad,
        request.key_version,
    )?;
    Ok(envelope(&sealed, &warnings))
}

/// `POST decrypt/:name`.
///
/// # Errors
/// 400 with Vault's message for malformed, retired or tampered ciphertexts.
pub fn decrypt(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<DecryptRequest>(NAME_FROM_PATH)?;
    refuse_batch(request.batch_input.as_ref())?;
    let _ = request.partial_failure_response_code;

    let ciphertext = required_ciphertext(request.ciphertext.as_ref())?;
    decode_context(request.context.as_ref())?;
    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))?;
    let aad = associated_data(request.associated_data.as_ref())?;

    let plaintext = open(&key, &service.config.prefix, ciphertext, &aad)?;
    let opened = Opened {
        plaintext: encoding::encode_std(&plaintext),
    };
    Ok(envelope(&opened, &warnings))
}

/// `POST rewrap/:name`: decrypts and encrypts again under the requested (default:
/// latest) version, without the plaintext leaving the server.
///
/// # Errors
/// The errors of decrypt, then those of encrypt.
pub fn rewrap(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<RewrapRequest>(NAME_FROM_PATH)?;
    refuse_batch(request.batch_input.as_ref())?;

    let ciphertext = required_ciphertext(request.ciphertext.as_ref())?;
    decode_context(request.context.as_ref())?;
    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))?;

    let prefix = &service.config.prefix;
    let plaintext = open(&key, prefix, ciphertext, &[])?;
    let sealed = seal(&key, prefix, &plaintext, &[], request.key_version)?;
    Ok(envelope(&sealed, &warnings))
}

fn required_ciphertext(ciphertext: Option<&WeakString>) -> Result<&str, ApiError> {
    match ciphertext {
        Some(c) if !c.0.is_empty() => Ok(&c.0),
        _ => Err(ApiError::bad_request("missing ciphertext to decrypt")),
    }
}

/// Checks that a `context` is base64. Keys of the types served here are not
/// derived, so the context is not used further, as in Vault.
fn decode_context(context: Option<&WeakString>) -> Result<(), ApiError> {
    if let Some(context) = context {
        encoding::decode_std(&context.0).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(())
}

fn associated_data(value: Option<&WeakString>) -> Result<Vec<u8>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    // Vault reports this one as an internal error, wrapped.
    encoding::decode_std(&value.0).map_err(|e| {
        ApiError::Wrapped(format!(
            "unable to get associated_data/additional_data from factory[0]: {e}"
        ))
    })
}

fn seal(
    key: &NamedKey,
    prefix: &Prefix,
    plaintext: &[u8],
    aad: &[u8],
    requested: Option<WeakInt>,
) -> Result<Sealed, ApiError> {
    let requested = requested.map_or(0, |v| v.0);
    let (number, version) = key.version_for(Purpose::Encryption, requested)?;
    let KeyMaterial::Chacha20Poly1305(cipher) = &version.material else {
        return Err(ApiError::bad_request(format!(
            "message encryption not supported for key type {}",
            key.key_type
        )));
    };
    let payload = cipher.seal(plaintext, aad).map_err(ApiError::internal)?;
    Ok(Sealed {
        ciphertext: prefix.format(number, &encoding::encode_std(&payload)),
        key_version: number,
    })
}

fn open(
    key: &NamedKey,
    prefix: &Prefix,
    ciphertext: &str,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    if !key.key_type.supports_encryption() {
        return Err(ApiError::bad_request(format!(
            "message decryption not supported for key type {}",
            key.key_type
        )));
    }
    let value = prefix
        .parse(ciphertext)
        .map_err(|e| ApiError::bad_request(e.message("ciphertext")))?;
    let (_, version) = key.version_of(ValueKind::Ciphertext, value.version)?;
    let payload = encoding::decode_std(value.payload)
        .map_err(|_| ApiError::bad_request("invalid ciphertext: could not decode base64"))?;

    let KeyMaterial::Chacha20Poly1305(cipher) = &version.material else {
        return Err(ApiError::internal("encryption key holds no cipher"));
    };
    cipher.open(&payload, aad).map_err(|e| match e {
        CryptoError::Truncated => ApiError::bad_request("invalid ciphertext length"),
        _ => ApiError::bad_request("chacha20poly1305: message authentication failed"),
    })
}
