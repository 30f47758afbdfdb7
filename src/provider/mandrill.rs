//! Mandrill (Mailchimp Transactional) message-event webhooks.
//!
//! - Authenticated by: `X-Mandrill-Signature`, the base64 HMAC-SHA1, keyed
//!   with the webhook's own key (shown per webhook; not the API key), of
//!   the webhook URL **exactly as configured in Mandrill** followed by
//!   every POST parameter sorted by name, each name then its value, with
//!   no separators. The URL is configuration ([`MandrillVerifier::new`]),
//!   never rebuilt from the request: a proxy that changes the scheme, host
//!   or port would otherwise break every signature, and credentials written
//!   into the configured URL (`https://user:pass@host/path`) are part of
//!   what Mandrill signs. Several keys for rotation.
//! - Signed: the URL and the form (so the whole `mandrill_events` JSON). No
//!   time is signed, so there is no replay window: a captured delivery can
//!   be replayed; the idempotency keys make a replay a duplicate.
//! - Body: `application/x-www-form-urlencoded` with one field,
//!   `mandrill_events`, a JSON array of up to 1,000 events (bounded by
//!   [`Limits::max_events_per_delivery`] before anything is allocated per
//!   event).
//! - Events: `send` → [`EventKind::Sent`], `delivered`, `deferral` →
//!   [`EventKind::Deferred`], `hard_bounce` and `soft_bounce` →
//!   [`EventKind::Bounced`] (a soft bounce is marked soft: Mandrill has
//!   stopped retrying, but the address may recover), `open`, `click`,
//!   `spam` → [`EventKind::Complained`], `unsub`, `reject` →
//!   [`EventKind::Rejected`], `inbound` → [`EventKind::Inbound`]. Sync
//!   events (a `type` of `whitelist`, `blacklist`, `allowlist`,
//!   `denylist`, with an `action`) and unknown events are
//!   [`EventKind::Unknown`] with their JSON kept; an element that is not an
//!   event object is kept the same way and never loses its neighbours.
//! - Fields: the message is `_id` (also `msg._id`), the recipient
//!   `msg.email`, the time `ts` (Unix seconds), tags `msg.tags`, metadata
//!   `msg.metadata`, the bounce text `msg.bounce_description` and the
//!   receiving server's answer `msg.diag` (or the last `msg.smtp_events`
//!   entry of a deferral), the click `url`, the client `user_agent`.
//! - Event id: none (`_id` is the message's). The idempotency key digests
//!   what tells two events apart (message, event, time, recipient, URL,
//!   client address and agent, and a sync event's type, action and
//!   address); Mandrill resends a failed batch with the same events, so a
//!   redelivery gets the same keys.
//! - Setup: Mandrill checks the URL with a `HEAD` request when a webhook
//!   is added or changed: answered 200 ([`EmailProvider::probe`](crate::provider::EmailProvider::probe)).
//! - Retries: Mandrill retries a batch that is not answered 2xx, with
//!   backoff, for a limited time, and may disable a webhook that keeps
//!   failing.
//!
//! Sources: Mailchimp Transactional, "Webhooks"
//! <https://mailchimp.com/developer/transactional/docs/webhooks/> and
//! "Track and respond to activity with webhooks" (authenticating webhook
//! requests)
//! <https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{ParseError, VerifyError};
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::form::{self, Pair};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    ProviderInfo, Received, Reply, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::request::Request;
use crate::secret::Secret;
use crate::verified::Verified;

static SIGNATURE: Name = Name::from_static("x-mandrill-signature");

/// The most events Mandrill puts in one batch.
pub const MAX_BATCH: usize = 1000;

/// Checks Mandrill's signature and parses its events. `Debug` shows the
/// URL's scheme and host only: the configured URL may hold credentials.
pub struct MandrillVerifier {
    keys: Vec<MacKey>,
    url: String,
    policy: Policy,
}

