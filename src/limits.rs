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
    /// and other batching providers send a few thousand events of a few
    /// hundred bytes at most).
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
    /// Most `name=value` parameters read from a form-encoded body (Twilio,
    /// Mailgun's legacy webhooks), counted before anything is allocated.
    ///
    /// Default: 1,000. Twilio's requests carry a few dozen parameters and
    /// Mailgun's legacy events a few dozen plus the sender's custom
    /// variables; a body of millions of empty parameters (`a&a&a…`) is
    /// refused before it costs memory.
    pub max_form_params: usize,
    /// Most recipients one provider event may fan out to (an SES event
    /// lists every recipient of a message and becomes one event per
    /// recipient).
    ///
    /// Default: 100. SES accepts at most 50 recipients per message
    /// (<https://docs.aws.amazon.com/ses/latest/dg/quotas.html>), so this is
    /// above any real event and bounds the fan-out of a hostile one.
    pub max_recipients_per_event: usize,
    /// Most events one delivery may carry (a SendGrid batch, a grouped
    /// delivery), counted while the body is read, before an event
    /// is built.
    ///
    /// Default: 10,000. Batching providers send at most a few thousand
    /// events per request; a body of a million `{}` elements is refused
    /// before it costs a million events' memory.
    pub max_events_per_delivery: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            max_header_bytes: 8 * 1024,
            max_signature_entries: 16,
            max_form_params: 1_000,
            max_recipients_per_event: 100,
            max_events_per_delivery: 10_000,
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

    /// Sets [`max_form_params`](Self::max_form_params).
    #[must_use]
    pub fn with_max_form_params(mut self, params: usize) -> Self {
        self.max_form_params = params;
        self
    }

    /// Sets [`max_recipients_per_event`](Self::max_recipients_per_event).
    #[must_use]
    pub fn with_max_recipients_per_event(mut self, recipients: usize) -> Self {
        self.max_recipients_per_event = recipients;
        self
    }

    /// Sets [`max_events_per_delivery`](Self::max_events_per_delivery).
    #[must_use]
    pub fn with_max_events_per_delivery(mut self, events: usize) -> Self {
        self.max_events_per_delivery = events;
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
