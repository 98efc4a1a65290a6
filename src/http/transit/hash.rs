//! `hash[/:algorithm]`: a digest of the input, without any key.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::crypto::hash::HashAlgorithm;
use crate::encoding;
use crate::http::error::ApiError;
use crate::http::params::{Params, WeakString};
use crate::http::response::envelope;

#[derive(Deserialize)]
struct HashRequest {
    input: Option<WeakString>,
    algorithm: Option<WeakString>,
    format: Option<WeakString>,
}

#[derive(Serialize)]
struct Sum {
    sum: String,
}

/// `POST hash[/:algorithm]`; the URL's algorithm wins over the body's.
///
/// # Errors
/// 400 with Vault's message for missing or bad input, format or algorithm.
pub fn hash(url_algorithm: Option<&str>, params: &Params) -> Result<Response, ApiError> {
    let (request, warnings) = params.decode::<HashRequest>(&["urlalgorithm"])?;
    let input = request
        .input
        .ok_or_else(|| ApiError::bad_request("input missing"))?;
    let input = encoding::decode_std(&input.0)
        .map_err(|e| ApiError::bad_request(format!("unable to decode input as base64: {e}")))?;

    let format = request.format.map(|f| f.0).unwrap_or_default();
    let hex = match format.as_str() {
        "" | "hex" => true,
        "base64" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "unsupported encoding format {other}; must be \"hex\" or \"base64\""
            )));
        }
    };

    let name = url_algorithm
        .or(request.algorithm.as_ref().map(|a| a.0.as_str()))
        .filter(|a| !a.is_empty())
        .unwrap_or("sha2-256");
    let algorithm = HashAlgorithm::from_vault_name(name)
        .filter(|a| *a != HashAlgorithm::Sha1)
        .ok_or_else(|| ApiError::bad_request(format!("unsupported algorithm {name}")))?;
    let digest = algorithm.digest(&input).map_err(ApiError::internal)?;

    let sum = if hex {
        digest.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        encoding::encode_std(&digest)
    };
    Ok(envelope(&Sum { sum }, &warnings))
}
