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
//!   delivery (`type` `webhook.test`) is a [`Control::Ping`]. MailerSend
//!   signs it with a fixed, published secret ([`TEST_SECRET`]), not the
//!   webhook's, and saves a webhook only once it is answered 2xx: a
//!   `webhook.test` body signed with it is accepted, as a ping alone.
//! - Event id: `data.id` for `activity.*` events (the activity id, the
//!   same on every retry). Other events' `data` is the resource they are
//!   about, whose id they share: those are keyed by a digest of their
//!   `type` and `data`.
//! - Retries: anything but 2xx within 3 seconds is retried a few times,
//!   10 seconds apart; 20 failures in 24 hours pause the webhook. Answer
//!   fast (the handoff mode) and keep refusals for what is not
//!   MailerSend's.
//!
//! **Inbound routes** ([`parse_inbound`]): a route forwarding to a webhook
//! posts each received message as JSON (`"type":"inbound.message"`), its
//! fields parsed and the whole message in `data.raw`, signed as the
//! activity webhooks (`Signature`, hex HMAC-SHA256 of the body) but with
//! the *route's* secret, shown under its "Route to" URL. The message is
//! read from `data.raw` where present (headers in order, bodies,
//! attachments), else from the parsed fields; the envelope from
//! `data.sender.email` and `data.recipients.rcptTo`; the id is `data.id`.
//! MailerSend sends no spam verdict. It allows 3 seconds and, for inbound,
//! is reported not to retry: use the handoff mode, and watch the
//! `inbound_forward.failed` activity event. MailerSend documents the
//! route API (<https://developers.mailersend.com/api/v1/inbound.html>),
//! not the forwarded payload; its fields here follow django-anymail's
//! description of a captured delivery (the fixtures are our own).
//!
//! Sources: MailerSend API, "Webhooks"
//! <https://developers.mailersend.com/api/v1/webhooks.html> (signing,
//! events, the 1.0 payload); MailerSend help, "Webhooks"
//! <https://www.mailersend.com/help/webhooks> and "Webhooks 2.0"
//! <https://www.mailersend.com/whats-new/webhooks-v2> (versions, retries);
//! the official `mailersend-nodejs` SDK (`verifySignature` over the raw
//! body).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::error::ParseError;
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::mac::Encoding;
use crate::provider::batch;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    Control, ProviderInfo, Received, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::request::Request;
use crate::scheme::hmac::{Algorithm, HmacVerifier};
use crate::secret::Secret;

/// The header MailerSend signs in.
pub const SIGNATURE_HEADER: &str = "Signature";

/// The fixed secret MailerSend signs its `webhook.test` ping with (not the
/// webhook's secret), published in MailerSend's webhooks overview and
/// used so by maintained integrations (Symfony's MailerSend bridge,
/// `MailerSendRequestParser::TEST_SECRET`). MailerSend saves a webhook only
/// once the ping is answered 2xx.
pub const TEST_SECRET: &str = "test_Am3L1GuOIc4blLUuHqAPxxwkZaJyEk8G";

/// Checks MailerSend's signature and parses its events.
#[derive(Debug)]
pub struct MailersendVerifier {
    inner: HmacVerifier,
    /// [`TEST_SECRET`], for the `webhook.test` ping alone.
    ping: HmacVerifier,
}

/// An HMAC-SHA256 verifier of the body, hex, in `Signature`.
fn hmac(secret: Secret) -> HmacVerifier {
    HmacVerifier::new(secret, SIGNATURE_HEADER, Algorithm::Sha256, Encoding::Hex)
}

impl MailersendVerifier {
    /// A verifier with a webhook's signing secret (as MailerSend shows it;
    /// used as raw bytes).
    #[must_use]
    pub fn new(signing_secret: Secret) -> Self {
        Self {
            inner: hmac(signing_secret),
            ping: hmac(Secret::from_bytes(TEST_SECRET).unwrap_or_else(|_| unreachable!())),
        }
    }

    /// Also accepts `signing_secret`: another webhook's (one per domain),
    /// or the next one during a rotation.
    #[must_use]
    pub fn with_secret(self, signing_secret: Secret) -> Self {
        Self {
            inner: self.inner.with_secret(signing_secret),
            ..self
        }
    }
}

impl crate::scheme::Authenticate for MailersendVerifier {
    fn authenticate<'r>(
        &self,
        request: &Request<'r>,
    ) -> Result<crate::Verified<'r>, crate::VerifyError> {
        // No time is signed: the request's time is never read.
        let request = request.at(time::OffsetDateTime::UNIX_EPOCH);
        match self.inner.authenticate(&request) {
            // The ping is signed with the published test secret: accepted
            // for a small `webhook.test` body only, which gives a ping and
            // never an event (the same reading decides both). Anyone can
            // sign with that secret: the size is checked first and the
            // reading allocates nothing.
            Err(refused) if request.body().len() <= MAX_PING_BYTES => {
                match self.ping.authenticate(&request) {
                    Ok(verified) if is_ping(request.body()) => Ok(verified),
                    _ => Err(refused),
                }
            }
            checked => checked,
        }
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

