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
    /// A base URL; a trailing `/` is dropped.
    #[must_use]
    pub fn new(base: impl Into<String>) -> Self {
        let mut base = base.into();
        while base.ends_with('/') {
            base.pop();
        }
        Self(base)
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
    /// Events handled now.
    pub handled: usize,
    /// Events already handled before.
    pub duplicates: usize,
    /// Events whose handler failed (claims released for the retry).
    pub failed: usize,
    /// A control message the delivery carried (an SNS subscription
    /// confirmation: visit its URL if you expect it).
    pub control: Option<crate::provider::Control>,
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
        duplicates,
        failed,
        control,
    }
}
