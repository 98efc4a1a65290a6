//! `config/keys` and `cache-config`: settings of the whole transit mount.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakInt};
use crate::http::response::envelope;
use crate::http::route::Operation;
use crate::service::Service;

#[derive(Deserialize)]
struct ConfigKeysRequest {
    disable_upsert: Option<WeakBool>,
}

#[derive(Serialize)]
struct ConfigKeys {
    disable_upsert: bool,
}

/// `GET|POST config/keys`. A POST replaces the setting: without `disable_upsert`
/// it turns upsert back on, as in Vault.
///
/// # Errors
/// 400 for a malformed value; 500 if the setting cannot be stored.
pub async fn config_keys(
    service: &Service,
    operation: Operation,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<ConfigKeysRequest>(&[])?;
    let settings = if operation == Operation::Update {
        let disable = request.disable_upsert.is_some_and(|d| d.0);
        service
            .keyring
            .update_mount_settings(|s| s.disable_upsert = disable)
            .await?
    } else {
        service.keyring.mount_settings().await
    };
    let answer = ConfigKeys {
        disable_upsert: settings.disable_upsert,
    };
    Ok(envelope(&answer, &warnings))
}

#[derive(Deserialize)]
struct CacheConfigRequest {
    size: Option<WeakInt>,
}

#[derive(Serialize)]
struct CacheConfig {
    size: i64,
}

/// `GET|POST cache-config`. vault-kms keeps every key in memory, so the size is
/// stored and reported for compatibility and has no other effect.
///
/// # Errors
/// 400 for a size between 1 and 9 or below 0.
pub async fn cache_config(
    service: &Service,
    operation: Operation,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<CacheConfigRequest>(&[])?;
    let settings = if operation == Operation::Update {
        let size = request.size.map_or(0, |s| s.0);
        if size != 0 && size < 10 {
            return Err(ApiError::bad_request(
                "size must be 0 or a value greater or equal to 10",
            ));
        }
        service
            .keyring
            .update_mount_settings(|s| s.cache_size = size)
            .await?
    } else {
        service.keyring.mount_settings().await
    };
    Ok(envelope(
        &CacheConfig {
            size: settings.cache_size,
        },
        &warnings,
    ))
}