/// Whether `body` is MailerSend's `webhook.test` ping.
fn is_ping(body: &[u8]) -> bool {
    /// The body's `type` alone; every other value is passed over without
    /// being kept.
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Kind<'_>>(body).is_ok_and(|k| k.kind == "webhook.test")
}

/// The largest body the test secret may sign: MailerSend's ping is a few
/// hundred bytes.
const MAX_PING_BYTES: usize = 16 * 1024;

fn receive_body(body: &[u8]) -> Result<Received, ParseError> {
    let raw = batch::object(body)?;
    if is_ping(raw.get().as_bytes()) {
        return Ok(Received::control(Control::Ping));
    }
    Ok(Received::events(vec![batch::native_or_unknown(
        Provider::Mailersend,
        raw,
        normalize,
    )]))
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
    // An activity's `data.id` is the activity's own. Other events' `data`
    // is the resource they are about (an on-hold entry, a sender identity,
    // a maintenance window), whose id every event about it shares
    // (`recipient.on_hold_added`, then `…_removed`): those are keyed by a
    // digest of their `type` and `data` (not the delivery's own fields,
    // such as when it was sent, which a retry may stamp anew).
    event.event_id = data
        .id
        .clone()
        .filter(|id| !id.is_empty() && native.kind.starts_with("activity."));
    if event.event_id.is_none() {
        #[derive(Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            data: Option<&'a RawValue>,
        }
        let data = serde_json::from_str::<Data<'_>>(raw.get())
            .ok()
            .and_then(|d| d.data)
            .map_or("", RawValue::get);
        event.set_fingerprint(&crate::event::fingerprint([
            Some(native.kind.as_str()),
            Some(data),
        ]));
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
    event.description = [
        "/bounce_reason",
        "/reject_reason",
        "/suppression_reason",
        "/unsubscribe_reason",
    ]
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
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    event
}

const NEEDS: &str = "--secret SIGNING_SECRET (one per webhook)";

/// The verifier with every secret given (one per domain, or a rotation).
fn verifier(settings: &Settings, needs: &'static str) -> Result<MailersendVerifier, SetupError> {
    Settings::rotating(
        &settings.secrets,
        needs,
        |s| Secret::from_bytes(s),
        MailersendVerifier::new,
        MailersendVerifier::with_secret,
    )
}

/// A format 2.0 MailerSend event of `kind`, signed with the first secret;
/// tampered: a letter of the recipient changed after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (short, meta) = match sim.kind {
        EventKind::Sent => ("sent", serde_json::json!([])),
        EventKind::Delivered => ("delivered", serde_json::json!([])),
        EventKind::Deferred => (
            "deferred",
            serde_json::json!({"bounce_reason": "451 4.7.1 Try again later"}),
        ),
        EventKind::Bounced => (
            "hard_bounced",
            serde_json::json!({"bounce_reason": "550 5.1.1 User unknown", "bounce_code": "550"}),
        ),
        EventKind::Opened => (
            "opened",
            serde_json::json!({"user_agent": "Mozilla/5.0", "ip": "192.0.2.1"}),
        ),
        EventKind::Clicked => (
            "clicked",
            serde_json::json!({"url": "https://example.com/", "user_agent": "Mozilla/5.0", "ip": "192.0.2.1"}),
        ),
        EventKind::Unsubscribed => (
            "unsubscribed",
            serde_json::json!({"unsubscribe_reason": "NO_LONGER_WANT"}),
        ),
        EventKind::Complained => ("spam_complaints", serde_json::json!([])),
        EventKind::Rejected => (
            "suppressed",
            serde_json::json!({"suppression_reason": "hard_bounced"}),
        ),
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
    let signed = MailersendVerifier::new(Secret::from_bytes(secret)?)
        .inner
        .sign(None, &body)?;
    Ok(Simulated::json(body, signed).tampered_if(sim))
}

/// MailerSend's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "MailerSend",
    authenticated_by: "`Signature`: HMAC-SHA256 (hex) with the webhook's signing secret (its `webhook.test` ping: the published test secret)",
    event_id: "`data.id` for `activity.*`, else a digest of `type` and `data`",
    signed: "the body",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s, NEEDS)?)),
    simulate,
    inbound: Some(&INBOUND),
};

