//! [Standard Webhooks](https://www.standardwebhooks.com/), the scheme Svix,
//! Resend, Clerk and many others send.
//!
//! Signed content is `{webhook-id}.{webhook-timestamp}.{body}`. The
//! `webhook-signature` header is a space-separated list of
//! `version,signature` entries:
//! - `v1`: base64 HMAC-SHA256, keyed with the bytes of a `whsec_<base64>` secret;
//! - `v1a`: base64 Ed25519, checked with a `whpk_<base64>` public key.
//!
//! Any matching entry for any configured key passes; entries of other
//! versions are skipped, never accepted. Svix sends the same headers as
//! `svix-id`, `svix-timestamp` and `svix-signature`; they are accepted when the
//! `webhook-*` signature header is absent.
//!
//! ```
//! use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
//! use email_webhooks::Secret;
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"type":"email.delivered"}"#;
//! let now = time::OffsetDateTime::now_utc().unix_timestamp();
//!
//! // What a sender does:
//! let signer = StandardWebhooksSigner::new(Secret::from_standard_webhooks(secret)?);
//! let headers = signer.headers("msg_1", now, body)?;
//!
//! // What a receiver does:
//! let verifier = StandardWebhooks::new(Secret::from_standard_webhooks(secret)?);
//! let verified = verifier.verify(&headers, body)?;
//! assert_eq!(verified.id(), Some("msg_1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use crate::encoding::{self, SIGNATURE_BUF};

/// The most `v1a` (Ed25519) signatures of one request tried against each
/// public key: each costs a pass over the body, where an HMAC candidate
/// costs a comparison.
pub const MAX_ASYMMETRIC_TRIES: usize = 4;
use crate::error::{HeaderProblem, SecretError, VerifyError};
use crate::headers::{self, Headers, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::replay::ReplayWindow;
use crate::secret::{Ed25519PublicKey, Ed25519SigningKey, Secret, WHPK_PREFIX, WHSK_PREFIX};
use crate::verified::Verified;

/// The `webhook-*` header names of the specification.
pub const HEADERS: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// The `svix-*` aliases Svix (and so Resend) sends.
pub const SVIX_HEADERS: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// The parsed names, for lookups.
struct Names {
    id: Name,
    timestamp: Name,
    signature: Name,
}

static WEBHOOK_NAMES: Names = Names {
    id: Name::from_static("webhook-id"),
    timestamp: Name::from_static("webhook-timestamp"),
    signature: Name::from_static("webhook-signature"),
};

static SVIX_NAMES: Names = Names {
    id: Name::from_static("svix-id"),
    timestamp: Name::from_static("svix-timestamp"),
    signature: Name::from_static("svix-signature"),
};

/// The header family a verifier reads: `webhook-*` when a
/// `webhook-signature` header is present, else `svix-*`. Parsing without
/// verifying uses the same choice, so an event's id is always the id the
/// signature covers, never an unsigned header of the other family.
/// Returns the family and its signature header's value, if present.
fn family<'h, H: Headers + ?Sized>(
    headers: &'h H,
    limits: &Limits,
) -> Result<(&'static Names, Option<&'h str>), VerifyError> {
    Ok(
        match headers::optional(headers, &WEBHOOK_NAMES.signature, limits)? {
            Some(signature) => (&WEBHOOK_NAMES, Some(signature)),
            None => (
                &SVIX_NAMES,
                headers::optional(headers, &SVIX_NAMES.signature, limits)?,
            ),
        },
    )
}

/// The delivery id a verifier of this scheme proves (see [`family`]), for
/// parsers that run without verifying: the id of the family whose
/// signature header is present; with no signature header at all, nothing
/// is proven either way, and `webhook-id` (else `svix-id`) is read.
pub(crate) fn signed_id<'h, H: Headers + ?Sized>(
    headers: &'h H,
    limits: &Limits,
) -> Option<&'h str> {
    let present = |name: &Name| headers::optional(headers, name, limits).ok().flatten();
    let names = if present(&WEBHOOK_NAMES.signature).is_some() {
        &WEBHOOK_NAMES
    } else if present(&SVIX_NAMES.signature).is_some() {
        &SVIX_NAMES
    } else {
        return present(&WEBHOOK_NAMES.id).or_else(|| present(&SVIX_NAMES.id));
    };
    present(&names.id)
}

/// The three header names of one spelling of the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderNames {
    /// The delivery id header.
    pub id: &'static str,
    /// The Unix-seconds timestamp header.
    pub timestamp: &'static str,
    /// The signature list header.
    pub signature: &'static str,
}

/// A key that can verify Standard Webhooks signatures.
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifyingKey {
    /// A symmetric `whsec_` secret, for `v1` signatures.
    Hmac(Secret),
    /// An Ed25519 `whpk_` public key, for `v1a` signatures.
    Ed25519(Ed25519PublicKey),
}

