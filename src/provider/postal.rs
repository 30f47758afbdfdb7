//! Postal (self-hosted mail server) HTTP webhooks.
//!
//! - Authenticated by: an RSA PKCS#1 v1.5 signature of the raw body with
//!   the server's signing key: `X-Postal-Signature-256` (SHA-256, Postal
//!   since 2024) is checked when present, and only then; a delivery from
//!   an older Postal carrying only `X-Postal-Signature` (SHA-1) is
//!   accepted unless [`PostalVerifier::require_sha256`]. Both are base64.
//!   `X-Postal-Signature-KID` (the lowercase hex SHA-256 of the key's
//!   PKCS#1 DER) says which key signed: it orders the configured keys, all
//!   of which you trust, and never admits a key you did not configure.
//! - Keys: the public key as Postal publishes it: the `p=` value of its
//!   DKIM-style record (`v=DKIM1; t=s; h=sha256; p=…`, base64 SPKI), the
//!   whole record, or PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
//!   Many servers have 1024-bit keys: they are verified by `ring`, the
//!   crate's RSA backend, through its parameter sets for 1024 to 8192 bits
//!   (ring's `*_FOR_LEGACY_USE_ONLY`: it refuses such keys only in its
//!   2048-bit-minimum sets), so no second RSA implementation is needed.
//!   Keys under 1024 bits are refused when the verifier is built.
//! - Signed: the body, with `timestamp` (the time Postal made the request,
//!   the same on every retry) inside it. Default replay window: a day past,
//!   5 minutes ahead; Postal retries for about 36 minutes (5 retries, 2 to
//!   15 minutes apart), so the day leaves room for a Postal whose queue
//!   was held up, while a captured request stops verifying after it.
//! - Body: `{"event","timestamp","payload","uuid"}`, one event per request.
//! - Events: `MessageSent` → [`EventKind::Delivered`], `MessageDelayed` →
//!   [`EventKind::Deferred`], `MessageDeliveryFailed` (a permanent
//!   rejection by the receiving server) → [`EventKind::Bounced`],
//!   `MessageHeld` → [`EventKind::Queued`], `MessageBounced` (a bounce
//!   message received later) → [`EventKind::Bounced`],
//!   `MessageLinkClicked` → [`EventKind::Clicked`], `MessageLoaded` (an
//!   open) → [`EventKind::Opened`]; `DomainDNSError`, the send-limit events
//!   and anything else are [`EventKind::Unknown`] with their JSON kept, as
//!   are the delivery events of mail Postal received and handed to your own
//!   routes (`direction: incoming`): they are not about mail you sent.
//!   The payload's shape is read first: its delivery `status` (`Sent`,
//!   `SoftFail`, `HardFail`, `Held`), a `bounce`, a clicked `url`; the
//!   name after. A body that is only a payload (as Postal's documentation
//!   shows them) is read by its shape.
//! - Fields: the event id is `uuid` (the request's: the same on every
//!   retry); the message `payload.message.id` (Postal's id; for bounces
//!   `original_message`), the recipient its `to`, the tag its `tag`,
//!   `details` the description, `output` the receiving server's answer,
//!   `url`, `user_agent`.
//! - Retries: only 2xx counts; anything else (3xx included) or no answer
//!   within 5 s is retried at +2, 3, 6, 10 and 15 minutes.
//! - Setup: no handshake; the webhook posts once added.
//!
//! **Inbound mail** ([`parse_inbound`]): a route's HTTP endpoint posts each
//! message Postal received, once per envelope recipient, signed with the
//! same key and headers as the webhooks. Both of Postal's formats are
//! read, in either encoding (JSON, or a URL-encoded form): the raw message
//! (`message`, base64) and the "hash" of parsed fields (`plain_body`,
//! `html_body`, the header fields Postal passes on, `spam_status`, and
//! `attachments` with base64 `data` where the endpoint includes them).
//! No time is signed in either (the hash's `timestamp` is when Postal
//! received the message, and Postal retries for over a day), so there is
//! no replay window: a replayed request is the same message, a duplicate
//! by its key. The id is `id:token` for the hash (Postal's message id is
//! per mail server; its random token makes it unique); the raw format
//! carries no token and is keyed by its content. `spam_status` `Spam` is
//! spam and `NotSpam` is not. Postal retries only 5xx answers and
//! timeouts (a 4xx fails the message and bounces it to the sender).
//! Sources: `app/senders/http_sender.rb`, `lib/postal/http.rb`,
//! `app/models/http_endpoint.rb`; "HTTP payloads",
//! <https://docs.postalserver.io/developer/http-payloads>.
//!
//! Sources: Postal's source (`postalserver/postal`: `lib/postal/signer.rb`,
//! `app/services/webhook_delivery_service.rb`, `app/models/webhook_request.rb`)
//! and documentation (`postalserver/docs`, "Webhooks",
//! <https://docs.postalserver.io/developer/webhooks>).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::encoding;
use crate::error::{ParseError, SecretError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason, bare_address};
use crate::headers::{self, Name};
use crate::limits::Limits;
use crate::policy::{Policy, configure_via_field};
use crate::provider::batch;
use crate::provider::sync::{SyncProvider, sync_provider};
use crate::provider::{
    ProviderInfo, Received, Settings, SetupError, Simulated, Simulation, Timestamp,
};
use crate::replay::ReplayWindow;
use crate::request::Request;
use crate::verified::Verified;

