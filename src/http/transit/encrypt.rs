//! `encrypt/:name`, single or batch, creating the key when it does not exist
//! (Vault's upsert, for tokens with the `create` capability).
//!
//! Plaintext travels base64-encoded; ciphertexts are `<prefix>:vN:base64(payload)`
//! with Vault's payload layout, so they move between the two servers unchanged.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::NAME_FROM_PATH;
use super::batch::{self, Item, Outcome};
use crate::crypto::KeyType;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString, present};
use crate::http::response::{envelope_with, push_member_name, unescaped_option};
use crate::keyring::cipher::{self, CipherError};
use crate::keyring::key::Purpose;
use crate::keyring::versioned::Prefix;
use crate::keyring::{NamedKey, NewKey};
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

/// A ciphertext answer, single or as a batch item.
#[derive(Serialize)]
pub(super) struct Sealed {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "unescaped_option"
    )]
    ciphertext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

impl Sealed {
    pub(super) fn new(ciphertext: String, key_version: u32) -> Self {
        Self {
            ciphertext: Some(ciphertext),
            error: None,
            key_version: Some(key_version),
            reference: None,
        }
    }

    pub(super) fn with_reference(mut self, reference: Option<String>) -> Self {
        self.reference = reference;
        self
    }

    pub(super) fn failed(error: String, reference: Option<String>) -> Self {
        Self {
            ciphertext: None,
            error: Some(error),
            key_version: None,
            reference,
        }
    }
}

/// The failure of one item: its message and how it counts for the status rule.
pub(super) struct ItemError {
    pub(super) message: String,
    pub(super) outcome: Outcome,
}

impl ItemError {
    pub(super) fn client(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            outcome: Outcome::ClientError,
        }
    }

    /// The single-request answer for this failure.
    pub(super) fn into_api_error(self) -> ApiError {
        match self.outcome {
            Outcome::InternalError => ApiError::Wrapped(self.message),
            _ => ApiError::BadRequest(self.message),
        }
    }
}

impl From<CipherError> for ItemError {
    fn from(err: CipherError) -> Self {
        let outcome = match &err {
            CipherError::AssociatedDataNotSupported(_) => Outcome::Ignored,
            e if e.is_client_error() => Outcome::ClientError,
            _ => Outcome::InternalError,
        };
        Self {
            message: err.to_string(),
            outcome,
        }
    }
}

/// `POST encrypt/:name`.
///
/// # Errors
/// 400 with Vault's message for bad input, version or key type; batch failures
/// answer with the batch status rule instead.
pub async fn encrypt(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode_unprefixed::<EncryptRequest>(NAME_FROM_PATH)?;

    let batch = request.batch_input.as_ref().filter(|b| !b.is_null());
    let items = match batch {
        Some(batch) => batch::parse(batch, "plaintext", Some("missing plaintext to encrypt"))?,
        None => {
            let Some(plaintext) = request.plaintext else {
                return Err(ApiError::bad_request("missing plaintext to encrypt"));
            };
            vec![Item {
                value: Some(plaintext.0),
                context: request.context.map(|c| c.0),
                associated_data: request.associated_data.map(|a| a.0),
                key_version: request.key_version.map_or(0, |v| v.0),
                reference: String::new(),
            }]
        }
    };
    batch::check_contexts(&items)?;

    let key = match service.keyring.get(name) {
        Some(key) => key,
        None if service.keyring.mount_settings().await.disable_upsert => {
            return Err(ApiError::bad_request("encryption key not found"));
        }
        None => {
            upsert(
                service,
                name,
                &request.key_type,
                request.convergent_encryption,
                &items,
            )
            .await?
        }
    };

    let prefix = &service.config.prefix;
    if batch.is_none() {
        let (number, payload) = seal_item(&key, &items[0]).map_err(ItemError::into_api_error)?;
        // `{"ciphertext":"...","key_version":N}`, the ciphertext encoded in place.
        return Ok(envelope_with(&warnings, |out| {
            out.push(b'{');
            push_member_name(out, "ciphertext");
            out.push(b'"');
            prefix.append_bytes(number, &payload, out);
            out.extend_from_slice(b"\",");
            push_member_name(out, "key_version");
            out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
            out.push(b'}');
        }));
    }

    let mut results = Vec::with_capacity(items.len());
    let mut outcomes = Vec::with_capacity(items.len());
    for item in &items {
        let reference = Some(item.reference.clone());
        match encrypt_item(&key, prefix, item) {
            Ok(sealed) => {
                results.push(sealed.with_reference(reference));
                outcomes.push(Outcome::Success);
            }
            Err(err) => {
                outcomes.push(err.outcome);
                results.push(Sealed::failed(err.message, reference));
            }
        }
    }
    let code = request.partial_failure_response_code.map(|c| c.0);
    Ok(batch::respond(&results, &outcomes, code, warnings))
}

