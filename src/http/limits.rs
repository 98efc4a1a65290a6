//! Limits on request bodies that OpenBao enforces before anything else reads them.

use super::error::ApiError;

/// OpenBao refuses a JSON body holding more strings than this, object keys included
/// (its default `max_request_json_strings`); it bounds, among others, batch sizes.
pub const MAX_JSON_STRINGS: usize = 1000;

/// Refuses, as OpenBao does before it even looks at the token, a JSON body with more
/// than [`MAX_JSON_STRINGS`] strings. Bodies that are not JSON pass; the parser
/// judges them later.
///
/// # Errors
/// 400 `refused JSON input due to high complexity: exceeded maximum number of strings`.
pub fn check_json_complexity(body: &[u8]) -> Result<(), ApiError> {
    let starts_like_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if starts_like_json && count_json_strings(body, MAX_JSON_STRINGS + 1) > MAX_JSON_STRINGS {
        return Err(ApiError::bad_request(
            "refused JSON input due to high complexity: exceeded maximum number of strings",
        ));
    }
    Ok(())
}

/// The number of string literals in a JSON text, counting no further than `stop`.
fn count_json_strings(body: &[u8], stop: usize) -> usize {
    let mut count = 0;
    let mut at = 0;
    while count < stop {
        let Some(open) = memchr::memchr(b'"', &body[at..]) else {
            break;
        };
        at += open + 1;
        // Skip to the closing quote: one that no backslash escapes.
        loop {
            let Some(next) = memchr::memchr2(b'"', b'\\', &body[at..]) else {
                return count;
            };
            at += next + 1;
            if body[at - 1] == b'"' {
                break;
            }
            at += 1; // the escaped character
            if at > body.len() {
                return count;
            }
        }
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_with_more_than_a_thousand_strings_are_refused_as_in_openbao() {
        // 1 key + 499 items x (key + value) = 999 strings: accepted; 500 items: 1001.
        let batch = |items: usize| {
            let item = r#"{"plaintext":"aGk="}"#;
            format!(r#"{{"batch_input":[{}]}}"#, vec![item; items].join(","))
        };
        assert!(check_json_complexity(batch(499).as_bytes()).is_ok());
        let refused = check_json_complexity(batch(500).as_bytes()).unwrap_err();
        assert!(
            matches!(refused, ApiError::BadRequest(m) if m.contains("maximum number of strings"))
        );
        // Escaped quotes do not end a string; form bodies are not counted.
        assert_eq!(count_json_strings(br#"{"a\"b":"c\\"}"#, 10), 2);
        assert_eq!(count_json_strings(br#"{"a":"unterminated\"#, 10), 1);
        assert!(check_json_complexity("a=b&c=d".repeat(2000).as_bytes()).is_ok());
    }
}
