//! Restoring a blob: decoding it as Go does, OpenBao's consistency rules with its
//! texts, and the key rebuilt version by version.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::entry::{CONVERGENT_VERSION, WireEntry};
use super::{Archive, Blob, NANOS, Policy, RestoreError, TYPE_NUMBERS, WireStamp};
use crate::config::is_key_name;
use crate::crypto::KeyType;
use crate::crypto::kdf::Kdf;
use crate::encoding;
use crate::keyring::key::{KeySettings, Lifecycle, NamedKey, Stamp};

/// A decoded blob, not yet checked beyond its JSON shape.
pub struct Backup {
    policy: Policy,
    archive: Archive,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backup(..)")
    }
}

impl Backup {
    /// Decodes the `backup` string of a restore; `url_name`, if given, replaces the
    /// blob's name.
    ///
    /// # Errors
    /// [`RestoreError`] for text that is not base64, JSON of a blob, or names no key.
    pub fn parse(backup: &str, url_name: Option<&str>) -> Result<Self, RestoreError> {
        // Go's decoder, with its error offsets and its skipping of line breaks.
        let json =
            Zeroizing::new(encoding::decode_std(backup).map_err(|e| RestoreError::Base64(e.0))?);
        let blob: Blob = serde_json::from_slice(&json)
            .map_err(|e| RestoreError::Json(go_json_error(&json, &e)))?;
        let mut policy = blob.policy.ok_or(RestoreError::NoPolicy)?;
        if let Some(name) = url_name {
            policy.name = name.to_owned();
        }
        if !is_key_name(&policy.name) {
            return Err(RestoreError::NoName);
        }
        Ok(Self {
            policy,
            archive: blob.archived_keys.unwrap_or_default(),
        })
    }

    /// The name the key is restored under.
    pub fn name(&self) -> &str {
        &self.policy.name
    }

    /// The key, checked as Vault checks a policy it saves and version by version,
    /// with `restore_info` stamped at `now`.
    ///
    /// # Errors
    /// [`RestoreError`] for an inconsistent or unsupported key.
    pub fn into_key(self, now: OffsetDateTime) -> Result<NamedKey, RestoreError> {
        check_rules(&self.policy)?;
        build(self.policy, self.archive, now)
    }
}

/// Go's decoder texts for the commonest ways a blob is not JSON of a blob: text that
/// does not start like a JSON value, and a value that is not an object. Other errors
/// keep serde_json's text.
fn go_json_error(json: &[u8], err: &serde_json::Error) -> String {
    let Some(first) = json.iter().find(|b| !b.is_ascii_whitespace()) else {
        return "EOF".to_owned();
    };
    let kind = match first {
        b'{' | b'n' => return without_values(&err.to_string()),
        b'[' => "array",
        b'"' => "string",
        b'-' | b'0'..=b'9' => "number",
        b't' | b'f' => "bool",
        other => {
            return format!(
                "invalid character '{}' looking for beginning of value",
                char::from(*other)
            );
        }
    };
    format!("json: cannot unmarshal {kind} into Go value of type keysutil.KeyData")
}

/// serde_json's message with the values it quotes left out: a blob holds key
/// material, and none of it may come back in an error.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(open) if c == open => {
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                out.push('…');
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

/// Vault's consistency rules for any policy it saves, with its texts.
fn check_rules(policy: &Policy) -> Result<(), RestoreError> {
    let broken = |rule: String| RestoreError::Inconsistent {
        name: policy.name.clone(),
        rule,
    };
    let (min_dec, min_enc) = (policy.min_decryption_version, policy.min_encryption_version);
    let latest = policy.latest_version;
    if min_dec < 1 {
        return Err(broken(format!(
            "minimum decryption version of {min_dec} is less than 1"
        )));
    }
    if latest < 1 {
        return Err(broken(format!("latest version of {latest} is less than 1")));
    }
    if policy.archive_version > latest {
        return Err(broken(format!(
            "archive version of {} is greater than the latest version {latest}",
            policy.archive_version
        )));
    }
    if min_enc != 0 && min_dec > min_enc {
        return Err(broken(format!(
            "minimum decryption version of {min_dec} is greater than minimum encryption version {min_enc}"
        )));
    }
    if min_dec > latest {
        return Err(broken(format!(
            "minimum decryption version of {min_dec} is greater than the latest version {latest}"
        )));
    }
    Ok(())
}

