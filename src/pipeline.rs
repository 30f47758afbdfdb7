//! Verify → parse → claim, in one call, for servers and adapters.
//!
//! A [`Pipeline`] holds a provider's verifier ([`Receiver`]) and, optionally,
//! an [`IdempotencyStore`]. [`Pipeline::process`] turns a request into a
//! [`Delivery`]: each event is [`Incoming::New`] (with its claim),
//! [`Incoming::Duplicate`] (already processed: acknowledge it) or
//! [`Incoming::InProgress`] (another worker holds it: answer with a
//! retryable status so the provider comes back), or the delivery is an SNS
//! subscription confirmation.
//!
//! The handler pattern: handle each new event; on success
//! [`complete`](IdempotencyStore::complete) its token, on failure
//! [`release`](IdempotencyStore::release) it and answer with an error
//! status, so the provider's retry is processed. Answer 2xx only when every
//! event is handled or was already completed — see
//! [`Delivery::is_settled`].

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;

use crate::error::Error;
use crate::event::EmailEvent;
use crate::headers::Headers;
use crate::idempotency::{Claim, IdempotencyStore, Token};
use crate::provider::mailgun::MailgunVerifier;
use crate::provider::postmark::PostmarkVerifier;
use crate::provider::resend::ResendVerifier;
use crate::provider::sendgrid::SendgridVerifier;
use crate::provider::ses::{SesOutcome, SesVerifier};
use crate::provider::sns::{CertificateSource, SubscribeUrl};

/// One webhook request, as the pipeline needs it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The request's headers.
    pub headers: &'a (dyn Headers + Sync),
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// When the request arrived (for replay windows and certificates).
    pub now: OffsetDateTime,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the body or the headers: they may carry credentials.
        f.debug_struct("Request")
            .field("body_len", &self.body.len())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a verified request contained.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Received {
    /// Email events.
    Events(Vec<EmailEvent>),
    /// Email events from a delivery whose signature covers a single-use
    /// token but not the events (Mailgun). With a store, the pipeline
    /// refuses a second request with the same token
    /// ([`VerifyError::Replayed`](crate::VerifyError::Replayed)), so a
    /// captured signature cannot carry other events.
    EventsWithToken {
        /// The events.
        events: Vec<EmailEvent>,
        /// The token's store key, named after the provider
        /// (`mailgun-token:…`), apart from the events' keys.
        token_key: String,
        /// How long to remember the token: the replay window's span.
        remember: Duration,
    },
    /// An SNS subscription confirmation, for you to confirm (or not).
    SubscriptionConfirmation {
        /// The topic.
        topic_arn: String,
        /// The validated confirmation URL.
        subscribe_url: SubscribeUrl,
    },
}

/// A provider verifier the pipeline can drive: verify, then parse.
pub trait Receiver: Send + Sync {
    /// Verifies `request` and parses its events.
    fn receive<'a>(
        &'a self,
        request: Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a;
}

impl Receiver for SendgridVerifier {
    fn receive<'a>(
        &'a self,
        r: Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        std::future::ready(
            self.verify_and_parse_at(r.headers, r.body, r.now)
                .map(Received::Events),
        )
    }
}

impl Receiver for MailgunVerifier {
    fn receive<'a>(
        &'a self,
        r: Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        std::future::ready(
            self.verify_and_parse_with_token_at(r.headers, r.body, r.now)
                .map(|(events, token, remember)| Received::EventsWithToken {
                    events,
                    token_key: format!("mailgun-token:{token}"),
                    remember,
                }),
        )
    }
}

impl Receiver for PostmarkVerifier {
    fn receive<'a>(
        &'a self,
        r: Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        std::future::ready(
            self.verify_and_parse(r.headers, r.body)
                .map(Received::Events),
        )
    }
}

impl Receiver for ResendVerifier {
    fn receive<'a>(
        &'a self,
        r: Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        std::future::ready(
            self.verify_and_parse_at(r.headers, r.body, r.now)
                .map(Received::Events),
        )
    }
}

impl<S: CertificateSource> Receiver for SesVerifier<S> {
    async fn receive<'a>(&'a self, r: Request<'a>) -> Result<Received, Error> {
        Ok(
            match self.verify_and_parse_at(r.headers, r.body, r.now).await? {
                SesOutcome::Events(events) => Received::Events(events),
                SesOutcome::SubscriptionConfirmation {
                    topic_arn,
                    subscribe_url,
                } => Received::SubscriptionConfirmation {
                    topic_arn,
                    subscribe_url,
                },
                // Nothing to process; SNS only informs.
                _ => Received::Events(Vec::new()),
            },
        )
    }
}

/// One event of a delivery, with what the store said about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Incoming {
    /// Not seen before: handle it, then complete the claim (or release it on
    /// failure). The claim is `None` when the pipeline has no store.
    New {
        /// The event.
        event: EmailEvent,
        /// The claim to complete or release.
        claim: Option<Token>,
    },
    /// Already processed: acknowledge without handling.
    Duplicate(EmailEvent),
    /// Another worker holds it: answer with a retryable status.
    InProgress(EmailEvent),
}

/// The outcome of one request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Delivery {
    /// The request's events, in order.
    Events(Vec<Incoming>),
    /// An SNS subscription confirmation: visit the URL to confirm, if you
    /// expect the subscription.
    SubscriptionConfirmation {
        /// The topic.
        topic_arn: String,
        /// The validated confirmation URL.
        subscribe_url: SubscribeUrl,
    },
}