impl VerifyingKey {
    /// Parses `whpk_<base64>` as an Ed25519 public key, and anything else as
    /// a `whsec_<base64>` secret (prefix optional).
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the key is not strictly in one of those forms.
    pub fn parse(key: &str) -> Result<Self, SecretError> {
        if key.starts_with(WHPK_PREFIX) {
            Ed25519PublicKey::from_standard_webhooks(key).map(Self::Ed25519)
        } else {
            Secret::from_standard_webhooks(key).map(Self::Hmac)
        }
    }
}

impl From<Secret> for VerifyingKey {
    fn from(secret: Secret) -> Self {
        Self::Hmac(secret)
    }
}

impl From<Ed25519PublicKey> for VerifyingKey {
    fn from(key: Ed25519PublicKey) -> Self {
        Self::Ed25519(key)
    }
}

/// A [`VerifyingKey`] as the verifier keeps it: HMAC keys with their key
/// schedule computed once.
#[derive(Debug)]
enum StoredKey {
    // Boxed: the keyed HMAC states are ten times the size of a public key.
    Hmac(Box<MacKey>),
    Ed25519(Ed25519PublicKey),
}

impl From<VerifyingKey> for StoredKey {
    fn from(key: VerifyingKey) -> Self {
        match key {
            VerifyingKey::Hmac(secret) => {
                Self::Hmac(Box::new(MacKey::new(Algorithm::Sha256, secret)))
            }
            VerifyingKey::Ed25519(public) => Self::Ed25519(public),
        }
    }
}

/// Verifies Standard Webhooks requests.
///
/// Defaults: a [`ReplayWindow`] of five minutes each way, and
/// [`Limits::default`].
#[derive(Debug)]
pub struct StandardWebhooks {
    keys: Vec<StoredKey>,
    policy: Policy,
}

impl StandardWebhooks {
    /// A verifier with one key.
    #[must_use]
    pub fn new(key: impl Into<VerifyingKey>) -> Self {
        Self {
            keys: vec![StoredKey::from(key.into())],
            policy: Policy::with_window(ReplayWindow::default()),
        }
    }

    /// A verifier that accepts any of `keys` (key rotation), tried in order.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] when `keys` is empty: a verifier without a key
    /// cannot exist.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, SecretError> {
        let keys: Vec<_> = keys.into_iter().map(StoredKey::from).collect();
        if keys.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self {
            keys,
            policy: Policy::with_window(ReplayWindow::default()),
        })
    }

    /// Also accepts `key`, tried after the keys already configured.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<VerifyingKey>) -> Self {
        self.keys.push(StoredKey::from(key.into()));
        self
    }
}

/// Splits `version,signature`; an entry without a comma has an empty
/// version, which matches nothing.
fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&b| b == b',') {
        Some(i) => (&entry[..i], &entry[i + 1..]),
        None => (&[], entry),
    }
}

/// A key that can sign Standard Webhooks requests.
#[derive(Debug)]
#[non_exhaustive]
pub enum SigningKey {
    /// A symmetric `whsec_` secret: signs `v1`.
    Hmac(Secret),
    /// An Ed25519 `whsk_` signing key: signs `v1a`.
    Ed25519(Ed25519SigningKey),
}

impl SigningKey {
    /// Parses `whsk_<base64>` as an Ed25519 signing key, and anything else as
    /// a `whsec_<base64>` secret (prefix optional).
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the key is not strictly in one of those forms.
    pub fn parse(key: &str) -> Result<Self, SecretError> {
        if key.starts_with(WHSK_PREFIX) {
            Ed25519SigningKey::from_standard_webhooks(key).map(Self::Ed25519)
        } else {
            Secret::from_standard_webhooks(key).map(Self::Hmac)
        }
    }
}

impl From<Secret> for SigningKey {
    fn from(secret: Secret) -> Self {
        Self::Hmac(secret)
    }
}

impl From<Ed25519SigningKey> for SigningKey {
    fn from(key: Ed25519SigningKey) -> Self {
        Self::Ed25519(key)
    }
}

/// Signs Standard Webhooks requests, for senders and tests.
#[derive(Debug)]
pub struct StandardWebhooksSigner {
    key: SignerKey,
}

/// A [`SigningKey`] as the signer keeps it.
#[derive(Debug)]
enum SignerKey {
    Hmac(Box<MacKey>),
    Ed25519(Ed25519SigningKey),
}

impl StandardWebhooksSigner {
    /// A signer with `key`.
    #[must_use]
    pub fn new(key: impl Into<SigningKey>) -> Self {
        let key = match key.into() {
            SigningKey::Hmac(secret) => {
                SignerKey::Hmac(Box::new(MacKey::new(Algorithm::Sha256, secret)))
            }
            SigningKey::Ed25519(key) => SignerKey::Ed25519(key),
        };
        Self { key }
    }

