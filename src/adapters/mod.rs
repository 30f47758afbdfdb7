//! Web-framework integration, each behind its feature.

#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

/// The adapters' `Webhook` `Debug`: header names and the body's length,
/// never a header value or the body (credentials such as Postmark's
/// `Authorization`, and personal data, would reach traced logs).
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn debug_webhook<'a>(
    f: &mut std::fmt::Formatter<'_>,
    header_names: impl Iterator<Item = &'a str>,
    body_len: usize,
    received_at: time::OffsetDateTime,
) -> std::fmt::Result {
    let names: Vec<&str> = header_names.collect();
    f.debug_struct("Webhook")
        .field("header_names", &names)
        .field("body_len", &body_len)
        .field("received_at", &received_at)
        .finish_non_exhaustive()
}

/// The public base URL providers call (scheme, host and any path prefix,
/// such as `https://hooks.example.com`), for the adapters to build each
/// request's [`Request::url`](crate::Request::url) from: this base plus the
/// request's path and query. Never taken from the unsigned `Host` header.
///
/// Put it in the app's shared data (`axum::Extension(url)` or actix-web's
/// `App::app_data(url)`); without it a request has no URL, which only
/// URL-signed or URL-secret providers need.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

#[cfg(any(feature = "axum", feature = "actix-web"))]
impl PublicUrl {
    /// A base URL: `http://` or `https://`, a host, an optional path prefix,
    /// no query or fragment (the request's own are appended); a trailing
    /// `/` is dropped.
    ///
    /// # Errors
    ///
    /// [`InvalidPublicUrl`] for anything else.
    pub fn new(base: impl Into<String>) -> Result<Self, InvalidPublicUrl> {
        let mut base = base.into();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(InvalidPublicUrl)?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty()
            || base.contains(['?', '#'])
            || base.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidPublicUrl);
        }
        while base.ends_with('/') {
            base.pop();
        }
        Ok(Self(base))
    }

    /// The base URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full URL of a request with `path_and_query`.
    fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

/// A [`PublicUrl`] that is not an `http(s)://host[/prefix]` base.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a public base url is http(s)://host[/prefix], with no query or fragment")]
pub struct InvalidPublicUrl;

#[cfg(all(test, any(feature = "axum", feature = "actix-web")))]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_bases_without_query_or_fragment() {
        let ok = |u: &str| PublicUrl::new(u).map(|p| p.as_str().to_owned());
        assert_eq!(
            ok("https://hooks.example.com/").as_deref(),
            Ok("https://hooks.example.com")
        );
        assert_eq!(
            ok("http://127.0.0.1:3000/prefix").as_deref(),
            Ok("http://127.0.0.1:3000/prefix")
        );
        for bad in [
            "hooks.example.com",
            "https://",
            "https://h/?a=1",
            "https://h/#x",
            "ftp://h",
            "https://h /p",
        ] {
            assert_eq!(ok(bad), Err(InvalidPublicUrl), "{bad}");
        }
    }
}

/// One delivery's handling by a dynamic route, reported to the route's
/// observer (for logs and metrics): the provider name from the path, the
/// reply sent, and the error code when the delivery was refused or failed.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// The provider name from the path.
    pub provider: String,
    /// The status answered.
    pub status: u16,
    /// The error's stable code, for a refused or failed delivery.
    pub error_code: Option<&'static str>,
    /// Events handled now (handler in the request).
    pub handled: usize,
    /// Events durably enqueued now (handoff).
    pub enqueued: usize,
    /// Events already handled (or queued) before.
    pub duplicates: usize,
    /// Events whose handler failed (claims released for the retry).
    pub failed: usize,
    /// A control message the delivery carried (an SNS subscription
    /// confirmation: visit its URL if you expect it).
    pub control: Option<crate::provider::Control>,
}

