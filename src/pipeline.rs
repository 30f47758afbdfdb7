//! Verify → parse → claim, in one call, for servers and adapters.
//!
//! A [`Pipeline`] holds an [`EmailProvider`] (or several, [`Providers`],
//! found by name) and an [`IdempotencyStore`]; it names no provider.
//! [`Pipeline::process`] turns a request into a [`Delivery`]: each event is
//! [`Incoming::New`] (with its claim), [`Incoming::Duplicate`] (already
//! processed: acknowledge it) or [`Incoming::InProgress`] (another worker
//! holds it: answer with a retryable status so the provider comes back), or
//! the delivery is a [`Control`] message.
//!
//! The handler pattern: handle each new event; on success
//! [`complete`](IdempotencyStore::complete) its token, on failure
//! [`release`](IdempotencyStore::release) it and answer with an error
//! status, so the provider's retry is processed. Answer 2xx only when every
//! event is handled or was already completed — see
//! [`Delivery::is_settled`].
//!
//! Or hand off: [`Pipeline::hand_off`] enqueues a delivery's new events on a
//! durable [`Queue`] and answers at once; a
//! `Worker` (feature `worker`) handles them (see [`crate::queue`]).

use std::future::Future;
use std::time::Duration;

use http::StatusCode;

use crate::error::Error;
use crate::event::EmailEvent;
use crate::idempotency::{Claim, IdempotencyStore, StoreError, Token};
use crate::provider::{Answer, Control, EmailProvider, Providers, Received, Reply};
use crate::queue::{Enqueued, NewJob, Queue};
use crate::request::Request;

/// The pipeline's stand-in for "no idempotency store": every event is new.
///
/// It has no public constructor: a pipeline without a store is spelled
/// [`Pipeline::without_store`] (refused for providers whose safety needs a
/// store) or [`Pipeline::dangerous_without_store`].
#[derive(Debug)]
pub struct NoStore(());

impl IdempotencyStore for NoStore {
    async fn begin(&self, key: &str, _lease: Duration) -> Result<Claim, StoreError> {
        Ok(Claim::Acquired(Token::new(key)?))
    }
    async fn complete(&self, _token: &Token, _retention: Duration) -> Result<(), StoreError> {
        Ok(())
    }
    async fn release(&self, _token: &Token) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Building a pipeline without a store for a provider whose safety needs
/// one (Mailgun: its signature covers a single-use token, not the events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRequired;

impl std::fmt::Display for StoreRequired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this provider needs an idempotency store to refuse replayed tokens")
    }
}

impl std::error::Error for StoreRequired {}

/// One event of a delivery, with what the store said about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Incoming {
    /// Not seen before: handle it, then complete the claim (or release it on
    /// failure).
    New {
        /// The event.
        event: EmailEvent,
        /// The claim to complete or release.
        claim: Token,
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
    /// A control message (an SNS subscription confirmation, a test ping):
    /// nothing to handle.
    Control(Control),
}

impl Delivery {
    /// Whether no event is held by another worker: once the new events are
    /// handled, a 2xx answer is safe. `false` means answer with a retryable
    /// status (such as 503) so the provider redelivers later.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        match self {
            Self::Events(events) => !events.iter().any(|e| matches!(e, Incoming::InProgress(_))),
            Self::Control(_) => true,
        }
    }
}

/// Verify → parse → claim for one provider (`P`: an [`EmailProvider`]) or
/// for several found by name (`P` = [`Providers`]), with an idempotency
/// store `S`.
///
/// The store is a constructor argument: deduplication and Mailgun's replay
/// protection depend on it. [`Pipeline::without_store`] is the explicit
/// choice of none (every event is new), refused for providers whose safety
/// needs a store.
///
/// Defaults: a 60-second lease, 7 days of retention (longer than any
/// provider retries).
#[derive(Debug)]
pub struct Pipeline<P, S> {
    provider: P,
    store: S,
    lease: Duration,
    retention: Duration,
}

