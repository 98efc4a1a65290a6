//! Bring your own key: `wrapping_key`, `keys/:name/import` and
//! `keys/:name/import_version`.
//!
//! Material arrives wrapped for the mount's wrapping key (see [`crate::crypto::wrap`]).
//! Most failures answer 500 with Vault's multierror text, as OpenBao does.

use std::sync::Arc;

use axum::response::Response;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::NAME_FROM_PATH;
use super::keys::parse_duration;
use crate::crypto::KeyType;
use crate::crypto::kdf::Kdf;
use crate::crypto::wrap::OaepHash;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString, present};
use crate::http::response::{envelope, no_content};
use crate::keyring::key::{KeyMaterial, KeySettings, KeyVersion, Lifecycle};
use crate::keyring::{KeyringError, NamedKey, import};
use crate::secret::SecretBytes;
use crate::service::Service;

const EXISTING_KEY: &str = "the import path cannot be used with an existing key; use \
                            import-version to rotate an existing imported key";
const NO_PUBLIC_IMPORT: &str = "provided type does not support public_key import";

#[derive(serde::Serialize)]
struct WrappingKeyAnswer<'a> {
    public_key: &'a str,
}

#[derive(Deserialize)]
struct WrappingKeyRequest {}

/// `GET wrapping_key`: the public half of the mount's RSA-4096 wrapping key.
///
/// # Errors
/// 500 when the key cannot be generated, stored or loaded.
pub async fn wrapping_key(service: &Service, params: &Params) -> Result<Response, ApiError> {
    let (_, warnings) = params.decode::<WrappingKeyRequest>(&[])?;
    let key = service.keyring.wrapping_key().await?;
    Ok(envelope(
        &WrappingKeyAnswer {
            public_key: key.public_pem(),
        },
        &warnings,
    ))
}

#[derive(Deserialize)]
struct ImportRequest {
    #[serde(default, deserialize_with = "present")]
    ciphertext: Option<WeakString>,
    public_key: Option<WeakString>,
    #[serde(rename = "type")]
    key_type: Option<WeakString>,
    hash_function: Option<WeakString>,
    allow_rotation: Option<WeakBool>,
    derived: Option<WeakBool>,
    exportable: Option<WeakBool>,
    allow_plaintext_backup: Option<WeakBool>,
    auto_rotate_period: Option<WeakString>,
    context: Option<WeakString>,
    #[serde(default, deserialize_with = "present")]
    convergent_encryption: Option<IgnoredAny>,
}

/// The options of a key to import, checked in Vault's order.
struct Creation {
    key_type: KeyType,
    derived: bool,
    allow_rotation: bool,
    auto_rotate_period: u64,
}

impl Creation {
    fn of(request: &ImportRequest) -> Result<Self, ApiError> {
        if request.convergent_encryption.is_some() {
            return Err(ApiError::Wrapped(
                "import cannot be used on keys with convergent encryption enabled".to_owned(),
            ));
        }
        let allow_rotation = request.allow_rotation.is_some_and(|a| a.0);
        // Unlike key creation, import sets no one-hour minimum (as in OpenBao).
        let auto_rotate_period = request
            .auto_rotate_period
            .as_ref()
            .map(|p| parse_duration(&p.0))
            .transpose()?
            .map_or(0, |seconds| u64::try_from(seconds).unwrap_or(0));
        if auto_rotate_period > 0 && !allow_rotation {
            return Err(ApiError::Wrapped(
                "allow_rotation must be set to true if auto-rotation is enabled".to_owned(),
            ));
        }

        let type_name = request
            .key_type
            .as_ref()
            .map_or("aes256-gcm96", |t| t.0.as_str());
        let Some(key_type) = KeyType::from_vault_name(&type_name.to_ascii_lowercase()) else {
            if type_name.eq_ignore_ascii_case("xchacha20-poly1305") {
                return Err(ApiError::bad_request(format!(
                    "key type {type_name} is not supported by vault-kms yet"
                )));
            }
            return Err(ApiError::bad_request(format!(
                "unknown key type: {type_name}"
            )));
        };
        Ok(Self {
            key_type,
            derived: request.derived.is_some_and(|d| d.0),
            allow_rotation,
            auto_rotate_period,
        })
    }

