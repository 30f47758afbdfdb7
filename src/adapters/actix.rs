//! actix-web integration (feature `actix-web`): the [`Webhook`] extractor
//! reads the headers and the raw body (within [`Limits::max_body_bytes`],
//! checked while reading; set your own with `App::app_data(limits)`), and
//! [`Rejection`] answers any error with a bare status.
//!
//! One resource serves every configured provider, `/webhooks/{provider}`,
//! and answers what each provider requires ([`webhooks_resource`]):
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::App;
//! use email_webhooks::adapters::actix::{PublicUrl, webhooks_resource};
//! use email_webhooks::idempotency::MemoryStore;
//! use email_webhooks::pipeline::Pipeline;
//! use email_webhooks::provider::Providers;
//! use email_webhooks::provider::postmark::PostmarkVerifier;
//! use email_webhooks::BasicAuth;
//!
//! # fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let providers = Providers::new().with(PostmarkVerifier::new(BasicAuth::parse("hook:s3cret")?));
//! let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
//! let app = App::new()
//!     .app_data(PublicUrl::new("https://hooks.example.com")?)
//!     .service(webhooks_resource(
//!         pipeline,
//!         |event| async move {
//!             println!("{} for {:?}", event.kind, event.recipient); // your handler
//!             Ok::<(), std::io::Error>(())
//!         },
//!         |handled| {
//!             if let Some(code) = handled.error_code {
//!                 eprintln!("{} delivery refused: {code}", handled.provider);
//!             }
//!         },
//!     ));
//! # drop(app); Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use time::OffsetDateTime;

use crate::error::{Error, VerifyError};
use crate::headers::{Headers, Lookup};
use crate::limits::Limits;
use crate::request::Request;

pub use super::{Handled, InvalidPublicUrl, PublicUrl};

impl Headers for HeaderMap {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        let mut values = self.get_all(name);
        match (values.next(), values.next()) {
            (None, _) => Lookup::Absent,
            (Some(v), None) => Lookup::One(v.as_bytes()),
            (Some(_), Some(_)) => Lookup::Repeated,
        }
    }

    fn lookup_all(&self, name: &str) -> Option<Vec<&[u8]>> {
        Some(
            self.get_all(name)
                .map(actix_web::http::header::HeaderValue::as_bytes)
                .collect(),
        )
    }
}

/// A webhook request: headers and raw body, read within the body limit.
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
    /// The public URL the provider called: the [`PublicUrl`] in the app
    /// data plus the request's path and query; `None` without one.
    pub url: Option<String>,
    /// The socket's peer address.
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

impl FromRequest for Webhook {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let received_at = OffsetDateTime::now_utc();
        let headers = request.headers().clone();
        let peer = request.peer_addr();
        let url = request
            .app_data::<PublicUrl>()
            .map(|base| base.join(request.uri().path_and_query().map_or("/", |p| p.as_str())));
        let limit = request
            .app_data::<Limits>()
            .copied()
            .unwrap_or_default()
            .max_body_bytes;
        let payload = actix_web::web::Payload::from_request(request, payload).into_inner();
        Box::pin(async move {
            let too_large = || {
                Rejection(Error::Verify(VerifyError::BodyTooLarge {
                    len: limit.saturating_add(1),
                    limit,
                }))
            };
            let unreadable = || Rejection(Error::Verify(VerifyError::BodyUnreadable));
            let payload = payload.map_err(|_| unreadable())?;
            let body = match payload.to_bytes_limited(limit).await {
                Ok(Ok(body)) => body,
                // A broken stream: not a refusal, the provider must send
                // it again.
                Ok(Err(_)) => return Err(unreadable()),
                // Over the limit: refused before hashing.
                Err(_) => return Err(too_large()),
            };
            // actix-web ends the payload without an error when the client
            // closes its side early: a body shorter than its announced
            // length was cut, not sent whole.
            let announced = headers
                .get(actix_web::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            if announced.is_some_and(|announced| body.len() < announced) {
                return Err(unreadable());
            }
            Ok(Self {
                headers,
                body,
                received_at,
                url,
                peer,
            })
        })
    }
}

/// The delivery to provider `name`, read only when `gate` serves it: a
/// request to an unknown provider is answered 404 without reading its
/// body.
async fn arrive(
    gate: &impl super::Gate,
    name: &str,
    request: &HttpRequest,
    payload: actix_web::web::Payload,
) -> Option<Result<Webhook, Rejection>> {
    if !gate.serves(name) {
        return None;
    }
    // A source refused anyway is refused before its body is read.
    let peer = request.peer_addr().map(|p| p.ip());
    if let Some(error) = super::refused_before_reading(gate, name, peer, request.headers()) {
        return Some(Err(Rejection(error)));
    }
    Some(Webhook::from_request(request, &mut payload.into_inner()).await)
}

/// A route's view of a delivery: the webhook, or why its body could not
/// be read with the request's headers and peer (to charge the refusal to).
fn hook<'a>(read: &'a Result<Webhook, Rejection>, request: &'a HttpRequest) -> super::Hook<'a> {
    match read {
        Ok(webhook) => super::Hook::read(webhook.request(), webhook.peer),
        Err(Rejection(error)) => super::Hook::unread(error, request.headers(), request.peer_addr()),
    }
}

