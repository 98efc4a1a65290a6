//! Endpoint tokens: one random token per endpoint, valid for a year.
//!
//! Tokens are created on first start, stored sealed by the barrier (never in the
//! clear), and looked up by comparing SHA-256 digests in constant time.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::policy::{Acl, default_rules};
use crate::barrier::{Barrier, BarrierError};
use crate::config::Endpoint;
use crate::encoding;
use crate::secret::{SecretBytes, SecretString};

/// How long an endpoint token is valid: one year, as the managed service promises.
pub const TOKEN_TTL: Duration = Duration::days(365);

/// Random bytes in a token: 256 bits, well over the 128 the service needs.
const TOKEN_BYTES: usize = 32;

/// Prefix that marks a string as a vault-kms token.
const TOKEN_PREFIX: &str = "vkms.";

/// A token and what it grants.
#[derive(Debug)]
pub struct TokenEntry {
    /// The endpoint this token belongs to; `None` for the development root token.
    pub endpoint: Option<String>,
    secret: SecretString,
    digest: [u8; 32],
    /// A non-secret handle for the token, shown by lookup-self and in logs.
    pub accessor: String,
    /// When the token was created.
    pub created: OffsetDateTime,
    /// When it stops working; the development root token never expires.
    pub expires: Option<OffsetDateTime>,
    /// The rules it carries.
    pub acl: Acl,
    /// Names of its policies (`sign-vault-sign`, ...), sorted, as lookup-self shows.
    pub policies: Vec<String>,
}

impl TokenEntry {
    /// The token itself, for the `relationships` and `env` commands.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }
}

#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
}

/// A failure to load or create tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Storage failed or a record did not open.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A stored token record is malformed.
    #[error("stored token of endpoint {0} is malformed")]
    Corrupt(String),
    /// An endpoint has no token yet.
    #[error("endpoint {0} has no token yet: start (or restart) the server to create it")]
    Missing(String),
    /// The OS had no randomness to give.
    #[error("no randomness available to create a token")]
    Random,
}

/// The tokens of every configured endpoint.
#[derive(Debug, Default)]
pub struct TokenStore {
    entries: Vec<Arc<TokenEntry>>,
}

impl TokenStore {
    /// Loads the token of each endpoint, creating those that do not exist yet.
    ///
    /// # Errors
    /// [`TokenError`] when storage fails or a stored token is malformed.
    pub fn ensure(
        barrier: &Barrier,
        endpoints: &[Endpoint],
        now: OffsetDateTime,
    ) -> Result<Self, TokenError> {
        // An endpoint removed from the config loses its token for good: adding it
        // back later issues a new one.
        for path in barrier.list("tokens/")? {
            let id = path.trim_start_matches("tokens/");
            if !endpoints.iter().any(|e| e.id == id) {
                barrier.delete(&path)?;
                tracing::info!(endpoint = %id, "revoked the token of a removed endpoint");
            }
        }

        let mut entries = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let stored = load_or_create(barrier, &endpoint.id, now)?;
            entries.push(Arc::new(entry_for(endpoint, stored)));
        }
        Ok(Self { entries })
    }

    /// Loads the stored token of each endpoint without creating any.
    ///
    /// # Errors
    /// [`TokenError::Missing`] for an endpoint whose token the server has not created
    /// yet, or a storage failure.
    pub fn load(barrier: &Barrier, endpoints: &[Endpoint]) -> Result<Self, TokenError> {
        let mut entries = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let bytes = barrier
                .get(&token_path(&endpoint.id))?
                .ok_or_else(|| TokenError::Missing(endpoint.id.clone()))?;
            let stored = serde_json::from_slice(&bytes)
                .map_err(|_| TokenError::Corrupt(endpoint.id.clone()))?;
            entries.push(Arc::new(entry_for(endpoint, stored)));
        }
        Ok(Self { entries })
    }

    /// Adds Vault's development root token: every capability, no expiry. It is
    /// never stored.
    pub fn add_root(&mut self, token: SecretString, now: OffsetDateTime) {
        let digest = token_digest(token.expose());
        self.entries.push(Arc::new(TokenEntry {
            endpoint: None,
            accessor: accessor_of(&digest),
            digest,
            created: now,
            expires: None,
            acl: Acl::root(),
            policies: vec!["root".to_owned()],
            secret: token,
        }));
    }

    /// The token entry of an endpoint.
    pub fn get(&self, endpoint: &str) -> Option<&Arc<TokenEntry>> {
        self.entries
            .iter()
            .find(|e| e.endpoint.as_deref() == Some(endpoint))
    }

    /// The entry for a presented token, if it is known and not expired at `now`.
    ///
    /// Every stored digest is compared, in constant time, whatever matches.
    pub fn authenticate(&self, presented: &str, now: OffsetDateTime) -> Option<Arc<TokenEntry>> {
        self.authenticate_digest(&token_digest(presented), now)
    }

    /// [`Self::authenticate`] for a token already hashed with [`token_digest`].
    pub fn authenticate_digest(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Option<Arc<TokenEntry>> {
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(presented)) {
                found = Some(entry);
            }
        }
        let entry = found?;
        if entry.expires.is_some_and(|expires| now >= expires) {
            tracing::warn!(
                endpoint = entry.endpoint.as_deref().unwrap_or("root"),
                accessor = %entry.accessor,
                "an expired token was presented"
            );
            return None;
        }
        Some(entry.clone())
    }
}

