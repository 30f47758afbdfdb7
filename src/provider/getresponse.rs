//! GetResponse webhooks: no signature. GetResponse authenticates a webhook
//! only by a secret you put in its URL's query (`https://host/hook?secret=…`;
//! the parameter's name and value are yours to choose).
//!
//! - Authenticated by: [`UrlSecret`] (query parameter `secret` by default,
//!   configurable; constant time; several secrets for rotation; never
//!   printed). The request's public URL must be known
//!   ([`Request::with_url`]; the adapters build it from a configured
//!   [`PublicUrl`](crate::adapters)).
//! - Signed: nothing. Anyone who learns the URL can forge events; use HTTPS
//!   and keep the secret out of access logs.
//! - Headers: `X-Webhook-ID` (a UUID per event, the same on every retry: the
//!   event id and so the idempotency key; a delivery without it, or with it
//!   repeated, is refused), `X-Webhook-Type` (the payload's
//!   `type`), `X-Request-ID` (new on every attempt; not used).
//! - Answer: GetResponse counts a delivery as received only when the answer
//!   is 2xx **with the body `{"status":"OK"}`** within 5 seconds; a 2xx
//!   without it is retried. It retries 429, 5xx and timeouts (3 more times
//!   at increasing intervals) and gives up on other 4xx, so a refusal is
//!   final and a transient failure answers 5xx. [`EmailProvider::reply`](crate::provider::EmailProvider::reply)
//!   answers exactly that.
//! - Events: `contact_opened_message` → [`EventKind::Opened`],
//!   `contact_clicked_message_link` → [`EventKind::Clicked`] (the link in
//!   `clickTrack.url`), `contact_added` → [`EventKind::Subscribed`],
//!   `contact_removed_link` (unsubscribed through the link) →
//!   [`EventKind::Unsubscribed`], `contact_removed_bounce` →
//!   [`EventKind::Bounced`]; every other type (contact copied, moved,
//!   custom field changed, SMS link clicked, …) is [`EventKind::Unknown`]
//!   with its JSON kept. The contact's, message's, list's ("campaign" in
//!   GetResponse's words) and account's ids and names go to
//!   [`EmailEvent::metadata`].
//! - Body: one JSON object per request. An array of events is accepted too
//!   (third-party reports mention batches); its events are keyed by a digest
//!   of their own JSON, since one `X-Webhook-ID` cannot name several events.
//! - Setup: no handshake; the webhook posts once created.
//!
//! Sources: GetResponse API v3, "Webhooks"
//! (<https://apidocs.getresponse.com/v3/webhooks>) and "Webhook payloads"
//! (<https://apidocs.getresponse.com/v3/payloads>).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{ParseError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::headers::{self, Headers, Name};
use crate::limits::Limits;
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    Answer, DynProvider, ProviderInfo, Received, Reply, Settings, SetupError, Simulated,
    Simulation, Timestamp,
};
use crate::request::Request;
use crate::scheme::Authenticate as _;
use crate::scheme::url_secret::UrlSecret;
use crate::secret::Secret;
use crate::verified::Verified;

static WEBHOOK_ID: Name = Name::from_static("x-webhook-id");

/// The body GetResponse requires with a 2xx answer, or it retries.
pub const ACKNOWLEDGEMENT: &str = r#"{"status":"OK"}"#;

/// Checks GetResponse's URL secret and parses its events.
#[derive(Debug)]
pub struct GetresponseVerifier {
    secret: UrlSecret,
    policy: Policy,
}

impl GetresponseVerifier {
    /// A verifier requiring `secret` in the webhook URL's query.
    #[must_use]
    pub fn new(secret: UrlSecret) -> Self {
        Self {
            secret,
            policy: Policy::default(),
        }
    }

    /// Checks the body size, the URL secret and the event id header. The
    /// result's [`key_index`](Verified::key_index) is the matching secret.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Unauthorized`] without the URL or with a missing or
    /// wrong secret, [`VerifyError::BodyTooLarge`] over the limit,
    /// [`VerifyError::MissingHeader`] without one clean `X-Webhook-Id`.
    pub fn verify<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.authenticate(request)
    }
}

