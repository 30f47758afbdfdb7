//! SMTP2GO webhooks: no signature.
//!
//! - Authenticated by: [`Credentials`](crate::scheme::credentials::Credentials): the `Authorization` header
//!   SMTP2GO can add to each webhook (basic, or a bearer token), or the
//!   basic-auth credentials of the webhook URL.
//! - Signed: nothing; no time is signed, so there is no replay window.
//! - Body: one event per request, as JSON or as a form
//!   (`application/x-www-form-urlencoded`, SMTP2GO's default output),
//!   told apart by the content type (or, without one, by the first byte);
//!   both are read, the form's fields becoming the event's raw JSON.
//! - Events: `processed` → [`EventKind::Queued`], `delivered`, `open`,
//!   `click`, `bounce` → [`EventKind::Bounced`] (marked soft when `bounce`
//!   is `soft`), `spam` → [`EventKind::Complained`], `unsubscribe` →
//!   [`EventKind::Unsubscribed`], `resubscribe` →
//!   [`EventKind::Subscribed`], `reject` → [`EventKind::Rejected`]. Live
//!   payloads are reported with other spellings (`opened`, `clicked`,
//!   `unsubscribed`, `spam_complaint`): both are read. Anything else is
//!   [`EventKind::Unknown`] with its JSON kept.
//! - Fields: `email_id` (the message), `rcpt` (the recipient), `time`
//!   (RFC 3339 or Unix seconds), `message` (the error text), `host` (the
//!   server that bounced), `user-agent`, the clicked link (`click_url`,
//!   `link` or `url`), `subject`.
//! - Event id: none. The idempotency key digests every field that can tell
//!   two events apart (message, event, recipient, time, link, bounce kind
//!   and text, client) and none that changes between attempts.
//! - Retries: a delivery not answered 2xx within 10 s is retried, 5 times
//!   in the first 30 minutes, then less often for up to 48 hours; failures
//!   can be retried from the dashboard.
//! - Acknowledgement: any 2xx within 10 seconds.
//! - Setup: no handshake; the settings page's "Test this webhook" posts a
//!   sample event for each selected type.
//!
//! Sources: SMTP2GO, "Webhooks"
//! <https://developers.smtp2go.com/docs/webhooks-overview>, "Set up a
//! webhook" <https://developers.smtp2go.com/docs/setup-a-webhook>, and the
//! support article "Webhooks"
//! <https://support.smtp2go.com/hc/en-gb/articles/223087967-Webhooks>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ParseError;
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::form;
use crate::limits::Limits;
use crate::provider::batch;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{ProviderInfo, Received, SetupError, Simulation, Timestamp};
use crate::request::Request;

static CONTENT_TYPE: crate::headers::Name = crate::headers::Name::from_static("content-type");

crate::scheme::credentials::credentials_verifier!(
    /// Checks SMTP2GO's credentials and parses its events.
    Smtp2goVerifier
);

impl SyncProvider for Smtp2goVerifier {
    const ID: Provider = Provider::Smtp2go;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_request(request, limits)?))
    }
}

sync_provider!(Smtp2goVerifier);

/// One SMTP2GO event. Field names follow SMTP2GO's (with their hyphens).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Smtp2goEvent {
    /// `processed`, `delivered`, `open`, `click`, `bounce`, `spam`,
    /// `unsubscribe`, `resubscribe`, `reject`.
    pub event: String,
    /// When it happened (SMTP2GO writes UTC without an offset:
    /// `2026-10-06 12:34:56`).
    #[serde(default, deserialize_with = "crate::provider::timestamp::utc")]
    pub time: Timestamp,
    /// When the message reached SMTP2GO.
    #[serde(default)]
    pub sendtime: Timestamp,
    /// SMTP2GO's id for the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    /// The recipient of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcpt: Option<String>,
    /// The envelope sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Bounces: `hard` or `soft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<String>,
    /// The error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Bounces: the server that bounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Extra information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Opens and clicks: the client's user agent.
    #[serde(
        rename = "user-agent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_agent: Option<String>,
    /// Clicks: the original link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_url: Option<String>,
    /// Clicks: the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Clicks: the link (another spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Opens and clicks: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srchost: Option<String>,
}

/// Parses an SMTP2GO body (JSON, or a form when `content_type` says so)
/// without checking credentials.
///
/// # Errors
///
/// [`ParseError`] when the body is neither.
pub fn parse_request(
    request: &Request<'_>,
    limits: &Limits,
) -> Result<Vec<EmailEvent>, ParseError> {
    let content_type = crate::headers::optional(request.headers(), &CONTENT_TYPE, limits)
        .ok()
        .flatten();
    let body = request.body();
    let is_form = match content_type {
        Some(t) => form::is_form(Some(t)),
        None => !body.trim_ascii_start().starts_with(b"{"),
    };
    if is_form {
        return parse_form(body, limits);
    }
    parse(body)
}

/// Parses an SMTP2GO JSON body without checking credentials.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    batch::one(Provider::Smtp2go, body, normalize)
}