static SIGNATURE_256: Name = Name::from_static("x-postal-signature-256");
static SIGNATURE_SHA1: Name = Name::from_static("x-postal-signature");
static KID: Name = Name::from_static("x-postal-signature-kid");

/// The default replay window: a day past, 5 minutes ahead.
pub const DEFAULT_REPLAY_WINDOW: ReplayWindow = ReplayWindow::new(
    std::time::Duration::from_secs(24 * 3600),
    std::time::Duration::from_secs(300),
);

/// A Postal server's public signing key.
#[derive(Clone)]
pub struct PostalPublicKey {
    /// PKCS#1 `RSAPublicKey` DER, as ring takes it.
    pkcs1: Vec<u8>,
    /// `X-Postal-Signature-KID` for this key.
    kid: String,
}

impl std::fmt::Debug for PostalPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostalPublicKey(kid {})", self.kid)
    }
}

impl PostalPublicKey {
    /// Reads a key in any form Postal shows it: base64 SPKI (a DKIM record's
    /// `p=`), a whole DKIM-style record, or PEM.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when it is none of these, not RSA, or under 1024
    /// bits.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let der = if text.starts_with("-----BEGIN") {
            pem_body(text)?
        } else {
            let b64 = text
                .split(';')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("p="))
                .unwrap_or(text);
            let compact: String = b64.split_whitespace().collect();
            encoding::base64_key(&compact)
                .ok()
                .ok_or(SecretError::Rejected("base64 SPKI, a DKIM record or PEM"))?
        };
        let pkcs1 = match spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()) {
            Ok(info) => {
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err(SecretError::Rejected("an RSA key"));
                }
                info.subject_public_key.raw_bytes().to_vec()
            }
            // `BEGIN RSA PUBLIC KEY`: already PKCS#1.
            Err(_) => der,
        };
        let bits = modulus_bits(&pkcs1).ok_or(SecretError::Rejected("an RSA public key"))?;
        if bits < 1024 {
            return Err(SecretError::Rejected("an RSA key of at least 1024 bits"));
        }
        let kid = encoding::hex(&Sha256::digest(&pkcs1));
        Ok(Self { pkcs1, kid })
    }

    /// The key's id as Postal sends it in `X-Postal-Signature-KID`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn verifies(&self, sha256: bool, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn ring::signature::VerificationAlgorithm = if sha256 {
            &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        } else {
            &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        };
        ring::signature::UnparsedPublicKey::new(algorithm, &self.pkcs1)
            .verify(message, signature)
            .is_ok()
    }
}

const RSA_ENCRYPTION: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

fn pem_body(text: &str) -> Result<Vec<u8>, SecretError> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    encoding::base64_key(&body)
        .ok()
        .ok_or(SecretError::Rejected("PEM"))
}

/// The modulus size of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n,
/// INTEGER e }`, DER).
fn modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    /// The tag's content and what follows it, for a DER tag-length-value.
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if first != tag {
            return None;
        }
        let (len, rest) = if len < 0x80 {
            (usize::from(len), rest)
        } else {
            let count = usize::from(len & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            (
                bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)),
                rest,
            )
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (sequence, _) = tlv(pkcs1, 0x30)?;
    let (modulus, rest) = tlv(sequence, 0x02)?;
    tlv(rest, 0x02)?;
    let modulus = match modulus.split_first()? {
        (0, rest) => rest,
        _ => modulus,
    };
    let lead = *modulus.first()?;
    Some((modulus.len() - 1) * 8 + (8 - lead.leading_zeros() as usize))
}

