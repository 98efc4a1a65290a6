//! Base64 exactly as Vault decodes it.
//!
//! Vault decodes with Go's `base64.StdEncoding`: the standard alphabet with
//! padding required, `\r` and `\n` skipped anywhere, non-zero trailing bits
//! accepted, and errors that name the offset of the first bad byte in the original
//! input (`illegal base64 data at input byte N`). Clients see those offsets, so the
//! rules below reproduce Go's, case for case.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

/// Go's lenient trailing-bits handling on the standard alphabet.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Input that is not valid base64, with the offset Go reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {0}")]
pub struct Base64Error(pub usize);

/// Decodes standard, padded base64 with Go's rules.
///
/// # Errors
/// [`Base64Error`] with the offset of the first byte Go would complain about.
pub fn decode_std(input: &str) -> Result<Vec<u8>, Base64Error> {
    // Fast path: the SIMD decoder accepts only canonical, padded base64 without line
    // breaks, a subset of what Go accepts, and decodes it to the same bytes. Anything
    // it refuses takes the lenient decoder, then the walk that finds Go's offset or
    // removes line breaks.
    let bytes = input.as_bytes();
    if let Ok(decoded) = base64_simd::STANDARD.decode_to_vec(bytes) {
        return Ok(decoded);
    }
    if memchr::memchr2(b'\n', b'\r', bytes).is_none()
        && let Ok(decoded) = LENIENT.decode(bytes)
    {
        return Ok(decoded);
    }
    let clean = validate(bytes)?;
    LENIENT.decode(&clean).map_err(|_| Base64Error(0))
}

/// Encodes bytes as standard, padded base64.
pub fn encode_std(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Appends `bytes` to `out` (a `String` or a `Vec<u8>`) as standard, padded base64.
pub fn append_std(bytes: &[u8], out: &mut impl base64_simd::AppendBase64Encode) {
    base64_simd::STANDARD.encode_append(bytes, out);
}

/// Decodes unpadded URL-safe base64 (JWS signatures).
///
/// # Errors
/// [`Base64Error`] when the input is not valid.
pub fn decode_url_nopad(input: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(input).map_err(|_| Base64Error(0))
}

/// Encodes bytes as unpadded URL-safe base64.
pub fn encode_url_nopad(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Walks the input quantum by quantum as Go's decoder does and returns it without
/// newlines, or the offset of the first error.
fn validate(src: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut clean = Vec::with_capacity(src.len());
    let mut si = 0;

    loop {
        // One quantum: up to four alphabet characters.
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return match j {
                    0 => Ok(clean),
                    // Missing padding: Go points at the start of the quantum.
                    _ => Err(Base64Error(si - j)),
                };
            }
            let b = src[si];
            si += 1;
            if is_alphabet(b) {
                clean.push(b);
                j += 1;
                continue;
            }
            if is_newline(b) {
                continue;
            }
            if b != b'=' {
                return Err(Base64Error(si - 1));
            }
            return finish_padding(src, si, j, clean);
        }
    }
}

