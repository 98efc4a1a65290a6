//! The keyring: every named key, held in memory and persisted through the barrier.
//!
//! - [`backup`]: Vault's backup blob of a key.
//! - [`cipher`]: encryption and decryption with derivation, convergence and RSA.
//! - [`import`]: imported (BYOK) key material checked against the key type, and the
//!   wrapping key it arrives under.
//! - [`key`]: a named key's versions and the version rules of each operation.
//! - [`stored`]: the persisted form of a key.
//! - [`versioned`]: the `vault:vN:` strings that carry ciphertexts and signatures.
//!
//! Reads take a cheap snapshot (`Arc<NamedKey>`) and never touch storage. A change
//! (rotate, config) is serialized per key, written durably, and only then made
//! visible, so a 2xx answer for a change means it is on disk.

pub mod backup;
pub mod cipher;
pub mod import;
pub mod key;
pub mod stored;
pub mod versioned;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::barrier::{Barrier, BarrierError};
use crate::clock::Clock;
use crate::crypto::wrap::WrappingKey;
use crate::crypto::{CryptoError, KeyType};
pub use key::NamedKey;

/// A failure of a keyring operation.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No key has that name.
    #[error("key not found")]
    NotFound,
    /// A key exists with another type than the one asked for.
    #[error(
        "key \"{name}\" is stored as type {stored}, but the config declares {declared}; \
         a key's type cannot change"
    )]
    TypeMismatch {
        /// The key's name.
        name: String,
        /// Its stored type.
        stored: KeyType,
        /// The type asked for.
        declared: KeyType,
    },
    /// Storage failed or a record did not open.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A stored key could not be loaded.
    #[error("stored key \"{name}\" cannot be loaded: {source}")]
    Corrupt {
        /// The key's name.
        name: String,
        /// What was wrong.
        source: stored::DecodeError,
    },
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The key is soft-deleted and the change would use it.
    #[error(transparent)]
    SoftDeleted(#[from] key::SoftDeleted),
    /// A key of that name exists (a restore without `force`, or an import).
    #[error("key \"{0}\" already exists")]
    Exists(String),
    /// The blocking write task did not finish.
    #[error("storage write task failed")]
    WriteTask,
    /// An imported key whose import did not allow rotation (Vault's text).
    #[error("imported key {0} does not allow rotation within Vault")]
    RotationRefused(String),
}

/// What a key created over the API looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewKey {
    /// Its type.
    pub key_type: KeyType,
    /// Whether operations derive per-context keys.
    pub derived: bool,
    /// Whether encryption is convergent (requires `derived`).
    pub convergent: bool,
    /// Whether the key material may be exported.
    pub exportable: bool,
    /// Whether a plaintext backup may be taken.
    pub allow_plaintext_backup: bool,
    /// Seconds between automatic rotations; 0 turns them off.
    pub auto_rotate_period: u64,
    /// Bytes of key material of an `hmac` key.
    pub key_size: usize,
}

impl NewKey {
    /// A plain key of `key_type` with every option off.
    pub fn of(key_type: KeyType) -> Self {
        Self {
            key_type,
            derived: false,
            convergent: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
            key_size: 0,
        }
    }
}

/// How often a forced restore looks for the key again when a concurrent create or
/// delete of the same name changes it in between.
const RESTORE_ATTEMPTS: usize = 3;

/// One key's current snapshot and the lock that serializes its changes.
#[derive(Debug)]
struct Slot {
    current: RwLock<Arc<NamedKey>>,
    writer: tokio::sync::Mutex<()>,
    /// Set by a delete, under `writer`: a change that was waiting for `writer` must
    /// not write the deleted key back.
    removed: AtomicBool,
}

impl Slot {
    fn new(key: NamedKey) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
            writer: tokio::sync::Mutex::new(()),
            removed: AtomicBool::new(false),
        })
    }

    /// Whether a delete removed this key; read while holding `writer`.
    fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Arc<NamedKey> {
        // Writers only swap an `Arc`; a poisoned lock still holds a whole snapshot.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Settings of the whole transit mount (`config/keys`, `cache-config`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSettings {
    /// Whether encrypt refuses to create missing keys.
    pub disable_upsert: bool,
    /// The policy cache size Vault reports; vault-kms keeps every key in memory.
    pub cache_size: i64,
}

