//! Request parameters: body and query decoding with Vault's rules.
//!
//! Vault reads a POST body as JSON whatever its `Content-Type`, unless the type is
//! the form type and the body does not start with `{` or `[`; GET, DELETE and LIST
//! take their parameters from the query string. Values are then converted to the
//! declared field types "weakly", as Vault's mapstructure decoding does (a number
//! where a string is expected becomes its text, `"4"` becomes 4, `"true"` becomes
//! true). Unknown parameters are ignored with a warning, never rejected.

use std::collections::BTreeSet;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::{Map, Value};

use super::error::ApiError;

/// The parameters of one request, before they are typed.
#[derive(Debug, Default)]
pub struct Params {
    values: Map<String, Value>,
}

impl Params {
    /// Parameters from a request body.
    ///
    /// # Errors
    /// A 400 with Vault's `failed to decode JSON input: ...` text for bodies that are
    /// not a JSON object.
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        let start = body.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = start else {
            return Ok(Self::default());
        };

        let is_form = content_type.is_some_and(|t| {
            t.trim_start()
                .starts_with("application/x-www-form-urlencoded")
        });
        if is_form && !matches!(body[start], b'{' | b'[') {
            return Ok(Self::from_pairs(form_urlencoded::parse(body)));
        }

        let value: Value = serde_json::from_slice(body).map_err(|e| {
            let detail = go_json_error(&e, body[start]);
            ApiError::bad_request(format!("failed to decode JSON input: {detail}"))
        })?;
        let kind = match value {
            Value::Object(values) => return Ok(Self { values }),
            Value::Null => return Ok(Self::default()),
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
        };
        Err(ApiError::bad_request(format!(
            "failed to decode JSON input: json: cannot unmarshal {kind} into Go value of type \
             map[string]interface {{}}"
        )))
    }

    /// Parameters from a query string (GET, DELETE, LIST).
    pub fn from_query(query: Option<&str>) -> Self {
        Self::from_pairs(form_urlencoded::parse(query.unwrap_or_default().as_bytes()))
    }

    fn from_pairs<'a>(
        pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> Self {
        let values = pairs
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Self { values }
    }

    /// Whether the parameter `name` is given with a value other than `null`.
    pub fn has(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_null())
    }

    /// The parameter `name` when it is a string.
    pub fn str_value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    /// Removes a parameter that the route handles itself (such as `list`).
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.values.remove(name)
    }

    /// Converts the parameters into `T`, returning Vault's warnings about
    /// parameters that `T` does not declare and about `path_fields` that the URL
    /// already fixes.
    ///
    /// # Errors
    /// A 400 `Field validation failed: error converting input for field "f": ...`.
    pub fn decode<T: DeserializeOwned>(
        &self,
        path_fields: &[&str],
    ) -> Result<(T, Vec<String>), ApiError> {
        self.decode_with(path_fields, true)
    }

    /// As [`Params::decode`], but conversion errors lack the `Field validation failed: `
    /// prefix, as on Vault's encrypt endpoint.
    ///
    /// # Errors
    /// A 400 `error converting input for field "f": ...`.
    pub fn decode_unprefixed<T: DeserializeOwned>(
        &self,
        path_fields: &[&str],
    ) -> Result<(T, Vec<String>), ApiError> {
        self.decode_with(path_fields, false)
    }

    fn decode_with<T: DeserializeOwned>(
        &self,
        path_fields: &[&str],
        prefixed: bool,
    ) -> Result<(T, Vec<String>), ApiError> {
        let declared = fields_of::<T>();
        let mut ignored = BTreeSet::new();
        let mut replaced = BTreeSet::new();
        for name in self.values.keys() {
            if path_fields.contains(&name.as_str()) {
                replaced.insert(name.as_str());
            } else if !declared.contains(&name.as_str()) {
                ignored.insert(name.as_str());
            }
        }

        let typed: T = serde_path_to_error::deserialize(&self.values).map_err(|e| {
            let field = e.path().to_string();
            let detail = e.into_inner().to_string();
            let message = format!("error converting input for field \"{field}\": {detail}");
            let prefix = if prefixed {
                "Field validation failed: "
            } else {
                ""
            };
            ApiError::bad_request(format!("{prefix}{message}"))
        })?;

        let mut warnings = Vec::new();
        if !ignored.is_empty() {
            warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                ignored.into_iter().collect::<Vec<_>>().join(" ")
            ));
        }
        if !replaced.is_empty() {
            warnings.push(format!(
                "Endpoint replaced the value of these parameters with the values captured from \
                 the endpoint's path: [{}]",
                replaced.into_iter().collect::<Vec<_>>().join(" ")
            ));
        }
        Ok((typed, warnings))
    }
}