/// What a route got for one delivery, whatever the framework: the
/// request, or why reading it failed (over the body limit, a broken
/// stream); the headers and the peer's address either way, so that a
/// refusal while reading is charged to its source as any other refusal.
/// An unknown provider is `None` (answer 404). Every refusal, before the
/// pipeline or in it, is answered as the provider needs and reported to
/// the observer (`rate_limited` for a source over its limit).
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[derive(Clone, Copy)]
pub(crate) struct Hook<'a> {
    read: Result<crate::Request<'a>, &'a crate::Error>,
    headers: &'a (dyn crate::Headers + Sync),
    peer: Option<std::net::IpAddr>,
}

#[cfg(any(feature = "axum", feature = "actix-web"))]
impl<'a> Hook<'a> {
    /// A request read whole, from `peer`.
    pub(crate) fn read(request: crate::Request<'a>, peer: Option<std::net::SocketAddr>) -> Self {
        Self {
            headers: request.headers(),
            read: Ok(request),
            peer: peer.map(|p| p.ip()),
        }
    }

    /// A request whose body could not be read, with its headers.
    pub(crate) fn unread(
        error: &'a crate::Error,
        headers: &'a (dyn crate::Headers + Sync),
        peer: Option<std::net::SocketAddr>,
    ) -> Self {
        Self {
            read: Err(error),
            headers,
            peer: peer.map(|p| p.ip()),
        }
    }
}

/// What the routes' checks read from their configuration: the events'
/// [`Providers`](crate::provider::Providers) or the
/// [`InboundProviders`](crate::inbound::InboundProviders).
#[cfg(any(feature = "axum", feature = "actix-web"))]
trait Gate {
    /// Whether provider `name` is configured.
    fn serves(&self, name: &str) -> bool;
    /// The answer provider `name` needs; `None` when it is not configured.
    fn answer(&self, name: &str, answer: crate::provider::Answer)
    -> Option<crate::provider::Reply>;
    /// The provider's source allowlist, if it has one.
    fn allowlist(&self, name: &str) -> Option<&crate::allowlist::SourceAllowlist>;
    /// The route's rate limit, if set.
    fn limit(&self) -> Option<&crate::ratelimit::RateLimit>;
}

