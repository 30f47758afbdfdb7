//! Mailgun: one event per request, `{"signature": {...}, "event-data": {...}}`
//! as JSON (or, for legacy webhooks, the same signature fields as form
//! fields: URL-encoded, or `multipart/form-data` where the event carries the
//! message as `attachment-N` files, which are left out of the event).
//!
//! - Authenticated by: `signature.signature`, the hex HMAC-SHA256 (keyed
//!   with the webhook signing key) of `signature.timestamp` immediately
//!   followed by `signature.token`.
//! - Signed: **only the timestamp and the token; the event data is not
//!   signed.** Anyone holding one valid signature can attach it to other
//!   event data. A [`Pipeline`](crate::pipeline::Pipeline) with a store
//!   remembers each token (the timestamp followed by the token, the
//!   string the signature covers) with the body it first came with, for
//!   the replay window's span: the token again with another body is
//!   refused ([`VerifyError::Replayed`]); with the very same body it is
//!   Mailgun posting that delivery again (a retry may keep its first
//!   signature, see the replay window below), and the event id decides
//!   whether it is a duplicate. Without the pipeline, do the same with
//!   [`MailgunVerifier::verify_and_parse_with_token_at`]. The price of
//!   the wide window: a signature seen elsewhere (a log, a proxy, another
//!   endpoint of the same account) can carry other event data here within
//!   it, unless its token was spent here first. Use HTTPS, keep the store's
//!   capacity above a window's worth of deliveries, and never log bodies.
//! - Event id: `event-data.id`, stable across Mailgun's retries (it is
//!   the idempotency key; the token is not).
//! - Events: `failed` is [`EventKind::Deferred`] with `severity`
//!   `temporary` (one attempt; Mailgun retries), else
//!   [`EventKind::Bounced`]; its `reason` is the reject reason, and a
//!   permanent failure for a block of the sender (`espblock`,
//!   `blacklisted`) or for running out of retries (`old`) is a soft bounce
//!   ([`EmailEvent::soft_bounce`]): the
//!   address did not fail.
//! - Replay window: by default ([`DEFAULT_REPLAY_WINDOW`]) a signed
//!   timestamp may be up to 9 hours old and 5 minutes ahead. Mailgun
//!   documents no tolerance, and does not say whether a retry is signed
//!   anew: its page warns that delivery can be delayed "outside of
//!   Mailgun's control", and integrations report that a retry carries the
//!   first attempt's signature. Mailgun retries for 8 hours, so a window
//!   of minutes would refuse every retry of a delivery your handler
//!   failed, and the event would be lost. The spent tokens, remembered
//!   for the whole window, are the replay defence; a repost of the same
//!   body under a spent token is such a retry, and goes on to the event
//!   id's check ([`IdempotencyStore`](crate::idempotency::IdempotencyStore)).
//! - Legacy form webhooks merge the sender's custom variables into the
//!   form, so a field can repeat: Mailgun's own value is the last of the
//!   signature fields (`timestamp`, `token`, `signature`) and the first of
//!   any other field Mailgun posts for that event. A variable named like a
//!   field Mailgun does not post for the event (`url` on a delivery) is
//!   only the sender's: it is metadata, never read as Mailgun's.
//! - Acknowledgement: 200. A 406 ends Mailgun's retries, so it is answered
//!   only for an authenticated body that will never parse; any other code
//!   is retried for 8 hours ([`EmailProvider::reply`](crate::provider::EmailProvider::reply)).
//! - Setup: no handshake. The control panel's test posts a signed sample
//!   event.
//!
//! Source: <https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks>.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, ParseError, SecretError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::form::{self, Pair};
use crate::headers::{self, Headers, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::provider::Timestamp;
use crate::provider::{Settings, SetupError};
use crate::replay::ReplayWindow;
use crate::secret::Secret;
use crate::verified::Verified;

static CONTENT_TYPE: Name = Name::from_static("content-type");

/// Verifies Mailgun webhooks and parses their events.
#[derive(Debug)]
pub struct MailgunVerifier {
    keys: Vec<MacKey>,
    policy: Policy,
}

/// The signed fields, wherever they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SignatureFields {
    timestamp: String,
    token: String,
    signature: String,
}

/// What a delivery's signature covers, and so what a replay reuses: the
/// timestamp followed by the token, as signed (one value however the digits
/// are split between the two fields).
fn single_use(fields: &SignatureFields) -> String {
    format!("{}{}", fields.timestamp, fields.token)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    signature: Option<SignatureFields>,
    #[serde(rename = "event-data", borrow)]
    event_data: Option<&'a RawValue>,
}

/// Mailgun's default replay window: 9 hours into the past (Mailgun
/// retries for 8 hours, perhaps under the first attempt's signature) and
/// 5 minutes ahead (clock skew). See the module docs.
pub const DEFAULT_REPLAY_WINDOW: ReplayWindow = ReplayWindow::new(
    std::time::Duration::from_secs(9 * 3600),
    std::time::Duration::from_secs(5 * 60),
);

