//! Amazon SNS HTTP(S) deliveries: the signed JSON envelope around every
//! message, including Amazon SES notifications ([`ses`](super::ses)).
//!
//! - Authenticated by: an RSA PKCS#1 v1.5 signature (SHA-1 for
//!   `SignatureVersion` 1, SHA-256 for 2) over a canonical string built from
//!   the envelope, checked with the X.509 certificate at `SigningCertURL`.
//! - The certificate URL must be `https://sns.<region>.amazonaws.com[.cn]/…pem`
//!   (no user info, no port, no query), checked **before** any fetch. The
//!   crate never fetches: you implement [`CertificateSource`] (an HTTPS GET
//!   is enough), and [`CertificateCache`] keeps parsed certificates by URL.
//!   A certificate is used only within its validity period.
//! - Signed: `Message`, `MessageId`, `Subject`, `Timestamp`, `TopicArn` and
//!   `Type` (plus `SubscribeURL` and `Token` for subscription messages).
//! - Raw message delivery (no envelope, no signature) is refused.
//! - Subscription confirmations are returned, validated, never confirmed
//!   automatically: visiting the `SubscribeURL` is your decision.
//! - Topics: a verifier is built with the topic ARNs it accepts
//!   ([`SnsVerifier::new`]); AWS signs every account's topics with the same
//!   certificates, so the allowlist is what ties a delivery to *your*
//!   topic. The topic is checked before any certificate is fetched.
//! - Signed values other than `Message` must be single lines, so the string
//!   to sign reads one way only ([`SnsEnvelope::check_unambiguous`]).
//! - Replay: SNS redelivers the same signed envelope on retries, with its
//!   original `Timestamp`; its HTTP/S retries end within an hour. The
//!   default window ([`DEFAULT_REPLAY_WINDOW`]) accepts 2 hours into the
//!   past, below the pipeline's 7-day retention, so a replay is refused or
//!   a duplicate. Deduplicate on `MessageId`.
//! - Certificates: fetched once per URL at a time, failures remembered
//!   briefly, expired ones fetched anew ([`CertificateCache`]). A failed
//!   fetch is [`VerifyError::CertificateUnavailable`], answered 503 so SNS
//!   retries.
//!
//! Source: <https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ring::signature::{RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::der::{Decode as _, DecodePem as _};

use crate::encoding;
use crate::error::{HeaderProblem, SecretError, VerifyError};
use crate::headers::{self, Headers, Name};
use crate::policy::Policy;
use crate::replay::ReplayWindow;

static MESSAGE_TYPE: Name = Name::from_static("x-amz-sns-message-type");
static RAW_DELIVERY: Name = Name::from_static("x-amz-sns-rawdelivery");

const RSA_ENCRYPTION: x509_cert::spki::ObjectIdentifier =
    x509_cert::spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Whether `host` is `sns.<region>.amazonaws.com` or `….amazonaws.com.cn`,
/// where the region has the shape of an AWS region name: lowercase words
/// joined by `-`, ending in a number (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`). One label of any letters is not enough: S3's old
/// dash-style hosts (`sns.s3-ap-southeast-2.amazonaws.com`,
/// `sns.s3-accelerate.amazonaws.com`) serve a bucket named `sns` over
/// HTTPS, where anyone owning that bucket could put a certificate.
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    rest.strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
        .is_some_and(is_region)
}

/// Whether `name` is shaped like an AWS region: at least two words of
/// lowercase letters and a number, joined by `-`.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let [words @ .., number] = parts.as_slice() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Splits an `https://host/path…` URL; `None` for anything else, including
/// user info, ports, and characters a plain SNS URL never has.
fn https_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://")?;
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') || url.contains('#') {
        return None;
    }
    let slash = rest.find('/')?;
    let (host, path) = rest.split_at(slash);
    if host.contains(['@', ':', '%', '?']) {
        return None;
    }
    Some((host, path))
}

/// A `SigningCertURL` that passed the host, scheme and path checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SigningCertUrl(String);