fn build(policy: Policy, archive: Archive, now: OffsetDateTime) -> Result<NamedKey, RestoreError> {
    let key_type = TYPE_NUMBERS
        .iter()
        .find(|(_, n)| *n == policy.key_type)
        .map(|(t, _)| *t)
        .ok_or(RestoreError::KeyType(policy.key_type))?;
    if !policy.key.is_empty() {
        return Err(RestoreError::Setting("pre-0.3 single key"));
    }
    if !policy.version_template.is_empty() || !policy.storage_prefix.is_empty() {
        return Err(RestoreError::Setting("version template or storage prefix"));
    }
    if policy.derived && !key_type.supports_derivation() {
        return Err(RestoreError::Setting(
            "derived key of a type that vault-kms does not derive",
        ));
    }
    if policy.convergent_encryption && !policy.derived {
        return Err(RestoreError::Setting("convergent key that is not derived"));
    }
    // Vault's storage numbers: 0 is the counter-mode KDF (keys imported with
    // `derived`, and very old keys), 1 is HKDF.
    let kdf = match policy.kdf {
        1 => Kdf::Hkdf,
        0 => Kdf::HmacSha256Counter,
        _ => return Err(RestoreError::Setting("unknown key derivation function")),
    };
    if policy.convergent_encryption && policy.convergent_version != -1 {
        return Err(RestoreError::Setting(
            "legacy convergent encryption version",
        ));
    }
    if policy.auto_rotate_period < 0 {
        return Err(RestoreError::Setting("negative auto_rotate_period"));
    }
    // `check_rules` made these at least 1, so they fit.
    let latest = u32::try_from(policy.latest_version).unwrap_or(u32::MAX);
    let archive_min = u32::try_from(policy.archive_min_version).unwrap_or(0);
    let min_available = u32::try_from(policy.min_available_version).unwrap_or(0);
    let convergent = policy.derived && policy.convergent_encryption;

    // Archive index i holds version archive_min + i; policy.keys wins where both do.
    let mut entries: BTreeMap<u32, WireEntry> = BTreeMap::new();
    for (i, entry) in archive.keys.into_iter().enumerate() {
        let number = u64::from(archive_min) + i as u64;
        if let Ok(number) = u32::try_from(number)
            && number >= 1
            && number <= latest
        {
            entries.insert(number, entry);
        }
    }
    entries.extend(
        policy
            .keys
            .into_iter()
            .filter(|(n, _)| (1..=latest).contains(n)),
    );

    let mut versions = BTreeMap::new();
    for number in min_available.max(1)..=latest {
        let entry = entries
            .remove(&number)
            .ok_or(RestoreError::MissingVersion(number))?;
        if convergent && entry.convergent_version != CONVERGENT_VERSION {
            return Err(RestoreError::Setting(
                "legacy convergent encryption version",
            ));
        }
        let version = entry.into_version(key_type, number)?;
        // A derived key verifies with per-context keys, which a public half alone
        // cannot give; OpenBao never makes such a version.
        if policy.derived && version.material.public_only().is_some() {
            return Err(RestoreError::Setting(
                "public-only version of a derived key",
            ));
        }
        versions.insert(number, Arc::new(version));
    }

    let key_size = if key_type == KeyType::Hmac {
        let size = versions
            .values()
            .next()
            .and_then(|v| v.material.stored_bytes())
            .map_or(0, |bytes| bytes.len());
        usize::try_from(policy.key_size)
            .ok()
            .filter(|s| *s != 0)
            .unwrap_or(size)
    } else {
        0
    };
    Ok(NamedKey {
        name: policy.name,
        key_type,
        settings: KeySettings {
            // `check_rules` bounds both by the latest version.
            min_decryption_version: u32::try_from(policy.min_decryption_version).unwrap_or(1),
            min_encryption_version: u32::try_from(policy.min_encryption_version).unwrap_or(0),
            deletion_allowed: policy.deletion_allowed,
            exportable: policy.exportable,
            allow_plaintext_backup: policy.allow_plaintext_backup,
            auto_rotate_period: u64::try_from(policy.auto_rotate_period / NANOS).unwrap_or(0),
        },
        derived: policy.derived,
        kdf,
        convergent: policy.convergent_encryption,
        key_size,
        lifecycle: Lifecycle {
            min_available_version: min_available,
            soft_deleted: policy.soft_deleted,
            imported: policy.imported,
            imported_allow_rotation: policy.allow_imported_key_rotation,
            backup_info: policy.backup_info.and_then(WireStamp::stamp),
            restore_info: Some(Stamp {
                time: now,
                version: latest,
            }),
        },
        versions,
    })
}
