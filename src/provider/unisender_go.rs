//! Unisender Go (the UniOne platform) webhooks.
//!
//! - Authenticated by: the body's own `auth` field, the lowercase hex MD5
//!   of the body **as sent** with that field's value replaced by your API
//!   key (the user's key, or the project's where the webhook belongs to a
//!   project). The check replaces the bytes of the top-level `auth` value
//!   in the raw body (found by the JSON parser, never by a text search
//!   that a field of the payload could match) and hashes the three parts
//!   as they are: it never re-serializes, so it does not depend on JSON
//!   formatting (Unisender Go escapes `/` as `\/`, which re-encoding loses,
//!   the reason its PHP and Ruby SDKs fail on clicks). The comparison is in
//!   constant time; several keys for rotation.
//! - Signed: the body (MD5 keyed by substitution, a weak construction:
//!   prefer HTTPS and basic auth in the URL on top where you can). No time
//!   is signed, so there is no replay window.
//! - Body: `{"auth", "events_by_user": [{"user_id", "project_id",
//!   "events": [{"event_name", "event_data"}]}]}`, up to 100 events per
//!   call by default and bounded by [`Limits::max_events_per_delivery`]
//!   across all users; or, with the webhook's `single_event` set, one flat
//!   object (the event's fields beside `event_name` and `auth`). Both are
//!   read. Compressed bodies (`json_post_gzip`) are not: configure
//!   `json_post`.
//! - Events: `transactional_email_status` by its `status`: `sent`,
//!   `delivered`, `opened`, `clicked`, `unsubscribed`, `subscribed`,
//!   `soft_bounced` → [`EventKind::Deferred`] (Unisender Go keeps trying
//!   for up to 48 hours, then reports `delivered` or `hard_bounced`),
//!   `hard_bounced` → [`EventKind::Bounced`], `spam` →
//!   [`EventKind::Complained`]. `transactional_spam_block` (a sending
//!   domain blocked or unblocked) and anything else is
//!   [`EventKind::Unknown`] with its JSON kept.
//! - Fields: `job_id` (the message), `email`, `event_time` (`YYYY-MM-DD
//!   hh:mm:ss`, UTC), `url`, `metadata`, and, where the webhook asks for
//!   `delivery_info`, `delivery_status` (an `err_…` code gives the reject
//!   reason; a hard bounce for a spam rejection, a blocklist, a full
//!   mailbox, or a message too large, skipped, lost or failed otherwise is
//!   a soft bounce, the address having not failed), `destination_response` (the
//!   receiving server's answer),
//!   `user_agent`.
//! - Event id: none (the `ID` header changes with every call). The
//!   idempotency key digests every field that tells two events apart
//!   (message, recipient, status, time, URL, delivery status and answer,
//!   client) and none that changes between calls.
//! - Setup: Unisender Go checks the URL with a `GET` when the webhook is
//!   set or made active: answered 200 ([`EmailProvider::probe`](crate::provider::EmailProvider::probe)).
//! - Retries: a call not answered 200 within 3 seconds is made again,
//!   every 10 minutes for 24 hours; a webhook failing for 24 hours (10
//!   distinct events at least) is stopped.
//!
//! Sources: Unisender Go, "Web API: callback format"
//! <https://godocs.unisender.ru/web-api-ref#callback-format> and "Email
//! statuses" <https://godocs.unisender.ru/email-statuses> (its UniOne
//! twin: <https://docs.unione.io/en/web-api-ref#callback-format>); the
//! official UniOne SDKs' callback models (`unione-repo/unione-csharp`
//! `CallbackData.cs`, `WebhookData.cs`).

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::error::{ParseError, SecretError, VerifyError};
use crate::event::{self, EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::limits::Limits;
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch::{self, Shape};
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{ProviderInfo, Received, Reply, Settings, SetupError, Simulated, Simulation};
use crate::request::Request;
use crate::secret::Secret;
use crate::verified::Verified;

/// Checks Unisender Go's `auth` field and parses its events.
#[derive(Debug)]
pub struct UnisenderGoVerifier {
    keys: Vec<Secret>,
    policy: Policy,
}

impl UnisenderGoVerifier {
    /// A verifier with the API key the webhook belongs to (the user's, or
    /// the project's).
    #[must_use]
    pub fn new(api_key: Secret) -> Self {
        Self {
            keys: vec![api_key],
            policy: Policy::default(),
        }
    }

    /// Also accepts `api_key` (rotation, or another project's).
    #[must_use]
    pub fn with_key(mut self, api_key: Secret) -> Self {
        self.keys.push(api_key);
        self
    }

    /// The `auth` value Unisender Go would put in `body` (whose `auth`
    /// field holds anything, such as an empty string), with the first key.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] when the body has no top-level string `auth`.
    pub fn sign(&self, body: &[u8]) -> Result<String, VerifyError> {
        let key = self.keys.first().ok_or(SecretError::Empty)?;
        let (start, end) = auth_span(body)?;
        Ok(crate::encoding::hex(&digest_with(
            body,
            start,
            end,
            key.expose(),
        )))
    }
}

/// The byte range of the top-level `auth` value's text (inside its
/// quotes), as the JSON parser found it.
fn auth_span(body: &[u8]) -> Result<(usize, usize), VerifyError> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        auth: Option<&'a RawValue>,
    }
    let malformed = || VerifyError::InvalidPayload {
        detail: "the body is not a JSON object",
    };
    let head: Head<'_> = serde_json::from_slice(body).map_err(|_| malformed())?;
    let raw = head.auth.ok_or(VerifyError::Unauthorized)?.get();
    // A borrowed RawValue is a slice of `body`: its offset is exact.
    let start = (raw.as_ptr() as usize)
        .checked_sub(body.as_ptr() as usize)
        .ok_or_else(malformed)?;
    let end = start + raw.len();
    let text = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or(VerifyError::Unauthorized)?;
    if text.contains('\\') || end > body.len() {
        return Err(VerifyError::Unauthorized);
    }
    Ok((start + 1, end - 1))
}