impl Delivery {
    /// Whether no event is held by another worker: once the new events are
    /// handled, a 2xx answer is safe. `false` means answer with a retryable
    /// status (such as 503) so the provider redelivers later.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        match self {
            Self::Events(events) => !events.iter().any(|e| matches!(e, Incoming::InProgress(_))),
            Self::SubscriptionConfirmation { .. } => true,
        }
    }
}

/// Verify → parse → claim for one provider.
///
/// Defaults: no store (every event is new), a 60-second lease, 7 days of
/// retention (longer than any provider retries).
#[derive(Debug)]
pub struct Pipeline<R, S> {
    receiver: R,
    store: Option<S>,
    lease: Duration,
    retention: Duration,
}

impl<R: Receiver, S: IdempotencyStore> Pipeline<R, S> {
    /// A pipeline over `receiver`, without a store.
    #[must_use]
    pub fn new(receiver: R) -> Self {
        Self {
            receiver,
            store: None,
            lease: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Claims each event's idempotency key in `store`.
    #[must_use]
    pub fn with_store(mut self, store: S) -> Self {
        self.store = Some(store);
        self
    }

    /// How long a claim is held before another worker may take it over
    /// (default 60 s): longer than your slowest handler.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a completed event is remembered (default 7 days).
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Verifies, parses and claims.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] (refuse the request), [`Error::Parse`] (a verified
    /// body that is not the provider's payload), or [`Error::Store`] (answer
    /// with a retryable status).
    pub async fn process(&self, request: Request<'_>) -> Result<Delivery, Error> {
        let events = match self.receiver.receive(request).await? {
            Received::Events(events) => events,
            Received::EventsWithToken {
                events,
                token_key,
                remember,
            } => {
                if let Some(store) = &self.store {
                    // First sight of the token wins; it is never released.
                    match store.begin(&token_key, remember).await? {
                        Claim::Acquired(token) => store.complete(&token, remember).await?,
                        Claim::InProgress | Claim::Completed => {
                            return Err(crate::VerifyError::Replayed.into());
                        }
                    }
                }
                events
            }
            Received::SubscriptionConfirmation {
                topic_arn,
                subscribe_url,
            } => {
                return Ok(Delivery::SubscriptionConfirmation {
                    topic_arn,
                    subscribe_url,
                });
            }
        };
        let Some(store) = &self.store else {
            return Ok(Delivery::Events(
                events
                    .into_iter()
                    .map(|event| Incoming::New { event, claim: None })
                    .collect(),
            ));
        };
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            out.push(
                match store.begin(&event.idempotency_key(), self.lease).await? {
                    Claim::Acquired(token) => Incoming::New {
                        event,
                        claim: Some(token),
                    },
                    Claim::Completed => Incoming::Duplicate(event),
                    Claim::InProgress => Incoming::InProgress(event),
                },
            );
        }
        Ok(Delivery::Events(out))
    }

    /// Marks a handled event's claim done (no-op without a claim).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] from the store.
    pub async fn complete(&self, claim: Option<&Token>) -> Result<(), Error> {
        match (&self.store, claim) {
            (Some(store), Some(token)) => Ok(store.complete(token, self.retention).await?),
            _ => Ok(()),
        }
    }

    /// Gives a failed event's claim back so the provider's retry is
    /// processed (no-op without a claim).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] from the store.
    pub async fn release(&self, claim: Option<&Token>) -> Result<(), Error> {
        match (&self.store, claim) {
            (Some(store), Some(token)) => Ok(store.release(token).await?),
            _ => Ok(()),
        }
    }
}

/// What [`Pipeline::run`] did with a request, and the status to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// New events the handler processed successfully (claims completed).
    pub handled: usize,
    /// Events already processed before (acknowledged, not handled again).
    pub duplicates: usize,
    /// Events another worker holds (the provider must come back).
    pub in_progress: usize,
    /// New events the handler failed on (claims released for the retry).
    pub failed: usize,
    /// An SNS subscription confirmation's URL, for you to visit if expected.
    pub subscribe_url: Option<String>,
}

impl Outcome {
    /// The HTTP status to answer: 500 if a handler failed (the provider
    /// retries; released claims let the retry through), 503 if an event is
    /// held elsewhere, else 200.
    #[must_use]
    pub fn status(&self) -> u16 {
        if self.failed > 0 {
            500
        } else if self.in_progress > 0 {
            503
        } else {
            200
        }
    }
}

impl<R: Receiver, S: IdempotencyStore> Pipeline<R, S> {
    /// The whole handler pattern: process the request, run `handler` on each
    /// new event, complete its claim on success and release it on failure.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::process`], and [`Error::Store`] when completing or
    /// releasing fails.
    pub async fn run<F, Fut, E>(
        &self,
        request: Request<'_>,
        mut handler: F,
    ) -> Result<Outcome, Error>
    where
        F: FnMut(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let mut outcome = Outcome::default();
        let events = match self.process(request).await? {
            Delivery::Events(events) => events,
            Delivery::SubscriptionConfirmation { subscribe_url, .. } => {
                outcome.subscribe_url = Some(subscribe_url.as_str().to_owned());
                return Ok(outcome);
            }
        };
        for incoming in events {
            match incoming {
                Incoming::New { event, claim } => {
                    if handler(event).await.is_ok() {
                        self.complete(claim.as_ref()).await?;
                        outcome.handled += 1;
                    } else {
                        self.release(claim.as_ref()).await?;
                        outcome.failed += 1;
                    }
                }
                Incoming::Duplicate(_) => outcome.duplicates += 1,
                Incoming::InProgress(_) => outcome.in_progress += 1,
            }
        }
        Ok(outcome)
    }
}
