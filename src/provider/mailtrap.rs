//! Mailtrap email-sending webhooks.
//!
//! - Authenticated by: `Mailtrap-Signature`, the lowercase hex
//!   HMAC-SHA256 of the raw body keyed with the webhook's signing secret
//!   (its characters as bytes; Mailtrap makes one per webhook and shows it
//!   in the webhook's details) — [`MailtrapVerifier::new`]. Where you do
//!   not use the signature, the basic-auth credentials of the webhook URL
//!   ([`MailtrapVerifier::with_credentials`]). Mailtrap sends webhooks
//!   from two published ranges: [`published_sources`] for the source
//!   allowlist.
//! - Signed: the body; no time is signed, so there is no replay window.
//! - Body: `{"events":[…]}` (format `json`, the default), or one event
//!   object per line (format `jsonlines`, `application/jsonl`); both are
//!   read. A line that is not JSON, among lines that are, is kept as an
//!   [`EventKind::Unknown`] event whose raw JSON is the line as a string,
//!   so that it never costs its neighbours. Up to 500 events per delivery
//!   (bounded by [`Limits::max_events_per_delivery`] too).
//! - Events: `delivery` → [`EventKind::Delivered`], `open`, `click`,
//!   `unsubscribe`, `spam` → [`EventKind::Complained`], `bounce` →
//!   [`EventKind::Bounced`], `soft bounce` (with a space) →
//!   [`EventKind::Deferred`], `suspension` (Mailtrap held the message back:
//!   its reason is the sender's account, such as a daily sending limit,
//!   never the recipient) → [`EventKind::Failed`], `reject` →
//!   [`EventKind::Rejected`]; anything else is [`EventKind::Unknown`] with
//!   its JSON kept, and an element that is not an event object keeps its
//!   neighbours. `bounce_category` gives the reject reason. A `bounce` is
//!   hard only where Mailtrap itself suppresses the address, by its bounce
//!   categorization table: `badrecipient`, `overquota` and `timeout`, or no
//!   category, and `hard` (the category of the bounce in Mailtrap's
//!   webhook example). Every other category (a block of the sender or its content,
//!   a transient, DNS, relay or server failure, greylisting, `other`) is a
//!   soft bounce ([`EmailEvent::soft_bounce`]): Mailtrap keeps mailing the
//!   address, and so should the receiver.
//! - Fields: `event_id` (the event id), `message_id`, `email`,
//!   `timestamp` (Unix seconds), `category` (a tag), `custom_variables`
//!   (the metadata), `response` (the receiving server's answer), `reason`,
//!   `url`, `user_agent`.
//! - Retries: anything but 200 within 30 s is retried 40 times, 5 minutes
//!   apart; then the webhook is paused until someone resumes it.
//! - Acknowledgement: 200 within 30 seconds.
//! - Setup: no handshake; the webhook posts once created (the dashboard
//!   can send a test).
//!
//! Sources: Mailtrap, "Webhooks"
//! <https://docs.mailtrap.io/email-api-smtp/advanced/webhooks> (signature,
//! payload formats, events, retries), "Bounce categorization"
//! <https://docs.mailtrap.io/email-api-smtp/bounce-categorization> and
//! "Static IPs for sending & webhooks"; the official SDKs' signature checks
//! (`mailtrap/mailtrap-ruby` `lib/mailtrap/webhooks.rb`,
//! `mailtrap/mailtrap-dotnet` `WebhookSignature`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ParseError;
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::mac::Encoding;
use crate::policy::Policy;
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    DynProvider, ProviderInfo, Received, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::request::Request;
use crate::scheme::credentials::Credentials;
use crate::scheme::hmac::{Algorithm, HmacVerifier};
use crate::secret::Secret;

/// The ranges Mailtrap sends webhooks (and mail) from, 45.158.83.0/24
/// and 5.181.200.0/24, read 2026-12-07 from Mailtrap's "Static IPs for
/// sending & webhooks" (<https://docs.mailtrap.io/email-api-smtp/static-ips-for-sending-and-webhooks>;
/// machine-readable: <https://mailtrap.io/ip-ranges.json>). Mailtrap also
/// names two webhook addresses in those ranges (45.158.83.129 and .130),
/// but advises allowing the whole ranges, as addresses in them may change:
/// a delivery from an address left out is refused, and Mailtrap pauses a
/// webhook after 40 failed attempts. Check the source when you deploy.
#[must_use]
pub fn published_sources() -> crate::allowlist::SourceAllowlist {
    crate::allowlist::published::list(&["45.158.83.0/24", "5.181.200.0/24"])
}

