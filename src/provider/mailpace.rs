//! MailPace webhooks.
//!
//! - Authenticated by: `X-MailPace-Signature`, the base64 Ed25519
//!   signature of the raw body with the domain's key pair (one per domain;
//!   the public key is in the dashboard under the domain's Webhooks,
//!   "Public Key Verification"). Several keys for several domains or a
//!   rotation.
//! - Keys: MailPace shows the raw 32-byte key in base64; keys also reach
//!   users as hex, as base64 SPKI DER, or as PEM (converted by tools and
//!   other libraries): [`MailpacePublicKey::parse`] reads each and says
//!   which form it found ([`KeyForm`]).
//! - Signed: the body; no time is signed, so there is no replay window.
//! - Body: `{"event": "email.<status>", "payload": {…}}`, one per request.
//! - Events: `email.queued` → [`EventKind::Queued`], `email.delivered`,
//!   `email.deferred`, `email.bounced` → [`EventKind::Bounced`],
//!   `email.spam` (MailPace's outbound filter judged the message spam and
//!   did not send it) → [`EventKind::Rejected`] (blocked: no complaint, the
//!   address is kept); anything else is
//!   [`EventKind::Unknown`] with its JSON kept. MailPace tracks no opens or
//!   clicks.
//! - Fields: the message is `payload.message_id` (else `payload.id`), the
//!   recipients `payload.to` (comma-separated; MailPace posts one event
//!   per email, so the event has a recipient only when the email had one,
//!   with no `cc` or `bcc`: a bounce of an email to several does not say
//!   whose address failed),
//!   the time `payload.updated_at`, tags `payload.tags`.
//! - Event id: none. The idempotency key digests the event, the message's
//!   id, status, recipients and update time, none of which change between
//!   retries.
//! - Retries: timeouts and TLS errors are retried up to 10 times; a
//!   connection error or an HTTP error disables the webhook until someone
//!   enables it again. Any failure answer, a refusal or a transient 5xx,
//!   therefore stops the webhook: configure the key before you point
//!   MailPace at the endpoint, and receive it with the durable handoff
//!   (`Pipeline::hand_off`), which answers as soon as the events are
//!   queued, so a failing handler never fails the delivery.
//! - Setup: no handshake (but see the retries above: configure the key
//!   first).
//!
//! Sources: MailPace docs, "Webhooks"
//! <https://docs.mailpace.com/guide/webhooks> (events, payload, signature,
//! disabling); MailPace blog, "How to verify webhooks with elliptic key
//! cryptography (Ed25519)"
//! <https://blog.mailpace.com/blog/how-to-verify-webhooks-with-elliptic-key-cryptography-ed25519/>.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::error::{ParseError, SecretError, VerifyError};
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    ProviderInfo, Received, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::request::Request;
use crate::secret::{Ed25519PublicKey, Ed25519SigningKey};
use crate::verified::Verified;

static SIGNATURE: Name = Name::from_static("x-mailpace-signature");

/// The form a MailPace key was found in.
pub use crate::secret::Ed25519KeyForm as KeyForm;

/// A MailPace domain's public key.
#[derive(Debug, Clone)]
pub struct MailpacePublicKey {
    key: Ed25519PublicKey,
    form: KeyForm,
}

impl MailpacePublicKey {
    /// Reads a key as MailPace shows it (base64 of 32 bytes), or as hex,
    /// base64 SPKI or PEM.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when it is none of these.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let (key, form) = Ed25519PublicKey::parse(text)?;
        Ok(Self { key, form })
    }

    /// The form the key was read from.
    #[must_use]
    pub fn form(&self) -> KeyForm {
        self.form
    }

    /// The Ed25519 public key itself.
    #[must_use]
    pub fn public_key(&self) -> &Ed25519PublicKey {
        &self.key
    }
}

/// Checks MailPace's signature and parses its events.
#[derive(Debug)]
pub struct MailpaceVerifier {
    keys: Vec<MailpacePublicKey>,
    policy: Policy,
}

impl MailpaceVerifier {
    /// A verifier with a domain's public key.
    #[must_use]
    pub fn new(key: MailpacePublicKey) -> Self {
        Self {
            keys: vec![key],
            policy: Policy::default(),
        }
    }

    /// Also accepts `key` (another domain's, or a new one).
    #[must_use]
    pub fn with_key(mut self, key: MailpacePublicKey) -> Self {
        self.keys.push(key);
        self
    }
}

impl crate::scheme::Authenticate for MailpaceVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (body, limits) = (request.body(), &self.policy.limits);
        limits.check_body(body)?;
        let signature = headers::required(request.headers(), &SIGNATURE, limits)?;
        let mut buf = [0u8; crate::encoding::SIGNATURE_BUF];
        let signature = crate::encoding::base64_into(signature.trim().as_bytes(), &mut buf)
            .filter(|s| s.len() == 64)
            .ok_or(VerifyError::InvalidSignature)?;
        let index = self
            .keys
            .iter()
            .position(|k| k.key.verifies(body, signature))
            .ok_or(VerifyError::InvalidSignature)?;
        Ok(Verified::new(None, None, index))
    }
}

crate::scheme::verify_methods!(MailpaceVerifier);
configure_via_field!(MailpaceVerifier);

impl SyncProvider for MailpaceVerifier {
    const ID: Provider = Provider::Mailpace;

    fn parse(request: &Request<'_>, _: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse(request.body())?))
    }
}

