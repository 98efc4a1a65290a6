//! `backup/:name` and `restore[/:name]`: a key as Vault's plaintext backup blob, and
//! back. Blobs move keys between vault-kms, OpenBao and Vault (`keyring::backup`).

use axum::response::Response;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::NAME_FROM_PATH;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakBool, WeakString};
use crate::http::response::{envelope, no_content};
use crate::keyring::backup::{self, Backup, RestoreError};
use crate::keyring::key::Stamp;
use crate::service::Service;

#[derive(Deserialize)]
struct BackupRequest {}

#[derive(Serialize)]
struct BackupResponse {
    backup: String,
}

/// Vault's refusals of a backup, all answered 500.
fn backup_refusal(key: &crate::keyring::NamedKey) -> Option<&'static str> {
    if key.lifecycle.soft_deleted {
        return Some("refusing to use soft-deleted key");
    }
    if !key.settings.exportable {
        return Some("exporting is disallowed on the policy");
    }
    if !key.settings.allow_plaintext_backup {
        return Some("plaintext backup is disallowed on the policy");
    }
    None
}

/// `GET backup/:name`: stamps `backup_info` (on disk first), then answers the blob.
///
/// # Errors
/// 500 for a missing key, one that is not exportable or not backed up in plaintext,
/// or a soft-deleted one.
pub async fn backup(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (BackupRequest {}, warnings) = params.decode(NAME_FROM_PATH)?;
    let not_found = || ApiError::Wrapped(format!("key \"{name}\" not found"));
    let key = service.keyring.get(name).ok_or_else(not_found)?;
    if let Some(refusal) = backup_refusal(&key) {
        return Err(ApiError::Wrapped(refusal.to_owned()));
    }

    let now = service.clock.now();
    let stamped = service
        .keyring
        .update(name, |current| {
            // Checked again under the key's lock: a concurrent change may have come
            // between.
            if let Some(refusal) = backup_refusal(current) {
                return Err(ApiError::Wrapped(refusal.to_owned()));
            }
            let mut next = current.clone();
            next.lifecycle.backup_info = Some(Stamp {
                time: now,
                version: current.latest_version(),
            });
            Ok(next)
        })
        .await?;

    let blob = backup::encode(&stamped).map_err(ApiError::internal)?;
    tracing::info!(key = %name, version = stamped.latest_version(), "backed up key");
    Ok(envelope(&BackupResponse { backup: blob }, &warnings))
}

#[derive(Deserialize)]
struct RestoreRequest {
    backup: Option<WeakString>,
    force: Option<WeakBool>,
}

/// `POST restore[/:name]`: stores the key a blob holds; 204 once it is on disk.
///
/// # Errors
/// 400 without `backup`; 500 with OpenBao's texts for a bad blob or a taken name.
pub async fn restore(
    service: &Service,
    url_name: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, _warnings) = params.decode::<RestoreRequest>(NAME_FROM_PATH)?;
    let text = Zeroizing::new(request.backup.map(|b| b.0).unwrap_or_default());
    if text.is_empty() {
        return Err(ApiError::bad_request("'backup' must be supplied"));
    }
    let url_name = url_name.filter(|n| !n.is_empty());
    if url_name.is_some_and(|n| n.contains('/')) {
        return Err(ApiError::Wrapped("key names cannot be paths".to_owned()));
    }
    let force = request.force.is_some_and(|f| f.0);

    let parsed = Backup::parse(&text, url_name).map_err(refusal)?;
    let name = parsed.name().to_owned();
    if !force && service.keyring.get(&name).is_some() {
        return Err(ApiError::Wrapped(format!("key \"{name}\" already exists")));
    }
    let key = parsed.into_key(service.clock.now()).map_err(refusal)?;
    // A key the config declares must keep its type, or the next start would refuse it.
    if let Some(declared) = service.config.keys().get(name.as_str())
        && *declared != key.key_type
    {
        return Err(ApiError::Wrapped(format!(
            "key \"{name}\" is declared in the config as {declared}; a restore cannot change its type"
        )));
    }
    let latest = key.latest_version();
    service.keyring.restore(key, force).await?;
    tracing::info!(key = %name, version = latest, "restored key");
    Ok(no_content())
}

fn refusal(err: RestoreError) -> ApiError {
    match err {
        RestoreError::Encode => ApiError::internal(err),
        other => ApiError::Wrapped(other.to_string()),
    }
}
