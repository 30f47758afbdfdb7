//! SNS (and so SES) safety: the topic allowlist, unambiguous signed
//! strings, the replay window on the signed `Timestamp`, the certificate
//! cache (one fetch in flight per URL, failures remembered briefly, expired
//! certificates fetched anew, bounded), and transient fetch failures
//! answered as retryable.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Vector, at, unix};
use email_webhooks::Configure as _;
use email_webhooks::Request;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::{Delivery, Incoming, Pipeline};
use email_webhooks::provider::ses::SesVerifier;
use email_webhooks::provider::sns::{
    CertificateSource, SigningCertUrl, SnsEnvelope, SnsMessage, SnsSigner, SnsVerifier,
    StaticCertificates,
};
use email_webhooks::{Error, VerifyError};
use serde_json::{Value, json};
use time::OffsetDateTime;

const TEST_CERT: &str = include_str!("data/sns-test-cert.pem");
const TEST_KEY: &[u8] = include_bytes!("data/sns-test-key.pk8");
const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-events";
const OTHER_TOPIC: &str = "arn:aws:sns:eu-west-1:999999999999:attacker";
/// The test certificate is valid from 2026-11-24.
const SIGNED_AT: &str = "2026-12-01T07:08:09Z";

fn published() -> OffsetDateTime {
    at(unix(SIGNED_AT))
}

fn signer(url: &str) -> SnsSigner {
    SnsSigner::from_pkcs8(TEST_KEY, SigningCertUrl::parse(url).unwrap()).unwrap()
}

fn signed(fields: Value) -> Value {
    serde_json::from_slice(&signer(CERT_URL).sign(fields).unwrap()).unwrap()
}

fn ses_message() -> String {
    json!({
        "notificationType": "Bounce",
        "mail": {"messageId": "ses-1", "destination": ["a@example.com"]},
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": "a@example.com"}]}
    })
    .to_string()
}

fn notification(topic: &str) -> Value {
    signed(json!({
        "Type": "Notification",
        "MessageId": "11111111-2222-3333-4444-555555555555",
        "TopicArn": topic,
        "Subject": "Amazon SES Email Event Notification",
        "Message": ses_message(),
        "Timestamp": SIGNED_AT,
    }))
}

/// A minimal notification signed with `key` (PKCS#8) for the certificate
/// URL `https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{name}.pem`.
fn minimal_signed(key: &[u8], name: &str) -> Vec<u8> {
    let url = format!("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{name}.pem");
    SnsSigner::from_pkcs8(key, SigningCertUrl::parse(&url).unwrap())
        .unwrap()
        .sign(json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": TOPIC,
            "Message": "x", "Timestamp": SIGNED_AT,
        }))
        .unwrap()
}

/// Counts fetches; serves the test certificate for every URL, or fails
/// with `CertificateUnavailable` while `failing` is set; each fetch waits
/// `delay` (on tokio's timer) before answering.
#[derive(Clone, Default)]
struct Source {
    fetches: Arc<AtomicUsize>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    pem: Option<Arc<Vec<u8>>>,
    delay: Duration,
}

impl Source {
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl CertificateSource for Source {
    fn fetch(
        &self,
        _url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let failing = self.failing.load(Ordering::SeqCst);
        let pem = self
            .pem
            .as_deref()
            .cloned()
            .unwrap_or_else(|| TEST_CERT.as_bytes().to_vec());
        let delay = self.delay;
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if failing {
                Err(VerifyError::CertificateUnavailable)
            } else {
                Ok(pem)
            }
        }
    }
}

async fn verify(
    verifier: &SnsVerifier<Source>,
    body: &Value,
    now: OffsetDateTime,
) -> Result<SnsMessage, VerifyError> {
    verifier
        .verify_at(&[("a", "b")], body.to_string().as_bytes(), now)
        .await
}

// --- Item 1: the topic allowlist ---

