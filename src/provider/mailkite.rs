//! MailKite: webhooks for the mail it receives for your domains, and for
//! what happens to the mail it sends.
//!
//! `email.received` posts each message MailKite receives: an
//! [`EventKind::Inbound`] event here, with the message in its raw JSON
//! (read it whole with [`parse_inbound`]). Where a domain opts in to
//! tracking, the same webhook (or a tracking URL of its own) posts
//! `email.sent` → [`EventKind::Sent`], `email.delivered` →
//! [`EventKind::Delivered`], `email.bounced` → [`EventKind::Bounced`]
//! (soft where `data.bounce.type` is `soft` or `transient`; `diagnostic` is the receiving
//! server's answer), `email.complained` → [`EventKind::Complained`]
//! (`feedbackType` its description), `email.opened` and `email.clicked`
//! (`url`, `userAgent`); anything else is [`EventKind::Unknown`] with its
//! JSON kept. A tracking event is
//! `{"id": "evt_…", "type", "createdAt" (ms), "data": {"messageId", "to",
//! "from", "subject", "bounce" | "complaint" | "open" | "click"}}`;
//! `messageId` is null for a bounce or complaint MailKite could not match
//! to a message it stored, and `to` (the recipient) is always there.
//! MailKite's public pages describe the received mail; the tracking
//! schema is as django-anymail's MailKite integration reads it (its pull
//! request 481, which cites MailKite's tracking-event schema).
//!
//! - Authenticated by: `x-mailkite-signature: t=<ms>,v1=<hex>`, the hex
//!   HMAC-SHA256 of `{t}.{body}` keyed with the webhook's signing secret
//!   **as it is written** (its `whsec_…` characters are the key; it is not
//!   decoded). `t` is in **milliseconds**. Unknown parts are skipped;
//!   several `v1` values and several secrets are tried (rotation).
//! - Signed: the time and the raw body. Default replay window: 5 minutes
//!   each way, MailKite's own (its SDKs check `|now - t| ≤ 300 000 ms`);
//!   every retry is signed anew.
//! - Body: one JSON object a delivery: a received message, `{"id", "type":
//!   "email.received", "from", "to", "subject", "text", "html", "threadId",
//!   "receivedAt", "auth", "attachments"}`, or a tracking event.
//! - Event id: `id`: the message's stable id for received mail
//!   (MailKite's advice for idempotency), the event's (`evt_…`) for
//!   tracking events. For received mail the sender is `from.address`, the
//!   recipient the first of `to`, the time `receivedAt` (ms); for tracking
//!   events the time is `createdAt` (ms).
//! - Retries: only 2xx counts (redirects are failures), 15 s per attempt,
//!   retried on a backoff and kept for replay.
//! - Acknowledgement: a 2xx within 15 seconds; a redirect is a failure. A
//!   webhook in `ack` mode also needs the body `{"status":"ok"}` (a bare
//!   2xx is then a failure, retried), so every accepted delivery is
//!   answered with it ([`ACKNOWLEDGEMENT`]): harmless in the default
//!   `lenient` mode, where the body is ignored.
//! - Setup: no handshake; the webhook posts once configured.
//!
//! Sources: MailKite docs, "Webhook security"
//! <https://mailkite.dev/docs/webhook-security>, "Webhook delivery"
//! <https://mailkite.dev/docs/webhook-delivery> (acknowledgement modes) and "Receiving"
//! <https://mailkite.dev/docs/receiving>; the official SDKs'
//! `verifyWebhook` (`mailkite/mailkite-node`, `mailkite/mailkite-python`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::error::{HeaderProblem, ParseError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    Answer, ProviderInfo, Received, Reply, Settings, SetupError, Simulated, Simulation,
};
use crate::replay::ReplayWindow;
use crate::request::Request;
use crate::secret::Secret;
use crate::verified::Verified;

static SIGNATURE: Name = Name::from_static("x-mailkite-signature");

/// Checks MailKite's signature and reads its messages.
#[derive(Debug)]
pub struct MailkiteVerifier {
    keys: Vec<MacKey>,
    policy: Policy,
}

