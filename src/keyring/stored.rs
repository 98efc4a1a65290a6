//! The persisted form of a named key: a JSON document sealed by the barrier.
//!
//! Secret bytes are base64 inside the document; the serialized buffer is zeroized
//! as soon as it has been sealed. A version imported without its private half stores
//! an empty `key` and its `public_key` (base64 of the PKIX DER); documents written
//! before such versions existed have no `public_key` member and load unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::key::{KeyMaterial, KeySettings, KeyVersion, Lifecycle, NamedKey, Stamp};
use crate::crypto::kdf::Kdf;
use crate::crypto::public::PublicKey;
use crate::crypto::{CryptoError, KeyType};
use crate::secret::SecretBytes;

/// Storage path of a named key.
pub fn path(name: &str) -> String {
    format!("keys/{name}")
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    name: String,
    #[serde(rename = "type")]
    key_type: KeyType,
    min_decryption_version: u32,
    min_encryption_version: u32,
    deletion_allowed: bool,
    exportable: bool,
    allow_plaintext_backup: bool,
    #[serde(default)]
    auto_rotate_period: u64,
    #[serde(default)]
    key_size: usize,
    #[serde(default)]
    derived: bool,
    #[serde(default)]
    convergent_encryption: bool,
    #[serde(default)]
    kdf: Kdf,
    #[serde(default)]
    min_available_version: u32,
    #[serde(default)]
    soft_deleted: bool,
    #[serde(default)]
    imported: bool,
    #[serde(default)]
    imported_allow_rotation: bool,
    #[serde(default)]
    backup_info: Option<StoredStamp>,
    #[serde(default)]
    restore_info: Option<StoredStamp>,
    versions: BTreeMap<u32, StoredVersion>,
}

#[derive(Serialize, Deserialize)]
struct StoredStamp {
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    version: u32,
}

impl From<Stamp> for StoredStamp {
    fn from(stamp: Stamp) -> Self {
        Self {
            time: stamp.time,
            version: stamp.version,
        }
    }
}

impl From<StoredStamp> for Stamp {
    fn from(stamp: StoredStamp) -> Self {
        Self {
            time: stamp.time,
            version: stamp.version,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    #[serde(with = "secret_base64")]
    key: SecretBytes,
    #[serde(with = "secret_base64")]
    hmac_key: SecretBytes,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    /// Set only for a version without its private half (then `key` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
}

/// Serializes a key for sealing.
///
/// # Errors
/// Only if JSON serialization fails, which it does not for these types.
pub fn encode(key: &NamedKey) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
    let stored = StoredKey {
        name: key.name.clone(),
        key_type: key.key_type,
        min_decryption_version: key.settings.min_decryption_version,
        min_encryption_version: key.settings.min_encryption_version,
        deletion_allowed: key.settings.deletion_allowed,
        exportable: key.settings.exportable,
        allow_plaintext_backup: key.settings.allow_plaintext_backup,
        auto_rotate_period: key.settings.auto_rotate_period,
        key_size: key.key_size,
        derived: key.derived,
        convergent_encryption: key.convergent,
        kdf: key.kdf,
        min_available_version: key.lifecycle.min_available_version,
        soft_deleted: key.lifecycle.soft_deleted,
        imported: key.lifecycle.imported,
        imported_allow_rotation: key.lifecycle.imported_allow_rotation,
        backup_info: key.lifecycle.backup_info.map(Into::into),
        restore_info: key.lifecycle.restore_info.map(Into::into),
        versions: key
            .versions
            .iter()
            .map(|(n, v)| {
                let stored = StoredVersion {
                    key: v
                        .material
                        .stored_bytes()
                        .cloned()
                        .unwrap_or_else(|| SecretBytes::new(Vec::new())),
                    hmac_key: v.hmac_key.clone(),
                    created: v.created,
                    public_key: v
                        .material
                        .public_only()
                        .map(|public| STANDARD.encode(public.spki_der())),
                };
                (*n, stored)
            })
            .collect(),
    };
    // Reserve enough up front that the buffer holding secrets is not reallocated
    // (a reallocation would leave an unzeroized copy behind).
    let mut out = Zeroizing::new(Vec::with_capacity(1024 + 512 * key.versions.len()));
    serde_json::to_writer(&mut *out, &stored)?;
    Ok(out)
}

/// Why a stored key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The document is not valid.
    #[error("malformed key document: {0}")]
    Json(#[from] serde_json::Error),
    /// A version's material does not fit the key type.
    #[error("version {0} holds malformed key material")]
    Material(u32),
}

/// Loads a key from its unsealed document.
///
/// # Errors
/// [`DecodeError`] when the document or a version's material is malformed.
pub fn decode(bytes: &[u8]) -> Result<NamedKey, DecodeError> {
    let stored: StoredKey = serde_json::from_slice(bytes)?;
    let mut versions = BTreeMap::new();
    for (number, version) in stored.versions {
        let material = match version.public_key {
            Some(public) if version.key.is_empty() => {
                let der = STANDARD
                    .decode(public)
                    .map_err(|_| DecodeError::Material(number))?;
                let public = PublicKey::from_spki_der(stored.key_type, &der)
                    .map_err(|_| DecodeError::Material(number))?;
                KeyMaterial::Public(Box::new(public))
            }
            _ => KeyMaterial::from_stored(stored.key_type, version.key)
                .map_err(|_: CryptoError| DecodeError::Material(number))?,
        };
        let version = KeyVersion {
            created: version.created,
            material,
            hmac_key: version.hmac_key,
        };
        versions.insert(number, Arc::new(version));
    }
    Ok(NamedKey {
        name: stored.name,
        key_type: stored.key_type,
        settings: KeySettings {
            min_decryption_version: stored.min_decryption_version,
            min_encryption_version: stored.min_encryption_version,
            deletion_allowed: stored.deletion_allowed,
            exportable: stored.exportable,
            allow_plaintext_backup: stored.allow_plaintext_backup,
            auto_rotate_period: stored.auto_rotate_period,
        },
        derived: stored.derived,
        convergent: stored.convergent_encryption,
        kdf: stored.kdf,
        key_size: stored.key_size,
        lifecycle: Lifecycle {
            min_available_version: stored.min_available_version,
            soft_deleted: stored.soft_deleted,
            imported: stored.imported,
            imported_allow_rotation: stored.imported_allow_rotation,
            backup_info: stored.backup_info.map(Into::into),
            restore_info: stored.restore_info.map(Into::into),
        },
        versions,
    })
}

mod secret_base64 {
    use super::*;

