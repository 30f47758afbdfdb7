//! Twilio SendGrid's Event Webhook: batches of events as a JSON array,
//! signed with ECDSA P-256.
//!
//! - Authenticated by: ECDSA P-256 / SHA-256 over the
//!   `X-Twilio-Email-Event-Webhook-Timestamp` header value immediately
//!   followed by the raw body (including the body's trailing CRLF). The
//!   signature header is base64 DER; the key is the base64 DER public key
//!   SendGrid shows (PEM is accepted too).
//! - Signed: the timestamp and the whole body.
//! - Or, for accounts that never enabled signing, basic auth in the webhook
//!   URL ([`SendgridVerifier::basic_auth`]); or both at once
//!   ([`SendgridVerifier::with_basic_auth`]: both must pass); or, while
//!   moving from one to the other, either
//!   ([`SendgridVerifier::or_basic_auth`]: a delivery passes with a valid
//!   signature or with the credentials). A verifier always has at least one
//!   of them.
//! - Event id: `sg_event_id` is kept as [`EmailEvent::event_id`], but the
//!   idempotency key is a digest of the event's other fields (event,
//!   recipient, time, message, link, client, attempt, answer, group):
//!   SendGrid documents `sg_event_id` for deduplication, yet its duplicate
//!   deliveries of one event carry new ids
//!   (<https://github.com/sendgrid/sendgrid-nodejs/issues/1435>), and it
//!   sends duplicates often
//!   (<https://github.com/sendgrid/docs/issues/2933>).
//! - Events: `group_unsubscribe` is an [`EventKind::Unsubscribed`] from one
//!   unsubscribe group only (its `asm_group_id` is in the event's raw JSON,
//!   and SendGrid itself stops that group's mail): where you keep lists per
//!   group, read the group before you stop all mail to the address, as
//!   [`EmailEvent::suppression`] would. `group_resubscribe` is
//!   [`EventKind::Subscribed`]. A `dropped` event's reason gives the reject
//!   reason; "Invalid SMTPAPI header" is the sender's message, not the
//!   address.
//! - Replay window: [`DEFAULT_REPLAY_WINDOW`], 73 hours into the past and 5
//!   minutes into the future. SendGrid documents no tolerance; it retries a
//!   failed delivery at increasing intervals for up to 24 hours after the
//!   event (<https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/troubleshooting>;
//!   older pages said 72 hours), so the window covers every retry, by either
//!   account, with an hour's margin, and stays below the pipeline's default
//!   retention of 7 days: a captured delivery replayed later is either
//!   refused as too old or, inside the window, a duplicate of the completed
//!   events. Deduplicate on [`EmailEvent::idempotency_key`].
//! - Acknowledgement: any 2xx. Anything else (a timeout too) is retried,
//!   so a refusal (401, 400) is retried to no avail and a transient failure
//!   (5xx) is kept: SendGrid redelivers it.
//! - Setup: no handshake; the webhook posts once saved. The dashboard's
//!   test posts a sample batch in the usual shape, signed when signing is
//!   on.
//!
//! Source: <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>,
//! event fields at <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>.

use std::borrow::Cow;
use std::fmt;

use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use spki::der::Decode as _;
use time::OffsetDateTime;

use crate::encoding::{self, SIGNATURE_BUF};
use crate::error::{Error, ParseError, SecretError, VerifyError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::headers::{self, Headers, Name};
use crate::policy::{Policy, configure_via_field};
use crate::provider::Timestamp;
use crate::provider::batch::{self, Shape};
use crate::replay::ReplayWindow;
use crate::verified::Verified;

/// The header SendGrid puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
/// The header SendGrid puts the signed timestamp in.
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

static SIGNATURE: Name = Name::from_static("x-twilio-email-event-webhook-signature");
static TIMESTAMP: Name = Name::from_static("x-twilio-email-event-webhook-timestamp");

/// OIDs of `id-ecPublicKey` and the `prime256v1` curve.
const EC_PUBLIC_KEY: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A SendGrid verification key: a P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct SendgridPublicKey {
    /// The uncompressed point, `04 || x || y`.
    point: [u8; 65],
}

impl SendgridPublicKey {
    /// Parses the key as SendGrid shows it (base64 of the DER
    /// SubjectPublicKeyInfo), or a PEM `PUBLIC KEY` block.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when it is not a P-256 public key in either form.
    pub fn parse(key: &str) -> Result<Self, SecretError> {
        let key = key.trim();
        let b64: String = if let Some(rest) = key.strip_prefix("-----BEGIN PUBLIC KEY-----") {
            let body = rest
                .strip_suffix("-----END PUBLIC KEY-----")
                .ok_or(SecretError::Rejected("PEM public key"))?;
            body.split_ascii_whitespace().collect()
        } else {
            key.to_owned()
        };
        let der = encoding::base64_key(&b64).map_err(SecretError::Base64)?;
        Self::from_der(&der)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] unless it is an uncompressed P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Self, SecretError> {
        let rejected = || SecretError::Rejected("P-256 public key");
        let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| rejected())?;
        let curve = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok());
        if info.algorithm.oid != EC_PUBLIC_KEY || curve != Some(PRIME256V1) {
            return Err(rejected());
        }
        let point: [u8; 65] = info
            .subject_public_key
            .as_bytes()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(rejected)?;
        if point[0] != 4 {
            return Err(rejected());
        }
        Ok(Self { point })
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .is_ok()
    }

    /// The key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn to_base64_der(&self) -> String {
        // The fixed DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480).
        const PREFIX: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        encoding::base64(&der)
    }
}

