//! SparkPost (Bird) event webhooks: no signature.
//!
//! - Authenticated by: [`Credentials`](crate::scheme::credentials::Credentials): the basic-auth credentials set on
//!   the webhook (`auth_type: basic`), or the OAuth2 bearer token SparkPost
//!   fetches from your token endpoint with client credentials (`auth_type:
//!   oauth2`; check it with [`Credentials::Issued`](crate::scheme::credentials::Credentials::Issued), or, for tokens you
//!   hand out yourself, [`Credentials::Bearer`](crate::scheme::credentials::Credentials::Bearer)). The legacy
//!   `X-MessageSystems-Webhook-Token` is deprecated by SparkPost and not
//!   accepted. SparkPost publishes its sending addresses as the A records
//!   of `wh.egress.sparkpost.com`: give them to the source allowlist.
//! - Signed: nothing; no time is signed, so there is no replay window.
//! - Body: a JSON array, each element `{"msys": {"<class>": {…event…}}}`
//!   with a class of `message_event`, `track_event`, `gen_event`,
//!   `unsubscribe_event`, `relay_event`, `ab_test_event`; several hundred
//!   events per batch, bounded by [`Limits::max_events_per_delivery`].
//!   The batch SparkPost posts when a webhook is created or tested,
//!   `[{"msys":{}}]`, must be answered 200 or the webhook is not created:
//!   it is a [`Control::Ping`] with no event.
//! - Numbers arrive as strings (`timestamp`, `bounce_class`,
//!   `error_code`, `num_retries`, ids): both spellings are read.
//! - Events: `injection` → [`EventKind::Queued`], `delivery`, `delay` →
//!   [`EventKind::Deferred`], `bounce` and `out_of_band` →
//!   [`EventKind::Bounced`], `policy_rejection` and `generation_rejection`
//!   → [`EventKind::Rejected`], `generation_failure` →
//!   [`EventKind::Failed`], `spam_complaint` → [`EventKind::Complained`],
//!   `open` and `amp_open` → [`EventKind::Opened`], `click` and
//!   `amp_click` → [`EventKind::Clicked`], `list_unsubscribe` and
//!   `link_unsubscribe` → [`EventKind::Unsubscribed`]. `initial_open` (the
//!   pixel at the top of the message, sent besides `open`), relay (inbound)
//!   and SMS events and anything else are [`EventKind::Unknown`] with
//!   their JSON kept.
//! - `bounce_class` gives the reject reason (spam blocks, 50 to 54, are
//!   [`RejectReason::Blocked`], not complaints), and whether the bounce is
//!   soft: SparkPost's classification calls 10 (invalid recipient) and 30
//!   (no RCPT) hard, 25 (SparkPost's own policy) admin, and the rest (soft,
//!   block, undetermined) usually temporary; only hard and admin bounces
//!   stop the address. Four classes are no failure of delivery but a reply
//!   from a live mailbox, and are read as what they say: 60 (auto-reply),
//!   80 (a subscribe request: a message back, never a new opt-in) and 100
//!   (challenge-response) are [`EventKind::Autoresponded`], and 90 (an
//!   unsubscribe request) [`EventKind::Unsubscribed`], which stops the
//!   address as an unsubscribe, not as a bounce.
//! - Event id: `event_id` (unique per event). The message is
//!   `transmission_id` (what the send API returned), else `message_id`;
//!   the recipient `raw_rcpt_to` (as sent), else `rcpt_to`; `rcpt_tags`
//!   are the tags and `rcpt_meta` the metadata; `reason` the description
//!   and `raw_reason` the receiving server's answer.
//! - Retries: any answer but 200 is retried for 8 hours (12 attempts); a
//!   400 or 401 also makes SparkPost fetch a new OAuth2 token; 10 s
//!   timeout.
//!
//! Sources: SparkPost API, "Webhooks" (`SparkPost/developers.sparkpost.com`
//! `content/api/webhooks.apib`, and `events-ingest.apib` for the event
//! classes); SparkPost support, "Webhook Authentication"
//! (`tech-resources/webhook-authentication.md`), "Event Definitions" and
//! "Bounce Classification Codes"
//! (`deliverability/bounce-classification-codes.md`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ParseError;
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    Control, ProviderInfo, Received, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::request::Request;

crate::scheme::credentials::credentials_verifier!(
    /// Checks SparkPost's credentials and parses its batches.
    SparkpostVerifier
);