/// Go's decoder message for the most common JSON errors: an early end, and a body
/// that does not start like a JSON value. Other syntax errors keep serde_json's
/// text after the same prefix.
fn go_json_error(err: &serde_json::Error, first: u8) -> String {
    if err.is_eof() {
        return "unexpected EOF".to_owned();
    }
    let starts_value = matches!(
        first,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
    );
    if !starts_value {
        return format!(
            "invalid character '{}' looking for beginning of value",
            char::from(first)
        );
    }
    err.to_string()
}

/// The field names a `#[derive(Deserialize)]` struct declares.
///
/// Serde hands the list to `deserialize_struct`; this probe deserializer records it
/// and stops.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields.unwrap_or(&[])
}

struct FieldProbe<'a>(&'a mut Option<&'static [&'static str]>);

#[derive(Debug)]
struct ProbeDone;

impl std::fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = Some(fields);
        Err(ProbeDone)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// For `#[serde(default, deserialize_with = "present")]`: a parameter sent as JSON
/// null is present (Vault treats a null `plaintext` as ""), unlike a missing one.
///
/// # Errors
/// The conversion error of `T`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn unconvertible<E: de::Error>(expected: &str, go_type: &str) -> E {
    E::custom(format!(
        "'' expected type '{expected}', got unconvertible type '{go_type}'"
    ))
}

fn cannot_parse<E: de::Error>(go_type: &str, func: &str) -> E {
    E::custom(format!(
        "'' cannot parse value as '{go_type}': strconv.{func}: invalid syntax"
    ))
}

/// Go's text for an integer that does not fit 64 bits.
fn out_of_range<E: de::Error>() -> E {
    E::custom("'' cannot parse value as 'int': strconv.ParseInt: value out of range")
}

/// Implements the visitor methods every weak type rejects the same way.
macro_rules! reject_containers {
    ($expected:literal) => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(unconvertible($expected, "[]interface {}"))
        }

        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(unconvertible($expected, "map[string]interface {}"))
        }
    };
}

/// A string parameter: numbers become their text, booleans `"1"`/`"0"`, and JSON
/// null an empty string (which is not the same as an absent parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeakString(pub String);

