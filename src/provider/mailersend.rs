//! MailerSend activity webhooks, formats 2.0 (the default) and 1.0
//! ("legacy").
//!
//! - Authenticated by: `Signature`, the lowercase hex HMAC-SHA256 of the
//!   raw body keyed with the webhook's signing secret. Each webhook (one
//!   per domain) has its own secret: configure several
//!   ([`MailersendVerifier::with_secret`]) to serve them on one route,
//!   which also covers rotation. MailerSend escapes `/` as `\/` in its
//!   JSON, so only the raw bytes verify.
//! - Signed: the body; no time is signed, so there is no replay window.
//! - Body: one JSON object per event:
//!   `{"type":"activity.<kind>","created_at",…,"data":{…}}`. Format 2.0
//!   puts the message at `data.message_id`, the recipient at
//!   `data.recipient` and the details at `data.meta` (an empty `[]` when
//!   there are none); format 1.0 puts them at `data.email.message.id`,
//!   `data.email.recipient.email` and `data.morph`. Both are read; a
//!   webhook created without a version through some SDKs is still 1.0.
//! - Events (`data.type`): `sent`, `delivered`, `soft_bounced` and
//!   `hard_bounced` → [`EventKind::Bounced`] (the soft one marked soft),
//!   `deferred`, `opened` and `opened_unique`, `clicked` and
//!   `clicked_unique`, `unsubscribed`, `spam_complaint` (2.0:
//!   `spam_complaints`) → [`EventKind::Complained`], `suppressed` →
//!   [`EventKind::Rejected`]; anything else (surveys, sender identity,
//!   maintenance) is [`EventKind::Unknown`] with its JSON kept. The test
//!   delivery (`type` `webhook.test`) is a [`Control::Ping`].
//! - Event id: `data.id` (the activity id, the same on every retry).
//! - Retries: anything but 2xx within 3 seconds is retried a few times,
//!   10 seconds apart; 20 failures in 24 hours pause the webhook. Answer
//!   fast (the handoff mode) and keep refusals for what is not
//!   MailerSend's.
//!
//! Sources: MailerSend API, "Webhooks"
//! <https://developers.mailersend.com/api/v1/webhooks.html> (signing,
//! events, the 1.0 payload); MailerSend help, "Webhooks"
//! <https://www.mailersend.com/help/webhooks> and "Webhooks 2.0"
//! <https://www.mailersend.com/whats-new/webhooks-v2> (versions, retries);
//! the official `mailersend-nodejs` SDK (`verifySignature` over the raw
//! body).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{ParseError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::mac::Encoding;
use crate::provider::{
    Control, DynProvider, ProviderInfo, Received, SetupError, Settings, Simulated,
    Simulation, Timestamp,
};
use crate::limits::Limits;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::batch;
use crate::request::Request;
use crate::scheme::hmac::{Algorithm, HmacVerifier};
use crate::secret::Secret;

/// The header MailerSend signs in.
pub const SIGNATURE_HEADER: &str = "Signature";

/// Checks MailerSend's signature and parses its events.
#[derive(Debug)]
pub struct MailersendVerifier {
    inner: HmacVerifier,
}

impl MailersendVerifier {
    /// A verifier with a webhook's signing secret (as MailerSend shows it;
    /// used as raw bytes).
    #[must_use]
    pub fn new(signing_secret: Secret) -> Self {
        let inner = HmacVerifier::new(signing_secret, SIGNATURE_HEADER, Algorithm::Sha256, Encoding::Hex);
        Self { inner }
    }

    /// Also accepts `signing_secret`: another webhook's (one per domain),
    /// or the next one during a rotation.
    #[must_use]
    pub fn with_secret(self, signing_secret: Secret) -> Self {
        Self {
            inner: self.inner.with_secret(signing_secret),
        }
    }
}

impl crate::scheme::Authenticate for MailersendVerifier {
    fn authenticate<'r>(
        &self,
        request: &Request<'r>,
    ) -> Result<crate::Verified<'r>, crate::VerifyError> {
        // No time is signed: the request's time is never read.
        self.inner.authenticate(&request.at(time::OffsetDateTime::UNIX_EPOCH))
    }
}