impl SigningCertUrl {
    /// Validates `url`.
    ///
    /// # Errors
    ///
    /// [`VerifyError::UntrustedCertificateUrl`] unless it is
    /// `https://sns.<region>.amazonaws.com[.cn]/<name>.pem`: one path
    /// segment of letters, digits, `-` and `_` (SNS's are
    /// `SimpleNotificationService-<hex>.pem`), so that one certificate has
    /// one URL: spellings such as `/./name.pem` or `//name.pem`, which a
    /// server reads as the same file, would each be a new URL to fetch
    /// and cache.
    // `.pem` exactly, in lowercase, as SNS writes it: stricter is safer here.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    pub fn parse(url: &str) -> Result<Self, VerifyError> {
        let plain_name = |path: &str| {
            path.strip_prefix('/')
                .and_then(|name| name.strip_suffix(".pem"))
                .is_some_and(|stem| {
                    !stem.is_empty()
                        && stem
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        };
        match https_parts(url) {
            Some((host, path)) if is_sns_host(host) && plain_name(path) => Ok(Self(url.to_owned())),
            _ => Err(VerifyError::UntrustedCertificateUrl),
        }
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A `SubscribeURL` that passed the same host and scheme checks, safe to
/// visit to confirm a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeUrl(String);

impl SubscribeUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, VerifyError> {
        match https_parts(url) {
            Some((host, _)) if is_sns_host(host) => Ok(Self(url.to_owned())),
            _ => Err(VerifyError::InvalidPayload {
                detail: "SubscribeURL is not an https SNS URL",
            }),
        }
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A parsed SNS signing certificate: its RSA public key and validity.
#[derive(Clone)]
pub struct SnsCertificate {
    rsa_public_key: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

impl SnsCertificate {
    /// Parses a PEM (or DER) X.509 certificate with an RSA key.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidCertificate`] for anything else.
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let cert = x509_cert::Certificate::from_pem(bytes)
            .or_else(|_| x509_cert::Certificate::from_der(bytes))
            .map_err(|_| VerifyError::InvalidCertificate)?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(VerifyError::InvalidCertificate);
        }
        let rsa_public_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(VerifyError::InvalidCertificate)?
            .to_vec();
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        Ok(Self {
            rsa_public_key,
            not_before: secs(tbs.validity.not_before),
            not_after: secs(tbs.validity.not_after),
        })
    }

    /// Whether `now` is within the certificate's validity period.
    #[must_use]
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        let now = now.unix_timestamp();
        self.not_before <= now && now <= self.not_after
    }

    fn verify(
        &self,
        version: SignatureVersion,
        message: &[u8],
        signature: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        if !self.is_valid_at(now) {
            return Err(VerifyError::InvalidCertificate);
        }
        let algorithm = match version {
            SignatureVersion::V1 => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureVersion::V2 => &RSA_PKCS1_2048_8192_SHA256,
        };
        ring::signature::UnparsedPublicKey::new(algorithm, &self.rsa_public_key)
            .verify(message, signature)
            .map_err(|_| VerifyError::InvalidSignature)
    }
}

impl fmt::Debug for SnsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsCertificate")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Where signing certificates come from. Implement it with your HTTP client:
/// fetch `url` (already validated) over HTTPS and return the PEM bytes.
///
/// Return [`VerifyError::CertificateUnavailable`] when the fetch fails for a
/// reason that may pass (network, DNS, timeout, a 5xx answer): the delivery
/// is then answered 503 and SNS retries it. Any other error refuses the
/// delivery for good (SNS discards a message answered 4xx).
///
/// A complete implementation over `reqwest` (HTTPS only, a timeout, no
/// redirects, a size limit) is `examples/sns_certificates.rs`.
pub trait CertificateSource: Send + Sync {
    /// The PEM bytes at `url`.
    fn fetch(
        &self,
        url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send;
}

/// A fixed set of certificates by URL: for tests, the tour, and servers that
/// pin certificates. Unknown URLs are [`VerifyError::InvalidCertificate`].
#[derive(Debug, Clone, Default)]
pub struct StaticCertificates {
    pems: HashMap<String, Vec<u8>>,
}

impl StaticCertificates {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `pem` for `url`.
    #[must_use]
    pub fn with(mut self, url: &str, pem: impl Into<Vec<u8>>) -> Self {
        self.pems.insert(url.to_owned(), pem.into());
        self
    }
}

impl CertificateSource for StaticCertificates {
    fn fetch(
        &self,
        url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        let found = self
            .pems
            .get(url.as_str())
            .cloned()
            .ok_or(VerifyError::InvalidCertificate);
        std::future::ready(found)
    }
}

/// One certificate served for every (already validated) certificate URL:
/// for the CLI, which is given the certificate, and for tests. A real
/// receiver fetches by URL ([`CertificateSource`]).
#[derive(Debug, Clone)]
pub struct FixedCertificate(Vec<u8>);

impl FixedCertificate {
    /// Serves `pem` for any certificate URL that passes the SNS URL checks.
    #[must_use]
    pub fn new(pem: impl Into<Vec<u8>>) -> Self {
        Self(pem.into())
    }
}

impl CertificateSource for FixedCertificate {
    fn fetch(
        &self,
        _url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}

/// What the cache knows about one URL.
#[derive(Debug)]
enum Slot {
    /// Never fetched, or the last certificate expired.
    Empty,
    /// A parsed certificate.
    Ready(Arc<SnsCertificate>),
    /// The last fetch (or parse) failed; answered without fetching until
    /// `until`.
    Failed {
        error: VerifyError,
        until: OffsetDateTime,
    },
}

type SharedSlot = Arc<futures_util::lock::Mutex<Slot>>;

/// One URL in the cache: its slot, and whether a certificate from it has
/// verified a signature (so it is SNS's: a forger names URLs but cannot
/// sign with their keys).
#[derive(Debug)]
struct Cached {
    slot: SharedSlot,
    proven: bool,
}

/// Parsed certificates by URL in front of a [`CertificateSource`].
///
/// - **One fetch in flight per URL:** concurrent requests naming the same
///   URL wait for the first one's fetch instead of each fetching.
/// - **Failures are remembered** for [`failure_ttl`](Self::with_failure_ttl)
///   (default 10 seconds, shorter than SNS's default 20-second retry
///   interval, so a retry after a network hiccup fetches again), so a flood
///   of forged requests naming one URL costs one fetch per interval.
/// - **Expired certificates are fetched anew:** a cached certificate is used
///   only within its validity period; after it, the URL is fetched again.
/// - **Bounded:** at most [`capacity`](Self::with_capacity) URLs (default
///   32; SNS uses one certificate per region at a time). When full, a
///   failure whose time-to-live ended is forgotten first, then an expired
///   certificate, then (while failures still remembered fill more than half
///   the cache) the oldest failure, then the certificate that expires first
///   among those that never verified a signature; a fetch in flight is
///   never forgotten, and when nothing can go the new URL is answered
///   [`VerifyError::CertificateUnavailable`] without a fetch. So failures
///   never keep out the URL real deliveries are signed with, and requests
///   naming ever new failing URLs cost a fetch each once they fill half
///   the cache: put SNS behind a rate limit.
/// - **Proven certificates stay:** one that verified a signature is
///   forgotten only when every URL remembered is proven, so forged
///   requests naming new URLs never push out the certificate real
///   deliveries are signed with.
#[derive(Debug)]
pub struct CertificateCache<S> {
    source: S,
    slots: Mutex<HashMap<SigningCertUrl, Cached>>,
    capacity: usize,
    failure_ttl: Duration,
}

impl<S: CertificateSource> CertificateCache<S> {
    /// A cache in front of `source` with the defaults (32 URLs, failures
    /// remembered for 10 seconds).
    #[must_use]
    pub fn new(source: S) -> Self {
        Self {
            source,
            slots: Mutex::new(HashMap::new()),
            capacity: 32,
            failure_ttl: Duration::from_secs(10),
        }
    }

    /// Sets the most URLs remembered at once (default 32; at least 1).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets how long a failed fetch is remembered before the URL is fetched
    /// again (default 10 seconds).
    #[must_use]
    pub fn with_failure_ttl(mut self, ttl: Duration) -> Self {
        self.failure_ttl = ttl;
        self
    }

    /// The slot for `url`, made (evicting another when full) if absent. The
    /// map's lock is held only here, never across a fetch. A new slot is
    /// returned already locked by its maker, so an empty slot that nobody
    /// holds was abandoned (its request dropped mid-fetch) and may be
    /// forgotten. When nothing may be forgotten (see [`eviction_victim`]),
    /// the new URL is answered [`VerifyError::CertificateUnavailable`]
    /// without a fetch (503: SNS retries later).
    fn slot(&self, url: &SigningCertUrl, now: OffsetDateTime) -> Result<SlotAccess, VerifyError> {
        let mut map = self
            .slots
            .lock()
            .map_err(|_| VerifyError::CertificateUnavailable)?;
        if let Some(cached) = map.get(url) {
            return Ok(SlotAccess::Existing(Arc::clone(&cached.slot)));
        }
        if map.len() >= self.capacity {
            let victim = eviction_victim(&map, now).ok_or(VerifyError::CertificateUnavailable)?;
            map.remove(&victim);
        }
        let slot = Arc::new(futures_util::lock::Mutex::new(Slot::Empty));
        let held = slot
            .try_lock_owned()
            .ok_or(VerifyError::CertificateUnavailable)?;
        map.insert(
            url.clone(),
            Cached {
                slot,
                proven: false,
            },
        );
        Ok(SlotAccess::New(held))
    }

    /// Notes that the certificate from `url` verified a signature: a URL
    /// so proven is forgotten to make room only when every URL remembered
    /// is proven, never for a URL that is not (yet).
    fn prove(&self, url: &SigningCertUrl) {
        if let Ok(mut map) = self.slots.lock() {
            if let Some(cached) = map.get_mut(url) {
                cached.proven = true;
            }
        }
    }

    /// The certificate at `url`, valid at `now`: from the cache, or fetched
    /// and parsed (once, however many requests wait for it).
    ///
    /// # Errors
    ///
    /// What the source returns (a remembered failure is returned again
    /// until its time-to-live ends);
    /// [`VerifyError::CertificateUnavailable`] for fetched bytes that are no
    /// certificate or a certificate not valid yet at `now`;
    /// [`VerifyError::InvalidCertificate`] for one that has expired.
    pub async fn get_at(
        &self,
        url: &SigningCertUrl,
        now: OffsetDateTime,
    ) -> Result<Arc<SnsCertificate>, VerifyError> {
        let mut slot = match self.slot(url, now)? {
            SlotAccess::New(held) => held,
            SlotAccess::Existing(slot) => slot.lock_owned().await,
        };
        match &*slot {
            Slot::Ready(cert) if cert.is_valid_at(now) => return Ok(Arc::clone(cert)),
            Slot::Failed { error, until } if now < *until => return Err(error.clone()),
            _ => {}
        }
        let fetched = self.source.fetch(url).await.and_then(|pem| {
            // The URL is on SNS's own host: bytes from it that are no
            // certificate (an error page from a proxy on the way), or a
            // certificate not valid yet (a clock behind, a certificate just
            // issued), are answered 503 for SNS to retry, not refused for
            // good (SNS drops a delivery answered 4xx).
            let cert =
                SnsCertificate::parse(&pem).map_err(|_| VerifyError::CertificateUnavailable)?;
            if cert.is_valid_at(now) {
                Ok(Arc::new(cert))
            } else if now.unix_timestamp() < cert.not_before {
                Err(VerifyError::CertificateUnavailable)
            } else {
                Err(VerifyError::InvalidCertificate)
            }
        });
        *slot = match &fetched {
            Ok(cert) => Slot::Ready(Arc::clone(cert)),
            Err(error) => Slot::Failed {
                error: error.clone(),
                until: crate::replay::saturating_add(now, self.failure_ttl),
            },
        };
        fetched
    }
}

/// A slot to use: one just made, already locked by its maker, or one that
/// exists, to wait for.
enum SlotAccess {
    New(futures_util::lock::OwnedMutexGuard<Slot>),
    Existing(SharedSlot),
}

/// Which URL to forget when the cache is full, or `None` to refuse the new
/// URL for now: an abandoned empty slot or a failure whose time-to-live has
/// ended first, then a certificate no longer valid, then, while failures
/// still remembered fill more than half the cache, the oldest of them, then
/// the valid certificate that expires first among those that never
/// verified a signature. A slot with a fetch in flight (locked, as every
/// new slot is from birth) is never forgotten (a second fetch would start
/// for a URL already being fetched), and a failure still remembered only
/// past half the cache: below that, forgetting failures would let a flood
/// of requests naming ever new URLs start a fetch each; past it, keeping
/// them would let such a flood keep out the URL SNS really signs with (a
/// new certificate after a rotation), answered 503 until SNS gave up. A
/// proven certificate (one that verified a signature) is forgotten only
/// when every URL remembered is proven: else a flood of forged requests
/// naming new URLs would push out the certificate SNS signs with.
fn eviction_victim(
    map: &HashMap<SigningCertUrl, Cached>,
    now: OffsetDateTime,
) -> Option<SigningCertUrl> {
    let mut best: Option<((u8, i64), &SigningCertUrl)> = None;
    let mut all_proven = true;
    let mut failures = 0;
    let mut oldest_failure: Option<(OffsetDateTime, &SigningCertUrl)> = None;
    for (url, cached) in map {
        let Some(slot) = cached.slot.try_lock() else {
            all_proven = false;
            continue;
        };
        let rank = match &*slot {
            Slot::Empty => return Some(url.clone()),
            Slot::Failed { until, .. } if *until <= now => return Some(url.clone()),
            Slot::Failed { until, .. } => {
                all_proven = false;
                failures += 1;
                if oldest_failure.is_none_or(|(oldest, _)| *until < oldest) {
                    oldest_failure = Some((*until, url));
                }
                continue;
            }
            Slot::Ready(cert) if !cert.is_valid_at(now) => (0, cert.not_after),
            Slot::Ready(cert) if !cached.proven => (1, cert.not_after),
            Slot::Ready(cert) => (2, cert.not_after),
        };
        if rank.0 < 2 {
            all_proven = false;
        }
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, url));
        }
    }
    if let Some(((0, _), url)) = best {
        return Some(url.clone());
    }
    if failures * 2 > map.len() {
        if let Some((_, url)) = oldest_failure {
            return Some(url.clone());
        }
    }
    best.filter(|((rank, _), _)| *rank < 2 || all_proven)
        .map(|(_, url)| url.clone())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureVersion {
    V1,
    V2,
}

/// The SNS JSON envelope. Both spellings of the URL keys are accepted
/// (`SigningCertURL`, and `SigningCertUrl` as Lambda writes it); a body with
/// both is refused as ambiguous.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct SnsEnvelope {
    /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    #[serde(rename = "Type")]
    pub message_type: String,
    /// SNS's id for this message (the idempotency key).
    pub message_id: String,
    /// The topic.
    pub topic_arn: String,
    /// The message (for SES, a JSON document as a string).
    pub message: String,
    /// When SNS published it (RFC 3339).
    pub timestamp: String,
    /// The subject, when the publisher set one.
    pub subject: Option<String>,
    /// `1` (SHA-1) or `2` (SHA-256).
    pub signature_version: Option<String>,
    /// Base64 signature.
    pub signature: Option<String>,
    /// Where the signing certificate is.
    #[serde(rename = "SigningCertURL", alias = "SigningCertUrl")]
    pub signing_cert_url: Option<String>,
    /// Subscription messages: the URL that confirms the subscription.
    #[serde(rename = "SubscribeURL", alias = "SubscribeUrl")]
    pub subscribe_url: Option<String>,
    /// Notifications: the URL that unsubscribes.
    #[serde(rename = "UnsubscribeURL", alias = "UnsubscribeUrl")]
    pub unsubscribe_url: Option<String>,
    /// Subscription messages: the confirmation token.
    pub token: Option<String>,
}

impl SnsEnvelope {
    /// Parses the envelope without verifying it.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidPayload`] when the body is not an SNS envelope.
    pub fn parse(body: &[u8]) -> Result<Self, VerifyError> {
        serde_json::from_slice(body).map_err(|_| VerifyError::InvalidPayload {
            detail: "the body is not an SNS message envelope",
        })
    }