/// An inbound route's delivery: the fields read (the rest, such as the
/// parsed `headers` map, is skipped unread: `raw` has them in order).
#[derive(Debug, Deserialize)]
struct InboundDelivery {
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<InboundData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundData {
    id: Option<String>,
    created_at: Option<String>,
    recipients: InboundRecipients,
    from: Option<InboundAddress>,
    sender: Option<InboundAddress>,
    subject: Option<String>,
    date: Option<String>,
    text: Option<String>,
    html: Option<String>,
    raw: Option<String>,
    attachments: crate::inbound::Capped<InboundAttachment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundRecipients {
    #[serde(rename = "rcptTo")]
    rcpt_to: crate::inbound::Capped<InboundAddress>,
    to: Option<InboundTo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundTo {
    data: crate::inbound::Capped<InboundAddress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundAddress {
    email: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundAttachment {
    file_name: Option<String>,
    content_type: Option<String>,
    content_disposition: Option<String>,
    content_id: Option<String>,
    content: String,
}

/// Parses an inbound route's delivery without checking its signature,
/// within `limits`.
///
/// # Errors
///
/// [`ParseError`] when the body is not an `inbound.message` delivery, or
/// the message is over a limit.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{Address, InboundMessage};
    let delivery: InboundDelivery = crate::inbound::read_json(
        body,
        limits,
        "the body is not a MailerSend inbound delivery",
    )?;
    let (Some("inbound.message"), Some(data)) = (delivery.kind.as_deref(), delivery.data) else {
        return Err(ParseError::new(
            "the body is not a MailerSend inbound.message (an activity webhook on the inbound URL?)",
        ));
    };
    let address = |a: &InboundAddress| Address::new(a.email.as_deref(), a.name.as_deref());
    let mut message = if let Some(raw) = data.raw {
        InboundMessage::from_mime_owned(Provider::Mailersend, raw.into_bytes(), limits)?
    } else {
        let mut message = InboundMessage::new(Provider::Mailersend);
        message.from = data.from.as_ref().map(address);
        message.to = data
            .recipients
            .to
            .iter()
            .flat_map(|to| to.data.0.iter())
            .map(address)
            .collect();
        message.subject = data.subject;
        message.date = data.date.as_deref().and_then(crate::inbound::rfc5322_date);
        message.text = data.text;
        message.html = data.html;
        limits.check_attachments(data.attachments.0.len())?;
        let mut decoded = 0;
        for a in &data.attachments.0 {
            message.attachments.push(crate::inbound::json_attachment(
                a.file_name.as_deref(),
                a.content_type.as_deref(),
                a.content_id.as_deref(),
                a.content_disposition.as_deref() == Some("inline"),
                &a.content,
                &mut decoded,
                limits,
            )?);
        }
        message
    };
    message.event_id = data.id;
    message.timestamp = data
        .created_at
        .as_deref()
        .and_then(crate::provider::timestamp::parse_text);
    message.envelope_sender = data.sender.and_then(|s| s.email);
    message.set_envelope_recipients(
        data.recipients
            .rcpt_to
            .0
            .into_iter()
            .filter_map(|r| r.email),
    );
    Ok(message)
}

/// MailerSend's inbound routes in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "`Signature`: HMAC-SHA256 (hex) of the body with the inbound route's secret (not the activity webhooks')",
    shape: "JSON `inbound.message`: the parsed fields, attachments in base64, the whole message in `data.raw`",
    parse: |request, limits| Ok(vec![parse_inbound(request.body(), limits)?]),
    build: |settings| {
        Ok(INBOUND.verified_by(
            settings,
            verifier(settings, "--secret ROUTE_SECRET (the inbound route's)")?,
        ))
    },
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: true,
};

/// An inbound route's delivery of a reply to `sim.recipient` (the raw
/// message with an attachment, and its parsed fields), signed with the
/// first secret; tampered: a letter of the recipient changed.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = if let Some(body) = sim.body {
        body.to_vec()
    } else {
        let raw = format!(
            "From: A Customer <customer@example.net>\r\nTo: {to}\r\nSubject: Re: your order\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{id}@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"ms\"\r\n\r\n--ms\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks!\r\n--ms\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\norder 42\r\n--ms--\r\n",
            to = sim.recipient,
            id = sim.event_id,
        );
        let id = crate::encoding::hex(&Sha256::digest(sim.event_id)[..12]);
        serde_json::json!({
                "type": "inbound.message", "inbound_id": "route-sim", "url": "https://hooks.example.com/webhooks/mailersend/inbound",
                "created_at": sim.rfc3339(),
                "data": {
                    "object": "message", "id": id, "created_at": sim.rfc3339(),
                    "recipients": {"rcptTo": [{"email": sim.recipient}], "to": {"raw": sim.recipient, "data": [{"email": sim.recipient, "name": null}]}},
                    "from": {"email": "customer@example.net", "name": "A Customer", "raw": "A Customer <customer@example.net>"},
                    "sender": {"email": "customer@example.net"},
                    "subject": "Re: your order", "date": "Sun, 6 Dec 2026 10:00:00 +0000",
                    "headers": {"Subject": "Re: your order"},
                    "text": "Thanks!\r\n", "html": null, "raw": raw,
                    "attachments": [{"file_name": "receipt.txt", "content_type": "text/plain", "content_disposition": "attachment", "size": 8, "content": "b3JkZXIgNDI="}],
                    "spf_check": {"code": "+", "value": null}, "dkim_check": false,
                },
            })
            .to_string()
            .replace('/', "\\/")
            .into_bytes()
    };
    let secret = Settings::first(
        &sim.settings.secrets,
        "--secret ROUTE_SECRET (the inbound route's)",
    )?;
    let signed = MailersendVerifier::new(Secret::from_bytes(secret)?)
        .inner
        .sign(None, &body)?;
    Ok(Simulated::json(body, signed).tampered_if(sim))
}
