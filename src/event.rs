//! The normalized email event model: one [`EmailEvent`] per provider event,
//! whatever the provider.
//!
//! Field meanings follow the model django-anymail has settled across many
//! providers, so users moving from it feel at home. Each event keeps the
//! provider's original JSON in [`EmailEvent::raw`], so nothing is lost.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::encoding;

pub use crate::provider::Provider;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// Accepted by the provider, not yet sent.
    Queued,
    /// Sent by the provider.
    Sent,
    /// Refused by the provider before sending (suppression, invalid address).
    Rejected,
    /// The provider could not send it (rendering, API errors).
    Failed,
    /// The receiving server refused it permanently.
    Bounced,
    /// The receiving server refused it for now; the provider retries.
    Deferred,
    /// Accepted by the receiving server.
    Delivered,
    /// An automatic reply (out of office, address change).
    Autoresponded,
    /// The recipient opened it (tracking pixel).
    Opened,
    /// The recipient clicked a tracked link.
    Clicked,
    /// The recipient reported it as spam.
    Complained,
    /// The recipient unsubscribed.
    Unsubscribed,
    /// The recipient subscribed again.
    Subscribed,
    /// An inbound message.
    Inbound,
    /// An inbound message the provider could not process.
    InboundFailed,
    /// An event this crate does not know; see [`EmailEvent::raw`].
    Unknown,
}

/// Every kind.
const ALL_KINDS: [EventKind; 16] = [
    EventKind::Queued,
    EventKind::Sent,
    EventKind::Rejected,
    EventKind::Failed,
    EventKind::Bounced,
    EventKind::Deferred,
    EventKind::Delivered,
    EventKind::Autoresponded,
    EventKind::Opened,
    EventKind::Clicked,
    EventKind::Complained,
    EventKind::Unsubscribed,
    EventKind::Subscribed,
    EventKind::Inbound,
    EventKind::InboundFailed,
    EventKind::Unknown,
];

impl EventKind {
    /// Every kind, in the order of the model's documentation.
    pub const ALL: &'static [EventKind] = &ALL_KINDS;

    /// The kind's name as the JSON spells it (`snake_case`: `delivered`,
    /// `inbound_failed`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Bounced => "bounced",
            Self::Deferred => "deferred",
            Self::Delivered => "delivered",
            Self::Autoresponded => "autoresponded",
            Self::Opened => "opened",
            Self::Clicked => "clicked",
            Self::Complained => "complained",
            Self::Unsubscribed => "unsubscribed",
            Self::Subscribed => "subscribed",
            Self::Inbound => "inbound",
            Self::InboundFailed => "inbound_failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = crate::ParseError;

    /// Reads a kind's JSON name ([`EventKind::as_str`]).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ALL_KINDS
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .ok_or(crate::ParseError::new("not an event kind"))
    }
}
/// Why a message was rejected, bounced or complained about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The address is invalid.
    Invalid,
    /// The address bounced (now, or before and is suppressed).
    Bounced,
    /// Delivery attempts expired.
    TimedOut,
    /// Blocked by the provider or the receiving server (policy, reputation).
    Blocked,
    /// Spam: a complaint, or a spam-report suppression.
    Spam,
    /// The recipient unsubscribed (now, or before and is suppressed).
    Unsubscribed,
    /// Any other reason; see [`EmailEvent::description`].
    Other,
}

/// A provider's original JSON for one event: a [`RawValue`] (read it with
/// [`RawValue::get`] through `Deref`), owned by its event, or shared by the
/// events one provider event fans out to, so that fanning out never copies
/// it. Serializes as the JSON itself.
#[derive(Clone)]
pub struct RawJson(RawRepr);

#[derive(Clone)]
enum RawRepr {
    Owned(Box<RawValue>),
    Shared(Arc<RawValue>),
}

impl std::ops::Deref for RawJson {
    type Target = RawValue;