crate::scheme::verify_methods!(MailersendVerifier);

impl crate::policy::Configure for MailersendVerifier {
    fn policy(&self) -> &crate::policy::Policy {
        crate::policy::Configure::policy(&self.inner)
    }
    fn policy_mut(&mut self) -> &mut crate::policy::Policy {
        crate::policy::Configure::policy_mut(&mut self.inner)
    }
}

impl SyncProvider for MailersendVerifier {
    const ID: Provider = Provider::Mailersend;

    fn parse(request: &Request<'_>, _: &Limits) -> Result<Received, ParseError> {
        receive_body(request.body())
    }
}

sync_provider!(MailersendVerifier);

/// A MailerSend webhook delivery, either format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailersendEvent {
    /// `activity.sent`, `activity.hard_bounced`, …, or `webhook.test`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// When the webhook was sent.
    #[serde(default)]
    pub created_at: Timestamp,
    /// The domain's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    /// The webhook's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// The activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<MailersendData>,
}

/// `data`: the activity, with the fields of both formats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailersendData {
    /// The activity id (the event id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `sent`, `delivered`, `hard_bounced`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the activity happened.
    #[serde(default)]
    pub created_at: Timestamp,
    /// 2.0: the message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// 2.0: the recipient (an address, or an object with `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Value>,
    /// 2.0: the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// 2.0: the details (bounce and rejection reasons, the clicked URL,
    /// the user agent); `[]` when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// 1.0: the email (`message.id`, `recipient.email`, `tags`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Value>,
    /// 1.0: the details (`object`, `reason`, `readable_reason`, `url`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub morph: Option<Value>,
}

/// Parses a MailerSend delivery without checking its signature; the test
/// delivery gives no event.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    Ok(receive_body(body)?.events)
}

fn receive_body(body: &[u8]) -> Result<Received, ParseError> {
    let raw = batch::object(body)?;
    let ping = serde_json::from_str::<MailersendEvent>(raw.get()).is_ok_and(|e| e.kind == "webhook.test");
    if ping {
        return Ok(Received::control(Control::Ping));
    }
    Ok(Received::events(vec![batch::native_or_unknown(Provider::Mailersend, raw, normalize)]))
}

/// A text at `pointer` of `value`.
fn text_at(value: Option<&Value>, pointer: &str) -> Option<String> {
    value?.pointer(pointer)?.as_str().map(str::to_owned)
}

fn normalize(native: MailersendEvent, raw: &RawValue) -> EmailEvent {
    let data = native.data.unwrap_or_default();
    let short = data
        .kind
        .clone()
        .unwrap_or_else(|| native.kind.trim_start_matches("activity.").to_owned());
    let kind = match short.as_str() {
        "sent" => EventKind::Sent,
        "delivered" => EventKind::Delivered,
        "soft_bounced" | "hard_bounced" => EventKind::Bounced,
        "deferred" => EventKind::Deferred,
        "opened" | "opened_unique" => EventKind::Opened,
        "clicked" | "clicked_unique" => EventKind::Clicked,
        "unsubscribed" => EventKind::Unsubscribed,
        "spam_complaint" | "spam_complaints" => EventKind::Complained,
        "suppressed" => EventKind::Rejected,
        _ => EventKind::Unknown,
    };
    // The details: 2.0's `meta` (an object, or `[]` when empty), 1.0's
    // `morph`.
    let meta = data.meta.as_ref().filter(|m| m.is_object());
    let morph = data.morph.as_ref().filter(|m| m.is_object());
    let mut event = EmailEvent::new(Provider::Mailersend, kind, raw.to_owned());
    event.event_id = data.id.clone().filter(|id| !id.is_empty());
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(raw.get()));
    }
    event.timestamp = data.created_at.0.or(native.created_at.0);
    event.soft_bounce = short == "soft_bounced";
    event.reject_reason = match kind {
        EventKind::Bounced => Some(RejectReason::Bounced),
        EventKind::Complained => Some(RejectReason::Spam),
        EventKind::Unsubscribed => Some(RejectReason::Unsubscribed),
        EventKind::Rejected => Some(RejectReason::Blocked),
        _ => None,
    };
    event.message_id = data
        .message_id
        .clone()
        .or_else(|| text_at(data.email.as_ref(), "/message/id"));
    let recipient = match &data.recipient {
        Some(Value::String(address)) => Some(address.clone()),
        Some(other) => text_at(Some(other), "/email"),
        None => match &data.email {
            Some(Value::String(address)) => Some(address.clone()),
            email => text_at(email.as_ref(), "/recipient/email"),
        },
    };
    event.recipient = recipient.as_deref().and_then(bare_address);
    event.description = ["/bounce_reason", "/reject_reason", "/suppression_reason", "/unsubscribe_reason"]
        .iter()
        .find_map(|p| text_at(meta, p))
        .or_else(|| text_at(morph, "/readable_reason"))
        .or_else(|| text_at(morph, "/reason"));
    event.click_url = text_at(meta, "/url").or_else(|| text_at(morph, "/url"));
    event.user_agent = text_at(meta, "/user_agent").or_else(|| text_at(morph, "/user_agent"));
    let tags = data
        .tags
        .as_ref()
        .or_else(|| data.email.as_ref().and_then(|e| e.get("tags")));
    event.tags = tags
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    event
}