/// Checks Postal's signature and parses its events.
#[derive(Debug)]
pub struct PostalVerifier {
    keys: Vec<PostalPublicKey>,
    require_sha256: bool,
    policy: Policy,
}

impl PostalVerifier {
    /// A verifier with the server's public signing key.
    #[must_use]
    pub fn new(key: PostalPublicKey) -> Self {
        Self {
            keys: vec![key],
            require_sha256: false,
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
        }
    }

    /// Also accepts `key` (another server, or a new key).
    #[must_use]
    pub fn with_key(mut self, key: PostalPublicKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Refuses deliveries signed only with SHA-1 (`X-Postal-Signature`):
    /// for servers that all run a Postal recent enough to send
    /// `X-Postal-Signature-256`.
    #[must_use]
    pub fn require_sha256(mut self) -> Self {
        self.require_sha256 = true;
        self
    }
}

impl PostalVerifier {
    /// The signature alone: which configured key signed the body.
    fn check_signature(&self, request: &Request<'_>) -> Result<usize, VerifyError> {
        let (headers, body, limits) = (request.headers(), request.body(), &self.policy.limits);
        limits.check_body(body)?;
        // The SHA-256 signature when present, never a fallback from it.
        let (sha256, signature) = match headers::optional(headers, &SIGNATURE_256, limits)? {
            Some(signature) => (true, signature),
            None if self.require_sha256 => {
                return Err(VerifyError::MissingHeader {
                    name: std::borrow::Cow::Borrowed("X-Postal-Signature-256"),
                });
            }
            None => (false, headers::required(headers, &SIGNATURE_SHA1, limits)?),
        };
        // Room for an RSA-8192 signature (1,024 bytes), decoded on the stack.
        let mut buf = [0u8; 1024];
        let signature = base64::Engine::decode_slice(
            &base64::engine::general_purpose::STANDARD,
            signature.trim().as_bytes(),
            &mut buf,
        )
        .ok()
        .and_then(|len| buf.get(..len))
        .ok_or(VerifyError::InvalidSignature)?;
        // The key id only orders the keys you configured.
        let kid = headers::optional(headers, &KID, limits).ok().flatten();
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_by_key(|&i| kid != Some(self.keys[i].kid.as_str()));
        order
            .into_iter()
            .find(|&i| self.keys[i].verifies(sha256, body, signature))
            .ok_or(VerifyError::InvalidSignature)
    }
}

impl crate::scheme::Authenticate for PostalVerifier {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let index = self.check_signature(request)?;
        // The signed time inside the body.
        let timestamp = signed_time(request.body()).ok_or(VerifyError::Unauthorized)?;
        self.policy
            .check_timestamp(timestamp.unix_timestamp(), request.now())?;
        Ok(Verified::new(None, Some(timestamp.unix_timestamp()), index))
    }
}

/// The body's `timestamp`, read after the signature checked out.
fn signed_time(body: &[u8]) -> Option<OffsetDateTime> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        timestamp: Timestamp,
    }
    serde_json::from_slice::<Head>(body).ok()?.timestamp.0
}

crate::scheme::verify_methods!(PostalVerifier);
configure_via_field!(PostalVerifier);

impl SyncProvider for PostalVerifier {
    const ID: Provider = Provider::Postal;

    fn parse(request: &Request<'_>, _: &Limits) -> Result<Received, ParseError> {
        Ok(Received::events(parse(request.body())?))
    }
}

sync_provider!(PostalVerifier);

/// A Postal webhook request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PostalEvent {
    /// `MessageSent`, `MessageBounced`, `MessageLinkClicked`, … (empty
    /// when absent: the payload's shape then tells the event).
    #[serde(default)]
    pub event: String,
    /// When Postal made the request (Unix seconds, fractional).
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The request's id (the same on every retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PostalPayload>,
}

