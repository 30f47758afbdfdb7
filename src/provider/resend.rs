//! Resend: Standard Webhooks signatures with the `svix-*` headers, one JSON
//! event per request.
//!
//! - Authenticated by: HMAC-SHA256 over `svix-id.svix-timestamp.body` with
//!   the endpoint's `whsec_…` secret ([`StandardWebhooks`]).
//! - Signed: the delivery id, the timestamp and the whole body.
//! - Event id: the signed delivery id (the `svix-id` header Resend sends,
//!   or `webhook-id` when the `webhook-*` family is used), which Resend
//!   keeps across retries of a delivery, so it is the idempotency key. It
//!   is always the id the signature covers: an unsigned id header of the
//!   other family never chooses the key.
//! - Replay window: five minutes each way, as the Standard Webhooks spec
//!   recommends.
//! - Events: `email.sent`, `email.delivered`, `email.delivery_delayed`
//!   ([`EventKind::Deferred`]), `email.bounced`
//!   (soft where the bounce `type` is `Transient` or `Undetermined`), `email.complained`,
//!   `email.opened`, `email.clicked`, `email.failed` (`data.failed.reason`
//!   its description), `email.scheduled` ([`EventKind::Queued`]),
//!   `email.suppressed`
//!   ([`EventKind::Rejected`]: not sent, the
//!   address being on Resend's suppression list, which stops it: a
//!   complaint where `data.suppressed.type` says so, else a bounce), and
//!   `contact.updated` with `unsubscribed: true` ([`EventKind::Unsubscribed`],
//!   the recipient `data.email`); anything else is
//!   [`EventKind::Unknown`] with its JSON kept.
//!   The recipient is the one address of `data.to` (a list; a lone string
//!   is read too); an event of an email to several names none, since it
//!   does not say which of them it is about. An event this model cannot
//!   read (an object naming its
//!   `type`, with a field of another type) is an unknown event under its
//!   signed id, never refused.
//! - Acknowledgement: any 2xx. Svix retries anything else 8 times over
//!   about 28 hours, each attempt signed anew with a fresh timestamp (so
//!   the replay window never refuses a retry).
//! - Setup: no handshake; the endpoint receives events once added.
//!
//! **Inbound** ([`parse_inbound`]): a received email is announced by a
//! signed `email.received` event carrying its metadata only (`email_id`,
//! `from`, `to`, `cc`, `subject`, `message_id`, the attachments' names and
//! ids), by design: the content is read from Resend's API. The crate asks
//! the caller's [`ContentSource`](crate::inbound::ContentSource) for
//! `https://api.resend.com/emails/receiving/{email_id}` (the received
//! email: `text`, `html`, `headers`, and `raw.download_url`, a pre-signed
//! link to the original message), then for that link, and reads the whole
//! message from it; without a `raw` link, each attachment's
//! `…/attachments/{id}` and its `download_url`. Send your API key to
//! `api.resend.com` only: the download links are pre-signed and go
//! elsewhere. The id is `email_id`; the signed `svix-id` is checked as for
//! the events. Sources: <https://resend.com/docs/dashboard/receiving/get-email-content>,
//! <https://resend.com/docs/api-reference/emails/retrieve-received-email>,
//! the `resend-openapi` specification and the official SDKs.
//!
//! Source: <https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests>,
//! event types at <https://resend.com/docs/dashboard/webhooks/event-types>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, ParseError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::headers::Headers;
use crate::provider::Timestamp;
use crate::provider::batch;
use crate::provider::{Settings, SetupError};
use crate::scheme::Authenticate as _;
use crate::scheme::standard::{self, StandardWebhooks};
use crate::secret::Secret;
use crate::verified::Verified;

/// Verifies Resend webhooks and parses their events.
#[derive(Debug)]
pub struct ResendVerifier {
    inner: StandardWebhooks,
}

impl ResendVerifier {
    /// A verifier with the endpoint's signing secret (`whsec_…`, parsed with
    /// [`Secret::from_standard_webhooks`]).
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            inner: StandardWebhooks::new(secret),
        }
    }

    /// Also accepts `secret` (rotation).
    #[must_use]
    pub fn with_secret(self, secret: Secret) -> Self {
        Self {
            inner: self.inner.with_key(secret),
        }
    }

    /// Verifies a request, then parses its events.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub fn verify_and_parse_at<H: Headers + Sync>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Vec<EmailEvent>, Error> {
        let verified = self.verify_at(headers, body, now)?;
        Ok(parse_with_id(verified.id(), body)?)
    }
}

