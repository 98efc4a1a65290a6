//! Bring your own key: `wrapping_key`, `keys/:name/import` and
//! `keys/:name/import_version`.
//!
//! Material arrives wrapped for the mount's wrapping key (see [`crate::crypto::wrap`]),
//! or, for signing keys, as a PEM public key alone (`public_key` without `ciphertext`):
//! such a version verifies but cannot sign until `import_version` brings its private
//! half. When both are given, `ciphertext` wins, as in OpenBao. Most failures answer
//! 500 with Vault's multierror text, as OpenBao does.

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
const DERIVED_ED25519_PUBLIC: &str = "unable to import only public key for derived Ed25519 key: \
                                      imported key should not be an Ed25519 key pair but is \
                                      instead an HKDF key";

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
    let material = match &request.ciphertext {
        Some(ciphertext) => {
            let hash = oaep_hash(request.hash_function.as_ref())?;
            // OpenBao stores such a key but cannot sign with it (docs/compat.md).
            if creation.key_type == KeyType::Ed25519 && creation.derived {
                return Err(ApiError::bad_request(
                    "derived ed25519 keys are not supported by vault-kms yet",
                ));
            }
            super::keep_declared_type(service, name, creation.key_type)?;
            let bytes = unwrap(service, &ciphertext.0, hash).await?;
            import::material(creation.key_type, bytes)
        }
        None => {
            public_importable(creation.key_type)?;
            if creation.key_type == KeyType::Ed25519 && creation.derived {
                return Err(ApiError::Wrapped(format!(
                    "error importing key: {DERIVED_ED25519_PUBLIC}"
                )));
            }
            super::keep_declared_type(service, name, creation.key_type)?;
            import::public_material(creation.key_type, public_pem(request.public_key.as_ref()))
        }
    }
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

/// `POST keys/:name/import_version`: appends the unwrapped material or the public key
/// as the new latest version of an imported key, or with `version` gives a public-only
/// version its private half.
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
    // What arrived: unwrapped private material, or a public key (not yet read).
    let incoming = match &request.ciphertext {
        Some(ciphertext) => {
            let hash = oaep_hash(request.hash_function.as_ref())?;
            Incoming::Private(unwrap(service, &ciphertext.0, hash).await?)
        }
        None => {
            public_importable(key.key_type)?;
            Incoming::Public(public_pem(request.public_key.as_ref()).to_owned())
        }
    };

    let updated = match request.version {
        Some(WeakInt(version)) => fill_in_version(service, &key, version, incoming).await?,
        None => add_version(service, &key, incoming).await?,
    };
    tracing::info!(key = %name, version = updated.latest_version(), "imported key version");
    Ok(no_content())
}

/// The material of an `import_version` request.
enum Incoming {
    /// Unwrapped `ciphertext`.
    Private(SecretBytes),
    /// The `public_key` text (empty when absent).
    Public(String),
}

/// OpenBao refuses a soft-deleted key when it changes its versions.
fn not_soft_deleted(key: &NamedKey) -> Result<(), ApiError> {
    key.usable().map_err(|e| ApiError::Wrapped(e.to_string()))
}