impl MandrillVerifier {
    /// A verifier with the webhook's key and its URL exactly as entered in
    /// Mandrill (scheme, host, port, path, query, and any credentials).
    #[must_use]
    pub fn new(webhook_key: Secret, url: impl Into<String>) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha1, webhook_key)],
            url: url.into(),
            policy: Policy::default(),
        }
    }

    /// Also accepts `webhook_key` (rotation), tried after the others.
    #[must_use]
    pub fn with_key(mut self, webhook_key: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha1, webhook_key));
        self
    }

    /// The configured URL that signatures cover.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `X-Mandrill-Signature` Mandrill would send for `form_body`,
    /// with the first key.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] when the body is not a form within the limits.
    pub fn sign(&self, form_body: &[u8]) -> Result<String, VerifyError> {
        let key = self.keys.first().ok_or(crate::SecretError::Empty)?;
        let params = sorted_params(form_body, &self.policy.limits)?;
        let mac = crate::scheme::twilio::signed_mac(key, &self.url, &params);
        Ok(crate::encoding::base64(mac.as_bytes()))
    }
}

impl std::fmt::Debug for MandrillVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The host alone: credentials (which precede the last `@` before
        // the query, even in a malformed URL) and the path never shown.
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let shown = rest.split('/').next().unwrap_or_default();
        f.debug_struct("MandrillVerifier")
            .field("keys", &self.keys.len())
            .field("url", &shown)
            .field("policy", &self.policy)
            .finish()
    }
}

fn sorted_params<'b>(body: &'b [u8], limits: &Limits) -> Result<Vec<Pair<'b>>, VerifyError> {
    let mut params = form::pairs(body, limits)?;
    params.sort_by(Pair::cmp_decoded);
    Ok(params)
}

impl crate::scheme::Authenticate for MandrillVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.policy.limits.check_body(request.body())?;
        let signature = headers::required(request.headers(), &SIGNATURE, &self.policy.limits)?;
        let params = sorted_params(request.body(), &self.policy.limits)?;
        let index = mac::find_key_with(
            self.keys.iter().enumerate(),
            Encoding::Base64,
            &std::iter::once(signature.as_bytes()),
            |key| crate::scheme::twilio::signed_mac(key, &self.url, &params),
        )?;
        Ok(Verified::new(None, None, index))
    }
}

crate::scheme::verify_methods!(MandrillVerifier);
configure_via_field!(MandrillVerifier);

impl SyncProvider for MandrillVerifier {
    const ID: Provider = Provider::Mandrill;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }

    /// Mandrill checks a webhook's URL with `HEAD` when it is saved.
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        (method == http::Method::HEAD).then_some(Reply::status(http::StatusCode::OK))
    }
}

sync_provider!(MandrillVerifier);

/// One element of `mandrill_events`: a message event (`event`), or a sync
/// event (`type` and `action`). Field names follow Mandrill's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MandrillEvent {
    /// `send`, `deferral`, `hard_bounce`, `soft_bounce`, `open`, `click`,
    /// `spam`, `unsub`, `reject`, `delivered`, `inbound`; absent on sync
    /// events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// A sync event's list: `whitelist`, `blacklist` (or `allowlist`,
    /// `denylist`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub sync_type: Option<String>,
    /// A sync event's change: `add`, `remove`, `change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The message id.
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the event happened (Unix seconds).
    #[serde(default)]
    pub ts: Timestamp,
    /// `click`: the clicked URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `open`, `click`: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `open`, `click`: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `open`, `click`: where the client was, as Mandrill guesses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Value>,
    /// `open`, `click`: the parsed user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent_parsed: Option<Value>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<MandrillMessage>,
    /// A sync event's denylist entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<MandrillListEntry>,
    /// A sync event's allowlist entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<MandrillListEntry>,
}