    /// The `webhook-signature` value for this delivery: `v1,<base64>` or
    /// `v1a,<base64>`.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if the key cannot be used.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SecretError> {
        let timestamp = timestamp.to_string();
        let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        match &self.key {
            SignerKey::Hmac(key) => {
                let tag = key.compute(&content);
                Ok(format!("v1,{}", encoding::base64(tag.as_bytes())))
            }
            SignerKey::Ed25519(key) => {
                let signature = key.sign(&content.concat())?;
                Ok(format!("v1a,{}", encoding::base64(&signature)))
            }
        }
    }

    /// The three `webhook-*` headers for this delivery.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if the key cannot be used.
    pub fn headers(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<[(&'static str, String); 3], SecretError> {
        Ok([
            (HEADERS.id, id.to_owned()),
            (HEADERS.timestamp, timestamp.to_string()),
            (HEADERS.signature, self.sign(id, timestamp, body)?),
        ])
    }
}

configure_via_field!(StandardWebhooks);

impl crate::scheme::Authenticate for StandardWebhooks {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body, now) = (request.headers(), request.body(), request.now());
        self.policy.limits.check_body(body)?;
        let (names, signature) = family(headers, &self.policy.limits)?;
        let signature = signature.ok_or(VerifyError::MissingHeader {
            name: Cow::Borrowed(HEADERS.signature),
        })?;
        let id = headers::required(headers, &names.id, &self.policy.limits)?;
        let timestamp_text = headers::required(headers, &names.timestamp, &self.policy.limits)?;
        let timestamp = headers::parse_timestamp(timestamp_text, || names.timestamp.error_name())?;

        // `version,signature` entries, split on single spaces; an entry
        // without a comma is an unknown version and is skipped.
        let entries = || {
            signature
                .as_bytes()
                .split(|&b| b == b' ')
                .filter(|e| !e.is_empty())
        };
        let has_hmac_key = self.keys.iter().any(|k| matches!(k, StoredKey::Hmac(_)));
        let has_ed25519_key = self.keys.iter().any(|k| matches!(k, StoredKey::Ed25519(_)));
        let mut checkable = false;
        for (count, entry) in entries().enumerate() {
            if count == self.policy.limits.max_signature_entries {
                return Err(VerifyError::malformed(
                    names.signature.error_name(),
                    HeaderProblem::TooManyEntries {
                        limit: self.policy.limits.max_signature_entries,
                    },
                ));
            }
            let (version, _) = split_entry(entry);
            checkable |=
                (version == b"v1" && has_hmac_key) || (version == b"v1a" && has_ed25519_key);
        }
        if !checkable {
            return Err(VerifyError::UnsupportedScheme {
                detail: "no signature of a version the configured keys can check",
            });
        }

        self.policy.check_timestamp(timestamp, now)?;

        let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
        let candidates = |wanted: &'static [u8]| {
            entries()
                .map(split_entry)
                .filter(move |(version, _)| *version == wanted)
                .map(|(_, sig)| sig)
        };
        if has_hmac_key {
            let hmac_keys = self.keys.iter().enumerate().filter_map(|(i, k)| match k {
                StoredKey::Hmac(k) => Some((i, &**k)),
                StoredKey::Ed25519(_) => None,
            });
            match mac::find_key(hmac_keys, Encoding::Base64, &content, &candidates(b"v1")) {
                Ok(index) => return Ok(Verified::new(Some(id), Some(timestamp), index)),
                Err(VerifyError::InvalidSignature) => {}
                Err(other) => return Err(other),
            }
        }
        if has_ed25519_key && candidates(b"v1a").next().is_some() {
            // Ed25519 needs the whole message in one slice (ring has no
            // streaming interface), so v1a costs one copy of the body.
            let message = content.concat();
            let mut buf = [0u8; SIGNATURE_BUF];
            for (index, key) in self.keys.iter().enumerate() {
                let StoredKey::Ed25519(key) = key else {
                    continue;
                };
                // Each try hashes the whole body again (SHA-512): a
                // sender lists one signature per key it signs with, so
                // the first few are all a genuine request needs, and a
                // forged header of many cannot multiply the work.
                for candidate in candidates(b"v1a").take(MAX_ASYMMETRIC_TRIES) {
                    if encoding::base64_into(candidate, &mut buf)
                        .is_some_and(|sig| key.verifies(&message, sig))
                    {
                        return Ok(Verified::new(Some(id), Some(timestamp), index));
                    }
                }
            }
        }
        Err(VerifyError::InvalidSignature)
    }
}

crate::scheme::verify_methods!(StandardWebhooks);