    /// The new key, with `first` as version 1.
    fn key(&self, name: &str, request: &ImportRequest, first: KeyVersion) -> NamedKey {
        NamedKey {
            name: name.to_owned(),
            key_type: self.key_type,
            settings: KeySettings {
                exportable: request.exportable.is_some_and(|e| e.0),
                allow_plaintext_backup: request.allow_plaintext_backup.is_some_and(|a| a.0),
                auto_rotate_period: self.auto_rotate_period,
                ..KeySettings::default()
            },
            derived: self.derived,
            convergent: false,
            // OpenBao leaves imported keys on the older counter-mode KDF.
            kdf: if self.derived {
                Kdf::HmacSha256Counter
            } else {
                Kdf::Hkdf
            },
            key_size: hmac_key_size(&first.material),
            lifecycle: Lifecycle {
                imported: true,
                imported_allow_rotation: self.allow_rotation,
                ..Lifecycle::default()
            },
            versions: [(1, Arc::new(first))].into(),
        }
    }
}

/// `POST keys/:name/import`: a new key whose version 1 is the unwrapped material.
///
/// # Errors
/// Vault's statuses and texts for each refusal; nothing is stored then.
pub async fn import(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, _) = params.decode::<ImportRequest>(NAME_FROM_PATH)?;
    let _ = &request.context;
    let creation = Creation::of(&request)?;
    if service.keyring.get(name).is_some() {
        return Err(ApiError::Wrapped(EXISTING_KEY.to_owned()));
    }
    let hash = oaep_hash(request.hash_function.as_ref())?;
    // OpenBao stores such a key but cannot sign with it (docs/compat.md).
    if creation.key_type == KeyType::Ed25519 && creation.derived {
        return Err(ApiError::bad_request(
            "derived ed25519 keys are not supported by vault-kms yet",
        ));
    }

    let Some(ciphertext) = &request.ciphertext else {
        return Err(public_only(
            creation.key_type,
            request.public_key.as_ref(),
            true,
        ));
    };
    super::keep_declared_type(service, name, creation.key_type)?;
    let bytes = unwrap(service, &ciphertext.0, hash).await?;
    let material = import::material(creation.key_type, bytes)
        .map_err(|m| ApiError::Wrapped(format!("error importing key: {m}")))?;
    let first =
        KeyVersion::with_material(material, service.clock.now()).map_err(ApiError::internal)?;

    match service
        .keyring
        .insert(creation.key(name, &request, first))
        .await
    {
        Ok(_) => {}
        Err(KeyringError::Exists(_)) => return Err(ApiError::Wrapped(EXISTING_KEY.to_owned())),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(key = %name, key_type = %creation.key_type, "imported key");
    Ok(no_content())
}

#[derive(Deserialize)]
struct ImportVersionRequest {
    #[serde(default, deserialize_with = "present")]
    ciphertext: Option<WeakString>,
    public_key: Option<WeakString>,
    hash_function: Option<WeakString>,
    version: Option<WeakInt>,
}

