//! A named key: its versions and the rules that pick a version for an operation.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::crypto::aead::AeadKey;
use crate::crypto::ecdsa::EcdsaKey;
use crate::crypto::ed25519::Ed25519Key;
use crate::crypto::kdf::Kdf;
use crate::crypto::public::PublicKey;
use crate::crypto::rsa::RsaKey;
use crate::crypto::{CryptoError, KeyType};
use crate::secret::SecretBytes;

/// Bytes in each version's HMAC key (Vault generates 32 for every key type).
pub const HMAC_KEY_LEN: usize = 32;

/// The loaded, ready-to-use material of one key version.
#[derive(Debug)]
pub enum KeyMaterial {
    /// An AES-GCM or ChaCha20-Poly1305 key.
    Aead(AeadKey),
    /// An ECDSA key pair (boxed: it holds several prepared contexts).
    Ecdsa(Box<EcdsaKey>),
    /// An Ed25519 key pair.
    Ed25519(Box<Ed25519Key>),
    /// An RSA key pair.
    Rsa(Box<RsaKey>),
    /// The key of an `hmac` key; it is also the version's HMAC key.
    Hmac(SecretBytes),
    /// Only the public half of a signing key, imported without its private half: it
    /// verifies (and an RSA one encrypts) but cannot sign or decrypt.
    Public(Box<PublicKey>),
}

/// The sizes Vault allows for `hmac` keys, in bytes.
pub const HMAC_KEY_SIZES: std::ops::RangeInclusive<usize> = 32..=512;

impl KeyMaterial {
    /// Fresh material of `key_type`.
    ///
    /// # Errors
    /// [`CryptoError`] when generation fails.
    pub fn generate(key_type: KeyType, key_size: usize) -> Result<Self, CryptoError> {
        if key_type == KeyType::Hmac {
            if !HMAC_KEY_SIZES.contains(&key_size) {
                return Err(CryptoError::MalformedKey);
            }
            let key = SecretBytes::random(key_size).map_err(|_| CryptoError::Internal)?;
            return Ok(Self::Hmac(key));
        }
        if let Some(algorithm) = key_type.aead() {
            return Ok(Self::Aead(AeadKey::generate(algorithm)?));
        }
        if let Some(bits) = key_type.rsa_bits() {
            return Ok(Self::Rsa(Box::new(RsaKey::generate(bits)?)));
        }
        if let Some(curve) = key_type.curve() {
            return Ok(Self::Ecdsa(Box::new(EcdsaKey::generate(curve)?)));
        }
        if key_type == KeyType::Ed25519 {
            return Ok(Self::Ed25519(Box::new(Ed25519Key::generate()?)));
        }
        Err(CryptoError::MalformedKey)
    }