impl MailgunVerifier {
    /// A verifier with the HTTP webhook signing key, used as raw bytes.
    #[must_use]
    pub fn new(signing_key: Secret) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha256, signing_key)],
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
        }
    }

    /// Also accepts `signing_key` (rotation).
    #[must_use]
    pub fn with_secret(mut self, signing_key: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha256, signing_key));
        self
    }

    /// Verifies a request against the system clock.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the request is refused.
    pub fn verify<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified<'static>, VerifyError> {
        self.verify_at(headers, body, OffsetDateTime::now_utc())
    }

    /// Verifies a request as if the time were `now`. JSON bodies carry the
    /// signature in `signature`; form bodies (legacy webhooks) in the
    /// `timestamp`, `token` and `signature` fields.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the request is refused:
    /// [`VerifyError::InvalidSignature`] when the signature fields are absent
    /// (an unsigned request), [`VerifyError::InvalidPayload`] when the body
    /// is not a Mailgun envelope or its `signature` object is malformed.
    pub fn verify_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Verified<'static>, VerifyError> {
        let decoded = self.decode(headers, body)?;
        self.check(&*decoded.signature(&self.policy.limits)?, now)
    }

    /// Size check, then the body decoded once (JSON envelope or legacy
    /// form), for both the signature check and the events.
    fn decode<'b, H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &'b [u8],
    ) -> Result<Decoded<'b>, VerifyError> {
        self.policy.limits.check_body(body)?;
        let content_type = headers::optional(headers, &CONTENT_TYPE, &self.policy.limits)?;
        if form::is_form(content_type) {
            Ok(Decoded::Form(form::pairs(body, &self.policy.limits)?))
        } else if let Some(content_type) = content_type.filter(|ct| form::is_multipart(Some(ct))) {
            // Only the signed fields are read before the signature is
            // checked, by a linear scan: the whole form is parsed (by the
            // MIME parser) once it is authenticated.
            let max = self.policy.limits.max_header_bytes;
            let limits = crate::InboundLimits::default();
            crate::inbound::scan_fields(content_type, body, SIGNED, max, &limits, true)
                .map(|signed| Decoded::Multipart {
                    signed,
                    content_type: content_type.to_owned(),
                    body,
                })
                .map_err(|_| VerifyError::InvalidPayload {
                    detail: "the body is not a multipart form",
                })
        } else {
            serde_json::from_slice(body)
                .map(Decoded::Json)
                .map_err(|_| VerifyError::InvalidPayload {
                    detail: "the body is not a Mailgun JSON envelope",
                })
        }
    }

    fn check(
        &self,
        fields: &SignatureFields,
        now: OffsetDateTime,
    ) -> Result<Verified<'static>, VerifyError> {
        let too_long = |s: &String| s.len() > self.policy.limits.max_header_bytes;
        if too_long(&fields.timestamp) || too_long(&fields.token) || too_long(&fields.signature) {
            return Err(VerifyError::InvalidPayload {
                detail: "a signature field is over the header length limit",
            });
        }
        let timestamp =
            headers::parse_timestamp(&fields.timestamp, || "signature.timestamp".into())?;
        self.policy.check_timestamp(timestamp, now)?;
        let index = mac::find_key(
            self.keys.iter().enumerate(),
            Encoding::Hex,
            &[fields.timestamp.as_bytes(), fields.token.as_bytes()],
            &std::iter::once(fields.signature.as_bytes()),
        )?;
        Ok(Verified::new(None, Some(timestamp), index))
    }

    /// Verifies a request, then parses its event.
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
        self.verify_and_parse_with_token_at(headers, body, now)
            .map(|(events, _, _)| events)
    }

    /// As [`verify_and_parse_at`](Self::verify_and_parse_at), and also
    /// returns the single-use value and how long to remember it: remember
    /// it with a digest of the body, and refuse a later request with the
    /// same value and another body; the same body again is a retry, a
    /// duplicate only if its event was handled (see the module docs). The value
    /// is what the signature covers, the timestamp followed by the token:
    /// the signed string has no separator, so digits moved from one field
    /// to the other keep the signature valid and would make a "new" token;
    /// the string they make together is the same. The span is the
    /// replay window's (past plus future tolerance, plus a second for its
    /// inclusive edges), or a day when the window is disabled.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub fn verify_and_parse_with_token_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(Vec<EmailEvent>, String, Duration), Error> {
        self.receive_at(headers, body, now)
            .map(|(_, events, token, remember)| (events, token, remember))
    }

    /// Verifies once, then parses: the proof, the events, the token and how
    /// long to remember it.
    fn receive_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(Verified<'static>, Vec<EmailEvent>, String, Duration), Error> {
        let decoded = self.decode(headers, body)?;
        let (proof, token) = {
            let fields = decoded.signature(&self.policy.limits)?;
            (self.check(&fields, now)?, single_use(&fields))
        };
        let remember = match self.policy.replay_window() {
            Some(w) => w
                .past()
                .saturating_add(w.future())
                .saturating_add(Duration::from_secs(1)),
            None => Duration::from_secs(24 * 3600),
        };
        Ok((proof, decoded.events()?, token, remember))
    }

    /// The JSON envelope Mailgun would send for `event_data`, signed with the
    /// first key, for tests and the simulator.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] if there is no key.
    pub fn sign(
        &self,
        timestamp: i64,
        token: &str,
        event_data: &Value,
    ) -> Result<Value, SecretError> {
        let key = self.keys.first().ok_or(SecretError::Empty)?;
        let ts = timestamp.to_string();
        let tag = key.compute(&[ts.as_bytes(), token.as_bytes()]);
        Ok(serde_json::json!({
            "signature": {"timestamp": ts, "token": token, "signature": Encoding::Hex.encode(tag.as_bytes())},
            "event-data": event_data,
        }))
    }
}

/// A Mailgun body, decoded once.
enum Decoded<'a> {
    Json(Envelope<'a>),
    Form(Vec<Pair<'a>>),
    /// A legacy form posted as `multipart/form-data`: the signed fields as
    /// scanned, and the form, parsed only once it is authenticated.
    Multipart {
        signed: [Option<String>; 3],
        content_type: String,
        body: &'a [u8],
    },
}

impl Decoded<'_> {
    fn signature(&self, limits: &Limits) -> Result<Cow<'_, SignatureFields>, VerifyError> {
        match self {
            Self::Json(envelope) => {
                envelope
                    .signature
                    .as_ref()
                    .map(Cow::Borrowed)
                    // Unsigned: nothing to match, as with a wrong signature.
                    .ok_or(VerifyError::InvalidSignature)
            }
            Self::Form(pairs) => signature_from_pairs(pairs, limits).map(Cow::Owned),
            // Mailgun's own value is the last, as in a URL-encoded form.
            Self::Multipart { signed: fields, .. } => signed(fields.clone()).map(Cow::Owned),
        }
    }

    fn events(self) -> Result<Vec<EmailEvent>, ParseError> {
        match self {
            Self::Json(envelope) => events_from_envelope(&envelope),
            Self::Form(pairs) => events_from_pairs(&pairs),
            Self::Multipart {
                signed,
                content_type,
                body,
            } => {
                let fields = multipart_fields(&content_type, body)?;
                // The parsed form must hold the very fields the scan
                // checked: a form the two readings see differently is
                // refused.
                let last = |name: &str| {
                    let found = fields.iter().rev().find(|(n, _)| n == name);
                    found.map(|(_, value)| value.clone())
                };
                if SIGNED.map(last) != signed {
                    return Err(ParseError::new(
                        "the form's signed fields read differently by its parts",
                    ));
                }
                events_from_fields(fields)
            }
        }
    }
}

/// The fields the signature covers, in the order they are signed.
const SIGNED: [&str; 3] = ["timestamp", "token", "signature"];

/// The signature fields a form gave, all three, or unsigned: nothing to
/// match, as with a wrong signature.
fn signed(
    [timestamp, token, signature]: [Option<String>; 3],
) -> Result<SignatureFields, VerifyError> {
    match (timestamp, token, signature) {
        (Some(timestamp), Some(token), Some(signature)) => Ok(SignatureFields {
            timestamp,
            token,
            signature,
        }),
        _ => Err(VerifyError::InvalidSignature),
    }
}

/// The fields of a legacy webhook posted as `multipart/form-data`, as the
/// legacy `dropped`, `bounced` and `complained` events are when they carry
/// the message (`attachment-N` files), in order. Files are left out: the
/// event is in the fields, and the files are the same on every attempt.
/// Within the inbound form limits (parts); the body was checked against
/// the event body limit first.
fn multipart_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    let parts = crate::inbound::form_fields(content_type, body, &crate::InboundLimits::default())?;
    Ok(parts
        .iter()
        .filter(|part| part.filename.is_none())
        .map(|part| (part.name.clone(), part.text()))
        .collect())
}

