//! Brevo (formerly Sendinblue) transactional webhooks: no signature.
//!
//! - Authenticated by: [`Credentials`](crate::scheme::credentials::Credentials): the basic-auth credentials in the
//!   webhook URL (`https://user:pass@host/path`), or the bearer token set
//!   on the webhook (`auth: {type: bearer, token}`). Brevo sends from
//!   published ranges: [`published_sources`] for the source allowlist.
//! - Signed: nothing; no time is signed, so there is no replay window.
//! - Body: one JSON object per event, or, for a webhook created with
//!   `batched: true`, a JSON array of the events of a 5-minute window (500
//!   by default); both are read, bounded by
//!   [`Limits::max_events_per_delivery`].
//! - Events: the payload's names differ from the configuration's
//!   (`hardBounce` is configured, `hard_bounce` arrives). `request` →
//!   [`EventKind::Queued`], `delivered`, `hard_bounce` and `soft_bounce`
//!   (or Sendinblue's marketing spellings `hard_bounced`, `soft_bounced`) →
//!   [`EventKind::Bounced`] (the soft one marked soft), `invalid_email` →
//!   [`EventKind::Bounced`] (invalid), `blocked` → [`EventKind::Rejected`],
//!   `spam` and `complaint` → [`EventKind::Complained`], `deferred`,
//!   `opened`, `unique_opened`, `proxy_open`, `unique_proxy_open` (or
//!   `unique_proxy_opened`, as Brevo's documentation also spells it) →
//!   [`EventKind::Opened`] (Brevo reports a first open under both
//!   `opened` and `unique_opened` where both are subscribed: two events),
//!   `click`, `unsubscribed` (or `unsubscribe`), `error` →
//!   [`EventKind::Failed`], `list_addition` → [`EventKind::Subscribed`];
//!   anything else is [`EventKind::Unknown`] with its JSON kept.
//! - Fields: the recipient `email`, the message `message-id`, the time
//!   `ts_epoch` (milliseconds, UTC: the reliable one; else `ts_event`, UTC
//!   seconds; `ts` and `date` follow the account's zone, an hour past UTC
//!   in Brevo's own example, and are never read as the time, so an event
//!   with neither UTC field has none), `reason` (the receiving server's
//!   answer), `link` (the click; marketing clicks name it `URL`; empty on
//!   opens, then none), `user_agent`, `tags` or `tag`, and
//!   `X-Mailin-custom` (the sender's header: a JSON object becomes the
//!   metadata).
//! - Event id: none (`id` is the webhook's). The idempotency key digests
//!   every field that can tell two events apart (event, recipient,
//!   message, the times, link or `URL`, user agent, reason, tags, the
//!   sender's data, a marketing event's lists and campaign) and none
//!   that changes between redeliveries: Brevo resends the same event.
//! - Retries: 4 more times, after 10 minutes, 1, 2 and 8 hours. Brevo's
//!   retry page says a 4xx other than 429 ends the retries, and (in its
//!   current wording) so does any 5xx; only 429 and timeouts are retried
//!   under every reading. So a transient failure (store, queue, handler)
//!   is answered **429** with `Retry-After`, not 5xx, and only a refusal
//!   is a 4xx that ends them.
//! - Setup: no handshake; the webhook posts once created.
//!
//! **Inbound parsing** ([`parse_inbound`]): Brevo posts the messages it
//! received for your inbound domain as `{"items":[…]}`, one or more per
//! request, each with its fields parsed (`From`, `To`, `Cc`, `ReplyTo`,
//! `Subject`, `SentAtDate`, `MessageId`, `Headers`, `RawTextBody`,
//! `RawHtmlBody`, `ExtractedMarkdownMessage` for the reply alone,
//! `SpamScore`) and its attachments listed with a `DownloadToken`: their
//! bytes are fetched from
//! `https://api.brevo.com/v3/inbound/attachments/{token}` (with your API
//! key, by your [`ContentSource`](crate::inbound::ContentSource)), so a
//! message with attachments needs one configured (else 503-class: 429
//! here, which Brevo retries). Authenticated as the webhooks (basic auth
//! or a bearer token). The id is `Uuid`'s first element. No envelope is
//! sent. Sources: Brevo developers, "Inbound parsing webhooks"
//! <https://developers.brevo.com/docs/inbound-parse-webhooks>, "Get an
//! inbound email attachment"
//! <https://developers.brevo.com/reference/getinboundemailattachment>; the
//! item fields as django-anymail documents a captured delivery.
//!
//! Sources: Brevo developers, "Transactional webhooks"
//! <https://developers.brevo.com/docs/transactional-webhooks>, "Marketing
//! webhooks" <https://developers.brevo.com/docs/marketing-webhooks> (its
//! time fields' zones), "Secured
//! webhooks" <https://developers.brevo.com/docs/secured-webhooks>, "Batch
//! webhooks" <https://developers.brevo.com/docs/batch-webhooks>, "Retry
//! mechanism" <https://developers.brevo.com/docs/retry-mechanism>; Brevo
//! help, "Brevo IP ranges"
//! <https://help.brevo.com/hc/en-us/articles/15127404548498>; the official
//! `brevo-node` SDK for the configuration's event names.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::allowlist::SourceAllowlist;
use crate::error::ParseError;
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    Answer, ProviderInfo, Received, Reply, SetupError, Simulated, Simulation, timestamp,
};
use crate::request::Request;