/// Size of `hmac` keys declared in the config file, which has no size field.
const DECLARED_HMAC_KEY_SIZE: usize = 32;

/// Storage path of the mount settings.
const MOUNT_SETTINGS_PATH: &str = "core/mount-settings";

/// All named keys of a data dir.
#[derive(Debug)]
pub struct Keyring {
    barrier: Barrier,
    clock: Arc<dyn Clock>,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    mount: tokio::sync::RwLock<MountSettings>,
    wrapping_key: tokio::sync::OnceCell<Arc<WrappingKey>>,
}

impl Keyring {
    /// Loads every stored key.
    ///
    /// # Errors
    /// [`KeyringError`] when storage fails or a stored key cannot be loaded.
    pub fn load(barrier: Barrier, clock: Arc<dyn Clock>) -> Result<Self, KeyringError> {
        let mut slots = HashMap::new();
        for path in barrier.list("keys/")? {
            let name = path.trim_start_matches("keys/").to_owned();
            let key = Self::read(&barrier, &name)?.ok_or(KeyringError::NotFound)?;
            slots.insert(name, Slot::new(key));
        }
        let mount = match barrier.get(MOUNT_SETTINGS_PATH)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
                KeyringError::Barrier(BarrierError::Unreadable {
                    path: MOUNT_SETTINGS_PATH.to_owned(),
                })
            })?,
            None => MountSettings::default(),
        };
        Ok(Self {
            barrier,
            clock,
            slots: RwLock::new(slots),
            mount: tokio::sync::RwLock::new(mount),
            wrapping_key: tokio::sync::OnceCell::new(),
        })
    }

    /// The mount settings.
    pub async fn mount_settings(&self) -> MountSettings {
        *self.mount.read().await
    }

    /// Changes the mount settings, durably.
    ///
    /// # Errors
    /// [`KeyringError`] when storage fails; the settings are then unchanged.
    pub async fn update_mount_settings(
        &self,
        change: impl FnOnce(&mut MountSettings),
    ) -> Result<MountSettings, KeyringError> {
        let mut current = self.mount.write().await;
        let mut next = *current;
        change(&mut next);
        let bytes = serde_json::to_vec(&next).map_err(|_| KeyringError::WriteTask)?;
        let barrier = self.barrier.clone();
        tokio::task::spawn_blocking(move || barrier.put(MOUNT_SETTINGS_PATH, &bytes))
            .await
            .map_err(|_| KeyringError::WriteTask)??;
        *current = next;
        Ok(next)
    }

    fn read(barrier: &Barrier, name: &str) -> Result<Option<NamedKey>, KeyringError> {
        let Some(bytes) = barrier.get(&stored::path(name))? else {
            return Ok(None);
        };
        let key = stored::decode(&bytes).map_err(|source| KeyringError::Corrupt {
            name: name.to_owned(),
            source,
        })?;
        Ok(Some(key))
    }

    /// The current snapshot of a key.
    pub fn get(&self, name: &str) -> Option<Arc<NamedKey>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(name).map(|slot| slot.snapshot())
    }

    /// Fails if `name` exists with a type other than `key_type`; touches nothing.
    ///
    /// # Errors
    /// [`KeyringError::TypeMismatch`] naming the key and both types.
    pub fn check_type(&self, name: &str, key_type: KeyType) -> Result<(), KeyringError> {
        match self.get(name) {
            Some(key) if key.key_type != key_type => Err(KeyringError::TypeMismatch {
                name: name.to_owned(),
                stored: key.key_type,
                declared: key_type,
            }),
            _ => Ok(()),
        }
    }

    /// Makes sure a key named `name` of `key_type` exists, creating version 1 if it
    /// does not. Returns true when this call created it. Blocks on storage.
    ///
    /// # Errors
    /// [`KeyringError`] on a type mismatch, a generation or a storage failure.
    pub fn ensure(&self, name: &str, key_type: KeyType) -> Result<bool, KeyringError> {
        self.check_type(name, key_type)?;
        if self.get(name).is_some() {
            return Ok(false);
        }

        // A config names no size; hmac keys declared there get 32 bytes.
        let size = if key_type == KeyType::Hmac {
            DECLARED_HMAC_KEY_SIZE
        } else {
            0
        };
        let key = NamedKey::generate_sized(name, key_type, size, self.clock.now())?;
        let encoded = stored::encode(&key).map_err(|_| KeyringError::WriteTask)?;
        let created = self.barrier.put_if_absent(&stored::path(name), &encoded)?;

        // Another process may have created the key between our check and write;
        // its key is the one on disk, so load that one.
        let key = if created {
            key
        } else {
            Self::read(&self.barrier, name)?.ok_or(KeyringError::NotFound)?
        };
        self.check_type_of(&key, key_type)?;
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(name.to_owned())
            .or_insert_with(|| Slot::new(key));
        Ok(created)
    }

    fn check_type_of(&self, key: &NamedKey, key_type: KeyType) -> Result<(), KeyringError> {
        if key.key_type == key_type {
            return Ok(());
        }
        Err(KeyringError::TypeMismatch {
            name: key.name.clone(),
            stored: key.key_type,
            declared: key_type,
        })
    }

    /// Creates a key unless one of that name exists; returns the key and whether this
    /// call created it. Generation (slow for RSA) and the write run on a blocking
    /// thread; the key is on disk before it is visible.
    ///
    /// # Errors
    /// [`KeyringError`] when generation or storage fails.
    pub async fn create(
        &self,
        name: &str,
        new: NewKey,
    ) -> Result<(Arc<NamedKey>, bool), KeyringError> {
        if let Some(existing) = self.get(name) {
            return Ok((existing, false));
        }

        let barrier = self.barrier.clone();
        let now = self.clock.now();
        let owned_name = name.to_owned();
        let (key, created) = tokio::task::spawn_blocking(move || {
            let mut key = NamedKey::generate_sized(&owned_name, new.key_type, new.key_size, now)?;
            key.derived = new.derived;
            key.convergent = new.convergent;
            key.settings.exportable = new.exportable;
            key.settings.allow_plaintext_backup = new.allow_plaintext_backup;
            key.settings.auto_rotate_period = new.auto_rotate_period;
            let encoded = stored::encode(&key).map_err(|_| KeyringError::WriteTask)?;
            if barrier.put_if_absent(&stored::path(&owned_name), &encoded)? {
                return Ok((key, true));
            }
            let stored = Self::read(&barrier, &owned_name)?.ok_or(KeyringError::NotFound)?;
            Ok::<_, KeyringError>((stored, false))
        })
        .await
        .map_err(|_| KeyringError::WriteTask)??;

        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .entry(name.to_owned())
            .or_insert_with(|| Slot::new(key));
        Ok((slot.snapshot(), created))
    }

    /// Removes a key and all its versions, durably. The caller checks that deletion
    /// is allowed.
    ///
    /// # Errors
    /// [`KeyringError::NotFound`] for a missing key, or a storage failure.
    pub async fn delete(&self, name: &str) -> Result<(), KeyringError> {
        let slot = {
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            slots.get(name).cloned().ok_or(KeyringError::NotFound)?
        };
        let _writer = slot.writer.lock().await;
        if slot.is_removed() {
            return Err(KeyringError::NotFound);
        }

        let barrier = self.barrier.clone();
        let path = stored::path(name);
        tokio::task::spawn_blocking(move || barrier.delete(&path))
            .await
            .map_err(|_| KeyringError::WriteTask)??;
        slot.removed.store(true, Ordering::Release);
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(())
    }

    /// Stores `key` (a restored backup) under its name, durably, before it is
    /// visible. An existing key of that name is replaced only when `force` is set.
    ///
    /// # Errors
    /// [`KeyringError::Exists`] for a taken name without `force`, or a storage failure.
    pub async fn restore(&self, key: NamedKey, force: bool) -> Result<(), KeyringError> {
        let name = key.name.clone();
        let encoded = stored::encode(&key).map_err(|_| KeyringError::WriteTask)?;
        let key = Arc::new(key);
        let path = stored::path(&name);

        // A forced restore races creates and deletes of the same name: it replaces
        // the key it finds, or writes a new one if there is none; when another
        // request wins the gap between those two, it looks again.
        for _ in 0..RESTORE_ATTEMPTS {
            let existing = {
                let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
                slots.get(&name).cloned()
            };
            if let Some(slot) = existing {
                if !force {
                    return Err(KeyringError::Exists(name));
                }
                let _writer = slot.writer.lock().await;
                if slot.is_removed() {
                    continue;
                }
                let (barrier, path, encoded) =
                    (self.barrier.clone(), path.clone(), encoded.clone());
                tokio::task::spawn_blocking(move || barrier.put(&path, &encoded))
                    .await
                    .map_err(|_| KeyringError::WriteTask)??;
                *slot.current.write().unwrap_or_else(|e| e.into_inner()) = key;
                return Ok(());
            }

            let (barrier, path, encoded) = (self.barrier.clone(), path.clone(), encoded.clone());
            let written =
                tokio::task::spawn_blocking(move || barrier.put_if_absent(&path, &encoded))
                    .await
                    .map_err(|_| KeyringError::WriteTask)??;
            if written {
                let slot = Arc::new(Slot {
                    current: RwLock::new(key),
                    writer: tokio::sync::Mutex::new(()),
                    removed: AtomicBool::new(false),
                });
                self.slots
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name, slot);
                return Ok(());
            }
            // A concurrent create or restore took the name first.
            if !force {
                return Err(KeyringError::Exists(name));
            }
        }
        Err(KeyringError::Exists(name))
    }

    /// Every key name, sorted.
    pub fn names(&self) -> Vec<String> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = slots.keys().cloned().collect();
        names.sort();
        names
    }

    /// Applies `change` to a key and persists the result before it becomes visible.
    ///
    /// Changes to one key run one at a time. If `change` fails, or the write fails,
    /// the key is left exactly as it was.
    ///
    /// # Errors
    /// The error of `change`, or a [`KeyringError`] converted into `E`.
    pub async fn update<E>(
        &self,
        name: &str,
        change: impl FnOnce(&NamedKey) -> Result<NamedKey, E>,
    ) -> Result<Arc<NamedKey>, E>
    where
        E: From<KeyringError>,
    {
        let slot = {
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            slots.get(name).cloned().ok_or(KeyringError::NotFound)?
        };
        let _writer = slot.writer.lock().await;
        if slot.is_removed() {
            return Err(KeyringError::NotFound.into());
        }

        let next = Arc::new(change(&slot.snapshot())?);
        let encoded = stored::encode(&next).map_err(|_| KeyringError::WriteTask)?;
        let barrier = self.barrier.clone();
        let path = stored::path(name);
        tokio::task::spawn_blocking(move || barrier.put(&path, &encoded))
            .await
            .map_err(|_| KeyringError::WriteTask)?
            .map_err(KeyringError::from)?;

        *slot.current.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
        Ok(next)
    }

    /// Rotates every key whose automatic rotation is due at the clock's time and
    /// returns their names. A failure is logged and left for the next pass.
    pub async fn rotate_due_keys(&self) -> Vec<String> {
        let now = self.clock.now();
        let due: Vec<String> = self
            .names()
            .into_iter()
            .filter(|name| self.get(name).is_some_and(|k| k.rotation_due(now)))
            .collect();

        let mut rotated = Vec::with_capacity(due.len());
        for name in due {
            // Checked again under the key's write lock, so that a concurrent manual
            // rotation does not lead to a second one.
            let result = self
                .update(&name, |key| {
                    // `rotation_due` is false for keys that refuse rotation.
                    if key.rotation_due(now) {
                        Ok(key.rotated(now)?)
                    } else {
                        Ok(key.clone())
                    }
                })
                .await;
            match result {
                Ok(_) => rotated.push(name),
                Err(err @ KeyringError::Crypto(_) | err @ KeyringError::Barrier(_)) => {
                    tracing::error!(key = %name, cause = %err, "automatic rotation failed");
                }
                Err(_) => {}
            }
        }
        rotated
    }

    /// Adds a new latest version to a key, durably.
    ///
    /// # Errors
    /// [`KeyringError`] when the key is missing or soft-deleted, is imported without
    /// allowing rotation, or generation or storage fails.
    pub async fn rotate(&self, name: &str) -> Result<Arc<NamedKey>, KeyringError> {
        let now = self.clock.now();
        self.update(name, |key| {
            key.usable()?;
            if key.rotation_refused() {
                return Err(KeyringError::RotationRefused(key.name.clone()));
            }
            Ok(key.rotated(now)?)
        })
        .await
    }

    /// Stores a new key built elsewhere (an import); it is on disk before it is
    /// visible.
    ///
    /// # Errors
    /// [`KeyringError::Exists`] when a key of that name exists, or a storage failure.
    pub async fn insert(&self, key: NamedKey) -> Result<Arc<NamedKey>, KeyringError> {
        if self.get(&key.name).is_some() {
            return Err(KeyringError::Exists(key.name.clone()));
        }
        let barrier = self.barrier.clone();
        let encoded = stored::encode(&key).map_err(|_| KeyringError::WriteTask)?;
        let path = stored::path(&key.name);
        let created = tokio::task::spawn_blocking(move || barrier.put_if_absent(&path, &encoded))
            .await
            .map_err(|_| KeyringError::WriteTask)??;
        if !created {
            return Err(KeyringError::Exists(key.name.clone()));
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .entry(key.name.clone())
            .or_insert_with(|| Slot::new(key));
        Ok(slot.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::crypto::aead::{AeadAlgorithm, AeadKey};
    use crate::storage::sqlite::SqliteStorage;

    fn open(dir: &std::path::Path, master: &AeadKey) -> Keyring {
        let storage = Arc::new(SqliteStorage::open(dir).unwrap());
        let master = AeadKey::chacha20(master.raw().clone()).unwrap();
        let barrier = Barrier::open(storage, master).unwrap();
        Keyring::load(barrier, Arc::new(SystemClock)).unwrap()
    }

    #[tokio::test]
    async fn rotations_persist_across_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let ring = open(dir.path(), &master);

        assert!(ring.ensure("app", KeyType::Chacha20Poly1305).unwrap());
        assert!(!ring.ensure("app", KeyType::Chacha20Poly1305).unwrap());
        ring.rotate("app").await.unwrap();
        drop(ring);

        let ring = open(dir.path(), &master);
        assert_eq!(ring.get("app").unwrap().latest_version(), 2);
    }

    #[tokio::test]
    async fn trimmed_versions_are_gone_from_storage() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let ring = open(dir.path(), &master);
        ring.ensure("app", KeyType::Chacha20Poly1305).unwrap();
        ring.rotate("app").await.unwrap();
        ring.rotate("app").await.unwrap();
        ring.update("app", |key| Ok::<_, KeyringError>(key.trimmed(3)))
            .await
            .unwrap();
        drop(ring);

        let ring = open(dir.path(), &master);
        let key = ring.get("app").unwrap();
        assert_eq!(key.versions.keys().copied().collect::<Vec<_>>(), [3]);
        assert_eq!(key.lifecycle.min_available_version, 3);
    }

    #[tokio::test]
    async fn declared_hmac_keys_get_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let ring = open(dir.path(), &master);

        assert!(ring.ensure("mac", KeyType::Hmac).unwrap());
        assert_eq!(ring.get("mac").unwrap().key_size, 32);
        ring.rotate("mac").await.unwrap();
        assert_eq!(ring.get("mac").unwrap().versions[&2].hmac_key.len(), 32);
    }

    #[tokio::test]
    async fn a_declared_type_that_differs_from_the_stored_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let ring = open(dir.path(), &master);
        ring.ensure("k", KeyType::EcdsaP256).unwrap();

        let err = ring
            .ensure("k", KeyType::Chacha20Poly1305)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"k\" is stored as type ecdsa-p256"), "{err}");
        assert_eq!(ring.get("k").unwrap().key_type, KeyType::EcdsaP256);
    }

    #[tokio::test]
    async fn a_failed_change_leaves_the_key_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let ring = open(dir.path(), &master);
        ring.ensure("k", KeyType::Chacha20Poly1305).unwrap();

        let result: Result<_, KeyringError> =
            ring.update("k", |_| Err(KeyringError::NotFound)).await;
        assert!(result.is_err());
        assert_eq!(ring.get("k").unwrap().latest_version(), 1);
        assert!(matches!(
            ring.rotate("missing").await,
            Err(KeyringError::NotFound)
        ));
    }
}