impl SyncProvider for SparkpostVerifier {
    const ID: Provider = Provider::Sparkpost;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        receive_body(request.body(), limits)
    }
}

sync_provider!(SparkpostVerifier);

/// One element of a SparkPost batch: the event under its class. The
/// creation ping's element has no class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SparkpostEvent {
    /// The class (`message_event`, `track_event`, …) and its event.
    #[serde(default, deserialize_with = "classes")]
    pub msys: std::collections::BTreeMap<String, SparkpostEventData>,
}

/// The most classes read from one element (SparkPost puts one there): a
/// body of many empty classes must not cost a model each.
const MAX_CLASSES: usize = 8;

/// `msys`, an object of at most [`MAX_CLASSES`] classes; more is an error
/// (the element is then kept as unknown).
fn classes<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, SparkpostEventData>, D::Error> {
    struct Classes;
    impl<'de> serde::de::Visitor<'de> for Classes {
        type Value = std::collections::BTreeMap<String, SparkpostEventData>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of event classes")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut classes = std::collections::BTreeMap::new();
            while let Some(class) = map.next_key::<String>()? {
                if classes.len() == MAX_CLASSES {
                    return Err(serde::de::Error::custom("too many event classes"));
                }
                let data = map.next_value()?;
                classes.insert(class, data);
            }
            Ok(classes)
        }
    }
    deserializer.deserialize_map(Classes)
}

/// An event's fields, as SparkPost names them; numbers sent as strings
/// are kept as strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SparkpostEventData {
    /// `injection`, `delivery`, `bounce`, `click`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The event's unique id.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_id: Option<String>,
    /// When it happened (Unix seconds, as a string).
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The message's id.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// The transmission's id (what the send API returned).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub transmission_id: Option<String>,
    /// The recipient, lowercased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcpt_to: Option<String>,
    /// The recipient as on the envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_rcpt_to: Option<String>,
    /// The campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The recipient's tags.
    #[serde(
        default,
        deserialize_with = "crate::provider::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rcpt_tags: Vec<String>,
    /// The recipient's metadata.
    #[serde(
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub rcpt_meta: Map<String, Value>,
    /// Bounces, delays, rejections: SparkPost's classification code.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub bounce_class: Option<String>,
    /// The canonical text of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The receiving server's answer as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_reason: Option<String>,
    /// The SMTP status code.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<String>,
    /// Delays: how many attempts so far.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_retries: Option<String>,
    /// Clicks and link unsubscriptions: the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_link_url: Option<String>,
    /// Opens and clicks: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Opens and clicks: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Spam complaints: the feedback type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtype: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Parses a SparkPost batch without checking credentials; the creation
/// ping gives no event.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON array, or has more elements
/// than [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    Ok(receive_body(body, &Limits::default())?.events)
}

fn receive_body(body: &[u8], limits: &Limits) -> Result<Received, ParseError> {
    let raws = batch::elements(body, Shape::Array, limits.max_events_per_delivery)?;
    let mut events = Vec::with_capacity(raws.len());
    for raw in &raws {
        match serde_json::from_str::<SparkpostEvent>(raw.get()) {
            // The creation and test ping: `{"msys":{}}`, with its `msys`
            // (an element without one is not the ping: kept, below).
            Ok(native) if native.msys.is_empty() && has_msys(raw) => {}
            // SparkPost puts one event in each element; an element with
            // several classes is not one (and must not multiply the
            // events past the count limit).
            Ok(native) if native.msys.len() == 1 => {
                events.extend(native.msys.into_values().map(|d| normalize(d, raw)));
            }
            Ok(_) | Err(_) => {
                // Not an event: kept as unknown, keyed by its bytes.
                let mut event =
                    EmailEvent::new(Provider::Sparkpost, EventKind::Unknown, (*raw).to_owned());
                event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
                events.push(event);
            }
        }
    }
    if events.is_empty() && !raws.is_empty() {
        return Ok(Received::control(Control::Ping));
    }
    Ok(Received::events(events))
}

/// Whether an element has an `msys` object (the ping's is empty).
fn has_msys(raw: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        msys: Option<Map<String, Value>>,
    }
    serde_json::from_str::<Probe>(raw.get()).is_ok_and(|probe| probe.msys.is_some())
}

/// Whether a bounce of `class` is hard or admin (stop the address), per
/// SparkPost's bounce classification.
fn stops_the_address(class: u32) -> bool {
    matches!(class, 10 | 25 | 30)
}

