//! Parsing and provider verification against their floors, in one run so
//! the ratios hold on a noisy machine.
//!
//! - `sendgrid_batch`: `email-webhooks` parses and normalizes a batch into
//!   `EmailEvent`s; `serde_typed_floor` deserializes the same bytes into a
//!   borrowed struct with just the fields normalization reads;
//!   `serde_value` deserializes them into `serde_json::Value`.
//! - `sendgrid_verify`: `email-webhooks` verifies a signed batch; `ring_floor` is
//!   ring's P-256 verification of the same signed bytes.
//! - `sns_verify`: `email-webhooks` verifies an SNS envelope with its certificate
//!   already cached (parsed); `ring_floor` is ring's RSA verification of the
//!   same string to sign.
//!
//! Run: `cargo bench --bench parse`.

// Benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::borrow::Cow;
use std::hint::black_box;

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use email_webhooks::provider::sendgrid::{self, SendgridSigner, SendgridVerifier};
use email_webhooks::provider::sns::{SnsCertificate, SnsEnvelope, SnsVerifier, StaticCertificates};
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// A realistic batch: the documented event types in turn, with categories
/// and a custom argument.
fn batch(events: usize) -> Vec<u8> {
    let kinds = [
        "processed",
        "delivered",
        "open",
        "click",
        "bounce",
        "dropped",
        "deferred",
    ];
    let items: Vec<String> = (0..events)
        .map(|i| {
            format!(
                r#"{{"email":"user{i}@example.com","timestamp":{ts},"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"{kind}","category":["newsletter","cat facts"],"sg_event_id":"sg_event_id_{i:08}","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.{i}","response":"250 OK","useragent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","url":"https://example.com/landing?i={i}","order_id":"{i}"}}"#,
                ts = 1_513_299_569 + i,
                kind = kinds[i % kinds.len()],
            )
        })
        .collect();
    format!("[{}]\r\n", items.join(",")).into_bytes()
}

/// The fields SendGrid normalization reads, borrowed.
#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorEvent<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
    timestamp: Option<i64>,
    #[serde(borrow)]
    sg_event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sg_message_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    response: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    bounce_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(borrow)]
    useragent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
}

fn sendgrid_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("sendgrid_batch");
    for events in [1usize, 100, 1000] {
        let body = batch(events);
        assert_eq!(sendgrid::parse(&body).unwrap().len(), events);
        group.throughput(Throughput::Elements(events as u64));
        group.bench_with_input(
            BenchmarkId::new("email-webhooks", events),
            &body,
            |b, body| {
                b.iter(|| sendgrid::parse(black_box(body)).unwrap());
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serde_typed_floor", events),
            &body,
            |b, body| {
                b.iter(|| serde_json::from_slice::<Vec<FloorEvent<'_>>>(black_box(body)).unwrap());
            },
        );
        group.bench_with_input(BenchmarkId::new("serde_value", events), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap());
        });
    }
    group.finish();
}

fn sendgrid_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("sendgrid_verify");
    let (signer, _) = SendgridSigner::generate().unwrap();
    let key = signer.public_key().unwrap();
    let verifier = SendgridVerifier::new(key.clone());
    let body = batch(100);
    let pairs = signer.headers(1_700_000_000, &body).unwrap();
    let headers: http::HeaderMap = pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    assert!(verifier.verify_at(&headers, &body, now).is_ok());
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&pairs[0].1)
        .unwrap();
    let mut message = b"1700000000".to_vec();
    message.extend_from_slice(&body);
    let spki = base64::engine::general_purpose::STANDARD
        .decode(key.to_base64_der())
        .unwrap();
    let point = spki[spki.len() - 65..].to_vec();
    group.bench_function("email-webhooks", |b| {
        b.iter(|| {
            verifier
                .verify_at(black_box(&headers), black_box(&body), now)
                .unwrap()
        });
    });
    group.bench_function("ring_floor", |b| {
        b.iter(|| {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                &point,
            )
            .verify(black_box(&message), black_box(&signature))
            .unwrap();
        });
    });
    group.finish();
}

const TEST_CERT: &[u8] = include_bytes!("../tests/data/sns-test-cert.pem");
const TEST_KEY: &[u8] = include_bytes!("../tests/data/sns-test-key.pk8");

fn sns_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("sns_verify");
    let message = r#"{"eventType":"Delivery","mail":{"messageId":"m1","destination":["a@example.com"]},"delivery":{"recipients":["a@example.com"],"smtpResponse":"250 OK"}}"#;
    let mut envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "11111111-2222-3333-4444-555555555555",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": message,
        // Inside the test certificate's validity (from 2026-11-24).
        "Timestamp": "2026-12-01T07:08:09.123Z",
        "SignatureVersion": "2",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
    });
    let parsed: SnsEnvelope = serde_json::from_value(envelope.clone()).unwrap();
    let string_to_sign = parsed.string_to_sign().unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(TEST_KEY).unwrap();
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        string_to_sign.as_bytes(),
        &mut signature,
    )
    .unwrap();
    envelope["Signature"] =
        serde_json::json!(base64::engine::general_purpose::STANDARD.encode(&signature));
    let body = envelope.to_string().into_bytes();
    let certificate = SnsCertificate::parse(TEST_CERT).unwrap();
    let verifier = SnsVerifier::new(
        StaticCertificates::new(),
        ["arn:aws:sns:eu-west-1:123456789012:ses-events"],
    );
    // A minute after publication: inside the replay window.
    let now = OffsetDateTime::from_unix_timestamp(1_796_108_949).unwrap();
    let headers = [("x-amz-sns-message-type", "Notification")];
    assert!(
        verifier
            .verify_with_certificate_at(&headers, &body, &certificate, now)
            .is_ok()
    );
    let public_key = pair.public().as_ref().to_vec();
    group.bench_function("email-webhooks", |b| {
        b.iter(|| {
            verifier
                .verify_with_certificate_at(
                    black_box(&headers),
                    black_box(&body),
                    &certificate,
                    now,
                )
                .unwrap()
        });
    });
    group.bench_function("ring_floor", |b| {
        b.iter(|| {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                &public_key,
            )
            .verify(black_box(string_to_sign.as_bytes()), black_box(&signature))
            .unwrap();
        });
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = sendgrid_batch, sendgrid_verify, sns_verify
);
criterion_main!(benches);
