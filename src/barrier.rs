//! The encryption barrier between the service and its storage.
//!
//! Every record is sealed with ChaCha20-Poly1305 under the master key before it
//! reaches the [`Storage`] backend, with the record's path as associated data, so
//! the database alone reveals nothing and a record copied to another path does not
//! open. The master key comes from `VAULT_KMS_MASTER_KEY`, from a configured file, or
//! is generated on first start into `master.key` in the data dir (mode 0600).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::crypto::aead::AeadKey;
use crate::secret::SecretBytes;
use crate::storage::{Storage, StorageError};

/// Environment variable that supplies the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "VAULT_KMS_MASTER_KEY";

/// File name of the generated master key inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Master key length: 256 bits.
const MASTER_KEY_LEN: usize = 32;

/// Leading byte of every sealed record, so the layout can change later.
const FORMAT_V1: u8 = 1;

/// Path of the record that proves the master key matches the database.
const CANARY_PATH: &str = "core/barrier-check";
const CANARY_VALUE: &[u8] = b"vault-kms barrier v1";

/// A failure to reach or open sealed records.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A record did not open with the master key: wrong key, or a damaged record.
    #[error("record {path} cannot be decrypted with this master key")]
    Unreadable {
        /// Path of the record.
        path: String,
    },
    /// The master key could not be loaded or created.
    #[error("master key: {0}")]
    MasterKey(String),
}

/// Seals and opens records on their way to and from storage.
#[derive(Debug, Clone)]
pub struct Barrier {
    storage: Arc<dyn Storage>,
    key: Arc<AeadKey>,
}

impl Barrier {
    /// Puts a barrier with `master_key` in front of `storage`, and checks that the
    /// key matches what the storage already holds.
    ///
    /// # Errors
    /// [`BarrierError::Unreadable`] when the storage was sealed with another key.
    pub fn open(storage: Arc<dyn Storage>, master_key: AeadKey) -> Result<Self, BarrierError> {
        let barrier = Self {
            storage,
            key: Arc::new(master_key),
        };
        match barrier.get(CANARY_PATH) {
            Ok(Some(value)) if value.as_slice() == CANARY_VALUE => Ok(barrier),
            Ok(Some(_)) | Err(BarrierError::Unreadable { .. }) => Err(BarrierError::MasterKey(
                "it does not open the records in this data dir (is it the key this data \
                 dir was created with?)"
                    .to_owned(),
            )),
            Ok(None) => {
                barrier.put_if_absent(CANARY_PATH, CANARY_VALUE)?;
                Ok(barrier)
            }
            Err(err) => Err(err),
        }
    }

    /// Reads and opens a record.
    ///
    /// # Errors
    /// [`BarrierError`] when the backend fails or the record does not open.
    pub fn get(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>, BarrierError> {
        let Some(sealed) = self.storage.get(path)? else {
            return Ok(None);
        };
        let unreadable = || BarrierError::Unreadable {
            path: path.to_owned(),
        };
        let Some((&FORMAT_V1, payload)) = sealed.split_first() else {
            return Err(unreadable());
        };
        let plaintext = self
            .key
            .open(payload, path.as_bytes())
            .map_err(|_| unreadable())?;
        Ok(Some(plaintext))
    }

    /// Seals and writes a record; durable when it returns.
    ///
    /// # Errors
    /// [`BarrierError`] when sealing or the backend fails.
    pub fn put(&self, path: &str, plaintext: &[u8]) -> Result<(), BarrierError> {
        let sealed = self.seal(path, plaintext)?;
        Ok(self.storage.put(path, &sealed)?)
    }

    /// Seals and writes a record only if the path is free; true when written.
    ///
    /// # Errors
    /// [`BarrierError`] when sealing or the backend fails.
    pub fn put_if_absent(&self, path: &str, plaintext: &[u8]) -> Result<bool, BarrierError> {
        let sealed = self.seal(path, plaintext)?;
        Ok(self.storage.put_if_absent(path, &sealed)?)
    }

    /// Removes a record.
    ///
    /// # Errors
    /// [`BarrierError::Storage`] when the backend fails.
    pub fn delete(&self, path: &str) -> Result<(), BarrierError> {
        Ok(self.storage.delete(path)?)
    }

    /// The record paths under `prefix`.
    ///
    /// # Errors
    /// [`BarrierError::Storage`] when the backend fails.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        Ok(self.storage.list(prefix)?)
    }

    fn seal(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let payload = self
            .key
            .seal(plaintext, path.as_bytes())
            .map_err(|_| BarrierError::MasterKey("sealing a record failed".to_owned()))?;
        let mut sealed = Vec::with_capacity(1 + payload.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&payload);
        Ok(sealed)
    }
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// The `VAULT_KMS_MASTER_KEY` environment variable.
    Environment,
    /// A file named in the config.
    File(PathBuf),
    /// The data dir's `master.key`, read or created now.
    DataDir(PathBuf),
    /// A random key for an in-memory server, gone with the process.
    Ephemeral,
}