fn load_or_create(
    barrier: &Barrier,
    endpoint: &str,
    now: OffsetDateTime,
) -> Result<StoredToken, TokenError> {
    let path = token_path(endpoint);
    if let Some(bytes) = barrier.get(&path)? {
        return serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::Corrupt(endpoint.to_owned()));
    }

    let fresh = StoredToken {
        token: random_token()?,
        created: now,
    };
    let encoded = Zeroizing::new(
        serde_json::to_vec(&fresh).map_err(|_| TokenError::Corrupt(endpoint.to_owned()))?,
    );
    if barrier.put_if_absent(&path, &encoded)? {
        return Ok(fresh);
    }
    // Another process created the token first; use the stored one.
    let bytes = barrier
        .get(&path)?
        .ok_or_else(|| TokenError::Corrupt(endpoint.to_owned()))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Corrupt(endpoint.to_owned()))
}

/// Storage path of an endpoint's token.
fn token_path(endpoint: &str) -> String {
    format!("tokens/{endpoint}")
}

/// A new random token: the `vkms.` prefix and 256 bits from the OS CSPRNG.
///
/// # Errors
/// [`TokenError::Random`] when the OS has no randomness to give.
pub fn random_token() -> Result<String, TokenError> {
    let random = SecretBytes::random(TOKEN_BYTES).map_err(|_| TokenError::Random)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        encoding::encode_url_nopad(random.expose())
    ))
}

fn entry_for(endpoint: &Endpoint, stored: StoredToken) -> TokenEntry {
    let rules = endpoint
        .entries
        .iter()
        .flat_map(|e| e.policy.rules(&e.key))
        .chain(default_rules())
        .collect();
    let mut policies: Vec<String> = endpoint
        .entries
        .iter()
        .map(|e| format!("{}-{}", e.policy.name(), e.key))
        .chain(std::iter::once("default".to_owned()))
        .collect();
    policies.sort();
    policies.dedup();

    let digest = token_digest(&stored.token);
    TokenEntry {
        endpoint: Some(endpoint.id.clone()),
        accessor: accessor_of(&digest),
        digest,
        created: stored.created,
        expires: Some(stored.created + TOKEN_TTL),
        acl: Acl::new(rules),
        policies,
        secret: SecretString::new(stored.token),
    }
}

