//! Mailjet's Event API: no signature. Mailjet authenticates webhooks only
//! with the basic-auth credentials you put in the callback URL
//! (`https://user:pass@host/path`).
//!
//! - Authenticated by: [`BasicAuth`](crate::BasicAuth) (constant time, several pairs for
//!   rotation).
//! - Signed: nothing. Anyone who learns the credentials can forge events, and
//!   a captured request can be replayed; keep the credentials secret, use
//!   HTTPS, and deduplicate ([`EmailEvent::idempotency_key`]).
//! - Body: one event object per request, or, when the callback is
//!   registered with `"Version": 2` ("group events"), a JSON array of the
//!   events of the last second, of mixed types. Both are accepted.
//! - Events: `sent` (accepted by the receiving server: [`EventKind::Delivered`]),
//!   `open`, `click`, `bounce`, `blocked` (never sent by Mailjet:
//!   [`EventKind::Rejected`]), `spam`, `unsub`; anything else is
//!   [`EventKind::Unknown`] with its JSON kept.
//! - Bounces: `hard_bounce: true` is [`EventKind::Bounced`]; `hard_bounce:
//!   false` is [`EventKind::Deferred`], since Mailjet documents those
//!   errors (`greylisted`, `quota exceeded`, the `system` errors) as
//!   temporary, with delivery re-attempted. `error_related_to` and `error`
//!   give the [`RejectReason`] and the description; `comment` is the
//!   receiving server's text.
//! - `MessageID` exceeds 2^53 (JavaScript's safe integers): it is read as an
//!   exact `u64` (or a numeric string), never through a float.
//! - Event id: none. The idempotency key digests every field that can
//!   tell two events apart (message, type, time, recipient, click URL,
//!   client address and agent, bounce flags, error and its category, the
//!   feedback source, the list) and none that changes between redeliveries,
//!   so a redelivery gets the same key whatever its grouping.
//! - `CustomID` goes to [`EmailEvent::metadata`], and so does `Payload`
//!   (the sender's `EventPayload`): when it holds a JSON object, its fields
//!   are the metadata; other text is kept under `Payload`.
//!   `customcampaign` goes to [`EmailEvent::tags`].
//! - Retries: Mailjet takes only 200 as success and retries anything else
//!   (every 30 s for up to 24 hours in its help centre; 10 times, 10
//!   minutes apart, in its API guide).
//! - Setup: no handshake; events post once the callback URL is saved
//!   (the dashboard can send a test event).
//!
//! **Parse API** (inbound, [`parse_inbound`]): each message received for
//! the parse route's address is posted as one JSON object with its fields
//! parsed: the envelope (`Sender`, `Recipient`), `Headers` (a list per
//! field, one string for the single ones), `Text-part` and `Html-part`,
//! `SpamAssassinScore` (a decimal string), and each attachment in base64
//! under the key its entry in `Parts` names (`Attachment1`, …,
//! `InlineAttachment1`, …), its filename, type and Content-ID in that
//! part's headers. Not signed: authenticated by basic auth in the route's
//! URL, as the events. No id: keyed by a digest of the message. Sources:
//! <https://dev.mailjet.com/email/guides/parse-api/> (`mailjet/api-documentation`
//! `guides/_parse-api.md`).
//!
//! Sources: Mailjet's Event API guide,
//! <https://dev.mailjet.com/email/guides/webhooks/> and
//! `mailjet/api-documentation` `guides/_event-api.md`; Mailjet's help
//! centre, "Event Tracking API".

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::error::ParseError;
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    ProviderInfo, Received, SetupError, Simulated, Simulation, Timestamp, basic_header_for,
};
use crate::request::Request;

crate::scheme::credentials::credentials_verifier!(
    /// Checks Mailjet's credentials (the basic-auth pair of the callback
    /// URL) and parses its events.
    MailjetVerifier
);

impl SyncProvider for MailjetVerifier {
    const ID: Provider = Provider::Mailjet;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }
}

sync_provider!(MailjetVerifier);