impl crate::scheme::Authenticate for GetresponseVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.policy.limits.check_body(request.body())?;
        let proof = self.secret.authenticate(request)?;
        // GetResponse always sends the event id; without it a retry could
        // not be recognized, so the delivery is refused. A single event's
        // id must be one clean header.
        let id = headers::required(request.headers(), &WEBHOOK_ID, &self.policy.limits)?;
        if id.trim().is_empty() {
            return Err(VerifyError::MissingHeader {
                name: WEBHOOK_ID.error_name(),
            });
        }
        Ok(proof)
    }
}

configure_via_field!(GetresponseVerifier);

impl SyncProvider for GetresponseVerifier {
    const ID: Provider = Provider::Getresponse;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        let events = parse_within(request.headers(), request.body(), limits)?;
        Ok(Received::events(events))
    }

    /// 200 with `{"status":"OK"}` once the delivery is handled (a bare 2xx
    /// is retried); otherwise the status alone: GetResponse retries 5xx and
    /// gives up on a 4xx refusal.
    fn reply(&self, answer: Answer) -> Reply {
        Reply::acknowledged(answer, ACKNOWLEDGEMENT)
    }
}

sync_provider!(GetresponseVerifier);

/// A GetResponse webhook payload. Field names follow GetResponse's
/// (camelCase); what a type does not carry is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseEvent {
    /// The event type: `contact_opened_message`,
    /// `contact_clicked_message_link`, `contact_added`, … (unknown types
    /// are kept).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<GetresponseContact>,
    /// The message opened or clicked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<GetresponseMessage>,
    /// The link clicked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_track: Option<GetresponseClickTrack>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<GetresponseAccount>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<GetresponseOccurrence>,
}

/// A contact in a GetResponse payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseContact {
    /// The contact's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The contact's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The contact's name (may be null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The list ("campaign") the contact is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<GetresponseCampaign>,
}

/// A list ("campaign" in GetResponse's words).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseCampaign {
    /// The list's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The list's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A message (newsletter, autoresponder, RSS newsletter).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseMessage {
    /// `newsletters`, `autoresponders`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The message's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The message's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A tracked link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseClickTrack {
    /// The link's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_track_id: Option<String>,
    /// The link's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The link's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The account a payload belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseAccount {
    /// The account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// When an event happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GetresponseOccurrence {
    /// The time, RFC 3339 with an offset.
    #[serde(default)]
    pub occurred_at: Timestamp,
}

/// Parses a GetResponse body (one event object, or an array of them)
/// without checking the secret; `headers` give the event id
/// (`X-Webhook-ID`).
///
/// # Errors
///
/// [`ParseError`] when the body is neither, or has more events than
/// [`Limits::max_events_per_delivery`].
pub fn parse<H: Headers + ?Sized>(headers: &H, body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(headers, body, &Limits::default())
}

fn parse_within<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<EmailEvent>, ParseError> {
    let single = body.trim_ascii_start().starts_with(b"{");
    // A repeated or malformed id header is refused: which copy names the
    // event is ambiguous, and the id is the idempotency key.
    let webhook_id = headers::optional(headers, &WEBHOOK_ID, limits)
        .map_err(|_| ParseError::new("the X-Webhook-ID header is repeated or malformed"))?
        .filter(|id| !id.is_empty());
    let raws = batch::elements(body, Shape::ObjectOrArray, limits.max_events_per_delivery)?;
    Ok(raws
        .into_iter()
        .map(|raw| {
            let mut event = match serde_json::from_str::<GetresponseEvent>(raw.get()) {
                Ok(native) => normalize(native, raw.to_owned()),
                Err(_) => {
                    EmailEvent::new(Provider::Getresponse, EventKind::Unknown, raw.to_owned())
                }
            };
            match webhook_id {
                Some(id) if single => event.event_id = Some(id.to_owned()),
                _ => event.set_fingerprint(&Sha256::digest(raw.get().as_bytes())),
            }
            event
        })
        .collect())
}