#[tokio::test]
async fn sns_refuses_unlisted_topic_by_default() {
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC]);
    let now = published();
    assert!(verify(&verifier, &notification(TOPIC), now).await.is_ok());
    let fetched = source.fetches();
    // Validly signed by AWS, but published to another account's topic.
    let e = verify(&verifier, &notification(OTHER_TOPIC), now)
        .await
        .unwrap_err();
    assert_eq!(e, VerifyError::Unauthorized);
    assert_eq!(source.fetches(), fetched);
}

#[tokio::test]
async fn sns_checks_the_topic_before_fetching_a_certificate() {
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC]);
    for topic in [
        OTHER_TOPIC,
        "",
        "arn:aws:sns:eu-west-1:123456789012:ses-events2",
    ] {
        let e = verify(&verifier, &notification(topic), published())
            .await
            .unwrap_err();
        assert_eq!(e, VerifyError::Unauthorized, "{topic}");
    }
    assert_eq!(source.fetches(), 0);
}

#[tokio::test]
async fn sns_with_an_empty_topic_list_accepts_nothing() {
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), Vec::<String>::new());
    let e = verify(&verifier, &notification(TOPIC), published())
        .await
        .unwrap_err();
    assert_eq!(e, VerifyError::Unauthorized);
    assert_eq!(source.fetches(), 0);
}

#[tokio::test]
async fn sns_accepts_any_topic_only_when_asked_dangerously() {
    let verifier = SnsVerifier::dangerous_accept_any_topic(Source::default());
    assert!(
        verify(&verifier, &notification(OTHER_TOPIC), published())
            .await
            .is_ok()
    );
    // Naming a topic never widens: it narrows an any-topic verifier.
    let narrowed = SnsVerifier::dangerous_accept_any_topic(Source::default()).with_topic_arn(TOPIC);
    assert_eq!(
        verify(&narrowed, &notification(OTHER_TOPIC), published())
            .await
            .unwrap_err(),
        VerifyError::Unauthorized
    );
    let listed = SnsVerifier::new(Source::default(), [TOPIC]).with_topic_arn(OTHER_TOPIC);
    assert!(
        verify(&listed, &notification(OTHER_TOPIC), published())
            .await
            .is_ok()
    );
}

// --- Item 2: an unambiguous string to sign ---

#[tokio::test]
async fn sns_refuses_a_message_id_that_absorbs_the_subject() {
    // The attack: move `Subject` into `MessageId` after a newline. The
    // string to sign is byte for byte the same, so the signature holds, but
    // the idempotency key would change.
    let original = notification(TOPIC);
    let mut forged = original.clone();
    let subject = original["Subject"].as_str().unwrap();
    let id = original["MessageId"].as_str().unwrap();
    forged["MessageId"] = json!(format!("{id}\nSubject\n{subject}"));
    forged.as_object_mut().unwrap().remove("Subject");
    // Both envelopes spell the same string to sign.
    let a: SnsEnvelope = serde_json::from_value(original.clone()).unwrap();
    let b: SnsEnvelope = serde_json::from_value(forged.clone()).unwrap();
    let spelled = |e: &SnsEnvelope| {
        format!(
            "Message\n{}\nMessageId\n{}\n{}Timestamp\n{}\nTopicArn\n{}\nType\n{}\n",
            e.message,
            e.message_id,
            e.subject
                .as_ref()
                .map_or(String::new(), |s| format!("Subject\n{s}\n")),
            e.timestamp,
            e.topic_arn,
            e.message_type
        )
    };
    assert_eq!(spelled(&a), spelled(&b));
    assert_eq!(a.string_to_sign().unwrap(), spelled(&a));
    assert_eq!(b.string_to_sign().unwrap_err().code(), "invalid_payload");
    let verifier = SnsVerifier::new(Source::default(), [TOPIC]);
    assert!(verify(&verifier, &original, published()).await.is_ok());
    let e = verify(&verifier, &forged, published()).await.unwrap_err();
    assert_eq!(e.code(), "invalid_payload");
}

