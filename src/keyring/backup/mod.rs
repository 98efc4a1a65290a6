//! Vault's backup blob: a named key as base64 of a JSON document holding the key's
//! policy and its archive of versions, readable by OpenBao and Vault alike.
//!
//! - [`entry`]: one key version in the blob.
//! - [`restore`]: decoding a blob and rebuilding the key, with Vault's checks.
//!
//! [`encode`] writes what OpenBao writes for the same key; [`decode`] accepts
//! OpenBao's and Vault's blobs and checks them as OpenBao checks a restored policy,
//! and more: every version's material is validated before anything is stored.

mod entry;
mod restore;
#[cfg(test)]
mod tests;

pub use restore::Backup;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::key::{NamedKey, Stamp};
use crate::crypto::KeyType;
use crate::crypto::kdf::Kdf;
use entry::WireEntry;

/// Nanoseconds per second: Vault stores `auto_rotate_period` as a Go duration.
const NANOS: i64 = 1_000_000_000;

/// Why a blob cannot be restored. Texts of the first group are OpenBao's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The `backup` text is not standard base64; the offset is Go's.
    #[error("illegal base64 data at input byte {0}")]
    Base64(usize),
    /// The decoded text is not the JSON of a blob.
    #[error("{0}")]
    Json(String),
    /// Neither the URL nor the blob names the key.
    #[error("failed restored policy name validator: entry would not be accessible")]
    NoName,
    /// The blob's policy breaks one of Vault's consistency rules.
    #[error("failed to restore the policy \"{name}\": {rule}")]
    Inconsistent {
        /// The key's name.
        name: String,
        /// Vault's text for the rule.
        rule: String,
    },
    /// The blob has no policy at all (`{}`); OpenBao 2.7.2 drops the connection.
    #[error("backup holds no policy")]
    NoPolicy,
    /// A type number that vault-kms does not serve.
    #[error("key type {0} in the backup is not supported")]
    KeyType(i64),
    /// A setting vault-kms does not serve (legacy KDF or convergence, templates).
    #[error("backup uses a {0} that is not supported")]
    Setting(&'static str),
    /// A version's material is missing, of the wrong size, or does not fit together.
    #[error("key version {0} in the backup is malformed")]
    Material(u32),
    /// A version holds what vault-kms does not serve (certificates, external keys).
    #[error("key version {0} in the backup holds a certificate chain or an external key")]
    Unsupported(u32),
    /// A version between the lowest available and the latest is absent.
    #[error("key version {0} is missing from the backup")]
    MissingVersion(u32),
    /// The blob could not be written (a fault of the server).
    #[error("backup could not be encoded")]
    Encode,
}

/// Vault's `{"policy": ..., "archived_keys": ...}`.
#[derive(Serialize, Deserialize)]
struct Blob {
    #[serde(default)]
    policy: Option<Policy>,
    #[serde(default)]
    archived_keys: Option<Archive>,
}

#[derive(Serialize, Deserialize, Default)]
struct Archive {
    #[serde(default)]
    keys: Vec<WireEntry>,
}

