//! `batch_input` handling.
//!
//! Encrypt, decrypt and rewrap read a batch as a JSON array of objects with typed
//! fields, decoded strictly as Vault decodes it (a field of the wrong JSON type fails
//! the whole request with a 500). Each item then succeeds or fails on its own; the
//! answer's status follows Vault's rule for encrypt and decrypt (200 when every item
//! succeeded, else 400 if any item failed for a client reason, else 500, unless
//! `partial_failure_response_code` overrides it), while rewrap always answers 200.
//!
//! Sign, verify and hmac read each item as a map of strings instead ([`StringItem`]):
//! a field is either present, with a string value, or absent.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::http::error::ApiError;
use crate::http::params::number_text;
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

/// One item of a sign, verify or hmac batch: a map of strings, as Vault decodes it.
///
/// A JSON `null` item has no fields; a field given as `null` is present and empty,
/// and a number is present as its text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StringItem(BTreeMap<String, String>);

impl StringItem {
    /// The field `name`, if the item has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Takes the field `name` out of the item, if it has it.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }
}

/// Decodes a sign, verify or hmac `batch_input`. `item_type` is Go's name for the
/// item type (`batchRequestSignItem`), which Vault's error texts quote.
///
/// # Errors
/// 400 for an empty batch; 500 (wrapped) when the batch is not an array, or with one
/// line for each item or field that is not a map or a string.
pub fn parse_string_items(batch: &Value, item_type: &str) -> Result<Vec<StringItem>, ApiError> {
    let Value::Array(entries) = batch else {
        // Go's reflection kind of the value; a JSON number is a json.Number, a string.
        let kind = match batch {
            Value::Object(_) => "map",
            Value::String(_) | Value::Number(_) => "string",
            Value::Bool(_) => "bool",
            Value::Array(_) | Value::Null => "invalid",
        };
        return Err(parse_failure(format!(
            "'' source data must be an array or slice, got {kind}"
        )));
    };

    let mut problems = Vec::new();
    let mut items = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let mut item = StringItem::default();
        match entry {
            Value::Null => {}
            Value::Object(fields) => {
                for (name, value) in fields {
                    let text = match value {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        Value::Number(n) => number_text(n),
                        other => {
                            problems.push(format!(
                                "'[{i}][{name}]' expected type 'string', got unconvertible \
                                 type '{}'",
                                go_type(other)
                            ));
                            continue;
                        }
                    };
                    item.0.insert(name.clone(), text);
                }
            }
            other => problems.push(format!(
                "'[{i}]' expected type 'transit.{item_type}', got unconvertible type '{}'",
                go_type(other)
            )),
        }
        items.push(item);
    }

    if !problems.is_empty() {
        return Err(parse_failure(format!(
            "decoding failed due to the following error(s):\n\n{}",
            problems.join("\n")
        )));
    }
    if items.is_empty() {
        return Err(ApiError::bad_request("missing batch input to process"));
    }
    Ok(items)
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
    fn string_items_keep_present_fields_only() {
        let items = parse_string_items(
            &json!([null, {"input": null, "reference": 7}, {"input": "aGk=", "context": ""}]),
            "batchRequestSignItem",
        )
        .unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], StringItem::default());
        assert_eq!(items[1].get("input"), Some(""));
        assert_eq!(items[1].get("reference"), Some("7"));
        assert_eq!(items[1].get("context"), None);
        assert_eq!(items[2].get("input"), Some("aGk="));
        assert_eq!(items[2].get("context"), Some(""));
    }

    #[test]
    fn string_items_report_every_malformed_item_in_order() {
        let err = |batch: Value| parse_string_items(&batch, "batchRequestVerifyItem").unwrap_err();
        assert_eq!(
            err(json!([{"input": true}, "x", {}, {"m": {}}, 4])),
            ApiError::Wrapped(
                "failed to parse batch input: decoding failed due to the following error(s):\n\n\
                 '[0][input]' expected type 'string', got unconvertible type 'bool'\n\
                 '[1]' expected type 'transit.batchRequestVerifyItem', got unconvertible type 'string'\n\
                 '[3][m]' expected type 'string', got unconvertible type 'map[string]interface {}'\n\
                 '[4]' expected type 'transit.batchRequestVerifyItem', got unconvertible type 'json.Number'"
                    .into()
            )
        );
        assert_eq!(
            err(json!({"input": "aGk="})),
            ApiError::Wrapped(
                "failed to parse batch input: '' source data must be an array or slice, got map"
                    .into()
            )
        );
        assert_eq!(
            err(json!(5)),
            ApiError::Wrapped(
                "failed to parse batch input: '' source data must be an array or slice, got string"
                    .into()
            )
        );
        assert_eq!(
            err(json!([])),
            ApiError::bad_request("missing batch input to process")
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