#[tokio::test]
async fn sns_refuses_a_newline_in_every_signed_field_but_message() {
    let verifier =
        SnsVerifier::dangerous_accept_any_topic(Source::default()).dangerous_disable_replay_check();
    let subscription = signed(json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "tok",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": SIGNED_AT,
    }));
    let cases = [
        (notification(TOPIC), "MessageId"),
        (notification(TOPIC), "Subject"),
        (notification(TOPIC), "Timestamp"),
        (notification(TOPIC), "TopicArn"),
        (subscription.clone(), "SubscribeURL"),
        (subscription.clone(), "Token"),
        (subscription.clone(), "MessageId"),
    ];
    for (envelope, field) in cases {
        for injected in ["\n", "x\nTimestamp\ny", "\nSubject\n"] {
            let mut forged = envelope.clone();
            let value = forged[field].as_str().unwrap().to_owned();
            forged[field] = json!(format!("{value}{injected}"));
            let e = verify(&verifier, &forged, published()).await.unwrap_err();
            assert_eq!(e.code(), "invalid_payload", "{field} {injected:?}");
        }
    }
    // `Type` with a newline is no known type either way.
    let mut forged = notification(TOPIC);
    forged["Type"] = json!("Notification\n");
    assert_eq!(
        verify(&verifier, &forged, published())
            .await
            .unwrap_err()
            .code(),
        "invalid_payload"
    );
}

#[tokio::test]
async fn sns_message_may_span_lines() {
    // SNS messages are free text; `Message` comes first in the string to
    // sign, so its newlines cannot imitate another field.
    let body = signed(json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Message": "line one\nMessageId\nm-2\nline three",
        "Timestamp": SIGNED_AT,
    }));
    let verifier = SnsVerifier::new(Source::default(), [TOPIC]);
    let SnsMessage::Notification(envelope) = verify(&verifier, &body, published()).await.unwrap()
    else {
        panic!("not a notification")
    };
    assert_eq!(envelope.message_id, "m-1");
}

// --- Item 3: the replay window on the signed Timestamp ---

fn ses_pipeline(source: Source) -> Pipeline<SesVerifier<Source>, MemoryStore> {
    Pipeline::new(
        SesVerifier::new(SnsVerifier::new(source, [TOPIC])),
        MemoryStore::new(),
    )
}

async fn process(
    pipeline: &Pipeline<SesVerifier<Source>, MemoryStore>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Delivery, Error> {
    let headers: [(&str, &str); 0] = [];
    pipeline
        .process(&Request::new(&headers, body).at(now))
        .await
}

#[tokio::test]
async fn sns_delivery_older_than_the_window_is_refused() {
    let pipeline = ses_pipeline(Source::default());
    let body = notification(TOPIC).to_string();
    let two_hours = 2 * 3600;
    let edge = at(unix(SIGNED_AT) + two_hours);
    assert!(process(&pipeline, body.as_bytes(), edge).await.is_ok());
    let late = at(unix(SIGNED_AT) + two_hours + 1);
    let e = process(&pipeline, body.as_bytes(), late).await.unwrap_err();
    assert_eq!(e.code(), "timestamp_too_old");
    assert_eq!(e.http_status(), 401);
    let early = at(unix(SIGNED_AT) - 5 * 60 - 1);
    let e = process(&pipeline, body.as_bytes(), early)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "timestamp_too_new");
}