/// A Resend webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendEvent {
    /// `email.sent`, `email.delivered`, … (unknown types are kept).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened.
    #[serde(default)]
    pub created_at: Timestamp,
    /// The event's data.
    #[serde(default)]
    pub data: ResendData,
}

/// The `data` object of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendData {
    /// The message id Resend's send API returned.
    pub email_id: Option<String>,
    /// Recipients (a list; a lone string is read as a list of one).
    #[serde(default, deserialize_with = "crate::provider::strings")]
    pub to: Vec<String>,
    /// Sender.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Bounce details, for `email.bounced`.
    pub bounce: Option<ResendBounce>,
    /// Click details, for `email.clicked`.
    pub click: Option<ResendClick>,
    /// Why Resend did not send, for `email.suppressed` (`type`,
    /// `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Value>,
    /// Tags the sender attached (an object of name → value).
    pub tags: Option<Value>,
    /// Why Resend could not send, for `email.failed` (`reason`).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub failed: Option<ResendFailed>,
    /// The contact's address, for `contact.*` events.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// Whether the contact is unsubscribed, for `contact.*` events.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub unsubscribed: Option<bool>,
}

/// `data.failed` of a Resend `email.failed` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendFailed {
    /// Why the email could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `data.bounce` of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendBounce {
    /// Human-readable explanation.
    pub message: Option<String>,
    /// `Permanent`, `Transient`, …
    #[serde(rename = "type")]
    pub bounce_type: Option<String>,
    /// Finer classification.
    #[serde(rename = "subType")]
    pub sub_type: Option<String>,
}

impl ResendBounce {
    /// Whether Resend did not send at all because the address is on its
    /// suppression list (`subType` `Suppressed`, or a message saying so):
    /// Resend reports that as a bounce, but nothing bounced this time.
    fn is_suppression(&self) -> bool {
        self.sub_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("suppress"))
            || self
                .message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("suppression list"))
    }
}

/// `data.click` of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendClick {
    /// The clicked URL.
    pub link: Option<String>,
    /// The clicking browser.
    #[serde(rename = "userAgent")]
    pub user_agent: Option<String>,
    /// The clicking address.
    #[serde(rename = "ipAddress")]
    pub ip_address: Option<String>,
}

/// Parses a Resend body without verifying it. `headers` supply the event id:
/// the id header of the family the verifier would check (`webhook-id` when
/// a `webhook-signature` is present, else `svix-id`), so the id is the one a
/// signature covers; pass empty headers when there are none.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object naming its `type`. An
/// event this model cannot read (a field of another type) is an
/// [`EventKind::Unknown`] event under the signed
/// id, never refused.
pub fn parse<H: Headers + ?Sized>(headers: &H, body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_with_id(
        standard::signed_id(headers, &crate::limits::Limits::default()),
        body,
    )
}

fn parse_with_id(id: Option<&str>, body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    // An object (an array would read into the event's fields in order).
    let raw = batch::object(body)?;
    // An event this model cannot read (a field of another type) is kept as
    // an unknown event under its signed id, never refused: Svix would retry
    // it for a day and then drop it.
    let what = "the body is not a Resend event";
    let mut event = batch::named(Provider::Resend, raw, "type", what, |native, raw| {
        normalize(native, id, raw.to_owned())
    })?;
    // An unknown event (keyed by its bytes as it was read) is keyed by the
    // signed id.
    if let (None, Some(id)) = (&event.event_id, id) {
        event.key_by_id(id.to_owned());
    }
    Ok(vec![event])
}