/// `msg`: the message an event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MandrillMessage {
    /// The message id.
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When it was sent (Unix seconds).
    #[serde(default)]
    pub ts: Timestamp,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `sent`, `bounced`, `soft-bounced`, `rejected`, `spam`, `unsub`,
    /// `deferred`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The sender's tags.
    #[serde(
        default,
        deserialize_with = "crate::provider::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// The sender's metadata.
    #[serde(
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub metadata: Map<String, Value>,
    /// Bounces: Mandrill's classification (`bad_mailbox`,
    /// `invalid_domain`, `mailbox_full`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_description: Option<String>,
    /// Bounces: the bounce code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgtools_code: Option<Value>,
    /// Bounces: the receiving server's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diag: Option<String>,
    /// The delivery attempts (`ts`, `type`, `diag`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smtp_events: Vec<MandrillSmtpEvent>,
    /// Rejections: why (`{"reason": …, "detail": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<Value>,
    /// Opens (a count, or the list of opens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<Value>,
    /// Clicks (a count, or the list of clicks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<Value>,
    /// The subaccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<String>,
    /// The template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// One delivery attempt of a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MandrillSmtpEvent {
    /// When (Unix seconds).
    #[serde(default)]
    pub ts: Timestamp,
    /// `sent`, `deferred`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The receiving server's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diag: Option<String>,
}

/// A sync event's list entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MandrillListEntry {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Why it is listed (`hard-bounce`, `spam`, `unsub`, `custom`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The subaccount the entry belongs to (Mandrill keeps deny-list
    /// entries per subaccount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<String>,
    /// The sender the entry is for, when it is sender-specific: an address,
    /// or the sender's details as Mandrill's `rejects/list` gives them (an
    /// object with `address`); kept as it comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Value>,
}

/// Parses a Mandrill form body (`mandrill_events=[…]`) without checking
/// its signature.
///
/// # Errors
///
/// [`ParseError`] when the body is not a form with one `mandrill_events`
/// field holding a JSON array, or has more events than
/// [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &Limits::default())
}

fn parse_within(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let not_form = |_| ParseError::new("the body is not a form");
    let pairs = form::pairs(body, limits).map_err(not_form)?;
    let mut fields = pairs.iter().filter(|p| p.is(b"mandrill_events"));
    let (Some(field), None) = (fields.next(), fields.next()) else {
        return Err(ParseError::new(
            "the form has no single `mandrill_events` field",
        ));
    };
    let json = form::decode(field.value);
    let max = limits.max_events_per_delivery.min(MAX_BATCH);
    batch::all(
        Provider::Mandrill,
        json.as_bytes(),
        Shape::Array,
        max,
        normalize,
    )
}

/// The reject reason of a `reject` event's `msg.reject.reason`.
fn rejected_because(reason: &str) -> RejectReason {
    match reason {
        "hard-bounce" => RejectReason::Bounced,
        // On the denylist for soft bounces, an entry that expires: the
        // address may be fine, so it is kept (as `Other`).
        "spam" => RejectReason::Spam,
        "unsub" => RejectReason::Unsubscribed,
        "invalid" | "invalid-sender" => RejectReason::Invalid,
        "custom" | "rule" => RejectReason::Blocked,
        _ => RejectReason::Other,
    }
}

