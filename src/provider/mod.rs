//! Email providers: for each, a verifier, the native payload as typed serde
//! models, and normalization into [`EmailEvent`](crate::EmailEvent)s.
//!
//! | provider | authenticated by | event id | signed | default replay window |
//! |---|---|---|---|---|
//! | [`postmark`] | basic auth in the webhook URL (and optionally a secret header) | `ID` where present, else a digest | nothing is signed | none (nothing signed) |
//! | [`sendgrid`] | ECDSA P-256 over timestamp + body | `sg_event_id` | timestamp and body | none by default (retries last 72 h) |
//! | [`resend`] | Standard Webhooks (`svix-*` headers) | the `svix-id` header | id, timestamp and body | 5 minutes each way |
//!
//! Parsing is drift-tolerant: unknown event types become
//! [`EventKind::Unknown`](crate::EventKind::Unknown) with the original JSON
//! kept, unknown fields are ignored, and numbers may arrive as strings.

pub mod postmark;
pub mod resend;
pub mod sendgrid;

mod timestamp;

pub use timestamp::Timestamp;