#[cfg(any(feature = "axum", feature = "actix-web"))]
impl Gate for crate::provider::Providers {
    fn serves(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    fn answer(
        &self,
        name: &str,
        answer: crate::provider::Answer,
    ) -> Option<crate::provider::Reply> {
        self.get(name).map(|provider| provider.reply(answer))
    }
    fn allowlist(&self, name: &str) -> Option<&crate::allowlist::SourceAllowlist> {
        self.sources(name)
    }
    fn limit(&self) -> Option<&crate::ratelimit::RateLimit> {
        self.rate_limit()
    }
}

#[cfg(any(feature = "axum", feature = "actix-web"))]
impl Gate for crate::inbound::InboundProviders {
    fn serves(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    fn answer(
        &self,
        name: &str,
        answer: crate::provider::Answer,
    ) -> Option<crate::provider::Reply> {
        self.get(name).map(|_| self.reply(name, answer))
    }
    fn allowlist(&self, name: &str) -> Option<&crate::allowlist::SourceAllowlist> {
        self.sources(name)
    }
    fn limit(&self) -> Option<&crate::ratelimit::RateLimit> {
        self.rate_limit()
    }
}

/// The route's checks before the work: the provider exists, the body was
/// read, the source is allowed (and, with a rate limit, known). `None`
/// for an unknown provider; `Err` carries the refusal's reply.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn admit<'a, G: Gate, O: Fn(&Handled)>(
    gate: &G,
    name: &str,
    hook: Hook<'a>,
    observe: &O,
    started: std::time::Instant,
) -> Option<Result<(crate::Request<'a>, Option<std::net::IpAddr>), crate::provider::Reply>> {
    if !gate.serves(name) {
        return None;
    }
    let Hook {
        read,
        headers,
        peer,
    } = hook;
    let refuse = |error: &crate::Error| {
        let (reply, code) = charged(gate, name, peer, headers, error).unwrap_or_else(|| {
            let answer = crate::provider::Answer::from_error(error);
            let reply = gate
                .answer(name, answer)
                .unwrap_or_else(|| crate::provider::Reply::standard(answer));
            (reply, error.code())
        });
        if error.is_retryable() {
            // The provider sends it again; the operator must see why (a
            // broken stream, a server that gives no peer address).
            crate::telemetry::failure(name, reply.status.as_u16(), error);
        }
        finish(observe, &refused(name, code, &reply), started);
        reply
    };
    // Refused while reading (over the body limit): charged to its source
    // as a refusal after reading is.
    let request = match read {
        Ok(request) => request,
        Err(error) => return Some(Err(refuse(error))),
    };
    if let Some(error) = refused_before_reading(gate, name, peer, headers) {
        return Some(Err(refuse(&error)));
    }
    Some(Ok((request, peer)))
}

/// What refuses a delivery from its source and headers alone, checked
/// before its body is read (reading up to the body limit for a request
/// refused anyway would let any address make the server buffer that much
/// per connection): a source the provider's allowlist does not allow, or
/// no peer address where an allowlist or a rate limit needs one.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn refused_before_reading<G: Gate>(
    gate: &G,
    name: &str,
    peer: Option<std::net::IpAddr>,
    headers: &(dyn crate::Headers + Sync),
) -> Option<crate::Error> {
    if let Some(sources) = gate.allowlist(name) {
        let checked = peer
            .ok_or(crate::VerifyError::NoPeerAddress)
            .and_then(|peer| sources.check(peer, headers));
        if let Err(error) = checked {
            return Some(error.into());
        }
    }
    // A limit the server gives no peer address for would silently limit
    // nothing: a configuration to fix, answered as the allowlist answers
    // it (500, retried meanwhile).
    if gate.limit().is_some() && peer.is_none() {
        return Some(crate::VerifyError::NoPeerAddress.into());
    }
    None
}

/// With a rate limit, charges a refusal of a request that was not
/// authenticated to its provider and source; once that budget is spent,
/// the reply is 429 (the provider's form of "retry later") with
/// `Retry-After`, and the code `rate_limited`. Authenticated deliveries,
/// and transient failures, are never charged.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn charged<G: Gate>(
    gate: &G,
    name: &str,
    peer: Option<std::net::IpAddr>,
    headers: &(dyn crate::Headers + Sync),
    error: &crate::Error,
) -> Option<(crate::provider::Reply, &'static str)> {
    let limit = gate.limit()?;
    let peer = peer?;
    let crate::provider::Answer::Refused {
        authenticated: false,
        ..
    } = crate::provider::Answer::from_error(error)
    else {
        return None;
    };
    let wait = limit.refused(name, peer, headers).err()?;
    let mut reply = gate.answer(
        name,
        crate::provider::Answer::RetryLater(http::StatusCode::TOO_MANY_REQUESTS),
    )?;
    // Whole seconds, rounded up: never "retry now".
    reply.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    Some((reply, "rate_limited"))
}