#[tokio::test]
async fn sns_delivery_replayed_inside_the_window_is_a_duplicate() {
    let pipeline = ses_pipeline(Source::default());
    let body = notification(TOPIC).to_string();
    let Delivery::Events(first) = process(&pipeline, body.as_bytes(), published())
        .await
        .unwrap()
    else {
        panic!("not events")
    };
    for incoming in &first {
        let Incoming::New { claim, .. } = incoming else {
            panic!("{incoming:?}")
        };
        pipeline.complete(claim).await.unwrap();
    }
    // Replayed an hour later: inside the window, so it verifies, and the
    // store remembers it (retention 7 days > window 2 hours).
    let later = at(unix(SIGNED_AT) + 3600);
    let Delivery::Events(again) = process(&pipeline, body.as_bytes(), later).await.unwrap() else {
        panic!("not events")
    };
    assert_eq!(again.len(), first.len());
    assert!(again.iter().all(|i| matches!(i, Incoming::Duplicate(_))));
}

#[tokio::test]
async fn sns_timestamp_that_is_not_rfc3339_is_refused() {
    let mut body = notification(TOPIC);
    body["Timestamp"] = json!("yesterday");
    let verifier = SnsVerifier::new(Source::default(), [TOPIC]);
    let e = verify(&verifier, &body, published()).await.unwrap_err();
    assert_eq!(e.code(), "invalid_payload");
}

