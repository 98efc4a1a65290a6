//! The transit endpoints, one file per route family.
//!
//! - [`keys`]: read a key, rotate it, change its settings.
//! - [`lifecycle`]: trim old versions, soft delete and restore.
//! - [`encrypt`]: encrypt, creating the key if needed.
//! - [`decrypt`]: decrypt and rewrap.
//! - [`datakey`]: data keys for envelope encryption.
//! - [`random`]: random bytes.
//! - [`hmac`]: HMACs with a named key's HMAC keys.
//! - [`hash`]: hashing without a key.
//! - [`mount`]: `config/keys` and `cache-config`, settings of the whole mount.
//! - [`batch`]: `batch_input` decoding and the batch status rule.
//! - [`sign`]: sign and verify.
//! - [`export`]: key material in Vault's export encodings.
//! - [`import`]: bring your own key: the wrapping key, import and import_version.
//! - [`backup`]: backup and restore in Vault's blob format.

pub mod backup;
pub mod batch;
pub mod datakey;
pub mod decrypt;
pub mod encrypt;
pub mod export;
pub mod hash;
pub mod hmac;
pub mod import;
pub mod keys;
pub mod lifecycle;
pub mod mount;
pub mod random;
pub mod sign;
mod sign_options;

use axum::response::Response;

use super::error::ApiError;
use super::params::Params;
use super::route::{Operation, Transit};
use crate::service::Service;

/// Runs the handler of `route`.
///
/// Work that can take milliseconds or more (RSA keys, key generation for RSA
/// types, whole-key parsing) runs where it cannot hold up other requests: the worker thread hands
/// its queue to another thread while it computes, so health checks and cheap
/// requests keep being answered. At most one such request per core computes at a
/// time; the others wait for a permit without holding a thread.
///
/// # Errors
/// The handler's Vault-style error.
pub async fn handle(
    service: &Service,
    route: Transit<'_>,
    operation: Operation,
    params: Params,
) -> Result<Response, ApiError> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread && is_expensive(service, route, &params) {
        // Closed only if the server is shutting down; then the work runs as it is.
        let _permit = service.heavy_work.acquire().await.ok();
        let handle = tokio::runtime::Handle::current();
        return tokio::task::block_in_place(|| {
            handle.block_on(run(service, route, operation, params))
        });
    }
    run(service, route, operation, params).await
}

/// Whether a request may compute for long: anything on an RSA key (an invalid PSS
/// signature alone costs up to a few hundred RSA verifications), creating an RSA key
/// (key generation), and the routes that parse or generate whole keys. Batches on
/// other keys stay where they are: the JSON limit bounds them to a few hundred items
/// of microseconds each.
fn is_expensive(service: &Service, route: Transit<'_>, params: &Params) -> bool {
    match route {
        Transit::Restore(_) | Transit::Backup(_) | Transit::WrappingKey => return true,
        Transit::Import(_) | Transit::ImportVersion(_) => return true,
        _ => {}
    }
    let rsa_key = route
        .key()
        .and_then(|name| service.keyring.get(name))
        .is_some_and(|key| key.key_type.rsa_bits().is_some());
    let creates_rsa = matches!(route, Transit::Key(_))
        && params
            .str_value("type")
            .is_some_and(|t| t.starts_with("rsa"));
    rsa_key || creates_rsa
}

async fn run(
    service: &Service,
    route: Transit<'_>,
    operation: Operation,
    params: Params,
) -> Result<Response, ApiError> {
    match route {
        Transit::Keys => keys::list(service, &params),
        Transit::Key(name) => match operation {
            Operation::Update => keys::create(service, name, &params).await,
            Operation::Delete => keys::delete(service, name, &params).await,
            _ => keys::read(service, name, &params),
        },
        Transit::Rotate(name) => keys::rotate(service, name, &params).await,
        Transit::Config(name) => keys::config(service, name, &params).await,
        Transit::Trim(name) => lifecycle::trim(service, name, &params).await,
        Transit::SoftDelete(name) => lifecycle::soft_delete(service, name, &params).await,
        Transit::SoftDeleteRestore(name) => {
            lifecycle::soft_delete_restore(service, name, &params).await
        }
        Transit::Import(name) => import::import(service, name, &params).await,
        Transit::ImportVersion(name) => import::import_version(service, name, &params).await,
        Transit::WrappingKey => import::wrapping_key(service, &params).await,
        Transit::Encrypt(name) => encrypt::encrypt(service, name, &params).await,
        Transit::Decrypt(name) => decrypt::decrypt(service, name, &params),
        Transit::Rewrap(name) => decrypt::rewrap(service, name, &params),
        Transit::Datakey(kind, name) => datakey::datakey(service, kind, name, &params),
        Transit::Random(url) => random::random(url, &params),
        Transit::Hmac(name, algorithm) => hmac::hmac(service, name, algorithm, &params),
        Transit::Hash(algorithm) => hash::hash(algorithm, &params),
        Transit::ConfigKeys => mount::config_keys(service, operation, &params).await,
        Transit::CacheConfig => mount::cache_config(service, operation, &params).await,
        Transit::Sign(name, algorithm) => sign::sign(service, name, algorithm, &params),
        Transit::Verify(name, algorithm) => sign::verify(service, name, algorithm, &params),
        Transit::Export(kind, name, version) => {
            export::export(service, kind, name, version, &params)
        }
        Transit::Backup(name) => backup::backup(service, name, &params).await,
        Transit::Restore(name) => backup::restore(service, name, &params).await,
    }
}

/// Refuses to make `name` a key of `key_type` when the config declares it with another
/// type: the next start would refuse the key (a key's type never changes).
///
/// # Errors
/// 400 naming the key and both types.
pub(super) fn keep_declared_type(
    service: &Service,
    name: &str,
    key_type: crate::crypto::KeyType,
) -> Result<(), ApiError> {
    match service.config.keys().get(name) {
        Some(declared) if *declared != key_type => Err(ApiError::bad_request(format!(
            "key \"{name}\" is declared in the config as {declared}; it cannot be made a \
             {key_type} key"
        ))),
        _ => Ok(()),
    }
}

/// Path parameters the URL fixes; a body value for one of them is replaced.
const NAME_FROM_PATH: &[&str] = &["name"];
