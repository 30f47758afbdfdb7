//! Reusable signature schemes, independent of email.
//!
//! - [`standard`]: Standard Webhooks `v1` (HMAC) and `v1a` (Ed25519), with the
//!   `svix-*` aliases.
//! - [`hmac`]: a configurable HMAC scheme, and the presets built on it:
//!   [`github`], [`slack`], [`shopify`].
//! - [`stripe`] and [`twilio`]: HMAC schemes with their own header grammar or
//!   signed content.
//! - [`bearer`] and [`url_secret`]: shared tokens, in a header or in the
//!   webhook URL, for providers that sign nothing; [`credentials`]: basic
//!   auth or a bearer token, whichever the webhook is set up with.
//!
//! Each is an [`Authenticate`] mechanism over the one [`Request`] type.

pub mod bearer;
pub mod credentials;
pub mod github;
pub mod hmac;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;
pub mod twilio;
pub mod url_secret;

use std::fmt;

use crate::error::VerifyError;
use crate::request::Request;
use crate::verified::Verified;

/// An authentication mechanism: checks a [`Request`] and says what it
/// proved.
///
/// Implemented by the crate's synchronous mechanisms: the HMAC schemes
/// (Stripe, GitHub, the configurable [`hmac::HmacVerifier`] with its Slack
/// and Shopify presets), Standard Webhooks (and Resend over it), Twilio's
/// URL-and-form HMAC, basic auth, [`bearer::BearerToken`],
/// [`url_secret::UrlSecret`] and SendGrid's ECDSA. Mailgun's signed token is
/// not one: it proves the delivery only together with a store that refuses
/// a token seen before, so it is checked inside its provider, whose
/// pipeline needs a store. A provider holds one, or
/// several combined as a tuple, all of which must pass: `(A, B)` checks `A`
/// then `B` and reports `A`'s proof. (SNS needs an asynchronous certificate
/// fetch, so it authenticates inside its provider's
/// [`receive`](crate::provider::EmailProvider::receive).)
pub trait Authenticate: Send + Sync + fmt::Debug {
    /// Checks `request`.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the request is refused.
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError>;
}

impl<A: Authenticate, B: Authenticate> Authenticate for (A, B) {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let first = self.0.authenticate(request)?;
        self.1.authenticate(request)?;
        Ok(first)
    }
}

impl Authenticate for crate::BasicAuth {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let index = self.check(request.headers(), &crate::Limits::default())?;
        Ok(Verified::new(None, None, index))
    }
}

/// The public `verify` and `verify_at` of a mechanism whose check is its
/// [`Authenticate`] impl, written once for every scheme and provider: both
/// build a [`Request`] from the headers and the raw body and authenticate
/// it (`verify` at the system clock's time).
macro_rules! verify_methods {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Verifies a request (headers and the raw body) against the
            /// system clock.
            ///
            /// # Errors
            ///
            /// A [`VerifyError`](crate::VerifyError) saying why the request is
            /// refused.
            pub fn verify<'h, H: crate::headers::Headers + Sync>(
                &self,
                headers: &'h H,
                body: &'h [u8],
            ) -> Result<crate::Verified<'h>, crate::VerifyError> {
                let request = crate::Request::new(headers, body);
                crate::scheme::Authenticate::authenticate(self, &request)
            }

            /// Verifies a request as if the time were `now`.
            ///
            /// # Errors
            ///
            /// A [`VerifyError`](crate::VerifyError) saying why the request is
            /// refused.
            pub fn verify_at<'h, H: crate::headers::Headers + Sync>(
                &self,
                headers: &'h H,
                body: &'h [u8],
                now: time::OffsetDateTime,
            ) -> Result<crate::Verified<'h>, crate::VerifyError> {
                let request = crate::Request::new(headers, body).at(now);
                crate::scheme::Authenticate::authenticate(self, &request)
            }
        }
    )*};
}
pub(crate) use verify_methods;

/// Twilio signs the public URL it calls: the request must carry it
/// ([`Request::with_url`]).
impl Authenticate for twilio::TwilioVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let url = request.url().ok_or(VerifyError::NoPublicUrl)?;
        self.verify(request.headers(), url, request.body())
    }
}