/// `import_version` with `version`: gives that public-only version its private half.
async fn fill_in_version(
    service: &Service,
    key: &NamedKey,
    version: i64,
    incoming: Incoming,
) -> Result<Arc<NamedKey>, ApiError> {
    let number = u32::try_from(version)
        .ok()
        .filter(|v| key.versions.contains_key(v))
        .ok_or_else(|| ApiError::Wrapped("no such key version".to_owned()))?;
    if !key.key_type.supports_signing() {
        return Err(ApiError::Wrapped(
            "provided type does not support importing key versions".to_owned(),
        ));
    }
    let public_only = key
        .versions
        .get(&number)
        .is_some_and(|v| v.material.public_only().is_some());
    let bytes = match incoming {
        Incoming::Public(_) if public_only => {
            return Err(ApiError::Wrapped(
                "cannot add a public key to a key version that already has a public key set"
                    .to_owned(),
            ));
        }
        Incoming::Private(bytes) if public_only => bytes,
        _ => {
            return Err(ApiError::Wrapped(
                "private key imported, key version cannot be updated".to_owned(),
            ));
        }
    };
    not_soft_deleted(key)?;
    let material = with_private_half(key, number, bytes)?;

    let name = key.name.clone();
    let updated = service
        .keyring
        .update(&name, |current| {
            not_soft_deleted(current)?;
            let still_public = current
                .versions
                .get(&number)
                .is_some_and(|v| v.material.public_only().is_some());
            if !still_public {
                return Err(ApiError::Wrapped(
                    "private key imported, key version cannot be updated".to_owned(),
                ));
            }
            current
                .with_private_half(number, material)
                .ok_or_else(|| ApiError::Wrapped("no such key version".to_owned()))
        })
        .await?;
    Ok(updated)
}

/// The private half `bytes` checked against version `number`'s public half.
fn with_private_half(
    key: &NamedKey,
    number: u32,
    bytes: SecretBytes,
) -> Result<KeyMaterial, ApiError> {
    let public = key
        .versions
        .get(&number)
        .and_then(|v| v.material.public_only())
        .ok_or_else(|| ApiError::Wrapped("no such key version".to_owned()))?;
    import::private_half(key.key_type, public, bytes).map_err(ApiError::Wrapped)
}

/// `import_version` without `version`: a private key that completes the latest
/// version (when that has only its public half and the pair matches) fills it in, as
/// OpenBao does; anything else becomes the new latest version.
async fn add_version(
    service: &Service,
    key: &NamedKey,
    incoming: Incoming,
) -> Result<Arc<NamedKey>, ApiError> {
    not_soft_deleted(key)?;
    let latest = key.latest_version();
    let material = match incoming {
        Incoming::Private(bytes) => {
            let completes_latest = key
                .versions
                .get(&latest)
                .is_some_and(|v| v.material.public_only().is_some());
            if completes_latest && let Ok(material) = with_private_half(key, latest, bytes.clone())
            {
                return service
                    .keyring
                    .update(&key.name, |current| {
                        not_soft_deleted(current)?;
                        if current.latest_version() != latest {
                            return Err(ApiError::Wrapped(
                                "the key changed during the import; try again".to_owned(),
                            ));
                        }
                        current
                            .with_private_half(latest, material)
                            .ok_or_else(|| ApiError::Wrapped("no such key version".to_owned()))
                    })
                    .await;
            }
            import::material(key.key_type, bytes).map_err(ApiError::Wrapped)?
        }
        Incoming::Public(pem) => {
            if key.key_type == KeyType::Ed25519 && key.derived {
                return Err(ApiError::Wrapped(DERIVED_ED25519_PUBLIC.to_owned()));
            }
            import::public_material(key.key_type, &pem).map_err(ApiError::Wrapped)?
        }
    };
    let key_size = hmac_key_size(&material);
    let version =
        KeyVersion::with_material(material, service.clock.now()).map_err(ApiError::internal)?;

    let updated = service
        .keyring
        .update(&key.name, |current| {
            if !current.lifecycle.imported {
                return Err(not_imported());
            }
            not_soft_deleted(current)?;
            let mut next = current.with_version(version);
            // Vault reports the size of the latest hmac key.
            if key_size != 0 {
                next.key_size = key_size;
            }
            Ok(next)
        })
        .await?;
    Ok(updated)
}

/// Refuses a public key alone for a type that has no public key, in OpenBao's words.
fn public_importable(key_type: KeyType) -> Result<(), ApiError> {
    if key_type.supports_signing() {
        return Ok(());
    }
    Err(ApiError::Wrapped(NO_PUBLIC_IMPORT.to_owned()))
}

/// The `public_key` text; OpenBao reads an absent one as empty.
fn public_pem(public_key: Option<&WeakString>) -> &str {
    public_key.map_or("", |p| p.0.as_str())
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
