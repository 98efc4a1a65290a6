//! Durable storage of opaque records, behind a small trait.
//!
//! Records are addressed by `/`-separated paths (`keys/app-data`, `tokens/manage_keys`)
//! and hold bytes that the [`crate::barrier`] has already encrypted, so a backend
//! never sees key material or tokens in the clear. A backend's `put` returns only
//! once the record is durable.
//!
//! - [`sqlite`]: the embedded default, one SQLite database in the data dir.
//! - [`memory`]: a map in memory, for throwaway development servers.

pub mod memory;
pub mod sqlite;

/// A failure of the storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database reported an error.
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// A durable map from paths to bytes.
///
/// Calls block; async callers run writes on a blocking thread.
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// Reads a record.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Writes a record, replacing any previous value; durable when it returns.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails; then nothing was written.
    fn put(&self, path: &str, value: &[u8]) -> Result<(), StorageError>;

    /// Writes a record only when the path is free; true when it was written.
    ///
    /// Atomic across processes sharing the backend, so two processes that race to
    /// create the same record agree on one winner.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    fn put_if_absent(&self, path: &str, value: &[u8]) -> Result<bool, StorageError>;

    /// Removes a record; removing a missing record is not an error.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    fn delete(&self, path: &str) -> Result<(), StorageError>;

    /// The paths that start with `prefix`, sorted.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}
