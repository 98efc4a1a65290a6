//! `datakey/:kind/:name`: a fresh random key, returned encrypted under a named key
//! (and, for the `plaintext` kind, also in the clear), for envelope encryption.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::encrypt::{ItemError, associated_data, decode};
use crate::crypto::fill_random;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakInt, WeakString};
use crate::http::response::envelope;
use crate::keyring::cipher::{self, CipherError};
use crate::keyring::key::Purpose;
use crate::service::Service;

#[derive(Deserialize)]
struct DatakeyRequest {
    bits: Option<WeakInt>,
    context: Option<WeakString>,
    key_version: Option<WeakInt>,
    associated_data: Option<WeakString>,
}

#[derive(Serialize)]
struct Datakey {
    ciphertext: String,
    key_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
}

/// `POST datakey/plaintext/:name` or `POST datakey/wrapped/:name`.
///
/// # Errors
/// 400 with Vault's message for a bad kind, bit length, context, version or key type.
pub fn datakey(
    service: &Service,
    kind: &str,
    name: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<DatakeyRequest>(&["name", "plaintext"])?;
    let with_plaintext = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(ApiError::bad_request(
                "Invalid path, must be 'plaintext' or 'wrapped'",
            ));
        }
    };
    let bytes = match request.bits.map_or(256, |b| b.0) {
        bits @ (128 | 256 | 512) => usize::try_from(bits / 8).unwrap_or(32),
        _ => return Err(ApiError::bad_request("invalid bit length")),
    };
    let context = request
        .context
        .as_ref()
        .map(|c| decode(&c.0))
        .transpose()
        .map_err(|_| ApiError::bad_request("failed to base64-decode context"))?;

    let key = service
        .keyring
        .get(name)
        .ok_or_else(|| ApiError::bad_request("encryption key not found"))?;
    key.usable()?;
    let aad = associated_data(request.associated_data.as_ref().map(|a| a.0.as_str()))
        .map_err(ItemError::into_api_error)?;
    let (number, version) =
        key.version_for(Purpose::Encryption, request.key_version.map_or(0, |v| v.0))?;

    let mut new_key = zeroize::Zeroizing::new(vec![0u8; bytes]);
    fill_random(&mut new_key).map_err(ApiError::internal)?;
    let payload = cipher::encrypt(
        &key,
        version,
        &new_key,
        context.as_deref().map(Vec::as_slice),
        aad.as_deref(),
    )
    .map_err(|e| match e {
        CipherError::AssociatedDataNotSupported(t) => ApiError::bad_request(format!(
            "'associated_data' provided for non-AEAD cipher suite {t}"
        )),
        other => ItemError::from(other).into_api_error(),
    })?;

    let answer = Datakey {
        ciphertext: service
            .config
            .prefix
            .format(number, &encoding::encode_std(&payload)),
        key_version: number,
        plaintext: with_plaintext.then(|| encoding::encode_std(&new_key)),
    };
    Ok(envelope(&answer, &warnings))
}
