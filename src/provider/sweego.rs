//! Sweego webhooks.
//!
//! - Authenticated by: `webhook-signature`, the base64 HMAC-SHA256 of
//!   `{webhook-id}.{webhook-timestamp}.{body}` keyed with the webhook's
//!   secret **base64-decoded** (Sweego shows it as a 64-character base64
//!   string, without a prefix). Headers as Standard Webhooks names them,
//!   but the signature is one bare base64 value, with no `v1,` version and
//!   no list. Several secrets for rotation.
//! - Signed: the id, the time and the raw body. Default replay window: a
//!   day past, 5 minutes ahead. Sweego documents no tolerance and no retry
//!   schedule; should its retries keep the first attempt's time, a
//!   Standard-Webhooks-like 5 minutes would refuse every retry after it and
//!   lose the event, while within a day a captured request is only a
//!   duplicate for the idempotency store.
//! - Body: one flat JSON object per event, as Sweego's payload page shows;
//!   an array of them is read too (django-anymail's Sweego integration
//!   reports that Sweego may batch), bounded by
//!   [`Limits::max_events_per_delivery`], each element read on its own.
//! - Events (`event_type`): `email_sent` → [`EventKind::Sent`],
//!   `delivered`, `soft-bounce` (with a hyphen) → [`EventKind::Deferred`],
//!   `hard_bounce` → [`EventKind::Bounced`], `list_unsub` →
//!   [`EventKind::Unsubscribed`], `complaint` → [`EventKind::Complained`],
//!   `email_clicked`, `email_opened`; SMS events and anything else are
//!   [`EventKind::Unknown`] with their JSON kept.
//! - Fields: `event_id` (the event id), `swg_uid` (the message),
//!   `recipient`, `timestamp` (RFC 3339, sometimes without an offset:
//!   read as UTC), `details` (the receiving server's log line) and
//!   `response_code`, `click.url`, `click.user_agent` / `open.user_agent`,
//!   `campaign_tags` (a string, a list or null), and the message's `x-…`
//!   `headers` as metadata.
//! - Retries: not documented by Sweego; answer 2xx fast, and 5xx for a
//!   transient failure.
//! - Acknowledgement: any 2xx (Sweego documents nothing more).
//! - Setup: no handshake documented.
//!
//! Sources: Sweego, "Webhook signature"
//! <https://learn.sweego.io/docs/webhooks/webhook_signature>, "Payload"
//! <https://learn.sweego.io/docs/webhooks/payload> and "Email events"
//! <https://learn.sweego.io/docs/webhooks/email_events>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{ParseError, SecretError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    DynProvider, ProviderInfo, Received, Settings, SetupError, Simulated, Simulation,
};
use crate::replay::ReplayWindow;
use crate::request::Request;
use crate::secret::Secret;
use crate::verified::Verified;

static ID: Name = Name::from_static("webhook-id");
static TIMESTAMP: Name = Name::from_static("webhook-timestamp");
static SIGNATURE: Name = Name::from_static("webhook-signature");

/// The default replay window: a day past, 5 minutes ahead.
pub const DEFAULT_REPLAY_WINDOW: ReplayWindow = ReplayWindow::new(
    std::time::Duration::from_secs(24 * 3600),
    std::time::Duration::from_secs(300),
);

/// Checks Sweego's signature and parses its events.
#[derive(Debug)]
pub struct SweegoVerifier {
    keys: Vec<MacKey>,
    policy: Policy,
}

impl SweegoVerifier {
    /// A verifier with the webhook's secret as Sweego shows it (base64).
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the secret is not base64.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        Ok(Self::with_mac_key(key(secret)?))
    }

    fn with_mac_key(key: MacKey) -> Self {
        Self {
            keys: vec![key],
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
        }
    }

    fn and_mac_key(mut self, key: MacKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Also accepts `secret` (rotation).
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the secret is not base64.
    pub fn with_secret(self, secret: &str) -> Result<Self, SecretError> {
        Ok(self.and_mac_key(key(secret)?))
    }

    /// The `webhook-signature` Sweego would send, with the first secret.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when there is no secret.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SecretError> {
        let key = self.keys.first().ok_or(SecretError::Empty)?;
        let t = timestamp.to_string();
        let tag = key.compute(&[id.as_bytes(), b".", t.as_bytes(), b".", body]);
        Ok(crate::encoding::base64(tag.as_bytes()))
    }
}

fn key(secret: &str) -> Result<MacKey, SecretError> {
    let bytes = crate::encoding::base64_key(secret.trim()).map_err(SecretError::Base64)?;
    Ok(MacKey::new(Algorithm::Sha256, Secret::from_bytes(bytes)?))
}

impl crate::scheme::Authenticate for SweegoVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body, limits) = (request.headers(), request.body(), &self.policy.limits);
        limits.check_body(body)?;
        let signature = headers::required(headers, &SIGNATURE, limits)?;
        let id = headers::required(headers, &ID, limits)?;
        let timestamp_text = headers::required(headers, &TIMESTAMP, limits)?;
        let timestamp = headers::parse_timestamp(timestamp_text, || TIMESTAMP.error_name())?;
        self.policy.check_timestamp(timestamp, request.now())?;
        let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
        let index = mac::find_key(
            self.keys.iter().enumerate(),
            Encoding::Base64,
            &content,
            &std::iter::once(signature.trim().as_bytes()),
        )?;
        Ok(Verified::new(Some(id), Some(timestamp), index))
    }
}

crate::scheme::verify_methods!(SweegoVerifier);
configure_via_field!(SweegoVerifier);

impl SyncProvider for SweegoVerifier {
    const ID: Provider = Provider::Sweego;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }
}

sync_provider!(SweegoVerifier);

