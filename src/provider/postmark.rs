//! Postmark: no signature. Postmark authenticates webhooks only with the
//! basic-auth credentials you put in the webhook URL
//! (`https://user:pass@host/path`), and optionally a custom header you
//! configure with a secret value. One JSON object per request.
//!
//! - Authenticated by: [`BasicAuth`] (constant time, several pairs for
//!   rotation), plus the optional secret header.
//! - Signed: nothing. Anyone who learns the credentials can forge events, and
//!   a captured request can be replayed; keep the credentials secret, use
//!   HTTPS, and deduplicate ([`EmailEvent::idempotency_key`]).
//! - Event id: `ID` for bounces and spam complaints. Other records
//!   (deliveries, opens, clicks, subscription changes) have none: their
//!   idempotency key digests every field that can tell two apart (record
//!   type, message id, recipient, times, link and where it was, user
//!   agent, the server's text, the suppression). Postmark posts a record again as it was, so a
//!   redelivery gets the same key.
//! - Replay window: none (no signed timestamp).
//! - Acknowledgement: 200. Postmark retries anything else (about 10 times
//!   over 10 hours) except 403, which ends its retries: a refusal here is
//!   401, never 403, so a credentials mistake fixed within the retries
//!   loses nothing ([`EmailProvider::reply`](crate::provider::EmailProvider::reply)).
//! - Setup: no handshake. The webhook page's test posts a sample record.
//!
//! Source: <https://postmarkapp.com/developer/webhooks/webhooks-overview>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::basic_auth::BasicAuth;
use crate::digests::SecretDigests;
use crate::error::{Error, ParseError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::headers::{self, Headers, Name};
use crate::policy::{Policy, configure_via_field};
use crate::provider::Timestamp;
use crate::secret::Secret;
use crate::verified::Verified;

/// Checks Postmark's credentials and parses its events.
#[derive(Debug)]
pub struct PostmarkVerifier {
    auth: BasicAuth,
    secret_header: Option<SecretHeader>,
    policy: Policy,
}

/// A header that must carry a configured secret value.
struct SecretHeader {
    name: Name,
    digest: SecretDigests,
}

impl std::fmt::Debug for SecretHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHeader({}, [redacted])", self.name.as_str())
    }
}

impl PostmarkVerifier {
    /// A verifier requiring the basic-auth credentials of the webhook URL.
    #[must_use]
    pub fn new(auth: BasicAuth) -> Self {
        Self {
            auth,
            secret_header: None,
            policy: Policy::default(),
        }
    }

    /// Also requires header `name` to carry `value` (Postmark lets you add
    /// custom headers to a webhook). Compared in constant time. Called again
    /// with the same name, it accepts that value too (rotation: add the new
    /// value, change the webhook, then drop the old one); with another name,
    /// the header required is the new one.
    #[must_use]
    pub fn with_secret_header(mut self, name: &'static str, value: &Secret) -> Self {
        let name = Name::new(name.into());
        match &mut self.secret_header {
            Some(header) if header.name.as_str().eq_ignore_ascii_case(name.as_str()) => {
                header.digest.push(&[value.expose()]);
            }
            _ => {
                self.secret_header = Some(SecretHeader {
                    name,
                    digest: SecretDigests::new(&[value.expose()]),
                });
            }
        }
        self
    }

    /// Checks the request, then parses its event.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub fn verify_and_parse<H: Headers + Sync>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Vec<EmailEvent>, Error> {
        self.verify(headers, body)?;
        Ok(parse(body)?)
    }
}

