//! `keys/:name/trim`, `keys/:name/soft-delete` and `keys/:name/soft-delete-restore`:
//! removing old versions for good, and OpenBao's reversible soft delete.

use axum::response::Response;
use serde::Deserialize;

use super::NAME_FROM_PATH;
use super::keys::describe;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakInt, present};
use crate::http::response::no_content;
use crate::keyring::NamedKey;
use crate::service::Service;

#[derive(Deserialize)]
struct TrimRequest {
    // OpenBao takes a null value as 0, not as a missing one.
    #[serde(default, deserialize_with = "present")]
    min_available_version: Option<WeakInt>,
}

/// `POST keys/:name/trim`: deletes every version below `min_available_version`
/// from storage, for good. The key is written before the answer.
///
/// # Errors
/// 400 with OpenBao's message for each refused value, checked in OpenBao's order;
/// the key is then unchanged.
pub async fn trim(service: &Service, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<TrimRequest>(NAME_FROM_PATH)?;
    if service.keyring.get(name).is_none() {
        return Err(ApiError::bad_request("invalid key name"));
    }
    let Some(WeakInt(value)) = request.min_available_version else {
        return Err(ApiError::bad_request("missing min_available_version"));
    };

    let trimmed = service
        .keyring
        .update(name, |current| {
            let floor = trim_floor(current, value)?;
            Ok::<_, ApiError>(current.trimmed(floor))
        })
        .await?;
    tracing::info!(
        key = %name,
        min_available_version = trimmed.lifecycle.min_available_version,
        "trimmed key"
    );
    describe(&trimmed, &warnings)
}

/// Checks a requested `min_available_version` against the key, in OpenBao's order.
fn trim_floor(key: &NamedKey, value: i64) -> Result<u32, ApiError> {
    let settings = &key.settings;
    let refuse = |message: &str| Err(ApiError::bad_request(message));
    if value < i64::from(key.lifecycle.min_available_version) {
        return refuse("minimum available version cannot be decremented");
    }
    if settings.min_encryption_version == 0 {
        return refuse(
            "minimum available version cannot be set when minimum encryption version is not set",
        );
    }
    // Keys made by vault-kms always have a decryption minimum of at least 1, and the
    // first check already refuses negative values; both rules stay in OpenBao's order.
    if settings.min_decryption_version == 0 {
        return refuse(
            "minimum available version cannot be set when minimum decryption version is not set",
        );
    }
    // OpenBao's text has this typo.
    if value > i64::from(settings.min_encryption_version) {
        return refuse(
            "minimum available version cannot be greater than minmum encryption version",
        );
    }
    if value > i64::from(settings.min_decryption_version) {
        return refuse(
            "minimum available version cannot be greater than minimum decryption version",
        );
    }
    if value < 0 {
        return refuse("minimum available version cannot be negative");
    }
    if value == 0 {
        return refuse("minimum available version should be positive");
    }
    // Bounded above by min_encryption_version, a u32.
    u32::try_from(value).map_err(ApiError::internal)
}

#[derive(Deserialize)]
struct SoftDeleteRequest {}

/// `DELETE keys/:name/soft-delete`: marks the key unusable without removing it,
/// whether or not `deletion_allowed` is set. A missing key answers 204.
///
/// # Errors
/// 500 if the change cannot be stored.
pub async fn soft_delete(
    service: &Service,
    name: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    set_soft_deleted(
        service,
        name,
        params,
        true,
        "key was already marked as soft deleted",
    )
    .await
}

/// `POST keys/:name/soft-delete-restore`: makes a soft-deleted key usable again.
/// A missing key answers 204.
///
/// # Errors
/// 500 if the change cannot be stored.
pub async fn soft_delete_restore(
    service: &Service,
    name: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    set_soft_deleted(service, name, params, false, "key was already restored").await
}

async fn set_soft_deleted(
    service: &Service,
    name: &str,
    params: &Params,
    soft_deleted: bool,
    unchanged: &str,
) -> Result<Response, ApiError> {
    let (_, decode_warnings) = params.decode::<SoftDeleteRequest>(NAME_FROM_PATH)?;
    let Some(current) = service.keyring.get(name) else {
        return Ok(no_content());
    };

    // OpenBao lists its own warning before the one about ignored parameters.
    let mut warnings = Vec::with_capacity(decode_warnings.len() + 1);
    let key = if current.lifecycle.soft_deleted == soft_deleted {
        warnings.push(unchanged.to_owned());
        current
    } else {
        let key = service
            .keyring
            .update(name, |current| {
                let mut next = current.clone();
                next.lifecycle.soft_deleted = soft_deleted;
                Ok::<_, ApiError>(next)
            })
            .await?;
        tracing::info!(key = %name, soft_deleted, "changed soft delete");
        key
    };
    warnings.extend(decode_warnings);
    describe(&key, &warnings)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::crypto::KeyType;

    fn key(min_encryption: u32, min_decryption: u32) -> NamedKey {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut key = NamedKey::generate("k", KeyType::Aes256Gcm96, now).unwrap();
        for _ in 0..3 {
            key = key.rotated(now).unwrap();
        }
        key.settings.min_encryption_version = min_encryption;
        key.settings.min_decryption_version = min_decryption;
        key
    }

    fn refusal(key: &NamedKey, value: i64) -> String {
        match trim_floor(key, value) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn trim_floor_applies_openbaos_rules_in_order() {
        assert_eq!(trim_floor(&key(3, 3), 3), Ok(3));
        assert_eq!(trim_floor(&key(3, 2), 1), Ok(1));
        assert!(refusal(&key(0, 1), 1).contains("minimum encryption version is not set"));
        assert!(refusal(&key(3, 0), 1).contains("minimum decryption version is not set"));
        assert!(refusal(&key(3, 3), 4).contains("greater than minmum encryption"));
        assert!(refusal(&key(3, 2), 3).contains("greater than minimum decryption"));
        assert_eq!(
            refusal(&key(3, 3), 0),
            "minimum available version should be positive"
        );

        let mut trimmed = key(3, 3).trimmed(2);
        assert_eq!(
            refusal(&trimmed, 1),
            "minimum available version cannot be decremented"
        );
        trimmed.lifecycle.min_available_version = 0;
        assert_eq!(
            refusal(&trimmed, -1),
            "minimum available version cannot be decremented"
        );
    }
}