/// An error as an actix-web response: the status only (413, 400, 401 or
/// 503), with no detail that would help an attacker.
#[derive(Debug)]
pub struct Rejection(pub Error);

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook rejected: {}", self.0.code())
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).finish()
    }
}

impl actix_web::Responder for crate::provider::Reply {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
        reply_response(self)
    }
}

/// The single dynamic route, `/webhooks/{provider}`, dispatching on the
/// path to the configured [`Providers`](crate::provider::Providers): a
/// `POST` runs `handler` on each new event through the pipeline and answers
/// what the provider requires (a JSON acknowledgement body, Mailgun's
/// 406); an unknown or unconfigured provider is 404. `HEAD` and `GET`
/// answer a provider's probe where it sends one
/// ([`EmailProvider::probe`](crate::provider::EmailProvider::probe)), else
/// 405. `observe` sees every delivery's [`Handled`] summary.
///
/// Register it with `App::service`; set the [`PublicUrl`] (and
/// [`Limits`]) with `App::app_data` where providers need the URL.
pub fn webhooks_resource<S, H, Fut, E, O>(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
    handler: H,
    observe: O,
) -> actix_web::Resource
where
    S: crate::idempotency::IdempotencyStore + 'static,
    H: Fn(crate::EmailEvent) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<(), E>> + 'static,
    E: 'static,
    O: Fn(&Handled) + Clone + 'static,
{
    let probe_pipeline = pipeline.clone();
    with_probe(
        actix_web::web::resource("/webhooks/{provider}").route(actix_web::web::post().to(
            move |name: actix_web::web::Path<String>,
                  request: HttpRequest,
                  payload: actix_web::web::Payload| {
                let pipeline = pipeline.clone();
                let handler = handler.clone();
                let observe = observe.clone();
                async move {
                    let Some(read) = arrive(pipeline.provider(), &name, &request, payload).await
                    else {
                        return HttpResponse::NotFound().finish();
                    };
                    let reply =
                        super::deliver(&pipeline, &name, hook(&read, &request), handler, &observe)
                            .await;
                    reply.map_or_else(|| HttpResponse::NotFound().finish(), reply_response)
                }
            },
        )),
        probe_pipeline,
    )
}

/// The single dynamic route in handoff mode: like [`webhooks_resource`],
/// but each delivery's new events are durably enqueued on `queue` (one
/// atomic, idempotent call) and answered at once; a
/// `Worker` (feature `worker`) handles them. A queue failure answers
/// 503 (the provider retries; nothing was enqueued).
pub fn webhooks_handoff_resource<S, Q, O>(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
    queue: Q,
    observe: O,
) -> actix_web::Resource
where
    S: crate::idempotency::IdempotencyStore + 'static,
    Q: crate::queue::Queue + Clone + 'static,
    O: Fn(&Handled) + Clone + 'static,
{
    let probe_pipeline = pipeline.clone();
    with_probe(
        actix_web::web::resource("/webhooks/{provider}").route(actix_web::web::post().to(
            move |name: actix_web::web::Path<String>,
                  request: HttpRequest,
                  payload: actix_web::web::Payload| {
                let pipeline = pipeline.clone();
                let queue = queue.clone();
                let observe = observe.clone();
                async move {
                    let Some(read) = arrive(pipeline.provider(), &name, &request, payload).await
                    else {
                        return HttpResponse::NotFound().finish();
                    };
                    let reply =
                        super::hand_off(&pipeline, &name, hook(&read, &request), &queue, &observe)
                            .await;
                    reply.map_or_else(|| HttpResponse::NotFound().finish(), reply_response)
                }
            },
        )),
        probe_pipeline,
    )
}

/// `GET`/`HEAD` on the route: the provider's probe answer, else 405.
fn with_probe<S: crate::idempotency::IdempotencyStore + 'static>(
    resource: actix_web::Resource,
    pipeline: std::sync::Arc<crate::pipeline::Pipeline<crate::provider::Providers, S>>,
) -> actix_web::Resource {
    resource.route(
        actix_web::web::route()
            .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
            .to(
                move |request: HttpRequest, name: actix_web::web::Path<String>| {
                    let pipeline = pipeline.clone();
                    async move {
                        match pipeline.provider().get(&name) {
                            None => HttpResponse::NotFound().finish(),
                            Some(provider) => match probe_method(request.method())
                                .and_then(|method| provider.probe(&method))
                            {
                                Some(reply) => reply_response(reply),
                                None => HttpResponse::MethodNotAllowed().finish(),
                            },
                        }
                    }
                },
            ),
    )
}