/// A Postmark webhook payload (any `RecordType`). Field names follow
/// Postmark's; fields a record type does not have are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PostmarkEvent {
    /// `Delivery`, `Bounce`, `SpamComplaint`, `Open`, `Click`,
    /// `SubscriptionChange` (unknown types are kept).
    pub record_type: String,
    /// Bounce and spam-complaint id (a number; strings accepted).
    #[serde(rename = "ID")]
    pub id: Option<Value>,
    /// Bounce type: `HardBounce`, `SoftBounce`, `Transient`, …
    #[serde(rename = "Type")]
    pub bounce_type: Option<String>,
    /// The message id.
    #[serde(rename = "MessageID")]
    pub message_id: Option<String>,
    /// Recipient (deliveries, opens, clicks, subscription changes).
    pub recipient: Option<String>,
    /// Recipient (bounces, spam complaints).
    pub email: Option<String>,
    /// Bounce description.
    pub description: Option<String>,
    /// Delivery or bounce details from the receiving server.
    pub details: Option<String>,
    /// The message's tag.
    pub tag: Option<String>,
    /// Custom metadata attached to the message.
    pub metadata: Option<Map<String, Value>>,
    /// Delivery time.
    #[serde(default)]
    pub delivered_at: Timestamp,
    /// Bounce or complaint time.
    #[serde(default)]
    pub bounced_at: Timestamp,
    /// Open or click time.
    #[serde(default)]
    pub received_at: Timestamp,
    /// Subscription change time.
    #[serde(default)]
    pub changed_at: Timestamp,
    /// The clicked link.
    pub original_link: Option<String>,
    /// Clicks: where the link was in the message (`HTML` or `Text`).
    pub click_location: Option<String>,
    /// The opening or clicking browser.
    pub user_agent: Option<String>,
    /// Subscription changes: whether sending is now suppressed.
    pub suppress_sending: Option<bool>,
    /// Subscription changes: why (`HardBounce`, `SpamComplaint`,
    /// `ManualSuppression`).
    pub suppression_reason: Option<String>,
}

/// Parses a Postmark body without checking credentials.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object naming its
/// `RecordType`. A record this model cannot read (a field of another type)
/// is an [`EventKind::Unknown`] event keyed by its bytes, never refused:
/// Postmark would retry it for hours and then drop it.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    let raw = crate::provider::batch::object(body)?;
    let what = "the body is not a Postmark record";
    let event = crate::provider::batch::named(
        Provider::Postmark,
        raw,
        "RecordType",
        what,
        |native, raw| normalize(native, raw.to_owned()),
    )?;
    Ok(vec![event])
}

fn bounce_kind(bounce_type: Option<&str>) -> (EventKind, Option<RejectReason>) {
    match bounce_type.unwrap_or_default() {
        "HardBounce" | "SoftBounce" => (EventKind::Bounced, Some(RejectReason::Bounced)),
        "Transient" | "DnsError" | "OpenRelayTest" => (EventKind::Deferred, None),
        // A message flagged by a virus scanner: not the address's fault
        // (a soft bounce, below).
        "VirusNotification" => (EventKind::Bounced, Some(RejectReason::Other)),
        // Postmark held it: the sender signature is not confirmed.
        "Unconfirmed" => (EventKind::Rejected, None),
        "InboundError" => (EventKind::InboundFailed, None),
        "SpamComplaint" | "SpamNotification" => (EventKind::Complained, Some(RejectReason::Spam)),
        "BadEmailAddress" => (EventKind::Rejected, Some(RejectReason::Invalid)),
        "ManuallyDeactivated" | "Blocked" | "DMARCPolicy" => {
            (EventKind::Rejected, Some(RejectReason::Blocked))
        }
        "Unsubscribe" | "ManualSuppression" => {
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed))
        }
        "Subscribe" => (EventKind::Subscribed, None),
        "AutoResponder" | "AddressChange" | "ChallengeVerification" => {
            (EventKind::Autoresponded, None)
        }
        "SMTPApiError" | "TemplateRenderingFailed" => (EventKind::Failed, None),
        _ => (EventKind::Unknown, None),
    }
}

