//! `keys` (list), `keys/:name` (create, read, delete), `keys/:name/rotate` and
//! `keys/:name/config`.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use super::NAME_FROM_PATH;
use crate::crypto::KeyType;
use crate::crypto::kdf::Kdf;
use crate::crypto::public::PublicKey;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt, WeakString};
use crate::http::response::{envelope, no_content};
use crate::keyring::key::{HMAC_KEY_SIZES, KeyMaterial, Stamp};
use crate::keyring::{NamedKey, NewKey};
use crate::service::Service;

/// The key description that reads and changes answer with; members in Vault's
/// (sorted) order.
#[derive(Serialize)]
struct KeyDescription<'a> {
    allow_plaintext_backup: bool,
    auto_rotate_period: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_info: Option<StampDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    convergent_encryption: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    convergent_encryption_version: Option<i64>,
    deletion_allowed: bool,
    derived: bool,
    exportable: bool,
    imported_key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    imported_key_allow_rotation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kdf: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kdf_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<BTreeMap<String, VersionDescription>>,
    latest_version: u32,
    min_available_version: u32,
    min_decryption_version: u32,
    min_encryption_version: u32,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    restore_info: Option<StampDescription>,
    soft_deleted: bool,
    supports_decryption: bool,
    supports_derivation: bool,
    supports_encryption: bool,
    supports_signing: bool,
    #[serde(rename = "type")]
    key_type: KeyType,
}

/// `backup_info` and `restore_info`: when, and at which latest version.
#[derive(Serialize)]
struct StampDescription {
    time: String,
    version: u32,
}

impl StampDescription {
    fn of(stamp: Option<Stamp>) -> Result<Option<Self>, ApiError> {
        stamp
            .map(|stamp| {
                Ok(Self {
                    time: stamp.time.format(&Rfc3339).map_err(ApiError::internal)?,
                    version: stamp.version,
                })
            })
            .transpose()
    }
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

/// The 200 answer of every key read and change: the key's description.
pub(super) fn describe(key: &NamedKey, warnings: &[String]) -> Result<Response, ApiError> {
    describe_in_context(key, &[], warnings)
}

/// The description; a derived ed25519 key shows each version's public key for
/// `context`, or an empty one without a context, as Vault does.
fn describe_in_context(
    key: &NamedKey,
    context: &[u8],
    warnings: &[String],
) -> Result<Response, ApiError> {
    let mut keys = BTreeMap::new();
    for (number, version) in key.visible_versions() {
        let asymmetric = |name: &'static str, public_key: &str| {
            Ok::<_, ApiError>(VersionDescription::Asymmetric {
                certificate_chain: "",
                creation_time: version
                    .created
                    .format(&Rfc3339)
                    .map_err(ApiError::internal)?,
                name,
                public_key: public_key.to_owned(),
            })
        };
        let description = match &version.material {
            KeyMaterial::Aead(_) => VersionDescription::Symmetric(version.created.unix_timestamp()),
            KeyMaterial::Ecdsa(pair) => asymmetric(pair.curve().name(), pair.public_pem())?,
            KeyMaterial::Ed25519(pair) if key.derived => {
                let public = if context.is_empty() {
                    String::new()
                } else {
                    let derived = pair.derive(context).map_err(ApiError::internal)?;
                    encoding::encode_std(derived.public_key())
                };
                asymmetric("ed25519", &public)?
            }
            KeyMaterial::Ed25519(pair) => {
                asymmetric("ed25519", &encoding::encode_std(pair.public_key()))?
            }
            KeyMaterial::Rsa(rsa) => asymmetric(key.key_type.as_str(), rsa.public_pem())?,
            // A version imported without its private half reads as a full one.
            KeyMaterial::Public(public) => match public.as_ref() {
                PublicKey::Ecdsa(ec) => asymmetric(ec.curve().name(), ec.public_pem())?,
                PublicKey::Ed25519(ed) => {
                    asymmetric("ed25519", &encoding::encode_std(ed.as_bytes()))?
                }
                PublicKey::Rsa(rsa) => asymmetric(key.key_type.as_str(), rsa.public_pem())?,
            },
            // Vault shows no versions for hmac keys (see below).
            KeyMaterial::Hmac(_) => continue,
        };
        keys.insert(number.to_string(), description);
    }