    fn deref(&self) -> &RawValue {
        match &self.0 {
            RawRepr::Owned(raw) => raw,
            RawRepr::Shared(raw) => raw,
        }
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        Self(RawRepr::Owned(raw))
    }
}

impl From<Arc<RawValue>> for RawJson {
    fn from(raw: Arc<RawValue>) -> Self {
        Self(RawRepr::Shared(raw))
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

/// One email event, normalized across providers.
///
/// Built by the provider modules; read its fields. Serializes to the JSON the
/// CLI prints (`kind` as `event_type`, `timestamp` as RFC 3339 UTC).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EmailEvent {
    /// Which provider sent it.
    pub provider: Provider,
    /// What happened.
    #[serde(rename = "event_type")]
    pub kind: EventKind,
    /// When the provider says it happened, UTC.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: Option<OffsetDateTime>,
    /// The provider's unique id for this event, where it has one.
    pub event_id: Option<String>,
    /// The provider's id for the message.
    pub message_id: Option<String>,
    /// The recipient's bare address.
    pub recipient: Option<String>,
    /// Why it was rejected, bounced or complained about.
    pub reject_reason: Option<RejectReason>,
    /// A bounce that says nothing against the address: one the provider
    /// classifies as temporary or undetermined (a full mailbox, a server
    /// refusing for now), a block of the sender or its content, or a
    /// message that ran out of retries. [`suppression`](Self::suppression)
    /// counts it as a soft bounce instead of stopping. Only set on
    /// [`EventKind::Bounced`]; serialized only when `true`.
    #[serde(skip_serializing_if = "is_false")]
    pub soft_bounce: bool,
    /// A human-readable reason from the provider.
    pub description: Option<String>,
    /// The raw response of the receiving mail server.
    pub mta_response: Option<String>,
    /// The clicked URL, for clicks.
    pub click_url: Option<String>,
    /// The user agent, for opens and clicks.
    pub user_agent: Option<String>,
    /// Provider tags or categories.
    pub tags: Vec<String>,
    /// Custom data the sender attached to the message.
    pub metadata: Map<String, Value>,
    /// The provider's original event JSON, byte for byte as received (without
    /// surrounding whitespace). Events fanned out from one provider event
    /// (SES recipients) share one copy.
    pub raw: RawJson,
    /// For events without a provider id whose identifying fields are not
    /// enough (Mailgun's legacy forms): a digest of every field that stays
    /// the same across redeliveries, used by the idempotency key.
    #[serde(skip)]
    fingerprint: Option<String>,
}

// `skip_serializing_if` hands the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

// `serialize_with` hands the field as `&Option<_>`.
#[allow(clippy::ref_option)]
fn rfc3339<S: serde::Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    use time::format_description::well_known::Rfc3339;
    // Never panics: an instant that cannot be written in UTC (only
    // reachable by setting the field by hand; parsers keep years 0-9999 in
    // UTC) is an error of the serializer.
    match t {
        Some(t) => {
            let text = t
                .checked_to_offset(time::UtcOffset::UTC)
                .ok_or_else(|| serde::ser::Error::custom("timestamp out of range in UTC"))?
                .format(&Rfc3339)
                .map_err(serde::ser::Error::custom)?;
            s.serialize_str(&text)
        }
        None => s.serialize_none(),
    }
}

impl EmailEvent {
    /// An event with only the provider, kind and raw JSON (the provider's
    /// original event, as received) set; a provider's normalization fills
    /// in the rest.
    #[must_use]
    pub fn new(provider: Provider, kind: EventKind, raw: impl Into<RawJson>) -> Self {
        Self {
            provider,
            kind,
            timestamp: None,
            event_id: None,
            message_id: None,
            recipient: None,
            reject_reason: None,
            soft_bounce: false,
            description: None,
            mta_response: None,
            click_url: None,
            user_agent: None,
            tags: Vec::new(),
            metadata: Map::new(),
            raw: raw.into(),
            fingerprint: None,
        }
    }

