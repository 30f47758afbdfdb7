//! The inbound route's providers: which providers' inbound mail a receiver
//! takes, with their credentials, limits and content source.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{ContentRef, ContentSource, FetchError, InboundLimits, InboundMessage};
use crate::error::Error;
use crate::provider::{DynProvider, EmailProvider, InboundInfo, Provider, Settings, SetupError};
use crate::request::Request;

/// [`ContentSource`] behind a pointer.
trait DynSource: Send + Sync {
    fn fetch_boxed(&self, content: ContentRef) -> BoxFuture<'_, Result<Vec<u8>, FetchError>>;
}

impl<C: ContentSource> DynSource for C {
    fn fetch_boxed(&self, content: ContentRef) -> BoxFuture<'_, Result<Vec<u8>, FetchError>> {
        Box::pin(async move { self.fetch(&content).await })
    }
}

/// The configured source, as a [`ContentSource`] again.
#[derive(Clone)]
struct Shared(Arc<dyn DynSource>);

impl ContentSource for Shared {
    fn fetch(
        &self,
        content: &ContentRef,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, FetchError>> + Send {
        self.0.fetch_boxed(content.clone())
    }
}

struct Configured {
    provider: Provider,
    info: &'static InboundInfo,
    /// How deliveries are authenticated: a verifier given as such, or the
    /// provider's own inbound verification, built from settings.
    auth: Auth,
}

enum Auth {
    Built(crate::provider::InboundVerify),
    Verifier(Box<dyn DynProvider>),
}

/// The providers whose inbound mail a receiver takes, each with the
/// [`Settings`] its inbound webhook is authenticated by (checked when
/// added), the [`InboundLimits`], and the [`ContentSource`] for providers
/// that post a reference to fetch. The adapters serve it at
/// `POST /webhooks/{provider}/inbound`.
///
/// ```
/// use email_webhooks::inbound::InboundProviders;
/// use email_webhooks::provider::{Provider, Settings};
///
/// let mut postmark = Settings::new();
/// postmark.basic_auth.push("inbound:s3cret".into());
/// let inbound = InboundProviders::new().with(Provider::Postmark, &postmark)?;
/// assert!(inbound.get("postmark").is_some());
/// # Ok::<(), email_webhooks::provider::SetupError>(())
/// ```
#[derive(Default)]
pub struct InboundProviders {
    providers: Vec<Configured>,
    limits: InboundLimits,
    source: Option<Shared>,
    /// Source allowlists by provider name.
    sources: crate::allowlist::ByProvider,
    /// The inbound route's per-source rate limit.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    rate_limit: Option<crate::ratelimit::RateLimit>,
}

impl std::fmt::Debug for InboundProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.providers.iter().map(|c| c.provider.as_str()).collect();
        f.debug_struct("InboundProviders")
            .field("providers", &names)
            .field("limits", &self.limits)
            .field("content_source", &self.source.is_some())
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl InboundProviders {
    /// No provider yet; [`InboundLimits::default`]; no content source.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `provider`'s inbound mail, authenticated by `settings` (as the
    /// CLI's `verify --inbound` flags name them: see each provider's
    /// [`InboundInfo::authenticated_by`]). A provider added twice keeps
    /// its first settings. For Amazon SES, whose settings pin one SNS
    /// certificate, prefer [`with_verifier`](Self::with_verifier).
    ///
    /// # Errors
    ///
    /// [`SetupError`] when the provider reads no inbound mail in this
    /// build, or a setting is missing or unusable (checked now, not at the
    /// first delivery).
    pub fn with(mut self, provider: Provider, settings: &Settings) -> Result<Self, SetupError> {
        let info = provider
            .info()
            .and_then(|info| info.inbound)
            .ok_or(SetupError::Missing("a provider that posts inbound mail"))?;
        // Built once, here: a setting that is missing or unusable is
        // refused now, not at the first delivery.
        let verify = (info.build)(settings)?;
        if self.find(provider.as_str()).is_none() {
            self.providers.push(Configured {
                provider,
                info,
                auth: Auth::Built(verify),
            });
        }
        Ok(self)
    }

    /// Takes the inbound mail of `verifier`'s provider, authenticated by
    /// `verifier`: one of the crate's verifiers, built as for the
    /// provider's events, for a provider whose event verifier authenticates
    /// its inbound deliveries as they come
    /// ([`InboundInfo::by_event_verifier`](crate::provider::InboundInfo::by_event_verifier)).
    /// For Amazon SES this is the way to fetch SNS
    /// certificates by URL (an [`SesVerifier`](crate::provider::ses::SesVerifier)
    /// over an [`SnsVerifier`](crate::provider::sns::SnsVerifier) with your
    /// [`CertificateSource`](crate::provider::sns::CertificateSource)):
    /// [`with`](Self::with) pins the one certificate of its settings, which
    /// stops verifying when AWS signs with another (a rotation, a topic in
    /// another region), and SNS drops what is refused. The verifier's own
    /// body limit applies first: set it at least as high as the inbound one
    /// ([`Configure::with_limits`](crate::Configure::with_limits)). A
    /// provider added twice keeps its first configuration.
    ///
    /// # Errors
    ///
    /// [`SetupError`] when the provider reads no inbound mail in this
    /// build; [`SetupError::InboundNeedsSettings`] when its inbound route
    /// is not authenticated by its event verifier (configure it with
    /// [`with`](Self::with)).
    pub fn with_verifier(
        mut self,
        verifier: impl EmailProvider + 'static,
    ) -> Result<Self, SetupError> {
        let provider = EmailProvider::id(&verifier);
        let info = provider
            .info()
            .and_then(|info| info.inbound)
            .ok_or(SetupError::Missing("a provider that posts inbound mail"))?;
        if !info.by_event_verifier {
            return Err(SetupError::InboundNeedsSettings(provider.as_str()));
        }
        if self.find(provider.as_str()).is_none() {
            self.providers.push(Configured {
                provider,
                info,
                auth: Auth::Verifier(Box::new(verifier)),
            });
        }
        Ok(self)
    }

    /// Sets the limits (default [`InboundLimits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: InboundLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Fetches what providers post by reference (SES's S3 objects,
    /// received emails' details, attachments by token) from `source`. Without one,
    /// such a delivery is answered 503 (`content_unavailable`): the
    /// provider keeps the message.
    #[must_use]
    pub fn with_content_source(mut self, source: impl ContentSource + 'static) -> Self {
        self.source = Some(Shared(Arc::new(source)));
        self
    }

    /// Accepts `provider`'s inbound deliveries only from `sources` (see
    /// [`allowlist`](crate::allowlist)), as
    /// [`Providers::with_sources`](crate::provider::Providers::with_sources)
    /// does for events: the inbound routes refuse others with
    /// `source_not_allowed`. Providers that relay inbound mail from the
    /// addresses they deliver events from can share one list.
    #[must_use]
    pub fn with_sources(
        mut self,
        provider: Provider,
        sources: crate::allowlist::SourceAllowlist,
    ) -> Self {
        self.sources.set(provider.as_str(), sources);
        self
    }

    /// The source allowlist of the provider named `name`, if it has one.
    #[must_use]
    pub fn sources(&self, name: &str) -> Option<&crate::allowlist::SourceAllowlist> {
        self.sources.get(name)
    }

    /// Limits refused requests per provider and source on the inbound
    /// routes, as
    /// [`Providers::with_rate_limit`](crate::provider::Providers::with_rate_limit)
    /// does on the events route (deliveries that authenticate are never
    /// charged). Use a limit of its own: the two routes' budgets are apart.
    /// Like a source allowlist it needs the client's address: serve axum
    /// with `into_make_service_with_connect_info::<SocketAddr>()`; without
    /// it every inbound delivery is answered 500 `no_peer_address`.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
    #[must_use]
    pub fn with_rate_limit(mut self, limit: crate::ratelimit::RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The inbound routes' rate limit, if set.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
    #[must_use]
    pub fn rate_limit(&self) -> Option<&crate::ratelimit::RateLimit> {
        self.rate_limit.as_ref()
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> &InboundLimits {
        &self.limits
    }

    /// The provider named `name` (its [`Provider::as_str`]), if configured.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Provider> {
        self.find(name).map(|c| c.provider)
    }

    fn find(&self, name: &str) -> Option<&Configured> {
        self.providers.iter().find(|c| c.provider.as_str() == name)
    }

    /// Authenticates and parses a delivery to provider `name`, then fetches
    /// what its messages refer to. `None` when `name` is not configured.
    /// What a delivery without messages says about the webhook itself (an
    /// SNS subscription confirmation) is not returned here: [`run`](Self::run)
    /// and [`hand_off`](Self::hand_off) report it
    /// ([`InboundOutcome::control`]).
    ///
    /// # Errors
    ///
    /// The delivery's [`Error`]: refused (4xx) when not the provider's or
    /// over a limit, transient (503) when content could not be fetched.
    pub async fn receive(
        &self,
        name: &str,
        request: &Request<'_>,
    ) -> Option<Result<Vec<InboundMessage>, Error>> {
        let configured = self.find(name)?;
        let received = async {
            let (mut messages, _) = self.receive_with(configured, request).await?;
            for message in &mut messages {
                self.fetch(message).await?;
            }
            Ok(messages)
        };
        Some(received.await)
    }

    /// The messages of a delivery, and what it says about the webhook
    /// itself when it holds none; what they refer to is not fetched yet.
    async fn receive_with(
        &self,
        configured: &Configured,
        request: &Request<'_>,
    ) -> Result<(Vec<InboundMessage>, Option<crate::provider::Control>), Error> {
        let mut control = None;
        let messages = match &configured.auth {
            Auth::Built(verify) => verify.verify(request, &self.limits)?,
            Auth::Verifier(verifier) => {
                // Authenticated (what it reads as events is not used), then
                // read as inbound mail.
                control = verifier.receive_boxed(request).await?.control;
                (configured.info.parse)(request, &self.limits)?
            }
        };
        if !messages.is_empty() {
            // A control comes alone: never beside messages.
            control = None;
        } else if control.is_none() {
            // Authenticated above: what it says is the provider's.
            control = configured
                .info
                .control
                .and_then(|read| read(request.body()));
        }
        Ok((messages, control))
    }

    /// Fetches what `message` refers to, as [`fetch`](Self::fetch) does,
    /// for a message about to be handled or enqueued: content that can
    /// never be read (over a limit, not what the provider serves there)
    /// makes it an [`unreadable`](InboundMessage::unreadable) message
    /// with the fields its delivery gave, so it reaches your handler and
    /// the delivery's other messages are not held back with it. A fetch
    /// that failed for now ([`FetchError::Unavailable`]) is the error.
    async fn fetch_or_mark(&self, message: &mut InboundMessage) -> Result<(), FetchError> {
        match self.fetch(message).await {
            Err(error @ (FetchError::TooLarge { .. } | FetchError::Invalid(_))) => {
                message.mark_unreadable(&error);
                Ok(())
            }
            other => other,
        }
    }

    /// Fetches what `message` refers to, if anything.
    async fn fetch(&self, message: &mut InboundMessage) -> Result<(), FetchError> {
        if message.pending().next().is_none() {
            return Ok(());
        }
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| FetchError::Unavailable("no content source is configured".to_owned()))?;
        message.fetch(source, &self.limits).await
    }

    /// The answer provider `name` needs for `answer` (its
    /// [`InboundInfo::reply`]; the standard one for a name not
    /// configured).
    #[must_use]
    pub fn reply(&self, name: &str, answer: crate::provider::Answer) -> crate::provider::Reply {
        self.find(name).map_or_else(
            || crate::provider::Reply::standard(answer),
            |c| (c.info.reply)(answer),
        )
    }

    /// The names of the providers configured, in the order they were added
    /// (to list them in your own diagnostics; the routes answer an unknown
    /// name 404 without a body).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.iter().map(|c| c.provider.as_str())
    }
}

