//! Resend: Standard Webhooks signatures with the `svix-*` headers, one JSON
//! event per request.
//!
//! - Authenticated by: HMAC-SHA256 over `svix-id.svix-timestamp.body` with
//!   the endpoint's `whsec_…` secret ([`StandardWebhooks`]).
//! - Signed: the delivery id, the timestamp and the whole body.
//! - Event id: the signed delivery id (the `svix-id` header Resend sends,
//!   or `webhook-id` when the `webhook-*` family is used), which Resend
//!   keeps across retries of a delivery, so it is the idempotency key. It
//!   is always the id the signature covers: an unsigned id header of the
//!   other family never chooses the key.
//! - Replay window: five minutes each way, as the Standard Webhooks spec
//!   recommends.
//!
//! Source: <https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests>,
//! event types at <https://resend.com/docs/dashboard/webhooks/event-types>.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, ParseError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::headers::Headers;
use crate::provider::Timestamp;
use crate::scheme::Authenticate as _;
use crate::scheme::standard::{self, StandardWebhooks};
use crate::secret::Secret;
use crate::verified::Verified;

/// Verifies Resend webhooks and parses their events.
#[derive(Debug)]
pub struct ResendVerifier {
    inner: StandardWebhooks,
}

impl ResendVerifier {
    /// A verifier with the endpoint's signing secret (`whsec_…`, parsed with
    /// [`Secret::from_standard_webhooks`]).
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            inner: StandardWebhooks::new(secret),
        }
    }

    /// Also accepts `secret` (rotation).
    #[must_use]
    pub fn with_secret(self, secret: Secret) -> Self {
        Self {
            inner: self.inner.with_key(secret),
        }
    }

    /// Verifies a request, then parses its events.
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
        let verified = self.verify_at(headers, body, now)?;
        Ok(parse_with_id(verified.id(), body)?)
    }
}

/// A Resend webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendEvent {
    /// `email.sent`, `email.delivered`, … (unknown types are kept).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened.
    #[serde(default)]
    pub created_at: Timestamp,
    /// The event's data.
    #[serde(default)]
    pub data: ResendData,
}

/// The `data` object of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendData {
    /// The message id Resend's send API returned.
    pub email_id: Option<String>,
    /// Recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Sender.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Bounce details, for `email.bounced`.
    pub bounce: Option<ResendBounce>,
    /// Click details, for `email.clicked`.
    pub click: Option<ResendClick>,
    /// Tags the sender attached (an object of name → value).
    pub tags: Option<Value>,
}

/// `data.bounce` of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendBounce {
    /// Human-readable explanation.
    pub message: Option<String>,
    /// `Permanent`, `Transient`, …
    #[serde(rename = "type")]
    pub bounce_type: Option<String>,
    /// Finer classification.
    #[serde(rename = "subType")]
    pub sub_type: Option<String>,
}

impl ResendBounce {
    /// Whether Resend did not send at all because the address is on its
    /// suppression list (`subType` `Suppressed`, or a message saying so):
    /// Resend reports that as a bounce, but nothing bounced this time.
    fn is_suppression(&self) -> bool {
        self.sub_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("suppress"))
            || self
                .message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("suppression list"))
    }
}

/// `data.click` of a Resend event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResendClick {
    /// The clicked URL.
    pub link: Option<String>,
    /// The clicking browser.
    #[serde(rename = "userAgent")]
    pub user_agent: Option<String>,
    /// The clicking address.
    #[serde(rename = "ipAddress")]
    pub ip_address: Option<String>,
}

/// Parses a Resend body without verifying it. `headers` supply the event id:
/// the id header of the family the verifier would check (`webhook-id` when
/// a `webhook-signature` is present, else `svix-id`), so the id is the one a
/// signature covers; pass empty headers when there are none.
///
/// # Errors
///
/// [`ParseError`] when the body is not a Resend event object.
pub fn parse<H: Headers + ?Sized>(headers: &H, body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_with_id(
        standard::signed_id(headers, &crate::limits::Limits::default()),
        body,
    )
}

fn parse_with_id(id: Option<&str>, body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| ParseError::json("the body is not JSON", &e))?;
    let native: ResendEvent = serde_json::from_str(raw.get())
        .map_err(|e| ParseError::json("the body is not a Resend event", &e))?;
    Ok(vec![normalize(native, id, raw.to_owned())])
}