    /// The digest the idempotency key uses, where the provider's module made
    /// one, as stored (the queue keeps it with the event).
    pub(crate) fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// Puts back a digest [`fingerprint`](Self::fingerprint) gave.
    pub(crate) fn restore_fingerprint(&mut self, fingerprint: String) {
        self.fingerprint = Some(fingerprint);
    }

    /// Sets the digest the idempotency key uses, before any event id (see
    /// [`EmailEvent::idempotency_key`]): for an event without an id, or
    /// whose id changes between redeliveries.
    pub(crate) fn set_fingerprint(&mut self, digest: &[u8]) {
        self.fingerprint = Some(encoding::hex(&digest[..16.min(digest.len())]));
    }

    /// Keys the event by `id` rather than by a digest made of it before.
    pub(crate) fn key_by_id(&mut self, id: String) {
        self.event_id = Some(id);
        self.fingerprint = None;
    }

    /// A stable key for processing this event once.
    ///
    /// - With a provider event id that stays the same across redeliveries:
    ///   `provider:event_id`, plus `:recipient` for providers whose one
    ///   event fans out to several recipients (SES).
    /// - Without one (or where the id changes between duplicates, as
    ///   SendGrid's `sg_event_id` does): `provider:sha256:` and a digest
    ///   that stays the same
    ///   when the provider redelivers the event, and differs between
    ///   distinct events: of the provider's own JSON for the event where
    ///   the provider resends it unchanged (SendGrid batch elements); of
    ///   every field except the per-attempt ones where the provider's
    ///   timestamp changes with each attempt (Mailgun's legacy forms, whose
    ///   `timestamp` is the signature's: two legacy events identical in
    ///   every other field, such as two opens from the same client, share a
    ///   key); else of the fields that identify the event (message id,
    ///   recipient, kind, timestamp, and the link, client, answer and
    ///   description where it has them).
    #[must_use]
    pub fn idempotency_key(&self) -> String {
        // A digest the provider's module made wins: it makes one where the
        // event has no id, or an id that is not stable (SendGrid's).
        if let Some(fingerprint) = &self.fingerprint {
            return format!("{}:sha256:{fingerprint}", self.provider);
        }
        if let Some(id) = &self.event_id {
            return match (self.provider, &self.recipient) {
                (Provider::Ses, Some(recipient)) => format!("{}:{id}:{recipient}", self.provider),
                _ => format!("{}:{id}", self.provider),
            };
        }
        let timestamp = self.timestamp.map(|t| t.unix_timestamp_nanos().to_string());
        let kind = serde_json::to_value(self.kind).ok();
        let digest = fingerprint(
            [
                self.message_id.as_deref(),
                self.recipient.as_deref(),
                kind.as_ref().and_then(Value::as_str),
                timestamp.as_deref(),
            ]
            .into_iter()
            // What tells apart two events of one kind for one message in
            // one second (two links clicked, two clients, two answers),
            // each named and digested only where present.
            .chain(
                [
                    ("click_url", self.click_url.as_deref()),
                    ("user_agent", self.user_agent.as_deref()),
                    ("mta_response", self.mta_response.as_deref()),
                    ("description", self.description.as_deref()),
                ]
                .into_iter()
                .filter_map(|(name, value)| value.map(|v| [Some(name), Some(v)]))
                .flatten(),
            ),
        );
        format!("{}:sha256:{}", self.provider, encoding::hex(&digest[..16]))
    }
}

/// A digest of `fields` for a derived idempotency key: each field
/// length-prefixed, so that ("ab", "c") and ("a", "bc") differ, and an
/// absent field differs from an empty one. Providers without an event id
/// pass every field that can tell two events apart and none that changes
/// between redeliveries of one.
pub(crate) fn fingerprint<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> [u8; 32] {
    let mut hash = Sha256::new();
    for field in fields {
        match field {
            Some(v) => {
                hash.update([1]);
                hash.update((v.len() as u64).to_be_bytes());
                hash.update(v.as_bytes());
            }
            None => hash.update([0]),
        }
    }
    hash.finalize().into()
}

