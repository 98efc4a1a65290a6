//! The transit endpoints, one file per route family.
//!
//! - [`keys`]: read a key, rotate it, change its settings.
//! - [`encrypt`]: encrypt, decrypt and rewrap.
//! - [`sign`]: sign and verify.

pub mod encrypt;
pub mod keys;
pub mod sign;

use axum::response::Response;

use super::error::ApiError;
use super::params::Params;
use super::route::Transit;
use crate::service::Service;

/// Runs the handler of `route`.
///
/// # Errors
/// The handler's Vault-style error.
pub async fn handle(
    service: &Service,
    route: Transit<'_>,
    params: Params,
) -> Result<Response, ApiError> {
    match route {
        Transit::Key(name) => keys::read(service, name, &params),
        Transit::Rotate(name) => keys::rotate(service, name, &params).await,
        Transit::Config(name) => keys::config(service, name, &params).await,
        Transit::Encrypt(name) => encrypt::encrypt(service, name, &params),
        Transit::Decrypt(name) => encrypt::decrypt(service, name, &params),
        Transit::Rewrap(name) => encrypt::rewrap(service, name, &params),
        Transit::Sign(name, algorithm) => sign::sign(service, name, algorithm, &params),
        Transit::Verify(name, algorithm) => sign::verify(service, name, algorithm, &params),
    }
}

/// Path parameters the URL fixes; a body value for one of them is replaced.
const NAME_FROM_PATH: &[&str] = &["name"];
