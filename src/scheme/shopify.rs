//! Shopify-style signatures: `X-Shopify-Hmac-Sha256: <base64>`, an
//! HMAC-SHA256 of the raw body keyed with the app's secret bytes. No
//! timestamp is signed; deduplicate on `X-Shopify-Webhook-Id` (not signed).
//!
//! Source: <https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook>.

use crate::scheme::hmac::{Algorithm, Encoding, HmacVerifier};
use crate::secret::Secret;

/// The header Shopify puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// A verifier for Shopify-style requests. Configure it further (rotation,
/// limits) with the [`HmacVerifier`] builder methods.
#[must_use]
pub fn verifier(secret: Secret) -> HmacVerifier {
    HmacVerifier::new(
        secret,
        SIGNATURE_HEADER,
        Algorithm::Sha256,
        Encoding::Base64,
    )
}