/// The last value of each signature field: Mailgun's own value is the last
/// when a field repeats (the sender's custom variables are merged into the
/// same form). Only these three fields are decoded before verification,
/// and only when their encoded length is within the header length limit.
fn signature_from_pairs(
    pairs: &[Pair<'_>],
    limits: &Limits,
) -> Result<SignatureFields, VerifyError> {
    let last = |name: &str| pairs.iter().rev().find(|p| p.is(name.as_bytes()));
    let fields = SIGNED.map(last);
    if fields
        .iter()
        .flatten()
        .any(|p| p.value.len() > limits.max_header_bytes)
    {
        return Err(VerifyError::InvalidPayload {
            detail: "a signature field is over the header length limit",
        });
    }
    signed(fields.map(|field| field.map(|pair| form::decode(pair.value))))
}

/// Mailgun's `event-data` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunEventData {
    /// `accepted`, `rejected`, `delivered`, `failed`, `opened`, `clicked`,
    /// `unsubscribed`, `complained` (unknown events are kept).
    pub event: String,
    /// The event id.
    #[serde(default, deserialize_with = "crate::provider::lenient")]
    pub id: Option<String>,
    /// When it happened (float Unix seconds).
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The recipient.
    #[serde(default, deserialize_with = "crate::provider::lenient")]
    pub recipient: Option<String>,
    /// `permanent` or `temporary`, for failures.
    #[serde(default, deserialize_with = "crate::provider::lenient")]
    pub severity: Option<String>,
    /// Why it failed or was rejected (`bounce`, `suppress-bounce`,
    /// `generic`, `espblock`, `old`, …).
    #[serde(default, deserialize_with = "crate::provider::lenient")]
    pub reason: Option<String>,
    /// The receiving server's answer (may be null; another shape is read
    /// as none).
    #[serde(
        rename = "delivery-status",
        default,
        deserialize_with = "crate::provider::lenient_object"
    )]
    pub delivery_status: Option<MailgunDeliveryStatus>,
    /// Why Mailgun refused the message, for `rejected`.
    #[serde(default, deserialize_with = "crate::provider::lenient_object")]
    pub reject: Option<MailgunReject>,
    /// The message's headers.
    #[serde(default, deserialize_with = "crate::provider::lenient_object")]
    pub message: Option<MailgunMessage>,
    /// Tags: a list, or one string read as a list of one (items that are
    /// not strings are skipped).
    #[serde(
        default,
        deserialize_with = "crate::provider::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// Custom variables the sender attached (anything but an object is
    /// read as none; the value stays in the raw JSON).
    #[serde(
        rename = "user-variables",
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub user_variables: Map<String, Value>,
    /// The clicked URL.
    #[serde(default, deserialize_with = "crate::provider::lenient")]
    pub url: Option<String>,
    /// The opening or clicking client.
    #[serde(
        rename = "client-info",
        default,
        deserialize_with = "crate::provider::lenient_object"
    )]
    pub client_info: Option<MailgunClientInfo>,
}

/// `event-data.delivery-status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunDeliveryStatus {
    /// The SMTP response text.
    pub message: Option<String>,
    /// A human-readable description.
    pub description: Option<String>,
}

/// `event-data.reject`, for `rejected` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunReject {
    /// Why the message was refused.
    pub reason: Option<String>,
    /// More detail.
    pub description: Option<String>,
}

/// `event-data.message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunMessage {
    /// Selected headers.
    pub headers: Option<MailgunMessageHeaders>,
}

/// `event-data.message.headers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunMessageHeaders {
    /// The Message-ID, without angle brackets.
    #[serde(rename = "message-id")]
    pub message_id: Option<String>,
    /// The `To` header (a `rejected` event's only recipient).
    pub to: Option<String>,
}

/// `event-data.client-info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailgunClientInfo {
    /// The user agent.
    #[serde(rename = "user-agent")]
    pub user_agent: Option<String>,
}

/// Parses a Mailgun body without verifying it, choosing JSON or a legacy
/// form (URL-encoded or `multipart/form-data`) from its `Content-Type`
/// exactly as the verifier does (case-insensitive, parameters ignored).
///
/// # Errors
///
/// [`ParseError`] as [`parse`] or [`parse_form`].
pub fn parse_request<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
) -> Result<Vec<EmailEvent>, ParseError> {
    let content_type = headers::optional(headers, &CONTENT_TYPE, &Limits::default())
        .map_err(|_| ParseError::new("the Content-Type header cannot be read"))?;
    match content_type {
        ct if form::is_form(ct) => parse_form(body),
        Some(ct) if form::is_multipart(Some(ct)) => events_from_fields(multipart_fields(ct, body)?),
        _ => parse(body),
    }
}

/// Parses a Mailgun JSON webhook body (the envelope) without verifying it.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON envelope with `event-data`.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not a Mailgun JSON envelope", &e))?;
    events_from_envelope(&envelope)
}

fn events_from_envelope(envelope: &Envelope<'_>) -> Result<Vec<EmailEvent>, ParseError> {
    let raw = envelope
        .event_data
        .ok_or_else(|| ParseError::new("no `event-data` object"))?;
    parse_event_data(raw)
}

/// Parses one `event-data` object (as the Events API also returns them).
/// An object naming its `event` that this model cannot read (a field of
/// another type) is kept as an [`EventKind::Unknown`] event with its raw
/// JSON.
///
/// # Errors
///
/// [`ParseError`] when it is not an object with a string `event`.
pub fn parse_event_data(raw: &RawValue) -> Result<Vec<EmailEvent>, ParseError> {
    // An event this model cannot read (a field of another type) is kept as
    // unknown: refused, it would be answered 406 and Mailgun would never
    // send it again.
    let event = crate::provider::batch::named(
        Provider::Mailgun,
        raw,
        "event",
        "`event-data` is not a Mailgun event",
        |native, raw| normalize(native, raw.to_owned()),
    )?;
    Ok(vec![event])
}

/// Parses a legacy form-encoded webhook, read as Mailgun documents it: the
/// event names `delivered`, `dropped`, `bounced`, `complained`,
/// `unsubscribed`, `opened`, `clicked`; the first value of a repeated field
/// is Mailgun's where Mailgun posts that field for the event; every `tag`
/// and `X-Mailgun-Tag` value is a tag; custom variables
/// (`X-Mailgun-Variables`, and fields Mailgun does not post for the event)
/// are the metadata; `code` and `reason` give the reject reason. There is no
/// event id, and the form's `timestamp` is the signature's, new with each
/// attempt: the idempotency key digests every other field, so a redelivery
/// gets the same key.
///
/// # Errors
///
/// [`ParseError`] for malformed form encoding, more parameters than
/// [`Limits::max_form_params`](crate::Limits::max_form_params), or a missing `event` field.
pub fn parse_form(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    let pairs = form::pairs(body, &Limits::default())
        .map_err(|_| ParseError::new("malformed form encoding or too many parameters"))?;
    events_from_pairs(&pairs)
}