/// One Mailjet event, as the Event API sends it. Field names follow
/// Mailjet's (note the capitalized `MessageID`, `CustomID` and `Payload`);
/// fields an event type does not have are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailjetEvent {
    /// `sent`, `open`, `click`, `bounce`, `blocked`, `spam`, `unsub`
    /// (unknown types are kept).
    pub event: String,
    /// When it happened (Unix seconds).
    #[serde(default)]
    pub time: Timestamp,
    /// The message id: an integer above 2^53, read exactly.
    #[serde(
        rename = "MessageID",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<u64>,
    /// The message's GUID.
    #[serde(
        rename = "Message_GUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_guid: Option<String>,
    /// The message id as a string (`mj_message_id`, which Mailjet calls
    /// deprecated but still sends; some deliveries carry it alone).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mj_message_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The campaign id.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mj_campaign_id: Option<u64>,
    /// The contact id.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mj_contact_id: Option<u64>,
    /// The `X-Mailjet-Campaign` value of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customcampaign: Option<String>,
    /// The sender's id for the message (`CustomID` when sending).
    #[serde(rename = "CustomID", default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// The sender's payload (`EventPayload` when sending).
    #[serde(rename = "Payload", default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// `sent`: the receiving server's reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<String>,
    /// `click`: the clicked URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `open`, `click`, `unsub`: the client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `open`, `click`, `unsub`: the client's country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
    /// `open`, `click`, `unsub`: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// `bounce`: whether Mailjet blocked the address as a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
    /// `bounce`: whether the bounce is permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_bounce: Option<bool>,
    /// `bounce`, `blocked`: `recipient`, `domain`, `spam`, `system` or
    /// `mailjet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_related_to: Option<String>,
    /// `bounce`, `blocked`: `user unknown`, `greylisted`, `preblocked`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `bounce`: the receiving server's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `spam`: the feedback-loop program that reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `unsub`: the contact list.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mj_list_id: Option<u64>,
}

/// Parses a Mailjet body (one event object, or an array of them) without
/// checking credentials.
///
/// # Errors
///
/// [`ParseError`] when the body is neither, or has more events than
/// [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &Limits::default())
}

fn parse_within(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let max = limits.max_events_per_delivery;
    batch::all(
        Provider::Mailjet,
        body,
        Shape::ObjectOrArray,
        max,
        |native: MailjetEvent, raw| normalize(native, raw.to_owned()),
    )
}

/// The reject reason for an `error_related_to` / `error` pair, from the
/// error list of Mailjet's Event API guide.
fn reject_reason(related_to: Option<&str>, error: Option<&str>) -> RejectReason {
    match (related_to.unwrap_or_default(), error.unwrap_or_default()) {
        (_, "greylisted" | "duplicate in campaign") => RejectReason::Other,
        (_, "preblocked") | ("spam", _) => RejectReason::Blocked,
        (_, "typofix") => RejectReason::Invalid,
        (_, "spam reporter") => RejectReason::Spam,
        ("recipient" | "domain", _) => RejectReason::Bounced,
        _ => RejectReason::Other,
    }
}