impl fmt::Debug for SendgridPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendgridPublicKey({})", self.to_base64_der())
    }
}

/// The default replay window for SendGrid: 73 hours past (SendGrid retries
/// for up to 24 hours after the event; older documentation said 72), 5
/// minutes future (clock skew). See the module docs.
pub const DEFAULT_REPLAY_WINDOW: ReplayWindow = ReplayWindow::new(
    std::time::Duration::from_secs(73 * 3600),
    std::time::Duration::from_secs(5 * 60),
);

/// Verifies SendGrid Event Webhook requests and parses their batches.
///
/// Defaults: [`DEFAULT_REPLAY_WINDOW`] (see the module docs),
/// [`Limits::default`](crate::Limits::default).
#[derive(Debug)]
pub struct SendgridVerifier {
    keys: Vec<SendgridPublicKey>,
    basic: Option<crate::BasicAuth>,
    /// With both a key and credentials: either suffices (a migration),
    /// rather than both being required.
    either: bool,
    policy: Policy,
}

impl SendgridVerifier {
    /// A verifier with the account's verification key.
    #[must_use]
    pub fn new(key: SendgridPublicKey) -> Self {
        Self {
            keys: vec![key],
            basic: None,
            either: false,
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
        }
    }

    /// A verifier for an account that never enabled the signed event
    /// webhook: the basic-auth credentials of the webhook URL
    /// (`https://user:pass@host/path`) are the only check. Nothing is
    /// signed then, so nothing bounds replays: deduplicate.
    #[must_use]
    pub fn basic_auth(auth: crate::BasicAuth) -> Self {
        Self {
            keys: Vec::new(),
            basic: Some(auth),
            either: false,
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
        }
    }

    /// Also requires the basic-auth credentials of the webhook URL, besides
    /// the signature (both must pass).
    #[must_use]
    pub fn with_basic_auth(mut self, auth: crate::BasicAuth) -> Self {
        self.basic = Some(auth);
        self.either = false;
        self
    }

    /// Also accepts a delivery that carries the basic-auth credentials of
    /// the webhook URL instead of a valid signature: either check passes
    /// it. For the weeks of a migration from basic auth to the signed
    /// webhook (or back), while SendGrid may send either; then drop the
    /// credentials ([`new`](Self::new)) or require both
    /// ([`with_basic_auth`](Self::with_basic_auth)).
    ///
    /// The verifier is then only as strong as the credentials: a delivery
    /// with them is accepted unsigned, with no replay bound (deduplicate).
    /// A wrong password never falls back to the signature's absence: a
    /// delivery passes only when one check succeeds.
    ///
    /// ```
    /// use email_webhooks::BasicAuth;
    /// use email_webhooks::provider::sendgrid::{SendgridPublicKey, SendgridSigner, SendgridVerifier};
    /// # let key = SendgridSigner::generate()?.0.public_key()?.to_base64_der();
    /// let verifier = SendgridVerifier::new(SendgridPublicKey::parse(&key)?)
    ///     .or_basic_auth(BasicAuth::parse("sendgrid:a-long-random-password")?);
    /// # let _ = verifier;
    /// # Ok::<(), email_webhooks::SecretError>(())
    /// ```
    #[must_use]
    pub fn or_basic_auth(mut self, auth: crate::BasicAuth) -> Self {
        self.basic = Some(auth);
        self.either = true;
        self
    }

    /// Also accepts `key` (rotation).
    #[must_use]
    pub fn with_key(mut self, key: SendgridPublicKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Verifies a request, then parses its batch.
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
        self.verify_at(headers, body, now)?;
        Ok(parse_within(body, &self.policy.limits)?)
    }
}

/// Signs SendGrid-style requests with a P-256 key pair, for tests, the tour
/// and the simulator.
pub struct SendgridSigner {
    pair: EcdsaKeyPair,
}