fn normalize(mut native: PostmarkEvent, raw: Box<RawValue>) -> EmailEvent {
    let event_id = native.id.take().and_then(|id| match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    });
    // Records without an `ID` are keyed by their fields, read before they
    // move into the event.
    let fingerprint = event_id.is_none().then(|| fingerprint(&native));
    let (kind, reason, timestamp) = match native.record_type.as_str() {
        "Delivery" => (EventKind::Delivered, None, native.delivered_at),
        "Open" => (EventKind::Opened, None, native.received_at),
        "Click" => (EventKind::Clicked, None, native.received_at),
        "Bounce" | "SpamComplaint" => {
            let (kind, reason) = match bounce_kind(native.bounce_type.as_deref()) {
                // A bounce of a type not in Postmark's table (or none): a
                // bounce still, counted as soft (below), never lost.
                (EventKind::Unknown, _)
                    if native.record_type == "Bounce"
                        && native.bounce_type.as_deref() != Some("Unknown") =>
                {
                    (EventKind::Bounced, Some(RejectReason::Other))
                }
                known => known,
            };
            (kind, reason, native.bounced_at)
        }
        "SubscriptionChange" => {
            // Suppressed (or unspecified) means the address stops receiving.
            if native.suppress_sending.unwrap_or(true) {
                match native.suppression_reason.as_deref() {
                    Some("HardBounce") => (
                        EventKind::Bounced,
                        Some(RejectReason::Bounced),
                        native.changed_at,
                    ),
                    Some("SpamComplaint") => (
                        EventKind::Complained,
                        Some(RejectReason::Spam),
                        native.changed_at,
                    ),
                    // Suppressed by hand, or for a reason not listed:
                    // Postmark stops sending, as for an unsubscribe.
                    _ => (
                        EventKind::Unsubscribed,
                        Some(RejectReason::Unsubscribed),
                        native.changed_at,
                    ),
                }
            } else {
                (EventKind::Subscribed, None, native.changed_at)
            }
        }
        _ => (EventKind::Unknown, None, Timestamp::default()),
    };
    // Postmark's `SoftBounce` (a full mailbox, a server refusing for now)
    // is a bounce it stopped retrying, and `VirusNotification` a message
    // flagged as infected, but neither is a bad address; nor is one of a
    // type Postmark's table does not list.
    let soft_bounce = kind == EventKind::Bounced
        && native.record_type == "Bounce"
        && !matches!(native.bounce_type.as_deref(), Some("HardBounce"));
    let mut event = EmailEvent::new(Provider::Postmark, kind, raw);
    event.timestamp = timestamp.0;
    event.reject_reason = reason;
    event.soft_bounce = soft_bounce;
    event.event_id = event_id;
    if let Some(fingerprint) = fingerprint {
        event.set_fingerprint(&fingerprint);
    }
    event.message_id = native.message_id;
    event.recipient = native.recipient.or(native.email);
    event.description = native.description;
    // `Details` is the receiving server's text for deliveries and bounces,
    // and the feedback report's for spam complaints (which Postmark sends
    // in the bounce shape).
    if kind == EventKind::Delivered
        || matches!(native.record_type.as_str(), "Bounce" | "SpamComplaint")
    {
        event.mta_response = native.details.filter(|d| !d.is_empty());
    }
    event.click_url = native.original_link;
    event.user_agent = native.user_agent;
    event.tags = native.tag.into_iter().filter(|t| !t.is_empty()).collect();
    event.metadata = native.metadata.unwrap_or_default();
    event
}

/// The derived key of a record without an `ID` (deliveries, opens,
/// clicks, subscription changes): every field that can tell two such
/// records apart (the record type, message, recipient, each time, the
/// link and where it was, the client, the server's text, the
/// suppression), none of which changes when Postmark posts the record
/// again.
fn fingerprint(native: &PostmarkEvent) -> [u8; 32] {
    let time = |t: &Timestamp| t.0.map(|t| t.unix_timestamp_nanos().to_string());
    let times = [
        &native.delivered_at,
        &native.bounced_at,
        &native.received_at,
        &native.changed_at,
    ]
    .map(time);
    let suppress = native.suppress_sending.map(|s| s.to_string());
    crate::event::fingerprint(
        [
            Some(native.record_type.as_str()),
            native.message_id.as_deref(),
            native.recipient.as_deref(),
            native.email.as_deref(),
            native.original_link.as_deref(),
            native.click_location.as_deref(),
            native.user_agent.as_deref(),
            native.details.as_deref(),
            native.description.as_deref(),
            suppress.as_deref(),
            native.suppression_reason.as_deref(),
        ]
        .into_iter()
        .chain(times.iter().map(Option::as_deref)),
    )
}

configure_via_field!(PostmarkVerifier);

impl crate::provider::sync::SyncProvider for PostmarkVerifier {
    const ID: Provider = Provider::Postmark;

    fn parse(
        request: &crate::Request<'_>,
        _: &crate::Limits,
    ) -> Result<crate::provider::Received, ParseError> {
        Ok(crate::provider::Received::events(parse(request.body())?))
    }

    /// Postmark stops retrying on 403: a refusal that is 403 elsewhere (a
    /// source outside an allowlist, which may only be out of date) is
    /// answered 401 here, so Postmark keeps retrying while you fix it.
    fn reply(&self, answer: crate::provider::Answer) -> crate::provider::Reply {
        reply(answer)
    }
}