/// The fields Mailgun itself posts in every legacy webhook, whatever the
/// event: the event, its recipient and domain, the signature's three, the
/// headers Mailgun adds (`X-Mailgun-Sid`, its sending id, on every event;
/// the tag and variables headers), and the message's identity
/// (`message-headers`, `Message-Id` and its lower-case spelling), which the
/// manual lists for some events but which identify the message on any.
const LEGACY_COMMON: &[&str] = &[
    "event",
    "recipient",
    "domain",
    "timestamp",
    "token",
    "signature",
    "message-headers",
    "Message-Id",
    "message-id",
    "X-Mailgun-Sid",
    "X-Mailgun-Tag",
    "X-Mailgun-Variables",
];

/// The open, click and unsubscribe events' client fields.
const LEGACY_CLIENT: &[&str] = &[
    "ip",
    "country",
    "region",
    "city",
    "user-agent",
    "device-type",
    "client-type",
    "client-name",
    "client-os",
    "campaign-id",
    "campaign-name",
    "tag",
    "mailing-list",
];

/// The fields Mailgun posts for one legacy event beside [`LEGACY_COMMON`].
struct LegacyEvent {
    /// The event's own fields.
    fields: &'static [&'static str],
    /// Whether it has the client fields ([`LEGACY_CLIENT`]): opens, clicks
    /// and unsubscribes.
    client: bool,
    /// Whether it carries the bounce message: `attachment-N` files (and
    /// `attachment-count`, `body-plain`) on dropped, bounced and complained
    /// events.
    attachments: bool,
}

/// The fields Mailgun posts for the legacy event `event`, by the parameter
/// tables of Mailgun's legacy user manual. A sender's variable named like a
/// field Mailgun does not post for that event is only the sender's: it is
/// metadata and never read as Mailgun's (a variable `url` on a delivered
/// event is no click URL). An event name Mailgun does not document gets
/// every field any event has.
/// Source: <https://github.com/mailgun/documentation/blob/master/source/user_manual.rst>
/// ("Tracking Opens", "Tracking Clicks", "Tracking Unsubscribes",
/// "Tracking Spam Complaints", "Tracking Bounces", "Tracking Failures",
/// "Tracking Deliveries").
fn legacy_event(event: &str) -> LegacyEvent {
    let (fields, client, attachments): (&'static [&'static str], _, _) = match event {
        "delivered" => (&[], false, false),
        "dropped" => (&["reason", "code", "description"], false, true),
        "bounced" => (
            &[
                "code",
                "error",
                "notification",
                "campaign-id",
                "campaign-name",
                "tag",
                "mailing-list",
            ],
            false,
            true,
        ),
        "complained" => (
            &["campaign-id", "campaign-name", "tag", "mailing-list"],
            false,
            true,
        ),
        "opened" | "unsubscribed" => (&[], true, false),
        "clicked" => (&["url"], true, false),
        _ => (
            &[
                "reason",
                "code",
                "error",
                "description",
                "notification",
                "url",
            ],
            true,
            true,
        ),
    };
    LegacyEvent {
        fields,
        client,
        attachments,
    }
}

/// Fields that change with each delivery attempt of the same event: the
/// signature's timestamp and token, and the signature.
const PER_ATTEMPT: &[&str] = &SIGNED;

/// A legacy form event: each field's decoded values, in order.
struct LegacyForm {
    fields: Vec<(String, Vec<String>)>,
    /// The fields Mailgun posts for this event.
    ours: LegacyEvent,
    /// The original message's headers, from `message-headers` (a JSON list
    /// of `[name, value]` pairs), read once.
    headers: Vec<(String, String)>,
}

