//! Slack-style signatures: `X-Slack-Signature: v0=<hex>`, an HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{body}` keyed with the signing secret's
//! bytes, with a five-minute replay window.
//!
//! The body (often form-encoded) is hashed exactly as received.
//!
//! Source: <https://api.slack.com/authentication/verifying-requests-from-slack>.

use std::borrow::Cow;

use crate::scheme::hmac::{Algorithm, Encoding, HmacVerifier, SignedContent};
use crate::secret::Secret;

/// The header Slack puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header Slack puts the signed timestamp in.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";

/// A verifier for Slack-style requests, with the signing secret used as raw
/// bytes. Configure it further (rotation, window, limits) with the
/// [`HmacVerifier`] builder methods.
#[must_use]
pub fn verifier(secret: Secret) -> HmacVerifier {
    HmacVerifier::new(secret, SIGNATURE_HEADER, Algorithm::Sha256, Encoding::Hex)
        .with_prefix("v0=")
        .with_content(SignedContent::TimestampThenBody {
            header: Cow::Borrowed(TIMESTAMP_HEADER),
            prefix: Cow::Borrowed("v0:"),
            separator: Cow::Borrowed(":"),
        })
}