const DEFAULT_LEASE: Duration = Duration::from_secs(60);
const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl<P, S: IdempotencyStore> Pipeline<P, S> {
    /// A pipeline over `provider` (or [`Providers`]) that claims each
    /// event's idempotency key in `store`.
    #[must_use]
    pub fn new(provider: P, store: S) -> Self {
        Self {
            provider,
            store,
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
        }
    }

    /// How long a claim is held before another worker may take it over
    /// (default 60 s). `run` claims a delivery's events not yet handled
    /// again once half of it has passed, so each handler should finish
    /// within half of it; with [`process`](Self::process), completing the
    /// events in time is yours.
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

    /// The provider (or providers).
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The idempotency store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Marks a handled event's claim done.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] from the store.
    pub async fn complete(&self, claim: &Token) -> Result<(), Error> {
        Ok(self.store.complete(claim, self.retention).await?)
    }

    /// Gives a failed event's claim back so the provider's retry is
    /// processed.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] from the store.
    pub async fn release(&self, claim: &Token) -> Result<(), Error> {
        Ok(self.store.release(claim).await?)
    }

    /// Releases every claim in `incoming`, up to the first failure of the
    /// store itself: the caller already has an error to report, and an
    /// unreleased claim expires with its lease anyway. A store that fails
    /// to release one would most likely fail (each after its own timeout)
    /// for the rest: thousands of claims could hold the request for hours.
    /// A claim that lapsed and was taken over ([`StoreError::StaleToken`])
    /// is no such failure: the others are still given back.
    ///
    /// [`StoreError::StaleToken`]: crate::idempotency::StoreError::StaleToken
    async fn release_all(&self, incoming: impl IntoIterator<Item = Incoming>) {
        for item in incoming {
            if let Incoming::New { claim, .. } = item {
                if store_down(&self.store.release(&claim).await) {
                    return;
                }
            }
        }
    }

    /// The events not yet handled, their claims taken anew for a whole
    /// lease: each claim given back, then its key claimed again (one round
    /// trip for all). A key another request took meanwhile (this claim had
    /// lapsed) is in progress there, or a duplicate once it is done.
    async fn claim_again(
        &self,
        events: std::collections::VecDeque<Incoming>,
    ) -> Result<std::collections::VecDeque<Incoming>, Error> {
        let mut keys = Vec::new();
        for item in &events {
            if let Incoming::New { event, claim } = item {
                // The store down: the claims not yet given back expire with
                // their leases.
                if let Err(error) = self.store.release(claim).await {
                    if !matches!(error, crate::idempotency::StoreError::StaleToken) {
                        return Err(error.into());
                    }
                }
                keys.push(event.idempotency_key());
            }
        }
        let claims = match self.store.begin_many(&keys, self.lease).await {
            Ok(claims) if claims.len() == keys.len() => claims,
            Ok(_) => {
                return Err(crate::idempotency::StoreError::Backend(
                    "the store answered fewer claims than keys".into(),
                )
                .into());
            }
            Err(error) => return Err(error.into()),
        };
        let mut claims = claims.into_iter();
        Ok(events
            .into_iter()
            .map(|item| match item {
                Incoming::New { event, .. } => match claims.next() {
                    Some(Claim::Acquired(claim)) => Incoming::New { event, claim },
                    Some(Claim::Completed) => Incoming::Duplicate(event),
                    _ => Incoming::InProgress(event),
                },
                other => other,
            })
            .collect())
    }

    /// Verifies and parses; spends the delivery's single-use token (first
    /// sight wins, given back only when the store fails half way; a repost
    /// of the same body passes on to the events' keys).
    async fn receive_with<Q: EmailProvider + ?Sized>(
        &self,
        provider: &Q,
        request: &Request<'_>,
    ) -> Result<Received, Error> {
        let received: Received = provider.receive(request).await?;
        if let Some(token) = &received.token {
            crate::idempotency::spend_single_use(
                &self.store,
                &token.key,
                request.body(),
                token.remember,
            )
            .await?;
        }
        Ok(received)
    }

    async fn hand_off_with<Q: EmailProvider + ?Sized, U: Queue>(
        &self,
        provider: &Q,
        request: &Request<'_>,
        queue: &U,
    ) -> Result<Enqueued, Error> {
        let received = self.receive_with(provider, request).await?;
        let mut enqueued = Enqueued::default();
        if received.events.is_empty() {
            enqueued.control = received.control;
            return Ok(enqueued);
        }
        let (keys, firsts) = first_keys(&received.events);
        let mut keys = keys.into_iter();
        let mut jobs = Vec::with_capacity(received.events.len());
        // `keys` holds the first occurrences' keys, in order.
        for (event, first) in received.events.iter().zip(&firsts) {
            match (first, if *first { keys.next() } else { None }) {
                (true, Some(key)) => jobs.push(NewJob::keyed(event, key)?),
                _ => enqueued.duplicates += 1,
            }
        }
        let started = std::time::Instant::now();
        let answers = queue.enqueue(&jobs).await?;
        crate::telemetry::enqueue_latency(started.elapsed());
        if answers.len() != jobs.len() {
            return Err(crate::idempotency::StoreError::Backend(
                "the queue answered fewer results than jobs".into(),
            )
            .into());
        }
        for (new, job) in answers.into_iter().zip(&jobs) {
            if new {
                enqueued.enqueued += 1;
            } else {
                enqueued.duplicates += 1;
            }
            crate::telemetry::event(&job.key, if new { "enqueued" } else { "duplicate" });
        }
        Ok(enqueued)
    }

    async fn process_with<Q: EmailProvider + ?Sized>(
        &self,
        provider: &Q,
        request: &Request<'_>,
    ) -> Result<Delivery, Error> {
        let received = self.receive_with(provider, request).await?;
        if received.events.is_empty() {
            if let Some(control) = received.control {
                return Ok(Delivery::Control(control));
            }
        }
        // Keys already seen in this delivery: a repeat is a duplicate of the
        // first (claiming it again would find it held and answer 503). The
        // other keys are claimed together: one round trip on a server store.
        let (keys, firsts) = first_keys(&received.events);
        let claimed = self.store.begin_many(&keys, self.lease).await?;
        for (key, claim) in keys.iter().zip(&claimed) {
            crate::telemetry::event(
                key,
                match claim {
                    Claim::Acquired(_) => "claimed",
                    Claim::Completed => "duplicate",
                    Claim::InProgress => "in_progress",
                },
            );
        }
        let mut claims = claimed.into_iter();
        let mut out: Vec<Incoming> = Vec::with_capacity(received.events.len());
        for (event, first) in received.events.into_iter().zip(firsts) {
            if !first {
                out.push(Incoming::Duplicate(event));
                continue;
            }
            out.push(match claims.next() {
                Some(Claim::Acquired(token)) => Incoming::New {
                    event,
                    claim: token,
                },
                Some(Claim::Completed) => Incoming::Duplicate(event),
                Some(Claim::InProgress) => Incoming::InProgress(event),
                None => {
                    // A store that answered fewer claims than keys: give
                    // back what it gave and fail the delivery (retried).
                    self.release_all(out).await;
                    return Err(crate::idempotency::StoreError::Backend(
                        "the store answered fewer claims than keys".into(),
                    )
                    .into());
                }
            });
        }
        Ok(Delivery::Events(out))
    }

    async fn run_with<Q, F, Fut, E>(
        &self,
        provider: &Q,
        request: &Request<'_>,
        mut handler: F,
    ) -> Result<Outcome<E>, Error>
    where
        Q: EmailProvider + ?Sized,
        F: FnMut(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let mut outcome = Outcome::default();
        let events = match self.process_with(provider, request).await? {
            Delivery::Events(events) => events,
            Delivery::Control(control) => {
                outcome.control = Some(control);
                return Ok(outcome);
            }
        };
        let mut events: std::collections::VecDeque<Incoming> = events.into();
        // Every key was claimed at once, for one lease; handling is one
        // event at a time. Past half the lease, the events not yet handled
        // are claimed again, so that no claim lapses while its event waits
        // (a redelivery would take it and handle the event a second time).
        // (At least one event is handled between two claims: a lease of
        // zero still makes progress.)
        let mut claimed_at = std::time::Instant::now();
        let mut handled_since = false;
        while let Some(incoming) = events.pop_front() {
            let is_new = matches!(incoming, Incoming::New { .. });
            if is_new && handled_since && claimed_at.elapsed() > self.lease / 2 {
                events.push_front(incoming);
                events = self.claim_again(events).await?;
                claimed_at = std::time::Instant::now();
                handled_since = false;
                continue;
            }
            handled_since |= is_new;
            match incoming {
                Incoming::New { event, claim } => {
                    let settled = match handler(event).await {
                        Ok(()) => self.complete(&claim).await.map(|()| outcome.handled += 1),
                        Err(error) => {
                            outcome.errors.push(error);
                            self.release(&claim).await
                        }
                    };
                    if let Err(error) = settled {
                        // The store failed. Give back this claim (a handled
                        // event whose completion was not recorded is
                        // handled again on the retry: at least once, never
                        // lost) and every claim not yet handled, so the
                        // provider's retry is processed at once rather than
                        // after the leases.
                        if !store_down(&self.store.release(&claim).await) {
                            self.release_all(events).await;
                        }
                        return Err(error);
                    }
                }
                Incoming::Duplicate(_) => outcome.duplicates += 1,
                Incoming::InProgress(_) => outcome.in_progress += 1,
            }
        }
        Ok(outcome)
    }
}