sync_provider!(MailpaceVerifier);

/// A MailPace webhook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailpaceEvent {
    /// `email.queued`, `email.delivered`, `email.deferred`,
    /// `email.bounced`, `email.spam`.
    pub event: String,
    /// The email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<MailpacePayload>,
}

/// The email a MailPace webhook is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailpacePayload {
    /// `queued`, `delivered`, `deferred`, `bounced`, `spam`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// MailPace's id for the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The domain's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<Value>,
    /// When the email was created.
    #[serde(default)]
    pub created_at: Timestamp,
    /// When its status last changed.
    #[serde(default)]
    pub updated_at: Timestamp,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The recipients, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The `Cc` recipients, as MailPace gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<Value>,
    /// The `Bcc` recipients, as MailPace gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<Value>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The `Message-ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The tags.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<String>>,
}

/// Parses a MailPace webhook body without checking its signature.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    batch::one(Provider::Mailpace, body, normalize)
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn normalize(native: MailpaceEvent, raw: &RawValue) -> EmailEvent {
    let payload = native.payload.unwrap_or_default();
    let (kind, reason) = match native.event.as_str() {
        "email.queued" => (EventKind::Queued, None),
        "email.delivered" => (EventKind::Delivered, None),
        "email.deferred" => (EventKind::Deferred, None),
        "email.bounced" => (EventKind::Bounced, Some(RejectReason::Bounced)),
        // MailPace's own filter judged the message spam: a block, not the
        // recipient's complaint.
        "email.spam" => (EventKind::Rejected, Some(RejectReason::Blocked)),
        _ => (EventKind::Unknown, None),
    };
    let id = text(payload.id.as_ref());
    // An unreadable time must not merge distinct events: then the whole
    // element is the key.
    let updated = match payload.updated_at.0 {
        Some(t) => t.unix_timestamp_nanos().to_string(),
        None => crate::encoding::hex(&Sha256::digest(raw.get().as_bytes())),
    };
    let mut event = EmailEvent::new(Provider::Mailpace, kind, raw.to_owned());
    event.set_fingerprint(&event::fingerprint([
        Some(native.event.as_str()),
        id.as_deref(),
        payload.message_id.as_deref(),
        payload.status.as_deref(),
        payload.to.as_deref(),
        Some(updated.as_str()),
    ]));
    event.reject_reason = reason;
    event.timestamp = payload.updated_at.0.or(payload.created_at.0);
    event.message_id = payload.message_id.or(id);
    // One event per email, not per recipient: the event is the
    // recipient's only when the email had one. Else which of them bounced
    // is not said, and naming the first would suppress an address that
    // may have done nothing.
    let others = [&payload.cc, &payload.bcc]
        .into_iter()
        .any(|listed| match listed {
            Some(Value::String(text)) => !text.trim().is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            _ => false,
        });
    let to = payload.to.as_deref().unwrap_or_default();
    if !others && to.split(',').filter(|part| part.contains('@')).count() == 1 {
        event.recipient = bare_address(to);
    }
    event.tags = payload.tags.unwrap_or_default();
    event
}

const NEEDS: &str = "--key PUBLIC_KEY (the domain's, from the dashboard)";

/// The verifier with every key given (rotation).
fn verifier(settings: &Settings) -> Result<MailpaceVerifier, SetupError> {
    Settings::rotating(
        &settings.keys,
        NEEDS,
        MailpacePublicKey::parse,
        MailpaceVerifier::new,
        MailpaceVerifier::with_key,
    )
}

/// A MailPace webhook of `kind`, signed with the private seed in `--key`
/// (base64 of 32 bytes); tampered: a letter of the recipient changed
/// after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let status = match sim.kind {
        EventKind::Queued => "queued",
        EventKind::Delivered => "delivered",
        EventKind::Deferred => "deferred",
        EventKind::Bounced => "bounced",
        EventKind::Rejected => "spam",
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = Sha256::digest(sim.event_id.as_bytes());
    let id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let at = sim.rfc3339();
    let body = serde_json::json!({"event": format!("email.{status}"), "payload": {"status": status,
        "id": id, "domain_id": 1, "created_at": at, "updated_at": at, "from": "sender@example.com",
        "to": sim.recipient, "htmlbody": "<p>Hello</p>", "textbody": "Hello", "cc": null, "bcc": null,
        "subject": "Hello", "replyto": null, "message_id": format!("{}@mailer.mailpace.com", crate::encoding::hex(&digest[..8])),
        "list_unsubscribe": null, "tags": ["simulated"]}})
    .to_string()
    .into_bytes();
    Ok(body)
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let seed = Settings::first(&sim.settings.keys, NEEDS)?;
    let seed: [u8; 32] = crate::encoding::base64_key(seed.trim())
        .map_err(SecretError::Base64)?
        .try_into()
        .map_err(|_| SecretError::Rejected("a base64 32-byte Ed25519 seed"))?;
    let signature = Ed25519SigningKey::from_seed(seed)?.sign(&body)?;
    Ok(Simulated::json(
        body,
        vec![(
            "X-MailPace-Signature".to_owned(),
            crate::encoding::base64(&signature),
        )],
    )
    .tampered_if(sim))
}

/// MailPace's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "MailPace",
    authenticated_by: "`X-MailPace-Signature`: Ed25519 (base64) with the domain's key",
    event_id: "none: a digest of the event, message, status, recipients and time",
    signed: "the body",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: None,
};
