//! The manual: one page per task, for a receiver in production.
//!
//! The crate's front page is the reference (every provider, scheme, limit,
//! error code and answer in tables); these pages say how to use them for one
//! task each. Every example compiles as a doc test.
//!
//! | page | for |
//! |---|---|
//! | [`receive_modes`] | choosing between the handler in the request and the durable handoff to a worker |
//! | [`replicas`] | running several receivers and workers on one PostgreSQL or Redis |
//! | [`key_rotation`] | changing a signing secret, key or password without refusing a delivery |
//! | [`answers`] | what to answer when, and why the status decides whether the provider sends again |
//! | [`debugging_signatures`] | finding why a signature never matches, with `explain` |
//! | [`migrating_to_the_worker`] | moving a receiver from the handler in the request to the worker |

pub mod receive_modes {
    //! Choosing a receive mode: the handler in the request, or the durable
    //! handoff.
    //!
    //! Every provider wants a 2xx within seconds (Amazon SNS waits 15 s,
    //! some providers only 3 s: see each provider's row on the crate's front
    //! page) and sends again on anything else. Both modes verify, parse and deduplicate the same way;
    //! they differ in when your code runs.
    //!
    //! | | handler in the request | durable handoff |
    //! |---|---|---|
    //! | axum / actix-web | [`webhooks_router`] / `webhooks_resource` | [`webhooks_handoff_router`] / `webhooks_handoff_resource` |
    //! | your code runs | before the answer, once per new event | in a [`Worker`], after the answer |
    //! | answer | 2xx once every new event is handled; 500 when one fails (the provider retries) | 2xx once the events are durable in the queue; 503 when the queue fails |
    //! | a slow handler | delays the answer: past the provider's timeout it is a retry | costs nothing: the answer does not wait |
    //! | what remembers an event | the idempotency store | the queue (the store only spends Mailgun's tokens) |
    //! | retries of a failed handler | the provider's own schedule | the worker's backoff, then the dead-letter set |
    //! | needs | an [`IdempotencyStore`] | a [`Queue`] (SQLite, PostgreSQL, Redis Streams) and a worker |
    //!
    //! Take the **handler in the request** when the handler is quick and
    //! local (a row written in the same database) and you want no second
    //! moving part. Take the **handoff** when the handler calls anything
    //! slow or fallible (a CRM, an email, another service), when a burst of
    //! batches could outrun it, or when a failure should be retried on your
    //! schedule rather than the provider's (Mailgun stops after 8 hours,
    //! SNS after an hour at most). In both modes an event can reach your
    //! handler twice (a worker that dies after the handler ran, before it
    //! settled), so key its effects by [`EmailEvent::idempotency_key`].
    //!
    //! Both, on axum:
    //!
    //! ```no_run
    //! # #[cfg(all(feature = "axum", feature = "sqlite"))]
    //! # async fn both() -> Result<(), Box<dyn std::error::Error>> {
    //! use std::sync::Arc;
    //!
    //! use email_webhooks::adapters::axum::{webhooks_handoff_router, webhooks_router};
    //! use email_webhooks::idempotency::MemoryStore;
    //! use email_webhooks::pipeline::Pipeline;
    //! use email_webhooks::provider::Providers;
    //! use email_webhooks::provider::postmark::PostmarkVerifier;
    //! use email_webhooks::queue::SqliteQueue;
    //! use email_webhooks::worker::Worker;
    //! use email_webhooks::{BasicAuth, EmailEvent};
    //!
    //! async fn handle(event: EmailEvent) -> Result<(), std::io::Error> {
    //!     println!("{} {:?}", event.idempotency_key(), event.kind);
    //!     Ok(())
    //! }
    //! let providers = || -> Result<Providers, email_webhooks::SecretError> {
    //!     Ok(Providers::new().with(PostmarkVerifier::new(BasicAuth::parse("postmark:pass-phrase")?)))
    //! };
    //!
    //! // In the request: the answer waits for `handle`.
    //! let in_request = Arc::new(Pipeline::new(providers()?, MemoryStore::new()));
    //! let app = webhooks_router(in_request, handle, |_handled| {});
    //!
    //! // Handoff: the answer waits for the queue file; a worker runs `handle`.
    //! let queue = SqliteQueue::open("events.db")?;
    //! let handoff = Arc::new(Pipeline::new(providers()?, MemoryStore::new()));
    //! let app = webhooks_handoff_router(handoff, queue.clone(), |_handled| {});
    //! tokio::spawn(async move { Worker::new(queue).run(handle, std::future::pending()).await });
    //! # let _ = app;
    //! # Ok(()) }
    //! ```
    //!
    //! [`webhooks_router`]: crate::adapters::axum::webhooks_router
    //! [`webhooks_handoff_router`]: crate::adapters::axum::webhooks_handoff_router
    //! [`Worker`]: crate::worker::Worker
    //! [`IdempotencyStore`]: crate::idempotency::IdempotencyStore
    //! [`Queue`]: crate::queue::Queue
    //! [`EmailEvent::idempotency_key`]: crate::EmailEvent::idempotency_key
}

