//! The negative matrix: for every scheme, the same list of ways a request can
//! be wrong, each as its own test, plus the positive cases they are judged
//! against.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::Configure as _;
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{Limits, Secret, VerifyError};
use time::OffsetDateTime;

type Pairs = Vec<(String, String)>;
/// Header values as bytes, so that non-UTF-8 values can be sent.
type RawPairs = [(String, Vec<u8>)];
/// Verifies with a verifier holding key numbers `keys`, in order; returns
/// the matching key index.
type VerifyFn = fn(
    keys: &[usize],
    limits: Limits,
    headers: &RawPairs,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError>;

impl Scheme {
    fn check(
        &self,
        keys: &[usize],
        limits: Limits,
        headers: &Pairs,
        body: &[u8],
        now: i64,
    ) -> Result<usize, &'static str> {
        let raw: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        (self.verify)(keys, limits, &raw, body, now).map_err(|e| e.code())
    }
}

/// Three distinct keys; a scheme's verifier is built from some of them by
/// number, and requests are signed with one of them.
const RAW_KEYS: [&str; 3] = [
    "key-zero-0123456789",
    "key-one-abcdefghij",
    "key-two-ABCDEFGHIJ",
];
const TWILIO_URL: &str = "https://hooks.example.com/twilio?account=1";
const NOW: i64 = 1_700_000_000;

fn raw(key: usize) -> Secret {
    Secret::from_bytes(RAW_KEYS[key]).expect("key")
}

fn whsec(key: usize) -> Secret {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(RAW_KEYS[key]);
    Secret::from_standard_webhooks(&format!("whsec_{b64}")).expect("key")
}

fn at(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).expect("time")
}

fn pairs(list: Vec<(String, String)>) -> Pairs {
    list
}

struct Scheme {
    /// Headers for `body` signed at `ts` with key number `key`.
    sign: fn(key: usize, body: &[u8], ts: i64) -> Pairs,
    /// Verifies with a verifier holding key numbers `keys`, in order;
    /// returns the matching key index.
    verify: VerifyFn,
    signature_header: &'static str,
    /// A body the scheme accepts (Twilio's must be form-encoded).
    body: &'static [u8],
    /// A body with bytes that are not UTF-8.
    non_utf8_body: &'static [u8],
    /// What a garbage signature header value is refused as.
    garbage_code: &'static str,
}

macro_rules! build {
    ($keys:expr, $new:expr, $add:expr) => {{
        let mut it = $keys.iter().copied();
        let mut v = $new(it.next().expect("a key"));
        for k in it {
            v = $add(v, k);
        }
        v
    }};
}