/// A Postal event's payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PostalPayload {
    /// The message (delivery, click and open events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<PostalMessage>,
    /// `MessageBounced`: the message that bounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_message: Option<PostalMessage>,
    /// `MessageBounced`: the bounce message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<PostalMessage>,
    /// `Sent`, `SoftFail`, `HardFail`, `Held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The receiving server's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Whether the delivery used TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_with_ssl: Option<bool>,
    /// When the delivery attempt happened.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// Clicks: the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Clicks and opens: the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Clicks and opens: the client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A message in a Postal payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PostalMessage {
    /// Postal's id for the message (a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The message's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `incoming` or `outgoing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The `Message-ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The message's tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The spam check's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_status: Option<String>,
}

/// Parses a Postal webhook body without checking its signature.
///
/// # Errors
///
/// [`ParseError`] when the body is not a JSON object.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    batch::one(Provider::Postal, body, normalize)
}

fn normalize(native: PostalEvent, raw: &RawValue) -> EmailEvent {
    // A body without Postal's envelope (no `event`, no `payload`) is read
    // as the payload itself, the form Postal's documentation shows.
    let bare = native.payload.is_none() && native.event.is_empty();
    let payload = match native.payload {
        Some(payload) => payload,
        None if bare => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => PostalPayload::default(),
    };
    // Postal also reports handing mail it received to your own routes: not
    // mail you sent, so never a delivery or a bounce of yours.
    let incoming = payload
        .message
        .as_ref()
        .is_some_and(|m| m.direction.as_deref() == Some("incoming"));
    // The payload's shape first (a delivery status, a bounce, a link), as
    // Postal's documentation shows payloads on their own; the event's name
    // otherwise.
    let status = payload.status.as_deref().and_then(|status| match status {
        "Sent" => Some((EventKind::Delivered, None)),
        "SoftFail" => Some((EventKind::Deferred, None)),
        "HardFail" | "Bounced" => Some((EventKind::Bounced, Some(RejectReason::Bounced))),
        "Held" => Some((EventKind::Queued, None)),
        _ => None,
    });
    let (kind, reason) = match native.event.as_str() {
        _ if incoming => (EventKind::Unknown, None),
        _ if status.is_some() => status.unwrap_or((EventKind::Unknown, None)),
        _ if payload.bounce.is_some() => (EventKind::Bounced, Some(RejectReason::Bounced)),
        _ if payload.url.is_some() => (EventKind::Clicked, None),
        "" if payload.user_agent.is_some() || payload.ip_address.is_some() => {
            (EventKind::Opened, None)
        }
        "MessageSent" => (EventKind::Delivered, None),
        "MessageDelayed" => (EventKind::Deferred, None),
        "MessageDeliveryFailed" | "MessageBounced" => {
            (EventKind::Bounced, Some(RejectReason::Bounced))
        }
        "MessageHeld" => (EventKind::Queued, None),
        "MessageLinkClicked" => (EventKind::Clicked, None),
        "MessageLoaded" => (EventKind::Opened, None),
        _ => (EventKind::Unknown, None),
    };
    let mut event = EmailEvent::new(Provider::Postal, kind, raw.to_owned());
    // A bare payload's `uuid` is not the request's (a domain's, in a DNS
    // error): such a body is keyed by its bytes.
    event.event_id = native.uuid.filter(|u| !u.is_empty() && !bare);
    if event.event_id.is_none() {
        event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
    }
    event.reject_reason = reason;
    event.timestamp = payload.timestamp.0.or(native.timestamp.0);
    let message = payload
        .message
        .or(payload.original_message)
        .unwrap_or_default();
    event.message_id = message.id.map(|id| match id {
        Value::String(s) => s,
        other => other.to_string(),
    });
    event.recipient = message.to.as_deref().and_then(bare_address);
    event.tags = message.tag.into_iter().filter(|t| !t.is_empty()).collect();
    event.description = payload.details;
    event.mta_response = payload.output.filter(|o| !o.is_empty());
    event.click_url = payload.url;
    event.user_agent = payload.user_agent;
    event
}

const NEEDS: &str = "--key PUBLIC_KEY (the server's signing key: DKIM p= value, record or PEM)";

/// The verifier with every key given (rotation).
fn verifier(settings: &Settings) -> Result<PostalVerifier, SetupError> {
    Settings::rotating(
        &settings.keys,
        NEEDS,
        PostalPublicKey::parse,
        PostalVerifier::new,
        PostalVerifier::with_key,
    )
}