crate::provider::sync::sync_provider!(PostmarkVerifier);

const NEEDS: &str = "--basic-auth USER:PASS (as in the webhook URL)";

/// A Postmark record of `kind` with basic auth; tampered: a wrong password.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    use serde_json::json;
    let (to, at) = (sim.recipient, sim.rfc3339());
    // Postmark numbers each bounce and complaint: one per event.
    let bounce_id = u64::from_be_bytes(
        Sha256::digest(sim.event_id.as_bytes())[..8]
            .try_into()
            .unwrap_or_default(),
    ) >> 12;
    let (record, extra) = match sim.kind {
        EventKind::Delivered => (
            "Delivery",
            json!({"Recipient": to, "DeliveredAt": at, "Details": "250 OK"}),
        ),
        EventKind::Bounced => (
            "Bounce",
            json!({"Email": to, "Type": "HardBounce", "ID": bounce_id, "BouncedAt": at}),
        ),
        EventKind::Opened => ("Open", json!({"Recipient": to, "ReceivedAt": at})),
        EventKind::Clicked => (
            "Click",
            json!({"Recipient": to, "OriginalLink": "https://example.com/", "ReceivedAt": at}),
        ),
        EventKind::Complained => (
            "SpamComplaint",
            json!({"Email": to, "Type": "SpamComplaint", "ID": bounce_id, "BouncedAt": at}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let mut body = json!({"RecordType": record, "MessageID": sim.event_id});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    Ok(body.to_string().into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated, basic_header_for};
    let body = sim.body_or(sample)?;
    let pair = Settings::first(&sim.settings.basic_auth, NEEDS)?;
    Ok(Simulated::json(
        body,
        vec![basic_header_for(pair, sim.tamper)],
    ))
}

/// Postmark's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "Postmark",
    authenticated_by: "basic auth in the webhook URL (and optionally a secret header)",
    event_id: "`ID` where present, else a digest",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(PostmarkVerifier::new(s.basic_auth(NEEDS)?))),
    simulate,
    inbound: Some(&INBOUND),
};

/// Postmark's inbound webhook in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "basic auth in the inbound webhook URL, as the event webhooks",
    shape: "JSON with the message's fields parsed, attachments in base64, the raw message optionally",
    parse: |request, limits| Ok(vec![parse_inbound_within(request.body(), limits)?]),
    build: |settings| {
        Ok(INBOUND.verified_by(settings, PostmarkVerifier::new(settings.basic_auth(NEEDS)?)))
    },
    simulate: simulate_inbound,
    reply,
    control: None,
    by_event_verifier: false,
};

/// A Postmark inbound delivery: a reply to `sim.recipient` (the inbound
/// address), with an attachment; tampered: a wrong password.
fn simulate_inbound(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated, basic_header_for};
    let body = match sim.body {
        Some(body) => body.to_vec(),
        None => serde_json::json!({
            "From": "customer@example.net", "FromName": "A Customer",
            "FromFull": {"Email": "customer@example.net", "Name": "A Customer", "MailboxHash": ""},
            "To": sim.recipient, "ToFull": [{"Email": sim.recipient, "Name": "", "MailboxHash": ""}],
            "Cc": "", "CcFull": [], "Bcc": "", "BccFull": [],
            "OriginalRecipient": sim.recipient, "ReplyTo": "", "MailboxHash": "",
            "Subject": "Re: your order", "MessageID": sim.event_id, "MessageStream": "inbound",
            "Date": time::OffsetDateTime::from_unix_timestamp(sim.now).ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok()),
            "TextBody": "Thanks!\n\n> your order shipped", "HtmlBody": "<p>Thanks!</p>",
            "StrippedTextReply": "Thanks!", "Tag": "",
            "Headers": [{"Name": "Message-ID", "Value": format!("<{}@example.net>", sim.event_id)},
                        {"Name": "X-Spam-Status", "Value": "No"}, {"Name": "X-Spam-Score", "Value": "0.1"}],
            "Attachments": [{"Name": "receipt.txt", "Content": crate::encoding::base64(b"order 42"),
                             "ContentType": "text/plain", "ContentLength": 8, "ContentID": ""}],
        })
        .to_string()
        .into_bytes(),
    };
    let pair = Settings::first(&sim.settings.basic_auth, NEEDS)?;
    Ok(Simulated::json(
        body,
        vec![basic_header_for(pair, sim.tamper)],
    ))
}

