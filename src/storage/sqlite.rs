//! The embedded SQLite backend.
//!
//! One table of `(path, value)` rows in `vault-kms.db`. The database runs in WAL mode
//! with `synchronous=FULL`, so a committed write has reached the disk and a crash at
//! any moment leaves either the old or the new record, never a torn one. WAL mode
//! also lets the `relationships` and `env` commands read while a server is running.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Storage, StorageError};

/// File name of the database inside the data dir.
pub const DATABASE_FILE: &str = "vault-kms.db";

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite database used as a [`Storage`] backend.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database in `data_dir`.
    ///
    /// # Errors
    /// [`StorageError`] when the file cannot be opened or set up.
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(data_dir.join(DATABASE_FILE)).map_err(backend)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (
                 path  TEXT PRIMARY KEY NOT NULL,
                 value BLOB NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(backend)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        // A poisoned lock means a panic mid-call; SQLite's own transaction rolled
        // back, so the connection is still consistent and safe to reuse.
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(backend)
    }
}

impl Storage for SqliteStorage {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.with_conn(|c| {
            c.query_row("SELECT value FROM records WHERE path = ?1", [path], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    fn put(&self, path: &str, value: &[u8]) -> Result<(), StorageError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO records (path, value) VALUES (?1, ?2)
                 ON CONFLICT (path) DO UPDATE SET value = excluded.value",
                params![path, value],
            )
            .map(drop)
        })
    }

    fn put_if_absent(&self, path: &str, value: &[u8]) -> Result<bool, StorageError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO records (path, value) VALUES (?1, ?2)
                 ON CONFLICT (path) DO NOTHING",
                params![path, value],
            )
            .map(|changed| changed == 1)
        })
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.with_conn(|c| {
            c.execute("DELETE FROM records WHERE path = ?1", [path])
                .map(drop)
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT path FROM records WHERE substr(path, 1, length(?1)) = ?1 ORDER BY path",
            )?;
            let rows = stmt.query_map([prefix], |row| row.get(0))?;
            rows.collect()
        })
    }
}

fn backend(err: rusqlite::Error) -> StorageError {
    StorageError::Backend(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        storage.put("keys/a", b"one").unwrap();
        storage.put("keys/a", b"two").unwrap();
        storage.put("tokens/x", b"t").unwrap();
        drop(storage);

        let storage = SqliteStorage::open(dir.path()).unwrap();
        assert_eq!(storage.get("keys/a").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(storage.get("keys/missing").unwrap(), None);
        assert_eq!(storage.list("keys/").unwrap(), vec!["keys/a".to_owned()]);
    }

    #[test]
    fn put_if_absent_keeps_the_first_value() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();

        assert!(storage.put_if_absent("core/x", b"first").unwrap());
        assert!(!storage.put_if_absent("core/x", b"second").unwrap());
        assert_eq!(
            storage.get("core/x").unwrap().as_deref(),
            Some(&b"first"[..])
        );
    }

    #[test]
    fn list_treats_the_prefix_literally() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        storage.put("keys/a_b", b"1").unwrap();
        storage.put("keysXa", b"2").unwrap();
        storage.delete("keys/none").unwrap();

        assert_eq!(storage.list("keys/").unwrap(), vec!["keys/a_b".to_owned()]);
        storage.delete("keys/a_b").unwrap();
        assert!(storage.list("keys/").unwrap().is_empty());
    }
}
