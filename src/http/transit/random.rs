//! `random[/:source][/:bytes]`: random bytes from the OS CSPRNG.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::crypto::fill_random;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakInt, WeakString};
use crate::http::response::envelope;

/// Vault's default and largest request.
const DEFAULT_BYTES: i64 = 32;
const MAX_BYTES: i64 = 128 * 1024;

#[derive(Deserialize)]
struct RandomRequest {
    bytes: Option<WeakInt>,
    format: Option<WeakString>,
}

#[derive(Serialize)]
struct RandomBytes {
    random_bytes: String,
}

/// `POST random[/:source][/:bytes]`. `url` is everything after `random/`.
///
/// # Errors
/// 400 with Vault's message for a bad count, source or format.
pub fn random(url: Option<&str>, params: &Params) -> Result<Response, ApiError> {
    let (request, mut warnings) = params.decode::<RandomRequest>(&["source", "urlbytes"])?;

    // One segment is a source if it names one, else a byte count; two segments are
    // the source and the count.
    let (source, url_bytes) = match url.map(|u| u.split_once('/')) {
        None => ("", None),
        Some(Some((source, bytes))) => (source, Some(bytes)),
        Some(None) => match url.unwrap_or_default() {
            s @ ("" | "platform" | "seal" | "all") => (s, None),
            bytes => ("", Some(bytes)),
        },
    };
    // A negative count in the URL is ignored, as OpenBao does; 0 is refused below.
    let url_count = match url_bytes {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "error parsing url-set byte count: strconv.Atoi: parsing \"{text}\": invalid syntax"
            ))
        })?),
        None => None,
    };
    let count = match url_count {
        Some(count) if count >= 0 => count,
        _ => request.bytes.map_or(DEFAULT_BYTES, |b| b.0),
    };
    if count < 1 {
        return Err(ApiError::bad_request("'bytes' cannot be less than 1"));
    }
    if count > MAX_BYTES {
        return Err(ApiError::bad_request("'bytes' should be less than 131072"));
    }

    let format = request.format.map(|f| f.0).unwrap_or_default();
    let hex = match format.as_str() {
        "" | "base64" => false,
        "hex" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "unsupported encoding format \"{other}\"; must be \"hex\" or \"base64\""
            )));
        }
    };
    match source {
        "" | "platform" | "all" => {}
        "seal" => warnings.push(
            "no seal/entropy augmentation available, using platform entropy source".to_owned(),
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "unsupported entropy source \"{other}\"; must be \"platform\" or \"seal\", or \"all\""
            )));
        }
    }

    let mut bytes = vec![0u8; usize::try_from(count).unwrap_or(0)];
    fill_random(&mut bytes).map_err(ApiError::internal)?;
    let random_bytes = if hex {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        encoding::encode_std(&bytes)
    };
    Ok(envelope(&RandomBytes { random_bytes }, &warnings))
}
