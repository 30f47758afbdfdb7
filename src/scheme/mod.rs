//! Reusable signature schemes, independent of email.
//!
//! - [`standard`]: Standard Webhooks `v1` (HMAC) and `v1a` (Ed25519), with the
//!   `svix-*` aliases.
//! - [`hmac`]: a configurable HMAC scheme, and the presets built on it:
//!   [`github`], [`slack`], [`shopify`].
//! - [`stripe`] and [`twilio`]: HMAC schemes with their own header grammar or
//!   signed content.

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
/// Implemented by the crate's synchronous mechanisms (the HMAC schemes,
/// Standard Webhooks, Twilio's URL-and-form HMAC, basic auth, URL secrets,
/// SendGrid's ECDSA, Mailgun's signed token). A provider holds one, or
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
