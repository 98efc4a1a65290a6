//! Opening a data dir: storage, master key, keys and tokens, ready to serve.
//!
//! The same start-up runs for `serve`, `relationships` and `env`, so tokens and keys
//! exist whichever command runs first. Every declared key's type is checked against
//! storage before anything is created, so a refused config changes nothing.

use std::fs::{self, DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::token::{TokenError, TokenStore};
use crate::barrier::{self, Barrier, BarrierError, MasterKeySource};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::aead::{AeadAlgorithm, AeadKey};
use crate::keyring::{Keyring, KeyringError};
use crate::storage::Storage as _;
use crate::storage::memory::MemoryStorage;
use crate::storage::sqlite::SqliteStorage;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The data dir is missing, unreadable or unwritable.
    #[error("data_dir {path}: {problem}")]
    DataDir {
        /// The data dir.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// Master key or storage failure.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A key could not be loaded or created.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// A token could not be loaded or created.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Identity of this installation, shown by `sys/health` like Vault's cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Cluster name.
    pub name: String,
    /// Cluster id, a UUID.
    pub id: String,
}

/// Everything the HTTP layer and the commands need.
#[derive(Debug)]
pub struct Service {
    /// The validated configuration.
    pub config: Config,
    /// All named keys.
    pub keyring: Keyring,
    /// The endpoint tokens.
    pub tokens: TokenStore,
    /// The clock used for token expiry and key creation times.
    pub clock: Arc<dyn Clock>,
    /// The installation's identity.
    pub cluster: ClusterInfo,
    /// Where the master key came from.
    pub master_key_source: MasterKeySource,
    /// Permits for requests that compute for long (batches, RSA): one per core, so
    /// that they cannot multiply threads and memory; the others wait without holding
    /// a worker thread.
    pub heavy_work: tokio::sync::Semaphore,
    /// Lock held while serving, so that two servers never share a data dir.
    _lock: Option<File>,
}

/// Whether to take the data dir's server lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A server: only one may use a data dir at a time.
    Serve,
    /// A command that reads connection details; it may run beside a server.
    Inspect,
}

impl Service {
    /// Opens the data dir of `config` and makes sure every declared key and every
    /// endpoint token exists.
    ///
    /// # Errors
    /// [`StartupError`] naming what is wrong; nothing stored is changed on error
    /// other than creating what did not exist yet.
    pub fn open(config: Config, clock: Arc<dyn Clock>, mode: Mode) -> Result<Self, StartupError> {
        let (barrier, master_key_source, lock) = if config.in_memory {
            let key = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305)
                .map_err(|e| BarrierError::MasterKey(e.to_string()))?;
            let barrier = Barrier::open(Arc::new(MemoryStorage::default()), key)?;
            (barrier, MasterKeySource::Ephemeral, None)
        } else {
            open_data_dir(&config, mode)?
        };

        let keyring = Keyring::load(barrier.clone(), clock.clone())?;
        let declared = config.keys();
        for (name, key_type) in &declared {
            keyring.check_type(name, *key_type)?;
        }

        let (cluster, mut tokens) = match mode {
            Mode::Serve => {
                for (name, key_type) in &declared {
                    if keyring.ensure(name, *key_type)? {
                        tracing::info!(key = %name, key_type = %key_type, "created key");
                    }
                }
                let tokens = TokenStore::ensure(&barrier, &config.endpoints, clock.now())?;
                (cluster_info(&barrier)?, tokens)
            }
            Mode::Inspect => {
                let tokens = TokenStore::load(&barrier, &config.endpoints)?;
                (cluster_info(&barrier)?, tokens)
            }
        };
        if let Some(root) = &config.dev_root_token {
            tokens.add_root(root.clone(), clock.now());
        }

        Ok(Self {
            config,
            keyring,
            tokens,
            clock,
            cluster,
            master_key_source,
            heavy_work: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            ),
            _lock: lock,
        })
    }
}

/// Opens the SQLite database and the master key of the data dir.
fn open_data_dir(
    config: &Config,
    mode: Mode,
) -> Result<(Barrier, MasterKeySource, Option<File>), StartupError> {
    let data_dir = &config.data_dir;
    let lock = match mode {
        Mode::Serve => {
            prepare_data_dir(data_dir)?;
            Some(lock_data_dir(data_dir)?)
        }
        // Reading connection details never creates a data dir, a key or a token.
        Mode::Inspect => {
            if !data_dir
                .join(crate::storage::sqlite::DATABASE_FILE)
                .exists()
            {
                return Err(StartupError::DataDir {
                    path: data_dir.clone(),
                    problem: "holds no data yet: start the server once to create the keys \
                              and tokens"
                        .to_owned(),
                });
            }
            None
        }
    };

    let storage = SqliteStorage::open(data_dir).map_err(|e| StartupError::DataDir {
        path: data_dir.clone(),
        problem: e.to_string(),
    })?;
    // A new master key only for a new data dir: a missing key file beside sealed
    // records must not be replaced by one that cannot open them.
    let fresh = storage.list("").map_err(BarrierError::from)?.is_empty();
    let (master_key, source) = barrier::load_master_key(
        data_dir,
        config.master_key_file.as_deref(),
        fresh && mode == Mode::Serve,
    )?;
    let barrier = Barrier::open(Arc::new(storage), master_key)?;
    Ok((barrier, source, lock))
}

fn prepare_data_dir(path: &Path) -> Result<(), StartupError> {
    let fail = |problem: String| StartupError::DataDir {
        path: path.to_owned(),
        problem,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| fail(e.to_string()))?;
    fs::read_dir(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    Ok(())
}

/// Locks the data dir itself (not a file in it, which could be deleted while a
/// server runs), so that a second server on the same data dir refuses to start.
fn lock_data_dir(path: &Path) -> Result<File, StartupError> {
    let fail = |problem: String| StartupError::DataDir {
        path: path.to_owned(),
        problem,
    };
    let file = File::open(path).map_err(|e| fail(format!("cannot be opened: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(fail(
            "another vault-kms server is already using this data dir".to_owned(),
        )),
        Err(fs::TryLockError::Error(e)) => Err(fail(format!("cannot be locked: {e}"))),
    }
}

fn cluster_info(barrier: &Barrier) -> Result<ClusterInfo, StartupError> {
    const PATH: &str = "core/cluster";
    let corrupt = || {
        StartupError::Barrier(BarrierError::Unreadable {
            path: PATH.to_owned(),
        })
    };

    if let Some(bytes) = barrier.get(PATH)? {
        return serde_json::from_slice(&bytes).map_err(|_| corrupt());
    }
    let id = uuid::Uuid::new_v4();
    let fresh = ClusterInfo {
        name: format!("vault-cluster-{}", &id.simple().to_string()[..8]),
        id: id.to_string(),
    };
    let bytes = serde_json::to_vec(&fresh).map_err(|_| corrupt())?;
    if barrier.put_if_absent(PATH, &bytes)? {
        return Ok(fresh);
    }
    let bytes = barrier.get(PATH)?.ok_or_else(corrupt)?;
    serde_json::from_slice(&bytes).map_err(|_| corrupt())
}