/// Maps a Resend event to an [`EmailEvent`].
fn normalize(native: ResendEvent, id: Option<&str>, raw: Box<RawValue>) -> EmailEvent {
    let kind = match native.event_type.as_str() {
        "email.sent" => EventKind::Sent,
        "email.delivered" => EventKind::Delivered,
        "email.delivery_delayed" => EventKind::Deferred,
        "email.bounced" => EventKind::Bounced,
        "email.complained" => EventKind::Complained,
        "email.opened" => EventKind::Opened,
        "email.clicked" => EventKind::Clicked,
        "email.failed" => EventKind::Failed,
        "email.suppressed" => EventKind::Rejected,
        "email.scheduled" => EventKind::Queued,
        // A contact marked unsubscribed (Resend's unsubscribe link, the
        // API); other contact changes are kept as unknown.
        "contact.updated" if native.data.unsubscribed == Some(true) => EventKind::Unsubscribed,
        _ => EventKind::Unknown,
    };
    let mut event = EmailEvent::new(Provider::Resend, kind, raw);
    let data = native.data;
    event.timestamp = native.created_at.0;
    event.event_id = id.map(str::to_owned);
    event.message_id = data.email_id;
    // `to` entries may carry a display name: `Jane <jane@example.com>`.
    // An event of an email to several does not say which of them it is
    // about (a bounce would stop the wrong address): no recipient then.
    event.recipient = match (data.to.as_slice(), kind) {
        ([to], _) => crate::event::bare_address(to),
        (_, EventKind::Unsubscribed) => data.email.as_deref().and_then(crate::event::bare_address),
        _ => None,
    };
    event.reject_reason = match kind {
        EventKind::Bounced
            if data
                .bounce
                .as_ref()
                .is_some_and(ResendBounce::is_suppression) =>
        {
            Some(RejectReason::Blocked)
        }
        EventKind::Bounced => Some(RejectReason::Bounced),
        EventKind::Complained => Some(RejectReason::Spam),
        EventKind::Unsubscribed => Some(RejectReason::Unsubscribed),
        // Not sent: the address is on Resend's suppression list, for a
        // bounce or a complaint.
        EventKind::Rejected => {
            let kind = data
                .suppressed
                .as_ref()
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            // `OnAccountSuppressionList` (what Resend sends) names no
            // cause: the list holds hard bounces and complaints, so it
            // stops the address as `email.bounced` with subtype
            // `Suppressed` does.
            Some(match kind.as_deref() {
                Some(k) if k.contains("complain") || k.contains("spam") => RejectReason::Spam,
                Some(k) if k.contains("unsub") => RejectReason::Unsubscribed,
                _ => RejectReason::Bounced,
            })
        }
        _ => None,
    };
    // Resend relays its sending provider's (SES's) `Transient` and
    // `Undetermined` bounces (a full mailbox, a server refusing for now, no
    // reason known): the address may be fine.
    event.soft_bounce = event.reject_reason == Some(RejectReason::Bounced)
        && data.bounce.as_ref().is_some_and(|b| {
            matches!(b.bounce_type.as_deref(), Some("Transient" | "Undetermined"))
        });
    if let Some(message) = data
        .suppressed
        .as_ref()
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str)
    {
        event.description = Some(message.to_owned());
    }
    if let Some(bounce) = data.bounce {
        event.description = bounce.message;
    }
    if let Some(failed) = data.failed {
        event.description = failed.reason;
    }
    if let Some(click) = data.click {
        event.click_url = click.link;
        event.user_agent = click.user_agent;
    }
    if let Some(Value::Object(tags)) = data.tags {
        event.metadata = tags;
    } else {
        event.metadata = Map::new();
    }
    event
}

impl crate::policy::Configure for ResendVerifier {
    fn policy(&self) -> &crate::policy::Policy {
        self.inner.policy()
    }
    fn policy_mut(&mut self) -> &mut crate::policy::Policy {
        self.inner.policy_mut()
    }
}

impl crate::provider::EmailProvider for ResendVerifier {
    fn id(&self) -> crate::Provider {
        crate::Provider::Resend
    }

    fn receive<'a>(
        &'a self,
        request: &'a crate::Request<'a>,
    ) -> impl std::future::Future<Output = Result<crate::provider::Received, Error>> + Send + 'a
    {
        std::future::ready((|| {
            let proof = self.inner.authenticate(request)?;
            let events = parse_with_id(proof.id(), request.body())?;
            Ok(crate::provider::Received::events(events).with_proof(proof))
        })())
    }
}

const NEEDS: &str = "--secret S (the endpoint's whsec_ signing secret)";

/// The verifier with every signing secret given (rotation).
fn verifier(settings: &Settings) -> Result<ResendVerifier, SetupError> {
    Settings::rotating(
        &settings.secrets,
        NEEDS,
        Secret::from_standard_webhooks,
        ResendVerifier::new,
        ResendVerifier::with_secret,
    )
}