impl<P: EmailProvider> Pipeline<P, NoStore> {
    /// A pipeline with no idempotency store: every event is new, nothing is
    /// deduplicated. Refused for a provider whose safety needs a store
    /// ([`EmailProvider::needs_store`]: Mailgun).
    ///
    /// # Errors
    ///
    /// [`StoreRequired`] for such a provider.
    pub fn without_store(provider: P) -> Result<Self, StoreRequired> {
        if provider.needs_store() {
            return Err(StoreRequired);
        }
        Ok(Self::dangerous_without_store(provider))
    }

    /// A pipeline with no idempotency store, for any provider. With Mailgun
    /// a captured signature then vouches for any event data within the
    /// replay window.
    #[must_use]
    pub fn dangerous_without_store(provider: P) -> Self {
        Self::new(provider, NoStore(()))
    }
}

impl<P: EmailProvider, S: IdempotencyStore> Pipeline<P, S> {
    /// Verifies, parses and claims.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] (refuse the request), [`Error::Parse`] (a verified
    /// body that is not the provider's payload), or [`Error::Store`] (answer
    /// with a retryable status).
    pub async fn process(&self, request: &Request<'_>) -> Result<Delivery, Error> {
        self.process_with(&self.provider, request).await
    }

    /// The whole handler pattern: process the request, run `handler` on each
    /// new event, complete its claim on success and release it on failure
    /// (the handler's error is kept in [`Outcome::errors`]).
    ///
    /// If the store fails midway, every claim of the delivery still held is
    /// given back before the error is returned (answer it 503: the provider
    /// retries at once instead of waiting out the leases); an event handled
    /// just before its completion failed is then handled again on the
    /// retry. Within one delivery, an event whose key repeats an earlier
    /// one is a duplicate of it.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::process`], and [`Error::Store`] when completing or
    /// releasing fails.
    pub async fn run<F, Fut, E>(
        &self,
        request: &Request<'_>,
        handler: F,
    ) -> Result<Outcome<E>, Error>
    where
        F: FnMut(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.run_with(&self.provider, request, handler).await
    }