    /// Refuses an envelope whose string to sign could be read two ways.
    ///
    /// The string is `key\nvalue\n` lines with optional keys, so a value
    /// holding a newline could imitate further lines: a `MessageId` of
    /// `m\nSubject\ns` without its `Subject` signs exactly like `m` with
    /// `Subject` `s`, and would give a replayed message a new idempotency
    /// key. Every signed value but `Message` must therefore be one line.
    /// `Message` may hold newlines (SNS messages are free text): it comes
    /// first, and once every later value is a single line the string reads
    /// one way only, from its end.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidPayload`] when a signed field other than
    /// `Message` contains a newline.
    pub fn check_unambiguous(&self) -> Result<(), VerifyError> {
        let single_line = [
            Some(&self.message_id),
            self.subject.as_ref(),
            Some(&self.timestamp),
            Some(&self.topic_arn),
            Some(&self.message_type),
            self.subscribe_url.as_ref(),
            self.token.as_ref(),
        ];
        if single_line.into_iter().flatten().any(|v| v.contains('\n')) {
            return Err(VerifyError::InvalidPayload {
                detail: "a signed SNS field other than Message contains a newline",
            });
        }
        Ok(())
    }

    /// The canonical string SNS signs: `key\nvalue\n` for each signed key
    /// present and not null, in the documented order.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidPayload`] for an unknown `Type`, or a signed
    /// field that makes the string ambiguous ([`check_unambiguous`](Self::check_unambiguous)).
    pub fn string_to_sign(&self) -> Result<String, VerifyError> {
        self.check_unambiguous()?;
        let fields: [(&str, Option<&str>); 7] = match self.message_type.as_str() {
            "Notification" => [
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("Subject", self.subject.as_deref()),
                ("Timestamp", Some(&self.timestamp)),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(&self.message_type)),
                ("", None),
            ],
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => [
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("SubscribeURL", self.subscribe_url.as_deref()),
                ("Timestamp", Some(&self.timestamp)),
                ("Token", self.token.as_deref()),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(&self.message_type)),
            ],
            _ => {
                return Err(VerifyError::InvalidPayload {
                    detail: "unknown SNS message Type",
                });
            }
        };
        let mut out = String::new();
        for (key, value) in fields {
            if let Some(value) = value {
                out.push_str(key);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// Signs SNS envelopes as SNS does (`SignatureVersion` 2: RSA PKCS#1 v1.5
/// with SHA-256), for tests, the tour and the simulator. Pair it with a
/// certificate for the same key, served to the receiver by its
/// [`CertificateSource`] at the signer's certificate URL.
pub struct SnsSigner {
    pair: ring::signature::RsaKeyPair,
    cert_url: SigningCertUrl,
}

impl SnsSigner {
    /// A signer from a PKCS#8 (DER) RSA private key, naming `cert_url` as
    /// the `SigningCertURL` of what it signs.
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] if `pkcs8` is not an RSA private key ring
    /// accepts (2048 to 8192 bits).
    pub fn from_pkcs8(pkcs8: &[u8], cert_url: SigningCertUrl) -> Result<Self, SecretError> {
        let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8)
            .map_err(|_| SecretError::Rejected("RSA private key"))?;
        Ok(Self { pair, cert_url })
    }

    /// The certificate URL written into each envelope.
    #[must_use]
    pub fn cert_url(&self) -> &SigningCertUrl {
        &self.cert_url
    }

    /// Signs an envelope: `fields` is a JSON object with `Type`,
    /// `MessageId`, `TopicArn`, `Message` and `Timestamp` (plus `Subject`,
    /// or `SubscribeURL` and `Token` for subscription messages). Sets
    /// `SignatureVersion`, `SigningCertURL` and `Signature` and returns the
    /// body to post.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidPayload`] if `fields` is not such an object,
    /// [`VerifyError::InvalidSecret`] if signing fails.
    pub fn sign(&self, fields: serde_json::Value) -> Result<Vec<u8>, VerifyError> {
        let mut envelope = fields;
        let Some(object) = envelope.as_object_mut() else {
            return Err(VerifyError::InvalidPayload {
                detail: "an SNS envelope is a JSON object",
            });
        };
        object.insert("SignatureVersion".into(), "2".into());
        object.insert("SigningCertURL".into(), self.cert_url.as_str().into());
        object.remove("Signature");
        let parsed: SnsEnvelope =
            serde_json::from_value(envelope.clone()).map_err(|_| VerifyError::InvalidPayload {
                detail: "the fields do not make an SNS message envelope",
            })?;
        let text = parsed.string_to_sign()?;
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                text.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SecretError::Rejected("RSA signing"))?;
        envelope["Signature"] = encoding::base64(&signature).into();
        Ok(envelope.to_string().into_bytes())
    }
}