/// The header Mailtrap signs in.
pub const SIGNATURE_HEADER: &str = "Mailtrap-Signature";

/// The most events Mailtrap puts in one delivery.
pub const MAX_BATCH: usize = 500;

/// Checks Mailtrap's signature (or credentials) and parses its events.
#[derive(Debug)]
pub struct MailtrapVerifier {
    check: Check,
    policy: Policy,
}

#[derive(Debug)]
enum Check {
    Signature(Box<HmacVerifier>),
    Credentials(Credentials),
}

impl MailtrapVerifier {
    /// A verifier with the webhook's signing secret.
    #[must_use]
    pub fn new(signing_secret: Secret) -> Self {
        let hmac = HmacVerifier::new(
            signing_secret,
            SIGNATURE_HEADER,
            Algorithm::Sha256,
            Encoding::Hex,
        );
        Self {
            check: Check::Signature(Box::new(hmac)),
            policy: Policy::default(),
        }
    }

    /// A verifier requiring the webhook URL's basic-auth credentials (or a
    /// bearer token) instead of the signature.
    #[must_use]
    pub fn with_credentials(credentials: impl Into<Credentials>) -> Self {
        Self {
            check: Check::Credentials(credentials.into()),
            policy: Policy::default(),
        }
    }

    /// Also accepts `signing_secret` (after a reset, or another webhook's);
    /// a credentials verifier becomes a signature verifier.
    #[must_use]
    pub fn with_secret(self, signing_secret: Secret) -> Self {
        match self.check {
            Check::Signature(hmac) => Self {
                check: Check::Signature(Box::new(hmac.with_secret(signing_secret))),
                policy: self.policy,
            },
            // The limits set so far carry over to the signature check.
            Check::Credentials(_) => {
                let limits = self.policy.limits;
                crate::Configure::with_limits(Self::new(signing_secret), limits)
            }
        }
    }
}

impl crate::scheme::Authenticate for MailtrapVerifier {
    fn authenticate<'r>(
        &self,
        request: &Request<'r>,
    ) -> Result<crate::Verified<'r>, crate::VerifyError> {
        match &self.check {
            Check::Signature(hmac) => hmac.authenticate(request),
            Check::Credentials(credentials) => {
                self.policy.limits.check_body(request.body())?;
                credentials.authenticate(request)
            }
        }
    }
}

crate::scheme::verify_methods!(MailtrapVerifier);
/// The limits and replay window: the signature check's when the verifier
/// checks the signature (no time is signed), else the verifier's own.
impl crate::policy::Configure for MailtrapVerifier {
    fn policy(&self) -> &Policy {
        match &self.check {
            Check::Signature(hmac) => crate::policy::Configure::policy(&**hmac),
            Check::Credentials(_) => &self.policy,
        }
    }
    fn policy_mut(&mut self) -> &mut Policy {
        match &mut self.check {
            Check::Signature(hmac) => crate::policy::Configure::policy_mut(&mut **hmac),
            Check::Credentials(_) => &mut self.policy,
        }
    }
}

impl SyncProvider for MailtrapVerifier {
    const ID: Provider = Provider::Mailtrap;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }
}

sync_provider!(MailtrapVerifier);

/// One Mailtrap sending event. Field names follow Mailtrap's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailtrapEvent {
    /// `delivery`, `open`, `click`, `unsubscribe`, `spam`, `soft bounce`,
    /// `bounce`, `suspension`, `reject`.
    pub event: String,
    /// The event's unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When it happened (Unix seconds).
    #[serde(default)]
    pub timestamp: Timestamp,
    /// `transactional` or `bulk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_stream: Option<String>,
    /// The sending domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_domain_name: Option<String>,
    /// The sender's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The sender's custom variables.
    #[serde(
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub custom_variables: Map<String, Value>,
    /// `suspension`, `reject`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bounces: the receiving server's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Bounces: the SMTP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<Value>,
    /// Bounces: Mailtrap's classification (`badrecipient`, `greylisting`,
    /// `block`, `spam`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_category: Option<String>,
    /// Opens, clicks, unsubscriptions: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Opens, clicks, unsubscriptions: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Clicks: the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: &'a RawValue,
}

