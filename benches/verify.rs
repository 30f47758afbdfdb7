//! Verification cost against the theoretical floor and a published peer, in
//! the same run so the ratios hold on a noisy machine.
//!
//! The floor for an HMAC scheme (`floor_hmac_sha256`) is one streamed HMAC
//! over the signed bytes as the `hmac` crate computes it from the key, the
//! signature decoded into a stack buffer, and one constant-time comparison:
//! no header parsing, no limits, no replay check.
//!
//! `email-webhooks` computes each key's HMAC key schedule once, when the verifier
//! is built, which saves two compressions per request. So that this does not
//! hide the cost of everything else, `floor_hmac_sha256_prekeyed` is the same
//! floor with the key schedule also computed once: the ratio of `email-webhooks`
//! to it is the true overhead of header parsing and checks.
//!
//! Run: `cargo bench --bench verify`.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use email_webhooks::Secret;
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use email_webhooks::scheme::stripe::StripeVerifier;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

const SIZES: [usize; 3] = [1024, 65536, 1_048_576];
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RAW_SECRET: &[u8] = b"bench-secret-for-hmac-presets";

/// A JSON-ish ASCII body of exactly `size` bytes (the peer crate requires
/// UTF-8 bodies).
fn body(size: usize) -> Vec<u8> {
    let unit = br#"{"event":"delivered","email":"someone@example.com"},"#;
    unit.iter().copied().cycle().take(size).collect()
}

/// The signature headers among the headers a real delivery carries, so that
/// lookups are measured on a realistic map.
fn header_map(pairs: impl IntoIterator<Item = (String, String)>) -> HeaderMap {
    let typical = [
        ("host", "hooks.example.com"),
        ("user-agent", "Svix-Webhooks/1.63.1"),
        ("content-type", "application/json"),
        ("content-length", "1024"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ];
    typical
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(pairs)
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            )
        })
        .collect()
}

/// One streamed HMAC-SHA256 over `parts`, the expected signature decoded
/// into a stack buffer, one constant-time compare.
fn floor(key: &[u8], parts: &[&[u8]], decode: impl Fn(&mut [u8; 64]) -> usize) -> bool {
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    floor_prekeyed(mac, parts, decode)
}

/// [`floor`] from an already keyed HMAC state.
fn floor_prekeyed(
    mut mac: Hmac<Sha256>,
    parts: &[&[u8]],
    decode: impl Fn(&mut [u8; 64]) -> usize,
) -> bool {
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    let mut buf = [0u8; 64];
    let len = decode(&mut buf);
    bool::from(tag.as_slice().ct_eq(&buf[..len]))
}

fn decode_hex(text: &[u8], buf: &mut [u8; 64]) -> usize {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0xff,
    };
    for (o, pair) in buf.iter_mut().zip(text.chunks_exact(2)) {
        *o = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    text.len() / 2
}

