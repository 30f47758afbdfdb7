//! `application/x-www-form-urlencoded` bodies, as Twilio and Mailgun's
//! legacy webhooks send them.
//!
//! Parsing is two-step so that nothing is copied before a request is
//! authenticated: [`pairs`] splits the body into borrowed, still-encoded
//! `name=value` pairs (after counting them against
//! [`Limits::max_form_params`], before allocating anything), and
//! [`decoded`] decodes a field lazily, byte by byte, where a verifier needs
//! it. [`decode`] makes an owned copy, for parsing events after
//! verification.

use std::cmp::Ordering;

use crate::encoding;
use crate::error::VerifyError;
use crate::limits::Limits;

/// Whether a `Content-Type` value is form encoding (parameters ignored).
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    essence_is(content_type, "application/x-www-form-urlencoded")
}

/// Whether a `Content-Type` value is `multipart/form-data` (parameters
/// ignored).
pub(crate) fn is_multipart(content_type: Option<&str>) -> bool {
    essence_is(content_type, "multipart/form-data")
}

fn essence_is(content_type: Option<&str>, wanted: &str) -> bool {
    content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(wanted)
    })
}

/// One `name=value` pair, borrowed from the body and still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    /// The encoded name.
    pub(crate) name: &'a [u8],
    /// The encoded value (empty when the pair has no `=`).
    pub(crate) value: &'a [u8],
}

impl Pair<'_> {
    /// Whether the decoded name is `wanted`, without decoding into memory.
    pub(crate) fn is(&self, wanted: &[u8]) -> bool {
        decoded(self.name).eq(wanted.iter().copied())
    }

    /// Orders pairs by decoded name, then decoded value (byte-wise), without
    /// decoding into memory.
    pub(crate) fn cmp_decoded(&self, other: &Self) -> Ordering {
        decoded(self.name)
            .cmp(decoded(other.name))
            .then_with(|| decoded(self.value).cmp(decoded(other.value)))
    }
}

fn malformed() -> VerifyError {
    VerifyError::InvalidPayload {
        detail: "malformed percent-encoding in the form body",
    }
}

/// Splits `body` into its pairs: `&`-separated `name=value`, empty pairs
/// skipped. The number of pairs is checked against
/// [`Limits::max_form_params`] before anything is allocated, and every
/// `%XX` escape is checked, so [`decoded`] cannot fail afterwards.
pub(crate) fn pairs<'a>(body: &'a [u8], limits: &Limits) -> Result<Vec<Pair<'a>>, VerifyError> {
    let count = body
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .count();
    if count > limits.max_form_params {
        return Err(VerifyError::TooManyParameters {
            limit: limits.max_form_params,
        });
    }
    let mut out = Vec::with_capacity(count);
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        check_escapes(name)?;
        check_escapes(value)?;
        out.push(Pair { name, value });
    }
    Ok(out)
}

/// Every `%` must be followed by two hex digits: a malformed escape is an
/// error, not a guess.
fn check_escapes(input: &[u8]) -> Result<(), VerifyError> {
    let mut rest = input;
    while let Some(i) = rest.iter().position(|&b| b == b'%') {
        let digits = rest.get(i + 1..i + 3).ok_or_else(malformed)?;
        if encoding::hex_digit(digits[0]).is_none() || encoding::hex_digit(digits[1]).is_none() {
            return Err(malformed());
        }
        rest = &rest[i + 3..];
    }
    Ok(())
}

/// The decoded bytes of a field checked by [`pairs`]: `+` is a space,
/// `%XX` a byte. Allocates nothing.
pub(crate) fn decoded(input: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut rest = input;
    std::iter::from_fn(move || {
        let (&b, tail) = rest.split_first()?;
        match b {
            b'+' => {
                rest = tail;
                Some(b' ')
            }
            b'%' if tail.len() >= 2 => {
                let hi = encoding::hex_digit(tail[0]).unwrap_or(0);
                let lo = encoding::hex_digit(tail[1]).unwrap_or(0);
                rest = &tail[2..];
                Some((hi << 4) | lo)
            }
            _ => {
                rest = tail;
                Some(b)
            }
        }
    })
}

/// Feeds the decoded bytes of `input` to `sink` in chunks, through a small
/// stack buffer.
pub(crate) fn decode_into(input: &[u8], sink: &mut dyn FnMut(&[u8])) {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        sink(input);
        return;
    }
    let mut buf = [0u8; 256];
    let mut len = 0;
    for b in decoded(input) {
        buf[len] = b;
        len += 1;
        if len == buf.len() {
            sink(&buf);
            len = 0;
        }
    }
    if len > 0 {
        sink(&buf[..len]);
    }
}

/// An owned copy of a decoded field, as text (invalid UTF-8 replaced).
pub(crate) fn decode(input: &[u8]) -> String {
    let bytes: Vec<u8> = decoded(input).collect();
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// `text` form-encoded (`application/x-www-form-urlencoded`): unreserved
/// bytes as they are, space as `+`, every other byte as `%XX`. For
/// simulated deliveries.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            other => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(other >> 4)]));
                out.push(char::from(HEX[usize::from(other & 15)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = Vec<(Vec<u8>, Vec<u8>)>;

    fn decoded_pairs(body: &[u8]) -> Result<Decoded, VerifyError> {
        Ok(pairs(body, &Limits::default())?
            .iter()
            .map(|p| (decoded(p.name).collect(), decoded(p.value).collect()))
            .collect())
    }

    #[test]
    fn form_decoding_handles_plus_and_escapes() -> Result<(), VerifyError> {
        let got = decoded_pairs(b"From=%2B1415+x&Empty=&Flag&&")?;
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"From".to_vec(), b"+1415 x".to_vec()),
            (b"Empty".to_vec(), Vec::new()),
            (b"Flag".to_vec(), Vec::new()),
        ];
        assert_eq!(got, expected);
        Ok(())
    }

    #[test]
    fn malformed_escape_is_an_error() {
        for bad in [&b"a=%"[..], b"a=%2", b"a=%zz", b"%g0=1", b"a=%%41"] {
            assert_eq!(
                pairs(bad, &Limits::default()).err().map(|e| e.code()),
                Some("invalid_payload")
            );
        }
    }

    #[test]
    fn parameter_count_is_limited_before_splitting() {
        let limits = Limits::default().with_max_form_params(3);
        assert!(pairs(b"a&b&c", &limits).is_ok());
        assert!(pairs(b"a&b&c&&&", &limits).is_ok());
        assert_eq!(
            pairs(b"a&b&c&d", &limits).err(),
            Some(VerifyError::TooManyParameters { limit: 3 })
        );
    }

    #[test]
    fn decode_into_matches_decoded_across_chunk_edges() {
        let input: Vec<u8> = b"%41+".repeat(300);
        let mut out = Vec::new();
        decode_into(&input, &mut |chunk| out.extend_from_slice(chunk));
        assert_eq!(out, decoded(&input).collect::<Vec<_>>());
        assert_eq!(out.len(), 600);
        assert_eq!(decode(b"caf%C3%A9+%FF"), "café \u{fffd}");
    }
}