/// Checks the request's credentials (and body size). The result's
/// [`key_index`](Verified::key_index) is the matching basic-auth pair;
/// refusals are [`VerifyError::Unauthorized`] for missing or wrong
/// credentials and [`VerifyError::BodyTooLarge`] over the limit.
impl crate::scheme::Authenticate for PostmarkVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body) = (request.headers(), request.body());
        self.policy.limits.check_body(body)?;
        let index = self.auth.check(headers, &self.policy.limits)?;
        if let Some(secret) = &self.secret_header {
            let value = headers::optional(headers, &secret.name, &self.policy.limits)
                .ok()
                .flatten()
                .ok_or(VerifyError::Unauthorized)?;
            if secret.digest.position(value.as_bytes()).is_none() {
                return Err(VerifyError::Unauthorized);
            }
        }
        Ok(Verified::new(None, None, index))
    }
}

crate::scheme::verify_methods!(PostmarkVerifier);

/// Postmark's inbound webhook: a message Postmark received for your
/// inbound address or domain, posted as JSON with its fields parsed.
/// Authenticated as the event webhooks are (the credentials in the URL).
/// Source: <https://postmarkapp.com/developer/webhooks/inbound-webhook>,
/// <https://postmarkapp.com/developer/user-guide/inbound/parse-an-email>.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PostmarkInbound {
    /// `From` as sent.
    pub from: Option<String>,
    /// `From`, parsed.
    pub from_full: Option<PostmarkRecipient>,
    /// `To`, parsed.
    pub to_full: Vec<PostmarkRecipient>,
    /// `Cc`, parsed.
    pub cc_full: Vec<PostmarkRecipient>,
    /// The address Postmark received the message for (the envelope
    /// recipient).
    pub original_recipient: Option<String>,
    /// `Subject`.
    pub subject: Option<String>,
    /// Postmark's id for the message (stable across its retries).
    #[serde(rename = "MessageID")]
    pub message_id: Option<String>,
    /// `Date` as the sending server wrote it.
    pub date: Option<String>,
    /// The plain-text body.
    pub text_body: Option<String>,
    /// The HTML body.
    pub html_body: Option<String>,
    /// The reply without its quoted part.
    pub stripped_text_reply: Option<String>,
    /// The plus-address part of the recipient (`user+HASH@…`).
    pub mailbox_hash: Option<String>,
    /// Every header but the parsed ones, in order (SpamAssassin's among
    /// them).
    pub headers: Vec<PostmarkHeader>,
    /// The attachments, base64.
    pub attachments: Vec<PostmarkAttachment>,
    /// The whole message, when "include raw email content" is on.
    pub raw_email: Option<String>,
}

/// An address as Postmark parses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PostmarkRecipient {
    /// The address.
    pub email: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The plus-address part.
    pub mailbox_hash: Option<String>,
}

/// A header as Postmark lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PostmarkHeader {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// An attachment as Postmark posts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PostmarkAttachment {
    /// The filename (untrusted).
    pub name: Option<String>,
    /// The content, base64.
    pub content: String,
    /// The MIME type.
    pub content_type: Option<String>,
    /// The decoded length Postmark states.
    pub content_length: Option<u64>,
    /// The `Content-ID` (inline images), or empty.
    #[serde(rename = "ContentID")]
    pub content_id: Option<String>,
}

/// How many elements Postmark's inbound lists hold, counted without
/// keeping them.
#[derive(Deserialize)]
struct ListCounts {
    #[serde(rename = "Attachments", default)]
    attachments: Option<Count>,
    #[serde(rename = "Headers", default)]
    headers: Option<Count>,
    /// A tracking record's kind: such a record is no inbound message.
    #[serde(rename = "RecordType", default)]
    record_type: Option<serde::de::IgnoredAny>,
    /// The inbound stream's name, on every inbound message.
    #[serde(rename = "MessageStream", default)]
    message_stream: Option<serde::de::IgnoredAny>,
}

/// The length of a JSON array, its elements skipped.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Count, A::Error> {
                let mut count = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Count(count))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

/// Parses Postmark's inbound JSON without checking credentials, within
/// the default [`InboundLimits`](crate::InboundLimits).
///
/// # Errors
///
/// [`ParseError`] when the body is not Postmark's inbound JSON or is over a
/// limit.
pub fn parse_inbound(body: &[u8]) -> Result<crate::InboundMessage, ParseError> {
    parse_inbound_within(body, &crate::InboundLimits::default())
}