    let settings = &key.settings;
    let lifecycle = &key.lifecycle;
    let description = KeyDescription {
        allow_plaintext_backup: settings.allow_plaintext_backup,
        auto_rotate_period: settings.auto_rotate_period,
        backup_info: StampDescription::of(lifecycle.backup_info)?,
        // Vault describes derivation only for derived keys; modern convergent keys
        // carry version -1 at the key level.
        convergent_encryption: key.derived.then_some(key.convergent),
        convergent_encryption_version: (key.derived && key.convergent).then_some(-1),
        deletion_allowed: settings.deletion_allowed,
        derived: key.derived,
        exportable: settings.exportable,
        imported_key: lifecycle.imported,
        imported_key_allow_rotation: lifecycle
            .imported
            .then_some(lifecycle.imported_allow_rotation),
        kdf: key.derived.then_some(key.kdf.name()),
        kdf_mode: (key.derived && key.kdf == Kdf::HmacSha256Counter).then_some(key.kdf.name()),
        key_size: (key.key_size != 0).then_some(key.key_size),
        keys: (key.key_type != KeyType::Hmac).then_some(keys),
        latest_version: key.latest_version(),
        min_available_version: lifecycle.min_available_version,
        min_decryption_version: settings.min_decryption_version,
        min_encryption_version: settings.min_encryption_version,
        name: &key.name,
        restore_info: StampDescription::of(lifecycle.restore_info)?,
        soft_deleted: lifecycle.soft_deleted,
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
    let context = match request.context {
        Some(context) => encoding::decode_std(&context.0)
            .map_err(|_| ApiError::bad_request("failed to base64-decode context"))?,
        None => Vec::new(),
    };
    let key = service.keyring.get(name).ok_or(ApiError::NotFound)?;
    describe_in_context(&key, &context, &warnings)
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
    let auto_rotate_period = request
        .auto_rotate_period
        .as_ref()
        .map(|p| rotation_period(&p.0))
        .transpose()?;

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
            // Trimmed versions are gone; neither minimum may reach below them. The
            // texts are OpenBao's, "then" included.
            let floor = current.lifecycle.min_available_version;
            if enc < floor {
                return Err(ApiError::bad_request(
                    "min encryption version should not be less than min available version",
                ));
            }
            if dec < floor {
                return Err(ApiError::bad_request(
                    "min decryption version should not be less then min available version",
                ));
            }

            if let Some(WeakBool(allowed)) = request.deletion_allowed {
                settings.deletion_allowed = allowed;
            }
            if let Some(period) = auto_rotate_period {
                settings.auto_rotate_period = period;
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

#[derive(Deserialize)]
struct CreateRequest {
    #[serde(rename = "type")]
    key_type: Option<WeakString>,
    derived: Option<WeakBool>,
    convergent_encryption: Option<WeakBool>,
    exportable: Option<WeakBool>,
    allow_plaintext_backup: Option<WeakBool>,
    auto_rotate_period: Option<WeakString>,
    key_size: Option<WeakInt>,
    context: Option<WeakString>,
    external_key_ref: Option<WeakString>,
}

/// Vault key types that vault-kms does not serve yet; any other name is unknown.
const NOT_YET_SERVED: [&str; 1] = ["xchacha20-poly1305"];

/// `POST keys/:name`: creates a key, or answers with the existing one unchanged.
///
/// # Errors
/// 400 for invalid parameters; 500 (wrapped) for options the type cannot have.
pub async fn create(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<CreateRequest>(NAME_FROM_PATH)?;
    let _ = request.context;

    let auto_rotate_period = request
        .auto_rotate_period
        .as_ref()
        .map(|p| rotation_period(&p.0))
        .transpose()?
        .unwrap_or(0);
    let derived = request.derived.is_some_and(|d| d.0);
    let convergent = request.convergent_encryption.is_some_and(|c| c.0);
    if convergent && !derived {
        return Err(ApiError::bad_request(
            "convergent encryption requires derivation to be enabled",
        ));
    }

    let type_name = request
        .key_type
        .as_ref()
        .map_or("aes256-gcm96", |t| t.0.as_str());
    let Some(key_type) = KeyType::from_vault_name(type_name) else {
        if NOT_YET_SERVED.contains(&type_name) {
            return Err(ApiError::bad_request(format!(
                "key type {type_name} is not supported by vault-kms yet"
            )));
        }
        return Err(ApiError::bad_request(format!(
            "unknown key type {type_name}"
        )));
    };
    let key_size = request.key_size.map_or(0, |s| s.0);
    if key_size != 0 && key_type != KeyType::Hmac {
        return Err(ApiError::bad_request(format!(
            "key_size is not valid for algorithm {type_name}"
        )));
    }
    let key_size = match usize::try_from(key_size) {
        Ok(size) if size == 0 || HMAC_KEY_SIZES.contains(&size) => size,
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid key_size {key_size}"
            )));
        }
    };
    if request.external_key_ref.is_some_and(|r| !r.0.is_empty()) {
        return Err(ApiError::bad_request(
            "must provide type=external-key to use external_key_ref",
        ));
    }

    if let Some(existing) = service.keyring.get(name) {
        return describe(&existing, &warnings);
    }
    super::keep_declared_type(service, name, key_type)?;
    if (derived || convergent) && !key_type.supports_derivation() {
        return Err(ApiError::Wrapped(format!(
            "key derivation and convergent encryption not supported for keys of type {type_name}"
        )));
    }
    if key_type == KeyType::Ed25519 && convergent {
        return Err(ApiError::Wrapped(
            "convergent encryption not supported for keys of type ed25519".to_owned(),
        ));
    }
    if key_type == KeyType::Hmac && key_size == 0 {
        return Err(ApiError::Wrapped(
            "invalid key size for HMAC key, must be between 32 and 512 bytes".to_owned(),
        ));
    }

    let new = NewKey {
        key_type,
        derived,
        convergent,
        exportable: request.exportable.is_some_and(|e| e.0),
        allow_plaintext_backup: request.allow_plaintext_backup.is_some_and(|a| a.0),
        auto_rotate_period,
        key_size,
    };
    let (key, created) = service.keyring.create(name, new).await?;
    if created {
        tracing::info!(key = %name, key_type = %key_type, "created key");
    }
    describe(&key, &warnings)
}