/// The ranges Brevo sends webhooks from, read 2026-12-03 from "Brevo IP
/// ranges" (<https://help.brevo.com/hc/en-us/articles/15127404548498>),
/// linked from Brevo's webhook security docs. They have changed before
/// (185.107.232.0/24 earlier): check the source when you deploy.
#[must_use]
pub fn published_sources() -> SourceAllowlist {
    crate::allowlist::published::list(&["1.179.112.0/20", "172.246.240.0/20"])
}

/// How long Brevo is asked to wait before its retry of a transient
/// failure (its own schedule decides; the first retry is 10 minutes on).
const RETRY_AFTER_SECONDS: u64 = 600;

crate::scheme::credentials::credentials_verifier!(
    /// Checks Brevo's credentials and parses its events.
    BrevoVerifier
);

impl SyncProvider for BrevoVerifier {
    const ID: Provider = Provider::Brevo;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }

    /// A transient failure is 429: the one status Brevo retries under
    /// every reading of its retry rules.
    fn reply(&self, answer: Answer) -> Reply {
        reply(answer)
    }
}

sync_provider!(BrevoVerifier);

/// One Brevo transactional event. Field names follow Brevo's (with their
/// hyphens).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BrevoEvent {
    /// `request`, `delivered`, `hard_bounce`, `click`, …
    pub event: String,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The webhook's id (not the event's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The message id.
    #[serde(
        rename = "message-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// When it happened, milliseconds since the epoch, UTC.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts_epoch: Option<i64>,
    /// When it happened, seconds since the epoch, UTC.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts_event: Option<i64>,
    /// Seconds since the epoch.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts: Option<i64>,
    /// Local date and time (not read: no zone is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A tag, or several as a JSON list (read as its JSON text where it
    /// comes as a list, as in Brevo's proxy-open deliveries).
    #[serde(
        default,
        deserialize_with = "crate::provider::text_or_json",
        skip_serializing_if = "Option::is_none"
    )]
    pub tag: Option<String>,
    /// Tags.
    #[serde(
        default,
        deserialize_with = "crate::provider::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// The sender's `X-Mailin-custom` header.
    #[serde(
        rename = "X-Mailin-custom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub custom: Option<String>,
    /// The sending server's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_ip: Option<String>,
    /// The template used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Value>,
    /// Bounces, deferrals, blocks: the reason (the receiving server's
    /// answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Clicks: the link (opens carry it empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Marketing clicks: the link (`URL`: marketing webhooks name it so).
    #[serde(
        rename = "URL",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// Opens, clicks, unsubscribes: the recipient's user agent
    /// (`user_agent`, or `user-agent` as some deliveries spell it).
    #[serde(
        alias = "user-agent",
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_agent: Option<String>,
    /// The contact's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Value>,
    /// Marketing list events (`list_addition`): the lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<Value>,
    /// Marketing events: the campaign's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camp_id: Option<Value>,
}