impl MailkiteVerifier {
    /// A verifier with the webhook's signing secret, as MailKite shows it
    /// (`whsec_…`, used as it is written).
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha256, secret)],
            policy: Policy::with_window(ReplayWindow::default()),
        }
    }

    /// Also accepts `secret` (rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha256, secret));
        self
    }

    /// The `x-mailkite-signature` value MailKite would send for `body` at
    /// `millis` (Unix milliseconds), with the first secret.
    ///
    /// # Errors
    ///
    /// [`crate::SecretError`] when there is no secret.
    pub fn sign(&self, millis: i64, body: &[u8]) -> Result<String, crate::SecretError> {
        let key = self.keys.first().ok_or(crate::SecretError::Empty)?;
        let t = millis.to_string();
        let tag = key.compute(&[t.as_bytes(), b".", body]);
        Ok(format!("t={t},v1={}", crate::encoding::hex(tag.as_bytes())))
    }
}

impl crate::scheme::Authenticate for MailkiteVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (body, limits) = (request.body(), &self.policy.limits);
        limits.check_body(body)?;
        let header = headers::required(request.headers(), &SIGNATURE, limits)?;
        let malformed = |problem| VerifyError::malformed(SIGNATURE.error_name(), problem);
        let parts = || {
            header
                .split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
        };
        if parts().count() > limits.max_signature_entries {
            return Err(malformed(HeaderProblem::TooManyEntries {
                limit: limits.max_signature_entries,
            }));
        }
        let mut times = parts().filter(|(k, _)| *k == "t").map(|(_, v)| v);
        let (Some(t), None) = (times.next(), times.next()) else {
            return Err(malformed(HeaderProblem::Syntax(
                "expected exactly one `t=` part",
            )));
        };
        // Digits only (no sign), as every other signed time is read.
        let millis: i64 = Some(t)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| malformed(HeaderProblem::Syntax("`t` is not whole milliseconds")))?;
        let seconds = millis.div_euclid(1000);
        let signatures = parts()
            .filter(|(k, _)| *k == "v1")
            .map(|(_, v)| v.as_bytes());
        if signatures.clone().next().is_none() {
            return Err(VerifyError::UnsupportedScheme {
                detail: "no `v1` signature",
            });
        }
        self.policy.check_timestamp(seconds, request.now())?;
        let index = mac::find_key(
            self.keys.iter().enumerate(),
            Encoding::Hex,
            &[t.as_bytes(), b".", body],
            &signatures,
        )?;
        Ok(Verified::new(None, Some(seconds), index))
    }
}

crate::scheme::verify_methods!(MailkiteVerifier);
configure_via_field!(MailkiteVerifier);

impl SyncProvider for MailkiteVerifier {
    const ID: Provider = Provider::Mailkite;

    fn parse(request: &Request<'_>, _: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse(request.body())?))
    }

    fn reply(&self, answer: Answer) -> Reply {
        Reply::acknowledged(answer, ACKNOWLEDGEMENT)
    }
}

/// The body that acknowledges a delivery in MailKite's `ack` mode (its
/// SDKs' `replyOk`).
pub const ACKNOWLEDGEMENT: &str = r#"{"status":"ok"}"#;

sync_provider!(MailkiteVerifier);

/// A MailKite webhook: one received message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailkiteMessage {
    /// The message's stable id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `email.received`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The sender (`{"address"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// The recipients (`[{"address"}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The HTML body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// `In-Reply-To`, else `Message-ID`.
    #[serde(rename = "threadId", default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// SPF, DKIM, DMARC and spam verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Value>,
    /// The attachments (links to fetch them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Value>,
    /// `email.received`: when MailKite received it, milliseconds since the
    /// epoch.
    #[serde(
        rename = "receivedAt",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub received_at: Option<i64>,
    /// Tracking events: when it happened, milliseconds since the epoch.
    #[serde(
        rename = "createdAt",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<i64>,
    /// Tracking events: what happened to a message MailKite sent (`None`
    /// when it is not an object of that shape).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<MailkiteTracking>,
}

