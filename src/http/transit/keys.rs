//! `keys/:name` (read), `keys/:name/rotate` and `keys/:name/config`.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use super::NAME_FROM_PATH;
use crate::crypto::KeyType;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString};
use crate::http::response::envelope;
use crate::keyring::NamedKey;
use crate::keyring::key::KeyMaterial;
use crate::service::Service;

/// The key description that reads and changes answer with; members in Vault's
/// (sorted) order.
#[derive(Serialize)]
struct KeyDescription<'a> {
    allow_plaintext_backup: bool,
    auto_rotate_period: u64,
    deletion_allowed: bool,
    derived: bool,
    exportable: bool,
    imported_key: bool,
    keys: BTreeMap<String, VersionDescription>,
    latest_version: u32,
    min_available_version: u32,
    min_decryption_version: u32,
    min_encryption_version: u32,
    name: &'a str,
    soft_deleted: bool,
    supports_decryption: bool,
    supports_derivation: bool,
    supports_encryption: bool,
    supports_signing: bool,
    #[serde(rename = "type")]
    key_type: KeyType,
}

/// One version in a description: creation time for symmetric keys, public details
/// for key pairs.
#[derive(Serialize)]
#[serde(untagged)]
enum VersionDescription {
    Symmetric(i64),
    Asymmetric {
        certificate_chain: &'static str,
        creation_time: String,
        name: &'static str,
        public_key: String,
    },
}

fn describe(key: &NamedKey, warnings: &[String]) -> Result<Response, ApiError> {
    let mut keys = BTreeMap::new();
    for (number, version) in key.visible_versions() {
        let description = match &version.material {
            KeyMaterial::Chacha20Poly1305(_) => {
                VersionDescription::Symmetric(version.created.unix_timestamp())
            }
            KeyMaterial::EcdsaP256(pair) => VersionDescription::Asymmetric {
                certificate_chain: "",
                creation_time: version
                    .created
                    .format(&Rfc3339)
                    .map_err(ApiError::internal)?,
                name: "P-256",
                public_key: pair.public_pem().to_owned(),
            },
        };
        keys.insert(number.to_string(), description);
    }

    let settings = &key.settings;
    let description = KeyDescription {
        allow_plaintext_backup: settings.allow_plaintext_backup,
        auto_rotate_period: 0,
        deletion_allowed: settings.deletion_allowed,
        derived: false,
        exportable: settings.exportable,
        imported_key: false,
        keys,
        latest_version: key.latest_version(),
        min_available_version: 0,
        min_decryption_version: settings.min_decryption_version,
        min_encryption_version: settings.min_encryption_version,
        name: &key.name,
        soft_deleted: false,
        supports_decryption: key.key_type.supports_encryption(),
        supports_derivation: key.key_type.supports_derivation(),
        supports_encryption: key.key_type.supports_encryption(),
        supports_signing: key.key_type.supports_signing(),
        key_type: key.key_type,
    };
    Ok(envelope(&description, warnings))
}

#[derive(Deserialize)]
struct ReadRequest {
    context: Option<WeakString>,
}

/// `GET keys/:name`.
///
/// # Errors
/// 404 with no message for a missing key; 400 for a malformed `context`.
pub fn read(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<ReadRequest>(NAME_FROM_PATH)?;
    if let Some(context) = request.context {
        encoding::decode_std(&context.0)
            .map_err(|_| ApiError::bad_request("failed to base64-decode context"))?;
    }
    let key = service.keyring.get(name).ok_or(ApiError::NotFound)?;
    describe(&key, &warnings)
}

#[derive(Deserialize)]
struct RotateRequest {
    external_key_ref: Option<WeakString>,
}

/// `POST keys/:name/rotate`: a new latest version, durable before the answer.
///
/// # Errors
/// 400 for a missing key; 500 if the new version cannot be stored.
pub async fn rotate(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<RotateRequest>(NAME_FROM_PATH)?;
    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("key not found"))?;
    if request.external_key_ref.is_some() {
        return Err(ApiError::bad_request(format!(
            "cannot use external_key_ref on key of type {}",
            key.key_type
        )));
    }

    let rotated = service.keyring.rotate(name).await?;
    tracing::info!(key = %name, version = rotated.latest_version(), "rotated key");
    describe(&rotated, &warnings)
}

#[derive(Deserialize)]
struct ConfigRequest {
    min_decryption_version: Option<WeakInt>,
    min_encryption_version: Option<WeakInt>,
    deletion_allowed: Option<WeakBool>,
    exportable: Option<WeakBool>,
    allow_plaintext_backup: Option<WeakBool>,
    auto_rotate_period: Option<WeakString>,
}

/// `POST keys/:name/config`: the settings Vault lets an operator change.
///
/// # Errors
/// 400 with Vault's message for each refused value; the key is then unchanged.
pub async fn config(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, mut warnings) = params.decode::<ConfigRequest>(NAME_FROM_PATH)?;
    if service.keyring.get(name).is_none() {
        return Err(ApiError::bad_request(format!(
            "no existing key named {name} could be found"
        )));
    }
    if let Some(period) = &request.auto_rotate_period
        && !matches!(period.0.as_str(), "" | "0" | "0s")
    {
        return Err(ApiError::bad_request(
            "auto_rotate_period is not supported by vault-kms: keys rotate only on request",
        ));
    }

    let mut forced_minimum = false;
    let updated = service
        .keyring
        .update(name, |current| {
            let mut next = current.clone();
            let latest = i64::from(current.latest_version());
            let settings = &mut next.settings;

            if let Some(WeakInt(v)) = request.min_decryption_version {
                if v < 0 {
                    return Err(ApiError::bad_request(
                        "min decryption version cannot be negative",
                    ));
                }
                if v > latest {
                    return Err(ApiError::bad_request(format!(
                        "cannot set min decryption version of {v}, latest key version is {latest}"
                    )));
                }
                forced_minimum = v == 0;
                settings.min_decryption_version = u32::try_from(v.max(1)).unwrap_or(1);
            }
            if let Some(WeakInt(v)) = request.min_encryption_version {
                if v < 0 {
                    return Err(ApiError::bad_request(
                        "min encryption version cannot be negative",
                    ));
                }
                if v > latest {
                    return Err(ApiError::bad_request(format!(
                        "cannot set min encryption version of {v}, latest key version is {latest}"
                    )));
                }
                settings.min_encryption_version = u32::try_from(v).unwrap_or(0);
            }
            let (enc, dec) = (
                settings.min_encryption_version,
                settings.min_decryption_version,
            );
            if enc > 0 && enc < dec {
                return Err(ApiError::bad_request(format!(
                    "cannot set min encryption/decryption values; min encryption version of \
                     {enc} must be greater than or equal to min decryption version of {dec}"
                )));
            }

            if let Some(WeakBool(allowed)) = request.deletion_allowed {
                settings.deletion_allowed = allowed;
            }
            // These two can be switched on, never off again.
            if request.exportable.is_some_and(|b| b.0) {
                settings.exportable = true;
            }
            if request.allow_plaintext_backup.is_some_and(|b| b.0) {
                settings.allow_plaintext_backup = true;
            }
            Ok(next)
        })
        .await?;

    if forced_minimum {
        warnings.push(
            "since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; \
             forcing minimum to 1"
                .to_owned(),
        );
    }
    describe(&updated, &warnings)
}