/// A Resend event of `kind` with `svix-*` headers; tampered: a letter of the
/// recipient.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    let kind = match sim.kind {
        EventKind::Delivered => "delivered",
        EventKind::Bounced => "bounced",
        EventKind::Opened => "opened",
        EventKind::Clicked => "clicked",
        EventKind::Complained => "complained",
        EventKind::Deferred => "delivery_delayed",
        EventKind::Sent => "sent",
        other => return Err(SetupError::Unsupported(other)),
    };
    Ok(serde_json::json!({"type": format!("email.{kind}"), "created_at": sim.rfc3339(),
        "data": {"email_id": sim.event_id, "to": [sim.recipient], "click": {"link": "https://example.com/"}}})
    .to_string()
    .into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated};
    let body = sim.body_or(sample)?;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let signer = crate::scheme::standard::StandardWebhooksSigner::new(
        Secret::from_standard_webhooks(secret)?,
    );
    let headers = signer
        .headers(&format!("msg_{}", sim.event_id), sim.now, &body)?
        .into_iter()
        .map(|(k, v)| (k.replacen("webhook-", "svix-", 1), v))
        .collect();
    let mut delivery = Simulated::json(body, headers);
    if sim.tamper {
        delivery.alter_body(sim.recipient.as_bytes(), 0);
    }
    Ok(delivery)
}

/// Resend's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "Resend",
    authenticated_by: "Standard Webhooks (`svix-*` headers)",
    event_id: "the signed id header (`svix-id`, or `webhook-id`)",
    signed: "id, timestamp and body",
    replay_window: "5 minutes each way",
    parse: |request| parse(request.headers(), request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: Some(&INBOUND),
};

impl crate::scheme::Authenticate for ResendVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.inner.authenticate(request)
    }
}

crate::scheme::verify_methods!(ResendVerifier);

/// Where Resend serves received emails.
const RECEIVING_URL: &str = "https://api.resend.com/emails/receiving/";

/// An `email.received` event: the fields read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReceivedEvent {
    #[serde(rename = "type")]
    event_type: String,
    created_at: Option<String>,
    data: ReceivedData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReceivedData {
    email_id: Option<String>,
    from: Option<String>,
    to: crate::inbound::Capped<String>,
    cc: crate::inbound::Capped<String>,
    subject: Option<String>,
    message_id: Option<String>,
    attachments: crate::inbound::Capped<ReceivedAttachment>,
}

/// An attachment as Resend lists it; an odd field is read as absent, so
/// that it never makes a good link unreadable.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReceivedAttachment {
    #[serde(deserialize_with = "crate::provider::lenient_object")]
    id: Option<String>,
    #[serde(deserialize_with = "crate::provider::lenient_object")]
    filename: Option<String>,
    #[serde(deserialize_with = "crate::provider::lenient_object")]
    content_type: Option<String>,
    #[serde(deserialize_with = "crate::provider::lenient_object")]
    content_disposition: Option<String>,
    #[serde(deserialize_with = "crate::provider::lenient_object")]
    content_id: Option<String>,
    #[serde(deserialize_with = "crate::provider::lenient")]
    size: Option<u64>,
}

/// The received email as Resend's API serves it: the fields read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReceivedEmail {
    text: Option<String>,
    html: Option<String>,
    headers: Option<crate::inbound::JsonHeaders>,
    raw: Option<RawLink>,
    attachments: crate::inbound::Capped<ReceivedAttachment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLink {
    download_url: Option<String>,
}

/// An attachment as Resend's API serves it: its description and link.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AttachmentLink {
    #[serde(flatten)]
    described: ReceivedAttachment,
    download_url: Option<String>,
}

