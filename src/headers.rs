//! Case-insensitive header lookup over whatever header type the caller has.
//!
//! [`Headers`] is implemented for [`http::HeaderMap`] and for slices, arrays and
//! vectors of `(name, value)` pairs, so callers on another `http` version or
//! framework are not locked out. It is dyn-compatible (`&dyn Headers` works).
//!
//! Deliberate choices, applied by every scheme through one function:
//! - a header that appears more than once is refused as
//!   [`HeaderProblem::Repeated`]: proxies may join or reorder repeated headers,
//!   so which copy was signed is ambiguous;
//! - a value that is not UTF-8 is [`HeaderProblem::NotUtf8`];
//! - a value longer than [`Limits::max_header_bytes`] is
//!   [`HeaderProblem::TooLong`], checked before anything else reads it.

use std::borrow::Cow;

use crate::error::{HeaderProblem, VerifyError};
use crate::limits::Limits;

/// What a lookup found for one header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup<'a> {
    /// No header of that name.
    Absent,
    /// Exactly one header of that name, with its raw value.
    One(&'a [u8]),
    /// More than one header of that name.
    Repeated,
}

/// A case-insensitive view of a request's headers.
pub trait Headers {
    /// Finds the header `name`, ignoring ASCII case.
    fn lookup(&self, name: &str) -> Lookup<'_>;
}

impl<T: Headers + ?Sized> Headers for &T {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        (**self).lookup(name)
    }
}

impl Headers for http::HeaderMap {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        let mut values = self.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Lookup::Absent,
            (Some(v), None) => Lookup::One(v.as_bytes()),
            (Some(_), Some(_)) => Lookup::Repeated,
        }
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for [(K, V)] {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        let mut values = self
            .iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref());
        match (values.next(), values.next()) {
            (None, _) => Lookup::Absent,
            (Some(v), None) => Lookup::One(v),
            (Some(_), Some(_)) => Lookup::Repeated,
        }
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> Headers for [(K, V); N] {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(K, V)> {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }
}

/// The one place where schemes read a header: present once, UTF-8, within
/// the limit. `Ok(None)` when absent.
pub(crate) fn optional<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &'static str,
    limits: &Limits,
) -> Result<Option<&'h str>, VerifyError> {
    optional_named(headers, &Cow::Borrowed(name), limits)
}

/// Like [`optional`], but the header must be present.
pub(crate) fn required<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &'static str,
    limits: &Limits,
) -> Result<&'h str, VerifyError> {
    required_named(headers, &Cow::Borrowed(name), limits)
}

/// [`required`] for a header name configured at run time.
// The `Cow` is cloned into the error only, which keeps `'static` names free of
// allocation on every path.
#[allow(clippy::ptr_arg)]
pub(crate) fn required_named<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &Cow<'static, str>,
    limits: &Limits,
) -> Result<&'h str, VerifyError> {
    match optional_named(headers, name, limits)? {
        Some(v) => Ok(v),
        None => Err(VerifyError::MissingHeader { name: name.clone() }),
    }
}

#[allow(clippy::ptr_arg)]
fn optional_named<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &Cow<'static, str>,
    limits: &Limits,
) -> Result<Option<&'h str>, VerifyError> {
    let name_for_error = || name.clone();
    match headers.lookup(name) {
        Lookup::Absent => Ok(None),
        Lookup::Repeated => Err(VerifyError::malformed(
            name_for_error(),
            HeaderProblem::Repeated,
        )),
        Lookup::One(bytes) => {
            if bytes.len() > limits.max_header_bytes {
                return Err(VerifyError::malformed(
                    name_for_error(),
                    HeaderProblem::TooLong {
                        len: bytes.len(),
                        limit: limits.max_header_bytes,
                    },
                ));
            }
            match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(VerifyError::malformed(
                    name_for_error(),
                    HeaderProblem::NotUtf8,
                )),
            }
        }
    }
}

/// Parses a Unix timestamp in seconds: ASCII digits only, no sign, no
/// whitespace, no overflow. The error names the header `name`.
pub(crate) fn parse_timestamp(
    value: &str,
    name: impl FnOnce() -> Cow<'static, str>,
) -> Result<i64, VerifyError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(t) = value.parse::<i64>() {
            return Ok(t);
        }
    }
    Err(VerifyError::malformed(
        name(),
        HeaderProblem::InvalidTimestamp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_lookup_ignores_ascii_case() {
        let h = [("Webhook-ID", "a")];
        assert_eq!(h.lookup("webhook-id"), Lookup::One(b"a"));
        assert_eq!(h.lookup("webhook-idx"), Lookup::Absent);
    }

    #[test]
    fn header_map_lookup_ignores_case_and_sees_repeats() {
        let mut h = http::HeaderMap::new();
        h.append("x-sig", http::HeaderValue::from_static("1"));
        assert_eq!(h.lookup("X-Sig"), Lookup::One(b"1"));
        h.append("x-sig", http::HeaderValue::from_static("2"));
        assert_eq!(h.lookup("x-sig"), Lookup::Repeated);
    }

    #[test]
    fn repeated_header_is_malformed() {
        let h = vec![("x-sig", "1"), ("X-SIG", "2")];
        let e = required(&h, "x-sig", &Limits::default()).err();
        assert_eq!(e.map(|e| e.code()), Some("malformed_header"));
    }

    #[test]
    fn non_utf8_value_is_malformed() {
        let h: [(&str, &[u8]); 1] = [("x-sig", &[0xff, 0xfe])];
        let e = required(&h, "x-sig", &Limits::default()).err();
        assert_eq!(
            e,
            Some(VerifyError::malformed("x-sig", HeaderProblem::NotUtf8))
        );
    }

    #[test]
    fn over_long_value_is_malformed() {
        let long = "a".repeat(Limits::default().max_header_bytes + 1);
        let h = [("x-sig", long.as_str())];
        let e = required(&h, "x-sig", &Limits::default()).err();
        assert!(matches!(
            e,
            Some(VerifyError::MalformedHeader {
                problem: HeaderProblem::TooLong { .. },
                ..
            })
        ));
    }

    #[test]
    fn timestamps_are_plain_digits() {
        let name = || Cow::Borrowed("t");
        assert_eq!(
            parse_timestamp("1614265330", name).ok(),
            Some(1_614_265_330)
        );
        for bad in ["", "-1", "+1", " 1", "1.5", "99999999999999999999", "0x10"] {
            assert!(parse_timestamp(bad, name).is_err(), "{bad}");
        }
    }
}