/// A form body's fields as a JSON object (a repeated field as a list),
/// then parsed as JSON is.
fn parse_form(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let pairs = form::pairs(body, limits)
        .map_err(|_| ParseError::new("malformed form encoding or too many parameters"))?;
    let mut fields = Map::new();
    for pair in &pairs {
        let (name, value) = (
            form::decode(pair.name),
            Value::String(form::decode(pair.value)),
        );
        match fields.get_mut(&name) {
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                fields.insert(name, value);
            }
        }
    }
    let text = Value::Object(fields).to_string();
    let raw: Box<RawValue> = RawValue::from_string(text)
        .map_err(|e| ParseError::json("the form cannot be written as JSON", &e))?;
    Ok(vec![batch::native_or_unknown(
        Provider::Smtp2go,
        &raw,
        normalize,
    )])
}

fn normalize(native: Smtp2goEvent, raw: &RawValue) -> EmailEvent {
    let (kind, reason) = match native.event.as_str() {
        "processed" => (EventKind::Queued, None),
        "delivered" => (EventKind::Delivered, None),
        "open" | "opened" => (EventKind::Opened, None),
        "click" | "clicked" => (EventKind::Clicked, None),
        "bounce" | "bounced" => (EventKind::Bounced, Some(RejectReason::Bounced)),
        "spam" | "spam_complaint" => (EventKind::Complained, Some(RejectReason::Spam)),
        "unsubscribe" | "unsubscribed" => {
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed))
        }
        "resubscribe" | "resubscribed" => (EventKind::Subscribed, None),
        "reject" | "rejected" => (EventKind::Rejected, Some(RejectReason::Other)),
        _ => (EventKind::Unknown, None),
    };
    let link = native
        .click_url
        .clone()
        .or_else(|| native.link.clone())
        .or_else(|| native.url.clone());
    // An unreadable time must not merge distinct events: then the whole
    // event is the key.
    let time = match native.time.0 {
        Some(t) => t.unix_timestamp_nanos().to_string(),
        None => crate::encoding::hex(&Sha256::digest(raw.get().as_bytes())),
    };
    let mut event = EmailEvent::new(Provider::Smtp2go, kind, raw.to_owned());
    event.set_fingerprint(&event::fingerprint(
        [
            Some(native.event.as_str()),
            native.email_id.as_deref(),
            native.rcpt.as_deref(),
            Some(time.as_str()),
            link.as_deref(),
            native.bounce.as_deref(),
            native.message.as_deref(),
            native.host.as_deref(),
            native.user_agent.as_deref(),
            native.srchost.as_deref(),
        ]
        .into_iter()
        // Digested only where present, so that the keys of events without it
        // stay as they were.
        .chain(native.context.as_deref().map(Some)),
    ));
    event.soft_bounce = kind == EventKind::Bounced && native.bounce.as_deref() == Some("soft");
    event.reject_reason = reason;
    event.timestamp = native.time.0;
    event.message_id = native.email_id;
    event.recipient = native.rcpt.as_deref().and_then(bare_address);
    event.description = native.context;
    event.mta_response = native.message.filter(|m| !m.is_empty());
    event.click_url = link;
    event.user_agent = native.user_agent;
    event
}

const NEEDS: &str = "--basic-auth USER:PASS or --secret BEARER_TOKEN (as set on the webhook)";

/// One SMTP2GO event of `kind` as JSON with the configured credentials;
/// tampered: wrong credentials.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, extra) = match sim.kind {
        EventKind::Queued => ("processed", serde_json::json!({})),
        EventKind::Delivered => ("delivered", serde_json::json!({"message": "250 2.0.0 OK"})),
        EventKind::Opened => (
            "open",
            serde_json::json!({"user-agent": "Mozilla/5.0", "srchost": "192.0.2.1"}),
        ),
        EventKind::Clicked => (
            "click",
            serde_json::json!({"user-agent": "Mozilla/5.0", "srchost": "192.0.2.1", "click_url": "https://example.com/"}),
        ),
        EventKind::Bounced => (
            "bounce",
            serde_json::json!({"bounce": "hard", "host": "mx.example.com", "message": "550 5.1.1 user unknown"}),
        ),
        EventKind::Complained => ("spam", serde_json::json!({})),
        EventKind::Unsubscribed => ("unsubscribe", serde_json::json!({})),
        EventKind::Subscribed => ("resubscribe", serde_json::json!({})),
        EventKind::Rejected => (
            "reject",
            serde_json::json!({"message": "the address is on the suppression list"}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..10]);
    let body = serde_json::json!({"event": event, "time": sim.rfc3339(), "sendtime": sim.rfc3339(),
        "email_id": format!("1{digest}"), "rcpt": sim.recipient, "recipients": [sim.recipient],
        "sender": "sender@example.com", "from": "sender@example.com", "subject": "Hello"});
    Ok(crate::provider::with_fields(body, extra)
        .to_string()
        .into_bytes())
}

/// SMTP2GO's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "SMTP2GO",
    authenticated_by: "an `Authorization` header set on the webhook (basic or bearer)",
    event_id: "none: a digest of every field that tells two events apart",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse_request(request, &Limits::default()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(Smtp2goVerifier::new(s.credentials(NEEDS)?))),
    simulate: |sim| sim.with_credentials(sample, NEEDS),
    inbound: None,
};