/// An id Resend gives (a UUID), fit for a URL path: nothing else is put
/// into one.
fn path_id(id: Option<&str>) -> Result<&str, ParseError> {
    id.filter(|id| {
        !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .ok_or_else(|| ParseError::new("an id of the received email is not one"))
}

/// A download link from Resend's API: `https://` and nothing odd.
fn download_link(url: Option<&str>) -> Result<String, ParseError> {
    url.filter(|u| {
        u.starts_with("https://") && !u.chars().any(|c| c.is_whitespace() || c.is_control())
    })
    .map(str::to_owned)
    .ok_or_else(|| ParseError::new("Resend's API gave no usable download link"))
}

/// Parses an `email.received` event without verifying it, within `limits`:
/// the message's metadata, and its content still to fetch
/// ([`InboundMessage::pending`](crate::InboundMessage::pending)).
///
/// # Errors
///
/// [`ParseError`] when the body is not an `email.received` event, or its
/// ids are not Resend's.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{Address, ContentKind, ContentRef, InboundMessage};
    let event: ReceivedEvent =
        crate::inbound::read_json(body, limits, "the body is not a Resend event")?;
    if event.event_type != "email.received" {
        return Err(ParseError::new(
            "the body is not an email.received event (an email event on the inbound URL?)",
        ));
    }
    let data = event.data;
    let email_id = path_id(data.email_id.as_deref())?.to_owned();
    limits.check_attachments(data.attachments.0.len())?;
    let mut message = InboundMessage::new(Provider::Resend);
    let address = |text: &str| {
        let bare = crate::event::bare_address(text);
        let name = text
            .split_once('<')
            .map(|(name, _)| name.trim().trim_matches('"'))
            .filter(|n| !n.is_empty());
        Address::new(bare.as_deref().or(Some(text)), name)
    };
    message.from = data.from.as_deref().map(address);
    message.to = data.to.0.iter().map(|t| address(t)).collect();
    message.cc = data.cc.0.iter().map(|t| address(t)).collect();
    // Resend posts no envelope: the address it received the message for
    // is among `to`, `cc` and `bcc` (the first `To` may be anyone's).
    message.subject = data.subject;
    message.message_id = data
        .message_id
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned());
    message.timestamp = event
        .created_at
        .as_deref()
        .and_then(crate::provider::timestamp::parse_text);
    message.attachments = data.attachments.0.iter().map(attachment).collect();
    message.needs(
        ContentRef {
            provider: Provider::Resend,
            url: format!("{RECEIVING_URL}{email_id}"),
            kind: ContentKind::Details,
            max_bytes: limits.max_body_bytes,
        },
        read_details,
    );
    message.event_id = Some(email_id);
    Ok(message)
}

/// Reads the received email's details: the bodies and headers, then the
/// raw message (or, without one, each attachment) still to fetch.
#[allow(clippy::needless_pass_by_value)] // `Apply`'s signature: others keep the bytes.
fn read_details(
    message: &mut crate::InboundMessage,
    content: &crate::inbound::ContentRef,
    bytes: Vec<u8>,
    limits: &crate::InboundLimits,
) -> Result<(), ParseError> {
    use crate::inbound::{ContentKind, ContentRef};
    crate::inbound::check_json_values(&bytes)?;
    let email: ReceivedEmail = serde_json::from_slice(&bytes)
        .map_err(|e| ParseError::json("Resend's received email is not its JSON", &e))?;
    message.text = email.text;
    message.html = email.html;
    if let Some(headers) = email.headers {
        limits.check_headers(headers.0.len())?;
        message.headers = headers.0;
    }
    if let Some(raw) = email.raw {
        message.needs(
            ContentRef {
                provider: Provider::Resend,
                url: download_link(raw.download_url.as_deref())?,
                kind: ContentKind::Message,
                max_bytes: limits.max_body_bytes,
            },
            crate::inbound::fetch::read_raw_message,
        );
        return Ok(());
    }
    // No raw message: each attachment's own description, then its bytes.
    // The attachments are the details' list, each with its own id: never
    // the webhook's list paired with the details' by position.
    limits.check_attachments(email.attachments.0.len())?;
    if email.attachments.0.len() < message.attachments.len() {
        // Never a message that looks whole with an attachment missing.
        return Err(ParseError::new(
            "Resend's received email lists fewer attachments than its webhook",
        ));
    }
    message.attachments = email.attachments.0.iter().map(attachment).collect();
    for (index, listed) in email.attachments.0.iter().enumerate() {
        let id = path_id(listed.id.as_deref())?;
        message.needs(
            ContentRef {
                provider: Provider::Resend,
                url: format!("{}/attachments/{id}", content.url),
                kind: ContentKind::Attachment(index),
                max_bytes: 64 * 1024,
            },
            read_attachment_link,
        );
    }
    Ok(())
}

/// An attachment as Resend lists it, its bytes still to fetch.
fn attachment(listed: &ReceivedAttachment) -> crate::inbound::Attachment {
    crate::inbound::Attachment {
        filename: listed.filename.clone(),
        content_type: listed.content_type.clone(),
        size: listed
            .size
            .and_then(|s| usize::try_from(s).ok())
            .unwrap_or(0),
        content_id: listed
            .content_id
            .as_ref()
            .map(|id| id.trim_matches(['<', '>']).to_owned()),
        inline: listed.content_disposition.as_deref() == Some("inline"),
        content: Vec::new(),
    }
}