/// MD5 of `body` with `start..end` replaced by `key`.
fn digest_with(body: &[u8], start: usize, end: usize, key: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(&body[..start]);
    md5.update(key);
    md5.update(&body[end..]);
    md5.finalize().into()
}

impl crate::scheme::Authenticate for UnisenderGoVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let body = request.body();
        self.policy.limits.check_body(body)?;
        let (start, end) = auth_span(body)?;
        let mut buf = [0u8; crate::encoding::SIGNATURE_BUF];
        let given = crate::encoding::hex_into(&body[start..end], &mut buf)
            .filter(|d| d.len() == 16)
            .ok_or(VerifyError::InvalidSignature)?;
        let mut found = None;
        for (index, key) in self.keys.iter().enumerate() {
            let expected = digest_with(body, start, end, key.expose());
            if bool::from(expected.ct_eq(given)) && found.is_none() {
                found = Some(index);
            }
        }
        let index = found.ok_or(VerifyError::InvalidSignature)?;
        Ok(Verified::new(None, None, index))
    }
}

crate::scheme::verify_methods!(UnisenderGoVerifier);
configure_via_field!(UnisenderGoVerifier);

impl SyncProvider for UnisenderGoVerifier {
    const ID: Provider = Provider::UnisenderGo;

    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse_within(request.body(), limits)?))
    }

    /// Unisender Go checks a webhook's URL with `GET` when it is set.
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        (method == http::Method::GET || method == http::Method::HEAD)
            .then_some(Reply::status(http::StatusCode::OK))
    }
}

sync_provider!(UnisenderGoVerifier);

/// One Unisender Go event: `event_name` and its `event_data` (in
/// single-event mode the data's fields sit beside `event_name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnisenderGoEvent {
    /// `transactional_email_status` or `transactional_spam_block`.
    #[serde(default)]
    pub event_name: String,
    /// The event's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_data: Option<UnisenderGoEventData>,
}