/// Parses a Mailtrap delivery (`{"events":[…]}`, or JSON Lines) without
/// checking its signature.
///
/// # Errors
///
/// [`ParseError`] when the body is neither (JSON Lines with no line
/// holding a JSON object), or has more events than 500 or
/// [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &Limits::default())
}

fn parse_within(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let max = limits.max_events_per_delivery.min(MAX_BATCH);
    let event = |raw| batch::native_or_unknown(Provider::Mailtrap, raw, normalize);
    if let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body) {
        let raws = batch::elements(envelope.events.get().as_bytes(), Shape::Array, max)?;
        return Ok(raws.into_iter().map(event).collect());
    }
    json_lines(body, max)?
        .into_iter()
        .map(|line| line.map_or_else(unreadable_line, |raw| Ok(event(raw))))
        .collect()
}

/// The lines of a JSON Lines body, one per non-blank line: each line's
/// JSON, or the line itself where it is not JSON.
fn json_lines(body: &[u8], max: usize) -> Result<Vec<Result<&RawValue, &[u8]>>, ParseError> {
    let mut out = Vec::new();
    let mut first_error = None;
    for line in body
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
    {
        if out.len() == max {
            return Err(batch::too_many());
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(raw) => out.push(Ok(raw)),
            Err(e) => {
                first_error.get_or_insert(e);
                out.push(Err(line));
            }
        }
    }
    // A body with no line holding a JSON object is not Mailtrap's JSON
    // Lines (a pretty-printed array of numbers has lines of JSON too).
    if !out
        .iter()
        .any(|line| matches!(line, Ok(raw) if raw.get().starts_with('{')))
    {
        let not_either = "the body is neither {\"events\":[…]} nor JSON Lines";
        return Err(match first_error {
            Some(e) => ParseError::json(not_either, &e),
            None => ParseError::new(not_either),
        });
    }
    Ok(out)
}

/// A JSON Lines line that is not JSON, between lines that are: kept as an
/// unknown event whose raw JSON is the line as a string (invalid UTF-8
/// replaced), keyed by its bytes, so that it never costs its neighbours.
fn unreadable_line(line: &[u8]) -> Result<EmailEvent, ParseError> {
    let text = String::from_utf8_lossy(line);
    let raw = serde_json::value::to_raw_value(&text)
        .map_err(|e| ParseError::json("a JSON Lines line", &e))?;
    let mut event = EmailEvent::new(Provider::Mailtrap, EventKind::Unknown, raw);
    event.set_fingerprint(&Sha256::digest(line));
    Ok(event)
}

/// The bounce categories Mailtrap adds the address to its suppressions
/// for (its "Bounce categorization" table, "Adding to Suppressions: Yes"),
/// and `hard`, which Mailtrap's webhook example gives a bounce (as
/// django-anymail's Mailtrap tests copy it): the only hard bounces.
/// Mailtrap keeps mailing after any other category.
const SUPPRESSED: &[&str] = &["badrecipient", "overquota", "timeout", "hard"];
// (Lowercase, as categories are compared: Mailtrap writes `dnsFail`.)

/// Categories of a block by the receiving side (the sender, its content,
/// its reputation): not the recipient's address.
const BLOCKS: &[&str] = &[
    "block",
    "badsender",
    "serverpolicy",
    "spam",
    "spam_gmail",
    "content",
];

fn bounce_reason(category: Option<&str>, otherwise: RejectReason) -> RejectReason {
    match category.unwrap_or_default() {
        "badrecipient" => RejectReason::Invalid,
        c if BLOCKS.contains(&c) => RejectReason::Blocked,
        "timeout" => RejectReason::TimedOut,
        _ => otherwise,
    }
}