fn normalize(native: MailjetEvent, raw: Box<RawValue>) -> EmailEvent {
    let related_to = native.error_related_to.as_deref();
    let error = native.error.as_deref();
    let (kind, reason) = match native.event.as_str() {
        "sent" => (EventKind::Delivered, None),
        "open" => (EventKind::Opened, None),
        "click" => (EventKind::Clicked, None),
        "bounce" if native.hard_bounce == Some(false) => {
            (EventKind::Deferred, Some(reject_reason(related_to, error)))
        }
        "bounce" => (EventKind::Bounced, Some(reject_reason(related_to, error))),
        "blocked" => (EventKind::Rejected, Some(reject_reason(related_to, error))),
        "spam" => (EventKind::Complained, Some(RejectReason::Spam)),
        "unsub" => (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
        _ => (EventKind::Unknown, None),
    };
    let description = match (related_to, error) {
        (Some(related), Some(error)) => Some(format!("{related}: {error}")),
        (None, Some(error)) => Some(error.to_owned()),
        _ => None,
    };
    let mut event = EmailEvent::new(Provider::Mailjet, kind, raw);
    event.set_fingerprint(&fingerprint(&native));
    event.timestamp = native.time.0;
    event.reject_reason = reason;
    event.description = description;
    event.recipient = native.email.as_deref().and_then(bare_address);
    // The fields below move out of the native event.
    event.message_id = native
        .message_id
        .map(|id| id.to_string())
        .or_else(|| native.mj_message_id.filter(|id| !id.is_empty()))
        .or(native.message_guid);
    event.mta_response = native
        .comment
        .or(native.smtp_reply)
        .filter(|t| !t.is_empty());
    event.click_url = native.url;
    event.user_agent = native.agent;
    event.tags = native
        .customcampaign
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let nonempty = |value: Option<String>| value.filter(|v| !v.is_empty());
    if let Some(id) = nonempty(native.custom_id) {
        event
            .metadata
            .insert("CustomID".to_owned(), Value::String(id));
    }
    // `Payload` is the sender's `EventPayload`, a string that is usually
    // JSON: an object becomes the metadata itself, anything else stays a
    // string under `Payload`.
    if let Some(payload) = nonempty(native.payload) {
        match serde_json::from_str::<Value>(&payload) {
            Ok(Value::Object(fields)) => {
                for (name, value) in fields {
                    event.metadata.entry(name).or_insert(value);
                }
            }
            _ => {
                event
                    .metadata
                    .insert("Payload".to_owned(), Value::String(payload));
            }
        }
    }
    event
}

/// A digest of what identifies a Mailjet event across redeliveries: every
/// field that can tell two events apart (an open from another client in
/// the same second, a hard bounce after a soft one with the same error),
/// none that Mailjet changes when it resends.
fn fingerprint(native: &MailjetEvent) -> [u8; 32] {
    let time = native.time.0.map(|t| t.unix_timestamp_nanos().to_string());
    let text = |n: Option<u64>| n.map(|n| n.to_string());
    let flag = |b: Option<bool>| b.map(|b| if b { "true" } else { "false" });
    let (message, list) = (text(native.message_id), text(native.mj_list_id));
    event::fingerprint(
        [
            message.as_deref(),
            native.message_guid.as_deref(),
            Some(native.event.as_str()),
            time.as_deref(),
            native.email.as_deref(),
            native.url.as_deref(),
            native.error_related_to.as_deref(),
            native.error.as_deref(),
            flag(native.hard_bounce),
            flag(native.blocked),
            native.source.as_deref(),
            native.ip.as_deref(),
            native.agent.as_deref(),
            list.as_deref(),
        ]
        .into_iter()
        // The bounce's text, digested only where present, so that the keys of
        // all other events stay as they were.
        .chain(native.comment.as_deref().map(Some))
        // Likewise the string message id, where `MessageID` is missing: two
        // messages' events in the same second are then two events.
        .chain(
            native
                .mj_message_id
                .as_deref()
                .filter(|id| native.message_id.is_none() && !id.is_empty())
                .into_iter()
                .flat_map(|id| [Some("mj_message_id"), Some(id)]),
        ),
    )
}

/// A Mailjet event of `kind`, one object per request (wrap it in an array
/// for the grouped mode), with basic auth; tampered: a wrong password.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, extra) = match sim.kind {
        EventKind::Delivered => (
            "sent",
            serde_json::json!({"smtp_reply": "sent (250 2.0.0 OK)"}),
        ),
        EventKind::Opened => (
            "open",
            serde_json::json!({"ip": "192.0.2.1", "geo": "US", "agent": "Mozilla/5.0"}),
        ),
        EventKind::Clicked => (
            "click",
            serde_json::json!({"url": "https://example.com/", "ip": "192.0.2.1", "geo": "US", "agent": "Mozilla/5.0"}),
        ),
        EventKind::Bounced => (
            "bounce",
            serde_json::json!({"blocked": false, "hard_bounce": true, "error_related_to": "recipient", "error": "user unknown", "comment": "550 5.1.1 user unknown"}),
        ),
        EventKind::Deferred => (
            "bounce",
            serde_json::json!({"blocked": false, "hard_bounce": false, "error_related_to": "domain", "error": "greylisted"}),
        ),
        EventKind::Rejected => (
            "blocked",
            serde_json::json!({"error_related_to": "mailjet", "error": "preblocked"}),
        ),
        EventKind::Complained => ("spam", serde_json::json!({"source": "JMRPP"})),
        EventKind::Unsubscribed => (
            "unsub",
            serde_json::json!({"mj_list_id": 1, "ip": "192.0.2.1", "geo": "US", "agent": "Mozilla/5.0"}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    // Mailjet's message ids exceed 2^53: so do the simulated ones.
    let digest = Sha256::digest(sim.event_id.as_bytes());
    let message_id = (1u64 << 54)
        + u64::from_be_bytes([
            0, 0, digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
        ]);
    let body = serde_json::json!({"event": event, "time": sim.now, "MessageID": message_id,
        "Message_GUID": sim.event_id, "email": sim.recipient, "mj_campaign_id": 1, "mj_contact_id": 1,
        "customcampaign": "", "CustomID": "", "Payload": ""});
    Ok(crate::provider::with_fields(body, extra)
        .to_string()
        .into_bytes())
}

const NEEDS: &str = "--basic-auth USER:PASS (as in the callback URL)";

/// A Mailjet delivery with the callback URL's basic-auth pair (Mailjet
/// sends nothing else); tampered: a wrong password.
fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let pair = crate::provider::Settings::first(&sim.settings.basic_auth, NEEDS)?;
    let auth = basic_header_for(pair, sim.tamper);
    Ok(Simulated::json(sim.body_or(sample)?, vec![auth]))
}

/// Mailjet's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Mailjet",
    authenticated_by: "basic auth in the callback URL",
    event_id: "none: a digest of every field that tells two events apart",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(MailjetVerifier::new(s.basic_auth(NEEDS)?))),
    simulate,
    inbound: Some(&INBOUND),
};

