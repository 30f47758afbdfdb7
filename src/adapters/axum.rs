//! axum integration (feature `axum`): the [`Webhook`] extractor reads the
//! headers and the raw body (within [`Limits::max_body_bytes`], checked
//! while reading), and [`Rejection`] turns any error into a bare status.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, extract::State, http::StatusCode, routing::post};
//! use email_webhooks::adapters::axum::{Rejection, Webhook};
//! use email_webhooks::idempotency::MemoryStore;
//! use email_webhooks::pipeline::Pipeline;
//! use email_webhooks::provider::postmark::PostmarkVerifier;
//!
//! type App = Arc<Pipeline<PostmarkVerifier, MemoryStore>>;
//!
//! async fn postmark(State(app): State<App>, hook: Webhook) -> Result<StatusCode, Rejection> {
//!     let outcome = app
//!         .run(hook.request(), |event| async move {
//!             println!("{:?} for {:?}", event.kind, event.recipient);
//!             Ok::<(), std::io::Error>(())
//!         })
//!         .await?;
//!     // 200 once every event is handled or was already; 503 while one is
//!     // held elsewhere; 500 if a handler failed (its claim was released).
//!     Ok(StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
//! }
//!
//! # fn app(verifier: PostmarkVerifier) -> Router {
//! let app: App = Arc::new(Pipeline::new(verifier).with_store(MemoryStore::new()));
//! Router::new().route("/webhooks/postmark", post(postmark)).with_state(app)
//! # }
//! ```

use axum::body::Bytes;
use axum::extract::{FromRequest, Request as AxumRequest};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::error::{Error, VerifyError};
use crate::limits::Limits;
use crate::pipeline::Request;

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

impl<S: Send + Sync> FromRequest<S> for Webhook {
    type Rejection = Rejection;

    async fn from_request(request: AxumRequest, _state: &S) -> Result<Self, Self::Rejection> {
        let received_at = OffsetDateTime::now_utc();
        let (parts, body) = request.into_parts();
        let limit = parts
            .extensions
            .get::<Limits>()
            .copied()
            .unwrap_or_default()
            .max_body_bytes;
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
            // Over the limit (or a broken stream): refused before hashing.
            Rejection(Error::Verify(VerifyError::BodyTooLarge {
                len: limit.saturating_add(1),
                limit,
            }))
        })?;
        Ok(Self {
            headers: parts.headers,
            body,
            received_at,
        })
    }
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
