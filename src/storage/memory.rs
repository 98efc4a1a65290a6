//! An in-memory backend for throwaway development servers: nothing survives the
//! process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Storage, StorageError};

/// Records held in a map, lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    records: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock leaves a whole map; keep using it.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemoryStorage {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.records().get(path).cloned())
    }

    fn put(&self, path: &str, value: &[u8]) -> Result<(), StorageError> {
        self.records().insert(path.to_owned(), value.to_vec());
        Ok(())
    }

    fn put_if_absent(&self, path: &str, value: &[u8]) -> Result<bool, StorageError> {
        let mut records = self.records();
        if records.contains_key(path) {
            return Ok(false);
        }
        records.insert(path.to_owned(), value.to_vec());
        Ok(true)
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.records().remove(path);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .records()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_storage_backend() {
        let storage = MemoryStorage::default();
        assert!(storage.put_if_absent("keys/a", b"1").unwrap());
        assert!(!storage.put_if_absent("keys/a", b"2").unwrap());
        storage.put("keys/b", b"3").unwrap();
        storage.put("other", b"4").unwrap();

        assert_eq!(storage.get("keys/a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(storage.list("keys/").unwrap(), vec!["keys/a", "keys/b"]);
        storage.delete("keys/a").unwrap();
        assert_eq!(storage.get("keys/a").unwrap(), None);
    }
}
