//! actix-web integration (feature `actix-web`): the [`Webhook`] extractor
//! reads the headers and the raw body (within [`Limits::max_body_bytes`],
//! checked while reading; set your own with `App::app_data(limits)`), and
//! [`Rejection`] answers any error with a bare status.
//!
//! ```no_run
//! use actix_web::{HttpResponse, web};
//! use email_webhooks::adapters::actix::{Rejection, Webhook};
//! use email_webhooks::idempotency::MemoryStore;
//! use email_webhooks::pipeline::Pipeline;
//! use email_webhooks::provider::postmark::PostmarkVerifier;
//!
//! async fn postmark(
//!     app: web::Data<Pipeline<PostmarkVerifier, MemoryStore>>,
//!     hook: Webhook,
//! ) -> Result<HttpResponse, Rejection> {
//!     let outcome = app
//!         .run(hook.request(), |event| async move {
//!             println!("{:?} for {:?}", event.kind, event.recipient);
//!             Ok::<(), std::io::Error>(())
//!         })
//!         .await?;
//!     let status = actix_web::http::StatusCode::from_u16(outcome.status())
//!         .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
//!     Ok(HttpResponse::build(status).finish())
//! }
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
use crate::pipeline::Request;

impl Headers for HeaderMap {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        let mut values = self.get_all(name);
        match (values.next(), values.next()) {
            (None, _) => Lookup::Absent,
            (Some(v), None) => Lookup::One(v.as_bytes()),
            (Some(_), Some(_)) => Lookup::Repeated,
        }
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
        Request {
            headers: &self.headers,
            body: &self.body,
            now: self.received_at,
        }
    }
}

impl FromRequest for Webhook {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let received_at = OffsetDateTime::now_utc();
        let headers = request.headers().clone();
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
            let payload = payload.map_err(|_| too_large())?;
            // Over the limit, or a broken stream: refused before hashing.
            let Ok(Ok(body)) = payload.to_bytes_limited(limit).await else {
                return Err(too_large());
            };
            Ok(Self {
                headers,
                body,
                received_at,
            })
        })
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