impl fmt::Debug for SnsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsSigner")
            .field("cert_url", &self.cert_url.as_str())
            .finish_non_exhaustive()
    }
}

/// A verified SNS message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SnsMessage {
    /// A notification: `envelope.message` is the payload.
    Notification(SnsEnvelope),
    /// A request to confirm a subscription. Visit `subscribe_url` to
    /// confirm; nothing is confirmed automatically.
    SubscriptionConfirmation {
        /// The verified envelope.
        envelope: SnsEnvelope,
        /// The validated confirmation URL.
        subscribe_url: SubscribeUrl,
    },
    /// An unsubscription was confirmed; `subscribe_url` would resubscribe.
    UnsubscribeConfirmation {
        /// The verified envelope.
        envelope: SnsEnvelope,
        /// The validated resubscription URL.
        subscribe_url: SubscribeUrl,
    },
}

impl SnsMessage {
    /// The verified envelope, whatever the message.
    #[must_use]
    pub fn envelope(&self) -> &SnsEnvelope {
        match self {
            Self::Notification(envelope)
            | Self::SubscriptionConfirmation { envelope, .. }
            | Self::UnsubscribeConfirmation { envelope, .. } => envelope,
        }
    }

    /// The signed `Timestamp` (the publish time) as Unix seconds, where it
    /// is an RFC 3339 time.
    #[must_use]
    pub fn unix_timestamp(&self) -> Option<i64> {
        OffsetDateTime::parse(&self.envelope().timestamp, &Rfc3339)
            .ok()
            .map(OffsetDateTime::unix_timestamp)
    }
}