const STANDARD: Scheme = Scheme {
    sign: |key, body, ts| {
        let headers = StandardWebhooksSigner::new(whsec(key))
            .headers("msg_1", ts, body)
            .expect("sign");
        pairs(
            headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    },
    verify: |keys, limits, headers, body, now| {
        let v = build!(
            keys,
            |k| StandardWebhooks::new(whsec(k)),
            |v: StandardWebhooks, k| v.with_key(whsec(k))
        );
        v.with_limits(limits)
            .verify_at(&headers, body, at(now))
            .map(|v| v.key_index())
    },
    signature_header: "webhook-signature",
    body: br#"{"type":"email.bounced"}"#,
    non_utf8_body: b"\xff\xfe\x00binary",
    garbage_code: "unsupported_scheme",
};

const STRIPE: Scheme = Scheme {
    sign: |key, body, ts| {
        let value = StripeVerifier::new(raw(key)).sign(ts, body).expect("sign");
        vec![("Stripe-Signature".to_owned(), value)]
    },
    verify: |keys, limits, headers, body, now| {
        let v = build!(
            keys,
            |k| StripeVerifier::new(raw(k)),
            |v: StripeVerifier, k| v.with_secret(raw(k))
        );
        v.with_limits(limits)
            .verify_at(&headers, body, at(now))
            .map(|v| v.key_index())
    },
    signature_header: "Stripe-Signature",
    body: br#"{"id":"evt_1"}"#,
    non_utf8_body: b"\xff\xfe\x00binary",
    garbage_code: "malformed_header",
};

const GITHUB: Scheme = Scheme {
    sign: |key, body, _| GitHubVerifier::new(raw(key)).sign(body).expect("sign"),
    verify: |keys, limits, headers, body, _| {
        let v = build!(
            keys,
            |k| GitHubVerifier::new(raw(k)),
            |v: GitHubVerifier, k| v.with_secret(raw(k))
        );
        v.with_limits(limits)
            .verify(&headers, body)
            .map(|v| v.key_index())
    },
    signature_header: "X-Hub-Signature-256",
    body: br#"{"action":"opened"}"#,
    non_utf8_body: b"\xff\xfe\x00binary",
    garbage_code: "malformed_header",
};

const SLACK: Scheme = Scheme {
    sign: |key, body, ts| {
        slack::verifier(raw(key))
            .sign(Some(ts), body)
            .expect("sign")
    },
    verify: |keys, limits, headers, body, now| {
        let v = build!(
            keys,
            |k| slack::verifier(raw(k)),
            |v: email_webhooks::scheme::hmac::HmacVerifier, k| v.with_secret(raw(k))
        );
        v.with_limits(limits)
            .verify_at(&headers, body, at(now))
            .map(|v| v.key_index())
    },
    signature_header: "X-Slack-Signature",
    body: b"token=x&command=%2Fhook",
    non_utf8_body: b"\xff\xfe\x00binary",
    garbage_code: "malformed_header",
};

const SHOPIFY: Scheme = Scheme {
    sign: |key, body, _| shopify::verifier(raw(key)).sign(None, body).expect("sign"),
    verify: |keys, limits, headers, body, now| {
        let v = build!(
            keys,
            |k| shopify::verifier(raw(k)),
            |v: email_webhooks::scheme::hmac::HmacVerifier, k| v.with_secret(raw(k))
        );
        v.with_limits(limits)
            .verify_at(&headers, body, at(now))
            .map(|v| v.key_index())
    },
    signature_header: "X-Shopify-Hmac-Sha256",
    body: br#"{"id":1}"#,
    non_utf8_body: b"\xff\xfe\x00binary",
    garbage_code: "invalid_signature",
};

const TWILIO: Scheme = Scheme {
    sign: |key, body, _| {
        let sig = TwilioVerifier::new(raw(key))
            .sign(TWILIO_URL, body)
            .expect("sign");
        vec![
            ("X-Twilio-Signature".to_owned(), sig),
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ]
    },
    verify: |keys, limits, headers, body, _| {
        let v = build!(
            keys,
            |k| TwilioVerifier::new(raw(k)),
            |v: TwilioVerifier, k| v.with_secret(raw(k))
        );
        v.with_limits(limits)
            .verify(headers, TWILIO_URL, body)
            .map(|v| v.key_index())
    },
    signature_header: "X-Twilio-Signature",
    body: b"From=%2B14155550100&Body=hello+there",
    non_utf8_body: b"Body=\xff\xfe%FF",
    garbage_code: "invalid_signature",
};

fn set(headers: &mut Pairs, name: &str, value: String) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value));
}

fn get<'a>(headers: &'a Pairs, name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .expect("header present")
}

fn code(r: Result<usize, VerifyError>) -> Result<usize, &'static str> {
    r.map_err(|e| e.code())
}