impl LegacyForm {
    fn new(decoded: Vec<(String, String)>) -> Self {
        let mut fields: Vec<(String, Vec<String>)> = Vec::new();
        for (name, value) in decoded {
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => fields.push((name, vec![value])),
            }
        }
        let mut form = Self {
            fields,
            ours: legacy_event(""),
            headers: Vec::new(),
        };
        form.ours = legacy_event(form.first("event").as_deref().unwrap_or_default());
        form.headers = form
            .first("message-headers")
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        form
    }

    /// Whether Mailgun posts a field `name` for this event.
    fn is_mailguns(&self, name: &str) -> bool {
        let event = &self.ours;
        LEGACY_COMMON.contains(&name)
            || event.fields.contains(&name)
            || (event.client && LEGACY_CLIENT.contains(&name))
            || (event.attachments && (name.starts_with("attachment-") || name == "body-plain"))
    }

    /// Mailgun's value of one of its fields for this event (the first), or
    /// `None` where Mailgun posts no such field for it: a sender's variable
    /// of that name is not read as Mailgun's.
    fn mailguns(&self, name: &str) -> Option<String> {
        if self.is_mailguns(name) {
            self.first(name)
        } else {
            None
        }
    }

    fn all(&self, name: &str) -> &[String] {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value: Mailgun's own for an event field, when the sender's
    /// custom variables repeat one of its names (django-anymail's finding,
    /// its issue #77).
    fn first(&self, name: &str) -> Option<String> {
        self.all(name).first().filter(|v| !v.is_empty()).cloned()
    }

    /// Every value of one of Mailgun's fields for this event; none where
    /// Mailgun posts no such field for it.
    fn mailguns_all(&self, name: &str) -> &[String] {
        if self.is_mailguns(name) {
            self.all(name)
        } else {
            &[]
        }
    }

    /// The first value of the original message's header `name`, from
    /// `message-headers`.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .filter(|v| !v.is_empty())
    }

    /// The last value: Mailgun's own for the signature fields (`timestamp`,
    /// `token`, `signature`), which it appends after the variables.
    fn last(&self, name: &str) -> Option<String> {
        self.all(name).last().filter(|v| !v.is_empty()).cloned()
    }

    /// The raw JSON: each field as a string, or an array of strings when it
    /// repeats.
    fn to_json(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .map(|(name, values)| {
                let value = match values.as_slice() {
                    [one] => Value::String(one.clone()),
                    many => Value::Array(many.iter().cloned().map(Value::String).collect()),
                };
                (name.clone(), value)
            })
            .collect()
    }

    /// Every field but the per-attempt ones, length-prefixed and sorted, so
    /// redeliveries of one event share it and events differing in any
    /// other field do not.
    fn fingerprint(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut entries: Vec<(&str, &str)> = self
            .fields
            .iter()
            .filter(|(name, _)| !PER_ATTEMPT.contains(&name.as_str()))
            .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.as_str())))
            .collect();
        entries.sort_unstable();
        let mut hash = sha2::Sha256::new();
        for (name, value) in entries {
            for part in [name, value] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part.as_bytes());
            }
        }
        hash.finalize().into()
    }

    /// Custom variables: the `X-Mailgun-Variables` header (JSON) from
    /// `message-headers` or a field of that name, then every field Mailgun
    /// does not post for the event.
    fn metadata(&self) -> Map<String, Value> {
        let mut metadata = Map::new();
        let variables = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("X-Mailgun-Variables"))
            .map(|(_, value)| value.clone())
            .chain(self.all("X-Mailgun-Variables").iter().cloned());
        for text in variables {
            if let Ok(Value::Object(object)) = serde_json::from_str(&text) {
                metadata.extend(object);
            }
        }
        for (name, values) in &self.fields {
            let ours = self.is_mailguns(name);
            // A variable named like one of Mailgun's fields repeats it:
            // Mailgun's value is the last of a signature field and the
            // first of any other, and the sender's is the one left.
            let sender = match (ours, PER_ATTEMPT.contains(&name.as_str())) {
                (false, _) => values.first(),
                (true, true) if values.len() > 1 => values.first(),
                (true, false) => values.get(1),
                (true, true) => None,
            };
            if let Some(value) = sender {
                if !metadata.contains_key(name) {
                    metadata.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
        metadata
    }
}

/// A legacy form-encoded webhook, read as Mailgun documents it: the event
/// names `delivered`, `dropped`, `bounced`, `complained`, `unsubscribed`,
/// `opened`, `clicked`; the first value of a repeated field is Mailgun's
/// where Mailgun posts that field for the event; every `tag` and
/// `X-Mailgun-Tag` value is a tag; custom variables (`X-Mailgun-Variables`,
/// and fields Mailgun does not post for the event) are the metadata; `code`
/// and `reason` give the reject reason; `error` or `notification` the MTA
/// response. The raw JSON holds every field (an array where one repeats).
/// There is no event id, and the form's `timestamp` is the signature's,
/// new with each attempt: the idempotency key digests every other field,
/// so a redelivery gets the same key.
fn events_from_pairs(pairs: &[Pair<'_>]) -> Result<Vec<EmailEvent>, ParseError> {
    events_from_fields(
        pairs
            .iter()
            .map(|pair| (form::decode(pair.name), form::decode(pair.value)))
            .collect(),
    )
}

/// The event of a legacy form's decoded fields, in order (see
/// [`events_from_pairs`]).
fn events_from_fields(fields: Vec<(String, String)>) -> Result<Vec<EmailEvent>, ParseError> {
    let legacy = LegacyForm::new(fields);
    let event = legacy
        .first("event")
        .ok_or_else(|| ParseError::new("no `event` field"))?;
    let native = MailgunEventData {
        event,
        id: None,
        // The signature's timestamp: Mailgun's own value is the last.
        timestamp: Timestamp(
            legacy
                .last("timestamp")
                .as_deref()
                .and_then(crate::provider::timestamp::parse_text),
        ),
        recipient: legacy.first("recipient"),
        severity: None,
        reason: legacy.mailguns("reason"),
        delivery_status: Some(MailgunDeliveryStatus {
            message: legacy
                .mailguns("error")
                .or_else(|| legacy.mailguns("notification")),
            description: legacy.mailguns("description"),
        }),
        reject: None,
        message: Some(MailgunMessage {
            headers: Some(MailgunMessageHeaders {
                message_id: legacy
                    .first("Message-Id")
                    .or_else(|| legacy.first("message-id"))
                    .or_else(|| legacy.header("Message-Id")),
                to: None,
            }),
        }),
        tags: legacy
            .mailguns_all("tag")
            .iter()
            .chain(legacy.all("X-Mailgun-Tag"))
            .filter(|t| !t.is_empty())
            .cloned()
            .collect(),
        user_variables: legacy.metadata(),
        url: legacy.mailguns("url"),
        client_info: Some(MailgunClientInfo {
            user_agent: legacy.mailguns("user-agent"),
        }),
    };
    let code = legacy.mailguns("code");
    let raw = serde_json::value::to_raw_value(&legacy.to_json())
        .map_err(|e| ParseError::json("form fields", &e))?;
    let mut event = normalize(native, raw);
    if matches!(event.kind, EventKind::Rejected | EventKind::Bounced) {
        event.reject_reason =
            legacy_reject_reason(code.as_deref(), legacy.mailguns("reason").as_deref());
        event.soft_bounce = soft_failure(event.kind, event.reject_reason);
    }
    event.set_fingerprint(&legacy.fingerprint());
    Ok(vec![event])
}

/// A legacy event's reject reason from its `code` (anymail's mapping: 499
/// timed out, 605 a previously bounced address, 607 a previous spam
/// complaint, other 4xx/5xx SMTP codes and enhanced codes of class 4 or 5
/// bounced), else from `reason` (`old`: timed out; `hardfail`: a
/// suppressed address that bounced before).
fn legacy_reject_reason(code: Option<&str>, reason: Option<&str>) -> Option<RejectReason> {
    let code = code.map(str::trim).unwrap_or_default();
    let by_code = match code.parse::<u16>() {
        Ok(499) => Some(RejectReason::TimedOut),
        Ok(607) => Some(RejectReason::Spam),
        // 605 is a previously bounced address.
        Ok(400..=599 | 605) => Some(RejectReason::Bounced),
        Ok(_) => Some(RejectReason::Other),
        // An enhanced status code such as `5.1.1`.
        Err(_) => match code.split('.').next() {
            Some("4" | "5") if code.contains('.') => Some(RejectReason::Bounced),
            _ => None,
        },
    };
    by_code.or(match reason {
        Some("old") => Some(RejectReason::TimedOut),
        Some("hardfail" | "bounce" | "suppress-bounce") => Some(RejectReason::Bounced),
        Some("suppress-unsubscribe") => Some(RejectReason::Unsubscribed),
        Some("suppress-complaint") => Some(RejectReason::Spam),
        _ => Some(RejectReason::Other),
    })
}

/// The reject reason of a JSON event's `reason`.
fn reject_reason(reason: Option<&str>) -> RejectReason {
    match reason.unwrap_or_default() {
        "bounce" | "suppress-bounce" | "hardfail" => RejectReason::Bounced,
        "suppress-unsubscribe" => RejectReason::Unsubscribed,
        "suppress-complaint" => RejectReason::Spam,
        "espblock" | "blacklisted" => RejectReason::Blocked,
        "old" => RejectReason::TimedOut,
        _ => RejectReason::Other,
    }
}

/// Whether a permanent failure is a soft bounce: a block of the sender or
/// running out of retries, not the address failing.
fn soft_failure(kind: EventKind, reason: Option<RejectReason>) -> bool {
    kind == EventKind::Bounced
        && matches!(reason, Some(RejectReason::Blocked | RejectReason::TimedOut))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn normalize(native: MailgunEventData, raw: Box<RawValue>) -> EmailEvent {
    let kind = match native.event.as_str() {
        "accepted" => EventKind::Queued,
        // `dropped`, `bounced`, `open` and `click` are the legacy names.
        "rejected" | "dropped" => EventKind::Rejected,
        "delivered" => EventKind::Delivered,
        "failed" if native.severity.as_deref() == Some("temporary") => EventKind::Deferred,
        "failed" | "bounced" => EventKind::Bounced,
        "opened" | "open" => EventKind::Opened,
        "clicked" | "click" => EventKind::Clicked,
        "unsubscribed" => EventKind::Unsubscribed,
        "complained" => EventKind::Complained,
        _ => EventKind::Unknown,
    };
    let mut event = EmailEvent::new(Provider::Mailgun, kind, raw);
    event.reject_reason = match kind {
        // A temporary failure says why too (greylisted, a full mailbox).
        EventKind::Rejected | EventKind::Bounced | EventKind::Deferred => {
            Some(reject_reason(native.reason.as_deref()))
        }
        EventKind::Complained => Some(RejectReason::Spam),
        EventKind::Unsubscribed => Some(RejectReason::Unsubscribed),
        _ => None,
    };
    // A permanent failure for a block of the sender (`espblock`,
    // `blacklisted`) or for running out of retries (`old`): the address did
    // not fail, so it counts as a soft bounce.
    event.soft_bounce = soft_failure(kind, event.reject_reason);
    event.timestamp = native.timestamp.0;
    // An empty id names no event: keyed as one without an id (two events
    // with empty ids never share `mailgun:`).
    event.event_id = non_empty(native.id);
    let headers = native.message.and_then(|m| m.headers).unwrap_or_default();
    // A `rejected` event names its recipient only in the message's `To`.
    event.recipient = non_empty(native.recipient)
        .or_else(|| headers.to.as_deref().and_then(crate::event::bare_address));
    // As Mailgun's send API returns it: in angle brackets.
    event.message_id = headers.message_id.filter(|id| !id.is_empty()).map(|id| {
        if id.starts_with('<') {
            id
        } else {
            format!("<{id}>")
        }
    });
    if let Some(status) = native.delivery_status {
        event.mta_response = non_empty(status.message);
        event.description = non_empty(status.description);
    }
    if let Some(reject) = native.reject {
        let reason = non_empty(reject.reason);
        let detail = non_empty(reject.description);
        event.description = match (reason, detail) {
            (Some(r), Some(d)) if r != d => Some(format!("{r}: {d}")),
            (r, d) => r.or(d).or(event.description),
        };
    }
    event.tags = native.tags;
    event.metadata = native.user_variables;
    event.click_url = native.url;
    event.user_agent = native.client_info.and_then(|c| c.user_agent);
    event
}

configure_via_field!(MailgunVerifier);

impl crate::provider::EmailProvider for MailgunVerifier {
    fn id(&self) -> Provider {
        Provider::Mailgun
    }

    fn receive<'a>(
        &'a self,
        request: &'a crate::Request<'a>,
    ) -> impl std::future::Future<Output = Result<crate::provider::Received, Error>> + Send + 'a
    {
        std::future::ready((|| {
            let (proof, events, token, remember) =
                self.receive_at(request.headers(), request.body(), request.now())?;
            Ok(crate::provider::Received::events(events)
                .with_proof(proof)
                .with_token(crate::provider::SingleUseToken::new(
                    format!("mailgun-token:{token}"),
                    remember,
                )))
        })())
    }

    /// Mailgun reads 406 as "do not retry": a body that authenticated but is
    /// not a Mailgun payload will never parse, so it gets 406 instead of
    /// 400. Everything refused before authentication (forged, unsigned,
    /// malformed signature fields) keeps its 4xx, and a misconfigured key
    /// leaves Mailgun retrying (8 hours) while you fix it.
    fn reply(&self, answer: crate::provider::Answer) -> crate::provider::Reply {
        reply(answer)
    }

    /// Mailgun signs a timestamp and a single-use token, not the event
    /// data: only a store remembering tokens stops a captured signature
    /// from vouching for other events.
    fn needs_store(&self) -> bool {
        true
    }
}

const NEEDS: &str = "--secret S (the webhook signing key)";

/// The verifier with every signing key given (rotation).
fn verifier(settings: &Settings) -> Result<MailgunVerifier, SetupError> {
    Settings::rotating(
        &settings.secrets,
        NEEDS,
        |s| Secret::from_bytes(s),
        MailgunVerifier::new,
        MailgunVerifier::with_secret,
    )
}

/// A Mailgun JSON envelope for `kind`, signed with a fresh token per
/// attempt; tampered: a letter of the signed token (Mailgun signs only its
/// timestamp and token).
/// The sample event's `event-data` for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    use serde_json::json;
    let (event, extra) = match sim.kind {
        EventKind::Delivered => ("delivered", json!({})),
        EventKind::Opened => ("opened", json!({})),
        EventKind::Clicked => ("clicked", json!({})),
        EventKind::Complained => ("complained", json!({})),
        EventKind::Unsubscribed => ("unsubscribed", json!({})),
        EventKind::Bounced => (
            "failed",
            json!({"severity": "permanent", "reason": "bounce"}),
        ),
        EventKind::Deferred => (
            "failed",
            json!({"severity": "temporary", "reason": "generic"}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let mut data = json!({"event": event, "id": sim.event_id, "timestamp": sim.now, "recipient": sim.recipient,
        "message": {"headers": {"message-id": format!("{}@example.com", sim.event_id)}}, "url": "https://example.com/"});
    if let (Some(d), Value::Object(extra)) = (data.as_object_mut(), extra) {
        d.extend(extra);
    }
    Ok(data.to_string().into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated};
    use sha2::Digest as _;
    // Mailgun signs a token and a time, not the body: a given delivery
    // (a whole JSON webhook body, or its `event-data`) is signed again by
    // replacing its `signature` object.
    let mut data: Value =
        serde_json::from_slice(&sim.body_or(sample)?).map_err(|_| VerifyError::InvalidPayload {
            detail: "Mailgun's JSON webhooks are a JSON object",
        })?;
    if let Some(inner) = data.get_mut("event-data") {
        data = inner.take();
    }
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let verifier = MailgunVerifier::new(Secret::from_bytes(secret.as_bytes())?);
    let token = crate::encoding::hex(&sha2::Sha256::digest(sim.attempt.as_bytes())[..25]);
    let body = verifier
        .sign(sim.now, &token, &data)?
        .to_string()
        .into_bytes();
    let mut delivery = Simulated::json(body, Vec::new());
    if sim.tamper {
        let marker = b"\"token\":\"";
        delivery.alter_body(marker, marker.len());
    }
    Ok(delivery)
}

/// Mailgun's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "Mailgun",
    authenticated_by: "HMAC-SHA256 of `timestamp` + `token` in the body",
    event_id: "`event-data.id`",
    signed: "timestamp and token only, **not the event data**; a pipeline's store refuses a reused token with another body",
    replay_window: "9 hours past (Mailgun's 8 hours of retries), 5 minutes ahead",
    parse: |request| parse_request(request.headers(), request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: Some(&INBOUND),
};

/// Mailgun's inbound routes: a route's `forward()` posts each message it
/// received, as a form (`application/x-www-form-urlencoded`, or
/// `multipart/form-data` when the message has attachments), either parsed
/// (`sender` and `recipient` from the SMTP envelope, `message-headers` as a
/// JSON list of `[name, value]` in order, `body-plain`, `body-html`,
/// `stripped-text`, `attachment-count` and `attachment-1`… files,
/// `content-id-map`) or, for a URL ending in `mime`, raw (`body-mime`).
/// Signed as the event webhooks: `signature` is HMAC-SHA256 of `timestamp`
/// and `token` with the signing key, in the form. Mailgun stops retrying on
/// 406 and retries anything else but 200 for 8 hours. A `store(notify=…)`
/// action's notification carries the same fields and the stored message's
/// `message-url`: the message is then fetched from it (your
/// [`ContentSource`](crate::inbound::ContentSource), with your API key and
/// `Accept: message/rfc2822` for the MIME: Mailgun answers it with JSON
/// whose `body-mime` holds the message, which is read; a source that gives
/// the raw MIME itself is read as well), only from Mailgun's storage API,
/// and keyed by its storage key.
/// Source: <https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http>,
/// <https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/storing-and-recieveing-messages>.
///
/// # Errors
///
/// [`ParseError`] when the body is not such a form or is over a limit.
pub fn parse_inbound(
    content_type: &str,
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    let fields = crate::inbound::form_fields(content_type, body, limits)?;
    inbound_from_fields(&fields, limits)
}

fn inbound_from_fields(
    fields: &[crate::inbound::FormPart],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{FormPart, InboundMessage};
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name && f.filename.is_none())
    };
    let text = |name: &str| field(name).map(FormPart::text).filter(|t| !t.is_empty());
    let mut message = if let Some(raw) = field("body-mime") {
        InboundMessage::from_mime(Provider::Mailgun, &raw.content, limits)?
    } else {
        if field("recipient").is_none()
            && field("message-headers").is_none()
            && field("body-plain").is_none()
        {
            return Err(ParseError::new("the form is not a Mailgun route's message"));
        }
        let mut message = InboundMessage::new(Provider::Mailgun);
        // `message-headers`: [["Received", "…"], ["From", "…"], …], in order.
        let headers: Vec<(String, String)> = field("message-headers")
            .and_then(|f| {
                serde_json::from_slice::<crate::inbound::Capped<(String, String)>>(&f.content).ok()
            })
            .map(|capped| capped.0)
            .unwrap_or_default();
        limits.check_headers(headers.len())?;
        let headers = crate::inbound::JsonHeaders(headers);
        message.fill_headers(&headers.block(), limits)?;
        // The list as Mailgun gave it, unfolded as it sent it.
        message.headers = headers.0;
        message.text = text("body-plain");
        message.html = text("body-html");
        message.stripped_text = text("stripped-text");
        if message.subject.is_none() {
            message.subject = text("subject");
        }
        // `content-id-map`: {"<cid>": "attachment-1"}.
        let content_ids: serde_json::Map<String, Value> = field("content-id-map")
            .filter(|f| crate::inbound::check_json_values(&f.content).is_ok())
            .and_then(|f| serde_json::from_slice(&f.content).ok())
            .unwrap_or_default();
        // Inverted once: field name → content id.
        let by_field: std::collections::HashMap<&str, &str> = content_ids
            .iter()
            .filter_map(|(cid, name)| Some((name.as_str()?, cid.as_str())))
            .collect();
        for file in fields.iter().filter(|f| f.filename.is_some()) {
            let content_id = by_field
                .get(file.name.as_str())
                .map(|cid| cid.trim_matches(['<', '>']).to_owned());
            message.attachments.push(file.attachment(content_id));
        }
        message
    };
    // A stored message's notification (`store(notify=…)`): the message is
    // fetched from Mailgun's storage, and keyed by its storage key.
    if field("body-mime").is_none() {
        if let Some(url) = text("message-url") {
            let key = stored_message_key(&url)?.to_owned();
            message.needs(
                crate::inbound::ContentRef {
                    provider: Provider::Mailgun,
                    url,
                    kind: crate::inbound::ContentKind::Message,
                    max_bytes: limits.max_body_bytes,
                },
                read_stored_message,
            );
            message.event_id = Some(key);
        }
    }
    // The signature covers the timestamp and this token, not the message:
    // they are what a replay reuses. Unverified here: the verified reading
    // (`verify_and_parse_inbound_at`) sets it from the fields it checked.
    message.replay_token = text("token").map(|token| {
        let timestamp = text("timestamp").unwrap_or_default();
        format!("mailgun-token:{timestamp}{token}")
    });
    message.envelope_sender = text("sender").or(message.envelope_sender);
    if let Some(recipient) = text("recipient") {
        message.set_envelope_recipients([recipient]);
    }
    // Mailgun's spam filter: X-Mailgun-Sflag (Yes/No), X-Mailgun-Sscore.
    if let Some(flag) = message.header("X-Mailgun-Sflag") {
        message.spam_detected = Some(flag.trim().eq_ignore_ascii_case("yes"));
    }
    if let Some(score) = message
        .header("X-Mailgun-Sscore")
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        message.spam_score = Some(score).filter(|s| s.is_finite());
    }
    Ok(message)
}

/// Reads a stored message fetched from Mailgun's Messages API. Asked for
/// `message/rfc2822`, the API answers JSON whose `body-mime` is the whole
/// message (Mailgun's own retrieval example reads `r.json()["body-mime"]`,
/// <https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/view-stored-messages>);
/// content that is not a JSON object is taken as the MIME itself.
fn read_stored_message(
    message: &mut crate::InboundMessage,
    content: &crate::inbound::ContentRef,
    bytes: Vec<u8>,
    limits: &crate::InboundLimits,
) -> Result<(), ParseError> {
    #[derive(Deserialize)]
    struct Stored {
        #[serde(rename = "body-mime")]
        body_mime: String,
    }
    let mime = if bytes.trim_ascii_start().starts_with(b"{") {
        serde_json::from_slice::<Stored>(&bytes)
            .map_err(|_| ParseError::new("the stored message is JSON without its `body-mime`"))?
            .body_mime
            .into_bytes()
    } else {
        bytes
    };
    crate::inbound::fetch::read_raw_message(message, content, mime, limits)
}

/// The storage key of a stored message's `message-url`, which must be
/// Mailgun's storage API over HTTPS (`https://…api.mailgun.net/…` or the
/// EU's `…api.eu.mailgun.net`): the form's fields are not signed (only the
/// token is), and your API key goes with the fetch.
fn stored_message_key(url: &str) -> Result<&str, ParseError> {
    let not = || ParseError::new("message-url is not a stored message on Mailgun's storage API");
    let rest = url.strip_prefix("https://").ok_or_else(not)?;
    let (host, path) = rest.split_once('/').ok_or_else(not)?;
    // A host name and nothing else: `#`, `?`, `\`, `@`, `:` or `%` before
    // the first `/` would make a URL parser see another host than the one
    // matched here (`https://evil.example#.api.mailgun.net/…`).
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
    {
        return Err(not());
    }
    let mailgun = ["api.mailgun.net", "api.eu.mailgun.net"]
        .iter()
        .any(|base| {
            host == *base
                || host
                    .strip_suffix(base)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        });
    let key = path.rsplit('/').next().unwrap_or_default();
    let fits = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'/' | b'.'))
    };
    if !mailgun || key.is_empty() || !fits(path) || path.contains("..") || !fits(key) {
        return Err(not());
    }
    Ok(key)
}