/// A Postal request of `kind`, signed (SHA-256, with the key id)
/// with the private key in `--key` (base64 PKCS#8, RSA of at least 2048
/// bits); tampered: a letter of the recipient changed after signing.
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &Simulation<'_>) -> Result<Vec<u8>, SetupError> {
    let (event, status, extra) = match sim.kind {
        EventKind::Delivered => (
            "MessageSent",
            Some("Sent"),
            serde_json::json!({"output": "250 2.0.0 OK", "details": "Message accepted"}),
        ),
        EventKind::Deferred => (
            "MessageDelayed",
            Some("SoftFail"),
            serde_json::json!({"output": "451 4.7.1 Try again later", "details": "Delivery delayed"}),
        ),
        EventKind::Bounced => (
            "MessageDeliveryFailed",
            Some("HardFail"),
            serde_json::json!({"output": "550 5.1.1 User unknown", "details": "Permanent failure"}),
        ),
        EventKind::Queued => (
            "MessageHeld",
            Some("Held"),
            serde_json::json!({"details": "Held for review"}),
        ),
        EventKind::Clicked => (
            "MessageLinkClicked",
            None,
            serde_json::json!({"url": "https://example.com/", "ip_address": "192.0.2.1", "user_agent": "Mozilla/5.0"}),
        ),
        EventKind::Opened => (
            "MessageLoaded",
            None,
            serde_json::json!({"ip_address": "192.0.2.1", "user_agent": "Mozilla/5.0"}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let digest = Sha256::digest(sim.event_id.as_bytes());
    let id = u64::from_be_bytes([0, 0, 0, 0, digest[0], digest[1], digest[2], digest[3]]);
    let mut payload = serde_json::json!({"message": {"id": id, "token": encoding::hex(&digest[4..10]),
        "direction": "outgoing", "message_id": format!("{}@postal.example.com", encoding::hex(&digest[..8])),
        "to": sim.recipient, "from": "sender@example.com", "subject": "Hello", "timestamp": sim.now,
        "spam_status": "NotChecked", "tag": "simulated"}, "timestamp": sim.now});
    if let Some(status) = status {
        payload["status"] = status.into();
    }
    let payload = crate::provider::with_fields(payload, extra);
    let uuid = encoding::hex(&digest[..16]);
    Ok(
        serde_json::json!({"event": event, "timestamp": sim.now, "payload": payload, "uuid": uuid})
            .to_string()
            .into_bytes(),
    )
}

fn simulate(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    let body = sim.body_or(sample)?;
    let key = Settings::first(&sim.settings.keys, NEEDS)?;
    let pkcs8 = encoding::base64_key(key.trim())
        .ok()
        .ok_or(SecretError::Rejected("a base64 PKCS#8 RSA private key"))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| SecretError::Rejected("a PKCS#8 RSA private key of at least 2048 bits"))?;
    let sign = |padding: &'static dyn ring::signature::RsaEncoding| -> Result<String, SetupError> {
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            padding,
            &ring::rand::SystemRandom::new(),
            &body,
            &mut signature,
        )
        .map_err(|_| SecretError::Rejected("a usable RSA key"))?;
        Ok(encoding::base64(&signature))
    };
    // ring signs no SHA-1: the simulated request carries the SHA-256
    // signature a current Postal sends (and the key id), not the legacy one.
    let sig256 = sign(&ring::signature::RSA_PKCS1_SHA256)?;
    let kid = encoding::hex(&Sha256::digest(pair.public().as_ref()));
    Ok(Simulated::json(
        body,
        vec![
            ("X-Postal-Signature-KID".to_owned(), kid),
            ("X-Postal-Signature-256".to_owned(), sig256),
        ],
    )
    .tampered_if(sim))
}

/// Postal's registry entry.
pub(crate) static INFO: ProviderInfo = ProviderInfo {
    title: "Postal",
    authenticated_by: "RSA signature of the body (`X-Postal-Signature-256`, SHA-256; SHA-1 `X-Postal-Signature` from older servers)",
    event_id: "`uuid`",
    signed: "the body (with its `timestamp`)",
    replay_window: "1 day past, 5 min ahead (Postal retries for about 36 minutes)",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build: |s| Ok(s.boxed(verifier(s)?)),
    simulate,
    inbound: Some(&INBOUND),
};

