//! Successful answers in Vault's response envelope.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// Room for a typical answer (a 1 KiB plaintext's ciphertext in the envelope), so
/// that most bodies are written without growing the buffer.
const INITIAL_BODY_CAPACITY: usize = 2048;

/// Vault's envelope around a result. Field order is Vault's.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    request_id: &'a str,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: u64,
    data: T,
    wrap_info: Option<()>,
    warnings: Option<&'a [String]>,
    auth: Option<()>,
}

/// A 200 answer with `data` in the envelope; empty `warnings` render as `null`.
pub fn envelope<T: Serialize>(data: &T, warnings: &[String]) -> Response {
    envelope_with_status(StatusCode::OK, data, warnings)
}

/// An answer with `data` in the envelope and another status, as Vault sends for
/// batches with failed items.
pub fn envelope_with_status<T: Serialize>(
    status: StatusCode,
    data: &T,
    warnings: &[String],
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let envelope = Envelope {
        request_id: &request_id,
        lease_id: "",
        renewable: false,
        lease_duration: 0,
        data,
        wrap_info: None,
        warnings: (!warnings.is_empty()).then_some(warnings),
        auth: None,
    };
    json_response(status, &envelope)
}

/// 204 with no body, as Vault answers requests that return nothing.
pub fn no_content() -> Response {
    empty(StatusCode::NO_CONTENT)
}

/// An answer with `status` and no body (204, or 405 to a HEAD request).
pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    set_json_headers(&mut response);
    response
}

/// A JSON answer followed by a newline, as Go's encoder writes it.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut bytes = Vec::with_capacity(INITIAL_BODY_CAPACITY);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        // Serializing these plain structs cannot fail; answer 500 rather than panic.
        bytes = br#"{"errors":["1 error occurred:\n\t* internal error\n\n"]}"#.to_vec();
    }
    bytes.push(b'\n');
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    set_json_headers(&mut response);
    response
}

fn set_json_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Writes a string that needs no JSON escapes (base64, `vault:vN:` values) without
/// serde_json's per-byte escape scan, which dominates the cost of large answers.
/// The text is still checked, more cheaply, as a JSON string literal; anything that
/// is not one is written the ordinary way.
pub fn unescaped<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    quoted.push_str(value);
    quoted.push('"');
    match RawValue::from_string(quoted) {
        Ok(raw) => raw.serialize(serializer),
        Err(_) => serializer.serialize_str(value),
    }
}

/// [`unescaped`] for an optional member (skipped when absent by the caller).
pub fn unescaped_option<S: Serializer>(
    value: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => unescaped(value, serializer),
        None => serializer.serialize_none(),
    }
}
