//! Web-framework integration, each behind its feature.

#[cfg(feature = "actix-web")]
pub mod actix;
#[cfg(feature = "axum")]
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