/// What one inbound delivery came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundOutcome {
    /// Messages handled now (handler in the request).
    pub handled: usize,
    /// Messages durably enqueued now (handoff).
    pub enqueued: usize,
    /// Messages handled or queued before: the provider's redelivery.
    pub duplicates: usize,
    /// Messages whose handler failed (claims released; answered 500 so the
    /// provider sends them again).
    pub failed: usize,
    /// Messages another worker holds now (answered 503).
    pub in_progress: usize,
    /// What a delivery without messages said about the webhook itself:
    /// SNS asking to confirm the subscription of the inbound route's topic
    /// (never confirmed automatically; the adapters report it to the
    /// observer as the events route's: `Handled::control`).
    pub control: Option<crate::provider::Control>,
}

impl InboundOutcome {
    /// The answer: accepted when every message was handled, queued or a
    /// duplicate; 500 when a handler failed; 503 when one is held
    /// elsewhere. Both make the provider send the delivery again.
    #[must_use]
    pub fn answer(&self) -> crate::provider::Answer {
        use crate::provider::Answer;
        if self.failed > 0 {
            Answer::RetryLater(http::StatusCode::INTERNAL_SERVER_ERROR)
        } else if self.in_progress > 0 {
            Answer::RetryLater(http::StatusCode::SERVICE_UNAVAILABLE)
        } else {
            Answer::Accepted
        }
    }
}