fn normalize(native: MailtrapEvent, raw: &RawValue) -> EmailEvent {
    // Compared as Mailtrap's table spells them, whatever the case; an
    // empty category is none.
    let lowered = native
        .bounce_category
        .as_deref()
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty());
    let category = lowered.as_deref();
    let (kind, reason) = match native.event.as_str() {
        "delivery" => (EventKind::Delivered, None),
        "open" => (EventKind::Opened, None),
        "click" => (EventKind::Clicked, None),
        "unsubscribe" => (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
        "spam" => (EventKind::Complained, Some(RejectReason::Spam)),
        "bounce" => (
            EventKind::Bounced,
            Some(bounce_reason(category, RejectReason::Bounced)),
        ),
        "soft bounce" => (
            EventKind::Deferred,
            Some(bounce_reason(category, RejectReason::Other)),
        ),
        "suspension" => (EventKind::Failed, Some(RejectReason::Other)),
        "reject" => (EventKind::Rejected, Some(RejectReason::Blocked)),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Mailtrap, kind, raw.to_owned());
    event.event_id = native.event_id.filter(|id| !id.is_empty());
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(event.raw.get().as_bytes()));
    }
    event.soft_bounce =
        kind == EventKind::Bounced && category.is_some_and(|c| !SUPPRESSED.contains(&c));
    event.reject_reason = reason;
    event.timestamp = native.timestamp.0;
    event.message_id = native.message_id;
    event.recipient = native.email.as_deref().and_then(bare_address);
    event.description = native.reason.or(native.bounce_category);
    event.mta_response = native.response;
    event.click_url = native.url;
    event.user_agent = native.user_agent;
    event.tags = native.category.into_iter().collect();
    event.metadata = native.custom_variables;
    event
}

const NEEDS: &str = "--secret SIGNING_SECRET, or --basic-auth USER:PASS (as in the webhook URL)";

fn build(settings: &Settings) -> Result<Box<dyn DynProvider>, SetupError> {
    let verifier = if settings.secrets.is_empty() {
        MailtrapVerifier::with_credentials(settings.credentials(NEEDS)?)
    } else {
        let (new, add) = (MailtrapVerifier::new, MailtrapVerifier::with_secret);
        Settings::rotating(
            &settings.secrets,
            NEEDS,
            |s| Secret::from_bytes(s),
            new,
            add,
        )?
    };
    Ok(settings.boxed(verifier))
}

/// A delivery of one Mailtrap event of `kind`, signed with the first
/// secret (or with the credentials when there is none); tampered: a letter
/// of the recipient changed after signing, or wrong credentials.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, extra) = match sim.kind {
        EventKind::Delivered => ("delivery", serde_json::json!({})),
        EventKind::Opened => (
            "open",
            serde_json::json!({"ip": "192.0.2.1", "user_agent": "Mozilla/5.0"}),
        ),
        EventKind::Clicked => (
            "click",
            serde_json::json!({"ip": "192.0.2.1", "user_agent": "Mozilla/5.0", "url": "https://example.com/"}),
        ),
        EventKind::Unsubscribed => (
            "unsubscribe",
            serde_json::json!({"ip": "192.0.2.1", "user_agent": "Mozilla/5.0"}),
        ),
        EventKind::Complained => ("spam", serde_json::json!({})),
        EventKind::Bounced => (
            "bounce",
            serde_json::json!({"response": "550 5.1.1 User unknown", "response_code": 550, "bounce_category": "badrecipient"}),
        ),
        EventKind::Deferred => (
            "soft bounce",
            serde_json::json!({"response": "4.7.1 Temporary error, please retry", "response_code": 451, "bounce_category": "greylisting"}),
        ),
        EventKind::Rejected => ("reject", serde_json::json!({"reason": "unsubscribed"})),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..16]);
    let element = serde_json::json!({"event": event, "timestamp": sim.now, "sending_stream": "transactional",
        "message_id": format!("m-{digest}"), "email": sim.recipient, "event_id": digest,
        "sending_domain_name": "example.com", "category": "simulated", "custom_variables": {"order": "42"}});
    let element = crate::provider::with_fields(element, extra);
    Ok(serde_json::json!({"events": [element]})
        .to_string()
        .into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let mut delivery = if let Some(secret) = sim.settings.secrets.first() {
        let hmac = HmacVerifier::new(
            Secret::from_bytes(secret.as_str())?,
            SIGNATURE_HEADER,
            Algorithm::Sha256,
            Encoding::Hex,
        );
        let headers = hmac.sign(None, &body)?;
        let mut delivery = Simulated::json(body, headers);
        if sim.tamper {
            delivery.alter_body(sim.recipient.as_bytes(), 0);
        }
        delivery
    } else {
        let auth = sim.settings.credentials_header(NEEDS, sim.tamper)?;
        Simulated::json(body, vec![auth])
    };
    delivery
        .headers
        .push(("User-Agent".to_owned(), "Mailtrap-Webhooks".to_owned()));
    Ok(delivery)
}

/// Mailtrap's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Mailtrap",
    authenticated_by: "`Mailtrap-Signature`: HMAC-SHA256 (hex) with the webhook's signing secret, or basic auth",
    event_id: "`event_id`",
    signed: "the body (nothing with basic auth)",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: None,
};