/// What a bounce of `class` is when it is a live mailbox's reply rather
/// than a failure of delivery (SparkPost's classes 60, 80, 90 and 100).
fn reply_of_class(class: u32) -> Option<EventKind> {
    match class {
        // A subscribe request is a message the mailbox sent back, not the
        // recipient opting in again (`Subscribed`): read as a reply.
        60 | 80 | 100 => Some(EventKind::Autoresponded),
        90 => Some(EventKind::Unsubscribed),
        _ => None,
    }
}

fn reason_of_class(class: u32) -> RejectReason {
    match class {
        10 => RejectReason::Invalid,
        20..=23 | 30 | 40 | 70 => RejectReason::Bounced,
        24 => RejectReason::TimedOut,
        // Blocks by the receiving side (spam blocks included), never the
        // recipient's complaint.
        25 | 50..=54 => RejectReason::Blocked,
        90 => RejectReason::Unsubscribed,
        _ => RejectReason::Other,
    }
}

fn normalize(native: SparkpostEventData, raw: &RawValue) -> EmailEvent {
    let class: Option<u32> = native
        .bounce_class
        .as_deref()
        .and_then(|c| c.trim().parse().ok());
    let kind = match native.kind.as_str() {
        "injection" => EventKind::Queued,
        "delivery" => EventKind::Delivered,
        "delay" => EventKind::Deferred,
        "bounce" | "out_of_band" => EventKind::Bounced,
        "policy_rejection" | "generation_rejection" => EventKind::Rejected,
        "generation_failure" => EventKind::Failed,
        "spam_complaint" => EventKind::Complained,
        "open" | "amp_open" => EventKind::Opened,
        "click" | "amp_click" => EventKind::Clicked,
        "list_unsubscribe" | "link_unsubscribe" => EventKind::Unsubscribed,
        _ => EventKind::Unknown,
    };
    let kind = match (kind, class.and_then(reply_of_class)) {
        (EventKind::Bounced, Some(reply)) => reply,
        _ => kind,
    };
    let mut event = EmailEvent::new(Provider::Sparkpost, kind, raw.to_owned());
    event.reject_reason = match kind {
        EventKind::Bounced | EventKind::Deferred | EventKind::Rejected => {
            Some(class.map_or(RejectReason::Other, reason_of_class))
        }
        // A feedback report saying the mail is not spam (`fbtype`
        // `not-spam`) corrects an earlier one: the address is kept, as for
        // SES.
        EventKind::Complained
            if native
                .fbtype
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("not-spam")) =>
        {
            Some(RejectReason::Other)
        }
        EventKind::Complained => Some(RejectReason::Spam),
        EventKind::Unsubscribed => Some(RejectReason::Unsubscribed),
        // A bounce that is a live mailbox's reply (classes 60, 80, 100).
        EventKind::Autoresponded if class.is_some() => Some(RejectReason::Other),
        _ => None,
    };
    event.soft_bounce = kind == EventKind::Bounced && !class.is_some_and(stops_the_address);
    event.event_id = native.event_id.filter(|id| !id.is_empty());
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    }
    event.timestamp = native.timestamp.0;
    event.message_id = native.transmission_id.or(native.message_id);
    event.recipient = native
        .raw_rcpt_to
        .or(native.rcpt_to)
        .as_deref()
        .and_then(bare_address);
    event.description = native.reason.or(native.fbtype);
    event.mta_response = native.raw_reason;
    event.click_url = native.target_link_url;
    event.user_agent = native.user_agent;
    event.tags = native.rcpt_tags;
    event.metadata = native.rcpt_meta;
    event
}

const NEEDS: &str = "--basic-auth USER:PASS or --secret BEARER_TOKEN (as set on the webhook)";