/// Parses a Brevo body (one event object, or an array of them) without
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
    batch::all(Provider::Brevo, body, Shape::ObjectOrArray, max, normalize)
}

fn normalize(native: BrevoEvent, raw: &RawValue) -> EmailEvent {
    let (kind, reason) = match native.event.as_str() {
        "request" | "sent" => (EventKind::Queued, None),
        "delivered" => (EventKind::Delivered, None),
        "hard_bounce" | "soft_bounce" | "hard_bounced" | "soft_bounced" => {
            (EventKind::Bounced, Some(RejectReason::Bounced))
        }
        "invalid_email" | "invalid" => (EventKind::Bounced, Some(RejectReason::Invalid)),
        "blocked" => (EventKind::Rejected, Some(RejectReason::Blocked)),
        "spam" | "complaint" => (EventKind::Complained, Some(RejectReason::Spam)),
        "deferred" => (EventKind::Deferred, None),
        "opened" | "unique_opened" | "proxy_open" | "unique_proxy_open" | "unique_proxy_opened" => {
            (EventKind::Opened, None)
        }
        "click" => (EventKind::Clicked, None),
        "unsubscribed" | "unsubscribe" => {
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed))
        }
        "error" => (EventKind::Failed, None),
        "list_addition" => (EventKind::Subscribed, None),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Brevo, kind, raw.to_owned());
    event.set_fingerprint(&fingerprint(&native));
    event.soft_bounce = matches!(native.event.as_str(), "soft_bounce" | "soft_bounced");
    event.reject_reason = reason;
    // `ts` is not read: Brevo's own example has it an hour past
    // `ts_event` (it follows the account's zone), so an event with neither
    // UTC time has none rather than a wrong one.
    // `ts_epoch` is in milliseconds, but Brevo's own transactional example
    // gives it in seconds (equal to `ts_event`): a value below 10^11 (the
    // year 5138 in seconds, 1973 in milliseconds) is seconds.
    event.timestamp = native
        .ts_epoch
        .and_then(|t| {
            if t.unsigned_abs() < 100_000_000_000 {
                timestamp::from_unix(t)
            } else {
                timestamp::from_unix_millis(t)
            }
        })
        .or_else(|| timestamp::from_unix(native.ts_event?));
    event.recipient = native.email.as_deref().and_then(bare_address);
    event.message_id = native.message_id;
    event.mta_response = native
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    event.click_url = non_empty(native.link).or_else(|| non_empty(native.url));
    event.user_agent = non_empty(native.user_agent);
    // `tags` is a list; `tag` one tag, or a list written as JSON text.
    event.tags = if native.tags.is_empty() {
        match native
            .tag
            .as_deref()
            .map(serde_json::from_str::<Vec<String>>)
        {
            Some(Ok(list)) => list,
            _ => native.tag.into_iter().filter(|t| !t.is_empty()).collect(),
        }
    } else {
        native.tags
    };
    if let Some(custom) = native.custom.filter(|c| !c.is_empty()) {
        event.metadata = match serde_json::from_str::<Value>(&custom) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::from_iter([("X-Mailin-custom".to_owned(), Value::String(custom))]),
        };
    }
    event
}