/// Reads an attachment's description: its bytes still to fetch.
#[allow(clippy::needless_pass_by_value)] // `Apply`'s signature: others keep the bytes.
fn read_attachment_link(
    message: &mut crate::InboundMessage,
    content: &crate::inbound::ContentRef,
    bytes: Vec<u8>,
    limits: &crate::InboundLimits,
) -> Result<(), ParseError> {
    let link: AttachmentLink = serde_json::from_slice(&bytes)
        .map_err(|e| ParseError::json("Resend's attachment is not its JSON", &e))?;
    // What the list left out, from the attachment's own description.
    if let (crate::inbound::ContentKind::Attachment(index), described) =
        (content.kind, attachment(&link.described))
    {
        if let Some(listed) = message.attachments.get_mut(index) {
            listed.filename = listed.filename.take().or(described.filename);
            listed.content_type = listed.content_type.take().or(described.content_type);
            listed.content_id = listed.content_id.take().or(described.content_id);
            listed.inline |= described.inline;
        }
    }
    message.needs(
        crate::inbound::ContentRef {
            provider: Provider::Resend,
            url: download_link(link.download_url.as_deref())?,
            kind: content.kind,
            max_bytes: limits.max_decoded_bytes,
        },
        crate::inbound::fetch::read_attachment,
    );
    Ok(())
}

/// Resend's inbound emails in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "Standard Webhooks (`svix-*` headers), as the events: the `email.received` event",
    shape: "JSON `email.received`: metadata only; the content fetched from Resend's API",
    parse: |request, limits| Ok(vec![parse_inbound(request.body(), limits)?]),
    build: |settings| Ok(INBOUND.verified_by(settings, verifier(settings)?)),
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: true,
};

/// An `email.received` event for `sim.recipient` (`email_id` is
/// `sim.event_id`), signed as the events; tampered: a letter of the
/// recipient changed. What Resend's API then serves for it is
/// [`simulated_content`].
fn simulate_inbound(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    if sim.body.is_some() {
        return simulate(sim);
    }
    let body = serde_json::json!({
        "type": "email.received",
        "created_at": sim.rfc3339(),
        "data": {
            "email_id": sim.event_id,
            "created_at": sim.rfc3339(),
            "from": "A Customer <customer@example.net>",
            "to": [sim.recipient], "cc": [], "bcc": [], "received_for": [sim.recipient],
            "subject": "Re: your order",
            "message_id": format!("<{}@example.net>", sim.event_id),
            "attachments": [{"id": "att-1", "filename": "receipt.txt", "content_type": "text/plain", "content_disposition": "attachment"}],
        },
    })
    .to_string();
    simulate(&crate::provider::Simulation {
        body: Some(body.as_bytes()),
        ..*sim
    })
}

/// What Resend's API serves for a simulated `email.received` event of
/// `email_id` for `recipient`: the received email's JSON and, at its
/// `raw.download_url`, the message itself, as `(url, bytes)` pairs for a
/// [`StaticContent`](crate::inbound::StaticContent) (the tour, the CLI's
/// `send --inbound`, tests).
#[must_use]
pub fn simulated_content(email_id: &str, recipient: &str) -> Vec<(String, Vec<u8>)> {
    let raw_url = format!("https://inbound-downloads.example.invalid/{email_id}.eml");
    let raw = format!(
        "From: A Customer <customer@example.net>\r\nTo: {recipient}\r\nSubject: Re: your order\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{email_id}@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"rs\"\r\n\r\n--rs\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks!\r\n--rs\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\norder 42\r\n--rs--\r\n"
    );
    let details = serde_json::json!({
        "object": "email", "id": email_id, "to": [recipient], "from": "A Customer <customer@example.net>",
        "created_at": "2026-12-06 10:00:01.000000+00", "subject": "Re: your order",
        "message_id": format!("<{email_id}@example.net>"), "bcc": null, "cc": null, "reply_to": null,
        "html": null, "text": "Thanks!\r\n", "headers": {"subject": "Re: your order"},
        "attachments": [{"id": "att-1", "filename": "receipt.txt", "size": 8, "content_type": "text/plain", "content_disposition": "attachment"}],
        "raw": {"download_url": raw_url, "expires_at": "2026-12-06T11:00:00Z"},
    });
    vec![
        (
            format!("{RECEIVING_URL}{email_id}"),
            details.to_string().into_bytes(),
        ),
        (raw_url, raw.into_bytes()),
    ]
}