/// One Sweego event. Field names follow Sweego's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SweegoEvent {
    /// `email_sent`, `delivered`, `soft-bounce`, `hard_bounce`,
    /// `list_unsub`, `complaint`, `email_clicked`, `email_opened`, …
    pub event_type: String,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The event's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Sweego's id for the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swg_uid: Option<String>,
    /// The transaction's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `email` or `sms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The message's `x-…` headers.
    #[serde(
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub headers: Map<String, Value>,
    /// The campaign's tags (a string, a list, or null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_tags: Option<Value>,
    /// The campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The receiving server's log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The SMTP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<Value>,
    /// Clicks: `url`, `user_agent`, `ip_address`, `proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<Value>,
    /// Opens: `user_agent`, `ip_address`, `proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<Value>,
}

/// Parses a Sweego webhook body without checking its signature.
///
/// # Errors
///
/// [`ParseError`] when the body is neither a JSON object nor an array of
/// them, or has more events than [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &Limits::default())
}

fn parse_within(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let max = limits.max_events_per_delivery;
    batch::all(Provider::Sweego, body, Shape::ObjectOrArray, max, normalize)
}

fn text_in(value: Option<&Value>, key: &str) -> Option<String> {
    value?.get(key)?.as_str().map(str::to_owned)
}

fn normalize(native: SweegoEvent, raw: &RawValue) -> EmailEvent {
    let (kind, reason) = match native.event_type.as_str() {
        "email_sent" => (EventKind::Sent, None),
        "delivered" => (EventKind::Delivered, None),
        "soft-bounce" | "soft_bounce" => (EventKind::Deferred, Some(RejectReason::Bounced)),
        "hard_bounce" | "hard-bounce" => (EventKind::Bounced, Some(RejectReason::Bounced)),
        "list_unsub" => (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
        "complaint" => (EventKind::Complained, Some(RejectReason::Spam)),
        "email_clicked" => (EventKind::Clicked, None),
        "email_opened" => (EventKind::Opened, None),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Sweego, kind, raw.to_owned());
    event.event_id = native.event_id.filter(|id| !id.is_empty());
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    }
    event.reject_reason = reason;
    event.timestamp = native
        .timestamp
        .as_deref()
        .and_then(crate::provider::timestamp::parse_text_utc);
    event.message_id = native.swg_uid;
    event.recipient = native.recipient.as_deref().and_then(bare_address);
    event.mta_response = native.details;
    event.click_url = text_in(native.click.as_ref(), "url");
    event.user_agent = text_in(native.click.as_ref(), "user_agent")
        .or_else(|| text_in(native.open.as_ref(), "user_agent"));
    event.tags = match native.campaign_tags {
        Some(Value::String(tag)) if !tag.is_empty() => vec![tag],
        Some(Value::Array(tags)) => tags
            .into_iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    event.metadata = native.headers;
    event
}

const NEEDS: &str = "--secret WEBHOOK_SECRET (base64, as Sweego shows it)";

fn build(settings: &Settings) -> Result<Box<dyn DynProvider>, SetupError> {
    let (new, add) = (SweegoVerifier::with_mac_key, SweegoVerifier::and_mac_key);
    Ok(settings.boxed(Settings::rotating(&settings.secrets, NEEDS, key, new, add)?))
}

/// A Sweego event of `kind`, signed with the first secret at the
/// simulation's time; tampered: a letter of the recipient changed after
/// signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event_type, extra) = match sim.kind {
        EventKind::Sent => ("email_sent", serde_json::json!({"details": "queued"})),
        EventKind::Delivered => (
            "delivered",
            serde_json::json!({"details": "250 2.0.0 OK", "response_code": 250}),
        ),
        EventKind::Deferred => (
            "soft-bounce",
            serde_json::json!({"details": "452 4.2.2 Mailbox full", "response_code": 452}),
        ),
        EventKind::Bounced => (
            "hard_bounce",
            serde_json::json!({"details": "550 5.1.1 Invalid Recipient", "response_code": 550}),
        ),
        EventKind::Unsubscribed => ("list_unsub", serde_json::json!({"one_click": true})),
        EventKind::Complained => ("complaint", serde_json::json!({})),
        EventKind::Clicked => (
            "email_clicked",
            serde_json::json!({"click": {"url": "https://example.com/", "user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1", "proxy": false}}),
        ),
        EventKind::Opened => (
            "email_opened",
            serde_json::json!({"open": {"user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1", "proxy": false}}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..16]);
    let body = serde_json::json!({"event_type": event_type, "timestamp": sim.rfc3339(),
        "swg_uid": format!("02-{digest}"), "event_id": digest, "channel": "email",
        "transaction_id": digest, "headers": {"x-mailer": "Sweego", "x-campaign-id": "simulated"},
        "campaign_tags": ["simulated"], "campaign_type": "default", "campaign_id": "simulated",
        "recipient": sim.recipient, "domain_from": "example.com"});
    Ok(crate::provider::with_fields(body, extra)
        .to_string()
        .into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let id = crate::encoding::hex(&Sha256::digest(sim.attempt.as_bytes())[..16]);
    let signature = SweegoVerifier::new(secret)?.sign(&id, sim.now, &body)?;
    Ok(Simulated::json(
        body,
        vec![
            ("webhook-id".to_owned(), id),
            ("webhook-timestamp".to_owned(), sim.now.to_string()),
            ("webhook-signature".to_owned(), signature),
        ],
    )
    .tampered_if(sim))
}

/// Sweego's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Sweego",
    authenticated_by: "`webhook-signature`: HMAC-SHA256 (base64) of id, timestamp and body with the base64 secret",
    event_id: "`event_id`",
    signed: "id, timestamp and body",
    replay_window: "1 day past, 5 min ahead (Sweego documents no retry schedule)",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: None,
};