/// A digest of what tells one Brevo event from another.
fn fingerprint(native: &BrevoEvent) -> [u8; 32] {
    let number = |n: Option<i64>| n.map(|n| n.to_string());
    let (epoch, seconds, ts) = (
        number(native.ts_epoch),
        number(native.ts_event),
        number(native.ts),
    );
    let tags = native.tags.join("\u{0}");
    // Marketing events' list and campaign, digested only where present, so
    // that the keys of transactional events stay as they were.
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    let (lists, campaign) = (json(&native.list_id), json(&native.camp_id));
    let marketing =
        (lists.is_some() || campaign.is_some()).then_some([lists.as_deref(), campaign.as_deref()]);
    // Likewise the marketing click's `URL` and the user agent: each
    // digested, after a marker naming it, only where present.
    let present = [("URL", &native.url), ("user_agent", &native.user_agent)]
        .into_iter()
        .filter_map(|(name, value)| Some([Some(name), Some(value.as_deref()?)]))
        .flatten();
    event::fingerprint(
        [
            Some(native.event.as_str()),
            native.email.as_deref(),
            native.message_id.as_deref(),
            epoch.as_deref(),
            seconds.as_deref(),
            ts.as_deref(),
            native.link.as_deref(),
            native.reason.as_deref(),
            native.tag.as_deref(),
            Some(tags.as_str()),
            native.custom.as_deref(),
        ]
        .into_iter()
        .chain(marketing.into_iter().flatten())
        .chain(present),
    )
}

const NEEDS: &str = "--basic-auth USER:PASS (as in the webhook URL) or --secret BEARER_TOKEN";

/// One Brevo event of `kind` with the configured credentials; tampered:
/// wrong credentials.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, extra) = match sim.kind {
        EventKind::Queued => ("request", serde_json::json!({})),
        EventKind::Delivered => ("delivered", serde_json::json!({})),
        EventKind::Bounced => (
            "hard_bounce",
            serde_json::json!({"reason": "550 5.1.1 user unknown"}),
        ),
        EventKind::Deferred => (
            "deferred",
            serde_json::json!({"reason": "451 4.7.1 try again later"}),
        ),
        EventKind::Rejected => (
            "blocked",
            serde_json::json!({"reason": "blocked: the address is on the blocklist"}),
        ),
        EventKind::Complained => ("spam", serde_json::json!({})),
        EventKind::Opened => ("opened", serde_json::json!({})),
        EventKind::Clicked => ("click", serde_json::json!({"link": "https://example.com/"})),
        EventKind::Unsubscribed => ("unsubscribed", serde_json::json!({})),
        EventKind::Failed => ("error", serde_json::json!({})),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..12]);
    let body = serde_json::json!({"event": event, "email": sim.recipient, "id": 1,
        "message-id": format!("<{digest}@smtp-relay.mailin.fr>"), "ts": sim.now, "ts_event": sim.now,
        "ts_epoch": sim.now.saturating_mul(1000), "subject": "Hello", "tags": ["simulated"],
        "X-Mailin-custom": "{\"order\":\"42\"}", "sending_ip": "198.51.100.10"});
    Ok(crate::provider::with_fields(body, extra)
        .to_string()
        .into_bytes())
}

/// Brevo's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Brevo",
    authenticated_by: "basic auth in the webhook URL, or a bearer token",
    event_id: "none: a digest of every field that tells two events apart",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(BrevoVerifier::new(s.credentials(NEEDS)?))),
    simulate: |sim| sim.with_credentials(sample, NEEDS),
    inbound: Some(&INBOUND),
};

/// Brevo's answers, for webhooks and inbound alike: a transient failure is
/// 429, the one status Brevo retries under every reading of its rules.
fn reply(answer: Answer) -> Reply {
    match answer {
        Answer::RetryLater(_) => Reply {
            retry_after: Some(RETRY_AFTER_SECONDS),
            ..Reply::status(http::StatusCode::TOO_MANY_REQUESTS)
        },
        other => Reply::standard(other),
    }
}

