//! The YAML configuration file and its validation.
//!
//! The `endpoints` block has the shape of the managed service's `configuration:`
//! block: each endpoint id maps to a list of `{policy, key, type}` entries. Every
//! problem is reported with the field it was found in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::policy::PolicyKind;
use crate::crypto::KeyType;
use crate::keyring::versioned::Prefix;
use crate::secret::SecretString;

/// The config file used when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/vault-kms.yaml";

/// Default listen address, Vault's port on loopback.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8200";

/// Default seconds a client may take to send its headers, and again its body.
pub const DEFAULT_READ_TIMEOUT_SECS: u64 = 30;

/// Default request body limit: 32 MiB, OpenBao's listener default.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// A config file that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with its location.
        message: String,
    },
    /// A field holds a value that cannot work.
    #[error("{path}: {field}: {problem}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Where in the file, e.g. `endpoints.manage_keys[1].policy`.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Where the HTTP listener binds.
    pub listen: SocketAddr,
    /// Directory holding the database and the generated master key.
    pub data_dir: PathBuf,
    /// Host name that apps use to reach the service, if the config sets one; see
    /// [`Config::advertise_host`].
    pub advertise_host: Option<String>,
    /// Prefix of ciphertexts and signatures (`vault` writes `vault:v1:...`).
    pub prefix: Prefix,
    /// File holding the master key, if not the data dir's `master.key`.
    pub master_key_file: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    pub max_request_size: usize,
    /// How long a client may take to send a request's headers, and again its body.
    pub read_timeout: std::time::Duration,
    /// The endpoints, sorted by id.
    pub endpoints: Vec<Endpoint>,
    /// Development mode's root token, if enabled: every capability, never stored.
    pub dev_root_token: Option<SecretString>,
    /// Keep everything in memory: nothing survives the process (development only).
    pub in_memory: bool,
}

/// One endpoint: an id, one token, and the rights its entries grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint id (the relationship's `rel`).
    pub id: String,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// One `{policy, key, type}` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The policy granted.
    pub policy: PolicyKind,
    /// The key it applies to.
    pub key: String,
    /// The key's type.
    pub key_type: KeyType,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    advertise_host: Option<String>,
    prefix: Option<String>,
    master_key_file: Option<PathBuf>,
    max_request_size: Option<usize>,
    read_timeout: Option<u64>,
    dev_root_token: Option<String>,
    #[serde(default)]
    in_memory: bool,
    #[serde(default)]
    endpoints: BTreeMap<String, Vec<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    policy: String,
    key: String,
    #[serde(rename = "type")]
    key_type: String,
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field and the problem.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Validates config text; `path` is used in messages.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field and the problem.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |field: &str, problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            problem,
        };

        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{listen_text:?} is not an address like 127.0.0.1:8200"),
            )
        })?;

        let prefix = raw.prefix.as_deref().unwrap_or("vault");
        if !is_identifier(prefix) {
            return Err(invalid(
                "prefix",
                format!("{prefix:?} must be letters, digits, '-' or '_'"),
            ));
        }

        let max_request_size = raw.max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE);
        if max_request_size == 0 {
            return Err(invalid(
                "max_request_size",
                "must be at least 1 byte".to_owned(),
            ));
        }

        let read_timeout = raw.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT_SECS);
        if read_timeout == 0 {
            return Err(invalid(
                "read_timeout",
                "must be at least 1 second".to_owned(),
            ));
        }
        if raw.dev_root_token.as_deref() == Some("") {
            return Err(invalid("dev_root_token", "must not be empty".to_owned()));
        }
        let endpoints = validate_endpoints(&raw.endpoints, &invalid)?;
        if let Some(host) = &raw.advertise_host {
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c));
            if !host_ok || host.contains("://") {
                return Err(invalid(
                    "advertise_host",
                    format!("{host:?} must be a host name or IP address, without a scheme"),
                ));
            }
        }
        let advertise_host = raw.advertise_host;

        Ok(Self {
            path: path.to_owned(),
            listen,
            data_dir: raw.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            advertise_host,
            prefix: Prefix::new(prefix),
            master_key_file: raw.master_key_file,
            max_request_size,
            read_timeout: std::time::Duration::from_secs(read_timeout),
            endpoints,
            dev_root_token: raw.dev_root_token.map(SecretString::new),
            in_memory: raw.in_memory,
        })
    }

    /// Every declared key with its type, sorted by name.
    pub fn keys(&self) -> BTreeMap<&str, KeyType> {
        self.endpoints
            .iter()
            .flat_map(|e| &e.entries)
            .map(|entry| (entry.key.as_str(), entry.key_type))
            .collect()
    }

    /// The host name apps use to reach the service: `advertise_host`, else derived
    /// from the listen address.
    pub fn advertise_host(&self) -> String {
        self.advertise_host
            .clone()
            .unwrap_or_else(|| default_advertise_host(self.listen))
    }

    /// Checks what only a server needs: endpoints to serve, unless a development
    /// root token makes them optional.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a server with nothing to serve.
    pub fn check_servable(&self) -> Result<(), ConfigError> {
        if self.endpoints.is_empty() && self.dev_root_token.is_none() {
            return Err(ConfigError::Invalid {
                path: self.path.clone(),
                field: "endpoints".to_owned(),
                problem: "declare at least one endpoint (or run with --dev)".to_owned(),
            });
        }
        Ok(())
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }
}