/// A Parse API delivery: the fields read (the rest is skipped unread).
#[derive(Debug, Default)]
struct ParseDelivery {
    sender: Option<String>,
    recipient: Option<String>,
    date: Option<String>,
    subject: Option<String>,
    headers: crate::inbound::JsonHeaders,
    parts: crate::inbound::Capped<ParsePart>,
    text: Option<String>,
    html: Option<String>,
    spam_score: Option<String>,
    /// `Attachment1`, `InlineAttachment1`, …: the key and its base64.
    contents: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ParsePart {
    #[serde(rename = "Headers")]
    headers: crate::inbound::JsonHeaders,
    #[serde(rename = "ContentRef")]
    content_ref: Option<String>,
}

impl<'de> Deserialize<'de> for ParseDelivery {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = ParseDelivery;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Parse API object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ParseDelivery, A::Error> {
                let mut out = ParseDelivery::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "Sender" => out.sender = map.next_value()?,
                        "Recipient" => out.recipient = map.next_value()?,
                        "Date" => out.date = map.next_value()?,
                        "Subject" => out.subject = map.next_value()?,
                        "Headers" => out.headers = map.next_value()?,
                        "Parts" => out.parts = map.next_value()?,
                        "Text-part" => out.text = map.next_value()?,
                        "Html-part" => out.html = map.next_value()?,
                        "SpamAssassinScore" => out.spam_score = map.next_value()?,
                        name if name.contains("Attachment") => {
                            if out.contents.len() == crate::inbound::MAX_LIST {
                                return Err(serde::de::Error::custom("too many attachments"));
                            }
                            let content: String = map.next_value()?;
                            out.contents.push((name.to_owned(), content));
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Parses a Parse API delivery without checking credentials, within
/// `limits`.
///
/// # Errors
///
/// [`ParseError`] when the body is not a Parse API object, or the message
/// is over a limit.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    let delivery: ParseDelivery =
        crate::inbound::read_json(body, limits, "the body is not a Mailjet Parse API object")?;
    if delivery.recipient.is_none() && delivery.headers.0.is_empty() {
        return Err(ParseError::new(
            "the body is not a Mailjet Parse API object",
        ));
    }
    limits.check_headers(delivery.headers.0.len())?;
    if delivery.parts.0.len() > limits.max_parts {
        return Err(ParseError::new(
            "the message has more MIME parts than the limit",
        ));
    }
    let mut message = crate::InboundMessage::new(Provider::Mailjet);
    message.fill_headers(&delivery.headers.block(), limits)?;
    // The fields in Mailjet's order, values as sent.
    message.headers = delivery.headers.0;
    if message.subject.is_none() {
        message.subject = delivery.subject;
    }
    if message.date.is_none() {
        // `20150410T160638`: the Date header in UTC.
        message.date = delivery.date.as_deref().and_then(compact_utc);
    }
    message.envelope_sender = delivery.sender;
    message.set_envelope_recipients(delivery.recipient);
    message.text = delivery.text;
    message.html = delivery.html;
    message.spam_score = delivery
        .spam_score
        .as_deref()
        .and_then(|s| s.trim().parse().ok())
        .filter(|s: &f64| s.is_finite());
    let mut contents = delivery.contents;
    let mut decoded = 0;
    for part in &delivery.parts.0 {
        let Some(reference) = part
            .content_ref
            .as_deref()
            .filter(|r| r.contains("Attachment"))
        else {
            continue;
        };
        let Some(at) = contents.iter().position(|(key, _)| key == reference) else {
            continue;
        };
        if message.attachments.len() == limits.max_attachments {
            return Err(ParseError::new(
                "the message has more attachments than the limit",
            ));
        }
        let (_, content) = contents.swap_remove(at);
        let found = crate::inbound::part_headers(&part.headers.block());
        message.attachments.push(crate::inbound::json_attachment(
            found.filename.as_deref(),
            found.content_type.as_deref(),
            found.content_id.as_deref(),
            found.inline || reference.starts_with("Inline"),
            &content,
            &mut decoded,
            limits,
        )?);
    }
    Ok(message)
}

/// `20150410T160638` (the Parse API's `Date`), as UTC.
fn compact_utc(text: &str) -> Option<time::OffsetDateTime> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if text.len() != 15 || text.as_bytes()[8] != b'T' {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(digits(0..4)?).ok()?,
        month,
        u8::try_from(digits(6..8)?).ok()?,
    )
    .ok()?;
    let time = time::Time::from_hms(
        u8::try_from(digits(9..11)?).ok()?,
        u8::try_from(digits(11..13)?).ok()?,
        u8::try_from(digits(13..15)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_utc())
}

/// Mailjet's Parse API in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "basic auth in the parse route's URL (the Parse API signs nothing)",
    shape: "JSON: one message, its fields parsed, attachments in base64 under `AttachmentN`",
    parse: |request, limits| Ok(vec![parse_inbound(request.body(), limits)?]),
    build: |settings| {
        let auth = settings.basic_auth("--basic-auth USER:PASS (as in the parse route's URL)")?;
        Ok(crate::provider::InboundVerify::new(
            move |request, limits| {
                crate::provider::inbound_checked(
                    auth.check(request.headers(), &Limits::default()),
                    || (INBOUND.parse)(request, limits),
                )
            },
        ))
    },
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: true,
};

/// A Parse API delivery of a reply to `sim.recipient` with an attachment;
/// tampered: a wrong password.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let pair = sim.settings.basic_auth.first().ok_or(SetupError::Missing(
        "--basic-auth USER:PASS (as in the parse route's URL)",
    ))?;
    let body = match sim.body {
        Some(body) => body.to_vec(),
        None => serde_json::json!({
            "Sender": "customer@example.net",
            "Recipient": sim.recipient,
            "Date": "20261206T100000",
            "From": "A Customer <customer@example.net>",
            "Subject": "Re: your order",
            "Headers": {
                "Received": ["from mx.example.net by parse.mailjet.com; Sun, 6 Dec 2026 10:00:01 +0000"],
                "MIME-Version": ["1.0"],
                "Content-Type": ["multipart/mixed; boundary=\"mj\""],
                "Date": "Sun, 06 Dec 2026 10:00:00 +0000",
                "Message-ID": format!("<{}@example.net>", sim.event_id),
                "Subject": "Re: your order",
                "From": "A Customer <customer@example.net>",
                "To": sim.recipient,
            },
            "Parts": [
                {"Headers": {"Content-Type": "multipart/mixed; boundary=\"mj\""}},
                {"Headers": {"Content-Type": "text/plain; charset=utf-8"}, "ContentRef": "Text-part"},
                {"Headers": {"Content-Type": "text/plain; name=receipt.txt", "Content-Transfer-Encoding": "7bit",
                             "Content-Disposition": "attachment; filename=receipt.txt"}, "ContentRef": "Attachment1"},
            ],
            "Text-part": "Thanks!\n",
            "SpamAssassinScore": "0.4",
            "Attachment1": "b3JkZXIgNDI=",
        })
        .to_string()
        .into_bytes(),
    };
    let header = basic_header_for(pair, sim.tamper);
    Ok(Simulated {
        headers: vec![
            header,
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ],
        body,
        query: None,
    })
}