fn normalize(native: GetresponseEvent, raw: Box<RawValue>) -> EmailEvent {
    let (kind, reason) = match native.event_type.as_str() {
        "contact_opened_message" => (EventKind::Opened, None),
        "contact_clicked_message_link" => (EventKind::Clicked, None),
        "contact_added" => (EventKind::Subscribed, None),
        "contact_removed_link" => (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
        "contact_removed_bounce" => (EventKind::Bounced, Some(RejectReason::Bounced)),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Getresponse, kind, raw);
    event.reject_reason = reason;
    event.timestamp = native.event.and_then(|e| e.occurred_at.0);
    // The fields move out of the native event.
    let mut metadata = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            metadata.insert(name.to_owned(), Value::String(value));
        }
    };
    if let Some(contact) = native.contact {
        event.recipient = contact.email.as_deref().and_then(bare_address);
        put("contact_id", contact.contact_id);
        put("contact_name", contact.name);
        if let Some(campaign) = contact.campaign {
            put("campaign_id", campaign.campaign_id);
            put("campaign_name", campaign.name);
        }
    }
    if let Some(message) = native.message {
        event.message_id = message.resource_id;
        put("message_resource_type", message.resource_type);
        put("message_name", message.name);
        put("message_subject", message.subject);
    }
    if let Some(click) = native.click_track {
        event.click_url = click.url;
        put("click_track_id", click.click_track_id);
        put("click_track_name", click.name);
    }
    if let Some(account) = native.account {
        put("account_id", account.account_id);
    }
    event.metadata = metadata;
    event
}

fn build(settings: &Settings) -> Result<Box<dyn DynProvider>, SetupError> {
    let read = |s: &str| Secret::from_bytes(s);
    let new = |secret: Secret| UrlSecret::new(&secret);
    let mut guard = Settings::rotating(&settings.secrets, NEEDS, read, new, |guard, secret| {
        guard.with_secret(&secret)
    })?;
    if let Some(name) = &settings.url_param {
        guard = guard.with_param_name(name.clone());
    }
    Ok(settings.boxed(GetresponseVerifier::new(guard)))
}

/// A GetResponse webhook of `kind` with its headers and the URL secret in
/// the query; tampered: a wrong secret.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let event_type = match sim.kind {
        EventKind::Opened => "contact_opened_message",
        EventKind::Clicked => "contact_clicked_message_link",
        EventKind::Subscribed => "contact_added",
        EventKind::Unsubscribed => "contact_removed_link",
        EventKind::Bounced => "contact_removed_bounce",
        other => return Err(SetupError::Unsupported(other)),
    };
    let mut body = serde_json::json!({
        "type": event_type,
        "contact": {"contactId": "c1", "email": sim.recipient, "name": null,
                    "campaign": {"campaignId": "l1", "name": "newsletter"}},
        "account": {"accountId": "a1"},
        "event": {"occurredAt": sim.rfc3339()},
    });
    if matches!(sim.kind, EventKind::Opened | EventKind::Clicked) {
        body["message"] = serde_json::json!({"resourceType": "newsletters", "resourceId": "m1",
            "name": "news", "subject": "News"});
    }
    if sim.kind == EventKind::Clicked {
        body["clickTrack"] = serde_json::json!({"clickTrackId": "t1", "name": "link", "url": "https://example.com/"});
    }
    Ok(body.to_string().into_bytes())
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    // The `X-Webhook-Type` header repeats the body's `type`.
    let event_type = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let secret = if sim.tamper { "not-the-secret" } else { secret };
    let param = sim
        .settings
        .url_param
        .as_deref()
        .unwrap_or(crate::scheme::url_secret::DEFAULT_PARAM);
    let mut delivery = Simulated::json(
        body,
        vec![
            ("X-Webhook-Type".to_owned(), event_type),
            ("X-Webhook-ID".to_owned(), sim.event_id.to_owned()),
            ("X-Request-ID".to_owned(), sim.attempt.to_owned()),
        ],
    );
    delivery.query = Some(format!("{}={}", query_escape(param), query_escape(secret)));
    Ok(delivery)
}

/// Percent-encodes a query component.
fn query_escape(text: &str) -> String {
    use std::fmt::Write as _;
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

const NEEDS: &str = "--secret S (the secret in the webhook URL's query) and --url URL";

/// GetResponse's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "GetResponse",
    authenticated_by: "a secret query parameter in the webhook URL (default `secret`)",
    event_id: "the `X-Webhook-ID` header",
    signed: "nothing",
    replay_window: "none",
    parse: |request| parse(request.headers(), request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: None,
};
