//! Reusable signature schemes, independent of email.
//!
//! - [`standard`]: Standard Webhooks `v1` (HMAC) and `v1a` (Ed25519), with the
//!   `svix-*` aliases.
//! - [`hmac`]: a configurable HMAC scheme, and the presets built on it:
//!   [`github`], [`slack`], [`shopify`].
//! - [`stripe`] and [`twilio`]: HMAC schemes with their own header grammar or
//!   signed content.
//! - [`bearer`] and [`url_secret`]: shared tokens, in a header or in the
//!   webhook URL, for providers that sign nothing.
//!
//! Each is an [`Authenticate`] mechanism over the one [`Request`] type.

pub mod bearer;
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

/// The signature schemes and providers as mechanisms: each checks the
/// request with its own `verify`, against the request's arrival time.
macro_rules! authenticate_with_time {
    ($($ty:ty),* $(,)?) => {$(
        impl Authenticate for $ty {
            fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
                self.verify_at(request.headers(), request.body(), request.now())
            }
        }
    )*};
}

authenticate_with_time!(
    standard::StandardWebhooks,
    stripe::StripeVerifier,
    hmac::HmacVerifier,
    crate::provider::sendgrid::SendgridVerifier,
    crate::provider::resend::ResendVerifier,
);

impl Authenticate for github::GitHubVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.verify(request.headers(), request.body())
    }
}

impl Authenticate for crate::provider::postmark::PostmarkVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.verify(request.headers(), request.body())
    }
}

/// Twilio signs the public URL it calls: the request must carry it
/// ([`Request::with_url`]).
impl Authenticate for twilio::TwilioVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let url = request.url().ok_or(VerifyError::NoPublicUrl)?;
        self.verify(request.headers(), url, request.body())
    }
}
