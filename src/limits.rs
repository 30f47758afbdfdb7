//! Bounds on the work a hostile request can cause.

/// Size limits, checked before any hashing.
///
/// Exceeding one is a typed error: [`VerifyError::BodyTooLarge`](crate::VerifyError::BodyTooLarge)
/// or [`HeaderProblem::TooLong`](crate::HeaderProblem::TooLong) /
/// [`HeaderProblem::TooManyEntries`](crate::HeaderProblem::TooManyEntries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest body accepted, in bytes.
    ///
    /// Default: 5 MiB, above the largest batches providers document (SendGrid
    /// and Mailjet batch up to a few thousand events of a few hundred bytes).
    pub max_body_bytes: usize,
    /// Longest value of any header a scheme reads, in bytes.
    ///
    /// Default: 8 KiB, the common per-header limit of HTTP servers.
    pub max_header_bytes: usize,
    /// Most signature entries read from one signature header (Standard
    /// Webhooks' space-separated list, Stripe's comma-separated pairs).
    ///
    /// Default: 16, far more than any key rotation needs.
    pub max_signature_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            max_header_bytes: 8 * 1024,
            max_signature_entries: 16,
        }
    }
}

impl Limits {
    /// The defaults; the same as [`Limits::default`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    #[must_use]
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sets [`max_signature_entries`](Self::max_signature_entries).
    #[must_use]
    pub fn with_max_signature_entries(mut self, entries: usize) -> Self {
        self.max_signature_entries = entries;
        self
    }

    pub(crate) fn check_body(&self, body: &[u8]) -> Result<(), crate::VerifyError> {
        if body.len() > self.max_body_bytes {
            return Err(crate::VerifyError::BodyTooLarge {
                len: body.len(),
                limit: self.max_body_bytes,
            });
        }
        Ok(())
    }
}