impl SendgridSigner {
    /// Generates a new key pair; returns the signer and its PKCS#8 document
    /// (to keep the key for later).
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] if the system random source fails.
    pub fn generate() -> Result<(Self, Vec<u8>), SecretError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| SecretError::Rejected("P-256 key generation"))?;
        let signer = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((signer, pkcs8.as_ref().to_vec()))
    }

    /// A signer from a PKCS#8 P-256 private key.
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] if it is not one.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, SecretError> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| SecretError::Rejected("P-256 private key"))?;
        Ok(Self { pair })
    }

    /// The matching verification key.
    ///
    /// # Errors
    ///
    /// Never in practice: ring's P-256 public keys are uncompressed points.
    pub fn public_key(&self) -> Result<SendgridPublicKey, SecretError> {
        let point: [u8; 65] = self
            .pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| SecretError::Rejected("P-256 public key"))?;
        Ok(SendgridPublicKey { point })
    }

    /// The two SendGrid headers for `body` signed at `timestamp`.
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] if signing fails.
    pub fn headers(
        &self,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SecretError> {
        let ts = timestamp.to_string();
        let mut message = ts.clone().into_bytes();
        message.extend_from_slice(body);
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .pair
            .sign(&rng, &message)
            .map_err(|_| SecretError::Rejected("P-256 signing"))?;
        Ok(vec![
            (
                SIGNATURE_HEADER.to_owned(),
                encoding::base64(signature.as_ref()),
            ),
            (TIMESTAMP_HEADER.to_owned(), ts),
        ])
    }
}

impl fmt::Debug for SendgridSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendgridSigner([redacted])")
    }
}

/// One SendGrid event, with the fields SendGrid defines and the sender's
/// custom arguments (every other top-level key). Serializes back to
/// SendGrid's shape (custom arguments as top-level keys).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SendgridEvent {
    /// `processed`, `dropped`, `delivered`, `deferred`, `bounce`, `open`,
    /// `click`, `spamreport`, `unsubscribe`, `group_unsubscribe`,
    /// `group_resubscribe` (unknown events are kept).
    pub event: String,
    /// The recipient.
    pub email: Option<String>,
    /// When it happened (Unix seconds).
    pub timestamp: Timestamp,
    /// The event's unique id.
    pub sg_event_id: Option<String>,
    /// The message's id.
    pub sg_message_id: Option<String>,
    /// The receiving server's response (delivered, deferred).
    pub response: Option<String>,
    /// Why it bounced or was dropped.
    pub reason: Option<String>,
    /// `bounce` or `blocked`, for bounces.
    pub bounce_type: Option<String>,
    /// Categories (SendGrid sends a string or an array).
    pub category: Vec<String>,
    /// The opening or clicking browser.
    pub useragent: Option<String>,
    /// The clicked URL.
    pub url: Option<String>,
    /// The opening or clicking client's address; for delivery events, the
    /// sending IP.
    pub ip: Option<String>,
    /// Deferrals: the attempt's number.
    pub attempt: Option<String>,
    /// Bounces: the enhanced status code (`5.1.1`).
    pub status: Option<String>,
    /// Group unsubscribes: the unsubscribe group (a number in SendGrid's
    /// JSON, kept as text).
    pub asm_group_id: Option<String>,
    /// The message's `Message-ID` as the sender's SMTP gave it (`smtp-id`).
    pub smtp_id: Option<String>,
    /// The sender's custom arguments.
    pub custom_args: Map<String, Value>,
}