/// actix-web 4 speaks `http` 0.2: the reply's status carried across.
fn reply_response(reply: crate::provider::Reply) -> HttpResponse {
    let status =
        StatusCode::from_u16(reply.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(seconds) = reply.retry_after {
        response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
    }
    match reply.content_type {
        Some(content_type) => response.content_type(content_type).body(reply.body),
        None => response.finish(),
    }
}

fn probe_method(method: &actix_web::http::Method) -> Option<http::Method> {
    match *method {
        actix_web::http::Method::GET => Some(http::Method::GET),
        actix_web::http::Method::HEAD => Some(http::Method::HEAD),
        _ => None,
    }
}

/// The inbound route, `POST /webhooks/{provider}/inbound`, for the
/// providers in `inbound`: each delivery authenticated as its provider's
/// inbound webhook requires, what it refers to fetched, and `handler` run
/// once per new message, each claimed in `store` under its
/// [`idempotency_key`](crate::InboundMessage::idempotency_key) (see
/// [`InboundProviders::run`](crate::inbound::InboundProviders::run)). The
/// body is read within the inbound limit
/// ([`InboundLimits::max_body_bytes`](crate::InboundLimits::max_body_bytes)),
/// not the events' [`Limits`]. An unconfigured provider is 404. Register
/// it with `App::service` beside [`webhooks_resource`].
pub fn inbound_resource<S, H, Fut, E, O>(
    inbound: std::sync::Arc<crate::inbound::InboundProviders>,
    store: std::sync::Arc<S>,
    handler: H,
    observe: O,
) -> actix_web::Resource
where
    S: crate::idempotency::IdempotencyStore + 'static,
    H: Fn(crate::InboundMessage) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<(), E>> + 'static,
    E: 'static,
    O: Fn(&Handled) + Clone + 'static,
{
    let limits = Limits::default().with_max_body_bytes(inbound.limits().max_body_bytes);
    with_inbound_probe(
        actix_web::web::resource("/webhooks/{provider}/inbound"),
        &inbound,
    )
    .app_data(limits)
    .route(actix_web::web::post().to(
        move |name: actix_web::web::Path<String>,
              request: HttpRequest,
              payload: actix_web::web::Payload| {
            let (inbound, store) = (inbound.clone(), store.clone());
            let (handler, observe) = (handler.clone(), observe.clone());
            async move {
                let Some(read) = arrive(&*inbound, &name, &request, payload).await else {
                    return HttpResponse::NotFound().finish();
                };
                let mode =
                    super::InboundMode::<S, H, crate::queue::MemoryQueue>::Run(&*store, handler);
                let reply =
                    super::inbound(&inbound, &name, hook(&read, &request), mode, &observe).await;
                reply.map_or_else(|| HttpResponse::NotFound().finish(), reply_response)
            }
        },
    ))
}

/// The inbound route in handoff mode: like [`inbound_resource`], but each
/// delivery's messages are durably enqueued on `queue` (a message over
/// [`InboundLimits::max_queued_bytes`](crate::InboundLimits::max_queued_bytes)
/// answers 503, so the provider keeps it) and answered at once; a
/// `Worker`'s `run_inbound` handles them. Use a queue of its own for
/// inbound messages.
pub fn inbound_handoff_resource<S, Q, O>(
    inbound: std::sync::Arc<crate::inbound::InboundProviders>,
    store: std::sync::Arc<S>,
    queue: Q,
    observe: O,
) -> actix_web::Resource
where
    S: crate::idempotency::IdempotencyStore + 'static,
    Q: crate::queue::Queue + Clone + 'static,
    O: Fn(&Handled) + Clone + 'static,
{
    let limits = Limits::default().with_max_body_bytes(inbound.limits().max_body_bytes);
    with_inbound_probe(
        actix_web::web::resource("/webhooks/{provider}/inbound"),
        &inbound,
    )
    .app_data(limits)
    .route(actix_web::web::post().to(
        move |name: actix_web::web::Path<String>,
              request: HttpRequest,
              payload: actix_web::web::Payload| {
            let (inbound, store, queue) = (inbound.clone(), store.clone(), queue.clone());
            let observe = observe.clone();
            async move {
                let Some(read) = arrive(&*inbound, &name, &request, payload).await else {
                    return HttpResponse::NotFound().finish();
                };
                let mode = super::InboundMode::<S, super::NoHandler, Q>::HandOff(&*store, &queue);
                let reply =
                    super::inbound(&inbound, &name, hook(&read, &request), mode, &observe).await;
                reply.map_or_else(|| HttpResponse::NotFound().finish(), reply_response)
            }
        },
    ))
}

/// `HEAD` on the inbound route: 200 for a configured provider (a provider
/// may check a route's URL so before it accepts it), else 404.
fn with_inbound_probe(
    resource: actix_web::Resource,
    inbound: &std::sync::Arc<crate::inbound::InboundProviders>,
) -> actix_web::Resource {
    let inbound = std::sync::Arc::clone(inbound);
    resource.route(
        actix_web::web::head().to(move |name: actix_web::web::Path<String>| {
            let found = inbound.get(&name).is_some();
            async move {
                if found {
                    HttpResponse::Ok().finish()
                } else {
                    HttpResponse::NotFound().finish()
                }
            }
        }),
    )
}