/// Maps a Resend event to an [`EmailEvent`].
fn normalize(native: ResendEvent, id: Option<&str>, raw: Box<RawValue>) -> EmailEvent {
    let kind = match native.event_type.as_str() {
        "email.sent" => EventKind::Sent,
        "email.delivered" => EventKind::Delivered,
        "email.delivery_delayed" => EventKind::Deferred,
        "email.bounced" => EventKind::Bounced,
        "email.complained" => EventKind::Complained,
        "email.opened" => EventKind::Opened,
        "email.clicked" => EventKind::Clicked,
        "email.failed" => EventKind::Failed,
        _ => EventKind::Unknown,
    };
    let mut event = EmailEvent::new(Provider::Resend, kind, raw);
    let data = native.data;
    event.timestamp = native.created_at.0;
    event.event_id = id.map(str::to_owned);
    event.message_id = data.email_id;
    // `to` entries may carry a display name: `Jane <jane@example.com>`.
    event.recipient = data
        .to
        .first()
        .and_then(|to| crate::event::bare_address(to));
    event.reject_reason = match kind {
        EventKind::Bounced
            if data
                .bounce
                .as_ref()
                .is_some_and(ResendBounce::is_suppression) =>
        {
            Some(RejectReason::Blocked)
        }
        EventKind::Bounced => Some(RejectReason::Bounced),
        EventKind::Complained => Some(RejectReason::Spam),
        _ => None,
    };
    // Resend relays its sending provider's `Transient` bounces (a full
    // mailbox, a server refusing for now): the address may be fine.
    event.soft_bounce = event.reject_reason == Some(RejectReason::Bounced)
        && data
            .bounce
            .as_ref()
            .is_some_and(|b| b.bounce_type.as_deref() == Some("Transient"));
    if let Some(bounce) = data.bounce {
        event.description = bounce.message;
    }
    if let Some(click) = data.click {
        event.click_url = click.link;
        event.user_agent = click.user_agent;
    }
    if let Some(Value::Object(tags)) = data.tags {
        event.metadata = tags;
    } else {
        event.metadata = Map::new();
    }
    event
}

impl crate::policy::Configure for ResendVerifier {
    fn policy(&self) -> &crate::policy::Policy {
        self.inner.policy()
    }
    fn policy_mut(&mut self) -> &mut crate::policy::Policy {
        self.inner.policy_mut()
    }
}

impl crate::provider::EmailProvider for ResendVerifier {
    fn id(&self) -> crate::Provider {
        crate::Provider::Resend
    }

    fn receive<'a>(
        &'a self,
        request: &'a crate::Request<'a>,
    ) -> impl std::future::Future<Output = Result<crate::provider::Received, Error>> + Send + 'a
    {
        std::future::ready((|| {
            let proof = self.inner.authenticate(request)?;
            let events = parse_with_id(proof.id(), request.body())?;
            Ok(crate::provider::Received::events(events).with_proof(proof))
        })())
    }
}

const NEEDS: &str = "--secret S (the endpoint's whsec_ signing secret)";

fn build(
    settings: &crate::provider::Settings,
) -> Result<Box<dyn crate::provider::DynProvider>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    let mut secrets = settings.secrets.iter();
    let first = secrets.next().ok_or(SetupError::Missing(NEEDS))?;
    let mut v = ResendVerifier::new(Secret::from_standard_webhooks(first)?);
    for secret in secrets {
        v = v.with_secret(Secret::from_standard_webhooks(secret)?);
    }
    Ok(Box::new(settings.configure(v)))
}

/// A Resend event of `kind` with `svix-*` headers; tampered: a letter of the
/// recipient.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    let kind = match sim.kind {
        EventKind::Delivered => "delivered",
        EventKind::Bounced => "bounced",
        EventKind::Opened => "opened",
        EventKind::Clicked => "clicked",
        EventKind::Complained => "complained",
        EventKind::Deferred => "delivery_delayed",
        EventKind::Sent => "sent",
        other => return Err(SetupError::Unsupported(other)),
    };
    Ok(serde_json::json!({"type": format!("email.{kind}"), "created_at": sim.rfc3339(),
        "data": {"email_id": sim.event_id, "to": [sim.recipient], "click": {"link": "https://example.com/"}}})
    .to_string()
    .into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated};
    let body = sim.body_or(sample)?;
    let secret = Settings::first(&sim.settings.secrets, NEEDS)?;
    let signer = crate::scheme::standard::StandardWebhooksSigner::new(Secret::from_standard_webhooks(secret)?);
    let headers = signer
        .headers(&format!("msg_{}", sim.event_id), sim.now, &body)?
        .into_iter()
        .map(|(k, v)| (k.replacen("webhook-", "svix-", 1), v))
        .collect();
    let mut delivery = Simulated::json(body, headers);
    if sim.tamper {
        delivery.alter_body(sim.recipient.as_bytes(), 0);
    }
    Ok(delivery)
}

/// Resend's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "Resend",
    authenticated_by: "Standard Webhooks (`svix-*` headers)",
    event_id: "the signed id header (`svix-id`, or `webhook-id`)",
    signed: "id, timestamp and body",
    replay_window: "5 minutes each way",
    parse: |request| parse(request.headers(), request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: None,
};

impl crate::scheme::Authenticate for ResendVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        self.inner.authenticate(request)
    }
}

crate::scheme::verify_methods!(ResendVerifier);
