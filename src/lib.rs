//! # mailhook
//!
//! Receive email-provider webhooks safely: prove a request really came from
//! the provider, reject replays, and turn every provider's payload into one
//! typed event model, [`EmailEvent`], with a stable
//! [`idempotency_key`](EmailEvent::idempotency_key) for processing each event
//! once.
//!
//! Three separable steps: **verify** (the [`scheme`] and [`provider`]
//! verifiers), **parse** (each provider's `parse`, into native typed models
//! and then [`EmailEvent`]s), **dedupe** (claim the idempotency key in an
//! [`idempotency::IdempotencyStore`] before handling, complete it after,
//! release it on failure). Each provider also offers `verify_and_parse…` for
//! the common case.
//!
//! ## Quick start
//!
//! Verify a [Standard Webhooks](https://www.standardwebhooks.com/) request
//! (what Svix and Resend send) over the raw body bytes:
//!
//! ```
//! use mailhook::scheme::standard::StandardWebhooks;
//! use mailhook::Secret;
//!
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), mailhook::VerifyError> {
//! let verifier = StandardWebhooks::new(
//!     Secret::from_standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?,
//! );
//! let verified = verifier.verify(headers, body)?;
//! println!("delivery {:?} signed at {:?}", verified.id(), verified.timestamp());
//! # Ok(()) }
//! ```
//!
//! Build a verifier once and share it (it is `Send + Sync`); verification
//! takes `&self`, reads the headers in place and allocates nothing for the
//! HMAC schemes.
//!
//! Headers come through the [`Headers`] trait, implemented for
//! [`http::HeaderMap`] and for slices, arrays and vectors of `(name, value)`
//! pairs; implement it for any other header type.
//!
//! ## Limits and defaults
//!
//! | setting | default | where |
//! |---|---|---|
//! | largest body | 5 MiB | [`Limits::max_body_bytes`] |
//! | longest header value | 8 KiB | [`Limits::max_header_bytes`] |
//! | signature entries per header | 16 | [`Limits::max_signature_entries`] |
//! | replay window | 5 minutes each way, edges inclusive | [`ReplayWindow`] |
//!
//! ## Email providers
//!
//! | provider | module | authenticated by | event id | what is signed | default replay window |
//! |---|---|---|---|---|---|
//! | SendGrid | [`provider::sendgrid`] | ECDSA P-256 over timestamp + body | `sg_event_id` | timestamp and body | none (SendGrid retries for 72 h with the original timestamp); opt in |
//! | Mailgun | [`provider::mailgun`] | HMAC-SHA256 of `timestamp` + `token` in the body | `event-data.id` | timestamp and token only, **not the event data**; a [`pipeline::Pipeline`] with a store refuses a reused token | 5 minutes each way |
//! | Amazon SES | [`provider::ses`] via [`provider::sns`] | RSA signature of the SNS envelope, certificate from a checked `sns.<region>.amazonaws.com` URL | SNS `MessageId` + recipient | the whole envelope | none (SNS resends the same envelope) |
//! | Postmark | [`provider::postmark`] | basic auth in the webhook URL (and optionally a secret header) | `ID` where present, else a digest | nothing | none |
//! | Resend | [`provider::resend`] | Standard Webhooks (`svix-*` headers) | the `svix-id` header | id, timestamp and body | 5 minutes each way |
//!
//! ```
//! use mailhook::provider::sendgrid::{self, SendgridPublicKey, SendgridVerifier};
//!
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), mailhook::Error> {
//! let verifier = SendgridVerifier::new(SendgridPublicKey::parse(
//!     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
//! )?);
//! for event in verifier.verify_and_parse_at(headers, body, time::OffsetDateTime::now_utc())? {
//!     println!("{} {:?} {:?}", event.idempotency_key(), event.kind, event.recipient);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Schemes
//!
//! | scheme | type | signed content | replay window |
//! |---|---|---|---|
//! | Standard Webhooks `v1` / `v1a` (also `svix-*` headers) | [`scheme::standard::StandardWebhooks`] | `id.timestamp.body`, HMAC-SHA256 base64 or Ed25519 | 5 min each way |
//! | Stripe | [`scheme::stripe::StripeVerifier`] | `t.body`, HMAC-SHA256 hex, every `v1` tried | 5 min each way |
//! | GitHub | [`scheme::github::GitHubVerifier`] | body, HMAC-SHA256 hex, `sha256=` (SHA-1 refused) | none (not signed) |
//! | Slack | [`scheme::slack::verifier`] | `v0:timestamp:body`, HMAC-SHA256 hex, `v0=` | 5 min each way |
//! | Shopify | [`scheme::shopify::verifier`] | body, HMAC-SHA256 base64 | none (not signed) |
//! | Twilio | [`scheme::twilio::TwilioVerifier`] | URL + sorted form params, HMAC-SHA1 base64 | none (not signed) |
//! | your own | [`scheme::hmac::HmacVerifier`] | body, or prefix + timestamp + separator + body | 5 min each way when timestamped |
//!
//! ## Security model
//!
//! - **Raw bytes in.** Every verifier takes the body exactly as received, as
//!   `&[u8]`; nothing is re-serialized. Bodies need not be UTF-8.
//! - **Fail closed.** A verifier cannot be built without a key. Request
//!   content never decides whether to verify. Unknown signature versions are
//!   skipped, never accepted; a request with no signature the configured keys
//!   can check is refused (`unsupported_scheme`).
//! - **Constant time.** MACs are compared with [`subtle`] after decoding the
//!   signature into a fixed-size stack buffer; only lengths, which are public,
//!   short-circuit.
//! - **Secrets stay secret.** [`Secret`] and [`Ed25519SigningKey`] zeroize
//!   on drop, print as `[redacted]`, and have no `PartialEq`, `Display` or
//!   `Serialize`. A verifier consumes its secrets: it computes each HMAC key
//!   schedule once (saving two hash compressions per request) and drops the
//!   secret, which zeroizes it. Those keyed states are key-equivalent; they
//!   print as `[redacted]` and are overwritten on drop, a best-effort wipe
//!   since the `hmac` crate offers no zeroize. No error or `Debug` output
//!   contains a secret, a computed MAC or the body.
//! - **Bounded work.** [`Limits`] caps the body size, each header's length and
//!   the number of signature entries; they are checked before any hashing.
//! - **Replays.** Timestamped schemes check a [`ReplayWindow`] (default five
//!   minutes each way; a timestamp exactly at the edge passes). Turning the
//!   check off is spelled `dangerous_disable_replay_check`. A window only
//!   bounds replays; to process each delivery once, deduplicate on the signed
//!   id ([`Verified::id`]).
//! - **Repeated headers** are refused as malformed: which copy was signed is
//!   ambiguous once a proxy joins them.
//!
//! ## Errors
//!
//! [`VerifyError::code`] gives a stable `snake_case` code: `missing_header`,
//! `malformed_header`, `invalid_secret`, `invalid_signature`,
//! `timestamp_too_old`, `timestamp_too_new`, `unsupported_scheme`,
//! `missing_body`, `body_too_large`, `unauthorized`,
//! `untrusted_certificate_url`, `invalid_certificate`, `replayed` (a
//! reused Mailgun token, refused by a pipeline with a store),
//! `invalid_payload`.
//! Parsing fails with [`ParseError`] (`invalid_payload`); [`Error`] holds
//! either, with the same `code()`.
//!
//! ## Crate features
//!
//! | feature | default | what it adds | cost |
//! |---|---|---|---|
//! | `cli` | off | the `mailhook` binary (`verify`, `parse`, `sign`) for debugging webhooks | clap |
//! | `redis` | off | [`idempotency::RedisStore`], shared by replicas (Redis 7+) | redis, tokio |
//! | `actix-web` | off | [`adapters::actix`]: a body-limited extractor and bare-status rejections | actix-web |
//! | `axum` | off | [`adapters::axum`]: a body-limited extractor and bare-status rejections | axum |
//! | `postgres` | off | [`idempotency::PostgresStore`], shared by replicas, completion inside your transaction | tokio-postgres, tokio |
//!
//! With no features the crate needs no async runtime and does no I/O; the
//! store traits return `Send` futures usable from any runtime.

#![forbid(unsafe_code)]

pub mod adapters;
mod basic_auth;
mod encoding;
mod error;
mod event;
mod form;
mod headers;
pub mod idempotency;
mod limits;
mod mac;
pub mod pipeline;
pub mod provider;
mod replay;
pub mod scheme;
mod secret;
mod verified;

pub use basic_auth::BasicAuth;
pub use error::{Error, HeaderProblem, JsonPosition, ParseError, SecretError, VerifyError};
pub use event::{EmailEvent, EventKind, Provider, RejectReason};
pub use headers::{Headers, Lookup};
pub use limits::Limits;
pub use replay::{Clock, FixedClock, ReplayWindow, SystemClock};
pub use secret::{Ed25519PublicKey, Ed25519SigningKey, Secret};
pub use verified::Verified;

/// The README's Rust examples, compiled and run as doc tests so they cannot
/// rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