fn validate_endpoints(
    raw: &BTreeMap<String, Vec<RawEntry>>,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Vec<Endpoint>, ConfigError> {
    // Where each key's type was first declared, to report conflicts.
    let mut key_types: BTreeMap<&str, (KeyType, String)> = BTreeMap::new();
    let mut endpoints = Vec::with_capacity(raw.len());

    for (id, raw_entries) in raw {
        let at = format!("endpoints.{id}");
        if !is_identifier(id) {
            return Err(invalid(
                &at,
                "an endpoint id must be letters, digits, '-' or '_'".into(),
            ));
        }
        if raw_entries.is_empty() {
            return Err(invalid(
                &at,
                "an endpoint needs at least one entry".to_owned(),
            ));
        }

        let mut entries = Vec::with_capacity(raw_entries.len());
        for (i, entry) in raw_entries.iter().enumerate() {
            let at = format!("endpoints.{id}[{i}]");
            let policy = PolicyKind::from_name(&entry.policy).ok_or_else(|| {
                invalid(
                    &format!("{at}.policy"),
                    format!(
                        "unknown policy {:?}; expected one of {}",
                        entry.policy,
                        PolicyKind::NAMES.join(", ")
                    ),
                )
            })?;
            let key_type = parse_key_type(&entry.key_type).ok_or_else(|| {
                invalid(
                    &format!("{at}.type"),
                    format!(
                        "unknown type {:?}; expected sign, encrypt, ecdsa-p256 or chacha20-poly1305",
                        entry.key_type
                    ),
                )
            })?;
            if !is_key_name(&entry.key) {
                return Err(invalid(
                    &format!("{at}.key"),
                    format!(
                        "{:?} is not a valid key name (letters, digits and '_', with '-' or '.' \
                         allowed inside)",
                        entry.key
                    ),
                ));
            }
            if let Some((first, first_at)) = key_types.get(entry.key.as_str()) {
                if *first != key_type {
                    return Err(invalid(
                        &format!("{at}.type"),
                        format!(
                            "key {:?} is given two types: {} here and {} at {first_at}",
                            entry.key, key_type, first
                        ),
                    ));
                }
            } else {
                key_types.insert(&entry.key, (key_type, at.clone()));
            }
            if !policy.fits(key_type) {
                return Err(invalid(
                    &format!("{at}.policy"),
                    format!(
                        "policy {} cannot be used with a key of type {key_type}",
                        policy.name()
                    ),
                ));
            }
            entries.push(Entry {
                policy,
                key: entry.key.clone(),
                key_type,
            });
        }
        endpoints.push(Endpoint {
            id: id.clone(),
            entries,
        });
    }
    Ok(endpoints)
}

/// The service's type names (`sign`, `encrypt`) and the Vault names they stand for.
fn parse_key_type(name: &str) -> Option<KeyType> {
    match name {
        "sign" => Some(KeyType::EcdsaP256),
        "encrypt" => Some(KeyType::Chacha20Poly1305),
        other => KeyType::from_vault_name(other),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Vault's key-name rule: `^\w(([\w\-.]+)?\w)?$` with ASCII word characters.
pub fn is_key_name(name: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = name.as_bytes();
    match bytes {
        [] => false,
        [only] => word(*only),
        [first, middle @ .., last] => {
            word(*first) && word(*last) && middle.iter().all(|&b| word(b) || b == b'-' || b == b'.')
        }
    }
}

/// The listen IP, bracketed when it is IPv6 so that `host:port` stays a valid URL
/// authority; `localhost` for the unspecified address.
fn default_advertise_host(listen: SocketAddr) -> String {
    match listen.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "
listen: 127.0.0.1:8200
data_dir: ./data
endpoints:
  manage_keys:
    - policy: admin
      key: vault-sign
      type: sign
    - policy: sign
      key: vault-sign
      type: sign
  app_encryption:
    - policy: encrypt
      key: app-data
      type: encrypt
";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.yaml"), text)
    }

    fn problem(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_service_example_parses() {
        let config = parse(EXAMPLE).unwrap();

        assert_eq!(config.listen, "127.0.0.1:8200".parse().unwrap());
        assert_eq!(config.endpoints.len(), 2);
        assert_eq!(config.keys().get("vault-sign"), Some(&KeyType::EcdsaP256));
        assert_eq!(
            config.keys().get("app-data"),
            Some(&KeyType::Chacha20Poly1305)
        );
        assert_eq!(
            config.endpoint("manage_keys").unwrap().entries[0].policy,
            PolicyKind::Admin
        );
    }

    #[test]
    fn unknown_policy_is_refused_naming_the_field() {
        let err = problem(&EXAMPLE.replace("policy: admin", "policy: owner"));
        assert!(
            err.contains("endpoints.manage_keys[0].policy: unknown policy \"owner\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_type_is_refused_naming_the_field() {
        let err = problem(&EXAMPLE.replace("type: encrypt", "type: scramble"));
        assert!(
            err.contains("endpoints.app_encryption[0].type: unknown type \"scramble\""),
            "{err}"
        );
    }

    #[test]
    fn a_key_with_two_types_is_refused() {
        let text = EXAMPLE
            .replace("key: app-data", "key: vault-sign")
            .replace("policy: encrypt", "policy: admin");
        let err = problem(&text);
        assert!(
            err.contains("key \"vault-sign\" is given two types"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_endpoint_is_refused() {
        let err = problem("endpoints:\n  empty: []\n");
        assert!(
            err.contains("endpoints.empty: an endpoint needs at least one entry"),
            "{err}"
        );
    }

    #[test]
    fn a_server_needs_endpoints_unless_a_root_token_is_set() {
        let bare = parse("data_dir: ./d\n").unwrap();
        assert!(bare.check_servable().is_err());
        let dev = parse("data_dir: ./d\ndev_root_token: root\n").unwrap();
        assert!(dev.check_servable().is_ok());
        assert_eq!(dev.dev_root_token.unwrap().expose(), "root");
    }

    #[test]
    fn unknown_top_level_fields_are_refused() {
        let err = problem(&format!("{EXAMPLE}\nlisten_port: 1\n"));
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn a_policy_that_cannot_use_the_key_type_is_refused() {
        let err = problem(&EXAMPLE.replace("policy: encrypt", "policy: sign"));
        assert!(
            err.contains("policy sign cannot be used with a key of type chacha20-poly1305"),
            "{err}"
        );
    }

    #[test]
    fn key_names_follow_vaults_rule() {
        for good in ["a", "app-data", "a.b_c", "A9"] {
            assert!(is_key_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a/b", "a b", "é"] {
            assert!(!is_key_name(bad), "{bad}");
        }
    }
}