fn normalize(mut native: MandrillEvent, raw: &RawValue) -> EmailEvent {
    let digest = fingerprint(&native, raw);
    let msg = native.msg.take().unwrap_or_default();
    let reject_text = |key: &str| {
        msg.reject
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (kind, reason) = match native.event.as_deref() {
        Some("send") => (EventKind::Sent, None),
        Some("delivered") => (EventKind::Delivered, None),
        Some("deferral") => (EventKind::Deferred, None),
        Some("hard_bounce" | "soft_bounce") => (EventKind::Bounced, Some(RejectReason::Bounced)),
        Some("open") => (EventKind::Opened, None),
        Some("click") => (EventKind::Clicked, None),
        Some("spam") => (EventKind::Complained, Some(RejectReason::Spam)),
        Some("unsub") => (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
        Some("reject") => (
            EventKind::Rejected,
            Some(
                reject_text("reason")
                    .as_deref()
                    .map_or(RejectReason::Other, rejected_because),
            ),
        ),
        Some("inbound") => (EventKind::Inbound, None),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Mandrill, kind, raw.to_owned());
    event.set_fingerprint(&digest);
    event.soft_bounce = native.event.as_deref() == Some("soft_bounce");
    event.timestamp = native.ts.0;
    event.reject_reason = reason;
    event.message_id = native.id.take().or(msg.id);
    let list_entry = native.reject.as_ref().or(native.entry.as_ref());
    event.recipient = msg
        .email
        .as_deref()
        .or_else(|| list_entry.and_then(|e| e.email.as_deref()))
        .and_then(bare_address);
    event.description = match kind {
        EventKind::Bounced => msg.bounce_description,
        EventKind::Rejected => reject_text("detail").or_else(|| reject_text("reason")),
        _ => None,
    };
    event.mta_response = msg.diag.filter(|d| !d.is_empty()).or_else(|| {
        msg.smtp_events
            .iter()
            .rev()
            .find_map(|e| e.diag.clone())
            .filter(|_| kind == EventKind::Deferred)
    });
    event.click_url = native.url;
    event.user_agent = native.user_agent;
    event.tags = msg.tags;
    event.metadata = msg.metadata;
    event
}

/// A digest of what tells one Mandrill event from another: nothing in it
/// changes when Mandrill resends the batch.
fn fingerprint(native: &MandrillEvent, raw: &RawValue) -> [u8; 32] {
    // An inbound message has no `_id` of its own: the message is the key
    // (Mandrill resends it unchanged).
    if native.event.as_deref() == Some("inbound") {
        return Sha256::digest(raw.get().as_bytes()).into();
    }
    let msg = native.msg.as_ref();
    let time = native.ts.0.map(|t| t.unix_timestamp_nanos().to_string());
    let entry = native.reject.as_ref().or(native.entry.as_ref());
    // A sync event's entry: why it is listed, and for which subaccount and
    // sender (Mandrill keeps entries per subaccount). Digested only where
    // there is one, so that the keys of all other events stay as they were.
    // The sender as it came: an address as written (the keys of such
    // entries are unchanged), else its JSON.
    let sender = entry.and_then(|e| e.sender.as_ref()).map(|s| match s {
        Value::String(address) => address.clone(),
        other => other.to_string(),
    });
    let listed = entry.map(|e| {
        [
            e.reason.as_deref(),
            e.subaccount.as_deref(),
            sender.as_deref(),
        ]
    });
    event::fingerprint(
        [
            native.id.as_deref(),
            msg.and_then(|m| m.id.as_deref()),
            native.event.as_deref(),
            native.sync_type.as_deref(),
            native.action.as_deref(),
            time.as_deref(),
            msg.and_then(|m| m.email.as_deref()),
            entry.and_then(|e| e.email.as_deref()),
            native.url.as_deref(),
            native.ip.as_deref(),
            native.user_agent.as_deref(),
        ]
        .into_iter()
        .chain(listed.into_iter().flatten()),
    )
}

const NEEDS: &str = "--secret WEBHOOK_KEY and --url (the webhook URL as configured in Mandrill)";

/// The verifier for the configured URL with every webhook key given (one per webhook, or a rotation).
fn verifier(settings: &Settings) -> Result<MandrillVerifier, SetupError> {
    let url = settings.url.clone().ok_or(SetupError::Missing(NEEDS))?;
    Settings::rotating(
        &settings.secrets,
        NEEDS,
        |s| Secret::from_bytes(s),
        |key| MandrillVerifier::new(key, url),
        MandrillVerifier::with_key,
    )
}

/// A batch of one Mandrill event of `kind`, signed for the configured URL;
/// tampered: a letter of the recipient changed after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, state, extra) = match sim.kind {
        EventKind::Sent => ("send", "sent", serde_json::json!({})),
        EventKind::Delivered => ("delivered", "sent", serde_json::json!({})),
        EventKind::Deferred => (
            "deferral",
            "deferred",
            serde_json::json!({"smtp_events": [{"ts": sim.now, "type": "deferred", "diag": "451 4.7.1 Please try again later"}]}),
        ),
        EventKind::Bounced => (
            "hard_bounce",
            "bounced",
            serde_json::json!({"bounce_description": "bad_mailbox", "bgtools_code": 10, "diag": "smtp;550 5.1.1 user unknown"}),
        ),
        EventKind::Rejected => (
            "reject",
            "rejected",
            serde_json::json!({"reject": {"reason": "hard-bounce", "detail": "the address bounced before"}}),
        ),
        EventKind::Opened | EventKind::Clicked => ("open", "sent", serde_json::json!({})),
        EventKind::Complained => ("spam", "spam", serde_json::json!({})),
        EventKind::Unsubscribed => ("unsub", "unsub", serde_json::json!({})),
        other => return Err(SetupError::Unsupported(other)),
    };
    let id = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..16]);
    let msg = serde_json::json!({"_id": id, "ts": sim.now, "email": sim.recipient,
        "sender": "sender@example.com", "subject": "Hello", "state": state,
        "tags": ["simulated"], "metadata": {"user_id": "42"}});
    let msg = crate::provider::with_fields(msg, extra);
    let mut element = serde_json::json!({"event": event, "_id": id, "ts": sim.now, "msg": msg});
    if sim.kind == EventKind::Clicked {
        element["event"] = "click".into();
        element["url"] = "https://example.com/".into();
    }
    if matches!(sim.kind, EventKind::Opened | EventKind::Clicked) {
        element["ip"] = "192.0.2.1".into();
        element["user_agent"] = "Mozilla/5.0".into();
    }
    let events = Value::Array(vec![element]).to_string();
    Ok(format!("mandrill_events={}", form::encode(&events)).into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    signed(sim, sim.body_or(sample)?)
}