    /// Loads material of `key_type` from its stored bytes (raw key or PKCS#8).
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`] when the bytes do not fit the type.
    pub fn from_stored(key_type: KeyType, bytes: SecretBytes) -> Result<Self, CryptoError> {
        if key_type == KeyType::Hmac {
            if !HMAC_KEY_SIZES.contains(&bytes.len()) {
                return Err(CryptoError::MalformedKey);
            }
            return Ok(Self::Hmac(bytes));
        }
        if let Some(algorithm) = key_type.aead() {
            return Ok(Self::Aead(AeadKey::from_bytes(algorithm, bytes)?));
        }
        if let Some(bits) = key_type.rsa_bits() {
            let key = RsaKey::from_pkcs8(bytes)?;
            if key.bits() != bits {
                return Err(CryptoError::MalformedKey);
            }
            return Ok(Self::Rsa(Box::new(key)));
        }
        if let Some(curve) = key_type.curve() {
            return Ok(Self::Ecdsa(Box::new(EcdsaKey::from_pkcs8(curve, bytes)?)));
        }
        if key_type == KeyType::Ed25519 {
            return Ok(Self::Ed25519(Box::new(Ed25519Key::from_seed(bytes)?)));
        }
        Err(CryptoError::MalformedKey)
    }

    /// The private bytes to store: the raw key, or PKCS#8 for key pairs; `None` for a
    /// public half alone.
    pub fn stored_bytes(&self) -> Option<&SecretBytes> {
        match self {
            Self::Aead(key) => Some(key.raw()),
            Self::Ecdsa(key) => Some(key.pkcs8()),
            Self::Ed25519(key) => Some(key.seed()),
            Self::Rsa(key) => Some(key.pkcs8()),
            Self::Hmac(key) => Some(key),
            Self::Public(_) => None,
        }
    }

    /// The public half alone, for a version imported without its private half.
    pub fn public_only(&self) -> Option<&PublicKey> {
        match self {
            Self::Public(key) => Some(key),
            _ => None,
        }
    }

    /// The public key as PKIX `SubjectPublicKeyInfo` DER, for key pairs and public
    /// halves; `None` for symmetric and `hmac` keys.
    pub fn public_spki_der(&self) -> Option<Vec<u8>> {
        match self {
            Self::Ecdsa(key) => Some(key.public().spki_der().to_vec()),
            Self::Ed25519(key) => Some(crate::crypto::public::ed25519_spki_der(key.public_key())),
            Self::Rsa(key) => Some(key.public().spki_der().to_vec()),
            Self::Public(key) => Some(key.spki_der()),
            Self::Aead(_) | Self::Hmac(_) => None,
        }
    }
}

/// One version of a named key.
#[derive(Debug)]
pub struct KeyVersion {
    /// When the version was created.
    pub created: OffsetDateTime,
    /// The key itself.
    pub material: KeyMaterial,
    /// The version's separate HMAC key, as Vault keeps one per version.
    pub hmac_key: SecretBytes,
}

impl KeyVersion {
    /// A version holding `material` (generated or imported), with a fresh HMAC key
    /// unless the material is itself an HMAC key.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when the OS has no randomness to give.
    pub fn with_material(material: KeyMaterial, now: OffsetDateTime) -> Result<Self, CryptoError> {
        let hmac_key = match &material {
            KeyMaterial::Hmac(key) => key.clone(),
            _ => SecretBytes::random(HMAC_KEY_LEN).map_err(|_| CryptoError::Internal)?,
        };
        Ok(Self {
            created: now,
            material,
            hmac_key,
        })
    }

    /// A new version of `key_type` created at `now`.
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails.
    pub fn generate(
        key_type: KeyType,
        key_size: usize,
        now: OffsetDateTime,
    ) -> Result<Self, CryptoError> {
        Self::with_material(KeyMaterial::generate(key_type, key_size)?, now)
    }
}

/// A version request that the key's policy refuses. The texts are Vault's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// A negative `key_version`.
    #[error("requested version for {0} is negative")]
    Negative(Purpose),
    /// A `key_version` above the latest version.
    #[error("requested version for {0} is higher than the latest key version")]
    AboveLatest(Purpose),
    /// A `key_version` below `min_encryption_version`.
    #[error("requested version for {0} is less than the minimum encryption key version")]
    BelowMinEncryption(Purpose),
    /// The version is not available (below `min_decryption_version`).
    #[error("no such key version")]
    Unavailable,
    /// A ciphertext or signature names a version above the latest.
    #[error("invalid {0}: version is too new")]
    TooNew(ValueKind),
    /// A ciphertext or signature names a version below `min_decryption_version`.
    #[error("ciphertext or signature version is disallowed by policy (too old)")]
    TooOld,
}

/// What a version is being chosen for; Vault names it in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Encrypt, rewrap and datakey.
    Encryption,
    /// Sign.
    Signing,
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Purpose::Encryption => "encryption",
            Purpose::Signing => "signing",
        })
    }
}

/// The kind of versioned value presented for decryption or verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A `vault:vN:` ciphertext.
    Ciphertext,
    /// A `vault:vN:` signature.
    Signature,
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueKind::Ciphertext => "ciphertext",
            ValueKind::Signature => "signature",
        })
    }
}

/// The settings of a named key that `keys/:name/config` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// Lowest version that decrypt and verify accept; at least 1.
    pub min_decryption_version: u32,
    /// Lowest version that encrypt and sign may be asked for; 0 means any.
    pub min_encryption_version: u32,
    /// Whether `DELETE keys/:name` may remove the key.
    pub deletion_allowed: bool,
    /// Whether the key material may be exported (one-way switch).
    pub exportable: bool,
    /// Whether a plaintext backup may be taken (one-way switch).
    pub allow_plaintext_backup: bool,
    /// Seconds between automatic rotations; 0 turns them off.
    pub auto_rotate_period: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            min_decryption_version: 1,
            min_encryption_version: 0,
            deletion_allowed: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
        }
    }
}

/// When a backup of a key was taken or a key was restored, as Vault records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When it happened.
    pub time: OffsetDateTime,
    /// The key's latest version at that moment.
    pub version: u32,
}

/// A use of a key that OpenBao's soft delete forbids until the key is restored.
/// Each endpoint decides its status: most answer 400, sign, rotate, export and
/// backup answer 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("refusing to use soft-deleted key")]
pub struct SoftDeleted;

/// Where a key came from and what has happened to it since, as Vault tracks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Lowest version still stored; lower ones were trimmed away. 0 until trimmed.
    pub min_available_version: u32,
    /// OpenBao's soft delete: the key is kept but refuses to be used.
    pub soft_deleted: bool,
    /// The key's material was imported (`keys/:name/import`) rather than generated.
    pub imported: bool,
    /// Whether an imported key may be rotated (with generated material).
    pub imported_allow_rotation: bool,
    /// The last backup taken of the key.
    pub backup_info: Option<Stamp>,
    /// When the key was restored from a backup, if it was.
    pub restore_info: Option<Stamp>,
}

/// An immutable snapshot of a named key. Changes build a new snapshot.
#[derive(Debug, Clone)]
pub struct NamedKey {
    /// The key's name.
    pub name: String,
    /// The key's type; it never changes.
    pub key_type: KeyType,
    /// Policy settings.
    pub settings: KeySettings,
    /// Whether every operation derives a per-context key (Vault's `derived`).
    pub derived: bool,
    /// Whether encryption is deterministic per context and plaintext.
    pub convergent: bool,
    /// The derivation function of a derived key.
    pub kdf: Kdf,
    /// Bytes of key material for `hmac` keys; 0 for every other type.
    pub key_size: usize,
    /// Trimming, import, soft delete, backup and restore state.
    pub lifecycle: Lifecycle,
    /// Every version, keyed by number; the highest is the latest.
    pub versions: BTreeMap<u32, Arc<KeyVersion>>,
}

impl NamedKey {
    /// A new key with one fresh version.
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails.
    pub fn generate(
        name: &str,
        key_type: KeyType,
        now: OffsetDateTime,
    ) -> Result<Self, CryptoError> {
        Self::generate_sized(name, key_type, 0, now)
    }

    /// A new key with one fresh version; `key_size` is the size of `hmac` keys.
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails or the size does not fit.
    pub fn generate_sized(
        name: &str,
        key_type: KeyType,
        key_size: usize,
        now: OffsetDateTime,
    ) -> Result<Self, CryptoError> {
        let first = KeyVersion::generate(key_type, key_size, now)?;
        Ok(Self {
            name: name.to_owned(),
            key_type,
            settings: KeySettings::default(),
            derived: false,
            convergent: false,
            kdf: Kdf::Hkdf,
            key_size,
            lifecycle: Lifecycle::default(),
            versions: BTreeMap::from([(1, Arc::new(first))]),
        })
    }

    /// Fails for a soft-deleted key. Every operation that uses key material calls
    /// this before touching it; reading, listing, configuring, trimming and deleting
    /// the key do not.
    ///
    /// # Errors
    /// [`SoftDeleted`] while the key is soft-deleted.
    pub fn usable(&self) -> Result<(), SoftDeleted> {
        if self.lifecycle.soft_deleted {
            return Err(SoftDeleted);
        }
        Ok(())
    }

    /// This key without the versions below `min_available_version`, which becomes
    /// its new floor. The caller has checked the value against the key's minimums,
    /// so the latest version always stays.
    pub fn trimmed(&self, min_available_version: u32) -> Self {
        let mut next = self.clone();
        next.versions = next.versions.split_off(&min_available_version);
        next.lifecycle.min_available_version = min_available_version;
        next
    }

    /// The highest version number.
    pub fn latest_version(&self) -> u32 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }

    /// This key with one more version.
    ///
    /// Like Vault, a rotation with generated material ends the key's `imported`
    /// state; an imported key that does not allow rotation is never rotated.
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails.
    pub fn rotated(&self, now: OffsetDateTime) -> Result<Self, CryptoError> {
        let mut next = self.clone();
        let version = KeyVersion::generate(self.key_type, self.key_size, now)?;
        next.versions
            .insert(self.latest_version() + 1, Arc::new(version));
        next.lifecycle.imported = false;
        Ok(next)
    }

    /// Whether Vault refuses to rotate this key: imported without `allow_rotation`.
    pub fn rotation_refused(&self) -> bool {
        self.lifecycle.imported && !self.lifecycle.imported_allow_rotation
    }

    /// This key with `version` appended as the new latest version.
    pub fn with_version(&self, version: KeyVersion) -> Self {
        let mut next = self.clone();
        next.versions
            .insert(self.latest_version() + 1, Arc::new(version));
        next
    }

    /// This key with the public-only version `number` given its private half
    /// `material`; the version keeps its creation time and HMAC key, as in Vault.
    /// `None` when there is no such version.
    pub fn with_private_half(&self, number: u32, material: KeyMaterial) -> Option<Self> {
        let current = self.versions.get(&number)?;
        let mut next = self.clone();
        let version = KeyVersion {
            created: current.created,
            material,
            hmac_key: current.hmac_key.clone(),
        };
        next.versions.insert(number, Arc::new(version));
        Some(next)
    }

    /// Whether automatic rotation is due at `now`: a period is set and the latest
    /// version is at least that old. Rotating makes a new latest version, so a key
    /// is never rotated twice for one period, across restarts too. A soft-deleted key
    /// is never due, as OpenBao skips it.
    pub fn rotation_due(&self, now: OffsetDateTime) -> bool {
        let period = self.settings.auto_rotate_period;
        if period == 0 || self.lifecycle.soft_deleted || self.rotation_refused() {
            return false;
        }
        let Some(latest) = self.versions.values().next_back() else {
            return false;
        };
        let period = time::Duration::seconds(i64::try_from(period).unwrap_or(i64::MAX));
        latest.created + period <= now
    }

    /// The versions a key read shows: those at or above `min_decryption_version`.
    pub fn visible_versions(&self) -> impl Iterator<Item = (u32, &KeyVersion)> {
        self.versions
            .range(self.settings.min_decryption_version..)
            .map(|(n, v)| (*n, v.as_ref()))
    }

    /// Picks the version for encrypting or signing; `requested` 0 means the latest.
    ///
    /// # Errors
    /// [`VersionError`] when the policy refuses the requested version.
    pub fn version_for(
        &self,
        purpose: Purpose,
        requested: i64,
    ) -> Result<(u32, &KeyVersion), VersionError> {
        let latest = self.latest_version();
        let number = match requested {
            0 => latest,
            n if n < 0 => return Err(VersionError::Negative(purpose)),
            n if n > i64::from(latest) => return Err(VersionError::AboveLatest(purpose)),
            n => u32::try_from(n).map_err(|_| VersionError::AboveLatest(purpose))?,
        };
        let min_encryption = self.settings.min_encryption_version;
        if min_encryption > 0 && number < min_encryption {
            return Err(VersionError::BelowMinEncryption(purpose));
        }
        self.available(number).map(|v| (number, v))
    }

    /// Picks the version named by a ciphertext or signature.
    ///
    /// Version 0 decrypts with version 1, as Vault does for pre-0.3 ciphertexts; it is
    /// "too old" for signatures.
    ///
    /// # Errors
    /// [`VersionError`] when the version is too new, retired, or gone.
    pub fn version_of(
        &self,
        kind: ValueKind,
        number: i64,
    ) -> Result<(u32, &KeyVersion), VersionError> {
        let number = match (kind, number) {
            (ValueKind::Ciphertext, 0) => 1,
            (_, n) => n,
        };
        if number > i64::from(self.latest_version()) {
            return Err(VersionError::TooNew(kind));
        }
        if number < i64::from(self.settings.min_decryption_version) {
            return Err(VersionError::TooOld);
        }
        let number = u32::try_from(number).map_err(|_| VersionError::TooOld)?;
        self.available(number).map(|v| (number, v))
    }

    /// Picks the version for generating an HMAC, with Vault's HMAC-specific texts.
    ///
    /// # Errors
    /// Vault's message when the policy refuses the requested version.
    pub fn hmac_version(&self, requested: i64) -> Result<(u32, &KeyVersion), String> {
        let latest = self.latest_version();
        let number = match requested {
            0 => i64::from(latest),
            n => n,
        };
        if number != i64::from(latest) {
            let min_encryption = i64::from(self.settings.min_encryption_version);
            if min_encryption > 0 && number < min_encryption {
                return Err(
                    "cannot generate HMAC: version is too old (disallowed by policy)".to_owned(),
                );
            }
            if number < 0 {
                return Err("key version does not exist (cannot be negative)".to_owned());
            }
            if number > i64::from(latest) {
                return Err(format!(
                    "key version does not exist; latest key version is {latest}"
                ));
            }
        }
        let number = u32::try_from(number).map_err(|_| "no such key version".to_owned())?;
        self.available(number)
            .map(|v| (number, v))
            .map_err(|e| e.to_string())
    }

    /// Picks the version named by an HMAC to verify, with Vault's HMAC texts.
    ///
    /// # Errors
    /// Vault's message when the version is too new, retired, or gone.
    pub fn hmac_verify_version(&self, number: i64) -> Result<&KeyVersion, String> {
        if number > i64::from(self.latest_version()) {
            return Err("invalid HMAC: version is too new".to_owned());
        }
        if number < i64::from(self.settings.min_decryption_version) {
            return Err("cannot verify HMAC: version is too old (disallowed by policy)".to_owned());
        }
        let number = u32::try_from(number).map_err(|_| "no such key version".to_owned())?;
        self.available(number).map_err(|e| e.to_string())
    }

    fn available(&self, number: u32) -> Result<&KeyVersion, VersionError> {
        if number < self.settings.min_decryption_version {
            return Err(VersionError::Unavailable);
        }
        self.versions
            .get(&number)
            .map(AsRef::as_ref)
            .ok_or(VersionError::Unavailable)
    }
}

/// Checks, in tests, that two keys hold the same versions: material, HMAC keys and
/// creation times.
#[cfg(test)]
pub(crate) fn assert_same_versions(expected: &NamedKey, actual: &NamedKey) {
    assert_eq!(
        expected.versions.keys().collect::<Vec<_>>(),
        actual.versions.keys().collect::<Vec<_>>()
    );
    for (n, version) in &expected.versions {
        let again = &actual.versions[n];
        assert_eq!(
            again.material.stored_bytes(),
            version.material.stored_bytes()
        );
        assert_eq!(
            again.material.public_spki_der(),
            version.material.public_spki_der()
        );
        assert_eq!(again.hmac_key, version.hmac_key);
        assert_eq!(again.created, version.created);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_with_versions(n: u32) -> NamedKey {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut key = NamedKey::generate("k", KeyType::Chacha20Poly1305, now).unwrap();
        for _ in 1..n {
            key = key.rotated(now).unwrap();
        }
        key
    }

    #[test]
    fn rotation_appends_the_next_version() {
        let key = key_with_versions(3);
        assert_eq!(key.latest_version(), 3);
        assert_eq!(key.versions.len(), 3);
    }

    #[test]
    fn trimming_drops_lower_versions_and_keeps_the_latest() {
        let key = key_with_versions(4).trimmed(3);
        assert_eq!(key.versions.keys().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(key.latest_version(), 4);
        assert_eq!(key.lifecycle.min_available_version, 3);
    }

    #[test]
    fn a_soft_deleted_key_is_not_usable() {
        let mut key = key_with_versions(1);
        assert_eq!(key.usable(), Ok(()));
        key.lifecycle.soft_deleted = true;
        assert_eq!(key.usable(), Err(SoftDeleted));
        assert_eq!(SoftDeleted.to_string(), "refusing to use soft-deleted key");
    }

    #[test]
    fn version_zero_means_latest_for_encryption() {
        let key = key_with_versions(2);
        assert_eq!(key.version_for(Purpose::Encryption, 0).unwrap().0, 2);
        assert_eq!(key.version_for(Purpose::Encryption, 1).unwrap().0, 1);
    }

    #[test]
    fn encryption_rejects_negative_too_high_and_below_minimum_versions() {
        let mut key = key_with_versions(3);
        key.settings.min_encryption_version = 2;

        let err = |v| {
            key.version_for(Purpose::Encryption, v)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(-1), "requested version for encryption is negative");
        assert_eq!(
            err(4),
            "requested version for encryption is higher than the latest key version"
        );
        assert_eq!(
            err(1),
            "requested version for encryption is less than the minimum encryption key version"
        );
    }

    #[test]
    fn decrypt_rejects_version_below_min_decryption_version() {
        let mut key = key_with_versions(3);
        key.settings.min_decryption_version = 2;

        assert_eq!(
            key.version_of(ValueKind::Ciphertext, 1).unwrap_err(),
            VersionError::TooOld
        );
        assert_eq!(key.version_of(ValueKind::Ciphertext, 2).unwrap().0, 2);
        assert_eq!(
            key.visible_versions().map(|(n, _)| n).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn version_zero_decrypts_with_version_one_but_is_too_old_for_signatures() {
        let key = key_with_versions(1);
        assert_eq!(key.version_of(ValueKind::Ciphertext, 0).unwrap().0, 1);
        assert_eq!(
            key.version_of(ValueKind::Signature, 0).unwrap_err(),
            VersionError::TooOld
        );
    }

    #[test]
    fn versions_above_latest_are_too_new() {
        let key = key_with_versions(1);
        let err = key.version_of(ValueKind::Signature, 99).unwrap_err();
        assert_eq!(err.to_string(), "invalid signature: version is too new");
    }
}