// --- Item 8: the certificate cache ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_fetches_each_certificate_once_however_many_wait() {
    let source = Source {
        delay: Duration::from_millis(100),
        ..Source::default()
    };
    let verifier = Arc::new(SnsVerifier::new(source.clone(), [TOPIC]));
    let body = Arc::new(notification(TOPIC));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let body = Arc::clone(&body);
            tokio::spawn(async move { verify(&verifier, &body, published()).await.is_ok() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(source.fetches(), 1);
    // And later requests use the cached certificate.
    assert!(verify(&verifier, &body, published()).await.is_ok());
    assert_eq!(source.fetches(), 1);
}

#[tokio::test]
async fn sns_remembers_a_failed_fetch_briefly() {
    let source = Source::default();
    source.failing.store(true, Ordering::SeqCst);
    let verifier = SnsVerifier::new(source.clone(), [TOPIC]);
    let body = notification(TOPIC);
    let t0 = published();
    for _ in 0..5 {
        let e = verify(&verifier, &body, t0).await.unwrap_err();
        assert_eq!(e, VerifyError::CertificateUnavailable);
    }
    assert_eq!(source.fetches(), 1);
    // After the failure's time-to-live (10 s), the URL is fetched again.
    source.failing.store(false, Ordering::SeqCst);
    let e = verify(&verifier, &body, at(unix(SIGNED_AT) + 9))
        .await
        .unwrap_err();
    assert_eq!(e, VerifyError::CertificateUnavailable);
    assert!(
        verify(&verifier, &body, at(unix(SIGNED_AT) + 10))
            .await
            .is_ok()
    );
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn sns_fetches_an_expired_certificate_anew() {
    // The published vector's certificate was valid in 2022 and has expired.
    let v = Vector::load_provider("amazon-sns-1.json");
    let envelope: Value = serde_json::from_str(&v.body).unwrap();
    let topic = envelope["TopicArn"].as_str().unwrap();
    let signed_at = at(unix(envelope["Timestamp"].as_str().unwrap()));
    let source = Source {
        pem: Some(Arc::new(v.secret.clone().into_bytes())),
        ..Source::default()
    };
    let verifier = SnsVerifier::new(source.clone(), [topic]).dangerous_disable_replay_check();
    let verify_at = |now| verifier.verify_at(&[("a", "b")], v.body.as_bytes(), now);
    assert!(verify_at(signed_at).await.is_ok());
    assert!(verify_at(signed_at).await.is_ok());
    assert_eq!(source.fetches(), 1);
    // Years later the cached certificate has expired: the URL is fetched
    // again instead of the expired certificate being kept forever.
    let today = OffsetDateTime::now_utc();
    assert_eq!(
        verify_at(today).await.unwrap_err(),
        VerifyError::InvalidCertificate
    );
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn sns_certificate_cache_is_bounded_and_configurable() {
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|i| minimal_signed(TEST_KEY, &i.to_string()))
        .collect();
    // Room for two: alternating between two URLs fetches each once.
    let source = Source::default();
    let two = SnsVerifier::new(source.clone(), [TOPIC])
        .with_certificate_cache(|cache| cache.with_capacity(2));
    for i in [0, 1, 0, 1, 0, 1] {
        assert!(
            two.verify_at(&[("a", "b")], &bodies[i], published())
                .await
                .is_ok()
        );
    }
    assert_eq!(source.fetches(), 2);
    // Room for one: every change of URL evicts the other.
    let source = Source::default();
    let one = SnsVerifier::new(source.clone(), [TOPIC])
        .with_certificate_cache(|cache| cache.with_capacity(1));
    for i in [0, 0, 1, 1, 0, 2, 3] {
        assert!(
            one.verify_at(&[("a", "b")], &bodies[i], published())
                .await
                .is_ok()
        );
    }
    assert_eq!(source.fetches(), 5);
}

// --- Item 12: a failed fetch is retryable, not a refusal ---

#[tokio::test]
async fn sns_certificate_fetch_failure_answers_503() {
    let source = Source::default();
    source.failing.store(true, Ordering::SeqCst);
    let pipeline = ses_pipeline(source);
    let body = notification(TOPIC).to_string();
    let e = process(&pipeline, body.as_bytes(), published())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "certificate_unavailable");
    assert_eq!(e.http_status(), 503);
    assert!(e.is_retryable());
    // Refusals stay 4xx.
    let e = process(&pipeline, b"{}", published()).await.unwrap_err();
    assert!(!e.is_retryable());
}

#[test]
fn static_certificates_refuse_unknown_urls_for_good() {
    let verifier = SnsVerifier::new(StaticCertificates::new(), [TOPIC]);
    let body = notification(TOPIC).to_string();
    let future = verifier.verify_at(&[("a", "b")], body.as_bytes(), published());
    let e = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
        .unwrap_err();
    assert_eq!(e, VerifyError::InvalidCertificate);
    assert_eq!(Error::from(e).http_status(), 401);
}

/// A flood of requests naming ever new URLs (any path on an SNS host
/// passes the URL check) whose certificates cannot be fetched: each URL is
/// fetched at most once while its failure is remembered, and the failures
/// never keep out the URL real deliveries are signed with. On the old code
/// failures still remembered were never forgotten, so after a restart (or
/// a certificate rotation) during such a flood every real delivery was
/// answered 503 without a fetch until SNS gave up.
#[tokio::test]
async fn sns_a_flood_of_failing_urls_never_keeps_out_the_real_certificate() {
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC])
        .with_certificate_cache(|cache| cache.with_capacity(4));
    let body = |i: usize| minimal_signed(TEST_KEY, &format!("flood-{i}"));
    let flood = |from: usize| {
        let verifier = &verifier;
        let source = &source;
        async move {
            source.failing.store(true, Ordering::SeqCst);
            for i in from..from + 40 {
                let before = source.fetches();
                let e = verifier
                    .verify_at(&[("a", "b")], &body(i), published())
                    .await
                    .unwrap_err();
                assert_eq!(e, VerifyError::CertificateUnavailable);
                assert!(
                    source.fetches() <= before + 1,
                    "one fetch a request at most"
                );
                // The same URL again within its failure's time-to-live is
                // answered from the cache.
                let before = source.fetches();
                assert!(
                    verifier
                        .verify_at(&[("a", "b")], &body(i), published())
                        .await
                        .is_err()
                );
                assert_eq!(source.fetches(), before, "{i}: fetched again");
            }
            source.failing.store(false, Ordering::SeqCst);
        }
    };
    flood(0).await;
    // The cache is full of failures still remembered; the real delivery's
    // certificate is fetched and verifies.
    let real = notification(TOPIC);
    let before = source.fetches();
    assert!(verify(&verifier, &real, published()).await.is_ok());
    assert_eq!(source.fetches(), before + 1);
    // Another flood does not push the proven certificate out either.
    flood(100).await;
    let before = source.fetches();
    assert!(verify(&verifier, &real, published()).await.is_ok());
    assert_eq!(
        source.fetches(),
        before,
        "the real certificate was fetched again"
    );
}