/// Tests every scheme gets.
macro_rules! common_matrix {
    ($($name:ident => $scheme:expr,)*) => {$(
        mod $name {
            use super::*;
            const S: Scheme = $scheme;

            fn signed() -> (Pairs, &'static [u8]) {
                ((S.sign)(0, S.body, NOW), S.body)
            }

            #[test]
            fn accepts_a_valid_signature() {
                let (h, b) = signed();
                assert_eq!(S.check(&[0], Limits::default(), &h, b, NOW), Ok(0));
            }

            #[test]
            fn accepts_a_body_that_is_not_utf8() {
                let b = S.non_utf8_body;
                let h = (S.sign)(0, b, NOW);
                assert_eq!(S.check(&[0], Limits::default(), &h, b, NOW), Ok(0));
            }

            #[test]
            fn rejects_a_tampered_body() {
                let (h, b) = signed();
                let mut tampered = b.to_vec();
                tampered.extend_from_slice(b"&x=1");
                assert_eq!(S.check(&[0], Limits::default(), &h, &tampered, NOW), Err("invalid_signature"));
            }

            #[test]
            fn rejects_the_wrong_key() {
                let (h, b) = signed();
                assert_eq!(S.check(&[1], Limits::default(), &h, b, NOW), Err("invalid_signature"));
            }

            #[test]
            fn accepts_a_rotated_key_configured_last() {
                let h = (S.sign)(1, S.body, NOW);
                assert_eq!(S.check(&[0, 1], Limits::default(), &h, S.body, NOW), Ok(1));
            }

            #[test]
            fn accepts_a_rotated_key_configured_first() {
                let h = (S.sign)(1, S.body, NOW);
                assert_eq!(S.check(&[1, 0], Limits::default(), &h, S.body, NOW), Ok(0));
            }

            #[test]
            fn rejects_when_the_signing_key_is_not_among_rotated_keys() {
                let h = (S.sign)(1, S.body, NOW);
                assert_eq!(S.check(&[0, 2], Limits::default(), &h, S.body, NOW), Err("invalid_signature"));
            }

            #[test]
            fn rejects_a_missing_signature_header() {
                let (mut h, b) = signed();
                h.retain(|(k, _)| !k.eq_ignore_ascii_case(S.signature_header));
                assert_eq!(S.check(&[0], Limits::default(), &h, b, NOW), Err("missing_header"));
            }

            #[test]
            fn rejects_a_repeated_signature_header() {
                let (mut h, b) = signed();
                let value = get(&h, S.signature_header).to_owned();
                h.push((S.signature_header.to_ascii_lowercase(), value));
                assert_eq!(S.check(&[0], Limits::default(), &h, b, NOW), Err("malformed_header"));
            }

            #[test]
            fn rejects_a_garbage_signature_header() {
                let (mut h, b) = signed();
                set(&mut h, S.signature_header, "garbage!".to_owned());
                assert_eq!(S.check(&[0], Limits::default(), &h, b, NOW), Err(S.garbage_code));
            }

            #[test]
            fn rejects_a_signature_header_that_is_not_utf8() {
                let (h, b) = signed();
                let raw: Vec<(String, Vec<u8>)> = h
                    .into_iter()
                    .map(|(k, v)| {
                        let mut v = v.into_bytes();
                        if k.eq_ignore_ascii_case(S.signature_header) {
                            v.push(0xff);
                        }
                        (k, v)
                    })
                    .collect();
                assert_eq!(code((S.verify)(&[0], Limits::default(), &raw, b, NOW)), Err("malformed_header"));
            }

            #[test]
            fn rejects_an_oversized_signature_header() {
                let (mut h, b) = signed();
                let value = get(&h, S.signature_header).to_owned();
                let limits = Limits::default().with_max_header_bytes(value.len() - 1);
                assert_eq!(S.check(&[0], limits, &h, b, NOW), Err("malformed_header"));
                set(&mut h, S.signature_header, value.clone());
                // The limit is inclusive; it applies to every header read.
                let longest = h.iter().map(|(_, v)| v.len()).max().unwrap_or_default();
                let limits = Limits::default().with_max_header_bytes(longest);
                assert_eq!(S.check(&[0], limits, &h, b, NOW), Ok(0));
            }

            #[test]
            fn rejects_a_body_over_the_limit_before_hashing() {
                let (h, b) = signed();
                let limits = Limits::default().with_max_body_bytes(b.len() - 1);
                assert_eq!(S.check(&[0], limits, &h, b, NOW), Err("body_too_large"));
                let limits = Limits::default().with_max_body_bytes(b.len());
                assert_eq!(S.check(&[0], limits, &h, b, NOW), Ok(0));
            }
        }
    )*};
}