/// Handles a `=` met at position `j` of a quantum; `si` is just past it.
fn finish_padding(
    src: &[u8],
    mut si: usize,
    j: usize,
    mut clean: Vec<u8>,
) -> Result<Vec<u8>, Base64Error> {
    let skip_newlines = |mut i: usize| {
        while i < src.len() && is_newline(src[i]) {
            i += 1;
        }
        i
    };

    match j {
        0 | 1 => return Err(Base64Error(si - 1)),
        2 => {
            // "==" is needed; the first "=" is consumed.
            si = skip_newlines(si);
            if si == src.len() {
                return Err(Base64Error(src.len()));
            }
            if src[si] != b'=' {
                return Err(Base64Error(si - 1));
            }
            si += 1;
            clean.extend_from_slice(b"==");
        }
        _ => clean.push(b'='),
    }

    si = skip_newlines(si);
    if si < src.len() {
        return Err(Base64Error(si));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    /// Offsets observed from OpenBao 2.7.2 for each input.
    #[test]
    fn error_offsets_match_go() {
        let cases = [
            ("!!!", 0),
            ("abc", 0),
            ("YWJjZA", 4),
            ("YQ", 0),
            ("YWJj\tZA==", 4),
            ("YW Jj", 2),
            (" YWJjZA==", 0),
            ("YWJjZA==  ", 8),
            ("-_-_", 0),
            ("YWJ-", 3),
            ("YWJ_ZA==", 3),
            ("YWJj%ZA==", 4),
            ("YWJj=", 4),
            ("YWJjZA=", 7),
            ("=", 0),
            ("====", 0),
            ("YQ==YQ==", 4),
            ("YWJjZA==YQ", 8),
            ("YWJjZGVm!", 8),
            ("123", 0),
        ];
        for (input, offset) in cases {
            assert_eq!(decode_std(input), Err(Base64Error(offset)), "{input:?}");
        }
    }

    #[test]
    fn newlines_are_skipped_and_trailing_bits_allowed_like_go() {
        assert_eq!(decode_std("YWJj\nZA==").unwrap(), b"abcd");
        assert_eq!(decode_std("YWJjZA==\n").unwrap(), b"abcd");
        assert_eq!(decode_std("YWJj\r\nZA=\n=").unwrap(), b"abcd");
        assert_eq!(decode_std("YR==").unwrap(), b"a");
        assert_eq!(decode_std("").unwrap(), b"");
        assert_eq!(decode_std("1234").unwrap().len(), 3);
    }

    #[test]
    fn the_fast_path_accepts_exactly_what_the_walk_accepts() {
        let inputs = [
            "",
            "YQ==",
            "YWI=",
            "YWJj",
            "YR==",
            "YWJjZA",
            "YQ=",
            "YQ===",
            "=YQ=",
            "YW=j",
            "Y",
            "YWJ-",
            "YWJj ZA==",
            "YQ==YQ==",
            "AAAA====",
            "////",
            "+/+/",
        ];
        for input in inputs {
            let walked = validate(input.as_bytes())
                .and_then(|clean| LENIENT.decode(&clean).map_err(|_| Base64Error(usize::MAX)));
            assert_eq!(decode_std(input).is_ok(), walked.is_ok(), "{input:?}");
            if let (Ok(fast), Ok(slow)) = (decode_std(input), walked) {
                assert_eq!(fast, slow, "{input:?}");
            }
        }
    }

    /// The SIMD encoder and the fast decoding path against the `base64` crate, over
    /// every length up to a few SIMD blocks and random bytes from the OS.
    #[test]
    fn simd_paths_agree_with_the_base64_crate() {
        let mut bytes = vec![0u8; 300];
        getrandom::fill(&mut bytes).unwrap();
        for len in 0..bytes.len() {
            let data = &bytes[..len];
            let reference = STANDARD.encode(data);
            assert_eq!(encode_std(data), reference, "length {len}");
            let mut appended = String::from("vault:v1:");
            append_std(data, &mut appended);
            assert_eq!(appended, format!("vault:v1:{reference}"));
            assert_eq!(decode_std(&reference).unwrap(), data, "length {len}");
            // A changed last data character before the padding sets trailing bits:
            // refused by the SIMD decoder, accepted by Go with the same bytes.
            if len % 3 != 0 {
                let mut noisy = reference.clone().into_bytes();
                let last = noisy.iter().rposition(|&b| b != b'=').unwrap();
                noisy[last] = if noisy[last] == b'/' { b'+' } else { b'/' };
                let noisy = String::from_utf8(noisy).unwrap();
                let lenient = LENIENT.decode(&noisy).unwrap();
                assert_eq!(decode_std(&noisy).unwrap(), lenient, "length {len}");
            }
        }
    }

    #[test]
    fn the_service_docs_secret_round_trips() {
        // `echo SECRET | base64` keeps the trailing newline of echo.
        assert_eq!(decode_std("U0VDUkVUCg==").unwrap(), b"SECRET\n");
        assert_eq!(encode_std(b"SECRET\n"), "U0VDUkVUCg==");
    }

    #[test]
    fn error_text_matches_vault() {
        assert_eq!(
            Base64Error(4).to_string(),
            "illegal base64 data at input byte 4"
        );
    }
}
