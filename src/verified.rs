//! The success value of every verifier.

use time::OffsetDateTime;

/// Proof that a request was verified, with what the signature covered.
///
/// Only verifiers in this crate can make one. It borrows from the request's
/// headers, so verifying allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'h> {
    id: Option<&'h str>,
    timestamp: Option<i64>,
    key_index: usize,
}

impl<'h> Verified<'h> {
    pub(crate) fn new(id: Option<&'h str>, timestamp: Option<i64>, key_index: usize) -> Self {
        Self {
            id,
            timestamp,
            key_index,
        }
    }

    /// The signed delivery id, where the scheme signs one (Standard Webhooks'
    /// `webhook-id`). It is the natural idempotency key for the delivery.
    #[must_use]
    pub fn id(&self) -> Option<&'h str> {
        self.id
    }

    /// The signed timestamp in Unix seconds, where the scheme signs one.
    #[must_use]
    pub fn unix_timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The signed timestamp as a date, where the scheme signs one and it is
    /// within the range `time` supports.
    #[must_use]
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.timestamp
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// Which configured key matched: 0 is the first key given to the
    /// verifier, 1 the next, and so on. Useful to see when a rotated-out key
    /// stops being used.
    #[must_use]
    pub fn key_index(&self) -> usize {
        self.key_index
    }
}