fn standard_webhooks(c: &mut Criterion) {
    let mut group = c.benchmark_group("standard_webhooks_verify");
    let secret = Secret::from_standard_webhooks(WHSEC).expect("secret");
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(WHSEC.trim_start_matches("whsec_"))
        .expect("key");
    let verifier = StandardWebhooks::new(secret);
    let signer =
        StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC).expect("secret"));
    let peer = standardwebhooks::Webhook::new(WHSEC).expect("peer");
    for size in SIZES {
        let body = body(size);
        // The peer reads the system clock, so sign at the real time; the
        // whole group runs well inside its five-minute window.
        let ts = OffsetDateTime::now_utc().unix_timestamp();
        let now = OffsetDateTime::from_unix_timestamp(ts).expect("now");
        let pairs = signer.headers("msg_bench", ts, &body).expect("sign");
        let signature = pairs[2].1.clone();
        let ts_text = ts.to_string();
        let headers = header_map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        assert!(verifier.verify_at(&headers, &body, now).is_ok());
        assert!(peer.verify(&body, &headers).is_ok());
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_with_input(
            BenchmarkId::new("email-webhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify_at(black_box(&headers), black_box(body), now)
                        .is_ok()
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256", size),
            &body,
            |b, body| {
                let sig = signature.trim_start_matches("v1,").as_bytes();
                b.iter(|| {
                    floor(
                        &key_bytes,
                        &[
                            b"msg_bench",
                            b".",
                            ts_text.as_bytes(),
                            b".",
                            black_box(body),
                        ],
                        |buf| {
                            base64::engine::general_purpose::STANDARD
                                .decode_slice(black_box(sig), buf)
                                .expect("sig")
                        },
                    )
                });
            },
        );
        let prekeyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key_bytes).expect("key");
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256_prekeyed", size),
            &body,
            |b, body| {
                let sig = signature.trim_start_matches("v1,").as_bytes();
                b.iter(|| {
                    floor_prekeyed(
                        black_box(&prekeyed).clone(),
                        &[
                            b"msg_bench",
                            b".",
                            ts_text.as_bytes(),
                            b".",
                            black_box(body),
                        ],
                        |buf| {
                            base64::engine::general_purpose::STANDARD
                                .decode_slice(black_box(sig), buf)
                                .expect("sig")
                        },
                    )
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks_crate", size),
            &body,
            |b, body| {
                b.iter(|| peer.verify(black_box(body), black_box(&headers)).is_ok());
            },
        );
    }
    group.finish();
}

fn stripe(c: &mut Criterion) {
    let mut group = c.benchmark_group("stripe_verify");
    let verifier = StripeVerifier::new(Secret::from_bytes(RAW_SECRET).expect("secret"));
    let ts = 1_700_000_000;
    let now = OffsetDateTime::from_unix_timestamp(ts).expect("now");
    let prekeyed = <Hmac<Sha256> as KeyInit>::new_from_slice(RAW_SECRET).expect("key");
    for size in SIZES {
        let body = body(size);
        let value = verifier.sign(ts, &body).expect("sign");
        let v1 = value.split("v1=").nth(1).expect("v1").as_bytes().to_vec();
        let headers = header_map([("Stripe-Signature".to_owned(), value)]);
        assert!(verifier.verify_at(&headers, &body, now).is_ok());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("email-webhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify_at(black_box(&headers), black_box(body), now)
                        .is_ok()
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256", size),
            &body,
            |b, body| {
                b.iter(|| {
                    floor(RAW_SECRET, &[b"1700000000", b".", black_box(body)], |buf| {
                        decode_hex(black_box(&v1), buf)
                    })
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256_prekeyed", size),
            &body,
            |b, body| {
                b.iter(|| {
                    floor_prekeyed(
                        black_box(&prekeyed).clone(),
                        &[b"1700000000", b".", black_box(body)],
                        |buf| decode_hex(black_box(&v1), buf),
                    )
                });
            },
        );
    }
    group.finish();
}

fn github(c: &mut Criterion) {
    let mut group = c.benchmark_group("github_verify");
    let verifier = GitHubVerifier::new(Secret::from_bytes(RAW_SECRET).expect("secret"));
    let prekeyed = <Hmac<Sha256> as KeyInit>::new_from_slice(RAW_SECRET).expect("key");
    for size in SIZES {
        let body = body(size);
        let pairs = verifier.sign(&body).expect("sign");
        let hex = pairs[0].1.trim_start_matches("sha256=").as_bytes().to_vec();
        let headers = header_map(pairs);
        assert!(verifier.verify(&headers, &body).is_ok());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("email-webhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&headers), black_box(body))
                        .is_ok()
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256", size),
            &body,
            |b, body| {
                b.iter(|| {
                    floor(RAW_SECRET, &[black_box(body)], |buf| {
                        decode_hex(black_box(&hex), buf)
                    })
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor_hmac_sha256_prekeyed", size),
            &body,
            |b, body| {
                b.iter(|| {
                    floor_prekeyed(black_box(&prekeyed).clone(), &[black_box(body)], |buf| {
                        decode_hex(black_box(&hex), buf)
                    })
                });
            },
        );
    }
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = standard_webhooks, stripe, github
);
criterion_main!(benches);