impl MailgunVerifier {
    /// Checks a route's signature (the form's `timestamp`, `token` and
    /// `signature`), then parses the message within `limits`. The verifier's
    /// replay window applies.
    ///
    /// **Claim [`replay_token`](crate::InboundMessage::replay_token)** with
    /// a digest of the body before handling the message, and refuse a
    /// delivery whose token was claimed with another body: Mailgun signs
    /// the token, not the message, so whoever captures one signed post can
    /// send other content with its three signature fields within the
    /// window. The same body again is Mailgun's retry
    /// ([`InboundProviders`](crate::inbound::InboundProviders) does this).
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] (unsigned, forged, stale) or [`Error::Parse`].
    pub fn verify_and_parse_inbound_at(
        &self,
        content_type: &str,
        body: &[u8],
        limits: &crate::InboundLimits,
        now: OffsetDateTime,
    ) -> Result<crate::InboundMessage, Error> {
        // Not yet authenticated: the three signature fields are found by a
        // scan that keeps little else, and checked before the form is
        // parsed (an unsigned post costs little more than its bytes). A body
        // that is no form is refused as unauthenticated (400, and charged
        // to a rate limit), never answered as Mailgun's own unparseable
        // delivery (406).
        let names = SIGNED;
        let max = self.policy.limits.max_header_bytes;
        let scanned = crate::inbound::scan_form_fields(content_type, body, names, max, limits)
            .map_err(|_| VerifyError::InvalidPayload {
                detail: "the body is not a form with Mailgun's signature fields",
            })?;
        let [Some(timestamp), Some(token), Some(signature)] = scanned.clone() else {
            return Err(VerifyError::InvalidSignature.into());
        };
        let signed = SignatureFields {
            timestamp,
            token,
            signature,
        };
        self.check(&signed, now)?;
        let fields = crate::inbound::form_fields(content_type, body, limits)?;
        // The parsed form must hold the very fields the scan checked: a
        // form the two readings see differently is refused.
        let parsed = names.map(|name| {
            fields
                .iter()
                .find(|f| f.name == name && f.filename.is_none())
                .map(crate::inbound::FormPart::text)
        });
        if parsed != scanned {
            return Err(VerifyError::InvalidSignature.into());
        }
        let mut message = inbound_from_fields(&fields, limits)?;
        // The value the signature covers, from the fields just checked.
        message.replay_token = Some(format!("mailgun-token:{}", single_use(&signed)));
        Ok(message)
    }
}