/// SHA-256 of a token, the form in which tokens are compared.
pub fn token_digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// A short, non-secret identifier of a presented token for log lines: the first
/// four bytes of its digest in hex.
pub fn log_id(token_digest: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(8);
    for byte in &token_digest[..4] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

/// The accessor: a handle derived one-way from the token's digest.
fn accessor_of(token_digest: &[u8; 32]) -> String {
    let mut input = b"vault-kms accessor:".to_vec();
    input.extend_from_slice(token_digest);
    // 24 alphanumeric characters, the shape of Vault's accessors.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    digest(&SHA256, &input).as_ref()[..24]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::PolicyKind;
    use crate::config::Entry;
    use crate::crypto::KeyType;
    use crate::crypto::aead::{AeadAlgorithm, AeadKey};
    use crate::storage::sqlite::SqliteStorage;

    fn endpoint(id: &str) -> Endpoint {
        Endpoint {
            id: id.to_owned(),
            entries: vec![Entry {
                policy: PolicyKind::Encrypt,
                key: "k".to_owned(),
                key_type: KeyType::Chacha20Poly1305,
            }],
        }
    }

    fn barrier(dir: &std::path::Path, master: &AeadKey) -> Barrier {
        let storage = Arc::new(SqliteStorage::open(dir).unwrap());
        Barrier::open(storage, AeadKey::chacha20(master.raw().clone()).unwrap()).unwrap()
    }

    #[test]
    fn tokens_are_stable_across_restarts_and_distinct_per_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let now = OffsetDateTime::now_utc();
        let endpoints = [endpoint("a"), endpoint("b")];

        let first = TokenStore::ensure(&barrier(dir.path(), &master), &endpoints, now).unwrap();
        let again = TokenStore::ensure(&barrier(dir.path(), &master), &endpoints, now).unwrap();

        let a = first.get("a").unwrap().secret().expose().to_owned();
        assert_eq!(a, again.get("a").unwrap().secret().expose());
        assert_ne!(a, first.get("b").unwrap().secret().expose());
        assert!(a.starts_with("vkms.") && a.len() > 40);
    }

    #[test]
    fn tokens_authenticate_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let now = OffsetDateTime::now_utc();
        let store =
            TokenStore::ensure(&barrier(dir.path(), &master), &[endpoint("a")], now).unwrap();
        let token = store.get("a").unwrap().secret().expose().to_owned();

        assert_eq!(
            store.authenticate(&token, now).unwrap().endpoint.as_deref(),
            Some("a")
        );
        assert!(
            store
                .authenticate(&token, now + TOKEN_TTL - Duration::seconds(1))
                .is_some()
        );
        assert!(store.authenticate(&token, now + TOKEN_TTL).is_none());
        assert!(store.authenticate("vkms.wrong", now).is_none());
        assert!(store.authenticate("", now).is_none());
    }

    #[test]
    fn the_root_token_never_expires_and_holds_the_root_policy() {
        let mut store = TokenStore::default();
        let now = OffsetDateTime::now_utc();
        store.add_root(SecretString::new("root".to_owned()), now);

        let root = store
            .authenticate("root", now + Duration::days(10_000))
            .unwrap();
        assert!(root.acl.is_root());
        assert_eq!(root.policies, vec!["root"]);
        assert!(store.get("root").is_none(), "root is no endpoint");
    }

    #[test]
    fn tokens_are_not_stored_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let master = AeadKey::generate(AeadAlgorithm::Chacha20Poly1305).unwrap();
        let store = TokenStore::ensure(
            &barrier(dir.path(), &master),
            &[endpoint("a")],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let token = store.get("a").unwrap().secret().expose().to_owned();

        let raw = SqliteStorage::open(dir.path()).unwrap();
        let sealed = crate::storage::Storage::get(&raw, "tokens/a")
            .unwrap()
            .unwrap();
        assert!(!sealed.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}
