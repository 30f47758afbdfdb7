//! The events of a JSON delivery: one object, or an array of them, split
//! into each event's raw JSON with the count bounded while reading; and
//! each element read as its provider's native type, or kept as unknown.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ParseError;

/// What shape a provider's JSON body takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Always an array of events (SendGrid).
    Array,
    /// One event object, or an array of them (a provider's grouped mode).
    ObjectOrArray,
}

struct Elements<'a> {
    max: usize,
    shape: Shape,
    _body: std::marker::PhantomData<&'a ()>,
}

impl<'de> Visitor<'de> for Elements<'de> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            Shape::Array => f.write_str("a JSON array of events"),
            Shape::ObjectOrArray => f.write_str("a JSON event object or an array of them"),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Grows with what is read, never with a size hint from the input.
        let mut out = Vec::new();
        while let Some(element) = seq.next_element::<&'de RawValue>()? {
            if out.len() == self.max {
                return Err(de::Error::custom("too many events"));
            }
            out.push(element);
        }
        Ok(out)
    }
}

/// The raw JSON of each event in `body`, at most `max` of them. The body is
/// read once: an object (where the shape allows one) is the one event;
/// otherwise the array's elements are split off as they are read.
pub(crate) fn elements(
    body: &[u8],
    shape: Shape,
    max: usize,
) -> Result<Vec<&RawValue>, ParseError> {
    let not_json = |e: &serde_json::Error| match shape {
        Shape::Array => ParseError::json("the body is not a JSON array", e),
        Shape::ObjectOrArray => ParseError::json("the body is not a JSON object or array", e),
    };
    if shape == Shape::ObjectOrArray && body.trim_ascii_start().starts_with(b"{") {
        let raw: &RawValue = serde_json::from_slice(body).map_err(|e| not_json(&e))?;
        return Ok(vec![raw]);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let elements = deserializer
        .deserialize_seq(Elements {
            max,
            shape,
            _body: std::marker::PhantomData,
        })
        .and_then(|elements| deserializer.end().map(|()| elements))
        .map_err(|e| {
            if e.to_string().starts_with("too many events") {
                too_many()
            } else {
                not_json(&e)
            }
        })?;
    Ok(elements)
}

/// The refusal of a delivery with more events than the limit.
pub(crate) fn too_many() -> ParseError {
    ParseError::new("the delivery has more events than the limit")
}

/// The one JSON object a provider sends per request (an array or a scalar
/// is not one).
pub(crate) fn object(body: &[u8]) -> Result<&RawValue, ParseError> {
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not a JSON object", &e))?;
    if !raw.get().starts_with('{') {
        return Err(ParseError::new("the body is not a JSON object"));
    }
    Ok(raw)
}

/// The event of one element: its provider's native type `T` normalized,
/// or, when the element is not one (a number, another shape), an
/// [`EventKind::Unknown`](crate::EventKind::Unknown) event keyed by the
/// element's bytes, so that it never costs its neighbours.
pub(crate) fn native_or_unknown<T: serde::de::DeserializeOwned>(
    provider: crate::Provider,
    raw: &RawValue,
    normalize: impl FnOnce(T, &RawValue) -> crate::EmailEvent,
) -> crate::EmailEvent {
    match serde_json::from_str::<T>(raw.get()) {
        Ok(native) => normalize(native, raw),
        Err(_) => unknown(provider, raw),
    }
}

/// An [`EventKind::Unknown`](crate::EventKind::Unknown) event of `raw`,
/// keyed by its bytes.
fn unknown(provider: crate::Provider, raw: &RawValue) -> crate::EmailEvent {
    use sha2::Digest as _;
    let mut event = crate::EmailEvent::new(provider, crate::EventKind::Unknown, raw.to_owned());
    event.set_fingerprint(&sha2::Sha256::digest(raw.get().as_bytes()));
    event
}

/// The events of a body of `shape` holding at most `max` elements, each
/// read as [`native_or_unknown`] reads it.
pub(crate) fn all<T: serde::de::DeserializeOwned>(
    provider: crate::Provider,
    body: &[u8],
    shape: Shape,
    max: usize,
    normalize: impl Fn(T, &RawValue) -> crate::EmailEvent,
) -> Result<Vec<crate::EmailEvent>, ParseError> {
    Ok(elements(body, shape, max)?
        .into_iter()
        .map(|raw| native_or_unknown(provider, raw, &normalize))
        .collect())
}

/// The event of `raw`, one event object that names its kind in the string
/// field `kind`: `T` normalized, or, when it names its kind but this model
/// cannot read it (a field of another type), an
/// [`EventKind::Unknown`](crate::EventKind::Unknown) event keyed by its
/// bytes, so that an odd field never costs the event. An object that names
/// no kind is not the provider's: `what`, a [`ParseError`].
pub(crate) fn named<T: serde::de::DeserializeOwned>(
    provider: crate::Provider,
    raw: &RawValue,
    kind: &str,
    what: &'static str,
    normalize: impl FnOnce(T, &RawValue) -> crate::EmailEvent,
) -> Result<crate::EmailEvent, ParseError> {
    match serde_json::from_str::<T>(raw.get()) {
        Ok(native) => Ok(normalize(native, raw)),
        Err(_) if names_its(raw, kind) => Ok(unknown(provider, raw)),
        Err(error) => Err(ParseError::json(what, &error)),
    }
}

/// Whether `raw` is an object whose field `kind` is a string, read without
/// building the object: every other value is skipped.
fn names_its(raw: &RawValue, kind: &str) -> bool {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    struct Finder<'k>(&'k str);

    impl<'de> DeserializeSeed<'de> for Finder<'_> {
        type Value = bool;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Finder<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut named = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.0 {
                    named = map.next_value::<serde_json::Value>()?.is_string();
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(named)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    Finder(kind).deserialize(&mut deserializer).unwrap_or(false)
}

/// The events of a body that holds one event object of type `T`.
pub(crate) fn one<T: serde::de::DeserializeOwned>(
    provider: crate::Provider,
    body: &[u8],
    normalize: impl FnOnce(T, &RawValue) -> crate::EmailEvent,
) -> Result<Vec<crate::EmailEvent>, ParseError> {
    Ok(vec![native_or_unknown(provider, object(body)?, normalize)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_names_its_kind_only_with_a_top_level_string() {
        let names = |json: &str| {
            let raw: Box<RawValue> = serde_json::from_str(json).unwrap_or_else(|_| unreachable!());
            names_its(&raw, "type")
        };
        assert!(names(r#"{"a": [1, {"type": 2}], "type": "email.sent"}"#));
        assert!(names(r#"{"t\u0079pe": "escaped key"}"#));
        assert!(!names(r#"{"type": 5}"#));
        assert!(!names(r#"{"data": {"type": "nested"}}"#));
        assert!(!names(r#"["type", "email.sent"]"#));
        assert!(!names(r#""type""#));
    }

    #[test]
    fn objects_arrays_and_the_count_limit() {
        let n = |body: &str, shape| elements(body.as_bytes(), shape, 3).map(|v| v.len()).ok();
        assert_eq!(n("[{}, {}, {}]", Shape::Array), Some(3));
        assert!(n("[{}, {}, {}, {}]", Shape::Array).is_none());
        assert!(n("{}", Shape::Array).is_none());
        assert_eq!(n(" {\"a\":1} ", Shape::ObjectOrArray), Some(1));
        assert_eq!(n("[]", Shape::ObjectOrArray), Some(0));
        assert!(n("1", Shape::ObjectOrArray).is_none());
        assert!(n("[{}, {}", Shape::Array).is_none());
        assert!(n("[{}] trailing", Shape::Array).is_none());
        assert!(n("{} {}", Shape::ObjectOrArray).is_none());
    }
}