/// A policy, members in Vault's order.
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct Policy {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    key: String,
    #[serde(skip_serializing_if = "is_zero")]
    key_size: i64,
    keys: BTreeMap<u32, WireEntry>,
    derived: bool,
    kdf: i64,
    convergent_encryption: bool,
    exportable: bool,
    min_decryption_version: i64,
    min_encryption_version: i64,
    latest_version: i64,
    archive_version: i64,
    archive_min_version: i64,
    min_available_version: i64,
    deletion_allowed: bool,
    convergent_version: i64,
    #[serde(rename = "type")]
    key_type: i64,
    backup_info: Option<WireStamp>,
    restore_info: Option<WireStamp>,
    allow_plaintext_backup: bool,
    version_template: String,
    storage_prefix: String,
    auto_rotate_period: i64,
    #[serde(rename = "Imported")]
    imported: bool,
    #[serde(rename = "AllowImportedKeyRotation")]
    allow_imported_key_rotation: bool,
    soft_deleted: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct WireStamp {
    time: String,
    version: i64,
}

impl WireStamp {
    fn of(stamp: Option<Stamp>) -> Result<Option<Self>, RestoreError> {
        stamp
            .map(|s| {
                Ok(Self {
                    time: s.time.format(&Rfc3339).map_err(|_| RestoreError::Encode)?,
                    version: i64::from(s.version),
                })
            })
            .transpose()
    }

    fn stamp(self) -> Option<Stamp> {
        Some(Stamp {
            time: OffsetDateTime::parse(&self.time, &Rfc3339).ok()?,
            version: u32::try_from(self.version).ok()?,
        })
    }
}

/// Vault's type numbers (OpenBao's: 10 is `hmac`).
const TYPE_NUMBERS: [(KeyType, i64); 11] = [
    (KeyType::Aes256Gcm96, 0),
    (KeyType::EcdsaP256, 1),
    (KeyType::Ed25519, 2),
    (KeyType::Rsa2048, 3),
    (KeyType::Rsa4096, 4),
    (KeyType::Chacha20Poly1305, 5),
    (KeyType::EcdsaP384, 6),
    (KeyType::EcdsaP521, 7),
    (KeyType::Aes128Gcm96, 8),
    (KeyType::Rsa3072, 9),
    (KeyType::Hmac, 10),
];

/// The blob of `key`, as the `backup` string of a backup answer.
///
/// # Errors
/// [`RestoreError::Encode`] when a version's material cannot be taken apart.
pub fn encode(key: &NamedKey) -> Result<String, RestoreError> {
    let convergent = key.derived && key.convergent;
    let latest = key.latest_version();
    let archive_min = key.lifecycle.min_available_version;

    let mut archive = Vec::new();
    if archive_min == 0 {
        archive.push(WireEntry::empty());
    }
    for number in archive_min.max(1)..=latest {
        let version = key.versions.get(&number).ok_or(RestoreError::Encode)?;
        archive.push(WireEntry::of(version, convergent)?);
    }
    let mut keys = BTreeMap::new();
    for (number, version) in key.visible_versions() {
        keys.insert(number, WireEntry::of(version, convergent)?);
    }

    let settings = &key.settings;
    let type_number = TYPE_NUMBERS
        .iter()
        .find(|(t, _)| *t == key.key_type)
        .map(|(_, n)| *n)
        .ok_or(RestoreError::Encode)?;
    let policy = Policy {
        name: key.name.clone(),
        key_size: if key.key_type == KeyType::Hmac {
            i64::try_from(key.key_size).map_err(|_| RestoreError::Encode)?
        } else {
            0
        },
        keys,
        derived: key.derived,
        kdf: i64::from(key.derived && key.kdf == Kdf::Hkdf),
        convergent_encryption: key.convergent,
        exportable: settings.exportable,
        min_decryption_version: i64::from(settings.min_decryption_version),
        min_encryption_version: i64::from(settings.min_encryption_version),
        latest_version: i64::from(latest),
        archive_version: i64::from(latest),
        archive_min_version: i64::from(archive_min),
        min_available_version: i64::from(archive_min),
        deletion_allowed: settings.deletion_allowed,
        convergent_version: if convergent { -1 } else { 0 },
        key_type: type_number,
        backup_info: WireStamp::of(key.lifecycle.backup_info)?,
        restore_info: WireStamp::of(key.lifecycle.restore_info)?,
        allow_plaintext_backup: settings.allow_plaintext_backup,
        auto_rotate_period: i64::try_from(settings.auto_rotate_period)
            .ok()
            .and_then(|s| s.checked_mul(NANOS))
            .ok_or(RestoreError::Encode)?,
        imported: key.lifecycle.imported,
        allow_imported_key_rotation: key.lifecycle.imported_allow_rotation,
        soft_deleted: key.lifecycle.soft_deleted,
        ..Policy::default()
    };
    let blob = Blob {
        policy: Some(policy),
        archived_keys: Some(Archive { keys: archive }),
    };
    // Reserve enough up front that the buffer is not reallocated, which would leave an
    // unzeroized copy of key material behind (a 4096-bit RSA version is about 10 kB,
    // and sits both in `keys` and in the archive).
    let capacity = 4096 + 24 * 1024 * key.versions.len();
    let mut json = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *json, &blob).map_err(|_| RestoreError::Encode)?;
    json.push(b'\n');
    Ok(STANDARD.encode(&*json))
}