/// An inbound parsing delivery: its items.
#[derive(Debug, Default, Deserialize)]
struct InboundDelivery<'a> {
    /// Each item read on its own, so that one unreadable item does not
    /// lose the others.
    #[serde(borrow)]
    items: Option<crate::inbound::Capped<&'a RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InboundItem {
    uuid: crate::inbound::Capped<String>,
    message_id: Option<String>,
    from: Option<InboundAddress>,
    to: crate::inbound::Capped<InboundAddress>,
    cc: crate::inbound::Capped<InboundAddress>,
    sent_at_date: Option<String>,
    subject: Option<String>,
    headers: crate::inbound::JsonHeaders,
    raw_text_body: Option<String>,
    raw_html_body: Option<String>,
    extracted_markdown_message: Option<String>,
    #[serde(deserialize_with = "number_or_none")]
    spam_score: Option<f64>,
    attachments: crate::inbound::Capped<InboundAttachment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InboundAddress {
    name: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InboundAttachment {
    name: Option<String>,
    content_type: Option<String>,
    #[serde(rename = "ContentID")]
    content_id: Option<String>,
    content_length: Option<u64>,
    download_token: Option<String>,
}

/// A number (or a numeric string); anything else is `None`, skipped
/// without being kept.
fn number_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Number;
    impl<'de> serde::de::Visitor<'de> for Number {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number")
        }
        #[allow(clippy::cast_precision_loss)] // A score.
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        #[allow(clippy::cast_precision_loss)] // A score.
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v).filter(|v| v.is_finite()))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok().filter(|v: &f64| v.is_finite()))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            // The documented `Spam: {Score}` shape.
            let mut score = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "Score" {
                    score = map.next_value_seed(Seed)?;
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(score)
        }
    }
    /// The score inside `{Score}`.
    struct Seed;
    impl<'de> serde::de::DeserializeSeed<'de> for Seed {
        type Value = Option<f64>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
            d.deserialize_any(Number)
        }
    }
    d.deserialize_any(Number)
}

/// Where Brevo serves an inbound attachment.
const ATTACHMENTS_URL: &str = "https://api.brevo.com/v3/inbound/attachments/";

/// Parses an inbound parsing delivery without checking credentials, within
/// `limits`: one message per item, their attachments listed with the
/// content still to fetch ([`InboundMessage::pending`](crate::InboundMessage::pending)).
/// An item that cannot be read (not Brevo's shape, over a limit, a
/// download token that is not one) is an
/// [`unreadable`](crate::InboundMessage::unreadable) message, and the
/// others are read.
///
/// # Errors
///
/// [`ParseError`] when the body is not Brevo's inbound JSON with `items`.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<Vec<crate::InboundMessage>, ParseError> {
    let delivery: InboundDelivery =
        crate::inbound::read_json(body, limits, "the body is not Brevo's inbound JSON")?;
    let items = delivery
        .items
        .ok_or_else(|| ParseError::new("the body is not Brevo's inbound JSON (no items)"))?;
    let elements = items.0.iter().map(|raw| raw.get());
    Ok(crate::inbound::batch(Provider::Brevo, elements, |raw| {
        let item = serde_json::from_str(raw)
            .map_err(|e| ParseError::json("the item is not Brevo's inbound JSON", &e))?;
        inbound_message(item, limits).map(Some)
    }))
}