/// A batch of one SparkPost event of `kind` with the configured
/// credentials; tampered: wrong credentials.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (class, kind, extra) = match sim.kind {
        EventKind::Queued => ("message_event", "injection", serde_json::json!({})),
        EventKind::Delivered => (
            "message_event",
            "delivery",
            serde_json::json!({"queue_time": "1200"}),
        ),
        EventKind::Deferred => (
            "message_event",
            "delay",
            serde_json::json!({"bounce_class": "22", "num_retries": "1", "reason": "452 4.2.2 Mailbox full", "raw_reason": "452 4.2.2 Mailbox full", "error_code": "452"}),
        ),
        EventKind::Bounced => (
            "message_event",
            "bounce",
            serde_json::json!({"bounce_class": "10", "reason": "550 5.1.1 unknown user", "raw_reason": "550 5.1.1 <jane@example.com>: unknown user", "error_code": "550"}),
        ),
        EventKind::Rejected => (
            "message_event",
            "policy_rejection",
            serde_json::json!({"bounce_class": "25", "reason": "550 5.7.1 recipient suppressed", "error_code": "550"}),
        ),
        EventKind::Complained => (
            "message_event",
            "spam_complaint",
            serde_json::json!({"fbtype": "abuse"}),
        ),
        EventKind::Opened => (
            "track_event",
            "open",
            serde_json::json!({"user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1"}),
        ),
        EventKind::Clicked => (
            "track_event",
            "click",
            serde_json::json!({"user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1", "target_link_url": "https://example.com/"}),
        ),
        EventKind::Unsubscribed => (
            "unsubscribe_event",
            "list_unsubscribe",
            serde_json::json!({}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = Sha256::digest(sim.event_id.as_bytes());
    let number = |at: usize| {
        u64::from_be_bytes([
            0,
            0,
            0,
            digest[at],
            digest[at + 1],
            digest[at + 2],
            digest[at + 3],
            digest[at + 4],
        ])
        .to_string()
    };
    let data = serde_json::json!({"type": kind, "event_id": number(0), "timestamp": sim.now.to_string(),
        "message_id": crate::encoding::hex(&digest[..10]), "transmission_id": number(8),
        "rcpt_to": sim.recipient.to_lowercase(), "raw_rcpt_to": sim.recipient, "customer_id": "1",
        "campaign_id": "simulated", "rcpt_tags": ["simulated"], "rcpt_meta": {"order": "42"},
        "subject": "Hello", "friendly_from": "sender@example.com"});
    let data = crate::provider::with_fields(data, extra);
    Ok(serde_json::json!([{"msys": {class: data}}])
        .to_string()
        .into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let mut delivery = sim.with_credentials(sample, NEEDS)?;
    // A batch id per delivery attempt (SparkPost sends it again on retries).
    let batch_id = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[16..24]);
    delivery
        .headers
        .push(("X-MessageSystems-Batch-ID".to_owned(), batch_id));
    Ok(delivery)
}

/// SparkPost's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "SparkPost",
    authenticated_by: "basic auth, or an OAuth2 bearer token you issued",
    event_id: "`event_id`",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(SparkpostVerifier::new(s.credentials(NEEDS)?))),
    simulate,
    inbound: Some(&INBOUND),
};

/// SparkPost's relay webhooks (inbound mail): a JSON array of
/// `{"msys": {"relay_message": {…}}}`, each with `rcpt_to` and `msg_from`
/// (the SMTP envelope), `webhook_id`, and `content` holding the whole
/// message (`email_rfc822`, base64 when `email_rfc822_is_base64`).
/// Authenticated not as the event webhooks but by the relay webhook's
/// `auth_token`, sent in `X-MessageSystems-Webhook-Token`.
/// Source: <https://developers.sparkpost.com/api/relay-webhooks/>.
///
/// # Errors
///
/// [`ParseError`] when the body is not such a batch or holds no relay
/// message. A relay message that cannot be read (no content, over a
/// limit) is an [`unreadable`](crate::InboundMessage::unreadable) message,
/// and the others are read.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<Vec<crate::InboundMessage>, ParseError> {
    crate::inbound::check_json_body(body, limits)?;
    let raws = batch::elements(
        body,
        Shape::Array,
        Limits::default().max_events_per_delivery,
    )?;
    let elements = raws.iter().map(|raw| raw.get());
    let messages = crate::inbound::batch(Provider::Sparkpost, elements, |raw| {
        relay_message(raw, limits)
    });
    if messages.is_empty() {
        return Err(ParseError::new("the batch has no relay message"));
    }
    Ok(messages)
}