    pub(super) fn serialize<S: Serializer>(value: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(value.expose()));
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretBytes, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        Ok(SecretBytes::new(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_stored_form() {
        let now = OffsetDateTime::now_utc();
        for key_type in KeyType::ALL {
            let size = if key_type == KeyType::Hmac { 64 } else { 0 };
            let mut key = NamedKey::generate_sized("app", key_type, size, now)
                .unwrap()
                .rotated(now)
                .unwrap();
            key.settings.min_decryption_version = 2;

            let loaded = decode(&encode(&key).unwrap()).unwrap();
            assert_eq!(loaded.name, "app");
            assert_eq!(loaded.key_size, size);
            assert_eq!(loaded.key_type, key_type);
            assert_eq!(loaded.settings, key.settings);
            assert_eq!(loaded.latest_version(), 2);
            crate::keyring::key::assert_same_versions(&key, &loaded);
        }
    }

    #[test]
    fn material_of_the_wrong_type_is_refused() {
        let now = OffsetDateTime::now_utc();
        let key = NamedKey::generate("k", KeyType::Chacha20Poly1305, now).unwrap();
        let text = String::from_utf8(encode(&key).unwrap().to_vec()).unwrap();
        let swapped = text.replace("chacha20-poly1305", "rsa-2048");

        assert!(matches!(
            decode(swapped.as_bytes()),
            Err(DecodeError::Material(1))
        ));
    }

    #[test]
    fn public_only_versions_round_trip_beside_full_ones() {
        let now = OffsetDateTime::now_utc();
        let pair =
            crate::crypto::ecdsa::EcdsaKey::generate(crate::crypto::ecdsa::Curve::P256).unwrap();
        let public = PublicKey::from_pem(KeyType::EcdsaP256, pair.public_pem()).unwrap();
        let public = KeyVersion::with_material(KeyMaterial::Public(Box::new(public)), now).unwrap();
        let key = NamedKey::generate("k", KeyType::EcdsaP256, now)
            .unwrap()
            .with_version(public);

        let loaded = decode(&encode(&key).unwrap()).unwrap();
        let version = &loaded.versions[&2];
        assert_eq!(
            version.material.public_only().unwrap().spki_der(),
            pair.public().spki_der()
        );
        assert!(loaded.versions[&1].material.public_only().is_none());
        assert_eq!(version.hmac_key, key.versions[&2].hmac_key);
    }

    #[test]
    fn documents_written_before_public_only_versions_still_load() {
        // The form every earlier version of vault-kms wrote: no `public_key` member.
        let now = OffsetDateTime::now_utc();
        let key = NamedKey::generate("k", KeyType::Ed25519, now).unwrap();
        let text = String::from_utf8(encode(&key).unwrap().to_vec()).unwrap();
        assert!(!text.contains("public_key"));

        let loaded = decode(text.as_bytes()).unwrap();
        crate::keyring::key::assert_same_versions(&key, &loaded);
    }
}