/// Which topics a verifier accepts.
#[derive(Debug, Clone)]
enum Topics {
    Only(Vec<String>),
    Any,
}

/// Verifies SNS deliveries.
///
/// Built with the topics it accepts: AWS signs every topic's messages with
/// the same certificates, so without an allowlist anyone with an AWS account
/// could publish to a topic of their own and post the signed delivery to
/// you. The topic is checked before any certificate is fetched.
///
/// Defaults: a replay window of 2 hours into the past and 5 minutes into
/// the future on the signed `Timestamp`, [`Limits::default`](crate::Limits::default), a
/// [`CertificateCache`] with its defaults.
#[derive(Debug)]
pub struct SnsVerifier<S> {
    certificates: CertificateCache<S>,
    topics: Topics,
    policy: Policy,
    /// Whether `SignatureVersion` 1 (SHA-1) is refused.
    require_v2: bool,
}

/// The default replay window for SNS: SNS keeps the envelope (and its
/// signed `Timestamp`, the publish time) across retries, and its HTTP/S
/// retries (3 times, 20 seconds apart, by default) end within 3,600 seconds
/// of the first attempt by any policy (a hard limit:
/// <https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html>).
/// Two hours covers that with a margin for throttled or delayed first
/// deliveries, and stays far below the pipeline's default retention of 7
/// days, so a captured delivery replayed later is either refused (too old)
/// or a duplicate.
pub const DEFAULT_REPLAY_WINDOW: ReplayWindow = ReplayWindow::new(
    std::time::Duration::from_secs(2 * 3600),
    std::time::Duration::from_secs(5 * 60),
);