/// One element of a relay batch: its message, or `None` for an element
/// that is no relay message.
fn relay_message(
    raw: &str,
    limits: &crate::InboundLimits,
) -> Result<Option<crate::InboundMessage>, ParseError> {
    let mut element: Value =
        serde_json::from_str(raw).map_err(|e| ParseError::json("an element is not JSON", &e))?;
    // The message moved out of the JSON, not copied: it is most of it.
    let Value::String(rfc822) = element
        .pointer_mut("/msys/relay_message/content/email_rfc822")
        .map(Value::take)
        .unwrap_or_default()
    else {
        if element.pointer("/msys/relay_message").is_none() {
            return Ok(None);
        }
        return Err(ParseError::new(
            "a relay message has no content.email_rfc822",
        ));
    };
    let relay = element
        .pointer("/msys/relay_message")
        .unwrap_or(&Value::Null);
    let content = relay.get("content").unwrap_or(&Value::Null);
    let raw_message = if content
        .get("email_rfc822_is_base64")
        .and_then(Value::as_bool)
        == Some(true)
    {
        crate::inbound::base64_content(&rfc822)?
    } else {
        rfc822.into_bytes()
    };
    let mut message =
        crate::InboundMessage::from_mime_owned(Provider::Sparkpost, raw_message, limits)?;
    let text = |name: &str| relay.get(name).and_then(Value::as_str).map(str::to_owned);
    message.set_envelope_recipients(text("rcpt_to"));
    message.envelope_sender = text("msg_from").filter(|s| !s.is_empty());
    Ok(Some(message))
}

/// The relay webhook's token header.
const RELAY_TOKEN: &str = "x-messagesystems-webhook-token";

/// The tokens' digests, compared in constant time to the header.
fn relay_token_check(tokens: &[String], request: &Request<'_>) -> Result<(), crate::VerifyError> {
    // Only non-empty tokens: an empty one would accept an empty header.
    let mut tokens = tokens.iter().filter(|t| !t.is_empty());
    let first = tokens.next().ok_or(crate::VerifyError::Unauthorized)?;
    let mut digests = crate::digests::SecretDigests::new(&[first.as_bytes()]);
    for token in tokens {
        digests.push(&[token.as_bytes()]);
    }
    match request.headers().lookup(RELAY_TOKEN) {
        crate::headers::Lookup::One(value) if digests.position(value).is_some() => Ok(()),
        crate::headers::Lookup::Absent => Err(crate::VerifyError::MissingCredentials),
        _ => Err(crate::VerifyError::Unauthorized),
    }
}

/// SparkPost's relay webhooks in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "the relay webhook's `auth_token` in `X-MessageSystems-Webhook-Token` (not the event webhooks' credentials)",
    shape: "JSON: an array of `msys.relay_message`, each with the raw message",
    parse: |request, limits| parse_inbound(request.body(), limits),
    build: |settings| {
        const NEEDS_TOKEN: &str = "--secret AUTH_TOKEN (the relay webhook's)";
        if Settings::first(&settings.secrets, NEEDS_TOKEN)?.is_empty() {
            return Err(crate::SecretError::Empty.into());
        }
        let tokens = settings.secrets.clone();
        Ok(crate::provider::InboundVerify::new(
            move |request, limits| {
                crate::provider::inbound_checked(relay_token_check(&tokens, request), || {
                    (INBOUND.parse)(request, limits)
                })
            },
        ))
    },
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: false,
};

/// A relay batch of one message for `sim.recipient`, with the first
/// secret as the token; tampered: another token.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let token = Settings::first(
        &sim.settings.secrets,
        "--secret AUTH_TOKEN (the relay webhook's)",
    )?;
    let token = if sim.tamper { "not-the-token" } else { token };
    let rfc822 = format!(
        "Message-ID: <{}@example.net>\r\nFrom: A Customer <customer@example.net>\r\nTo: {}\r\nSubject: Re: your order\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nThanks!\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\norder 42\r\n--m--\r\n",
        sim.event_id, sim.recipient
    );
    let body = sim.body.map_or_else(
        || {
            serde_json::json!([{"msys": {"relay_message": {
                "content": {"email_rfc822": crate::encoding::base64(rfc822.as_bytes()), "email_rfc822_is_base64": true,
                            "subject": "Re: your order", "text": "Thanks!", "to": [sim.recipient]},
                "customer_id": "1", "friendly_from": "customer@example.net", "msg_from": "customer@example.net",
                "rcpt_to": sim.recipient, "webhook_id": "relay-1", "protocol": "smtp"}}}])
            .to_string()
            .into_bytes()
        },
        <[u8]>::to_vec,
    );
    Ok(Simulated::json(
        body,
        vec![(
            "X-MessageSystems-Webhook-Token".to_owned(),
            token.to_owned(),
        )],
    ))
}