    /// The answer the provider needs for a [`run`](Self::run)'s result.
    pub fn reply<E>(&self, result: &Result<Outcome<E>, Error>) -> Reply {
        self.provider.reply(answer_for(result))
    }
}

impl<P: EmailProvider, S: IdempotencyStore> Pipeline<P, S> {
    /// The durable handoff: verifies and parses the delivery, then enqueues
    /// its new events on `queue` in one atomic, idempotent call (a
    /// redelivered batch enqueues nothing new; a key repeated within the
    /// delivery counts as a duplicate). Answer 2xx only on `Ok`: the events
    /// are then durable, and a `Worker` (feature `worker`) handles
    /// them. The pipeline's store still spends single-use tokens (Mailgun).
    ///
    /// # Errors
    ///
    /// As [`Pipeline::process`]; [`Error::Store`] when the queue fails
    /// (answer 503: nothing was enqueued, the provider retries).
    pub async fn hand_off<U: Queue>(
        &self,
        request: &Request<'_>,
        queue: &U,
    ) -> Result<Enqueued, Error> {
        self.hand_off_with(&self.provider, request, queue).await
    }

    /// The answer the provider needs for a [`hand_off`](Self::hand_off)'s
    /// result.
    pub fn reply_enqueued(&self, result: &Result<Enqueued, Error>) -> Reply {
        self.provider.reply(enqueued_answer(result))
    }
}