/// The fields of a `transactional_email_status` event (and, kept as they
/// are, those of a spam block).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnisenderGoEventData {
    /// The message's id (what `email/send` returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `sent`, `delivered`, `opened`, `clicked`, `unsubscribed`,
    /// `subscribed`, `soft_bounced`, `hard_bounced`, `spam`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When (`YYYY-MM-DD hh:mm:ss`, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// Opens and clicks: the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The sender's metadata.
    #[serde(
        default,
        deserialize_with = "crate::provider::object",
        skip_serializing_if = "Map::is_empty"
    )]
    pub metadata: Map<String, Value>,
    /// Delivery details, where the webhook asks for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_info: Option<UnisenderGoDeliveryInfo>,
    /// Unsubscriptions: the text from the unsubscribe form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Spam blocks: when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_time: Option<String>,
    /// Spam blocks: `one_smtp` or `all_smtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_type: Option<String>,
    /// Spam blocks: the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Spam blocks: `blocked` or `unblocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_status: Option<String>,
}

/// `delivery_info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnisenderGoDeliveryInfo {
    /// `success`, or an `err_…` code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<String>,
    /// The receiving server's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_response: Option<String>,
    /// Opens and clicks: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Opens and clicks: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Parses a Unisender Go body (batched or single-event) without checking
/// its `auth`.
///
/// # Errors
///
/// [`ParseError`] when the body is neither shape, or has more events than
/// [`Limits::max_events_per_delivery`].
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &Limits::default())
}

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events_by_user: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UserEvents<'a> {
    #[serde(borrow)]
    events: Option<&'a RawValue>,
}

