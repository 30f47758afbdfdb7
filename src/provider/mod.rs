//! Email providers: for each, a verifier, the native payload as typed serde
//! models, and normalization into [`EmailEvent`](crate::EmailEvent)s.
//!
//! | provider | authenticated by | event id | signed | default replay window |
//! |---|---|---|---|---|
//! | [`mailgun`] | HMAC-SHA256 of `signature.timestamp` + `signature.token` | `event-data.id` | timestamp and token only, **not the event data** | 5 minutes each way |
//! | [`postmark`] | basic auth in the webhook URL (and optionally a secret header) | `ID` where present, else a digest | nothing is signed | none (nothing signed) |
//! | [`ses`] (via [`sns`]) | RSA signature of the SNS envelope, certificate from an `sns.<region>.amazonaws.com` URL | SNS `MessageId` (+ recipient) | the whole envelope | none (SNS resends the same envelope) |
//! | [`sendgrid`] | ECDSA P-256 over timestamp + body | `sg_event_id` | timestamp and body | none by default (retries last 72 h) |
//! | [`resend`] | Standard Webhooks (`svix-*` headers) | the `svix-id` header | id, timestamp and body | 5 minutes each way |
//!
//! Parsing is drift-tolerant: unknown event types become
//! [`EventKind::Unknown`](crate::EventKind::Unknown) with the original JSON
//! kept, unknown fields are ignored, and numbers may arrive as strings.

pub mod mailgun;
pub mod postmark;
pub mod resend;
pub mod sendgrid;
pub mod ses;
pub mod sns;

pub(crate) mod timestamp;

pub use timestamp::Timestamp;