const NEEDS: &str = "--secret SIGNING_SECRET (one per webhook)";

fn build(settings: &Settings) -> Result<Box<dyn DynProvider>, SetupError> {
    let verifier = Settings::chain(
        &settings.secrets,
        NEEDS,
        |secret| Ok(MailersendVerifier::new(Secret::from_bytes(secret)?)),
        |v, secret| Ok(v.with_secret(Secret::from_bytes(secret)?)),
    )?;
    Ok(Box::new(settings.configure(verifier)))
}

/// A format 2.0 MailerSend event of `kind`, signed with the first secret;
/// tampered: a letter of the recipient changed after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (short, meta) = match sim.kind {
        EventKind::Sent => ("sent", serde_json::json!([])),
        EventKind::Delivered => ("delivered", serde_json::json!([])),
        EventKind::Deferred => ("deferred", serde_json::json!({"bounce_reason": "451 4.7.1 Try again later"})),
        EventKind::Bounced => ("hard_bounced", serde_json::json!({"bounce_reason": "550 5.1.1 User unknown", "bounce_code": "550"})),
        EventKind::Opened => ("opened", serde_json::json!({"user_agent": "Mozilla/5.0", "ip": "192.0.2.1"})),
        EventKind::Clicked => ("clicked", serde_json::json!({"url": "https://example.com/", "user_agent": "Mozilla/5.0", "ip": "192.0.2.1"})),
        EventKind::Unsubscribed => ("unsubscribed", serde_json::json!({"unsubscribe_reason": "NO_LONGER_WANT"})),
        EventKind::Complained => ("spam_complaints", serde_json::json!([])),
        EventKind::Rejected => ("suppressed", serde_json::json!({"suppression_reason": "hard_bounced"})),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id)[..12]);
    let at = sim.rfc3339();
    let body = serde_json::json!({"type": format!("activity.{short}"), "created_at": at,
        "domain_id": "domain-sim", "webhook_id": "webhook-sim",
        "data": {"id": digest, "type": short, "created_at": at, "message_id": format!("m{digest}"),
                 "recipient": sim.recipient, "tags": ["simulated"], "meta": meta}})
    .to_string()
    .replace('/', "\\/");
    Ok(body.into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let signed = MailersendVerifier::new(Secret::from_bytes(secret)?).inner.sign(None, &body)?;
    Ok(Simulated::json(body, signed).tampered_if(sim))
}

/// MailerSend's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "MailerSend",
    authenticated_by: "`Signature`: HMAC-SHA256 (hex) with the webhook's signing secret",
    event_id: "`data.id`",
    signed: "the body",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: None,
};