/// `body` posted as Mandrill posts it, signed with the first key for the
/// configured URL; tampered: a letter of the recipient changed after
/// signing.
fn signed(sim: &Simulation<'_>, body: Vec<u8>) -> Result<Simulated, SetupError> {
    let signature = verifier(sim.settings)?.sign(&body)?;
    let mut delivery = Simulated {
        headers: vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("X-Mandrill-Signature".to_owned(), signature),
        ],
        body,
        query: None,
    };
    if sim.tamper {
        delivery.alter_body(form::encode(sim.recipient).as_bytes(), 0);
    }
    Ok(delivery)
}

/// Mandrill's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Mandrill (Mailchimp Transactional)",
    authenticated_by: "`X-Mandrill-Signature`: HMAC-SHA1 (base64) with the webhook key",
    event_id: "none: a digest of message id, event, time, recipient and click details",
    signed: "the configured URL and the sorted form (`mandrill_events`)",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: Some(&INBOUND),
};

/// Mandrill's inbound webhook: the messages an inbound route received,
/// posted and signed as the event webhooks are (`mandrill_events`, a JSON
/// array; `X-Mandrill-Signature` over the URL and the form), each an
/// `inbound` event whose `msg.raw_msg` is the whole message; `msg.email`
/// is the address it was received for, `msg.spam_report.score`
/// SpamAssassin's score. Events of other kinds are skipped.
/// Source: <https://mailchimp.com/developer/transactional/docs/webhooks/#inbound-messages>.
///
/// # Errors
///
/// [`ParseError`] when the body is not such a form or holds no inbound
/// event. An event that cannot be read (no raw message, over a limit) is
/// an [`unreadable`](crate::InboundMessage::unreadable) message, and the
/// others are read.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<Vec<crate::InboundMessage>, ParseError> {
    limits.check_body(body)?;
    let form_limits = Limits::default().with_max_body_bytes(limits.max_body_bytes);
    let not_form = |_| ParseError::new("the body is not a form");
    let pairs = form::pairs(body, &form_limits).map_err(not_form)?;
    let mut fields = pairs.iter().filter(|p| p.is(b"mandrill_events"));
    let (Some(field), None) = (fields.next(), fields.next()) else {
        return Err(ParseError::new(
            "the form has no single `mandrill_events` field",
        ));
    };
    let json = form::decode(field.value);
    crate::inbound::check_json_values(json.as_bytes())?;
    let raws = batch::elements(json.as_bytes(), Shape::Array, MAX_BATCH)?;
    let elements = raws.iter().map(|raw| raw.get());
    let messages = crate::inbound::batch(Provider::Mandrill, elements, |raw| {
        inbound_event(raw, limits)
    });
    if messages.is_empty() {
        return Err(ParseError::new("the batch has no inbound message"));
    }
    Ok(messages)
}