/// Loads the master key: from the environment, else the configured file, else the
/// data dir's `master.key`, which is generated on first use.
///
/// # Errors
/// [`BarrierError::MasterKey`] when the key is malformed or cannot be read or written.
pub fn load_master_key(
    data_dir: &Path,
    key_file: Option<&Path>,
    may_create: bool,
) -> Result<(AeadKey, MasterKeySource), BarrierError> {
    if let Ok(value) = std::env::var(MASTER_KEY_ENV) {
        if value.trim().is_empty() {
            return Err(BarrierError::MasterKey(format!(
                "{MASTER_KEY_ENV} is set but empty; unset it to use the key file"
            )));
        }
        let key = parse_master_key(&Zeroizing::new(value))
            .map_err(|why| BarrierError::MasterKey(format!("{MASTER_KEY_ENV}: {why}")))?;
        return Ok((key, MasterKeySource::Environment));
    }

    if let Some(path) = key_file {
        warn_if_shared(path);
        let key = read_key_file(path)?;
        return Ok((key, MasterKeySource::File(path.to_owned())));
    }

    let path = data_dir.join(MASTER_KEY_FILE);
    if !path.exists() {
        if !may_create {
            return Err(BarrierError::MasterKey(format!(
                "{} is missing, and the data dir already holds records sealed with a master \
                 key: restore that key file (or set {MASTER_KEY_ENV}); a new key would not \
                 open them",
                path.display()
            )));
        }
        create_key_file(&path)?;
    }
    warn_if_shared(&path);
    let key = read_key_file(&path)?;
    Ok((key, MasterKeySource::DataDir(path)))
}

fn parse_master_key(text: &str) -> Result<AeadKey, String> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| "not valid base64".to_owned())?,
    );
    if bytes.len() != MASTER_KEY_LEN {
        return Err(format!("must be {MASTER_KEY_LEN} bytes, base64-encoded"));
    }
    AeadKey::chacha20(SecretBytes::new(bytes.to_vec())).map_err(|e| e.to_string())
}

fn read_key_file(path: &Path) -> Result<AeadKey, BarrierError> {
    let fail = |why: String| BarrierError::MasterKey(format!("{}: {why}", path.display()));
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
    parse_master_key(&text).map_err(fail)
}

/// Writes a new random key to `path` without ever exposing a partial file: the key
/// goes to a private temporary file that is synced and then hard-linked into place,
/// which fails if another process created the key first (that key then wins).
fn create_key_file(path: &Path) -> Result<(), BarrierError> {
    let fail = |e: io::Error| BarrierError::MasterKey(format!("{}: {e}", path.display()));
    let key =
        SecretBytes::random(MASTER_KEY_LEN).map_err(|e| fail(io::Error::other(e.to_string())))?;
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(key.expose())));

    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&tmp);
    linked.map_err(fail)?;

    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    }
    Ok(())
}

fn warn_if_shared(path: &Path) {
    if is_shared(path) {
        tracing::warn!(
            path = %path.display(),
            "the master key file can be read by other users; restrict it to mode 0600"
        );
    }
}

/// True when a key file can be read by users other than its owner.
pub fn is_shared(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aead::AeadAlgorithm;
    use crate::storage::sqlite::SqliteStorage;

    fn storage(dir: &Path) -> Arc<dyn Storage> {
        Arc::new(SqliteStorage::open(dir).unwrap())
    }

    #[test]
    fn generated_master_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = load_master_key(dir.path(), None, true).unwrap();
        let (second, _) = load_master_key(dir.path(), None, true).unwrap();

        let path = dir.path().join(MASTER_KEY_FILE);
        assert_eq!(source, MasterKeySource::DataDir(path.clone()));
        assert_eq!(first.raw(), second.raw());
        assert!(!is_shared(&path));
    }

    #[test]
    fn records_are_sealed_in_storage_and_bound_to_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let backend = storage(dir.path());
        let barrier = Barrier::open(
            backend.clone(),
            AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap(),
        )
        .unwrap();

        barrier.put("keys/a", b"top secret material").unwrap();
        let raw = backend.get("keys/a").unwrap().unwrap();
        assert!(!raw.windows(6).any(|w| w == b"secret"));

        backend.put("keys/b", &raw).unwrap();
        assert!(matches!(
            barrier.get("keys/b"),
            Err(BarrierError::Unreadable { .. })
        ));
        assert_eq!(
            barrier.get("keys/a").unwrap().unwrap().as_slice(),
            b"top secret material"
        );
    }

    #[test]
    fn a_different_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Barrier::open(
            storage(dir.path()),
            AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap(),
        )
        .unwrap();

        let err = Barrier::open(
            storage(dir.path()),
            AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, BarrierError::MasterKey(_)));
    }

    #[test]
    fn malformed_key_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, "c2hvcnQ=\n").unwrap();

        let err = load_master_key(dir.path(), Some(&path), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be 32 bytes"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