/// `data` of a MailKite tracking event (`email.sent`, `email.bounced`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailkiteTracking {
    /// The sent message's id (`msg_…`); null for a bounce or complaint
    /// MailKite could not match to a stored message.
    #[serde(
        rename = "messageId",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// The recipient (an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// The subject.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<String>,
    /// `email.bounced`: `type` and `diagnostic` (the receiving server's
    /// answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<Value>,
    /// `email.complained`: `feedbackType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaint: Option<Value>,
    /// `email.opened`: `userAgent`, `client`, `os`, `machine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<Value>,
    /// `email.clicked`: `url`, `userAgent`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<Value>,
}

/// Parses a MailKite webhook body without checking its signature: one
/// event, [`EventKind::Inbound`] for `email.received`.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    batch::one(Provider::Mailkite, body, normalize)
}

fn normalize(native: MailkiteMessage, raw: &RawValue) -> EmailEvent {
    let kind = match native.kind.as_str() {
        "email.received" => EventKind::Inbound,
        "email.sent" => EventKind::Sent,
        "email.delivered" => EventKind::Delivered,
        "email.bounced" => EventKind::Bounced,
        "email.complained" => EventKind::Complained,
        "email.opened" => EventKind::Opened,
        "email.clicked" => EventKind::Clicked,
        _ => EventKind::Unknown,
    };
    let mut event = EmailEvent::new(Provider::Mailkite, kind, raw.to_owned());
    event.event_id = native.id.clone().filter(|id| !id.is_empty());
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    }
    let millis = native.received_at.or(native.created_at);
    event.timestamp = millis.and_then(crate::provider::timestamp::from_unix_millis);
    match native.data {
        Some(data) if kind != EventKind::Inbound => {
            tracked(&mut event, data);
            return event;
        }
        _ => {}
    }
    event.message_id = native.thread_id.or(native.id);
    let first_to = native
        .to
        .as_ref()
        .and_then(|to| to.pointer("/0/address"))
        .and_then(Value::as_str);
    event.recipient = first_to.and_then(bare_address);
    event.description = native.subject;
    event
}

/// A tracking event's fields: the recipient, the message, and what the
/// bounce, complaint, open or click says.
fn tracked(event: &mut EmailEvent, data: MailkiteTracking) {
    let text = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    // `to` is an address; a list of one or an `{address}` object is read
    // too. An email to several does not say which of them the event is
    // about: no recipient then (a bounce would stop the wrong address).
    let to = data.to.as_ref().and_then(|to| match to {
        Value::String(s) => Some(s.as_str()),
        Value::Array(list) => match list.as_slice() {
            [only] => only
                .as_str()
                .or_else(|| only.get("address").and_then(Value::as_str)),
            _ => None,
        },
        other => other.get("address").and_then(Value::as_str),
    });
    event.recipient = to.and_then(bare_address);
    event.message_id = data.message_id.filter(|id| !id.is_empty());
    match event.kind {
        EventKind::Bounced => {
            event.reject_reason = Some(RejectReason::Bounced);
            event.mta_response = text(data.bounce.as_ref(), "diagnostic");
            event.description.clone_from(&event.mta_response);
            let kind = text(data.bounce.as_ref(), "type").map(|t| t.to_ascii_lowercase());
            event.soft_bounce = matches!(kind.as_deref(), Some("soft" | "transient"));
        }
        EventKind::Complained => {
            event.reject_reason = Some(RejectReason::Spam);
            event.description = text(data.complaint.as_ref(), "feedbackType");
        }
        _ => {}
    }
    event.click_url = text(data.click.as_ref(), "url");
    event.user_agent =
        text(data.click.as_ref(), "userAgent").or_else(|| text(data.open.as_ref(), "userAgent"));
}

const NEEDS: &str = "--secret SIGNING_SECRET (whsec_…, as MailKite shows it)";

/// The verifier with every secret given (rotation).
fn verifier(settings: &Settings) -> Result<MailkiteVerifier, SetupError> {
    Settings::rotating(
        &settings.secrets,
        NEEDS,
        |s| Secret::from_bytes(s),
        MailkiteVerifier::new,
        MailkiteVerifier::with_secret,
    )
}