/// `POST keys/:name/import_version`: appends the unwrapped material as the new
/// latest version of an imported key.
///
/// # Errors
/// Vault's statuses and texts for each refusal; the key is then unchanged.
pub async fn import_version(
    service: &Service,
    name: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, _) = params.decode::<ImportVersionRequest>(NAME_FROM_PATH)?;
    let Some(key) = service.keyring.get(name) else {
        return Err(ApiError::Wrapped(format!(
            "no key found with name {name}; to import a new key, use the import/ endpoint"
        )));
    };
    if !key.lifecycle.imported {
        return Err(not_imported());
    }
    if key.convergent {
        return Err(ApiError::Wrapped(
            "import_version cannot be used on keys with convergent encryption enabled".to_owned(),
        ));
    }
    let hash = oaep_hash(request.hash_function.as_ref())?;

    if let Some(WeakInt(version)) = request.version {
        let exists = u32::try_from(version).is_ok_and(|v| key.versions.contains_key(&v));
        if !exists {
            return Err(ApiError::Wrapped("no such key version".to_owned()));
        }
        // Every stored version holds its private half, so there is nothing to add.
        let message = if key.key_type.supports_signing() {
            "private key imported, key version cannot be updated"
        } else {
            "provided type does not support importing key versions"
        };
        return Err(ApiError::Wrapped(message.to_owned()));
    }

    // OpenBao refuses a soft-deleted key when it adds the version: after unwrapping
    // the material, before reading a public key.
    let soft_deleted = |key: &NamedKey| key.usable().map_err(|e| ApiError::Wrapped(e.to_string()));
    let Some(ciphertext) = request.ciphertext else {
        soft_deleted(&key)?;
        return Err(public_only(
            key.key_type,
            request.public_key.as_ref(),
            false,
        ));
    };
    let bytes = unwrap(service, &ciphertext.0, hash).await?;
    let material = import::material(key.key_type, bytes).map_err(ApiError::Wrapped)?;
    let key_size = hmac_key_size(&material);
    let now = service.clock.now();
    let version = KeyVersion::with_material(material, now).map_err(ApiError::internal)?;

    let updated = service
        .keyring
        .update(name, |current| {
            if !current.lifecycle.imported {
                return Err(not_imported());
            }
            soft_deleted(current)?;
            let mut next = current.with_version(version);
            // Vault reports the size of the latest hmac key.
            if key_size != 0 {
                next.key_size = key_size;
            }
            Ok(next)
        })
        .await?;
    tracing::info!(key = %name, version = updated.latest_version(), "imported key version");
    Ok(no_content())
}

/// The size of an `hmac` key's material; 0 for every other type.
fn hmac_key_size(material: &KeyMaterial) -> usize {
    match material {
        KeyMaterial::Hmac(key) => key.len(),
        _ => 0,
    }
}

fn not_imported() -> ApiError {
    ApiError::Wrapped("the import_version endpoint can only be used with an imported key".into())
}

/// `hash_function`, SHA256 when absent.
fn oaep_hash(name: Option<&WeakString>) -> Result<OaepHash, ApiError> {
    let Some(name) = name else {
        return Ok(OaepHash::Sha256);
    };
    OaepHash::from_name(&name.0)
        .ok_or_else(|| ApiError::bad_request(format!("unknown hash function: {}", name.0)))
}

/// Decodes and unwraps `ciphertext` with the mount's wrapping key.
async fn unwrap(
    service: &Service,
    ciphertext: &str,
    hash: OaepHash,
) -> Result<SecretBytes, ApiError> {
    let wrapped = encoding::decode_std(ciphertext).map_err(|e| ApiError::Wrapped(e.to_string()))?;
    let wrapping_key = service.keyring.wrapping_key().await?;
    wrapping_key
        .unwrap(&wrapped, hash)
        .map_err(|e| ApiError::Wrapped(e.to_string()))
}

/// The answer to an import without `ciphertext`: Vault's error for types that only
/// import private material or for a `public_key` that is not PEM; public-key-only
/// versions are a limit of vault-kms (see docs/compat.md).
fn public_only(key_type: KeyType, public_key: Option<&WeakString>, prefixed: bool) -> ApiError {
    if !key_type.supports_signing() {
        return ApiError::Wrapped(NO_PUBLIC_IMPORT.to_owned());
    }
    let pem = public_key.map(|p| p.0.trim_start()).unwrap_or_default();
    if !pem.starts_with("-----BEGIN ") {
        let prefix = if prefixed {
            "error importing key: "
        } else {
            ""
        };
        return ApiError::Wrapped(format!(
            "{prefix}error parsing public key: not in PEM format"
        ));
    }
    ApiError::bad_request("importing only a public key is not supported by vault-kms yet")
}