pub mod replicas {
    //! Running many replicas: several receivers and workers, one truth.
    //!
    //! A provider may deliver an event's retry to any replica behind your
    //! load balancer, and any worker may take any job. What makes that safe
    //! is that every replica shares the same two things:
    //!
    //! - **The queue** ([`PostgresQueue`] or [`RedisQueue`]): its enqueue is
    //!   idempotent per event key across replicas, so a redelivery that
    //!   reaches another receiver is a duplicate; a claim carries a fence,
    //!   so a key is completed at most once even when a worker stalls past
    //!   its lease and another takes over.
    //! - **The store** ([`PostgresStore`] or [`RedisStore`]): in handoff
    //!   mode it spends Mailgun's single-use tokens (a per-process
    //!   [`MemoryStore`] would accept a replayed token at another replica);
    //!   with the handler in the request it is what deduplicates events.
    //!
    //! SQLite is one file on one machine: it serves one receiver and its
    //! workers, not replicas on several hosts.
    //!
    //! On PostgreSQL, create both tables once (idempotent; or run
    //! `PostgresStore::CREATE_TABLE` and `PostgresQueue::CREATE_TABLE` in a
    //! migration), then start as many receivers and workers as you need.
    //! `examples/replicas_postgres.rs` runs two of each and checks that
    //! every event is handled exactly once.
    //!
    //! ```no_run
    //! # #[cfg(all(feature = "axum", feature = "postgres"))]
    //! # async fn replica() -> Result<(), Box<dyn std::error::Error>> {
    //! use std::sync::Arc;
    //!
    //! use email_webhooks::adapters::axum::webhooks_handoff_router;
    //! use email_webhooks::idempotency::PostgresStore;
    //! use email_webhooks::pipeline::Pipeline;
    //! use email_webhooks::provider::Providers;
    //! use email_webhooks::provider::mailgun::MailgunVerifier;
    //! use email_webhooks::queue::PostgresQueue;
    //! use email_webhooks::worker::Worker;
    //! use email_webhooks::{EmailEvent, Secret};
    //!
    //! let config = std::env::var("DATABASE_URL")?; // the same for every replica
    //! let store = PostgresStore::connect(&config)?;
    //! store.create_table().await?;
    //! let queue = PostgresQueue::connect(&config)?;
    //! queue.create_table().await?;
    //!
    //! let providers = Providers::new()
    //!     .with(MailgunVerifier::new(Secret::from_bytes(std::env::var("MAILGUN_SIGNING_KEY")?)?));
    //! let pipeline = Arc::new(Pipeline::new(providers, store));
    //! let app = webhooks_handoff_router(pipeline, queue.clone(), |_handled| {});
    //! # let _ = app;
    //! let worker = Worker::new(queue).with_concurrency(8);
    //! worker
    //!     .run(
    //!         |event: EmailEvent| async move {
    //!             println!("{}", event.idempotency_key());
    //!             Ok::<(), std::io::Error>(())
    //!         },
    //!         std::future::pending(),
    //!     )
    //!     .await;
    //! # Ok(()) }
    //! ```
    //!
    //! The rate limit on refusals (`Providers::with_rate_limit`) counts per
    //! replica: with N replicas a source gets up to N times the limit.
    //! Dead letters are shared: `email-webhooks dead-letters list --queue
    //! "$DATABASE_URL"` from any host.
    //!
    //! [`PostgresQueue`]: crate::queue::PostgresQueue
    //! [`RedisQueue`]: crate::queue::RedisQueue
    //! [`PostgresStore`]: crate::idempotency::PostgresStore
    //! [`RedisStore`]: crate::idempotency::RedisStore
    //! [`MemoryStore`]: crate::idempotency::MemoryStore
}