/// Mailgun's inbound routes in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "the form's `signature`: HMAC-SHA256 of `timestamp` + `token` with the signing key, as the event webhooks",
    shape: "a form (URL-encoded, or multipart with attachments): parsed fields, or the raw message in `body-mime`",
    parse: |request, limits| crate::inbound::typed_by_content_type(request, limits, parse_inbound),
    build: |settings| {
        let verifier = settings.configure(verifier(settings)?);
        Ok(crate::provider::InboundVerify::new(
            move |request, limits| {
                let content_type = crate::inbound::request_content_type(request);
                let message = verifier.verify_and_parse_inbound_at(
                    &content_type,
                    request.body(),
                    limits,
                    request.now(),
                )?;
                Ok(vec![message])
            },
        ))
    },
    simulate: simulate_inbound,
    reply,
    control: None,
    by_event_verifier: false,
};

/// A Mailgun route's parsed message, signed with the first secret;
/// tampered: the signed token altered.
fn simulate_inbound(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated};
    use sha2::Digest as _;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let verifier = MailgunVerifier::new(Secret::from_bytes(secret.as_bytes())?);
    let token = crate::encoding::hex(&sha2::Sha256::digest(sim.attempt.as_bytes())[..25]);
    let signed = verifier.sign(sim.now, &token, &Value::Null)?;
    let signature = signed["signature"]["signature"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let boundary = format!(
        "mg{}",
        crate::encoding::hex(&sha2::Sha256::digest(sim.event_id.as_bytes())[..8])
    );
    let headers = serde_json::json!([
        ["Received", "from mail.example.net by mxa.mailgun.org"],
        ["Message-Id", format!("<{}@example.net>", sim.event_id)],
        ["From", "A Customer <customer@example.net>"],
        ["To", sim.recipient],
        ["Subject", "Re: your order"],
        ["Date", "Sun, 6 Dec 2026 10:00:00 +0000"],
        ["X-Mailgun-Sflag", "No"],
        ["X-Mailgun-Sscore", "0.1"],
    ])
    .to_string();
    let token_field = if sim.tamper {
        format!("{token}x")
    } else {
        token
    };
    let now = sim.now.to_string();
    let token_field = token_field.as_str();
    let form = crate::inbound::multipart_form(
        &boundary,
        &[
            ("timestamp", now.as_str()),
            ("token", token_field),
            ("signature", signature.as_str()),
            ("recipient", sim.recipient),
            ("sender", "customer@example.net"),
            ("from", "A Customer <customer@example.net>"),
            ("subject", "Re: your order"),
            ("message-headers", headers.as_str()),
            ("body-plain", "Thanks!\n\n> your order shipped"),
            ("body-html", "<p>Thanks!</p>"),
            ("stripped-text", "Thanks!"),
            ("attachment-count", "1"),
        ],
        &[("attachment-1", "receipt.txt", "text/plain", b"order 42")],
    );
    if sim.body.is_some() {
        // The signature is inside the form: a saved route post is sent as
        // it was captured, with its own fields, or not at all.
        return Err(VerifyError::InvalidPayload {
            detail: "a saved Mailgun route post carries its own signature fields: it is not signed again",
        }
        .into());
    }
    let body = form;
    Ok(Simulated {
        headers: vec![(
            "Content-Type".to_owned(),
            format!("multipart/form-data; boundary={boundary}"),
        )],
        body,
        query: None,
    })
}

/// Mailgun's answers, for events and routes alike (see the events' `reply`).
fn reply(answer: crate::provider::Answer) -> crate::provider::Reply {
    match answer {
        crate::provider::Answer::Refused {
            authenticated: true,
            ..
        } => crate::provider::Reply::status(http::StatusCode::NOT_ACCEPTABLE),
        other => crate::provider::Reply::standard(other),
    }
}