impl<'de> Deserialize<'de> for WeakString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WeakString;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<WeakString, E> {
                Ok(WeakString(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<WeakString, E> {
                Ok(WeakString(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WeakString, E> {
                Ok(WeakString(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WeakString, E> {
                Ok(WeakString(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WeakString, E> {
                Ok(WeakString(v.to_string()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WeakString, E> {
                Ok(WeakString(if v { "1" } else { "0" }.to_owned()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<WeakString, E> {
                Ok(WeakString::default())
            }

            reject_containers!("string");
        }
        d.deserialize_any(V)
    }
}

/// The text a JSON number becomes where a string is expected: an integer that fits 64
/// bits as written, any other number as the `f64` it reads as prints (Go keeps the
/// text as sent).
pub fn number_text(number: &serde_json::Number) -> String {
    if let Some(i) = number.as_i64() {
        i.to_string()
    } else if let Some(u) = number.as_u64() {
        u.to_string()
    } else {
        number.as_f64().unwrap_or_default().to_string()
    }
}

/// An integer parameter: numeric strings are parsed, `""` is 0, booleans 1/0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeakInt(pub i64);

impl<'de> Deserialize<'de> for WeakInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WeakInt;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WeakInt, E> {
                Ok(WeakInt(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WeakInt, E> {
                i64::try_from(v).map(WeakInt).map_err(|_| out_of_range())
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<WeakInt, E> {
                Err(cannot_parse("int", "ParseInt"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<WeakInt, E> {
                if v.is_empty() {
                    return Ok(WeakInt(0));
                }
                v.parse()
                    .map(WeakInt)
                    .map_err(|e: std::num::ParseIntError| match e.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => out_of_range(),
                        _ => cannot_parse("int", "ParseInt"),
                    })
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WeakInt, E> {
                Ok(WeakInt(i64::from(v)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<WeakInt, E> {
                Ok(WeakInt(0))
            }

            reject_containers!("int");
        }
        d.deserialize_any(V)
    }
}

/// A boolean parameter: Go `ParseBool` strings, `""` as false, numbers as non-zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeakBool(pub bool);

impl<'de> Deserialize<'de> for WeakBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WeakBool;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WeakBool, E> {
                Ok(WeakBool(v))
            }

            // A JSON number reaches Vault as its text and goes through ParseBool:
            // only 0 and 1 are booleans.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WeakBool, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WeakBool, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<WeakBool, E> {
                Err(cannot_parse("bool", "ParseBool"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<WeakBool, E> {
                match v {
                    "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(WeakBool(false)),
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(WeakBool(true)),
                    _ => Err(cannot_parse("bool", "ParseBool")),
                }
            }

            fn visit_unit<E: de::Error>(self) -> Result<WeakBool, E> {
                Ok(WeakBool(false))
            }

            reject_containers!("bool");
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "present")]
        text: Option<WeakString>,
        number: Option<WeakInt>,
        flag: Option<WeakBool>,
    }

    fn body(json: &str) -> Params {
        Params::from_body(Some("application/json"), json.as_bytes()).unwrap()
    }

    fn decode(json: &str) -> Result<(Probe, Vec<String>), ApiError> {
        body(json).decode::<Probe>(&["name"])
    }

    #[test]
    fn numbers_become_the_same_text_as_string_parameters_and_batch_fields() {
        let cases = [
            ("12", "12"),
            ("-12", "-12"),
            ("18446744073709551615", "18446744073709551615"),
            ("12.5", "12.5"),
            ("1.5e3", "1500"),
            ("-0", "-0"),
            ("18446744073709551616", "18446744073709552000"),
        ];
        for (json, text) in cases {
            let number: serde_json::Number = serde_json::from_str(json).unwrap();
            assert_eq!(number_text(&number), text, "{json}");
            let (probe, _) = decode(&format!(r#"{{"text": {json}}}"#)).unwrap();
            assert_eq!(probe.text.unwrap().0, text, "{json}");
        }
    }

    #[test]
    fn values_convert_weakly_like_vault() {
        let (p, _) = decode(r#"{"text":123,"number":"4","flag":"t"}"#).unwrap();
        assert_eq!(p.text, Some(WeakString("123".into())));
        assert_eq!(p.number, Some(WeakInt(4)));
        assert_eq!(p.flag, Some(WeakBool(true)));

        let (p, _) = decode(r#"{"text":null,"number":"","flag":0}"#).unwrap();
        assert_eq!(p.text, Some(WeakString(String::new())));
        assert_eq!(p.number, Some(WeakInt(0)));
        assert_eq!(p.flag, Some(WeakBool(false)));

        let (p, _) = decode("{}").unwrap();
        assert!(p.text.is_none() && p.number.is_none() && p.flag.is_none());
    }

    #[test]
    fn conversion_errors_name_the_field_in_vaults_words() {
        let err = decode(r#"{"number":"x"}"#).unwrap_err();
        assert_eq!(
            err,
            ApiError::bad_request(
                "Field validation failed: error converting input for field \"number\": '' \
                 cannot parse value as 'int': strconv.ParseInt: invalid syntax"
            )
        );
        for too_big in [
            r#"{"number":"99999999999999999999"}"#,
            r#"{"number":9223372036854775808}"#,
        ] {
            assert_eq!(
                decode(too_big).unwrap_err(),
                ApiError::bad_request(
                    "Field validation failed: error converting input for field \"number\": '' \
                     cannot parse value as 'int': strconv.ParseInt: value out of range"
                )
            );
        }
        let err = decode(r#"{"text":["a"]}"#).unwrap_err();
        assert!(
            format!("{err:?}").contains("got unconvertible type '[]interface {}'"),
            "{err:?}"
        );
        let err = body(r#"{"flag":"perhaps"}"#)
            .decode_unprefixed::<Probe>(&[])
            .unwrap_err();
        assert!(format!("{err:?}").contains("\"error converting input for field \\\"flag\\\""));
    }

    #[test]
    fn unknown_and_path_parameters_are_warned_about_in_sorted_order() {
        let (_, warnings) = decode(r#"{"text":"a","zeta":1,"alpha":2,"name":"x"}"#).unwrap();
        assert_eq!(
            warnings,
            vec![
                "Endpoint ignored these unrecognized parameters: [alpha zeta]".to_owned(),
                "Endpoint replaced the value of these parameters with the values captured from \
                 the endpoint's path: [name]"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn bodies_are_json_whatever_the_content_type_unless_a_real_form() {
        let form = Some("application/x-www-form-urlencoded");
        let json = Params::from_body(form, br#"{"text":"aGk="}"#).unwrap();
        assert_eq!(json.decode::<Probe>(&[]).unwrap().0.text.unwrap().0, "aGk=");

        let real_form = Params::from_body(form, b"text=aGk%3D").unwrap();
        assert_eq!(
            real_form.decode::<Probe>(&[]).unwrap().0.text.unwrap().0,
            "aGk="
        );

        assert!(Params::from_body(None, b"").unwrap().values.is_empty());
        assert!(Params::from_body(None, b"null").unwrap().values.is_empty());
    }

    #[test]
    fn non_object_json_is_refused_with_gos_message() {
        let err = Params::from_body(None, b"[1]").unwrap_err();
        assert_eq!(
            err,
            ApiError::bad_request(
                "failed to decode JSON input: json: cannot unmarshal array into Go value of type \
                 map[string]interface {}"
            )
        );
        let err = Params::from_body(None, br#"{"plaintext":"#).unwrap_err();
        assert_eq!(
            err,
            ApiError::bad_request("failed to decode JSON input: unexpected EOF")
        );
    }
}