/// The fields of an inbound request Postal posts, either format.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundFields {
    id: Option<Value>,
    rcpt_to: Option<String>,
    mail_from: Option<String>,
    token: Option<String>,
    // The raw format.
    message: Option<String>,
    // The hash format.
    subject: Option<String>,
    timestamp: Option<Value>,
    spam_status: Option<String>,
    to: Option<String>,
    cc: Option<String>,
    from: Option<String>,
    date: Option<String>,
    message_id: Option<String>,
    in_reply_to: Option<String>,
    references: Option<String>,
    reply_to: Option<Value>,
    plain_body: Option<String>,
    html_body: Option<String>,
    /// `replies_from_plain_body` is there (as `null` too): the endpoint
    /// strips replies.
    #[serde(rename = "replies_from_plain_body", deserialize_with = "present")]
    strips_replies: bool,
    attachments: crate::inbound::Capped<InboundAttachment>,
}

/// A field that is there, even as `null` (one that is not is `false`, by
/// `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InboundAttachment {
    filename: Option<String>,
    content_type: Option<String>,
    data: String,
}

/// A URL-encoded request as the JSON it encodes: every value a string,
/// `attachments[i][field]` as a list of objects.
fn form_as_json(
    content_type: &str,
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<Value, ParseError> {
    let mut object = serde_json::Map::new();
    let mut attachments: std::collections::BTreeMap<usize, serde_json::Map<String, Value>> =
        std::collections::BTreeMap::new();
    for part in crate::inbound::form_fields(content_type, body, limits)? {
        let value = Value::String(part.text());
        let indexed = part
            .name
            .strip_prefix("attachments[")
            .and_then(|rest| rest.split_once("]["))
            .and_then(|(i, field)| Some((i.parse::<usize>().ok()?, field.strip_suffix(']')?)));
        if let Some((i, field)) = indexed {
            attachments
                .entry(i)
                .or_default()
                .insert(field.to_owned(), value);
        } else if part.name == "reply_to" {
            // Repeated once per value.
            let list = object
                .entry("reply_to")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.push(value);
            }
        } else {
            object.insert(part.name, value);
        }
    }
    if !attachments.is_empty() {
        object.insert(
            "attachments".to_owned(),
            Value::Array(attachments.into_values().map(Value::Object).collect()),
        );
    }
    Ok(Value::Object(object))
}