impl<S: CertificateSource> SnsVerifier<S> {
    /// A verifier that accepts messages from the topics `topic_arns` only
    /// (compared exactly, for example
    /// `arn:aws:sns:us-east-1:123456789012:ses-events`), fetching
    /// certificates from `source` through a [`CertificateCache`]. An empty
    /// list accepts nothing. Messages from other topics are
    /// [`VerifyError::Unauthorized`].
    #[must_use]
    pub fn new<I, T>(source: S, topic_arns: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::with_topics(
            CertificateCache::new(source),
            Topics::Only(topic_arns.into_iter().map(Into::into).collect()),
        )
    }

    /// A verifier that accepts messages **from any topic**, including topics
    /// of other AWS accounts: anyone can then send you validly signed SES
    /// events of their own making. Only for tools that inspect captured
    /// deliveries; a receiver should list its topics with [`new`](Self::new).
    #[must_use]
    pub fn dangerous_accept_any_topic(source: S) -> Self {
        Self::with_topics(CertificateCache::new(source), Topics::Any)
    }

    fn with_topics(certificates: CertificateCache<S>, topics: Topics) -> Self {
        Self {
            certificates,
            topics,
            policy: Policy::with_window(DEFAULT_REPLAY_WINDOW),
            require_v2: false,
        }
    }

