//! axum integration (feature `axum`): the [`Webhook`] extractor reads the
//! headers and the raw body (within [`Limits::max_body_bytes`], checked
//! while reading), and [`Rejection`] turns any error into a bare status.
//!
//! One route serves every configured provider, `POST /webhooks/{provider}`,
//! and answers what each provider requires ([`webhooks_router`]):
//!
//! ```no_run
//! use std::sync::Arc;
//! use email_webhooks::adapters::axum::{PublicUrl, webhooks_router};
//! use email_webhooks::idempotency::MemoryStore;
//! use email_webhooks::pipeline::Pipeline;
//! use email_webhooks::provider::Providers;
//! use email_webhooks::provider::postmark::PostmarkVerifier;
//! use email_webhooks::BasicAuth;
//!
//! # fn app() -> Result<axum::Router, Box<dyn std::error::Error>> {
//! // Built once at start-up; the store is a required argument.
//! let providers = Providers::new().with(PostmarkVerifier::new(BasicAuth::parse("hook:s3cret")?));
//! let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
//! let app = webhooks_router(
//!     pipeline,
//!     |event| async move {
//!         println!("{} for {:?}", event.kind, event.recipient); // your handler
//!         Ok::<(), std::io::Error>(())
//!     },
//!     |handled| {
//!         if let Some(code) = handled.error_code {
//!             eprintln!("{} delivery refused: {code} ({})", handled.provider, handled.status);
//!         }
//!     },
//! )
//! // The URL providers call, for URL-secret and URL-signed providers.
//! .layer(axum::Extension(PublicUrl::new("https://hooks.example.com")?));
//! # Ok(app) }
//! ```

use axum::body::Bytes;
use axum::extract::{FromRequest, Request as AxumRequest};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::error::{Error, VerifyError};
use crate::limits::Limits;
use crate::request::Request;

pub use super::{Handled, InvalidPublicUrl, PublicUrl};

/// A webhook request: headers and raw body, read within the body limit (the
/// [`Limits`] in the request's extensions, for example from
/// `axum::Extension(limits)`, else [`Limits::default`]).
///
/// `Debug` shows the header names and the body's length, never a header
/// value or the body: they carry credentials (Postmark's `Authorization`)
/// and personal data, and handlers are often `#[tracing::instrument]`ed.
#[derive(Clone)]
pub struct Webhook {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as received.
    pub body: Bytes,
    /// When the request arrived.
    pub received_at: OffsetDateTime,
    /// The public URL the provider called: the [`PublicUrl`] in the
    /// request's extensions plus the request's path and query; `None`
    /// without one.
    pub url: Option<String>,
    /// The socket's peer address, when the server reports it (served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub peer: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::debug_webhook(
            f,
            self.headers.keys().map(AsRef::as_ref),
            self.body.len(),
            self.received_at,
        )
    }
}

impl Webhook {
    /// The request as the [`Pipeline`](crate::pipeline::Pipeline) takes it.
    #[must_use]
    pub fn request(&self) -> Request<'_> {
        let request = Request::new(&self.headers, &self.body).at(self.received_at);
        match &self.url {
            Some(url) => request.with_url(url),
            None => request,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Webhook {
    type Rejection = Rejection;

    async fn from_request(request: AxumRequest, _state: &S) -> Result<Self, Self::Rejection> {
        read(request)
            .await
            .map_err(|unread| Rejection(unread.error))
    }
}

/// What the routes extract: the webhook, or why its body could not be
/// read, with the request's headers and peer (to charge the refusal to).
struct Arrival(Result<Webhook, Unread>);

/// A request whose body could not be read.
struct Unread {
    error: Error,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
}

impl Arrival {
    /// The delivery as the routes' shared work takes it.
    fn hook(&self) -> super::Hook<'_> {
        match &self.0 {
            Ok(webhook) => super::Hook::read(webhook.request(), webhook.peer),
            Err(unread) => super::Hook::unread(&unread.error, &unread.headers, unread.peer),
        }
    }
}

/// The delivery to provider `name`, read only when `gate` serves it: a
/// request to an unknown provider is answered 404 without reading its
/// body.
async fn arrive(gate: &impl super::Gate, name: &str, request: AxumRequest) -> Option<Arrival> {
    if !gate.serves(name) {
        return None;
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    // A source refused anyway is refused before its body is read.
    let refused =
        super::refused_before_reading(gate, name, peer.map(|p| p.ip()), request.headers());
    if let Some(error) = refused {
        let (parts, _) = request.into_parts();
        return Some(Arrival(Err(Unread {
            error,
            headers: parts.headers,
            peer,
        })));
    }
    Some(Arrival(read(request).await))
}

/// Reads a webhook request: headers, the body within the limit, the URL
/// and the peer.
async fn read(request: AxumRequest) -> Result<Webhook, Unread> {
    let received_at = OffsetDateTime::now_utc();
    let (parts, body) = request.into_parts();
    let limit = parts
        .extensions
        .get::<Limits>()
        .copied()
        .unwrap_or_default()
        .max_body_bytes;
    // The URI as the client sent it: under `Router::nest` the request's
    // own URI has the prefix stripped.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let url = parts
        .extensions
        .get::<PublicUrl>()
        .map(|base| base.join(uri.path_and_query().map_or("/", |p| p.as_str())));
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(error) => {
            let error = if error.into_inner().is::<http_body_util::LengthLimitError>() {
                // Over the limit: refused before hashing.
                VerifyError::BodyTooLarge {
                    len: limit.saturating_add(1),
                    limit,
                }
            } else {
                // A broken stream or a body timeout: not a refusal, the
                // provider must send it again.
                VerifyError::BodyUnreadable
            };
            return Err(Unread {
                error: Error::Verify(error),
                headers: parts.headers,
                peer,
            });
        }
    };
    Ok(Webhook {
        headers: parts.headers,
        body,
        received_at,
        url,
        peer,
    })
}

/// An error as an axum response: the status only (413, 400, 401 or 503),
/// with no detail that would help an attacker.
#[derive(Debug)]
pub struct Rejection(pub Error);

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        StatusCode::from_u16(self.0.http_status())
            .unwrap_or(StatusCode::BAD_REQUEST)
            .into_response()
    }
}