/// Parses a request to a Postal HTTP endpoint without checking its
/// signature, within `limits`: the raw message or the hash of fields, JSON
/// or URL-encoded as `content_type` says.
///
/// # Errors
///
/// [`ParseError`] when the body is neither of Postal's inbound formats, or
/// the message is over a limit.
pub fn parse_inbound(
    content_type: &str,
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::InboundMessage;
    crate::inbound::check_json_body(body, limits)?;
    let not =
        |e: &serde_json::Error| ParseError::json("the body is not a Postal inbound request", e);
    let mut fields: InboundFields = if crate::form::is_form(Some(content_type)) {
        serde_json::from_value(form_as_json(content_type, body, limits)?).map_err(|e| not(&e))?
    } else {
        serde_json::from_slice(body).map_err(|e| not(&e))?
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let id = fields.id.as_ref().and_then(text);
    if id.is_none()
        || fields.rcpt_to.is_none()
            && fields.message.is_none()
            && fields.plain_body.is_none()
            && fields.html_body.is_none()
    {
        return Err(ParseError::new("the body is not a Postal inbound request"));
    }
    let mut message = if let Some(raw) = fields.message.take() {
        // Decoded, then the encoded text freed before the MIME is read.
        let decoded = crate::inbound::base64_content(&raw)
            .map_err(|_| ParseError::new("the raw message is not base64"))?;
        drop(raw);
        // Keyed by its content: the raw format has no token.
        InboundMessage::from_mime_owned(Provider::Postal, decoded, limits)?
    } else {
        let mut message = hash_message(&fields, limits)?;
        message.event_id = match (&id, &fields.token) {
            (Some(id), Some(token)) => Some(format!("{id}:{token}")),
            _ => None,
        };
        message
    };
    message.set_envelope_recipients(fields.rcpt_to);
    message.envelope_sender = fields.mail_from.filter(|f| !f.is_empty());
    Ok(message)
}

/// The message of the hash format.
fn hash_message(
    fields: &InboundFields,
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use std::fmt::Write as _;
    let mut message = crate::InboundMessage::new(Provider::Postal);
    // The header fields Postal passes on, decoded: each on one line (a
    // decoded value may hold a line break, which must not start a field).
    let mut block = String::new();
    let one_line = |v: &str| v.replace(['\r', '\n'], " ");
    let reply_to: Vec<String> = match &fields.reply_to {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    for (name, value) in [
        ("From", fields.from.as_deref()),
        ("To", fields.to.as_deref()),
        ("Cc", fields.cc.as_deref()),
        ("Date", fields.date.as_deref()),
        (
            "Message-ID",
            fields
                .message_id
                .as_deref()
                .map(|id| format!("<{id}>"))
                .as_deref(),
        ),
        ("In-Reply-To", fields.in_reply_to.as_deref()),
        ("References", fields.references.as_deref()),
    ]
    .into_iter()
    .chain(reply_to.iter().map(|r| ("Reply-To", Some(r.as_str()))))
    {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            let _ = write!(block, "{name}: {}\r\n", one_line(value));
        }
    }
    message.fill_headers(&block, limits)?;
    message.subject = fields.subject.clone().filter(|s| !s.is_empty());
    message.timestamp = fields
        .timestamp
        .as_ref()
        .and_then(|t| match t {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|t| t.is_finite())
        .and_then(|t| {
            #[allow(clippy::cast_possible_truncation)] // Seconds since 1970 fit.
            let nanos = (t * 1e9) as i128;
            OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
        });
    message.spam_detected = match fields.spam_status.as_deref() {
        Some("Spam") => Some(true),
        Some("NotSpam") => Some(false),
        _ => None,
    };
    message.text.clone_from(&fields.plain_body);
    message.html.clone_from(&fields.html_body);
    if fields.strips_replies {
        // The endpoint strips replies: the plain body is the reply alone.
        message.stripped_text.clone_from(&fields.plain_body);
    }
    limits.check_attachments(fields.attachments.0.len())?;
    let mut decoded = 0;
    for a in &fields.attachments.0 {
        // A form's content type may carry parameters (`; name=…`).
        let content_type = a
            .content_type
            .as_deref()
            .map(|t| t.split(';').next().unwrap_or_default());
        message.attachments.push(crate::inbound::json_attachment(
            a.filename.as_deref(),
            content_type,
            None,
            false,
            &a.data,
            &mut decoded,
            limits,
        )?);
    }
    Ok(message)
}

/// Postal's HTTP endpoints in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "RSA signature of the body, as the webhooks (`X-Postal-Signature-256`; SHA-1 from older servers); no time is signed",
    shape: "JSON or a URL-encoded form: the raw message (`message`, base64) or the parsed fields",
    parse: |request, limits| crate::inbound::typed_by_content_type(request, limits, parse_inbound),
    build: |settings| {
        use crate::Configure as _;
        let verifier = verifier(settings)?.with_limits(crate::provider::inbound_build_limits());
        Ok(crate::provider::InboundVerify::new(
            move |request, limits| {
                crate::provider::inbound_checked(verifier.check_signature(request), || {
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

/// A hash-format request (JSON) for a reply to `sim.recipient`, with an
/// attachment, signed as [`simulate`] signs; tampered: a letter of the
/// recipient changed.
fn simulate_inbound(sim: &Simulation<'_>) -> Result<Simulated, SetupError> {
    if sim.body.is_some() {
        return simulate(sim);
    }
    let digest = Sha256::digest(sim.event_id.as_bytes());
    let id = u32::from_be_bytes([0, digest[0], digest[1], digest[2]]);
    let body = serde_json::json!({
        "id": id, "rcpt_to": sim.recipient, "mail_from": "customer@example.net",
        "token": encoding::hex(&digest[4..12]), "subject": "Re: your order",
        "message_id": format!("{}@example.net", sim.event_id), "timestamp": sim.now,
        "size": "412", "spam_status": "NotSpam", "bounce": false, "received_with_ssl": true,
        "to": sim.recipient, "cc": null, "from": "A Customer <customer@example.net>",
        "date": "Sun, 06 Dec 2026 10:00:00 +0000", "in_reply_to": null, "references": null,
        "html_body": null, "plain_body": "Thanks!\n", "reply_to": null, "auto_submitted": null,
        "attachment_quantity": 1,
        "attachments": [{"filename": "receipt.txt", "content_type": "text/plain", "size": 8, "data": "b3JkZXIg\nNDI=\n"}],
    })
    .to_string();
    simulate(&Simulation {
        body: Some(body.as_bytes()),
        ..*sim
    })
}