/// [`parse_inbound`] within `limits`.
///
/// # Errors
///
/// [`ParseError`] when the body is not Postmark's inbound JSON or is over a
/// limit (the body, the attachments' count or decoded size).
pub fn parse_inbound_within(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::Address;
    crate::inbound::check_json_body(body, limits)?;
    // The lists counted before they are read into memory: a body of
    // `"Attachments":[{},{},…]` would otherwise cost far more than itself.
    let counts: ListCounts = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not Postmark's inbound JSON", &e))?;
    limits.check_attachments(counts.attachments.map_or(0, |c| c.0))?;
    limits.check_headers(counts.headers.map_or(0, |c| c.0))?;
    let native: PostmarkInbound = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not Postmark's inbound JSON", &e))?;
    // A tracking record posted to the inbound URL is refused; an inbound
    // message is known by any of its fields (a forward that kept little
    // of the message still has some).
    let inbound = native.message_id.is_some()
        || native.from.is_some()
        || native.original_recipient.is_some()
        || native.from_full.is_some()
        || !native.to_full.is_empty()
        || !native.attachments.is_empty()
        || !native.headers.is_empty()
        || native.raw_email.is_some()
        || counts.message_stream.is_some();
    if counts.record_type.is_some() || !inbound {
        return Err(ParseError::new("the body is not Postmark's inbound JSON"));
    }
    limits.check_attachments(native.attachments.len())?;
    limits.check_headers(native.headers.len())?;
    let mut message = crate::InboundMessage::new(Provider::Postmark);
    let address = |r: &PostmarkRecipient| Address::new(r.email.as_deref(), r.name.as_deref());
    message.event_id.clone_from(&native.message_id);
    message.set_envelope_recipients(native.original_recipient.clone());
    message.from = native.from_full.as_ref().map(address);
    message.to = native.to_full.iter().map(address).collect();
    message.cc = native.cc_full.iter().map(address).collect();
    message.subject.clone_from(&native.subject);
    message.date = native
        .date
        .as_deref()
        .and_then(crate::inbound::rfc5322_date);
    message.text = native.text_body.clone().filter(|t| !t.is_empty());
    message.html = native.html_body.clone().filter(|t| !t.is_empty());
    message.stripped_text = native.stripped_text_reply.clone().filter(|t| !t.is_empty());
    message.headers = native
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    message.message_id = message
        .header("Message-ID")
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned());
    message.envelope_sender = message
        .header("Return-Path")
        .map(|p| p.trim().trim_matches(['<', '>']).to_owned())
        .filter(|p| !p.is_empty());
    let mut decoded = 0usize;
    for attachment in &native.attachments {
        let content_id = attachment
            .content_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        message.attachments.push(crate::inbound::json_attachment(
            attachment.name.as_deref(),
            attachment.content_type.as_deref(),
            content_id,
            // Postmark lists inline images with their Content-ID.
            content_id.is_some_and(|id| !id.trim_matches(['<', '>']).is_empty()),
            &attachment.content,
            &mut decoded,
            limits,
        )?);
    }
    message.raw = native.raw_email.map(String::into_bytes);
    message.spam_from_headers();
    Ok(message)
}

impl PostmarkVerifier {
    /// Checks the credentials, then parses Postmark's inbound JSON within
    /// `limits`. The verifier's own body limit applies first: raise it for
    /// inbound (`with_limits(Limits::default().with_max_body_bytes(…))`),
    /// Postmark posts messages of up to 35 MB.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub fn verify_and_parse_inbound<H: Headers + Sync>(
        &self,
        headers: &H,
        body: &[u8],
        limits: &crate::InboundLimits,
    ) -> Result<crate::InboundMessage, Error> {
        self.verify(headers, body)?;
        Ok(parse_inbound_within(body, limits)?)
    }
}

/// Postmark's answers, for events and inbound alike: never 403.
fn reply(answer: crate::provider::Answer) -> crate::provider::Reply {
    match answer {
        crate::provider::Answer::Refused { status, .. }
            if status == http::StatusCode::FORBIDDEN =>
        {
            crate::provider::Reply::status(http::StatusCode::UNAUTHORIZED)
        }
        other => crate::provider::Reply::standard(other),
    }
}