pub mod key_rotation {
    //! Rotating keys: a new secret, key or password without a refused
    //! delivery.
    //!
    //! Every verifier accepts several keys: `with_secret` (HMAC secrets),
    //! `with_key` (public keys, and providers' webhook or API keys),
    //! [`BasicAuth::with_credentials`] (passwords). A delivery passes when
    //! any of them verifies it, and [`Verified::key_index`] says which (0 is
    //! the first given). The rotation:
    //!
    //! 1. Add the new key beside the old one, and deploy every replica.
    //! 2. Switch the provider to the new key (its dashboard or API).
    //! 3. Watch [`Verified::key_index`] (or the CLI's `key_index`): once no
    //!    delivery has used the old key for longer than the provider's
    //!    retry span (a retry is signed with the key of its time at SendGrid
    //!    and SNS, with the current one at Resend), remove it and deploy.
    //!
    //! A provider that signs with a key pair (SendGrid, for one) rotates the
    //! same way with `with_key`. Where the provider derives
    //! nothing from the key, the idempotency keys do not change, so events
    //! redelivered across the switch are still duplicates.
    //!
    //! ```
    //! use email_webhooks::provider::resend::ResendVerifier;
    //! use email_webhooks::scheme::standard::StandardWebhooksSigner;
    //! use email_webhooks::Secret;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    //! const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    //! // Step 1: both keys, the old one first.
    //! let verifier = ResendVerifier::new(Secret::from_standard_webhooks(OLD)?)
    //!     .with_secret(Secret::from_standard_webhooks(NEW)?);
    //!
    //! // Step 2: the provider now signs with the new key.
    //! let body = br#"{"type":"email.delivered","data":{"email_id":"e1"}}"#;
    //! let now = time::OffsetDateTime::now_utc().unix_timestamp();
    //! let headers = StandardWebhooksSigner::new(Secret::from_standard_webhooks(NEW)?)
    //!     .headers("msg_1", now, body)?;
    //!
    //! // Step 3: the key that verified it.
    //! let verified = verifier.verify(&headers, body)?;
    //! assert_eq!(verified.key_index(), 1);
    //! # Ok(()) }
    //! ```
    //!
    //! [`BasicAuth::with_credentials`]: crate::BasicAuth::with_credentials
    //! [`Verified::key_index`]: crate::Verified::key_index
}

