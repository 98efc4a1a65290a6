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

/// A 200 answer in the envelope whose `data` member `write_data` writes straight
/// into the body, for the answers that carry most of the traffic (a single encrypt
/// or decrypt): their one large member is base64, which needs no JSON escapes, so
/// it can be encoded into the body in one pass instead of going through a string
/// that serde_json would scan again. `write_data` must write exactly one JSON value.
/// The body is byte for byte what [`envelope`] writes.
pub fn envelope_with(warnings: &[String], write_data: impl FnOnce(&mut Vec<u8>)) -> Response {
    let mut bytes = Vec::with_capacity(INITIAL_BODY_CAPACITY);
    bytes.extend_from_slice(br#"{"request_id":""#);
    let mut id = uuid::Uuid::encode_buffer();
    bytes.extend_from_slice(
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut id)
            .as_bytes(),
    );
    bytes.extend_from_slice(br#"","lease_id":"","renewable":false,"lease_duration":0,"data":"#);
    write_data(&mut bytes);
    bytes.extend_from_slice(br#","wrap_info":null,"warnings":"#);
    if warnings.is_empty() || serde_json::to_writer(&mut bytes, warnings).is_err() {
        bytes.extend_from_slice(b"null");
    }
    bytes.extend_from_slice(b",\"auth\":null}\n");
    let mut response = Response::new(Body::from(bytes));
    set_json_headers(&mut response);
    response
}

/// Appends `"name":` to a JSON object being written by hand; `name` needs no escapes.
pub fn push_member_name(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn body_of(response: Response) -> Vec<u8> {
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    fn without_request_id(body: &[u8]) -> String {
        let text = std::str::from_utf8(body).unwrap();
        let start = text.find(r#""request_id":""#).unwrap() + 14;
        format!("{}{}", &text[..start], &text[start + 36..])
    }

    #[tokio::test]
    async fn a_hand_written_envelope_is_the_serde_envelope_byte_for_byte() {
        #[derive(Serialize)]
        struct Data {
            ciphertext: &'static str,
            key_version: u32,
        }
        let data = Data {
            ciphertext: "vault:v12:AAEC/+8=",
            key_version: 12,
        };
        for warnings in [vec![], vec!["a \"quoted\"\nwarning".to_owned()]] {
            let by_serde = body_of(envelope(&data, &warnings)).await;
            let by_hand = body_of(envelope_with(&warnings, |out| {
                out.push(b'{');
                push_member_name(out, "ciphertext");
                out.extend_from_slice(br#""vault:v12:AAEC/+8=","#);
                push_member_name(out, "key_version");
                out.extend_from_slice(b"12}");
            }))
            .await;
            assert_eq!(without_request_id(&by_hand), without_request_id(&by_serde));
            let parsed: serde_json::Value = serde_json::from_slice(&by_hand).unwrap();
            assert_eq!(parsed["request_id"].as_str().unwrap().len(), 36);
        }
    }
}