fn inbound_message(
    item: InboundItem,
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{Address, Attachment, ContentKind, ContentRef, InboundMessage};
    limits.check_headers(item.headers.0.len())?;
    limits.check_attachments(item.attachments.0.len())?;
    let mut message = InboundMessage::new(Provider::Brevo);
    message.fill_headers(&item.headers.block(), limits)?;
    message.headers = item.headers.0;
    let address = |a: &InboundAddress| Address::new(a.address.as_deref(), a.name.as_deref());
    message.event_id = item.uuid.0.into_iter().next();
    if let Some(from) = &item.from {
        message.from = Some(address(from));
    }
    if !item.to.0.is_empty() {
        message.to = item.to.0.iter().map(address).collect();
    }
    if !item.cc.0.is_empty() {
        message.cc = item.cc.0.iter().map(address).collect();
    }
    if item.subject.is_some() {
        message.subject = item.subject;
    }
    if let Some(date) = item
        .sent_at_date
        .as_deref()
        .and_then(crate::inbound::rfc5322_date)
    {
        message.date = Some(date);
    }
    if let Some(id) = item.message_id {
        message.message_id = Some(id.trim().trim_matches(['<', '>']).to_owned());
    }
    message.text = item.raw_text_body;
    message.html = item.raw_html_body;
    message.stripped_text = item.extracted_markdown_message;
    message.spam_score = item.spam_score;
    if message.event_id.as_deref().is_none_or(str::is_empty) && !item.attachments.0.is_empty() {
        // The key must not depend on what is fetched.
        return Err(ParseError::new("a message with attachments has no Uuid"));
    }
    let mut announced = 0u64;
    for attachment in item.attachments.0 {
        let token = attachment
            .download_token
            // One path segment of the download URL: not `.` or `..`,
            // which would name another resource of Brevo's API.
            .filter(|t| {
                !t.is_empty()
                    && t.bytes().any(|b| b != b'.')
                    && t.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
                    })
            })
            .ok_or_else(|| ParseError::new("an attachment has no usable DownloadToken"))?;
        // Brevo says how large it is: the fetch takes no more, and the
        // message's attachments no more than the limit together.
        let length = attachment.content_length.unwrap_or(0);
        announced = announced.saturating_add(length);
        if announced > limits.max_decoded_bytes as u64 {
            return Err(ParseError::new(
                "the attachments are over the decoded size limit",
            ));
        }
        let index = message.attachments.len();
        message.attachments.push(Attachment {
            filename: attachment.name,
            content_type: attachment.content_type,
            size: usize::try_from(length).unwrap_or(usize::MAX),
            content_id: attachment
                .content_id
                .map(|id| id.trim_matches(['<', '>']).to_owned()),
            inline: false,
            content: Vec::new(),
        });
        message.attachments[index].inline = message.attachments[index].content_id.is_some();
        message.needs(
            ContentRef {
                provider: Provider::Brevo,
                url: format!("{ATTACHMENTS_URL}{token}"),
                kind: ContentKind::Attachment(index),
                max_bytes: if length > 0 {
                    usize::try_from(length).unwrap_or(usize::MAX)
                } else {
                    limits.max_decoded_bytes
                },
            },
            crate::inbound::fetch::read_attachment,
        );
    }
    Ok(message)
}

/// Brevo's inbound parsing in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "basic auth in the webhook URL, or a bearer token, as the webhooks",
    shape: "JSON `{\"items\":[…]}`: each message's fields parsed, attachments by download token (fetched)",
    parse: |request, limits| parse_inbound(request.body(), limits),
    build: |settings| {
        Ok(INBOUND.verified_by(settings, BrevoVerifier::new(settings.credentials(NEEDS)?)))
    },
    simulate: simulate_inbound,
    reply,
    control: None,
    by_event_verifier: true,
};

/// One message for `sim.recipient` with an attachment to download, with
/// the configured credentials; tampered: wrong credentials.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = match sim.body {
        Some(body) => body.to_vec(),
        None => serde_json::json!({"items": [{
            "Uuid": [format!("{}-uuid", sim.event_id)],
            "MessageId": format!("<{}@example.net>", sim.event_id),
            "InReplyTo": null,
            "From": {"Name": "A Customer", "Address": "customer@example.net"},
            "To": [{"Name": null, "Address": sim.recipient}],
            "Cc": [], "ReplyTo": null,
            "SentAtDate": "Sun, 6 Dec 2026 10:00:00 +0000",
            "Subject": "Re: your order",
            "Attachments": [],
            "Headers": {"Message-ID": format!("<{}@example.net>", sim.event_id), "Subject": "Re: your order"},
            "RawHtmlBody": null,
            "RawTextBody": "Thanks!\n",
            "ExtractedMarkdownMessage": "Thanks!",
            "ExtractedMarkdownSignature": null,
            "SpamScore": 0.4,
        }]})
        .to_string()
        .into_bytes(),
    };
    let auth = sim.settings.credentials_header(NEEDS, sim.tamper)?;
    Ok(Simulated::json(body, vec![auth]))
}