impl IntoResponse for crate::provider::Reply {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut response = match self.content_type {
            Some(content_type) => (
                self.status,
                [(axum::http::header::CONTENT_TYPE, content_type)],
                self.body,
            )
                .into_response(),
            None => self.status.into_response(),
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// The single dynamic route, `POST /webhooks/{provider}`, dispatching on the
/// path to the configured [`Providers`](crate::provider::Providers): runs
/// `handler` on each new event through the pipeline and answers what the
/// provider requires (a JSON acknowledgement body, Mailgun's 406). An
/// unknown or unconfigured provider is 404. `HEAD` and `GET` answer a
/// provider's probe where it sends one ([`EmailProvider::probe`]), else 405.
/// `observe` sees every delivery's [`Handled`] summary (for logs and
/// metrics; it holds no secret or body).
///
/// Merge it into your app; set the [`PublicUrl`] (and [`Limits`]) as
/// extensions where providers need the URL.
///
/// [`EmailProvider::probe`]: crate::provider::EmailProvider::probe
pub fn webhooks_router<S, H, Fut, E, O>(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
    handler: H,
    observe: O,
) -> axum::Router
where
    S: crate::idempotency::IdempotencyStore + 'static,
    H: Fn(crate::EmailEvent) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: Send + 'static,
    O: Fn(&Handled) + Clone + Send + Sync + 'static,
{
    use axum::extract::Path;
    use axum::routing::post;

    let probe = probe(pipeline.clone());
    let receive = move |Path(name): Path<String>, request: AxumRequest| {
        let pipeline = pipeline.clone();
        let handler = handler.clone();
        let observe = observe.clone();
        async move {
            let Some(arrival) = arrive(pipeline.provider(), &name, request).await else {
                return respond(None);
            };
            let reply = super::deliver(&pipeline, &name, arrival.hook(), handler, &observe).await;
            respond(reply)
        }
    };
    axum::Router::new().route("/webhooks/{provider}", post(receive).get(probe))
}

/// The single dynamic route in handoff mode: like [`webhooks_router`], but
/// each delivery's new events are durably enqueued on `queue` (one atomic,
/// idempotent call) and answered at once; a
/// `Worker` (feature `worker`) handles them. A queue failure answers
/// 503 (the provider retries; nothing was enqueued). `observe` sees each
/// delivery's [`Handled`] with `enqueued` counted.
pub fn webhooks_handoff_router<S, Q, O>(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
    queue: Q,
    observe: O,
) -> axum::Router
where
    S: crate::idempotency::IdempotencyStore + 'static,
    Q: crate::queue::Queue + Clone + 'static,
    O: Fn(&Handled) + Clone + Send + Sync + 'static,
{
    use axum::extract::Path;
    use axum::routing::post;

    let probe = probe(pipeline.clone());
    let receive = move |Path(name): Path<String>, request: AxumRequest| {
        let pipeline = pipeline.clone();
        let queue = queue.clone();
        let observe = observe.clone();
        async move {
            let Some(arrival) = arrive(pipeline.provider(), &name, request).await else {
                return respond(None);
            };
            let reply = super::hand_off(&pipeline, &name, arrival.hook(), &queue, &observe).await;
            respond(reply)
        }
    };
    axum::Router::new().route("/webhooks/{provider}", post(receive).get(probe))
}

fn respond(reply: Option<crate::provider::Reply>) -> Response {
    reply.map_or_else(
        || StatusCode::NOT_FOUND.into_response(),
        IntoResponse::into_response,
    )
}

/// `GET`/`HEAD` on the route: the provider's probe answer, else 405.
fn probe<S: crate::idempotency::IdempotencyStore + 'static>(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
) -> impl Fn(axum::http::Method, axum::extract::Path<String>) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |method, axum::extract::Path(name)| {
        std::future::ready(match pipeline.provider().get(&name) {
            None => StatusCode::NOT_FOUND.into_response(),
            Some(provider) => match provider.probe(&method) {
                Some(reply) => reply.into_response(),
                None => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            },
        })
    }
}