common_matrix! {
    standard_webhooks => STANDARD,
    stripe => STRIPE,
    github => GITHUB,
    slack_scheme => SLACK,
    shopify_scheme => SHOPIFY,
    twilio => TWILIO,
}

/// Tests for schemes that sign a timestamp (default window: 300 s each way).
macro_rules! timestamp_matrix {
    ($($name:ident => $scheme:expr, $ts_header:expr,)*) => {$(
        mod $name {
            use super::*;
            const S: Scheme = $scheme;

            fn verify_signed_at(ts: i64) -> Result<usize, &'static str> {
                let h = (S.sign)(0, S.body, ts);
                S.check(&[0], Limits::default(), &h, S.body, NOW)
            }

            #[test]
            fn accepts_a_timestamp_one_second_inside_the_past_edge() {
                assert_eq!(verify_signed_at(NOW - 299), Ok(0));
            }

            #[test]
            fn accepts_a_timestamp_exactly_at_the_past_edge() {
                assert_eq!(verify_signed_at(NOW - 300), Ok(0));
            }

            #[test]
            fn rejects_a_timestamp_one_second_past_the_window() {
                assert_eq!(verify_signed_at(NOW - 301), Err("timestamp_too_old"));
            }

            #[test]
            fn accepts_a_timestamp_one_second_inside_the_future_edge() {
                assert_eq!(verify_signed_at(NOW + 299), Ok(0));
            }

            #[test]
            fn rejects_a_timestamp_one_second_beyond_the_future_edge() {
                assert_eq!(verify_signed_at(NOW + 301), Err("timestamp_too_new"));
            }

            #[test]
            fn rejects_a_malformed_timestamp() {
                let mut h = (S.sign)(0, S.body, NOW);
                let ts_header: Option<&str> = $ts_header;
                match ts_header {
                    Some(name) => set(&mut h, name, format!("{NOW}a")),
                    None => {
                        let v = get(&h, S.signature_header).replacen("t=", "t=-", 1);
                        set(&mut h, S.signature_header, v);
                    }
                }
                assert_eq!(S.check(&[0], Limits::default(), &h, S.body, NOW), Err("malformed_header"));
            }

            #[test]
            fn rejects_a_missing_timestamp() {
                let mut h = (S.sign)(0, S.body, NOW);
                let ts_header: Option<&str> = $ts_header;
                let expected = match ts_header {
                    Some(name) => {
                        h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                        "missing_header"
                    }
                    None => {
                        let v = get(&h, S.signature_header);
                        let without_t = v.split(',').filter(|e| !e.starts_with("t=")).collect::<Vec<_>>().join(",");
                        set(&mut h, S.signature_header, without_t);
                        "malformed_header"
                    }
                };
                assert_eq!(S.check(&[0], Limits::default(), &h, S.body, NOW), Err(expected));
            }

            #[test]
            fn rejects_a_replayed_timestamp_rewritten_to_now() {
                // Moving an old request's timestamp into the window breaks
                // the signature, because the timestamp is signed.
                let old = NOW - 3600;
                let mut h = (S.sign)(0, S.body, old);
                let ts_header: Option<&str> = $ts_header;
                match ts_header {
                    Some(name) => set(&mut h, name, NOW.to_string()),
                    None => {
                        let v = get(&h, S.signature_header).replace(&format!("t={old}"), &format!("t={NOW}"));
                        set(&mut h, S.signature_header, v);
                    }
                }
                assert_eq!(S.check(&[0], Limits::default(), &h, S.body, NOW), Err("invalid_signature"));
            }
        }
    )*};
}

timestamp_matrix! {
    standard_webhooks_time => STANDARD, Some("webhook-timestamp"),
    stripe_time => STRIPE, None,
    slack_time => SLACK, Some("X-Slack-Request-Timestamp"),
}

/// Schemes without a signed timestamp accept old signatures: there is
/// nothing to check, which the docs say.
#[test]
fn untimestamped_schemes_do_not_read_the_clock() {
    for s in [GITHUB, SHOPIFY, TWILIO] {
        let h = (s.sign)(0, s.body, 0);
        assert_eq!(
            s.check(&[0], Limits::default(), &h, s.body, i64::from(i32::MAX)),
            Ok(0)
        );
    }
}