/// Bytes fetched from SNS's own host that are no certificate (an error
/// page served with 200 by a proxy on the way), and a certificate not valid
/// yet (this clock behind, a certificate just issued), are answered 503 for
/// SNS to retry: SNS drops a delivery answered 4xx. An expired certificate
/// stays a refusal. On the old code the first two were 401.
#[tokio::test]
async fn sns_unusable_fetched_certificates_are_retried_not_refused() {
    let body = notification(TOPIC);
    let page = Source {
        pem: Some(Arc::new(b"<html>502 Bad Gateway</html>".to_vec())),
        ..Source::default()
    };
    let verifier = SnsVerifier::new(page, [TOPIC]);
    let e = verify(&verifier, &body, published()).await.unwrap_err();
    assert_eq!(e, VerifyError::CertificateUnavailable);
    assert_eq!(Error::from(e).http_status(), 503);

    // The test certificate is valid from 2026-11-24: a day before, with the
    // replay window off, it is not valid yet.
    let verifier = SnsVerifier::new(Source::default(), [TOPIC]).dangerous_disable_replay_check();
    let early = at(unix("2026-11-23T00:00:00Z"));
    let e = verify(&verifier, &body, early).await.unwrap_err();
    assert_eq!(e, VerifyError::CertificateUnavailable);
    assert!(Error::from(e).is_retryable());
}

#[tokio::test]
async fn sns_never_fetches_for_a_request_that_cannot_verify() {
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC]);
    let good = notification(TOPIC);
    let mut cases = Vec::new();
    for (field, value) in [
        ("Signature", Value::Null),
        ("SignatureVersion", json!("9")),
        ("SignatureVersion", Value::Null),
        ("Signature", json!("A".repeat(4000))),
        ("Signature", json!("not base64!")),
        ("Type", json!("Gossip")),
    ] {
        let mut body = good.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        cases.push(body);
    }
    for body in cases {
        assert!(
            verify(&verifier, &body, published()).await.is_err(),
            "{body}"
        );
    }
    assert_eq!(source.fetches(), 0);
}

#[tokio::test]
async fn sns_requests_dropped_mid_fetch_do_not_fill_the_cache() {
    // A client that hangs up while its certificate is being fetched drops
    // the request's future. Its slot must not stay in the cache for good:
    // enough of them would answer every new certificate URL 503 forever.
    let slow = Source {
        delay: Duration::from_millis(200),
        ..Source::default()
    };
    let verifier =
        SnsVerifier::new(slow.clone(), [TOPIC]).with_certificate_cache(|c| c.with_capacity(2));
    let body = |i: usize| minimal_signed(TEST_KEY, &format!("dropped-{i}"));
    for i in 0..2 {
        let body = body(i);
        let request = verifier.verify_at(&[("a", "b")], &body, published());
        assert!(
            tokio::time::timeout(Duration::from_millis(20), request)
                .await
                .is_err()
        );
    }
    // A new URL, once those fetches were abandoned, is fetched and verifies.
    let third = body(2);
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        verifier.verify_at(&[("a", "b")], &third, published()),
    )
    .await
    .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(slow.fetches(), 3);
}