#[derive(Deserialize)]
struct DeleteRequest {}

/// `DELETE keys/:name`: only for keys whose `deletion_allowed` is set.
///
/// # Errors
/// 400 with Vault's message for a missing key or one that may not be deleted.
pub async fn delete(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let _ = params.decode::<DeleteRequest>(NAME_FROM_PATH)?;
    let Some(key) = service.keyring.get(name) else {
        return Err(ApiError::bad_request(format!(
            "error deleting policy {name}: could not delete key; not found"
        )));
    };
    if !key.settings.deletion_allowed {
        return Err(ApiError::bad_request(format!(
            "error deleting policy {name}: deletion is not allowed for this key"
        )));
    }
    service.keyring.delete(name).await?;
    tracing::info!(key = %name, "deleted key");
    Ok(no_content())
}

#[derive(Deserialize)]
struct ListRequest {
    after: Option<WeakString>,
    limit: Option<WeakInt>,
}

#[derive(Serialize)]
struct KeyList {
    keys: Vec<String>,
}

/// `LIST keys` (or `GET keys?list=true`): names in byte order, with OpenBao's
/// `after` and `limit` paging; no keys at all answers 404.
///
/// # Errors
/// 404 with no message when there is nothing to list.
pub fn list(service: &Service, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<ListRequest>(&[])?;
    let after = request.after.map(|a| a.0).unwrap_or_default();
    let limit = request.limit.map_or(0, |l| l.0);

    let mut keys: Vec<String> = service
        .keyring
        .names()
        .into_iter()
        .filter(|n| after.is_empty() || n.as_str() > after.as_str())
        .collect();
    if let Ok(limit) = usize::try_from(limit)
        && limit > 0
    {
        keys.truncate(limit);
    }
    if keys.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(envelope(&KeyList { keys }, &warnings))
}

/// An `auto_rotate_period`: 0 to disable, else at least an hour (Vault's rule).
fn rotation_period(text: &str) -> Result<u64, ApiError> {
    let seconds = parse_duration(text)?;
    if seconds != 0 && seconds < 3600 {
        return Err(ApiError::bad_request(
            "auto rotate period must be 0 to disable or at least an hour",
        ));
    }
    Ok(u64::try_from(seconds).unwrap_or(0))
}

/// Seconds in a Vault duration: an integer number of seconds, or a Go duration
/// such as `90m`, `2h` or `1d` (Vault accepts a `d` suffix).
pub(super) fn parse_duration(text: &str) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::bad_request(format!(
            "Field validation failed: error converting input for field \"auto_rotate_period\": \
             time: invalid duration \"{text}\""
        ))
    };
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        if seconds < 0 {
            return Err(ApiError::bad_request(format!(
                "Field validation failed: error converting input for field \
                 \"auto_rotate_period\": cannot provide negative value '{seconds}'"
            )));
        }
        return Ok(seconds);
    }

    let mut total = 0i64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        total = total.saturating_add(number.saturating_mul(unit));
        rest = &rest[unit_len..];
    }
    Ok(total)
}