    /// Refuses `SignatureVersion` 1 (RSA with SHA-1), accepting only 2
    /// (SHA-256). SNS signs with version 1 unless the topic's
    /// `SignatureVersion` attribute is set to 2: set it on every topic this
    /// verifier accepts first, then call this, so that a forger cannot
    /// fall back to SHA-1. Refused deliveries are
    /// [`VerifyError::UnsupportedScheme`].
    #[must_use]
    pub fn require_signature_version_2(mut self) -> Self {
        self.require_v2 = true;
        self
    }

    /// Also accepts messages from `topic_arn`. On a verifier made with
    /// [`dangerous_accept_any_topic`](Self::dangerous_accept_any_topic), it
    /// restricts the verifier to this topic: naming a topic never widens
    /// what is accepted.
    #[must_use]
    pub fn with_topic_arn(mut self, topic_arn: impl Into<String>) -> Self {
        match &mut self.topics {
            Topics::Only(topics) => topics.push(topic_arn.into()),
            Topics::Any => self.topics = Topics::Only(vec![topic_arn.into()]),
        }
        self
    }

    /// Replaces the certificate cache's settings (capacity, failure
    /// time-to-live): `configure` receives the current cache.
    #[must_use]
    pub fn with_certificate_cache(
        mut self,
        configure: impl FnOnce(CertificateCache<S>) -> CertificateCache<S>,
    ) -> Self {
        self.certificates = configure(self.certificates);
        self
    }

    /// Verifies a delivery as if the time were `now` (for the replay window
    /// and the certificate's validity period), fetching the certificate if
    /// it is not cached.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the delivery is refused;
    /// [`VerifyError::CertificateUnavailable`] when the certificate could
    /// not be fetched (answer 503: SNS retries).
    pub async fn verify_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<SnsMessage, VerifyError> {
        let (checked, url) = self.precheck(headers, body, now)?;
        let certificate = self.certificates.get_at(&url, now).await?;
        let message = check_signature(checked, &certificate, now)?;
        self.certificates.prove(&url);
        Ok(message)
    }

    /// Verifies a delivery with a certificate you already hold (the CLI's
    /// `--key`, benchmarks); the URL, topic and replay checks still apply.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the delivery is refused.
    pub fn verify_with_certificate_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        certificate: &SnsCertificate,
        now: OffsetDateTime,
    ) -> Result<SnsMessage, VerifyError> {
        let (checked, _) = self.precheck(headers, body, now)?;
        check_signature(checked, certificate, now)
    }

    /// Everything that needs no certificate, in the order that refuses bad
    /// requests cheapest: size, raw delivery, envelope, header agreement,
    /// unambiguous signed fields, topic, replay window, message type,
    /// signature version and signature, certificate URL. Only a request
    /// that passes all of them can cause a fetch.
    fn precheck<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(Prechecked, SigningCertUrl), VerifyError> {
        self.policy.limits.check_body(body)?;
        if headers::optional(headers, &RAW_DELIVERY, &self.policy.limits)?
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(VerifyError::UnsupportedScheme {
                detail: "raw message delivery is not signed",
            });
        }
        let envelope = SnsEnvelope::parse(body)?;
        if let Some(declared) = headers::optional(headers, &MESSAGE_TYPE, &self.policy.limits)? {
            if declared != envelope.message_type {
                return Err(VerifyError::malformed(
                    MESSAGE_TYPE.error_name(),
                    HeaderProblem::Syntax("it disagrees with the body's Type"),
                ));
            }
        }
        envelope.check_unambiguous()?;
        if let Topics::Only(topics) = &self.topics {
            if !topics.contains(&envelope.topic_arn) {
                return Err(VerifyError::Unauthorized);
            }
        }
        if let Some(window) = self.policy.replay_window() {
            let published = OffsetDateTime::parse(&envelope.timestamp, &Rfc3339).map_err(|_| {
                VerifyError::InvalidPayload {
                    detail: "the SNS Timestamp is not an RFC 3339 time",
                }
            })?;
            window.check(published.unix_timestamp(), now)?;
        }
        let (version, signature) = signature_of(&envelope)?;
        if self.require_v2 && version == SignatureVersion::V1 {
            return Err(VerifyError::UnsupportedScheme {
                detail: "SignatureVersion 1 (SHA-1): this verifier requires 2",
            });
        }
        let url = envelope
            .signing_cert_url
            .as_deref()
            .ok_or(VerifyError::UnsupportedScheme {
                detail: "no SigningCertURL: unsigned message",
            })?;
        let url = SigningCertUrl::parse(url)?;
        Ok((
            Prechecked {
                envelope,
                version,
                signature,
            },
            url,
        ))
    }
}