/// Forged requests naming ever new URLs (an allowlisted topic, a current
/// timestamp, any signature) never push the certificate real deliveries
/// are signed with out of the cache: once it has verified a signature it
/// is forgotten only for another proven one. On the old code the forged
/// URLs' certificates (valid, as the source serves one for every URL)
/// evicted it, and with failing URLs held it out, so real deliveries were
/// answered 503 without a fetch until SNS gave up.
#[tokio::test]
async fn sns_forged_requests_never_evict_the_proven_certificate() {
    const OTHER_KEY: &[u8] = include_bytes!("data/sns-test-key-2.pk8");
    let forged = |i: usize| minimal_signed(OTHER_KEY, &format!("forged-{i}"));
    let real = notification(TOPIC);
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC])
        .with_certificate_cache(|cache| cache.with_capacity(2));
    assert!(verify(&verifier, &real, published()).await.is_ok());
    assert_eq!(source.fetches(), 1);

    // Certificates that fetch (valid, unproven): each evicts the last.
    for i in 0..20 {
        let e = verifier
            .verify_at(&[("a", "b")], &forged(i), published())
            .await
            .unwrap_err();
        assert_eq!(e, VerifyError::InvalidSignature, "{i}");
        assert!(verify(&verifier, &real, published()).await.is_ok());
    }
    assert_eq!(
        source.fetches(),
        21,
        "the real certificate was fetched again"
    );

    // Failures held for their time-to-live fill the other slot; the real
    // certificate still verifies without a fetch.
    source.failing.store(true, Ordering::SeqCst);
    for i in 20..30 {
        let e = verifier
            .verify_at(&[("a", "b")], &forged(i), published())
            .await
            .unwrap_err();
        assert_eq!(e, VerifyError::CertificateUnavailable, "{i}");
        assert!(verify(&verifier, &real, published()).await.is_ok(), "{i}");
    }
    // The unproven certificate made way for the first failure, which is
    // held; the other new URLs were refused without a fetch.
    assert_eq!(source.fetches(), 22);
}

/// When every URL remembered is proven, a new URL makes room by
/// forgetting one (a rotation to a new certificate still works).
#[tokio::test]
async fn sns_a_cache_full_of_proven_certificates_still_takes_a_new_one() {
    let signed_at = |i: usize| minimal_signed(TEST_KEY, &i.to_string());
    let source = Source::default();
    let verifier = SnsVerifier::new(source.clone(), [TOPIC])
        .with_certificate_cache(|cache| cache.with_capacity(2));
    for i in 0..5 {
        assert!(
            verifier
                .verify_at(&[("a", "b")], &signed_at(i), published())
                .await
                .is_ok(),
            "{i}"
        );
    }
    assert_eq!(source.fetches(), 5);
}

/// `require_signature_version_2` refuses SNS's SHA-1 signatures (version
/// 1) before any certificate is fetched, and still accepts version 2: both
/// of AWS's published vectors, one per version.
#[tokio::test]
async fn sns_can_require_signature_version_2() {
    for (file, version) in [("amazon-sns-1.json", 1), ("amazon-sns-2.json", 2)] {
        let v = Vector::load_provider(file);
        let envelope: Value = serde_json::from_str(&v.body).unwrap();
        assert_eq!(envelope["SignatureVersion"], version.to_string());
        let topic = envelope["TopicArn"].as_str().unwrap();
        let signed_at = at(unix(envelope["Timestamp"].as_str().unwrap()));
        let source = Source {
            pem: Some(Arc::new(v.secret.clone().into_bytes())),
            ..Source::default()
        };
        let lenient = SnsVerifier::new(source.clone(), [topic]);
        assert!(
            lenient
                .verify_at(&[("a", "b")], v.body.as_bytes(), signed_at)
                .await
                .is_ok(),
            "{file}"
        );
        let strict = SnsVerifier::new(source.clone(), [topic]).require_signature_version_2();
        let fetched = source.fetches();
        let result = strict
            .verify_at(&[("a", "b")], v.body.as_bytes(), signed_at)
            .await;
        if version == 1 {
            assert!(
                matches!(result, Err(VerifyError::UnsupportedScheme { .. })),
                "{result:?}"
            );
            assert_eq!(source.fetches(), fetched, "no fetch for a refused version");
        } else {
            assert!(result.is_ok(), "{result:?}");
        }
    }
}
