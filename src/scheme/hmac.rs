//! A configurable HMAC scheme: which header, which hash, which text
//! encoding, which prefix, and what is signed.
//!
//! The presets in [`github`](super::github), [`slack`](super::slack) and
//! [`shopify`](super::shopify) are built on it; use it directly for a
//! provider that signs in the same family of ways.
//!
//! ```
//! use email_webhooks::scheme::hmac::{Algorithm, Encoding, HmacVerifier};
//! use email_webhooks::Secret;
//!
//! let verifier = HmacVerifier::new(
//!     Secret::from_bytes("my-secret")?,
//!     "X-Signature",
//!     Algorithm::Sha256,
//!     Encoding::Hex,
//! )
//! .with_prefix("sha256=");
//! let body = b"{}";
//! let headers = verifier.sign(None, body)?;
//! verifier.verify(&headers, body)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::iter;

use time::OffsetDateTime;

pub use crate::mac::{Algorithm, Encoding};

use crate::error::{HeaderProblem, SecretError, VerifyError};
use crate::headers::{self, Name};
use crate::mac::{self, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::replay::ReplayWindow;
use crate::secret::Secret;
use crate::verified::Verified;

/// What bytes the MAC covers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedContent {
    /// The raw body alone (GitHub, Shopify).
    Body,
    /// `{prefix}{timestamp}{separator}{body}`, where the timestamp is the
    /// value of `header` exactly as received (Slack: `v0:` + timestamp + `:`).
    /// The timestamp is checked against the replay window.
    TimestampThenBody {
        /// The header that carries the Unix-seconds timestamp.
        header: Cow<'static, str>,
        /// Text signed before the timestamp.
        prefix: Cow<'static, str>,
        /// Text signed between the timestamp and the body.
        separator: Cow<'static, str>,
    },
}

/// [`SignedContent`] with its header name parsed once.
#[derive(Debug)]
enum Content {
    Body,
    TimestampThenBody {
        header: Name,
        prefix: Cow<'static, str>,
        separator: Cow<'static, str>,
    },
}

/// Verifies (and signs) requests of a configurable HMAC scheme.
///
/// Defaults: no signature prefix, [`SignedContent::Body`], a
/// [`ReplayWindow`] of five minutes each way (used only when the content is
/// timestamped), and [`Limits::default`](crate::Limits::default).
#[derive(Debug)]
pub struct HmacVerifier {
    keys: Vec<MacKey>,
    signature_header: Name,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: Cow<'static, str>,
    content: Content,
    policy: Policy,
}

impl HmacVerifier {
    /// A verifier reading the signature from `signature_header`.
    #[must_use]
    pub fn new(
        secret: Secret,
        signature_header: impl Into<Cow<'static, str>>,
        algorithm: Algorithm,
        encoding: Encoding,
    ) -> Self {
        Self {
            keys: vec![MacKey::new(algorithm, secret)],
            signature_header: Name::new(signature_header.into()),
            algorithm,
            encoding,
            prefix: Cow::Borrowed(""),
            content: Content::Body,
            policy: Policy::with_window(ReplayWindow::default()),
        }
    }

    /// Requires the signature to start with `prefix` (such as `sha256=`),
    /// which is not part of the encoded MAC. Default: none.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets what the MAC covers. Default: [`SignedContent::Body`].
    #[must_use]
    pub fn with_content(mut self, content: SignedContent) -> Self {
        self.content = match content {
            SignedContent::Body => Content::Body,
            SignedContent::TimestampThenBody {
                header,
                prefix,
                separator,
            } => Content::TimestampThenBody {
                header: Name::new(header),
                prefix,
                separator,
            },
        };
        self
    }

    /// Also accepts `secret`, tried after those already configured (key
    /// rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.keys.push(MacKey::new(self.algorithm, secret));
        self
    }

    /// The header the signature is read from.
    #[must_use]
    pub fn signature_header(&self) -> &str {
        self.signature_header.as_str()
    }

    fn keys(&self) -> impl Iterator<Item = (usize, &MacKey)> {
        self.keys.iter().enumerate()
    }

    /// The headers a sender would attach to `body`, signed with the first
    /// secret. `timestamp` (Unix seconds) is used when the content is
    /// timestamped; `None` means now.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if the secret cannot be used.
    pub fn sign(
        &self,
        timestamp: Option<i64>,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SecretError> {
        let key = self.keys.first().ok_or(SecretError::Empty)?;
        let mut headers = Vec::with_capacity(2);
        let tag = match &self.content {
            Content::Body => key.compute(&[body]),
            Content::TimestampThenBody {
                header,
                prefix,
                separator,
            } => {
                let timestamp = timestamp
                    .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp())
                    .to_string();
                let tag = key.compute(&[
                    prefix.as_bytes(),
                    timestamp.as_bytes(),
                    separator.as_bytes(),
                    body,
                ]);
                headers.push((header.as_str().to_owned(), timestamp));
                tag
            }
        };
        headers.push((
            self.signature_header.as_str().to_owned(),
            format!("{}{}", self.prefix, self.encoding.encode(tag.as_bytes())),
        ));
        Ok(headers)
    }
}

configure_via_field!(HmacVerifier);

impl crate::scheme::Authenticate for HmacVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body, now) = (request.headers(), request.body(), request.now());
        self.policy.limits.check_body(body)?;
        let value = headers::required(headers, &self.signature_header, &self.policy.limits)?;
        let Some(signature) = value.strip_prefix(&*self.prefix) else {
            return Err(VerifyError::malformed(
                self.signature_header.error_name(),
                HeaderProblem::Syntax("the signature lacks the expected prefix"),
            ));
        };
        let candidates = iter::once(signature.as_bytes());
        match &self.content {
            Content::Body => {
                let index = mac::find_key(self.keys(), self.encoding, &[body], &candidates)?;
                Ok(Verified::new(None, None, index))
            }
            Content::TimestampThenBody {
                header,
                prefix,
                separator,
            } => {
                let text = headers::required(headers, header, &self.policy.limits)?;
                let timestamp = headers::parse_timestamp(text, || header.error_name())?;
                self.policy.check_timestamp(timestamp, now)?;
                let content: [&[u8]; 4] = [
                    prefix.as_bytes(),
                    text.as_bytes(),
                    separator.as_bytes(),
                    body,
                ];
                let index = mac::find_key(self.keys(), self.encoding, &content, &candidates)?;
                Ok(Verified::new(None, Some(timestamp), index))
            }
        }
    }
}

crate::scheme::verify_methods!(HmacVerifier);
