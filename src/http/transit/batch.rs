//! `batch_input` handling shared by encrypt, decrypt and rewrap.
//!
//! A batch is a JSON array of objects, decoded strictly as Vault decodes it (a field
//! of the wrong JSON type fails the whole request with a 500). Each item then
//! succeeds or fails on its own; the answer's status follows Vault's rule for
//! encrypt and decrypt (200 when every item succeeded, else 400 if any item failed
//! for a client reason, else 500, unless `partial_failure_response_code` overrides
//! it), while rewrap always answers 200.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::http::error::ApiError;
use crate::http::response::envelope_with_status;

/// One item of `batch_input`, its fields still loose but type-checked.
#[derive(Debug, Default, Clone)]
pub struct Item {
    /// `plaintext` or `ciphertext`, whichever the endpoint reads.
    pub value: Option<String>,
    /// `context` (base64).
    pub context: Option<String>,
    /// `associated_data` (base64).
    pub associated_data: Option<String>,
    /// `key_version`.
    pub key_version: i64,
    /// The caller's `reference`, echoed back.
    pub reference: String,
}

/// Go's name for a JSON value's type, as mapstructure reports it.
pub(super) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn parse_failure(detail: String) -> ApiError {
    ApiError::Wrapped(format!("failed to parse batch input: {detail}"))
}

/// Decodes `batch_input`. `value_field` names the main field (`plaintext`,
/// `ciphertext`), and `required` says the message when an item lacks it entirely
/// (`None`: the item fails on its own later, as rewrap does).
///
/// # Errors
/// 400 for an empty batch; 500 (wrapped) when the batch or an item is malformed.
pub fn parse(
    batch: &Value,
    value_field: &str,
    required: Option<&str>,
) -> Result<Vec<Item>, ApiError> {
    let Value::Array(entries) = batch else {
        return Err(parse_failure(format!(
            "source data must be an array or slice, got {}",
            match batch {
                Value::Object(_) => "map[string]interface {}",
                Value::String(_) => "string",
                Value::Number(_) => "json.Number",
                Value::Bool(_) => "bool",
                _ => "<nil>",
            }
        )));
    };
    if entries.is_empty() {
        return Err(ApiError::bad_request("missing batch input to process"));
    }

    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let Value::Object(fields) = entry else {
                return Err(parse_failure(format!(
                    "[{i}] expected a map, got '{}'",
                    go_type(entry)
                )));
            };
            let item = Item {
                value: string_field(fields, i, value_field)?,
                context: string_field(fields, i, "context")?,
                associated_data: string_field(fields, i, "associated_data")?,
                key_version: int_field(fields, i, "key_version")?,
                reference: string_field(fields, i, "reference")?.unwrap_or_default(),
            };
            if item.value.is_none()
                && let Some(message) = required
            {
                return Err(parse_failure(format!("'[{i}].{value_field}' {message}")));
            }
            Ok(item)
        })
        .collect()
}

fn string_field(
    fields: &Map<String, Value>,
    i: usize,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(parse_failure(format!(
            "'[{i}].{name}' expected type 'string', got unconvertible type '{}'",
            go_type(other)
        ))),
    }
}

fn int_field(fields: &Map<String, Value>, i: usize, name: &str) -> Result<i64, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| parse_failure(format!("'[{i}].{name}' cannot parse '{n}' as int"))),
        Some(other) => Err(parse_failure(format!(
            "'[{i}].{name}' expected type 'int', got unconvertible type '{}'",
            go_type(other)
        ))),
    }
}

/// Applies Vault's context rule: the first item decides whether contexts are used,
/// and all items must agree.
///
/// # Errors
/// 400 `context should be set either in all the request blocks or in none`.
pub fn check_contexts(items: &[Item]) -> Result<(), ApiError> {
    let first = items.first().is_some_and(|i| i.context.is_some());
    if items.iter().any(|i| i.context.is_some() != first) {
        return Err(ApiError::bad_request(
            "context should be set either in all the request blocks or in none",
        ));
    }
    Ok(())
}

/// How one item ended, for the status rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed for a client reason.
    ClientError,
    /// It failed for an internal reason.
    InternalError,
    /// It failed, but Vault does not count it (associated data on a non-AEAD key).
    Ignored,
}

/// The answer to an encrypt or decrypt batch, with Vault's status rule.
pub fn respond<T: Serialize>(
    results: &[T],
    outcomes: &[Outcome],
    override_code: Option<i64>,
    mut warnings: Vec<String>,
) -> Response {
    #[derive(Serialize)]
    struct Results<'a, T: Serialize> {
        batch_results: &'a [T],
    }

    let any = |o: Outcome| outcomes.contains(&o);
    let mut status = if any(Outcome::ClientError) {
        StatusCode::BAD_REQUEST
    } else if any(Outcome::InternalError) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    if status != StatusCode::OK
        && any(Outcome::Success)
        && let Some(code) = override_code
    {
        match u16::try_from(code)
            .ok()
            .filter(|c| (1..=599).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(code) => status = code,
            None => warnings.push(format!(
                "invalid HTTP response code override from partial_failure_response_code, \
                     reverting to {}",
                status.as_u16()
            )),
        }
    }
    envelope_with_status(
        status,
        &Results {
            batch_results: results,
        },
        &warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn malformed_batches_fail_whole_with_vaults_texts() {
        let err = |batch: Value| {
            parse(&batch, "plaintext", Some("missing plaintext to encrypt")).unwrap_err()
        };
        assert_eq!(
            err(json!("x")),
            ApiError::Wrapped(
                "failed to parse batch input: source data must be an array or slice, got string"
                    .into()
            )
        );
        assert_eq!(
            err(json!([])),
            ApiError::bad_request("missing batch input to process")
        );
        assert_eq!(
            err(json!(["x"])),
            ApiError::Wrapped(
                "failed to parse batch input: [0] expected a map, got 'string'".into()
            )
        );
        assert_eq!(
            err(json!([{"plaintext": 1}])),
            ApiError::Wrapped(
                "failed to parse batch input: '[0].plaintext' expected type 'string', got unconvertible type 'json.Number'".into()
            )
        );
        assert_eq!(
            err(json!([{"plaintext": "aGk="}, {}])),
            ApiError::Wrapped(
                "failed to parse batch input: '[1].plaintext' missing plaintext to encrypt".into()
            )
        );
    }

    #[test]
    fn items_carry_their_fields_and_references() {
        let items = parse(
            &json!([{"plaintext": "aGk=", "reference": "a", "key_version": 2, "context": "Yw=="}]),
            "plaintext",
            None,
        )
        .unwrap();
        assert_eq!(items[0].value.as_deref(), Some("aGk="));
        assert_eq!(items[0].reference, "a");
        assert_eq!(items[0].key_version, 2);
        assert!(check_contexts(&items).is_ok());
    }

    #[test]
    fn contexts_must_be_all_or_none() {
        let items = parse(
            &json!([{"ciphertext": "x", "context": "Yw=="}, {"ciphertext": "y"}]),
            "ciphertext",
            None,
        )
        .unwrap();
        assert!(check_contexts(&items).is_err());
    }
}