/// The inbound route, `POST /webhooks/{provider}/inbound`, for the
/// providers in `inbound`: authenticates each delivery as its provider's
/// inbound webhook requires, fetches what it refers to, and runs
/// `handler` once per new message, each claimed in `store` under its
/// [`idempotency_key`](crate::InboundMessage::idempotency_key) (see
/// [`InboundProviders::run`](crate::inbound::InboundProviders::run)). The
/// body is read within the inbound limit
/// ([`InboundLimits::max_body_bytes`](crate::InboundLimits::max_body_bytes),
/// 64 MiB by default), not the events' [`Limits`]. An unconfigured provider
/// is 404. Merge it beside [`webhooks_router`].
pub fn inbound_router<S, H, Fut, E, O>(
    inbound: std::sync::Arc<crate::inbound::InboundProviders>,
    store: std::sync::Arc<S>,
    handler: H,
    observe: O,
) -> axum::Router
where
    S: crate::idempotency::IdempotencyStore + 'static,
    H: Fn(crate::InboundMessage) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: Send + 'static,
    O: Fn(&Handled) + Clone + Send + Sync + 'static,
{
    use axum::extract::Path;
    use axum::routing::post;

    let limits = Limits::default().with_max_body_bytes(inbound.limits().max_body_bytes);
    let head = inbound_probe(inbound.clone());
    let receive = move |Path(name): Path<String>, request: AxumRequest| {
        let (inbound, store) = (inbound.clone(), store.clone());
        let (handler, observe) = (handler.clone(), observe.clone());
        async move {
            let Some(arrival) = arrive(&*inbound, &name, request).await else {
                return respond(None);
            };
            let mode = super::InboundMode::<S, H, crate::queue::MemoryQueue>::Run(&*store, handler);
            let reply = super::inbound(&inbound, &name, arrival.hook(), mode, &observe).await;
            respond(reply)
        }
    };
    axum::Router::new()
        .route("/webhooks/{provider}/inbound", post(receive).head(head))
        .route_layer(axum::Extension(limits))
}

/// The inbound route in handoff mode: like [`inbound_router`], but each
/// delivery's messages are durably enqueued on `queue` (one atomic,
/// idempotent call; a message over
/// [`InboundLimits::max_queued_bytes`](crate::InboundLimits::max_queued_bytes)
/// answers 503, so the provider keeps it) and answered at once; a
/// `Worker`'s `run_inbound` handles them. Use a queue of its own for
/// inbound messages, apart from the events' queue.
pub fn inbound_handoff_router<S, Q, O>(
    inbound: std::sync::Arc<crate::inbound::InboundProviders>,
    store: std::sync::Arc<S>,
    queue: Q,
    observe: O,
) -> axum::Router
where
    S: crate::idempotency::IdempotencyStore + 'static,
    Q: crate::queue::Queue + Clone + 'static,
    O: Fn(&Handled) + Clone + Send + Sync + 'static,
{
    use axum::extract::Path;
    use axum::routing::post;

    let limits = Limits::default().with_max_body_bytes(inbound.limits().max_body_bytes);
    let head = inbound_probe(inbound.clone());
    let receive = move |Path(name): Path<String>, request: AxumRequest| {
        let (inbound, store, queue) = (inbound.clone(), store.clone(), queue.clone());
        let observe = observe.clone();
        async move {
            let Some(arrival) = arrive(&*inbound, &name, request).await else {
                return respond(None);
            };
            let mode = super::InboundMode::<S, super::NoHandler, Q>::HandOff(&*store, &queue);
            let reply = super::inbound(&inbound, &name, arrival.hook(), mode, &observe).await;
            respond(reply)
        }
    };
    axum::Router::new()
        .route("/webhooks/{provider}/inbound", post(receive).head(head))
        .route_layer(axum::Extension(limits))
}

/// `HEAD` on the inbound route: 200 for a configured provider (a provider
/// may check a route's URL so before it accepts it), else 404.
fn inbound_probe(
    inbound: std::sync::Arc<crate::inbound::InboundProviders>,
) -> impl Fn(axum::extract::Path<String>) -> std::future::Ready<Response> + Clone + Send + Sync + 'static
{
    move |axum::extract::Path(name)| {
        std::future::ready(if inbound.get(&name).is_some() {
            StatusCode::OK.into_response()
        } else {
            StatusCode::NOT_FOUND.into_response()
        })
    }
}