pub mod answers {
    //! What to answer when, and why: the status decides whether the
    //! provider sends again.
    //!
    //! Providers redeliver on failure, so an answer is an instruction:
    //!
    //! - **2xx**: done. Answer it only when every event of the delivery is
    //!   handled, durably queued, or already was (a duplicate).
    //! - **5xx** (and 429): try again later. For every transient failure: the
    //!   store or the queue is down, an SNS certificate could not be fetched,
    //!   the handler failed, another replica holds the event. Nothing is
    //!   lost; the provider's retry is processed.
    //! - **4xx**: never send this again. Only for what can never succeed: not
    //!   from the provider (a bad or missing signature, stale, replayed), not
    //!   its payload, over a size limit, from a source outside the allowlist.
    //!   Amazon SNS drops a notification on any 4xx, and several providers
    //!   stop retrying on most of them: a 4xx for a transient failure loses
    //!   the event.
    //!
    //! Some providers need more than a status, and [`EmailProvider::reply`]
    //! knows each one: Mailgun stops retrying on 406 (answered only for an
    //! authenticated body that will never parse), one provider wants the body
    //! `{"status":"OK"}`, another retries a transient failure only when it
    //! is 429, a rate-limited delivery carries `Retry-After` (503 for SES, whose
    //! SNS drops a 429). The adapters answer through it; so does
    //! [`Pipeline::reply`] for a framework of your own. The full table of
    //! codes, statuses and each provider's retry rules is on the
    //! [crate's front page](crate#errors-and-what-to-answer).
    //!
    //! Answer fast: verification and parsing take microseconds, but a handler
    //! in the request delays the answer, and past the provider's timeout the
    //! delivery is retried although it succeeded (see
    //! [`receive_modes`](super::receive_modes)).
    //!
    //! With a framework of your own, the pipeline runs the handler and says
    //! what to answer:
    //!
    //! ```
    //! use email_webhooks::idempotency::MemoryStore;
    //! use email_webhooks::pipeline::Pipeline;
    //! use email_webhooks::provider::postmark::PostmarkVerifier;
    //! use email_webhooks::{BasicAuth, Request};
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let pipeline = Pipeline::new(
    //!     PostmarkVerifier::new(BasicAuth::parse("postmark:pass-phrase")?),
    //!     MemoryStore::new(),
    //! );
    //! let body = br#"{"RecordType":"Delivery","MessageID":"m1","Recipient":"a@example.com"}"#;
    //! # futures_executor_block_on(async {
    //! // No credentials: refused for good (401), Postmark will not be asked again.
    //! let none: [(&str, &str); 0] = [];
    //! let result = pipeline.run(&Request::new(&none, body), |_event| async { Ok::<(), String>(()) }).await;
    //! assert_eq!(pipeline.reply(&result).status, 401);
    //!
    //! // The handler fails: 500, the claim is released, and Postmark's retry is processed.
    //! let auth = [("Authorization", "Basic cG9zdG1hcms6cGFzcy1waHJhc2U=")];
    //! let failing = |_event| async { Err::<(), String>("the database is down".into()) };
    //! let result = pipeline.run(&Request::new(&auth, body), failing).await;
    //! assert_eq!(pipeline.reply(&result).status, 500);
    //!
    //! // Handled: 200; the same delivery again is a duplicate, also 200.
    //! let result = pipeline.run(&Request::new(&auth, body), |_event| async { Ok::<(), String>(()) }).await;
    //! assert_eq!(pipeline.reply(&result).status, 200);
    //! let again = pipeline.run(&Request::new(&auth, body), |_event| async { Ok::<(), String>(()) }).await;
    //! assert_eq!(pipeline.reply(&again).status, 200);
    //! assert_eq!(again?.duplicates, 1);
    //! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    //! # Ok(()) }
    //! # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    //! #     use futures_util::FutureExt as _;
    //! #     let mut f = std::pin::pin!(f);
    //! #     loop { if let Some(out) = f.as_mut().now_or_never() { return out; } }
    //! # }
    //! ```
    //!
    //! [`EmailProvider::reply`]: crate::provider::EmailProvider::reply
    //! [`Pipeline::reply`]: crate::pipeline::Pipeline::reply
}

pub mod debugging_signatures {
    //! Debugging a failing signature with `explain`.
    //!
    //! When every delivery is refused with `invalid_signature` (or
    //! `unauthorized`), the cause is almost always in the receiver, not the
    //! provider: a framework parsed and re-serialized the JSON body, a
    //! newline was added or line endings converted, the secret is used in
    //! the wrong encoding, the URL the receiver knows itself by is not the
    //! one the provider called, the clock is off, another environment's key
    //! is configured, or a proxy joined repeated headers.
    //!
    //! 1. Capture one refused request exactly: the headers, and the body as
    //!    bytes (log it in development, or use the provider's "test"
    //!    button against a capture endpoint).
    //! 2. Ask the CLI, with the same flags as `verify`:
    //!
    //!    ```text
    //!    email-webhooks explain --scheme resend --secret "$RESEND_SECRET" \
    //!      --header "svix-id: msg_…" --header "svix-timestamp: …" \
    //!      --header "svix-signature: v1,…" --body captured.json
    //!    ```
    //!
    //!    It tries each known mistake and names the one that makes the
    //!    request verify, with the fix; `--json` prints a stable `cause`
    //!    code. It shows what was signed as lengths and digests only. Give
    //!    every key you suspect (`--secret` repeated: the first is the
    //!    configured one) to learn whether another environment's is in use.
    //! 3. Fix the receiver, not the check: verify the raw bytes (in axum,
    //!    take `Bytes`, never `Json<T>`, or use the crate's extractor),
    //!    configure the public URL the provider calls, sync the clock.
    //!
    //! The same diagnosis is a library call, for a development server that
    //! logs why it refused (never on every refusal in production: it costs
    //! up to 64 verifications, and its answer is for you, not the caller):
    //!
    //! ```
    //! use email_webhooks::explain::{Cause, Parts, diagnose_provider};
    //! use email_webhooks::provider::{Settings, Simulation};
    //! use email_webhooks::{EventKind, Provider};
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let mut settings = Settings::new();
    //! settings.secrets.push("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
    //! // A genuine Resend delivery...
    //! let now = time::OffsetDateTime::now_utc().unix_timestamp();
    //! let info = Provider::Resend.info().ok_or("registered")?;
    //! let sim = Simulation::new(EventKind::Delivered, "a@example.com", "e1", now, &settings);
    //! let delivery = (info.simulate)(&sim)?;
    //! // ...whose body a framework parsed and wrote back pretty-printed.
    //! let parsed: serde_json::Value = serde_json::from_slice(&delivery.body)?;
    //! let reserialized = serde_json::to_vec_pretty(&parsed)?;
    //!
    //! let parts = Parts::new(delivery.headers.clone(), reserialized).at(now);
    //! let diagnosis = diagnose_provider(Provider::Resend, &parts, &settings).ok_or("registered")?;
    //! assert!(!diagnosis.verified);
    //! assert_eq!(diagnosis.cause, Some(Cause::BodyReserialized));
    //! println!("{}", diagnosis.cause.map(|c| c.hint()).unwrap_or_default());
    //! # Ok(()) }
    //! ```
}

pub mod migrating_to_the_worker {
    //! Migrating from the handler in the request to the worker.
    //!
    //! The handler does not change: the worker runs the same
    //! `Fn(EmailEvent) -> Future<Output = Result<(), E>>`. What changes is
    //! the route, and what must be true of the handler.
    //!
    //! 1. **Make the handler safe to run twice.** In the request, the store's
    //!    claim held an event while it ran. A worker that dies after your
    //!    handler finished, before it settled the job, runs it again when the
    //!    lease ends. Key every effect by [`EmailEvent::idempotency_key`] (an
    //!    upsert, a unique constraint, an `Idempotency-Key` header on an
    //!    outgoing call); `examples/suppression.rs` and
    //!    `examples/crm_on_click.rs` show both.
    //! 2. **Pick a queue** for your deployment: [`SqliteQueue`] on one
    //!    machine, [`PostgresQueue`] or [`RedisQueue`] for replicas (see
    //!    [`replicas`](super::replicas)).
    //! 3. **Swap the route and start a worker**, in one deploy:
    //!    `webhooks_router(pipeline, handler, observe)` becomes
    //!    `webhooks_handoff_router(pipeline, queue, observe)` (actix-web:
    //!    `webhooks_resource` becomes `webhooks_handoff_resource`), and a
    //!    [`Worker`] runs the handler. Keep the pipeline's store: it still
    //!    spends Mailgun's tokens.
    //! 4. **Tune the retries you now own**: [`Worker::with_max_attempts`],
    //!    [`Worker::with_backoff`], [`Worker::with_lease`] (longer than your
    //!    slowest handler), then watch the dead-letter set
    //!    (`email-webhooks dead-letters list --queue …`).
    //!
    //! Events handled in the request before the switch are not in the
    //! queue: a redelivery of one of them after the switch is new to the
    //! queue and handled again, which step 1 makes harmless. During the
    //! deploy, old and new replicas may both receive: each delivery is
    //! handled by whichever one answered it.
    //!
    //! ```no_run
    //! # #[cfg(all(feature = "axum", feature = "sqlite"))]
    //! # async fn after() -> Result<(), Box<dyn std::error::Error>> {
    //! use std::sync::Arc;
    //! use std::time::Duration;
    //!
    //! use email_webhooks::adapters::axum::webhooks_handoff_router;
    //! use email_webhooks::idempotency::MemoryStore;
    //! use email_webhooks::pipeline::Pipeline;
    //! use email_webhooks::provider::Providers;
    //! use email_webhooks::provider::postmark::PostmarkVerifier;
    //! use email_webhooks::queue::SqliteQueue;
    //! use email_webhooks::worker::{Backoff, Worker};
    //! use email_webhooks::{BasicAuth, EmailEvent};
    //!
    //! // The handler as it was in the request, now keyed by the event.
    //! async fn handle(event: EmailEvent) -> Result<(), std::io::Error> {
    //!     let key = event.idempotency_key();
    //!     // INSERT … ON CONFLICT (key) DO NOTHING, or an Idempotency-Key header.
    //!     println!("{key}");
    //!     Ok(())
    //! }
    //!
    //! let providers =
    //!     Providers::new().with(PostmarkVerifier::new(BasicAuth::parse("postmark:pass-phrase")?));
    //! let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    //! // Before: webhooks_router(pipeline, handle, |_handled| {})
    //! let queue = SqliteQueue::open("events.db")?;
    //! let app = webhooks_handoff_router(pipeline, queue.clone(), |_handled| {});
    //! # let _ = app;
    //! let worker = Worker::new(queue)
    //!     .with_max_attempts(8)
    //!     .with_backoff(Backoff { base: Duration::from_secs(1), max: Duration::from_secs(600) })
    //!     .with_lease(Duration::from_secs(120));
    //! worker.run(handle, std::future::pending()).await;
    //! # Ok(()) }
    //! ```
    //!
    //! [`EmailEvent::idempotency_key`]: crate::EmailEvent::idempotency_key
    //! [`SqliteQueue`]: crate::queue::SqliteQueue
    //! [`PostgresQueue`]: crate::queue::PostgresQueue
    //! [`RedisQueue`]: crate::queue::RedisQueue
    //! [`Worker`]: crate::worker::Worker
    //! [`Worker::with_max_attempts`]: crate::worker::Worker::with_max_attempts
    //! [`Worker::with_backoff`]: crate::worker::Worker::with_backoff
    //! [`Worker::with_lease`]: crate::worker::Worker::with_lease
}