/// The signature version and the decoded signature, or why the envelope
/// is unsigned or unusable: checked before any certificate is fetched, so a
/// request that could never verify costs no fetch.
fn signature_of(envelope: &SnsEnvelope) -> Result<(SignatureVersion, Vec<u8>), VerifyError> {
    if !matches!(
        envelope.message_type.as_str(),
        "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
    ) {
        return Err(VerifyError::InvalidPayload {
            detail: "unknown SNS message Type",
        });
    }
    let version = match envelope.signature_version.as_deref() {
        Some("1") => SignatureVersion::V1,
        Some("2") => SignatureVersion::V2,
        _ => {
            return Err(VerifyError::UnsupportedScheme {
                detail: "SignatureVersion is not 1 or 2",
            });
        }
    };
    let signature = envelope
        .signature
        .as_deref()
        .ok_or(VerifyError::UnsupportedScheme {
            detail: "no Signature: unsigned message",
        })?;
    // RSA signatures are as long as the modulus (256-1024 bytes): decode
    // into a heap buffer bounded by the header limit's order of magnitude.
    if signature.len() > 2048 {
        return Err(VerifyError::InvalidSignature);
    }
    let signature = encoding::base64_key(signature).map_err(|_| VerifyError::InvalidSignature)?;
    Ok((version, signature))
}

/// An envelope that passed every check but the signature itself, with its
/// decoded signature.
struct Prechecked {
    envelope: SnsEnvelope,
    version: SignatureVersion,
    signature: Vec<u8>,
}

fn check_signature(
    checked: Prechecked,
    certificate: &SnsCertificate,
    now: OffsetDateTime,
) -> Result<SnsMessage, VerifyError> {
    let Prechecked {
        envelope,
        version,
        signature,
    } = checked;
    let string_to_sign = envelope.string_to_sign()?;
    certificate.verify(version, string_to_sign.as_bytes(), &signature, now)?;
    Ok(match envelope.message_type.as_str() {
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let subscribe_url =
                SubscribeUrl::parse(envelope.subscribe_url.as_deref().unwrap_or_default())?;
            if envelope.message_type == "SubscriptionConfirmation" {
                SnsMessage::SubscriptionConfirmation {
                    envelope,
                    subscribe_url,
                }
            } else {
                SnsMessage::UnsubscribeConfirmation {
                    envelope,
                    subscribe_url,
                }
            }
        }
        _ => SnsMessage::Notification(envelope),
    })
}

impl<S> crate::policy::Configure for SnsVerifier<S> {
    fn policy(&self) -> &Policy {
        &self.policy
    }
    fn policy_mut(&mut self) -> &mut Policy {
        &mut self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_urls_are_only_sns_region_hosts() {
        let good = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t";
        assert!(SubscribeUrl::parse(good).is_ok());
        for bad in [
            "https://sns.s3-eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            "https://sns.s3-accelerate.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            "https://sns.evil.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        ] {
            assert!(SubscribeUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn certificate_urls_are_checked_strictly() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
            "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.ap-southeast-2.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.il-central-1.amazonaws.com/SimpleNotificationService-abc.pem",
        ] {
            assert!(SigningCertUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem?y=1",
            "https://sns.us-east-1.amazonaws.com/x.crt",
            "https://sns.us-east-1.amazonaws.com:443/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://sns.evil.example.amazonaws.com/x.pem",
            "https://sns.x.amazonaws.com/x.pem",
            "https://sqs.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.co/x.pem",
            "https://SNS.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem#frag",
            "https://sns.us-east-1.amazonaws.com\\@evil/x.pem",
            "https://sns.us%2Deast-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com",
            "https://sns.us-east-1.amazonaws.com/ x.pem",
            // One certificate, one URL: no other spelling of its path.
            "https://sns.us-east-1.amazonaws.com/./SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com//SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com/a/../SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService%2Dabc.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc..pem",
            "https://sns.us-east-1.amazonaws.com/.pem",
            // S3's dash-style hosts serve a bucket named `sns` (reported
            // against AWS's own pattern, nathforge/validatesns issue 6).
            "https://sns.s3-ap-southeast-2.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.s3-accelerate.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.s3-external-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.s3-website-us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.US-EAST-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us--east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1-.amazonaws.com/SimpleNotificationService-abc.pem",
            "",
        ] {
            assert_eq!(
                SigningCertUrl::parse(bad),
                Err(VerifyError::UntrustedCertificateUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn string_to_sign_skips_absent_and_null_fields() {
        let env: SnsEnvelope = serde_json::from_str(
            r#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"hi","Timestamp":"ts","Subject":null}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            env.string_to_sign().ok().as_deref(),
            Some("Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n")
        );
    }

    #[test]
    fn both_spellings_of_a_url_key_are_ambiguous() {
        let body = br#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"hi","Timestamp":"ts","SigningCertURL":"a","SigningCertUrl":"b"}"#;
        assert!(SnsEnvelope::parse(body).is_err());
    }
}