/// One element of an inbound batch: its message, or `None` for an event
/// of another kind.
fn inbound_event(
    raw: &str,
    limits: &crate::InboundLimits,
) -> Result<Option<crate::InboundMessage>, ParseError> {
    let mut event: Value =
        serde_json::from_str(raw).map_err(|e| ParseError::json("an event is not JSON", &e))?;
    if event.get("event").and_then(Value::as_str) != Some("inbound") {
        return Ok(None);
    }
    // The message moved out of the JSON, not copied: it is most of it.
    let Value::String(raw_msg) = event
        .pointer_mut("/msg/raw_msg")
        .map(Value::take)
        .unwrap_or_default()
    else {
        return Err(ParseError::new("an inbound event has no msg.raw_msg"));
    };
    let msg = event.get("msg").unwrap_or(&Value::Null);
    let mut message =
        crate::InboundMessage::from_mime_owned(Provider::Mandrill, raw_msg.into_bytes(), limits)?;
    message.set_envelope_recipients(msg.get("email").and_then(Value::as_str).map(str::to_owned));
    message.timestamp = event
        .get("ts")
        .and_then(Value::as_i64)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
    if let Some(score) = msg.pointer("/spam_report/score").and_then(Value::as_f64) {
        message.spam_score = Some(score);
    }
    Ok(Some(message))
}

/// Mandrill's inbound webhook in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "`X-Mandrill-Signature` with the inbound route's webhook key, over the URL and the form, as the event webhooks",
    shape: "a form: `mandrill_events`, a JSON array of `inbound` events with the raw message",
    parse: |request, limits| parse_inbound(request.body(), limits),
    build: |settings| Ok(INBOUND.verified_by(settings, verifier(settings)?)),
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: true,
};

/// A Mandrill inbound batch of one message for `sim.recipient`, signed for
/// the configured URL; tampered: a letter of the recipient changed.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let raw_msg = format!(
        "Message-ID: <{}@example.net>\r\nFrom: A Customer <customer@example.net>\r\nTo: {}\r\nSubject: Re: your order\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nThanks!\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\norder 42\r\n--m--\r\n",
        sim.event_id, sim.recipient
    );
    let events = serde_json::json!([{"event": "inbound", "ts": sim.now, "msg": {
        "raw_msg": raw_msg, "email": sim.recipient, "from_email": "customer@example.net",
        "from_name": "A Customer", "subject": "Re: your order", "text": "Thanks!",
        "spam_report": {"score": 0.1, "matched_rules": []}}}])
    .to_string();
    let body = sim.body.map_or_else(
        || format!("mandrill_events={}", form::encode(&events)).into_bytes(),
        <[u8]>::to_vec,
    );
    signed(sim, body)
}