/// The bare address of the first mailbox in an address header or list:
/// `"Jane Doe" <jane@example.com>, bob@example.com` gives
/// `jane@example.com`. `None` when there is no address.
pub(crate) fn bare_address(text: &str) -> Option<String> {
    // The first mailbox ends at a comma outside quotes and angle brackets.
    let (mut quoted, mut angled, mut end) = (false, false, text.len());
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' if !quoted && !angled => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let mailbox = &text[..end];
    let address = match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
        _ => mailbox,
    };
    let address = address.trim();
    (!address.is_empty()).then(|| address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> EmailEvent {
        let raw = RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!());
        let mut e = EmailEvent::new(Provider::Postmark, kind, raw);
        e.message_id = Some("m1".into());
        e.recipient = Some("a@example.com".into());
        e.timestamp = OffsetDateTime::from_unix_timestamp(1_700_000_000).ok();
        e
    }

    #[test]
    fn provider_event_id_is_the_key() {
        let mut e = event(EventKind::Bounced);
        e.event_id = Some("42".into());
        assert_eq!(e.idempotency_key(), "postmark:42");
        e.provider = Provider::Ses;
        assert_eq!(e.idempotency_key(), "ses:42:a@example.com");
    }

    #[test]
    fn digest_key_is_stable_and_distinguishes_events() {
        let a = event(EventKind::Opened);
        assert_eq!(
            a.idempotency_key(),
            event(EventKind::Opened).idempotency_key()
        );
        assert!(a.idempotency_key().starts_with("postmark:sha256:"));
        assert_ne!(
            a.idempotency_key(),
            event(EventKind::Clicked).idempotency_key()
        );
        let mut later = event(EventKind::Opened);
        later.timestamp = OffsetDateTime::from_unix_timestamp(1_700_000_001).ok();
        assert_ne!(a.idempotency_key(), later.idempotency_key());
        let mut other = event(EventKind::Opened);
        other.recipient = Some("b@example.com".into());
        assert_ne!(a.idempotency_key(), other.idempotency_key());
    }

    #[test]
    fn digest_fields_are_length_prefixed() {
        let mut a = event(EventKind::Opened);
        a.message_id = Some("ab".into());
        a.recipient = Some("c".into());
        let mut b = event(EventKind::Opened);
        b.message_id = Some("a".into());
        b.recipient = Some("bc".into());
        assert_ne!(a.idempotency_key(), b.idempotency_key());
    }

    #[test]
    fn event_kind_display_is_its_json_name() {
        for kind in [
            EventKind::Delivered,
            EventKind::InboundFailed,
            EventKind::Unknown,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap_or_default(),
                kind.to_string()
            );
        }
    }

    #[test]
    fn serializes_with_the_documented_field_names() {
        let mut e = event(EventKind::Bounced);
        e.reject_reason = Some(RejectReason::TimedOut);
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(json["event_type"], "bounced");
        assert_eq!(json["reject_reason"], "timed_out");
        assert_eq!(json["provider"], "postmark");
        assert_eq!(json["timestamp"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn bare_address_drops_display_names() {
        for (text, bare) in [
            ("jane@example.com", Some("jane@example.com")),
            ("Jane Doe <jane@example.com>", Some("jane@example.com")),
            (
                r#""Doe, Jane" <jane@example.com>, bob@example.com"#,
                Some("jane@example.com"),
            ),
            (" <jane@example.com> ", Some("jane@example.com")),
            ("a@x.y, b@x.y", Some("a@x.y")),
            ("", None),
            ("  ", None),
        ] {
            assert_eq!(bare_address(text).as_deref(), bare, "{text}");
        }
    }
}