/// Tests for schemes whose signature header holds several entries.
macro_rules! entries_matrix {
    ($($name:ident => $scheme:expr, $join:expr, $extra:expr,)*) => {$(
        mod $name {
            use super::*;
            const S: Scheme = $scheme;
            /// Joins single-key header values into one multi-entry value.
            const JOIN: fn(&[String]) -> String = $join;
            /// An entry of a version the verifier must skip.
            const EXTRA: &str = $extra;

            fn with_entries(values: &[String]) -> Result<usize, &'static str> {
                let mut h = (S.sign)(0, S.body, NOW);
                set(&mut h, S.signature_header, JOIN(values));
                S.check(&[0], Limits::default(), &h, S.body, NOW)
            }

            fn value(key: usize) -> String {
                get(&(S.sign)(key, S.body, NOW), S.signature_header).to_owned()
            }

            #[test]
            fn accepts_the_valid_entry_listed_first() {
                assert_eq!(with_entries(&[value(0), value(2)]), Ok(0));
            }

            #[test]
            fn accepts_the_valid_entry_listed_last() {
                assert_eq!(with_entries(&[value(2), value(1), value(0)]), Ok(0));
            }

            #[test]
            fn rejects_when_no_entry_is_valid() {
                assert_eq!(with_entries(&[value(2), value(1)]), Err("invalid_signature"));
            }

            #[test]
            fn skips_entries_of_unknown_versions() {
                let mut h = (S.sign)(0, S.body, NOW);
                let v = format!("{} {}", get(&h, S.signature_header), EXTRA);
                let v = JOIN(&[v]);
                set(&mut h, S.signature_header, v);
                assert_eq!(S.check(&[0], Limits::default(), &h, S.body, NOW), Ok(0));
            }

            #[test]
            fn rejects_only_unknown_versions() {
                let mut h = (S.sign)(0, S.body, NOW);
                let v = JOIN(&[format!("x {EXTRA}")]);
                set(&mut h, S.signature_header, v);
                assert_eq!(S.check(&[0], Limits::default(), &h, S.body, NOW), Err("unsupported_scheme"));
            }

            #[test]
            fn rejects_more_entries_than_the_limit() {
                let limit = Limits::default().max_signature_entries;
                let mut values = vec![value(2); limit];
                values.push(value(0));
                assert_eq!(with_entries(&values), Err("malformed_header"));
                assert_eq!(with_entries(&values[values.len() - (limit - 1)..]), Ok(0));
            }
        }
    )*};
}

entries_matrix! {
    standard_webhooks_entries => STANDARD, |values| values.join(" "), "v2,AAAA v1a,AAAA",
    stripe_entries => STRIPE,
        |values| {
            // Keep `t=` once, then every value's non-`t` items (a value given
            // as "a b" carries extra raw items separated by a space).
            let items: Vec<&str> = values
                .iter()
                .flat_map(|v| v.split([',', ' ']))
                .filter(|i| !i.starts_with("t=") && *i != "x")
                .collect();
            format!("t={NOW},{}", items.join(","))
        },
        "v0=00 v2=ab",
}

#[test]
fn github_refuses_the_sha1_header_alone() {
    let mut h = (GITHUB.sign)(0, GITHUB.body, 0);
    let v = get(&h, "X-Hub-Signature-256").replace("sha256=", "sha1=");
    h.clear();
    h.push(("X-Hub-Signature".to_owned(), v));
    assert_eq!(
        GITHUB.check(&[0], Limits::default(), &h, GITHUB.body, 0),
        Err("unsupported_scheme")
    );
}

#[test]
fn github_ignores_the_sha1_header_beside_a_valid_sha256_one() {
    let mut h = (GITHUB.sign)(0, GITHUB.body, 0);
    h.push(("X-Hub-Signature".to_owned(), "sha1=0000".to_owned()));
    assert_eq!(
        GITHUB.check(&[0], Limits::default(), &h, GITHUB.body, 0),
        Ok(0)
    );
}