fn enqueued_answer(result: &Result<Enqueued, Error>) -> Answer {
    match result {
        Ok(_) => Answer::Accepted,
        Err(error) => Answer::from_error(error),
    }
}

/// Each event's key, and whether it is the first with that key in the
/// delivery; returns the first keys in order.
fn first_keys(events: &[EmailEvent]) -> (Vec<String>, Vec<bool>) {
    let all: Vec<String> = events.iter().map(EmailEvent::idempotency_key).collect();
    let firsts: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        all.iter().map(|key| seen.insert(key.as_str())).collect()
    };
    let keys = all
        .into_iter()
        .zip(&firsts)
        .filter_map(|(key, &first)| first.then_some(key))
        .collect();
    (keys, firsts)
}

impl<S: IdempotencyStore> Pipeline<Providers, S> {
    /// [`Pipeline::hand_off`] for the provider named `name`; `None` when no
    /// provider of that name is configured.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::hand_off`].
    pub async fn hand_off_for<U: Queue>(
        &self,
        name: &str,
        request: &Request<'_>,
        queue: &U,
    ) -> Option<(Result<Enqueued, Error>, Reply)> {
        let provider = self.provider.get(name)?;
        let result = self.hand_off_with(provider, request, queue).await;
        let reply = provider.reply(enqueued_answer(&result));
        Some((result, reply))
    }

    /// [`Pipeline::run`] for the provider named `name` (its kebab-case
    /// name, as in `/webhooks/{provider}`); `None` when no provider of that
    /// name is configured.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::run`].
    pub async fn run_for<F, Fut, E>(
        &self,
        name: &str,
        request: &Request<'_>,
        handler: F,
    ) -> Option<(Result<Outcome<E>, Error>, Reply)>
    where
        F: FnMut(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let provider = self.provider.get(name)?;
        let result = self.run_with(provider, request, handler).await;
        let reply = provider.reply(answer_for(&result));
        Some((result, reply))
    }
}

fn answer_for<E>(result: &Result<Outcome<E>, Error>) -> Answer {
    match result {
        Ok(outcome) => outcome.answer(),
        Err(error) => Answer::from_error(error),
    }
}

/// What [`Pipeline::run`] did with a request, and the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome<E = std::convert::Infallible> {
    /// New events the handler processed successfully (claims completed).
    pub handled: usize,
    /// Events already processed before (acknowledged, not handled again).
    pub duplicates: usize,
    /// Events another worker holds (the provider must come back).
    pub in_progress: usize,
    /// The handler's errors, one per failed event (claims released for the
    /// retry).
    pub errors: Vec<E>,
    /// A control message the delivery carried instead of events (an SNS
    /// subscription confirmation: visit its URL if you expect it).
    pub control: Option<Control>,
}

impl<E> Default for Outcome<E> {
    fn default() -> Self {
        Self {
            handled: 0,
            duplicates: 0,
            in_progress: 0,
            errors: Vec::new(),
            control: None,
        }
    }
}

impl<E> Outcome<E> {
    /// How many new events the handler failed on.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.errors.len()
    }

    /// What to answer: retry later with 500 if a handler failed (released
    /// claims let the retry through), with 503 if an event is held
    /// elsewhere, else accepted.
    #[must_use]
    pub fn answer(&self) -> Answer {
        if !self.errors.is_empty() {
            Answer::RetryLater(StatusCode::INTERNAL_SERVER_ERROR)
        } else if self.in_progress > 0 {
            Answer::RetryLater(StatusCode::SERVICE_UNAVAILABLE)
        } else {
            Answer::Accepted
        }
    }

    /// The status of [`Reply::standard`] for [`answer`](Self::answer): 500,
    /// 503 or 200. Answer with [`Pipeline::reply`] instead where the
    /// provider needs a body in its answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        Reply::standard(self.answer()).status
    }
}

/// Whether a release failed because the store itself failed (not because
/// the claim had lapsed and was taken over).
fn store_down(released: &Result<(), crate::idempotency::StoreError>) -> bool {
    matches!(released, Err(e) if !matches!(e, crate::idempotency::StoreError::StaleToken))
}
