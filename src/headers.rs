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

use http::HeaderName;

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

    /// Finds the header `name`, already parsed as an `http` header name
    /// (always lowercase). The default calls [`lookup`](Self::lookup);
    /// `http::HeaderMap` overrides it to skip parsing the name on every
    /// request.
    fn lookup_http(&self, name: &HeaderName) -> Lookup<'_> {
        self.lookup(name.as_str())
    }

    /// Every value of the header `name`, in order (ignoring ASCII case):
    /// for a list a proxy may spread over several lines, such as
    /// `X-Forwarded-For`. `None` when this implementation cannot list the
    /// values of a repeated header; the default lists a single one
    /// ([`lookup`](Self::lookup)) and no more.
    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        match self.lookup(name) {
            Lookup::Absent => Some(Vec::new()),
            Lookup::One(value) => Some(vec![value]),
            Lookup::Repeated => None,
        }
    }
}

impl<T: Headers + ?Sized> Headers for &T {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        (**self).lookup(name)
    }

    fn lookup_http(&self, name: &HeaderName) -> Lookup<'_> {
        (**self).lookup_http(name)
    }

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        (**self).lookup_all(name)
    }
}

impl Headers for http::HeaderMap {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        one_of(self.get_all(name).iter())
    }

    fn lookup_http(&self, name: &HeaderName) -> Lookup<'_> {
        one_of(self.get_all(name).iter())
    }

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        Some(
            self.get_all(name)
                .iter()
                .map(http::HeaderValue::as_bytes)
                .collect(),
        )
    }
}

fn one_of<'a>(mut values: impl Iterator<Item = &'a http::HeaderValue>) -> Lookup<'a> {
    match (values.next(), values.next()) {
        (None, _) => Lookup::Absent,
        (Some(v), None) => Lookup::One(v.as_bytes()),
        (Some(_), Some(_)) => Lookup::Repeated,
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

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        Some(
            self.iter()
                .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref())
                .collect(),
        )
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> Headers for [(K, V); N] {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        self.as_slice().lookup_all(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(K, V)> {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        self.as_slice().lookup_all(name)
    }
}

/// A header name as schemes hold it: the text for lookups and errors, and
/// the parsed `http` name (when valid) for the fast `HeaderMap` path.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    text: Cow<'static, str>,
    http: Option<HeaderName>,
}

impl Name {
    /// A name known at compile time; it must be lowercase (checked by
    /// `HeaderName::from_static` at compile time).
    pub(crate) const fn from_static(lowercase: &'static str) -> Self {
        Self {
            text: Cow::Borrowed(lowercase),
            http: Some(HeaderName::from_static(lowercase)),
        }
    }

    /// A name configured at run time. One that is not a valid HTTP header
    /// name can never be present in a `HeaderMap`, so it is looked up as text.
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        let http = HeaderName::from_bytes(name.as_bytes()).ok();
        Self { text: name, http }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn lookup<'h, H: Headers + ?Sized>(&self, headers: &'h H) -> Lookup<'h> {
        match &self.http {
            Some(name) => headers.lookup_http(name),
            None => headers.lookup(&self.text),
        }
    }

    pub(crate) fn error_name(&self) -> Cow<'static, str> {
        // Free for the `'static` names of the presets; only a run-time name
        // is copied, and only on the error path.
        self.text.clone()
    }
}

/// The one place where schemes read a header: present once, UTF-8, within
/// the limit. `Ok(None)` when absent.
pub(crate) fn optional<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &Name,
    limits: &Limits,
) -> Result<Option<&'h str>, VerifyError> {
    match name.lookup(headers) {
        Lookup::Absent => Ok(None),
        Lookup::Repeated => Err(VerifyError::malformed(
            name.error_name(),
            HeaderProblem::Repeated,
        )),
        Lookup::One(bytes) => {
            if bytes.len() > limits.max_header_bytes {
                return Err(VerifyError::malformed(
                    name.error_name(),
                    HeaderProblem::TooLong {
                        len: bytes.len(),
                        limit: limits.max_header_bytes,
                    },
                ));
            }
            match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(VerifyError::malformed(
                    name.error_name(),
                    HeaderProblem::NotUtf8,
                )),
            }
        }
    }
}

/// Like [`optional`], but the header must be present.
pub(crate) fn required<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &Name,
    limits: &Limits,
) -> Result<&'h str, VerifyError> {
    optional(headers, name, limits)?.ok_or_else(|| VerifyError::MissingHeader {
        name: name.error_name(),
    })
}

/// Whether a header is present at all (once or more).
pub(crate) fn present<H: Headers + ?Sized>(headers: &H, name: &Name) -> bool {
    name.lookup(headers) != Lookup::Absent
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

    const SIG: Name = Name::from_static("x-sig");

    #[test]
    fn run_time_names_that_are_not_http_names_are_looked_up_as_text() {
        let odd = Name::new(Cow::Borrowed("X Sig"));
        let h = [("x sig", "1")];
        assert_eq!(optional(&h, &odd, &Limits::default()), Ok(Some("1")));
        let map = http::HeaderMap::new();
        assert_eq!(optional(&map, &odd, &Limits::default()), Ok(None));
    }

    #[test]
    fn header_map_fast_path_finds_names_in_any_case() {
        let mut map = http::HeaderMap::new();
        map.insert("X-Sig", http::HeaderValue::from_static("1"));
        assert_eq!(required(&map, &SIG, &Limits::default()), Ok("1"));
        let mixed = Name::new(Cow::Borrowed("X-SIG"));
        assert_eq!(required(&map, &mixed, &Limits::default()), Ok("1"));
    }

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
        let e = required(&h, &SIG, &Limits::default()).err();
        assert_eq!(e.map(|e| e.code()), Some("malformed_header"));
    }

    #[test]
    fn non_utf8_value_is_malformed() {
        let h: [(&str, &[u8]); 1] = [("x-sig", &[0xff, 0xfe])];
        let e = required(&h, &SIG, &Limits::default()).err();
        assert_eq!(
            e,
            Some(VerifyError::malformed("x-sig", HeaderProblem::NotUtf8))
        );
    }

    #[test]
    fn over_long_value_is_malformed() {
        let long = "a".repeat(Limits::default().max_header_bytes + 1);
        let h = [("x-sig", long.as_str())];
        let e = required(&h, &SIG, &Limits::default()).err();
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
