//! # email-webhooks
//!
//! Receive email-provider webhooks safely: prove a request really came from
//! the provider, reject replays, and turn every provider's payload into one
//! typed event model, [`EmailEvent`], with a stable
//! [`idempotency_key`](EmailEvent::idempotency_key) for processing each event
//! once.
//!
//! Three separable steps: **verify** (the [`scheme`] mechanisms, each an
//! [`Authenticate`](scheme::Authenticate) over the one [`Request`] type),
//! **parse** (each provider's native typed models, normalized into
//! [`EmailEvent`]s), **dedupe** (claim the idempotency key in an
//! [`idempotency::IdempotencyStore`] before handling, complete it after,
//! release it on failure). A [`pipeline::Pipeline`] runs all three for any
//! [`provider::EmailProvider`], and the adapters serve every configured
//! provider on one route, `POST /webhooks/{provider}`, answering what each
//! provider requires. The providers are listed once, in a registry
//! ([`Provider::ALL`]); adding your own is one `impl` (see [`provider`]).
//!
//! Two ways to receive: the handler runs in the request
//! ([`pipeline::Pipeline::run`]), or the durable handoff
//! ([`pipeline::Pipeline::hand_off`]) enqueues a delivery's new events on a
//! [`queue::Queue`] (SQLite, PostgreSQL, Redis Streams) in one atomic,
//! idempotent call and answers at once, and a `worker::Worker` (feature
//! `worker`) handles them with retries, backoff and a dead-letter set.
//!
//! Received mail has its own model, [`InboundMessage`]: the messages a
//! provider received for your domains and posted to you, parsed from the
//! provider's fields or from raw MIME ([`inbound`]), with their
//! attachments decoded and bounded by [`InboundLimits`] (the twelve
//! providers with an entry in the registry's
//! [`ProviderInfo::inbound`](provider::ProviderInfo::inbound)). The
//! adapters serve them at `POST /webhooks/{provider}/inbound`
//! ([`inbound::InboundProviders`]), handled in the request or handed off
//! to a queue, with what a provider only refers to fetched through your
//! [`inbound::ContentSource`].
//!
//! How to use it for one task at a time (choosing a receive mode, running
//! replicas, rotating keys, what to answer, debugging a signature, moving
//! to the worker) is [the manual](guide/index.html), the `guide` module
//! (built with every feature, as on docs.rs).
//!
//! ## Quick start
//!
//! Verify a [Standard Webhooks](https://www.standardwebhooks.com/) request
//! (what Svix and Resend send) over the raw body bytes:
//!
//! ```
//! use email_webhooks::scheme::standard::StandardWebhooks;
//! use email_webhooks::Secret;
//!
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), email_webhooks::VerifyError> {
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
//! | form parameters (Twilio, Mailgun legacy), counted before allocating | 1,000 | [`Limits::max_form_params`] |
//! | recipients one SES event fans out to | 100 (SES allows 50) | [`Limits::max_recipients_per_event`] |
//! | events in one delivery (a batch), counted while reading | 10,000 | [`Limits::max_events_per_delivery`] |
//! | replay window | 5 minutes each way, edges inclusive; per provider below | [`Policy`], [`ReplayWindow`] |
//! | SNS certificates cached / failure remembered | 32 URLs / 10 s | [`provider::sns::CertificateCache`] |
//! | idempotency lease / retention | 60 s / 7 days | [`pipeline::Pipeline`] |
//! | in-memory store capacity | 100,000 keys, oldest completions evicted first | [`idempotency::MemoryStore`] |
//!
//! ## Email providers
//!
//! The registry ([`Provider::ALL`]) is the one list of providers; this table
//! is checked against it by the test suite.
//!
//! | provider | module | authenticated by | event id | what is signed | default replay window |
//! |---|---|---|---|---|---|
//! | SendGrid | [`provider::sendgrid`] | ECDSA P-256 over timestamp + body, or basic auth in the webhook URL, or both | `sg_event_id` | timestamp and body (nothing with basic auth alone) | 73 h past, 5 min ahead (covers SendGrid's retries) |
//! | Mailgun | [`provider::mailgun`] | HMAC-SHA256 of `timestamp` + `token` in the body | `event-data.id` | timestamp and token only, **not the event data**; a pipeline's store refuses a reused token with another body | 9 hours past (Mailgun's 8 hours of retries), 5 minutes ahead |
//! | Amazon SES | [`provider::ses`] | RSA signature of the SNS envelope from **a listed topic**, certificate from a checked `sns.<region>.amazonaws.com` URL | SNS `MessageId` + recipient | the whole envelope | 2 h past, 5 min ahead (SNS retries end within an hour) |
//! | Postmark | [`provider::postmark`] | basic auth in the webhook URL (and optionally a secret header) | `ID` where present, else a digest | nothing | none |
//! | Resend | [`provider::resend`] | Standard Webhooks (`svix-*` headers) | the signed id header (`svix-id`, or `webhook-id`) | id, timestamp and body | 5 minutes each way |
//! | Mailjet | [`provider::mailjet`] | basic auth in the callback URL | none: a digest of every field that tells two events apart | nothing | none |
//! | GetResponse | [`provider::getresponse`] | a secret query parameter in the webhook URL (default `secret`) | the `X-Webhook-ID` header | nothing | none |
//! | Mandrill (Mailchimp Transactional) | [`provider::mandrill`] | `X-Mandrill-Signature`: HMAC-SHA1 (base64) with the webhook key | none: a digest of message id, event, time, recipient and click details | the configured URL and the sorted form (`mandrill_events`) | none |
//! | SparkPost | [`provider::sparkpost`] | basic auth, or an OAuth2 bearer token you issued | `event_id` | nothing | none |
//! | MailerSend | [`provider::mailersend`] | `Signature`: HMAC-SHA256 (hex) with the webhook's signing secret (its `webhook.test` ping: the published test secret) | `data.id` for `activity.*`, else a digest of `type` and `data` | the body | none |
//! | Mailtrap | [`provider::mailtrap`] | `Mailtrap-Signature`: HMAC-SHA256 (hex) with the webhook's signing secret, or basic auth | `event_id` | the body (nothing with basic auth) | none |
//! | Brevo | [`provider::brevo`] | basic auth in the webhook URL, or a bearer token | none: a digest of every field that tells two events apart | nothing | none |
//! | Postal | [`provider::postal`] | RSA signature of the body (`X-Postal-Signature-256`, SHA-256; SHA-1 `X-Postal-Signature` from older servers) | `uuid` | the body (with its `timestamp`) | 1 day past, 5 min ahead (Postal retries for about 36 minutes) |
//! | Unisender Go | [`provider::unisender_go`] | the body's `auth`: MD5 of the body with it replaced by the API key | none: a digest of every field that tells two events apart | the body (a weak keyed MD5) | none |
//! | SMTP2GO | [`provider::smtp2go`] | an `Authorization` header set on the webhook (basic or bearer) | none: a digest of every field that tells two events apart | nothing | none |
//! | MailPace | [`provider::mailpace`] | `X-MailPace-Signature`: Ed25519 (base64) with the domain's key | none: a digest of the event, message, status, recipients and time | the body | none |
//! | Sweego | [`provider::sweego`] | `webhook-signature`: HMAC-SHA256 (base64) of id, timestamp and body with the base64 secret | `event_id` | id, timestamp and body | 1 day past, 5 min ahead (Sweego documents no retry schedule) |
//! | MailKite | [`provider::mailkite`] | `x-mailkite-signature`: `t=` (ms) and HMAC-SHA256 (hex) of `t.body` with the `whsec_` secret as written | `id` (the event's; for received mail, the message's) | timestamp and body | 5 minutes each way (MailKite's SDKs) |
//!
//! ```
//! use email_webhooks::provider::sendgrid::{self, SendgridPublicKey, SendgridVerifier};
//!
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), email_webhooks::Error> {
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
//! Amazon SES arrives through SNS, and AWS signs every account's SNS topics
//! with the same certificates: a verifier is built with the topics it
//! accepts, or anyone could publish SES-shaped events to a topic of their own
//! and post the signed delivery to you.
//!
//! ```
//! use email_webhooks::provider::ses::SesVerifier;
//! use email_webhooks::provider::sns::{SnsVerifier, StaticCertificates};
//!
//! // A real receiver fetches certificates over HTTPS: see
//! // `examples/sns_certificates.rs` for a complete `CertificateSource`.
//! let ses = SesVerifier::new(SnsVerifier::new(
//!     StaticCertificates::new(),
//!     ["arn:aws:sns:us-east-1:123456789012:ses-events"],
//! ));
//! # drop(ses);
//! ```
//!
//! ## Security model
//!
//! - **Raw bytes in.** Every verifier takes the body exactly as received, as
//!   `&[u8]`; nothing is re-serialized. Bodies need not be UTF-8.
//! - **Fail closed.** A verifier cannot be built without what makes it safe:
//!   a key, and for SNS the accepted topic ARNs ([`provider::sns::SnsVerifier::new`];
//!   the bypass is spelled `dangerous_accept_any_topic`, checked before any
//!   certificate is fetched). Request content never decides whether to
//!   verify. Unknown signature versions are skipped, never accepted; a
//!   request with no signature the configured keys can check is refused
//!   (`unsupported_scheme`).
//! - **Unsigned data chooses nothing it could abuse.** Where a provider
//!   signs the request, the key, the code path and the idempotency key come
//!   from what is signed: Resend's event id is the id header the signature
//!   covers; Twilio's signed URL (its `bodySHA256`), never `Content-Type`,
//!   decides what is signed; SNS values other than `Message` must be single
//!   lines, so the string to sign reads one way only. Where a provider signs
//!   less than the event (Mailgun signs a timestamp and a token; Postmark
//!   signs nothing), the event data and so its key are only as trustworthy
//!   as the channel: see each provider's module.
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
//! - **Bounded work.** [`Limits`] caps the body size, each header's length,
//!   the number of signature entries, form parameters and SES recipients;
//!   each is checked before the work it bounds. Form parameters are streamed
//!   into the MAC, never copied; the events of one SES event share its JSON.
//!   No input panics: the parsers are fuzzed, and every event serializes.
//! - **Replays.** Timestamped schemes check a [`ReplayWindow`] (default five
//!   minutes each way; a timestamp exactly at the edge passes). Where a
//!   provider retries with its original signed time (SendGrid, SNS) the
//!   default window covers its documented retry span and stays below the
//!   pipeline's 7-day retention, so a captured delivery is either refused or
//!   a duplicate. Turning the check off is spelled
//!   `dangerous_disable_replay_check`. A window only bounds replays; to
//!   process each delivery once, deduplicate on the signed id
//!   ([`Verified::id`]). Where a provider signs no time (Mandrill,
//!   MailerSend, MailPace, Unisender Go, the unsigned providers), a replay
//!   after the store has forgotten the key (the retention) is processed
//!   again.
//! - **Repeated headers** are refused as malformed: which copy was signed is
//!   ambiguous once a proxy joins them.
//!
//! ## Errors and what to answer
//!
//! [`VerifyError::code`] gives a stable `snake_case` code; parsing fails
//! with [`ParseError`] (`invalid_payload`), a store with
//! [`idempotency::StoreError`]; [`Error`] holds any of them, with the same
//! `code()`, and [`Error::http_status`] says what to answer. The answer
//! decides whether the provider sends again: a **refusal** (4xx) is final,
//! so only what can never succeed is refused; a **transient** failure (5xx)
//! makes the provider retry, so nothing is lost.
//!
//! | code | meaning | status | class |
//! |---|---|---|---|
//! | `missing_header`, `invalid_secret`, `invalid_signature`, `timestamp_too_old`, `timestamp_too_new`, `unsupported_scheme`, `missing_body`, `unauthorized`, `untrusted_certificate_url`, `invalid_certificate`, `replayed` | not proven to come from the provider (unsigned, forged, stale, replayed, untrusted) | 401 | refused |
//! | `malformed_header`, `invalid_payload` | a header present but broken, or a body that is not the provider's payload | 400 | refused |
//! | `body_too_large`, `too_many_parameters` | over a [`Limits`] bound | 413 | refused |
//! | `source_not_allowed` | from an address outside an [`allowlist::SourceAllowlist`] | 403 | refused |
//! | `certificate_unavailable` | the SNS signing certificate could not be fetched now | 503 | transient |
//! | `body_unreadable` | the body could not be read to its end (the connection broke, or a server body timeout fired) | 503 | transient |
//! | `no_public_url` | a URL-signed or URL-secret provider, and the receiver has no public URL configured | 500 | transient (fix the configuration; the provider retries meanwhile) |
//! | `no_peer_address` | a source allowlist or a rate limit, and the server does not report the client's address, or a trusted proxy names no usable client | 500 | transient (fix the configuration) |
//! | `store_unavailable`, `store_full`, `stale_token` | the idempotency store failed or is full of live claims | 503 | transient |
//! | `job_too_large` | an inbound message over [`InboundLimits::max_queued_bytes`] in handoff: the provider keeps it and retries | 503 | transient |
//! | `content_unavailable` | content an inbound delivery refers to could not be fetched for now ([`inbound::FetchError`]): the provider keeps the message and delivers it again | 503 | transient |
//! | `content_too_large`, `content_invalid` | content an inbound delivery refers to is over its limit or unreadable: from [`InboundProviders::receive`](inbound::InboundProviders::receive); the routes, `run` and `hand_off` make that message [`unreadable`](InboundMessage::unreadable) and answer for the rest | 503 | transient |
//! | (pipeline) an event held by another worker | [`pipeline::Outcome::status`] | 503 | transient |
//! | (pipeline) a handler failed, its claim released | [`pipeline::Outcome::status`] | 500 | transient |
//! | (route) `rate_limited` | a source whose refusals (a body over the limit among them) are over their rate limit (`Providers::with_rate_limit`, and `InboundProviders::with_rate_limit` on the inbound route; authenticated deliveries are never charged) | 429 with `Retry-After`; 503 for SES | transient |
//!
//! Checked against each provider's documented retry rules (none of them
//! retries a request this crate refuses into validity, and every transient
//! failure is one they retry):
//!
//! | provider | retries | gives up on | source |
//! |---|---|---|---|
//! | SendGrid | any non-2xx, at increasing intervals, for up to 24 hours after the event (older pages: 72 hours) | nothing documented | <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/troubleshooting> |
//! | Mailgun | any code but 200 and 406: 5 min to 4 h apart, for 8 hours | 406: answered only for an authenticated body that will never parse | <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-retries> |
//! | Amazon SNS (SES) | 5xx and no answer within 15 s: 3 times 20 s apart by default, at most an hour by any policy | every 4xx, discarded | <https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html> |
//! | Postmark | anything but 200, about 10 times over 10 hours | 403 (never answered here) | <https://postmarkapp.com/support/article/understanding-inbound-webhook-retries-in-postmark> |
//! | Resend (Svix) | any non-2xx: 8 attempts over about 28 hours, each signed anew | nothing by status | <https://resend.com/docs/webhooks/retries-and-replays> |
//! | Mailjet | anything but 200 (every 30 s for 24 hours in its help centre; 10 times, 10 minutes apart, in its API guide) | nothing by status | <https://dev.mailjet.com/email/guides/webhooks/> |
//! | GetResponse | 429, 5xx, a timeout (5 s), or a 2xx without `{"status":"OK"}`: 3 more times at increasing intervals | every other 4xx | <https://apidocs.getresponse.com/v3/webhooks> |
//! | Mandrill | a batch not answered 2xx, with backoff for a limited time (schedule undocumented); a webhook failing for long is disabled | nothing documented by status | <https://mailchimp.com/developer/transactional/docs/webhooks/> |
//! | SparkPost | anything but 200: 12 attempts over 8 hours, 10 s timeout; a 400 or 401 also makes it fetch a new OAuth2 token | nothing by status | SparkPost API "Webhooks" (`webhooks.apib`); support "Webhook Data Streams" |
//! | Mailtrap | anything but 200 within 30 s: 40 times, 5 minutes apart, then the webhook is paused | nothing by status | <https://docs.mailtrap.io/email-api-smtp/advanced/webhooks> |
//! | Brevo | 429 and timeouts: 4 more times, after 10 min, 1, 2 and 8 h (a transient failure is answered 429 with `Retry-After` for Brevo) | every other 4xx, and (current wording) any 5xx | <https://developers.brevo.com/docs/retry-mechanism> |
//! | Postal | anything but 2xx (3xx too) or no answer within 5 s: at +2, 3, 6, 10 and 15 minutes | nothing by status | `postalserver/postal` `app/services/webhook_delivery_service.rb` |
//! | Unisender Go | anything but 200 within 3 s: every 10 minutes for 24 hours, then the webhook is stopped | nothing by status | <https://godocs.unisender.ru/web-api-ref#callback-format> |
//! | SMTP2GO | anything but 2xx within 10 s: 5 times in the first 30 minutes, then less often for up to 48 hours (developer docs); failed notifications are also listed in the app, to retry or cancel by hand (support article) | nothing by status | <https://developers.smtp2go.com/docs/webhooks-overview>, <https://support.smtp2go.com/hc/en-gb/articles/223087967-Webhooks> |
//! | MailPace | timeouts and TLS errors: up to 10 times | a connection or HTTP error disables the webhook (so configure the key before pointing MailPace here) | <https://docs.mailpace.com/guide/webhooks> |
//! | Sweego | not documented | not documented | <https://learn.sweego.io/docs/webhooks/webhook_signature> |
//! | MailKite | anything but 2xx (redirects too) within 15 s, or, in `ack` mode, a 2xx without `{"status":"ok"}` (always answered): on a backoff, kept for replay | nothing by status | <https://mailkite.dev/docs/webhook-delivery> |
//! | MailerSend | anything but 2xx within 3 s: a few times, 10 s apart; 20 failures in 24 h pause the webhook | not documented (4xx reported as final by third parties) | <https://www.mailersend.com/help/webhooks> |
//!
//! SNS's rule is why a failed certificate fetch is `certificate_unavailable`
//! (503), never a refusal: a 4xx would lose the SES notification for good.
//!
//! ## Crate features
//!
//! | feature | default | what it adds | cost |
//! |---|---|---|---|
//! | `cli` | off | the `email-webhooks` binary (`verify`, `parse`, `sign`, `send`, `keygen`, `dead-letters`), driven by the registry, for debugging webhooks | clap, rsa, `sqlite` |
//! | `worker` | off | `worker::Worker`: runs a handler over a [`queue::Queue`] with a concurrency limit, backoff with jitter, dead letters, graceful shutdown | tokio |
//! | `sqlite` | off | `queue::SqliteQueue`: an embedded durable queue (WAL, group commit), and the worker | rusqlite (bundled SQLite), tokio |
//! | `redis` | off | `idempotency::RedisStore` and `queue::RedisQueue` (Streams), shared by replicas (Redis 7+), reconnecting, and the worker | redis, tokio |
//! | `actix-web` | off | `adapters::actix`: the single `/webhooks/{provider}` route with each provider's answers, a body-limited extractor with the public URL, bare-status rejections | actix-web |
//! | `axum` | off | `adapters::axum`: the same for axum | axum |
//! | `postgres` | off | `idempotency::PostgresStore` and `queue::PostgresQueue` (outbox, `SKIP LOCKED`), shared by replicas, reconnecting, completion inside your transaction, and the worker | tokio-postgres, deadpool-postgres, tokio |
//! | `tracing` | off | a span and a summary event per delivery and per worker job (provider, outcome code, counts, latency; never secrets, bodies or addresses) | tracing |
//! | `metrics` | off | counters and histograms: verified, refused by code, duplicates, enqueued, jobs by outcome, queue lag, latencies | metrics |
//!
//! The adapters' features also bring the per-source rate limit
//! (`ratelimit`, on governor). With no features the crate needs no async
//! runtime and does no I/O; the store and queue traits return `Send`
//! futures usable from any runtime.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapters;
pub mod allowlist;
mod basic_auth;
mod digests;
mod encoding;
mod error;
mod event;
pub mod explain;
mod form;
// The manual's pages link to every feature's types and compile examples of
// each: built with all of them, as docs.rs builds the crate.
#[cfg(all(
    feature = "axum",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis"
))]
pub mod guide;
mod headers;
pub mod idempotency;
pub mod inbound;
mod limits;
mod mac;
pub mod pipeline;
mod policy;
pub mod provider;
pub mod queue;
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
pub mod ratelimit;
mod replay;
mod request;
pub mod scheme;
mod secret;
mod suppression;
mod telemetry;
mod verified;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;