/// A delivery the pipeline failed: reported when the provider will send
/// it again, and charged to its source when it was refused unauthenticated
/// (the reply and summary then say `rate_limited` once over the limit).
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn failed<G: Gate>(
    gate: &G,
    name: &str,
    (peer, request): (Option<std::net::IpAddr>, &crate::Request<'_>),
    error: &crate::Error,
    reply: &mut crate::provider::Reply,
    summary: &mut Handled,
) {
    if error.is_retryable() {
        crate::telemetry::failure(name, reply.status.as_u16(), error);
    }
    if let Some((throttled, code)) = charged(gate, name, peer, request.headers(), error) {
        summary.status = throttled.status.as_u16();
        summary.error_code = Some(code);
        *reply = throttled;
    }
}

/// Handler in the request: the pipeline runs `handler` on each new event.
#[cfg(any(feature = "axum", feature = "actix-web"))]
async fn deliver<S, F, Fut, E, O>(
    pipeline: &crate::pipeline::Pipeline<crate::provider::Providers, S>,
    name: &str,
    hook: Hook<'_>,
    handler: F,
    observe: &O,
) -> Option<crate::provider::Reply>
where
    S: crate::idempotency::IdempotencyStore,
    F: FnMut(crate::EmailEvent) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    O: Fn(&Handled),
{
    let started = std::time::Instant::now();
    let (request, peer) = match admit(pipeline.provider(), name, hook, observe, started)? {
        Ok(admitted) => admitted,
        Err(reply) => return Some(reply),
    };
    let (done, _span) = traced(name, pipeline.run_for(name, &request, handler)).await;
    let (result, mut reply) = done?;
    let mut summary = handled(name, &result, &reply);
    if let Err(error) = &result {
        failed(
            pipeline.provider(),
            name,
            (peer, &request),
            error,
            &mut reply,
            &mut summary,
        );
    }
    finish(observe, &summary, started);
    Some(reply)
}

/// Handoff: the pipeline enqueues the new events on `queue`.
#[cfg(any(feature = "axum", feature = "actix-web"))]
async fn hand_off<S, Q, O>(
    pipeline: &crate::pipeline::Pipeline<crate::provider::Providers, S>,
    name: &str,
    hook: Hook<'_>,
    queue: &Q,
    observe: &O,
) -> Option<crate::provider::Reply>
where
    S: crate::idempotency::IdempotencyStore,
    Q: crate::queue::Queue,
    O: Fn(&Handled),
{
    let started = std::time::Instant::now();
    let (request, peer) = match admit(pipeline.provider(), name, hook, observe, started)? {
        Ok(admitted) => admitted,
        Err(reply) => return Some(reply),
    };
    let (done, _span) = traced(name, pipeline.hand_off_for(name, &request, queue)).await;
    let (result, mut reply) = done?;
    let mut summary = refused(name, "", &reply);
    match &result {
        Ok(enqueued) => {
            summary.error_code = None;
            summary.enqueued = enqueued.enqueued;
            summary.duplicates = enqueued.duplicates;
            summary.control.clone_from(&enqueued.control);
            crate::telemetry::enqueued(name, enqueued.enqueued);
        }
        Err(error) => {
            summary.error_code = Some(error.code());
            failed(
                pipeline.provider(),
                name,
                (peer, &request),
                error,
                &mut reply,
                &mut summary,
            );
        }
    }
    finish(observe, &summary, started);
    Some(reply)
}

/// The delivery span, entered: the summary event reported under it is
/// the span's last. Nothing without the `tracing` feature.
#[cfg(all(feature = "tracing", any(feature = "axum", feature = "actix-web")))]
type Entered = tracing::span::EnteredSpan;
#[cfg(all(not(feature = "tracing"), any(feature = "axum", feature = "actix-web")))]
type Entered = ();

/// Runs a delivery's verification, parsing and claims or enqueue in a span
/// naming the provider and a delivery id of this receiver's own (random,
/// to tie the delivery's lines together; never a header, a body or an
/// address).
#[cfg(any(feature = "axum", feature = "actix-web"))]
async fn traced<F: std::future::Future>(provider: &str, work: F) -> (F::Output, Entered) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::info_span!(
            "email_webhooks.delivery",
            provider,
            delivery = %delivery_id()
        );
        let done = tracing::Instrument::instrument(work, span.clone()).await;
        (done, span.entered())
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = provider;
        (work.await, ())
    }
}

/// A delivery's id in the logs: 12 hex digits, drawn from a counter
/// started at a random value (distinct within a process, unlikely to repeat
/// across replicas, and without a system call per request).
#[cfg(all(feature = "tracing", any(feature = "axum", feature = "actix-web")))]
fn delivery_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 8];
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        AtomicU64::new(u64::from_le_bytes(seed))
    });
    // Spread consecutive ids apart (an odd multiplier is a bijection).
    let id = next
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:012x}", id >> 16)
}