impl serde::Serialize for SendgridEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("event", &self.event)?;
        let optional = [
            ("email", &self.email),
            ("sg_event_id", &self.sg_event_id),
            ("sg_message_id", &self.sg_message_id),
            ("response", &self.response),
            ("reason", &self.reason),
            ("type", &self.bounce_type),
            ("useragent", &self.useragent),
            ("url", &self.url),
            ("ip", &self.ip),
            ("attempt", &self.attempt),
            ("status", &self.status),
            ("asm_group_id", &self.asm_group_id),
            ("smtp-id", &self.smtp_id),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                map.serialize_entry(name, value)?;
            }
        }
        if self.timestamp.0.is_some() {
            map.serialize_entry("timestamp", &self.timestamp)?;
        }
        if !self.category.is_empty() {
            map.serialize_entry("category", &self.category)?;
        }
        for (key, value) in &self.custom_args {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Top-level keys SendGrid itself defines; every other key is a custom
/// argument of the sender.
const RESERVED: &[&str] = &[
    "bounce_classification",
    "cert_err",
    "marketing_campaign_id",
    "marketing_campaign_name",
    "marketing_campaign_split_id",
    "marketing_campaign_version",
    "mc_stats",
    "phase_id",
    "pool",
    "post_type",
    "send_at",
    "sg_content_type",
    "sg_machine_open",
    "sg_template_id",
    "sg_template_name",
    "singlesend_id",
    "singlesend_name",
    "template_id",
    "template_version_id",
    "tls",
    "unique_args",
    "url_offset",
];

/// A string SendGrid may send as a number; any other value reads as
/// absent. Read straight from the parser (no `Value` in between): a batch
/// holds a thousand events of a dozen such fields.
struct Lenient(Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor)
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Lenient;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Lenient, E> {
        Ok(Lenient(Some(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Lenient, E> {
        Ok(Lenient(Some(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lenient, E> {
        Ok(Lenient(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lenient, E> {
        Ok(Lenient(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lenient, E> {
        // As `serde_json` writes the number (`1.0`, not `1`).
        Ok(Lenient(
            serde_json::Number::from_f64(v).map(|n| n.to_string()),
        ))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient, E> {
        Ok(Lenient(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Lenient, E> {
        Ok(Lenient(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Lenient, E> {
        Ok(Lenient(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Lenient, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }
}

/// `category`: one string, or an array of them (numbers read as strings,
/// anything else left out); any other value reads as none.
struct Categories(Vec<String>);

impl<'de> Deserialize<'de> for Categories {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Categories;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a category or a list of them")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Categories, A::Error> {
                let mut list = Vec::new();
                while let Some(Lenient(item)) = seq.next_element()? {
                    list.extend(item);
                }
                Ok(Categories(list))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Categories, E> {
                Ok(Categories(vec![v.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Categories, E> {
                Ok(Categories(vec![v]))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Categories, E> {
                Ok(Categories(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Categories, E> {
                Ok(Categories(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Categories, E> {
                Ok(Categories(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Categories, E> {
                Ok(Categories(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Categories, E> {
                Ok(Categories(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Categories, A::Error> {
                LenientVisitor
                    .visit_map(map)
                    .map(|_| Categories(Vec::new()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A map key, borrowed from the input unless it had escapes (serde's own
/// `Cow<str>` always allocates).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for SendgridEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SendgridEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SendGrid event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SendgridEvent, A::Error> {
                let mut e = SendgridEvent::default();
                let mut saw_event = false;
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match &*key {
                        "event" => {
                            // A non-string event type is an unknown event.
                            e.event = map.next_value::<Lenient>()?.0.unwrap_or_default();
                            saw_event = true;
                        }
                        "email" => e.email = map.next_value::<Lenient>()?.0,
                        "timestamp" => e.timestamp = map.next_value()?,
                        "sg_event_id" => e.sg_event_id = map.next_value::<Lenient>()?.0,
                        "sg_message_id" => e.sg_message_id = map.next_value::<Lenient>()?.0,
                        "response" => e.response = map.next_value::<Lenient>()?.0,
                        "reason" => e.reason = map.next_value::<Lenient>()?.0,
                        "type" => e.bounce_type = map.next_value::<Lenient>()?.0,
                        "useragent" => e.useragent = map.next_value::<Lenient>()?.0,
                        "url" => e.url = map.next_value::<Lenient>()?.0,
                        "ip" => e.ip = map.next_value::<Lenient>()?.0,
                        "attempt" => e.attempt = map.next_value::<Lenient>()?.0,
                        "status" => e.status = map.next_value::<Lenient>()?.0,
                        "asm_group_id" => e.asm_group_id = map.next_value::<Lenient>()?.0,
                        "smtp-id" => e.smtp_id = map.next_value::<Lenient>()?.0,
                        "category" => {
                            e.category = map.next_value::<Categories>()?.0;
                        }
                        k if RESERVED.contains(&k) => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            let value: Value = map.next_value()?;
                            e.custom_args.insert(key.into_owned(), value);
                        }
                    }
                }
                if !saw_event {
                    return Err(de::Error::missing_field("event"));
                }
                Ok(e)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Parses a SendGrid batch without verifying it.
///
/// One odd element never costs its neighbours: SendGrid retries a refused
/// batch for 72 hours and then drops every event in it. An element that
/// cannot be read as a SendGrid event (not an object, no `event` field, a
/// field of an unexpected type that cannot be read leniently) becomes an
/// [`EventKind::Unknown`] event that keeps its JSON in
/// [`EmailEvent::raw`]; fields of the wrong type are read as absent
/// (a timestamp object) or converted (a numeric `email`).
///
/// # Errors
///
/// [`ParseError`] only when the body is not a JSON array.
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    parse_within(body, &crate::Limits::default())
}

/// [`parse`] within `limits` (the batch's event count).
fn parse_within(body: &[u8], limits: &crate::Limits) -> Result<Vec<EmailEvent>, ParseError> {
    let raws = batch::elements(body, Shape::Array, limits.max_events_per_delivery)?;
    Ok(raws
        .into_iter()
        .map(|raw| {
            // Keyed by what it says, never by `sg_event_id`: SendGrid's
            // duplicates of one event carry new ids (see the module's docs).
            // An unreadable element: by its own bytes (two different
            // elements never share a key).
            if let Ok(native) = serde_json::from_str::<SendgridEvent>(raw.get()) {
                let digest = fingerprint(&native);
                let mut event = normalize(native, raw.to_owned());
                event.set_fingerprint(&digest);
                event
            } else {
                let mut event =
                    EmailEvent::new(Provider::Sendgrid, EventKind::Unknown, raw.to_owned());
                event.set_fingerprint(&Sha256::digest(raw.get().as_bytes()));
                event
            }
        })
        .collect())
}

/// A digest of what tells a SendGrid event apart from another, and nothing
/// that changes when SendGrid sends it again: the event, the recipient, the
/// time, the message, and each field that differs between two events of one
/// kind for one message in one second (the link, the client, the attempt,
/// the answer, the group). `sg_event_id` is left out: SendGrid documents it
/// for deduplication, but its duplicates carry new ones
/// (sendgrid/sendgrid-nodejs#1435: the same email, event, timestamp and
/// message, another `sg_event_id`; sendgrid/docs#2933: each event three
/// times on average).
fn fingerprint(native: &SendgridEvent) -> [u8; 32] {
    let time = native
        .timestamp
        .0
        .map(|t| t.unix_timestamp_nanos().to_string());
    crate::event::fingerprint([
        Some(native.event.as_str()),
        native.email.as_deref(),
        time.as_deref(),
        native.sg_message_id.as_deref(),
        native.smtp_id.as_deref(),
        native.response.as_deref(),
        native.reason.as_deref(),
        native.bounce_type.as_deref(),
        native.status.as_deref(),
        native.attempt.as_deref(),
        native.url.as_deref(),
        native.useragent.as_deref(),
        native.ip.as_deref(),
        native.asm_group_id.as_deref(),
    ])
}

fn drop_reason(reason: Option<&str>) -> RejectReason {
    let reason = reason.unwrap_or_default().to_ascii_lowercase();
    if reason.contains("bounced address") {
        RejectReason::Bounced
    } else if reason.contains("unsubscribed address") {
        RejectReason::Unsubscribed
    } else if reason.contains("smtpapi") {
        // "Invalid SMTPAPI header": the sender's message, not the address.
        RejectReason::Other
    } else if reason.contains("invalid") {
        RejectReason::Invalid
    } else if reason.contains("spam reporting address") {
        RejectReason::Spam
    } else if reason.contains("expired") {
        RejectReason::TimedOut
    } else {
        RejectReason::Other
    }
}

fn normalize(native: SendgridEvent, raw: Box<RawValue>) -> EmailEvent {
    let (kind, reason) = match native.event.as_str() {
        "processed" => (EventKind::Queued, None),
        "delivered" => (EventKind::Delivered, None),
        "deferred" => (EventKind::Deferred, None),
        "bounce" => {
            let blocked = native.bounce_type.as_deref() == Some("blocked");
            let reason = if blocked {
                RejectReason::Blocked
            } else {
                RejectReason::Bounced
            };
            (EventKind::Bounced, Some(reason))
        }
        "dropped" => (
            EventKind::Rejected,
            Some(drop_reason(native.reason.as_deref())),
        ),
        "open" => (EventKind::Opened, None),
        "click" => (EventKind::Clicked, None),
        "spamreport" => (EventKind::Complained, Some(RejectReason::Spam)),
        "unsubscribe" | "group_unsubscribe" => {
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed))
        }
        "group_resubscribe" => (EventKind::Subscribed, None),
        _ => (EventKind::Unknown, None),
    };
    // A `blocked` bounce is SendGrid's block (the receiving server refused
    // the sender or the content, not the address): SendGrid keeps mailing
    // the address, so it counts as a soft bounce here.
    let soft_bounce = kind == EventKind::Bounced && reason == Some(RejectReason::Blocked);
    let mut event = EmailEvent::new(Provider::Sendgrid, kind, raw);
    event.reject_reason = reason;
    event.soft_bounce = soft_bounce;
    event.timestamp = native.timestamp.0;
    event.event_id = native.sg_event_id;
    event.message_id = native.sg_message_id;
    event.recipient = native.email;
    // `response` is the receiving server's answer (delivered, deferred);
    // `reason` is that answer for a bounce, but SendGrid's own explanation
    // for a drop ("Bounced Address", "Invalid SMTPAPI header").
    if kind == EventKind::Rejected {
        event.mta_response = native.response;
        event.description = native.reason;
    } else {
        event.mta_response = native.response.or(native.reason);
    }
    event.click_url = native.url;
    event.user_agent = native.useragent;
    event.tags = native.category;
    event.metadata = native.custom_args;
    event
}

configure_via_field!(SendgridVerifier);

impl crate::provider::sync::SyncProvider for SendgridVerifier {
    const ID: crate::Provider = crate::Provider::Sendgrid;

    fn parse(
        request: &crate::Request<'_>,
        limits: &crate::Limits,
    ) -> Result<crate::provider::Received, ParseError> {
        Ok(crate::provider::Received::events(parse_within(
            request.body(),
            limits,
        )?))
    }
}

crate::provider::sync::sync_provider!(SendgridVerifier);

const NEEDS: &str = "--key K (the verification key; to send, the PKCS#8 private key from `keygen`) and/or --basic-auth USER:PASS";

fn build(
    settings: &crate::provider::Settings,
) -> Result<Box<dyn crate::provider::DynProvider>, crate::provider::SetupError> {
    Ok(settings.boxed(verifier(settings)?))
}

/// The verifier the settings describe: the signature (`keys`), basic auth,
/// or both.
fn verifier(
    settings: &crate::provider::Settings,
) -> Result<SendgridVerifier, crate::provider::SetupError> {
    use crate::provider::SetupError;
    let mut keys = settings.keys.iter();
    let verifier = match (keys.next(), settings.basic_auth.is_empty()) {
        (Some(first), basic_empty) => {
            let mut v = SendgridVerifier::new(SendgridPublicKey::parse(first)?);
            for key in keys {
                v = v.with_key(SendgridPublicKey::parse(key)?);
            }
            if basic_empty {
                v
            } else {
                v.with_basic_auth(settings.basic_auth(NEEDS)?)
            }
        }
        (None, false) => SendgridVerifier::basic_auth(settings.basic_auth(NEEDS)?),
        (None, true) => return Err(SetupError::Missing(NEEDS)),
    };
    Ok(verifier)
}

/// A one-event SendGrid batch, signed with the private key (base64
/// PKCS#8) and/or with basic auth; tampered: a letter of the recipient (or,
/// with basic auth alone, the password).
/// The sample delivery's body for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    let event = match sim.kind {
        EventKind::Delivered => "delivered",
        EventKind::Bounced => "bounce",
        EventKind::Opened => "open",
        EventKind::Clicked => "click",
        EventKind::Complained => "spamreport",
        EventKind::Deferred => "deferred",
        EventKind::Unsubscribed => "unsubscribe",
        EventKind::Rejected => "dropped",
        other => return Err(SetupError::Unsupported(other)),
    };
    Ok(format!(
        "{}\r\n",
        serde_json::json!([{ "email": sim.recipient, "timestamp": sim.now, "event": event,
            "sg_event_id": sim.event_id, "sg_message_id": format!("{}.filter0001", sim.event_id),
            "url": "https://example.com/", "useragent": "Mozilla/5.0",
            "reason": "550 5.1.1 user unknown", "type": "bounce" }])
    )
    .into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{SetupError, Simulated, basic_header_for};
    use base64::Engine as _;
    let body = sim.body_or(sample)?;
    let mut headers = Vec::new();
    if let Some(pair) = sim.settings.basic_auth.first() {
        // Tampered with basic auth alone: the password (nothing is signed).
        headers.push(basic_header_for(
            pair,
            sim.tamper && sim.settings.keys.is_empty(),
        ));
    }
    if let Some(key) = sim.settings.keys.first() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| SetupError::Secret(SecretError::Rejected("base64 PKCS#8 private key")))?;
        headers.extend(SendgridSigner::from_pkcs8(&der)?.headers(sim.now, &body)?);
    } else if sim.settings.basic_auth.is_empty() {
        return Err(SetupError::Missing(NEEDS));
    }
    let mut delivery = Simulated::json(body, headers);
    if sim.tamper && !sim.settings.keys.is_empty() {
        delivery.alter_body(sim.recipient.as_bytes(), 0);
    }
    Ok(delivery)
}

/// SendGrid's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "SendGrid",
    authenticated_by: "ECDSA P-256 over timestamp + body, or basic auth in the webhook URL, or both",
    event_id: "`sg_event_id`",
    signed: "timestamp and body (nothing with basic auth alone)",
    replay_window: "73 h past, 5 min ahead (covers SendGrid's retries)",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: Some(&INBOUND),
};

impl crate::scheme::Authenticate for SendgridVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let (headers, body, now) = (request.headers(), request.body(), request.now());
        self.policy.limits.check_body(body)?;
        if self.either {
            return self.either_check(headers, body, now);
        }
        let basic = match &self.basic {
            Some(auth) => Some(auth.check(headers, &self.policy.limits)?),
            None => None,
        };
        if self.keys.is_empty() {
            // Built with `basic_auth` alone: the credentials were the check.
            return Ok(Verified::new(None, None, basic.unwrap_or_default()));
        }
        self.check_signature(headers, body, now)
    }
}

impl SendgridVerifier {
    /// The signature check alone.
    fn check_signature<'r>(
        &self,
        headers: &(dyn Headers + Sync),
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Verified<'r>, VerifyError> {
        let signature = headers::required(headers, &SIGNATURE, &self.policy.limits)?;
        let timestamp_text = headers::required(headers, &TIMESTAMP, &self.policy.limits)?;
        let timestamp = headers::parse_timestamp(timestamp_text, || TIMESTAMP.error_name())?;
        self.policy.check_timestamp(timestamp, now)?;
        let mut buf = [0u8; SIGNATURE_BUF];
        let Some(signature) = encoding::base64_into(signature.as_bytes(), &mut buf) else {
            return Err(VerifyError::InvalidSignature);
        };
        // ring verifies one contiguous message: one copy of the body.
        let mut message = Vec::with_capacity(timestamp_text.len() + body.len());
        message.extend_from_slice(timestamp_text.as_bytes());
        message.extend_from_slice(body);
        let index = self
            .keys
            .iter()
            .position(|key| key.verifies(&message, signature))
            .ok_or(VerifyError::InvalidSignature)?;
        Ok(Verified::new(None, Some(timestamp), index))
    }

    /// [`or_basic_auth`](Self::or_basic_auth): the signature when it
    /// verifies, else the credentials. When both fail, the error is the
    /// signature's if the delivery carries one, else the credentials'.
    fn either_check<'r>(
        &self,
        headers: &(dyn Headers + Sync),
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Verified<'r>, VerifyError> {
        let signed = self.check_signature(headers, body, now);
        let Err(signature_error) = signed else {
            return signed;
        };
        let Some(auth) = &self.basic else {
            return Err(signature_error);
        };
        match auth.check(headers, &self.policy.limits) {
            Ok(index) => Ok(Verified::new(None, None, index)),
            Err(credentials_error) => {
                let carries_signature = headers::present(headers, &SIGNATURE);
                Err(if carries_signature {
                    signature_error
                } else {
                    credentials_error
                })
            }
        }
    }
}

crate::scheme::verify_methods!(SendgridVerifier);

/// SendGrid's Inbound Parse webhook: mail SendGrid received for your
/// parse hostname, posted as `multipart/form-data` (RFC 7578), either with
/// the message parsed into fields (`headers`, `from`, `to`, `cc`,
/// `subject`, `text`, `html`, `envelope` as JSON, `spam_score`,
/// `spam_report`, `attachment-info` as JSON, one file field per
/// attachment) or, with "POST the raw, full MIME message" on, the whole
/// message in the `email` field. Inbound Parse signs nothing: authenticate
/// it with basic auth in its URL. SendGrid retries a 5xx for three days,
/// then drops the message; any other answer ends its tries, so a refused
/// delivery (a wrong password, a body over a limit) is not sent again.
/// Source: <https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook>.
///
/// # Errors
///
/// [`ParseError`] when the body is not such a form or is over a limit.
pub fn parse_inbound(
    content_type: &str,
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{InboundMessage, form_data};
    let fields = form_data(content_type, body, limits)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name && f.filename.is_none())
    };
    let mut message = if let Some(raw) = field("email") {
        InboundMessage::from_mime(Provider::Sendgrid, &raw.content, limits)?
    } else {
        let mut message = InboundMessage::new(Provider::Sendgrid);
        if field("headers").is_none() && field("from").is_none() && field("text").is_none() {
            return Err(ParseError::new("the form is not SendGrid's Inbound Parse"));
        }
        if let Some(headers) = field("headers") {
            message.fill_headers(&headers.text(), limits)?;
        }
        // `charsets`: {"text": "iso-8859-1", …}: each field's charset.
        let charsets: serde_json::Map<String, serde_json::Value> = field("charsets")
            .and_then(|f| serde_json::from_slice(&f.content).ok())
            .unwrap_or_default();
        let decoded = |name: &str| {
            let charset = charsets.get(name).and_then(serde_json::Value::as_str);
            field(name).map(|f| f.text_in(charset))
        };
        message.text = decoded("text");
        message.html = decoded("html");
        if message.subject.is_none() {
            message.subject = decoded("subject");
        }
        // `attachment-info`: {"attachment1": {"filename", "type", "content-id"}}.
        let info: serde_json::Map<String, serde_json::Value> = field("attachment-info")
            .and_then(|f| serde_json::from_slice(&f.content).ok())
            .unwrap_or_default();
        for file in fields.iter().filter(|f| f.filename.is_some()) {
            let described = info.get(&file.name);
            let content_id = described
                .and_then(|d| d.get("content-id"))
                .and_then(serde_json::Value::as_str)
                .map(|id| id.trim_matches(['<', '>']).to_owned())
                .filter(|id| !id.is_empty());
            message.attachments.push(file.attachment(content_id));
        }
        message
    };
    // The SMTP envelope: {"to": ["…"], "from": "…"}.
    if let Some(envelope) =
        field("envelope").and_then(|f| serde_json::from_slice::<serde_json::Value>(&f.content).ok())
    {
        message.envelope_sender = envelope
            .get("from")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let to = envelope.get("to");
        let listed = to.and_then(serde_json::Value::as_array).map_or_else(
            || to.into_iter().collect(),
            |list| list.iter().collect::<Vec<_>>(),
        );
        message.set_envelope_recipients(
            listed
                .into_iter()
                .filter_map(serde_json::Value::as_str)
                .take(limits.max_headers)
                .map(str::to_owned),
        );
    }
    if let Some(score) = field("spam_score")
        .and_then(|f| f.text().trim().parse::<f64>().ok())
        .filter(|s| s.is_finite())
    {
        message.spam_score = Some(score);
    }
    Ok(message)
}

/// SendGrid's Inbound Parse in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "basic auth in the Inbound Parse URL, and/or a security policy's ECDSA signature (as the Event Webhook's: P-256 over timestamp + body)",
    shape: "multipart/form-data: parsed fields and files, or the raw message in `email`",
    parse: |request, limits| crate::inbound::typed_by_content_type(request, limits, parse_inbound),
    build: |settings| Ok(INBOUND.verified_by(settings, verifier(settings)?)),
    simulate: simulate_inbound,
    reply: crate::provider::Reply::standard,
    control: None,
    by_event_verifier: false,
};

/// A SendGrid Inbound Parse delivery (parsed fields, an attachment);
/// tampered: a wrong password.
fn simulate_inbound(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, Simulated, basic_header_for};
    // A given (captured) form keeps its own boundary: its first line.
    let given_boundary = sim.body.and_then(|body| {
        let first = body.split(|&b| b == b'\n').next()?;
        let line = std::str::from_utf8(first).ok()?.trim_end_matches('\r');
        line.strip_prefix("--").map(str::to_owned)
    });
    let boundary = given_boundary.unwrap_or_else(|| {
        format!(
            "xYzZY{}",
            crate::encoding::hex(&Sha256::digest(sim.event_id.as_bytes())[..8])
        )
    });
    let body = if let Some(body) = sim.body {
        body.to_vec()
    } else {
        let headers = format!(
            "Received: from mail.example.net\nMessage-ID: <{}@example.net>\nFrom: A Customer <customer@example.net>\nTo: {}\nSubject: Re: your order\nDate: Sun, 6 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n",
            sim.event_id, sim.recipient
        );
        let envelope =
            serde_json::json!({"to": [sim.recipient], "from": "customer@example.net"}).to_string();
        let info = r#"{"attachment1":{"filename":"receipt.txt","name":"receipt.txt","type":"text/plain"}}"#;
        crate::inbound::multipart_form(
            &boundary,
            &[
                ("headers", headers.as_str()),
                ("from", "A Customer <customer@example.net>"),
                ("to", sim.recipient),
                ("subject", "Re: your order"),
                ("text", "Thanks!\n"),
                ("html", "<p>Thanks!</p>"),
                ("envelope", envelope.as_str()),
                ("spam_score", "0.1"),
                ("attachments", "1"),
                ("attachment-info", info),
            ],
            &[("attachment1", "receipt.txt", "text/plain", b"order 42")],
        )
    };
    let mut headers = vec![(
        "Content-Type".to_owned(),
        format!("multipart/form-data; boundary={boundary}"),
    )];
    if let Some(pair) = sim.settings.basic_auth.first() {
        // Tampered with basic auth alone: the password.
        headers.push(basic_header_for(
            pair,
            sim.tamper && sim.settings.keys.is_empty(),
        ));
    }
    if let Some(key) = sim.settings.keys.first() {
        // A security policy's signature: as the Event Webhook's.
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| {
                crate::provider::SetupError::Secret(SecretError::Rejected(
                    "base64 PKCS#8 private key",
                ))
            })?;
        headers.extend(SendgridSigner::from_pkcs8(&der)?.headers(sim.now, &body)?);
    } else if sim.settings.basic_auth.is_empty() {
        Settings::first(
            &sim.settings.basic_auth,
            "--basic-auth USER:PASS (as in the Inbound Parse URL), or --key K (a security policy's)",
        )?;
    }
    let mut delivery = Simulated {
        headers,
        body,
        query: None,
    };
    if sim.tamper && !sim.settings.keys.is_empty() {
        delivery.alter_body(sim.recipient.as_bytes(), 0);
    }
    Ok(delivery)
}