fn parse_within(body: &[u8], limits: &Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let batch: Batch<'_> = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not a JSON object", &e))?;
    let max = limits.max_events_per_delivery;
    let Some(users) = batch.events_by_user else {
        // Single-event mode: the body is the event.
        let raw: &RawValue = serde_json::from_slice(body)
            .map_err(|e| ParseError::json("the body is not a JSON object", &e))?;
        return Ok(vec![single(raw)]);
    };
    let mut events = Vec::new();
    for group in batch::elements(users.get().as_bytes(), Shape::Array, max)? {
        // An object (serde would read a struct from an array too).
        let read = Some(group.get())
            .filter(|text| text.starts_with('{'))
            .and_then(|text| serde_json::from_str::<UserEvents<'_>>(text).ok());
        let list = match read {
            Some(UserEvents { events: None }) => continue,
            Some(UserEvents { events: Some(list) }) if list.get().starts_with('[') => list,
            // A group that is not one (not an object, or `events` not an
            // array) is kept whole as an unknown event: it never costs the
            // other users' events.
            _ => {
                if events.len() == max {
                    return Err(batch::too_many());
                }
                events.push(unknown(group));
                continue;
            }
        };
        let left = max.saturating_sub(events.len());
        let raws = batch::elements(list.get().as_bytes(), Shape::Array, left)?;
        events.extend(raws.into_iter().map(event_from));
    }
    Ok(events)
}

fn unknown(raw: &RawValue) -> EmailEvent {
    let mut event = EmailEvent::new(Provider::UnisenderGo, EventKind::Unknown, raw.to_owned());
    event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    event
}

fn event_from(raw: &RawValue) -> EmailEvent {
    batch::native_or_unknown(
        Provider::UnisenderGo,
        raw,
        |native: UnisenderGoEvent, raw| {
            normalize(
                &native.event_name,
                native.event_data.unwrap_or_default(),
                raw,
            )
        },
    )
}

/// A single-event body: `event_name` beside the data's fields.
fn single(raw: &RawValue) -> EmailEvent {
    #[derive(Deserialize)]
    struct Name {
        #[serde(default)]
        event_name: String,
    }
    match (
        serde_json::from_str::<Name>(raw.get()),
        serde_json::from_str::<UnisenderGoEventData>(raw.get()),
    ) {
        (Ok(name), Ok(data)) => normalize(&name.event_name, data, raw),
        _ => unknown(raw),
    }
}

/// The reject reason of an `err_…` delivery status.
fn rejected_because(status: &str) -> Option<RejectReason> {
    Some(match status.strip_prefix("err_")? {
        "user_unknown"
        | "user_inactive"
        | "mailbox_discarded"
        | "mailbox_full"
        | "too_large"
        | "unreachable"
        | "skip_letter"
        | "domain_inactive"
        | "destination_misconfigured" => RejectReason::Bounced,
        "spam_rejected" | "spam_skipped" | "blacklisted" => RejectReason::Blocked,
        "unsubscribed" => RejectReason::Unsubscribed,
        _ => RejectReason::Other,
    })
}

fn normalize(name: &str, data: UnisenderGoEventData, raw: &RawValue) -> EmailEvent {
    let kind = match (name, data.status.as_deref()) {
        ("transactional_email_status", Some(status)) => match status {
            "sent" => EventKind::Sent,
            "delivered" => EventKind::Delivered,
            "opened" => EventKind::Opened,
            "clicked" => EventKind::Clicked,
            "unsubscribed" => EventKind::Unsubscribed,
            "subscribed" => EventKind::Subscribed,
            "soft_bounced" => EventKind::Deferred,
            "hard_bounced" => EventKind::Bounced,
            "spam" => EventKind::Complained,
            _ => EventKind::Unknown,
        },
        _ => EventKind::Unknown,
    };
    let info = data.delivery_info.clone().unwrap_or_default();
    let mut event = EmailEvent::new(Provider::UnisenderGo, kind, raw.to_owned());
    // Every field of the model is optional, so an event it does not read
    // (an unknown name or status, no time) is told apart by too little of
    // it: then the whole element, resent unchanged, is the key.
    if kind == EventKind::Unknown || (data.event_time.is_none() && data.block_time.is_none()) {
        event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    } else {
        event.set_fingerprint(&fingerprint(name, &data));
    }
    // A spam block or a blocklist is the receiving side refusing the
    // sender, not the address failing; a full mailbox, a message too
    // large, skipped, lost or failed for another reason says nothing of
    // the address either.
    let status = info.delivery_status.as_deref().unwrap_or_default();
    event.soft_bounce = kind == EventKind::Bounced
        && matches!(
            status,
            "err_spam_rejected"
                | "err_spam_skipped"
                | "err_blacklisted"
                | "err_mailbox_full"
                | "err_too_large"
                | "err_skip_letter"
                | "err_lost"
                | "err_delivery_failed"
        );
    event.reject_reason = match kind {
        EventKind::Complained => Some(RejectReason::Spam),
        EventKind::Unsubscribed => Some(RejectReason::Unsubscribed),
        EventKind::Bounced | EventKind::Deferred => match info.delivery_status.as_deref() {
            // Delivery goes on: a retry has no reason yet.
            Some("err_will_retry") => None,
            status => Some(
                status
                    .and_then(rejected_because)
                    .unwrap_or(RejectReason::Bounced),
            ),
        },
        _ => None,
    };
    event.timestamp = data
        .event_time
        .as_deref()
        .or(data.block_time.as_deref())
        .and_then(utc_time);
    event.message_id = data.job_id;
    event.recipient = data.email.as_deref().and_then(bare_address);
    event.description = info.delivery_status.clone().or(data.comment);
    event.mta_response = info.destination_response;
    event.click_url = data.url;
    event.user_agent = info.user_agent;
    event.metadata = data.metadata;
    event
}

/// `YYYY-MM-DD hh:mm:ss`, in UTC.
fn utc_time(text: &str) -> Option<time::OffsetDateTime> {
    let text = text.trim();
    if text.len() != 19 || text.as_bytes().get(10) != Some(&b' ') {
        return None;
    }
    crate::provider::timestamp::parse_text(&format!("{}T{}Z", &text[..10], &text[11..]))
}

/// A digest of what tells one Unisender Go event from another.
fn fingerprint(name: &str, data: &UnisenderGoEventData) -> [u8; 32] {
    let info = data.delivery_info.as_ref();
    event::fingerprint([
        Some(name),
        data.job_id.as_deref(),
        data.email.as_deref(),
        data.status.as_deref(),
        data.event_time.as_deref(),
        data.url.as_deref(),
        info.and_then(|i| i.delivery_status.as_deref()),
        info.and_then(|i| i.destination_response.as_deref()),
        info.and_then(|i| i.user_agent.as_deref()),
        info.and_then(|i| i.ip.as_deref()),
        data.comment.as_deref(),
        data.block_time.as_deref(),
        data.block_type.as_deref(),
        data.domain.as_deref(),
        data.domain_status.as_deref(),
    ])
}

const NEEDS: &str = "--secret API_KEY (the user's, or the project's)";

/// The verifier with every API key given (rotation).
fn verifier(settings: &Settings) -> Result<UnisenderGoVerifier, SetupError> {
    Settings::rotating(
        &settings.secrets,
        NEEDS,
        |s| Secret::from_bytes(s),
        UnisenderGoVerifier::new,
        UnisenderGoVerifier::with_key,
    )
}

/// A batch of one Unisender Go event of `kind`, its `auth` made with the
/// first key (slashes escaped as Unisender Go writes them); tampered: a
/// letter of the recipient changed afterwards.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (status, extra) = match sim.kind {
        EventKind::Sent => ("sent", serde_json::json!({})),
        EventKind::Delivered => (
            "delivered",
            serde_json::json!({"delivery_info": {"delivery_status": "success", "destination_response": "250 2.0.0 OK"}}),
        ),
        EventKind::Opened => (
            "opened",
            serde_json::json!({"delivery_info": {"user_agent": "Mozilla/5.0", "ip": "192.0.2.1"}}),
        ),
        EventKind::Clicked => (
            "clicked",
            serde_json::json!({"url": "https://example.com/", "delivery_info": {"user_agent": "Mozilla/5.0", "ip": "192.0.2.1"}}),
        ),
        EventKind::Unsubscribed => ("unsubscribed", serde_json::json!({})),
        EventKind::Subscribed => ("subscribed", serde_json::json!({})),
        EventKind::Deferred => (
            "soft_bounced",
            serde_json::json!({"delivery_info": {"delivery_status": "err_will_retry", "destination_response": "451 4.7.1 try later"}}),
        ),
        EventKind::Bounced => (
            "hard_bounced",
            serde_json::json!({"delivery_info": {"delivery_status": "err_user_unknown", "destination_response": "550 5.1.1 user unknown"}}),
        ),
        EventKind::Complained => ("spam", serde_json::json!({})),
        other => return Err(SetupError::Unsupported(other)),
    };
    let job = crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..10]);
    // RFC 3339's `YYYY-MM-DDThh:mm:ssZ`, written as Unisender Go does.
    let when = sim
        .rfc3339()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned();
    let data = serde_json::json!({"job_id": job, "email": sim.recipient, "status": status,
        "event_time": when, "metadata": {"order": "42"}});
    let data = crate::provider::with_fields(data, extra);
    let body = serde_json::json!({"auth": "", "events_by_user": [{"user_id": 1, "events": [
        {"event_name": "transactional_email_status", "event_data": data}]}]})
    .to_string()
    .replace('/', "\\/");
    Ok(body.into_bytes())
}

/// Signs the sample, or a given delivery in place: its top-level `auth`
/// value is replaced by the MD5 Unisender Go would send.
fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let mut body = sim.body_or(sample)?;
    let key = Settings::first(&sim.settings.secrets, NEEDS)?;
    let auth = UnisenderGoVerifier::new(Secret::from_bytes(key)?).sign(&body)?;
    let (start, end) = auth_span(&body)?;
    body.splice(start..end, auth.into_bytes());
    Ok(Simulated::json(body, Vec::new()).tampered_if(sim))
}

/// Unisender Go's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Unisender Go",
    authenticated_by: "the body's `auth`: MD5 of the body with it replaced by the API key",
    event_id: "none: a digest of every field that tells two events apart",
    signed: "the body (a weak keyed MD5)",
    replay_window: "none",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: None,
};
