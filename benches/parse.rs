//! Parsing and provider verification against their floors, in one run so
//! the ratios hold on a noisy machine.
//!
//! - `sendgrid_batch`: `email-webhooks` parses and normalizes a batch into
//!   `EmailEvent`s; `serde_typed_floor` deserializes the same bytes into a
//!   borrowed struct with just the fields normalization reads;
//!   `serde_value` deserializes them into `serde_json::Value`.
//! - `sparkpost_batch`, `mandrill_batch`: a 1,000-event batch parsed and
//!   normalized, against `serde_typed_floor`, the same bytes deserialized
//!   into borrowed structs of the fields normalization reads (for Mandrill
//!   after the least form decoding: the `mandrill_events` value
//!   percent-decoded into one string).
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

/// A SparkPost batch: message, track and unsubscribe events in turn,
/// numbers as strings as SparkPost sends them.
fn sparkpost_batch_body(events: usize) -> Vec<u8> {
    let kinds = [
        ("message_event", "delivery"),
        ("track_event", "open"),
        ("track_event", "click"),
        ("message_event", "bounce"),
        ("unsubscribe_event", "list_unsubscribe"),
    ];
    let items: Vec<String> = (0..events)
        .map(|i| {
            let (class, kind) = kinds[i % kinds.len()];
            format!(
                r#"{{"msys":{{"{class}":{{"type":"{kind}","event_id":"{id}","timestamp":"{ts}","message_id":"0e0d94b7e35b4e5e8a{i:04}","transmission_id":"7063582473912540{i:03}","rcpt_to":"user{i}@example.com","raw_rcpt_to":"User{i}@example.com","campaign_id":"winter","rcpt_tags":["winter","vip"],"rcpt_meta":{{"order_id":"{i}"}},"bounce_class":"10","reason":"550 5.1.1 unknown user","raw_reason":"550 5.1.1 <user{i}@example.com>: unknown user","error_code":"550","target_link_url":"https://example.com/l?i={i}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","ip_address":"192.0.2.1","subject":"Winter deals","customer_id":"1","friendly_from":"shop@example.com"}}}}}}"#,
                id = 92_356_927_693_813_856_u64 + i as u64,
                ts = 1_765_000_000 + i,
            )
        })
        .collect();
    format!("[{}]", items.join(",")).into_bytes()
}

/// The fields SparkPost normalization reads, borrowed.
#[derive(Deserialize)]
#[allow(dead_code)]
struct SparkpostFloor<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    transmission_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rcpt_to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    raw_rcpt_to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rcpt_tags: Option<&'a RawValue>,
    #[serde(borrow)]
    rcpt_meta: Option<&'a RawValue>,
    #[serde(borrow)]
    bounce_class: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    raw_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    target_link_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct SparkpostFloorElement<'a> {
    #[serde(borrow)]
    msys: std::collections::BTreeMap<&'a str, SparkpostFloor<'a>>,
}

/// A Mandrill batch as it is posted: `mandrill_events=` and the
/// form-encoded JSON array.
fn mandrill_batch_body(events: usize) -> Vec<u8> {
    let kinds = ["send", "delivered", "open", "click", "hard_bounce"];
    let items: Vec<String> = (0..events)
        .map(|i| {
            format!(
                r#"{{"event":"{kind}","_id":"a1b2c3d4e5f60718293a4b5c6d7e{i:04}","ts":{ts},"url":"https://example.com/l?i={i}","ip":"192.0.2.1","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","msg":{{"_id":"a1b2c3d4e5f60718293a4b5c6d7e{i:04}","ts":1765000000,"email":"user{i}@example.com","sender":"shop@example.com","subject":"Winter deals","state":"sent","tags":["winter"],"metadata":{{"order_id":"{i}"}},"bounce_description":"bad_mailbox","diag":"smtp;550 5.1.1 unknown user"}}}}"#,
                kind = kinds[i % kinds.len()],
                ts = 1_765_000_000 + i,
            )
        })
        .collect();
    let json = format!("[{}]", items.join(","));
    let mut body = String::from("mandrill_events=");
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) {
            body.push(char::from(b));
        } else if b == b' ' {
            body.push('+');
        } else {
            let _ = std::fmt::Write::write_fmt(&mut body, format_args!("%{b:02X}"));
        }
    }
    body.into_bytes()
}

/// The least form decoding: the one field's value, percent-decoded.
fn decode_form_value(body: &[u8]) -> String {
    let value = &body[body.iter().position(|&b| b == b'=').unwrap() + 1..];
    let hex = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    };
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'%' => {
                out.push((hex(value[i + 1]) << 4) | hex(value[i + 2]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The fields Mandrill normalization reads, borrowed.
#[derive(Deserialize)]
#[allow(dead_code)]
struct MandrillFloor<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "_id")]
    id: Option<Cow<'a, str>>,
    ts: Option<i64>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    msg: Option<MandrillFloorMessage<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct MandrillFloorMessage<'a> {
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tags: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    bounce_description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    diag: Option<Cow<'a, str>>,
}

fn sparkpost_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("sparkpost_batch");
    let events = 1000usize;
    let body = sparkpost_batch_body(events);
    assert_eq!(
        email_webhooks::provider::sparkpost::parse(&body)
            .unwrap()
            .len(),
        events
    );
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("email-webhooks", |b| {
        b.iter(|| email_webhooks::provider::sparkpost::parse(black_box(&body)).unwrap());
    });
    group.bench_function("serde_typed_floor", |b| {
        b.iter(|| {
            serde_json::from_slice::<Vec<SparkpostFloorElement<'_>>>(black_box(&body)).unwrap()
        });
    });
    group.finish();
}

fn mandrill_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("mandrill_batch");
    let events = 1000usize;
    let body = mandrill_batch_body(events);
    assert_eq!(
        email_webhooks::provider::mandrill::parse(&body)
            .unwrap()
            .len(),
        events
    );
    assert_eq!(
        serde_json::from_str::<Vec<MandrillFloor<'_>>>(&decode_form_value(&body))
            .unwrap()
            .len(),
        events
    );
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("email-webhooks", |b| {
        b.iter(|| email_webhooks::provider::mandrill::parse(black_box(&body)).unwrap());
    });
    group.bench_function("serde_typed_floor", |b| {
        b.iter(|| {
            let json = decode_form_value(black_box(&body));
            serde_json::from_str::<Vec<MandrillFloor<'_>>>(&json)
                .unwrap()
                .len()
        });
    });
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
    targets = sendgrid_batch, sparkpost_batch, mandrill_batch, sendgrid_verify, sns_verify
);
criterion_main!(benches);