pub use basic_auth::BasicAuth;
pub use error::{Error, HeaderProblem, JsonPosition, ParseError, SecretError, VerifyError};
pub use event::{EmailEvent, EventKind, Provider, RawJson, RejectReason};
pub use headers::{Headers, Lookup};
pub use inbound::{InboundLimits, InboundMessage};
pub use limits::Limits;
pub use policy::{Configure, Policy};
pub use replay::{Clock, FixedClock, ReplayWindow, SystemClock};
pub use request::Request;
pub use secret::{Ed25519PublicKey, Ed25519SigningKey, Secret};
pub use suppression::{SoftBouncePolicy, StopReason, Suppression};
pub use verified::Verified;

/// The `rusqlite` this crate's SQLite queue is built with (feature
/// `sqlite`). A handler that writes to SQLite should use this one, as the
/// examples do (`use email_webhooks::rusqlite::Connection;`): a second
/// `rusqlite` of another version links another `libsqlite3-sys`, which
/// Cargo refuses. Its major version follows this crate's: a `rusqlite`
/// upgrade here is a breaking release.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use rusqlite;

/// The README's Rust examples, compiled and run as doc tests so they cannot
/// rot (with the `axum` and `sqlite` features, which they show).
#[cfg(all(doctest, feature = "axum", feature = "sqlite"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