/// A received message, signed with the first secret at the simulation's
/// time; tampered: a letter of the recipient changed after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..12]);
    let (kind, detail) = match sim.kind {
        EventKind::Inbound => {
            let body = serde_json::json!({"id": format!("msg_{digest}"), "type": "email.received",
                "from": {"address": "customer@example.net"}, "to": [{"address": sim.recipient}],
                "subject": "Re: your order", "text": "Thanks!", "html": "<p>Thanks!</p>",
                "threadId": "<order-42@example.com>", "receivedAt": sim.now.saturating_mul(1000),
                "auth": {"spf": "pass", "dkim": "pass", "dmarc": "pass", "spam": "ham"}, "attachments": []});
            return Ok(body.to_string().into_bytes());
        }
        EventKind::Sent => ("email.sent", serde_json::json!({})),
        EventKind::Delivered => ("email.delivered", serde_json::json!({})),
        EventKind::Bounced => (
            "email.bounced",
            serde_json::json!({"bounce": {"type": "hard", "diagnostic": "550 5.1.1 user unknown"}}),
        ),
        EventKind::Complained => (
            "email.complained",
            serde_json::json!({"complaint": {"feedbackType": "abuse"}}),
        ),
        EventKind::Opened => (
            "email.opened",
            serde_json::json!({"open": {"userAgent": "Mozilla/5.0", "machine": false}}),
        ),
        EventKind::Clicked => (
            "email.clicked",
            serde_json::json!({"click": {"url": "https://example.com/order/42", "userAgent": "Mozilla/5.0"}}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let mut data = serde_json::json!({"messageId": "msg_order42", "providerMessageId": null,
        "from": "shop@example.com", "to": sim.recipient, "subject": "Your order"});
    if let (Some(data), serde_json::Value::Object(detail)) = (data.as_object_mut(), detail) {
        data.extend(detail);
    }
    let body = serde_json::json!({"id": format!("evt_{digest}"), "type": kind,
        "createdAt": sim.now.saturating_mul(1000), "data": data});
    Ok(body.to_string().into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let header = MailkiteVerifier::new(Secret::from_bytes(secret)?)
        .sign(sim.now.saturating_mul(1000), &body)?;
    Ok(Simulated::json(body, vec![("x-mailkite-signature".to_owned(), header)]).tampered_if(sim))
}

/// MailKite's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "MailKite",
    authenticated_by: "`x-mailkite-signature`: `t=` (ms) and HMAC-SHA256 (hex) of `t.body` with the `whsec_` secret as written",
    event_id: "`id` (the event's; for received mail, the message's)",
    signed: "timestamp and body",
    replay_window: "5 minutes each way (MailKite's SDKs)",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: Some(&INBOUND),
};

/// MailKite's `email.received` body as an [`InboundMessage`](crate::InboundMessage):
/// `id` (the message's stable id), `from`, `to`, `subject`, `text`, `html`,
/// and the spam verdict of `auth.spam` (`spam` or `ham`); no envelope. MailKite posts no
/// headers and no raw message. Its attachments are short-lived signed
/// links on `https://api.mailkite.dev/`: each is an attachment (`filename`,
/// `contentType`, `size`) whose bytes are
/// [`pending`](crate::InboundMessage::pending), for the receiver's
/// [`ContentSource`](crate::inbound::fetch::ContentSource) to fetch (at
/// most the announced `size`); a link elsewhere is refused.
///
/// # Errors
///
/// [`ParseError`] when the body is not MailKite's `email.received` object
/// or is over the limit.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{Address, InboundMessage};
    let native: MailkiteMessage =
        crate::inbound::read_json(body, limits, "the body is not a MailKite message")?;
    if native.kind != "email.received" {
        return Err(ParseError::new("the body is not MailKite's email.received"));
    }
    let address = |v: &Value| {
        Address::new(
            v.get("address").and_then(Value::as_str),
            v.get("name").and_then(Value::as_str),
        )
    };
    let mut message = InboundMessage::new(Provider::Mailkite);
    message.event_id.clone_from(&native.id);
    message.timestamp = native
        .received_at
        .and_then(crate::provider::timestamp::from_unix_millis);
    message.from = native.from.as_ref().map(address);
    message.to = native
        .to
        .as_ref()
        .and_then(Value::as_array)
        .map(|to| to.iter().map(address).collect())
        .unwrap_or_default();
    if message.to.len() > limits.max_headers {
        return Err(ParseError::new(
            "the message has more recipients than the limit",
        ));
    }
    // MailKite posts no SMTP envelope: the envelope fields stay empty
    // rather than repeat the headers a sender wrote.
    message.subject = native.subject;
    message.text = native.text;
    message.html = native.html;
    message.spam_detected = native
        .auth
        .as_ref()
        .and_then(|auth| auth.get("spam"))
        .and_then(Value::as_str)
        .and_then(|verdict| match verdict {
            "spam" => Some(true),
            "ham" => Some(false),
            _ => None,
        });
    attachments(&mut message, native.attachments.as_ref(), limits)?;
    Ok(message)
}

/// Where MailKite serves attachments: a link must start so.
const ATTACHMENT_HOST: &str = "https://api.mailkite.dev/";

/// MailKite's attachment links as attachments whose bytes are pending.
fn attachments(
    message: &mut crate::InboundMessage,
    listed: Option<&Value>,
    limits: &crate::InboundLimits,
) -> Result<(), ParseError> {
    use crate::inbound::fetch::{ContentKind, ContentRef};
    let listed = match listed {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(listed)) => listed,
        Some(_) => return Err(ParseError::new("`attachments` is not a list")),
    };
    limits.check_attachments(listed.len())?;
    if !listed.is_empty() && message.event_id.as_deref().is_none_or(str::is_empty) {
        // The key must not depend on what is fetched: without an id it
        // digests the attachments' bytes, which are not here yet.
        return Err(ParseError::new("a message with attachments has no id"));
    }
    let mut announced = 0usize;
    for attachment in listed {
        let text = |name: &str| attachment.get(name).and_then(Value::as_str);
        // A path on MailKite's API host, with no dot segment, escape or
        // user info that could make it name another of its resources.
        let url = text("url")
            .filter(|url| {
                url.strip_prefix(ATTACHMENT_HOST).is_some_and(|rest| {
                    !rest.is_empty()
                        && !rest.contains("..")
                        && !rest.contains("/./")
                        && rest.bytes().all(|b| {
                            b.is_ascii_graphic() && !matches!(b, b'#' | b'\\' | b'%' | b'@')
                        })
                })
            })
            .ok_or_else(|| ParseError::new("an attachment has no MailKite link"))?;
        // Announced sizes count against the limit before anything is
        // fetched; one without a size is bounded by the fetch itself
        // (every fetch of a message together within the limit).
        let announced_size = attachment
            .get("size")
            .and_then(Value::as_u64)
            .map(|size| usize::try_from(size).unwrap_or(usize::MAX));
        let size = announced_size.unwrap_or(limits.max_decoded_bytes);
        announced = announced.saturating_add(announced_size.unwrap_or(0));
        if announced > limits.max_decoded_bytes {
            return Err(ParseError::new(
                "the attachments are over the decoded size limit",
            ));
        }
        let index = message.attachments.len();
        message.attachments.push(crate::inbound::Attachment {
            filename: text("filename").map(str::to_owned),
            content_type: text("contentType").map(str::to_owned),
            size: announced_size.unwrap_or(0),
            content_id: None,
            inline: false,
            content: Vec::new(),
        });
        message.needs(
            ContentRef {
                provider: Provider::Mailkite,
                url: url.to_owned(),
                kind: ContentKind::Attachment(index),
                max_bytes: size,
            },
            crate::inbound::fetch::read_attachment,
        );
    }
    Ok(())
}

/// MailKite in the registry's inbound entries: its `email.received`
/// deliveries, authenticated as its events are. Point a webhook that also
/// posts tracking events at the events route, which reads both: the
/// inbound route refuses what is not received mail.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "`x-mailkite-signature`, as its `email.received` events",
    shape: "JSON: one message's fields, attachments as signed links (fetched)",
    parse: |request, limits| Ok(vec![parse_inbound(request.body(), limits)?]),
    build: |settings| Ok(INBOUND.verified_by(settings, verifier(settings)?)),
    simulate: |sim| {
        simulate(&Simulation {
            kind: EventKind::Inbound,
            ..*sim
        })
    },
    reply: |answer| Reply::acknowledged(answer, ACKNOWLEDGEMENT),
    control: None,
    by_event_verifier: true,
};