/// Reports a delivery to the observer and the telemetry facades.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn finish<O: Fn(&Handled)>(observe: &O, summary: &Handled, started: std::time::Instant) {
    crate::telemetry::delivery(
        &summary.provider,
        summary.error_code.unwrap_or("ok"),
        summary.status,
        summary.handled + summary.enqueued + summary.duplicates,
        summary.duplicates,
        started.elapsed(),
    );
    observe(summary);
}

#[cfg(any(feature = "axum", feature = "actix-web"))]
fn refused(provider: &str, code: &'static str, reply: &crate::provider::Reply) -> Handled {
    Handled {
        provider: provider.to_owned(),
        status: reply.status.as_u16(),
        error_code: Some(code),
        handled: 0,
        enqueued: 0,
        duplicates: 0,
        failed: 0,
        control: None,
    }
}

#[cfg(any(feature = "axum", feature = "actix-web"))]
fn handled<E>(
    provider: &str,
    result: &Result<crate::pipeline::Outcome<E>, crate::Error>,
    reply: &crate::provider::Reply,
) -> Handled {
    let (error_code, handled, duplicates, failed, control) = match result {
        Ok(o) => (None, o.handled, o.duplicates, o.failed(), o.control.clone()),
        Err(e) => (Some(e.code()), 0, 0, 0, None),
    };
    Handled {
        provider: provider.to_owned(),
        status: reply.status.as_u16(),
        error_code,
        handled,
        enqueued: 0,
        duplicates,
        failed,
        control,
    }
}

/// The inbound route's work for one delivery, by mode.
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) enum InboundMode<'q, S, H, Q> {
    /// Handler in the request.
    Run(&'q S, H),
    /// Handoff to a queue.
    HandOff(&'q S, &'q Q),
}

/// The handoff mode's handler type: none runs.
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) type NoHandler =
    fn(crate::InboundMessage) -> std::future::Ready<Result<(), std::convert::Infallible>>;

/// `POST /webhooks/{provider}/inbound`: receives an inbound delivery and
/// runs or enqueues its messages. `None` for a provider not configured
/// for inbound (answer 404).
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) async fn inbound<S, H, Fut, E, Q, O>(
    inbound: &crate::inbound::InboundProviders,
    name: &str,
    hook: Hook<'_>,
    mode: InboundMode<'_, S, H, Q>,
    observe: &O,
) -> Option<crate::provider::Reply>
where
    S: crate::idempotency::IdempotencyStore,
    H: FnMut(crate::InboundMessage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    Q: crate::queue::Queue,
    O: Fn(&Handled),
{
    let started = std::time::Instant::now();
    let (request, peer) = match admit(inbound, name, hook, observe, started)? {
        Ok(admitted) => admitted,
        Err(reply) => return Some(reply),
    };
    let work = async {
        match mode {
            InboundMode::Run(store, handler) => inbound.run(name, &request, store, handler).await,
            InboundMode::HandOff(store, queue) => {
                inbound.hand_off(name, &request, store, queue).await
            }
        }
    };
    let (done, _span) = traced(name, work).await;
    let result = done?;
    let answer = match &result {
        Ok(outcome) => outcome.answer(),
        Err(error) => crate::provider::Answer::from_error(error),
    };
    let mut reply = inbound.reply(name, answer);
    let mut summary = refused(name, "", &reply);
    match &result {
        Ok(outcome) => {
            summary.error_code = None;
            summary.handled = outcome.handled;
            summary.enqueued = outcome.enqueued;
            summary.duplicates = outcome.duplicates;
            summary.failed = outcome.failed;
            summary.control.clone_from(&outcome.control);
        }
        Err(error) => {
            summary.error_code = Some(error.code());
            failed(
                inbound,
                name,
                (peer, &request),
                error,
                &mut reply,
                &mut summary,
            );
        }
    }
    finish(observe, &summary, started);
    Some(reply)
}
