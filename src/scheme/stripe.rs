//! Stripe-style signatures.
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, where each
//! `v1` is an HMAC-SHA256 of `{t}.{body}` keyed with the endpoint secret's
//! bytes. Quirks, as Stripe documents them:
//! - the `whsec_…` secret is used as is: it is *not* base64-decoded (unlike
//!   Standard Webhooks' `whsec_`);
//! - during a secret roll Stripe sends one `v1` per active secret: every `v1`
//!   entry is tried;
//! - `v0` (test-mode legacy) and unknown keys are ignored, never accepted;
//! - the tolerance is five minutes. Stripe's libraries only check the past;
//!   this verifier also refuses timestamps more than five minutes ahead.
//!
//! Source: <https://docs.stripe.com/webhooks#verify-manually>.

use crate::encoding;
use crate::error::{HeaderProblem, SecretError, VerifyError};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::replay::ReplayWindow;
use crate::secret::Secret;
use crate::verified::Verified;

/// The header Stripe puts the timestamp and signatures in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

static SIGNATURE_NAME: Name = Name::from_static("stripe-signature");

/// Verifies Stripe-style `Stripe-Signature` requests.
///
/// Defaults: a [`ReplayWindow`] of five minutes each way, [`Limits::default`].
#[derive(Debug)]
pub struct StripeVerifier {
    keys: Vec<MacKey>,
    policy: Policy,
}

struct ParsedHeader<'h> {
    timestamp_text: &'h str,
    timestamp: i64,
    has_v1: bool,
    header: &'h str,
}

impl<'h> ParsedHeader<'h> {
    fn parse(header: &'h str, limits: &Limits) -> Result<Self, VerifyError> {
        let syntax = |what| VerifyError::malformed(SIGNATURE_HEADER, HeaderProblem::Syntax(what));
        let mut timestamp_text = None;
        let mut has_v1 = false;
        for (count, item) in header.split(',').enumerate() {
            if count == limits.max_signature_entries {
                return Err(VerifyError::malformed(
                    SIGNATURE_HEADER,
                    HeaderProblem::TooManyEntries {
                        limit: limits.max_signature_entries,
                    },
                ));
            }
            // Items without `=` are skipped like unknown keys.
            match item.split_once('=') {
                Some(("t", value)) if timestamp_text.replace(value).is_some() => {
                    return Err(syntax("more than one `t=` timestamp"));
                }
                Some(("v1", _)) => has_v1 = true,
                _ => {}
            }
        }
        let timestamp_text = timestamp_text.ok_or_else(|| syntax("no `t=` timestamp"))?;
        let timestamp = headers::parse_timestamp(timestamp_text, || SIGNATURE_HEADER.into())?;
        Ok(Self {
            timestamp_text,
            timestamp,
            has_v1,
            header,
        })
    }

    fn v1(&self) -> impl Iterator<Item = &'h [u8]> + Clone + use<'h> {
        self.header
            .split(',')
            .filter_map(|item| item.strip_prefix("v1="))
            .map(str::as_bytes)
    }
}

impl StripeVerifier {
    /// A verifier with the endpoint's signing secret (`whsec_…`), used as raw
    /// bytes.
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha256, secret)],
            policy: Policy::with_window(ReplayWindow::default()),
        }
    }

    /// Also accepts `secret`, tried after those already configured.
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha256, secret));
        self
    }

    /// The `Stripe-Signature` value Stripe would send for `body` at
    /// `timestamp`: one `v1` entry per configured secret, as during a roll.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if a secret cannot be used.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> Result<String, SecretError> {
        let t = timestamp.to_string();
        let mut value = format!("t={t}");
        for key in &self.keys {
            let tag = key.compute(&[t.as_bytes(), b".", body]);
            value.push_str(",v1=");
            value.push_str(&encoding::hex(tag.as_bytes()));
        }
        Ok(value)
    }
}

configure_via_field!(StripeVerifier);

impl crate::scheme::Authenticate for StripeVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body, now) = (request.headers(), request.body(), request.now());
        self.policy.limits.check_body(body)?;
        let header = headers::required(headers, &SIGNATURE_NAME, &self.policy.limits)?;
        let parsed = ParsedHeader::parse(header, &self.policy.limits)?;
        if !parsed.has_v1 {
            return Err(VerifyError::UnsupportedScheme {
                detail: "no `v1` signature",
            });
        }
        self.policy.check_timestamp(parsed.timestamp, now)?;
        let content: [&[u8]; 3] = [parsed.timestamp_text.as_bytes(), b".", body];
        let index = mac::find_key(
            self.keys.iter().enumerate(),
            Encoding::Hex,
            &content,
            &parsed.v1(),
        )?;
        Ok(Verified::new(None, Some(parsed.timestamp), index))
    }
}

crate::scheme::verify_methods!(StripeVerifier);