/// How long a handled message's key is remembered (as the queues'
/// [`DEFAULT_RETENTION`](crate::queue::DEFAULT_RETENTION): longer than any
/// provider's retries).
const RETENTION: std::time::Duration = crate::queue::DEFAULT_RETENTION;

/// How long a message's claim is held for fetching what it refers to and
/// running its handler: a redelivery meanwhile is answered `in_progress`
/// (retried later), and a receiver that dies holding a claim delays the
/// message by at most this. Fetching can take a while (an S3 object of
/// tens of MiB, one request per attachment), so it is minutes, not the
/// seconds a provider waits for an answer.
const LEASE: std::time::Duration = std::time::Duration::from_secs(300);

impl InboundProviders {
    /// Handler in the request: receives a delivery to provider `name`,
    /// then runs `handler` once per new message, each claimed in `store`
    /// under its [`InboundMessage::idempotency_key`] (a redelivery is a
    /// duplicate) and completed when the handler succeeds, released when
    /// it fails. What a message refers to is fetched once it is claimed: a
    /// duplicate is never fetched again (its links may have expired). A
    /// fetch that failed for now gives the claim back, the delivery's other
    /// messages are handled, and the delivery answers 503; content that can
    /// never be read makes the message
    /// [`unreadable`](InboundMessage::unreadable). A provider's single-use token
    /// ([`InboundMessage::replay_token`]) is spent in `store` first: a
    /// second delivery carrying it is refused as replayed. `None` when
    /// `name` is not configured.
    ///
    /// # Errors
    ///
    /// The delivery's [`Error`] (refused, or a transient store or fetch
    /// failure).
    pub async fn run<S, F, Fut, E>(
        &self,
        name: &str,
        request: &Request<'_>,
        store: &S,
        mut handler: F,
    ) -> Option<Result<InboundOutcome, Error>>
    where
        S: crate::idempotency::IdempotencyStore,
        F: FnMut(InboundMessage) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        use crate::idempotency::Claim;
        // Each message claimed before what it refers to is fetched: a
        // redelivery of a message already handled is a duplicate without a
        // fetch (its links may have expired since).
        let (messages, control) = match self.receive_spent(name, request, store).await? {
            Ok(received) => received,
            Err(error) => return Some(Err(error)),
        };
        let mut outcome = InboundOutcome {
            control,
            ..InboundOutcome::default()
        };
        let mut unfetched = None;
        for mut message in messages {
            let key = message.idempotency_key();
            let claim = match store.begin(&key, LEASE).await {
                Ok(Claim::Acquired(claim)) => claim,
                Ok(Claim::Completed) => {
                    crate::telemetry::event(&key, "duplicate");
                    outcome.duplicates += 1;
                    continue;
                }
                Ok(Claim::InProgress) => {
                    crate::telemetry::event(&key, "in_progress");
                    outcome.in_progress += 1;
                    continue;
                }
                Err(error) => return Some(Err(error.into())),
            };
            crate::telemetry::event(&key, "claimed");
            if let Err(error) = self.fetch_or_mark(&mut message).await {
                // Not handled: the claim given back, the other messages
                // handled, and the delivery answered 503 so that the
                // provider sends it again.
                let _ = store.release(&claim).await;
                unfetched.get_or_insert(error);
                continue;
            }
            if handler(message).await.is_ok() {
                if let Err(error) = store.complete(&claim, RETENTION).await {
                    return Some(Err(error.into()));
                }
                outcome.handled += 1;
            } else {
                // The claim given back: the provider's redelivery runs it
                // again. A failed release expires with its lease.
                let _ = store.release(&claim).await;
                outcome.failed += 1;
            }
        }
        if let Some(error) = unfetched {
            return Some(Err(error.into()));
        }
        Some(Ok(outcome))
    }

    /// Handoff: receives a delivery to provider `name` and enqueues each
    /// message on `queue` (one atomic, idempotent call, keyed by
    /// [`InboundMessage::idempotency_key`]); a `Worker`'s `run_inbound`
    /// handles them. A message over [`InboundLimits::max_queued_bytes`]
    /// encoded refuses the whole delivery with
    /// [`StoreError::TooLarge`](crate::queue::StoreError::TooLarge)
    /// (503: the provider keeps it), never enqueued in part. Single-use
    /// tokens are spent in `store` as in [`run`](Self::run), before
    /// anything is fetched. A message whose content could not be fetched
    /// for now is left out and the others enqueued, the delivery then
    /// answered 503 (the retry enqueues it, the others duplicates); content
    /// that can never be read makes the message
    /// [`unreadable`](InboundMessage::unreadable), enqueued as such.
    /// `None` when `name` is not configured.
    ///
    /// # Errors
    ///
    /// The delivery's [`Error`] (refused, or a transient store, queue or
    /// fetch failure).
    pub async fn hand_off<S, Q>(
        &self,
        name: &str,
        request: &Request<'_>,
        store: &S,
        queue: &Q,
    ) -> Option<Result<InboundOutcome, Error>>
    where
        S: crate::idempotency::IdempotencyStore,
        Q: crate::queue::Queue,
    {
        // Tokens are spent before anything is fetched: a delivery whose
        // token was spent with another body never makes a fetch with your
        // credentials. (The same body again is the provider's retry, and
        // is fetched again: the queue, not the store, knows it is a
        // duplicate.)
        let (messages, control) = match self.receive_spent(name, request, store).await? {
            Ok(received) => received,
            Err(error) => return Some(Err(error)),
        };
        // The messages fetched are enqueued; one whose fetch failed for now
        // is left to the provider's retry (the delivery answered 503), and
        // the others are then duplicates.
        let mut unfetched = None;
        let mut fetched = Vec::with_capacity(messages.len());
        for mut message in messages {
            match self.fetch_or_mark(&mut message).await {
                Ok(()) => fetched.push(message),
                Err(error) => {
                    unfetched.get_or_insert(error);
                }
            }
        }
        let enqueued = self.enqueue(&fetched, queue).await;
        Some(match (enqueued, unfetched) {
            (Err(error), _) => Err(error),
            (Ok(_), Some(error)) => Err(error.into()),
            (Ok(outcome), None) => Ok(InboundOutcome { control, ..outcome }),
        })
    }

    async fn enqueue<Q: crate::queue::Queue>(
        &self,
        messages: &[InboundMessage],
        queue: &Q,
    ) -> Result<InboundOutcome, Error> {
        let jobs = messages
            .iter()
            .map(|m| crate::queue::NewJob::for_inbound(m, self.limits.max_queued_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let answers = queue.enqueue(&jobs).await?;
        if answers.len() != jobs.len() {
            return Err(crate::idempotency::StoreError::Backend(
                "the queue answered fewer results than jobs".into(),
            )
            .into());
        }
        for (job, new) in jobs.iter().zip(&answers) {
            crate::telemetry::event(&job.key, if *new { "enqueued" } else { "duplicate" });
        }
        let enqueued = answers.iter().filter(|new| **new).count();
        Ok(InboundOutcome {
            enqueued,
            duplicates: answers.len() - enqueued,
            ..InboundOutcome::default()
        })
    }

    /// [`receive`](Self::receive) without fetching, then spends each
    /// message's single-use token in `store`: the caller fetches after.
    async fn receive_spent<S: crate::idempotency::IdempotencyStore>(
        &self,
        name: &str,
        request: &Request<'_>,
        store: &S,
    ) -> Option<Result<(Vec<InboundMessage>, Option<crate::provider::Control>), Error>> {
        let configured = self.find(name)?;
        let (messages, control) = match self.receive_with(configured, request).await {
            Ok(received) => received,
            Err(error) => return Some(Err(error)),
        };
        for token in messages.iter().filter_map(|m| m.replay_token.as_deref()) {
            let spent =
                crate::idempotency::spend_single_use(store, token, request.body(), RETENTION);
            if let Err(error) = spent.await {
                return Some(Err(error));
            }
        }
        Some(Ok((messages, control)))
    }
}
