//! The `vault:vN:payload` strings that carry ciphertexts and signatures.
//!
//! Parsing follows Vault: the value must start with `<prefix>:v`, the rest splits at
//! the first `:` into a decimal version (Go `Atoi` rules: an optional sign and
//! leading zeros are fine) and a payload. The prefix is `vault` unless configured
//! otherwise. The configured prefix, `vault` and `vault-kms` (the managed service's)
//! are always accepted, so changing the configured prefix between the two keeps
//! every value written before readable.

use std::fmt;

/// Vault's prefix, accepted whatever the configured one is.
pub const VAULT_PREFIX: &str = "vault";

/// A parsed versioned value, borrowing its payload from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned<'a> {
    /// The key version named in the value (may be 0 or negative; rules apply later).
    pub version: i64,
    /// The encoded payload after the second colon.
    pub payload: &'a str,
}

/// Why a string is not a versioned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// It does not start with `<prefix>:v`.
    NoPrefix,
    /// There is no `:` after the version.
    WrongNumberOfFields,
    /// The version is not a decimal integer.
    BadVersion,
}

impl ParseError {
    /// Vault's message for this error, for a value of `noun` ("ciphertext", "signature").
    pub fn message(self, noun: &str) -> String {
        match self {
            ParseError::NoPrefix => format!("invalid {noun}: no prefix"),
            ParseError::WrongNumberOfFields => format!("invalid {noun}: wrong number of fields"),
            ParseError::BadVersion => {
                format!("invalid {noun}: version number could not be decoded")
            }
        }
    }
}

/// The prefix this server writes, such as `vault` or `vault-kms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// `<prefix>:v`, the text a value starts with.
    head: String,
}

impl Prefix {
    /// A prefix named `name` (without the trailing `:v`).
    pub fn new(name: &str) -> Self {
        Self {
            head: format!("{name}:v"),
        }
    }

    /// Formats `payload` (already encoded) under `version`.
    pub fn format(&self, version: u32, payload: &str) -> String {
        let mut out = String::with_capacity(self.head.len() + 12 + payload.len());
        out.push_str(&self.head);
        out.push_str(itoa::Buffer::new().format(version));
        out.push(':');
        out.push_str(payload);
        out
    }

    /// Formats `payload` under `version`, encoding it in base64 straight into the
    /// answer instead of through a separate string.
    pub fn format_bytes(&self, version: u32, payload: &[u8]) -> String {
        let mut out = String::with_capacity(self.head.len() + 12 + payload.len().div_ceil(3) * 4);
        out.push_str(&self.head);
        out.push_str(itoa::Buffer::new().format(version));
        out.push(':');
        crate::encoding::append_std(payload, &mut out);
        out
    }

    /// Appends `payload` under `version` to a JSON text being written; the prefix is
    /// letters, digits, `-` and `_` (the config checks it), so nothing needs escapes.
    pub fn append_bytes(&self, version: u32, payload: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
        out.push(b':');
        crate::encoding::append_std(payload, out);
    }

    /// Parses a value written with this prefix or with Vault's.
    ///
    /// # Errors
    /// [`ParseError`] when the value is not a versioned value.
    pub fn parse<'a>(&self, value: &'a str) -> Result<Versioned<'a>, ParseError> {
        let rest = value
            .strip_prefix(self.head.as_str())
            .or_else(|| value.strip_prefix("vault:v"))
            .or_else(|| value.strip_prefix("vault-kms:v"))
            .ok_or(ParseError::NoPrefix)?;
        let (version, payload) = rest
            .split_once(':')
            .ok_or(ParseError::WrongNumberOfFields)?;
        let version = version.parse::<i64>().map_err(|_| ParseError::BadVersion)?;
        Ok(Versioned { version, payload })
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Self::new(VAULT_PREFIX)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head.trim_end_matches(":v"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_vault_values() {
        let prefix = Prefix::default();
        let value = prefix.format(3, "AAAA");

        assert_eq!(value, "vault:v3:AAAA");
        assert_eq!(
            prefix.parse(&value).unwrap(),
            Versioned {
                version: 3,
                payload: "AAAA"
            }
        );
    }

    #[test]
    fn a_custom_prefix_also_accepts_vault_values() {
        let prefix = Prefix::new("vault-kms");

        assert_eq!(prefix.format(1, "x"), "vault-kms:v1:x");
        assert_eq!(prefix.parse("vault-kms:v2:x").unwrap().version, 2);
        assert_eq!(prefix.parse("vault:v2:x").unwrap().version, 2);
        assert_eq!(prefix.parse("other:v2:x"), Err(ParseError::NoPrefix));

        // Switching back to Vault's prefix keeps the service's values readable.
        assert_eq!(
            Prefix::default().parse("vault-kms:v3:x").unwrap().version,
            3
        );
    }

    #[test]
    fn parsing_follows_go_atoi_and_splits_at_the_first_colon() {
        let prefix = Prefix::default();

        assert_eq!(prefix.parse("vault:v01:x").unwrap().version, 1);
        assert_eq!(prefix.parse("vault:v+1:x").unwrap().version, 1);
        assert_eq!(prefix.parse("vault:v1:a:b").unwrap().payload, "a:b");
        assert_eq!(
            prefix.parse("vault:v1"),
            Err(ParseError::WrongNumberOfFields)
        );
        assert_eq!(prefix.parse("vault:vx:AAAA"), Err(ParseError::BadVersion));
        assert_eq!(prefix.parse("vault:v:AAAA"), Err(ParseError::BadVersion));
        assert_eq!(prefix.parse("AAAA"), Err(ParseError::NoPrefix));
    }

    #[test]
    fn error_messages_match_vault() {
        assert_eq!(
            ParseError::NoPrefix.message("ciphertext"),
            "invalid ciphertext: no prefix"
        );
        assert_eq!(
            ParseError::BadVersion.message("signature"),
            "invalid signature: version number could not be decoded"
        );
    }
}