fn encrypt_item(key: &NamedKey, prefix: &Prefix, item: &Item) -> Result<Sealed, ItemError> {
    let (number, payload) = seal_item(key, item)?;
    Ok(Sealed::new(prefix.format_bytes(number, &payload), number))
}

/// Encrypts one item: the version number used and the sealed bytes.
fn seal_item(key: &NamedKey, item: &Item) -> Result<(u32, Vec<u8>), ItemError> {
    let plaintext = decode(item.value.as_deref().unwrap_or_default())?;
    let context = item_context(item)?;
    key.usable().map_err(|e| ItemError::client(e.to_string()))?;
    let aad = associated_data(item.associated_data.as_deref())?;

    let (number, version) = key
        .version_for(Purpose::Encryption, item.key_version)
        .map_err(|e| ItemError::client(e.to_string()))?;
    let payload = cipher::encrypt(
        key,
        version,
        &plaintext,
        context.as_deref().map(Vec::as_slice),
        aad.as_deref(),
    )?;
    Ok((number, payload))
}

/// The decoded `context` of an item; an empty one counts as none, as in Vault.
pub(super) fn item_context(item: &Item) -> Result<Option<Zeroizing<Vec<u8>>>, ItemError> {
    item.context
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode)
        .transpose()
}

/// Decodes base64 request data, with Go's error text.
pub(super) fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>, ItemError> {
    encoding::decode_std(text)
        .map(Zeroizing::new)
        .map_err(|e| ItemError::client(e.to_string()))
}

/// Decodes `associated_data`; Vault reports a bad one as an internal error.
pub(super) fn associated_data(value: Option<&str>) -> Result<Option<Vec<u8>>, ItemError> {
    value
        .map(|text| {
            encoding::decode_std(text).map_err(|e| ItemError {
                message: format!(
                    "unable to get associated_data/additional_data from factory[0]: {e}"
                ),
                outcome: Outcome::InternalError,
            })
        })
        .transpose()
}

/// Creates the key an encrypt names, with Vault's rules for the upsert.
async fn upsert(
    service: &Service,
    name: &str,
    requested_type: &Option<WeakString>,
    convergent: Option<WeakBool>,
    items: &[Item],
) -> Result<std::sync::Arc<NamedKey>, ApiError> {
    let type_name = requested_type
        .as_ref()
        .map(|t| t.0.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or("aes256-gcm96");
    let key_type = match KeyType::from_vault_name(type_name) {
        Some(t) if t.aead().is_some() => t,
        _ if type_name.starts_with("ecdsa-") => {
            return Err(ApiError::bad_request(format!(
                "key type {type_name} not supported for this operation"
            )));
        }
        _ if type_name == "xchacha20-poly1305" => {
            return Err(ApiError::bad_request(format!(
                "key type {type_name} is not supported by vault-kms yet"
            )));
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "unknown key type {type_name}"
            )));
        }
    };

    let derived = items.first().is_some_and(|i| i.context.is_some());
    let convergent = convergent.is_some_and(|c| c.0);
    if convergent && !derived {
        return Err(ApiError::bad_request(
            "convergent encryption requires derivation to be enabled, so context is required",
        ));
    }
    super::keep_declared_type(service, name, key_type)?;
    let new = NewKey {
        derived,
        convergent,
        ..NewKey::of(key_type)
    };
    let (key, created) = service.keyring.create(name, new).await?;
    if created {
        tracing::info!(key = %name, key_type = %key_type, "created key on encrypt");
    }
    Ok(key)
}
