//! The negative matrix, run for every registered provider through the
//! registry: each provider's own simulator signs a genuine delivery, and the
//! provider built from settings must accept it, refuse it tampered, refuse
//! it under the wrong key, accept it under rotated keys, refuse it over the
//! body limit, refuse stale deliveries where a time is signed, and treat
//! every header missing, repeated, oversized or non-UTF-8 as either a
//! refusal or as nothing at all (the same events, the same keys).

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use email_webhooks::provider::sendgrid::SendgridSigner;
use email_webhooks::provider::{DynProvider, Received, Settings, Simulated, Simulation};
use email_webhooks::{Error, EventKind, Limits, Provider, Request};
use futures_util::FutureExt as _;
use http::{HeaderMap, HeaderName, HeaderValue};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:email-webhooks-test";
const PUBLIC_URL: &str = "https://hooks.example.com/webhooks/provider";

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// What signs (the sender's settings), what verifies (the receiver's), and
/// a receiver with other credentials, per provider: the test fixtures.
struct Fixture {
    sender: Settings,
    receiver: Settings,
    other: Settings,
}

fn settings(f: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings::new();
    f(&mut s);
    s
}

// One table of fixtures, a row per provider.
#[allow(clippy::too_many_lines)]
fn fixture(provider: Provider) -> Fixture {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match provider {
        Provider::Sendgrid => {
            let (signer, pkcs8) = SendgridSigner::generate().unwrap();
            let (other, _) = SendgridSigner::generate().unwrap();
            let public = signer.public_key().unwrap().to_base64_der();
            let other = other.public_key().unwrap().to_base64_der();
            Fixture {
                sender: settings(|s| {
                    s.keys.push(b64(&pkcs8));
                }),
                receiver: settings(|s| {
                    s.keys.push(public);
                }),
                other: settings(|s| {
                    s.keys.push(other);
                }),
            }
        }
        Provider::Ses => {
            let cert = String::from_utf8(data("sns-test-cert.pem")).unwrap();
            Fixture {
                sender: settings(|s| s.keys.push(b64(&data("sns-test-key.pk8")))),
                receiver: settings(|s| {
                    s.keys.push(cert.clone());
                    s.topics.push(TOPIC.into());
                }),
                // The same certificate, another account's topic.
                other: settings(|s| {
                    s.keys.push(cert.clone());
                    s.topics
                        .push("arn:aws:sns:us-east-1:999999999999:other".into());
                }),
            }
        }
        Provider::Mailgun
        | Provider::Getresponse
        | Provider::Mailersend
        | Provider::Mailtrap
        | Provider::UnisenderGo => Fixture {
            sender: settings(|s| {
                s.secrets.push("s3cret-key".into());
            }),
            receiver: settings(|s| {
                s.secrets.push("s3cret-key".into());
            }),
            other: settings(|s| {
                s.secrets.push("another-key".into());
            }),
        },
        Provider::Resend => {
            let secret = |key: &'static str| settings(|s| s.secrets.push(key.into()));
            Fixture {
                sender: secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                receiver: secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                other: secret("whsec_dGhpcyBpcyBhbm90aGVyIGtleSAxMjM0NTY3OA=="),
            }
        }
        Provider::Postmark
        | Provider::Mailjet
        | Provider::Sparkpost
        | Provider::Brevo
        | Provider::Smtp2go => Fixture {
            sender: settings(|s| {
                s.basic_auth.push("hook:pass-word".into());
            }),
            receiver: settings(|s| {
                s.basic_auth.push("hook:pass-word".into());
            }),
            other: settings(|s| {
                s.basic_auth.push("hook:other-pass".into());
            }),
        },
        Provider::Mandrill => {
            let key = |k: &'static str| {
                settings(|s| {
                    s.secrets.push(k.into());
                    s.url = Some(PUBLIC_URL.into());
                })
            };
            Fixture {
                sender: key("mandrill-webhook-key"),
                receiver: key("mandrill-webhook-key"),
                other: key("another-webhook-key"),
            }
        }
        Provider::Postal => {
            let public = String::from_utf8(data("postal-test-key-2048.pub.pem")).unwrap();
            let other = String::from_utf8(data("postal-test-key-1024.pub.pem")).unwrap();
            Fixture {
                sender: settings(|s| s.keys.push(b64(&data("postal-test-key-2048.pk8")))),
                receiver: settings(|s| s.keys.push(public.clone())),
                other: settings(|s| s.keys.push(other.clone())),
            }
        }
        Provider::Mailpace => {
            let seed = |byte: u8| email_webhooks::Ed25519SigningKey::from_seed([byte; 32]).unwrap();
            let public = |byte: u8| b64(seed(byte).public_key().as_bytes());
            Fixture {
                sender: settings(|s| s.keys.push(b64(&[7; 32]))),
                receiver: settings(|s| s.keys.push(public(7))),
                other: settings(|s| s.keys.push(public(8))),
            }
        }
        Provider::Sweego => {
            let secret = |key: &[u8]| {
                let key = b64(key);
                settings(move |s| s.secrets.push(key.clone()))
            };
            Fixture {
                sender: secret(b"sweego-test-secret-0123456789abcdef"),
                receiver: secret(b"sweego-test-secret-0123456789abcdef"),
                other: secret(b"another-sweego-secret"),
            }
        }
        Provider::Mailkite => {
            let secret = |key: &'static str| settings(|s| s.secrets.push(key.into()));
            Fixture {
                sender: secret("whsec_mailkite_matrix"),
                receiver: secret("whsec_mailkite_matrix"),
                other: secret("whsec_another"),
            }
        }
        other => panic!("no fixture for {other}: add one here"),
    }
}

/// The first kind the provider simulates (the simulators refuse kinds their
/// provider does not send).
fn kind_for(provider: Provider, sender: &Settings) -> EventKind {
    let info = provider.info().unwrap();
    [
        EventKind::Bounced,
        EventKind::Opened,
        EventKind::Delivered,
        EventKind::Inbound,
    ]
    .into_iter()
    .find(|&kind| (info.simulate)(&Simulation::new(kind, "a@example.com", "e1", 0, sender)).is_ok())
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn simulate(provider: Provider, sender: &Settings, at: i64, tamper: bool) -> Simulated {
    let kind = kind_for(provider, sender);
    let mut sim =
        Simulation::new(kind, "jane@example.com", "evt-0001", at, sender).attempt("attempt-1");
    if tamper {
        sim = sim.tampered();
    }
    (provider.info().unwrap().simulate)(&sim).unwrap()
}

fn build(provider: Provider, settings: &Settings) -> Box<dyn DynProvider> {
    (provider.info().unwrap().build)(settings).unwrap()
}

fn url(delivery: &Simulated) -> String {
    match &delivery.query {
        Some(q) => format!("{PUBLIC_URL}?{q}"),
        None => PUBLIC_URL.to_owned(),
    }
}

fn receive(
    receiver: &dyn DynProvider,
    headers: &HeaderMap,
    delivery: &Simulated,
) -> Result<Received, Error> {
    let url = url(delivery);
    let request = Request::new(headers, &delivery.body).with_url(&url);
    receiver
        .receive_boxed(&request)
        .now_or_never()
        .expect("ready")
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::try_from(k.as_str()).unwrap(),
            HeaderValue::try_from(v.as_str()).unwrap(),
        );
    }
    map
}

fn keys(received: &Received) -> Vec<String> {
    received
        .events
        .iter()
        .map(email_webhooks::EmailEvent::idempotency_key)
        .collect()
}

fn refused(result: &Result<Received, Error>) -> bool {
    matches!(result, Err(e) if (400..500).contains(&e.http_status()))
}

#[test]
fn every_provider_accepts_its_genuine_delivery_and_refuses_it_tampered() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let receiver = build(provider, &f.receiver);
        let genuine = simulate(provider, &f.sender, now(), false);
        let ok = receive(&*receiver, &header_map(&genuine.headers), &genuine)
            .unwrap_or_else(|e| panic!("{provider}: {e}"));
        assert!(!ok.events.is_empty(), "{provider}");
        assert!(
            ok.events.iter().all(|e| e.provider == provider),
            "{provider}"
        );
        assert!(
            ok.events
                .iter()
                .all(|e| e.recipient.as_deref() == Some("jane@example.com")),
            "{provider}"
        );

        let tampered = simulate(provider, &f.sender, now(), true);
        let result = receive(&*receiver, &header_map(&tampered.headers), &tampered);
        assert!(refused(&result), "{provider}: tampered was {result:?}");
    }
}

#[test]
fn every_provider_refuses_other_credentials_and_accepts_rotated_ones() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let genuine = simulate(provider, &f.sender, now(), false);
        let headers = header_map(&genuine.headers);
        let wrong = build(provider, &f.other);
        let result = receive(&*wrong, &headers, &genuine);
        assert!(
            refused(&result),
            "{provider}: other credentials gave {result:?}"
        );

        // Rotation: the old credentials first, the current ones second.
        let mut rotated = f.other.clone();
        rotated.secrets.extend(f.receiver.secrets.iter().cloned());
        rotated.keys.extend(f.receiver.keys.iter().cloned());
        rotated
            .basic_auth
            .extend(f.receiver.basic_auth.iter().cloned());
        rotated.topics.extend(f.receiver.topics.iter().cloned());
        // SES's other fixture has the same certificate (another topic): the
        // first of the two verifies. Its certificate rotation is tested
        // with two certificates in tests/cli.rs.
        let expected = usize::from(provider != Provider::Ses);
        let received = receive(&*build(provider, &rotated), &headers, &genuine)
            .unwrap_or_else(|e| panic!("{provider}: rotated keys refused: {e}"));
        if let Some(proof) = &received.proof {
            assert_eq!(proof.key_index, expected, "{provider}");
        }
    }
}

#[test]
fn every_provider_refuses_a_body_over_the_limit() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let genuine = simulate(provider, &f.sender, now(), false);
        let mut small = f.receiver.clone();
        small.limits = Limits::default().with_max_body_bytes(genuine.body.len() - 1);
        let result = receive(
            &*build(provider, &small),
            &header_map(&genuine.headers),
            &genuine,
        );
        assert_eq!(
            result.err().map(|e| e.code()),
            Some("body_too_large"),
            "{provider}"
        );
    }
}

#[test]
fn a_stale_delivery_is_refused_wherever_a_time_is_signed() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let receiver = build(provider, &f.receiver);
        let year_ago = simulate(provider, &f.sender, now() - 365 * 24 * 3600, false);
        let result = receive(&*receiver, &header_map(&year_ago.headers), &year_ago);
        let signs_time = provider.info().unwrap().replay_window != "none";
        if signs_time {
            assert_eq!(
                result.err().map(|e| e.code()),
                Some("timestamp_too_old"),
                "{provider}"
            );
        } else {
            assert!(
                result.is_ok(),
                "{provider}: nothing signs its time, so age is no reason"
            );
        }
        let next_year = simulate(provider, &f.sender, now() + 365 * 24 * 3600, false);
        let result = receive(&*receiver, &header_map(&next_year.headers), &next_year);
        if signs_time {
            assert_eq!(
                result.err().map(|e| e.code()),
                Some("timestamp_too_new"),
                "{provider}"
            );
        }
    }
}

/// Each header of a genuine delivery, missing, repeated, oversized or not
/// UTF-8: the delivery is refused, or it is as if nothing had changed.
#[test]
fn every_header_missing_repeated_oversized_or_not_utf8_is_refused_or_harmless() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let receiver = build(provider, &f.receiver);
        let genuine = simulate(provider, &f.sender, now(), false);
        let baseline = keys(&receive(&*receiver, &header_map(&genuine.headers), &genuine).unwrap());
        for (index, (name, value)) in genuine.headers.iter().enumerate() {
            let name = HeaderName::try_from(name.as_str()).unwrap();
            let others: Vec<(String, String)> = genuine
                .headers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, h)| h.clone())
                .collect();
            let long = format!("{value}{}", "a".repeat(Limits::default().max_header_bytes));
            let variants: [(&str, Option<Vec<HeaderValue>>); 4] = [
                ("missing", None),
                (
                    "repeated",
                    Some(vec![HeaderValue::try_from(value.as_str()).unwrap(); 2]),
                ),
                (
                    "oversized",
                    Some(vec![HeaderValue::try_from(long.as_str()).unwrap()]),
                ),
                (
                    "not UTF-8",
                    Some(vec![HeaderValue::from_bytes(b"\xff\xfe").unwrap()]),
                ),
            ];
            for (what, values) in variants {
                let mut headers = header_map(&others);
                for v in values.into_iter().flatten() {
                    headers.append(name.clone(), v);
                }
                match receive(&*receiver, &headers, &genuine) {
                    Ok(delivery) => assert_eq!(
                        keys(&delivery),
                        baseline,
                        "{provider}: {name} {what} changed the events"
                    ),
                    Err(e) => assert!(
                        (400..500).contains(&e.http_status()),
                        "{provider}: {name} {what}: {e}"
                    ),
                }
            }
        }
    }
}

#[test]
fn a_redelivery_keeps_every_idempotency_key() {
    for &provider in Provider::ALL {
        let f = fixture(provider);
        let receiver = build(provider, &f.receiver);
        let info = provider.info().unwrap();
        let kind = kind_for(provider, &f.sender);
        let at = now();
        let attempt = |n: &str| {
            let sim = Simulation::new(kind, "jane@example.com", "evt-7", at, &f.sender).attempt(n);
            let d = (info.simulate)(&sim).unwrap();
            keys(&receive(&*receiver, &header_map(&d.headers), &d).unwrap())
        };
        assert_eq!(attempt("first"), attempt("second"), "{provider}");
        let other = Simulation::new(kind, "jane@example.com", "evt-8", at, &f.sender);
        let d = (info.simulate)(&other).unwrap();
        let other_keys = keys(&receive(&*receiver, &header_map(&d.headers), &d).unwrap());
        assert_ne!(
            attempt("first"),
            other_keys,
            "{provider}: two events share a key"
        );
    }
}

/// What each provider answers decides whether it resends: success is 2xx,
/// a transient failure 5xx (every provider retries it; Brevo 429), a
/// refusal 4xx; and
/// the answers a provider needs beyond a status are there (GetResponse's
/// acknowledgement body, Mailgun's 406 for a body that will never parse).
#[test]
fn every_provider_answers_success_2xx_retry_5xx_refusal_4xx() {
    use email_webhooks::provider::Answer;
    use http::StatusCode;
    for &provider in Provider::ALL {
        let receiver = build(provider, &fixture(provider).receiver);
        let ok = receiver.reply(Answer::Accepted);
        assert!(ok.status.is_success(), "{provider}: {ok:?}");
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let reply = receiver.reply(Answer::RetryLater(status));
            if provider == Provider::Brevo {
                // Brevo's retry page ends retries on any 5xx (current
                // wording) and on every 4xx but 429: 429 is the one answer
                // it retries under every reading.
                assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{provider}");
                assert!(reply.retry_after.is_some(), "{provider}");
            } else {
                assert_eq!(reply.status, status, "{provider}");
            }
            assert!(reply.body.is_empty(), "{provider}");
        }
        for (status, code) in [
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            (StatusCode::BAD_REQUEST, "invalid_payload"),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        ] {
            let reply = receiver.reply(Answer::Refused {
                status,
                code,
                authenticated: false,
            });
            assert!(reply.status.is_client_error(), "{provider}: {reply:?}");
            assert!(reply.body.is_empty(), "{provider}: a refusal says nothing");
        }
        // Only a provider that checks its URL with a GET at setup (Unisender
        // Go) gets a 200 for one; the others' GET is 405.
        let probes_with_get = provider == Provider::UnisenderGo;
        assert_eq!(
            receiver.probe(&http::Method::GET).map(|r| r.status),
            probes_with_get.then_some(StatusCode::OK),
            "{provider}"
        );
    }
    let getresponse = build(
        Provider::Getresponse,
        &fixture(Provider::Getresponse).receiver,
    );
    let ok = getresponse.reply(Answer::Accepted);
    assert_eq!((ok.status.as_u16(), ok.body), (200, r#"{"status":"OK"}"#));
    assert_eq!(ok.content_type, Some("application/json"));
    // MailKite's `ack` mode takes a bare 2xx as a failure: the events and
    // the inbound route both answer its acknowledgement body.
    let mailkite = build(Provider::Mailkite, &fixture(Provider::Mailkite).receiver);
    let inbound = Provider::Mailkite.info().and_then(|info| info.inbound);
    for ok in [
        mailkite.reply(Answer::Accepted),
        (inbound.expect("MailKite reads inbound mail").reply)(Answer::Accepted),
    ] {
        assert_eq!((ok.status.as_u16(), ok.body), (200, r#"{"status":"ok"}"#));
        assert_eq!(ok.content_type, Some("application/json"));
    }
    let mailgun = build(Provider::Mailgun, &fixture(Provider::Mailgun).receiver);
    let not_mailgun = Answer::Refused {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_payload",
        authenticated: true,
    };
    assert_eq!(
        mailgun.reply(not_mailgun).status,
        StatusCode::NOT_ACCEPTABLE
    );
    // Junk refused before authentication is no reason to stop Mailgun.
    for (status, code) in [
        (StatusCode::BAD_REQUEST, "invalid_payload"),
        (StatusCode::UNAUTHORIZED, "invalid_signature"),
    ] {
        let answer = Answer::Refused {
            status,
            code,
            authenticated: false,
        };
        assert_eq!(mailgun.reply(answer).status, status);
    }
    assert!(mailgun.needs_store());
    // Postmark gives up on 403: it never gets one.
    let postmark = build(Provider::Postmark, &fixture(Provider::Postmark).receiver);
    let outside = Answer::Refused {
        status: StatusCode::FORBIDDEN,
        code: "source_not_allowed",
        authenticated: false,
    };
    assert_eq!(postmark.reply(outside).status, StatusCode::UNAUTHORIZED);
}

/// A provider that reads the public URL, on a receiver that was not given
/// one: a mistake of the receiver, answered 500 so the provider retries
/// while it is fixed (GetResponse drops a delivery refused with a 4xx).
#[test]
fn a_missing_public_url_is_the_receivers_fault_and_retried() {
    let provider = Provider::Getresponse;
    let f = fixture(provider);
    let delivery = simulate(provider, &f.sender, now(), false);
    let headers = header_map(&delivery.headers);
    let request = Request::new(&headers, &delivery.body);
    let error = build(provider, &f.receiver)
        .receive_boxed(&request)
        .now_or_never()
        .expect("ready")
        .unwrap_err();
    assert_eq!((error.code(), error.http_status()), ("no_public_url", 500));
    assert!(error.is_retryable());
}

/// MailerSend signs the raw body, in which it escapes `/` as `\/`: the same
/// JSON re-serialized (slashes unescaped) no longer verifies, and a
/// webhook's secret among several (one per domain) does.
#[test]
fn mailersend_verifies_raw_bytes_only_and_takes_a_secret_per_webhook() {
    let mut sender = Settings::new();
    sender.secrets.push("domain-b-secret".into());
    let sim = Simulation::new(
        EventKind::Clicked,
        "jane@example.com",
        "evt-1",
        now(),
        &sender,
    );
    let genuine = (Provider::Mailersend.info().unwrap().simulate)(&sim).unwrap();
    let mut settings = Settings::new();
    settings
        .secrets
        .extend(["domain-a-secret".into(), "domain-b-secret".into()]);
    let provider = build(Provider::Mailersend, &settings);
    let received = receive(&*provider, &header_map(&genuine.headers), &genuine).unwrap();
    assert_eq!(received.proof.unwrap().key_index, 1);

    let text = String::from_utf8(genuine.body.clone()).unwrap();
    assert!(
        text.contains("\\/"),
        "the simulator escapes slashes as MailerSend does"
    );
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut reserialized = genuine.clone();
    reserialized.body = value.to_string().into_bytes();
    let result = receive(&*provider, &header_map(&genuine.headers), &reserialized);
    assert!(refused(&result), "{result:?}");
}

#[test]
fn mailersend_test_delivery_is_a_ping() {
    let events = email_webhooks::provider::mailersend::parse(
        br#"{"type":"webhook.test","created_at":"2025-12-06T10:00:00.000000Z","data":{"id":"x"}}"#,
    )
    .unwrap();
    assert!(events.is_empty());
}

/// Mailtrap without a signing secret: the webhook URL's basic-auth
/// credentials, and nothing else, let a delivery in.
#[test]
fn mailtrap_accepts_credentials_where_no_signing_secret_is_used() {
    let creds = |pair: &str| settings(|s| s.basic_auth.push(pair.into()));
    let sender = creds("hook:pass-word");
    let genuine = simulate(Provider::Mailtrap, &sender, now(), false);
    let provider = build(Provider::Mailtrap, &creds("hook:pass-word"));
    let received = receive(&*provider, &header_map(&genuine.headers), &genuine).unwrap();
    assert_eq!(received.events.len(), 1);
    let tampered = simulate(Provider::Mailtrap, &sender, now(), true);
    let result = receive(&*provider, &header_map(&tampered.headers), &tampered);
    assert!(refused(&result), "{result:?}");
    // A signature verifier does not take credentials instead.
    let signed = build(
        Provider::Mailtrap,
        &settings(|s| s.secrets.push("k".into())),
    );
    let result = receive(&*signed, &header_map(&genuine.headers), &genuine);
    assert!(refused(&result), "{result:?}");
}

/// An empty `data.id` is no event id: such events get derived keys of their
/// own instead of sharing `mailersend:`.
#[test]
fn mailersend_empty_event_ids_do_not_share_a_key() {
    let key = |recipient: &str| {
        let body = serde_json::json!({"type": "activity.sent", "data": {"id": "", "type": "sent",
            "recipient": recipient, "created_at": "2025-12-06T10:00:00Z"}});
        email_webhooks::provider::mailersend::parse(body.to_string().as_bytes()).unwrap()[0]
            .idempotency_key()
    };
    assert_ne!(key("a@example.com"), key("b@example.com"));
}

/// Mailtrap: a block by the receiving side (its bounce categories for the
/// sender and content) is a soft bounce; a credentials verifier given a
/// signing secret keeps the limits it was set up with.
#[test]
fn mailtrap_blocks_are_soft_and_limits_survive_a_secret() {
    use email_webhooks::Configure as _;
    let bounce = |category: &str| {
        let body = serde_json::json!({"events": [{"event": "bounce", "event_id": "e", "email": "a@example.com",
            "timestamp": 1, "bounce_category": category}]});
        email_webhooks::provider::mailtrap::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    for category in ["block", "spam", "content", "badsender"] {
        assert_eq!(
            bounce(category).suppression(),
            email_webhooks::Suppression::SoftBounce,
            "{category}"
        );
    }
    assert_ne!(
        bounce("badrecipient").suppression(),
        email_webhooks::Suppression::SoftBounce
    );

    let limits = Limits::default().with_max_body_bytes(1234);
    let verifier = email_webhooks::provider::mailtrap::MailtrapVerifier::with_credentials(
        email_webhooks::BasicAuth::new("u", "p").unwrap(),
    )
    .with_limits(limits)
    .with_secret(email_webhooks::Secret::from_bytes("s").unwrap());
    assert_eq!(verifier.policy().limits().max_body_bytes, 1234);
}

#[test]
fn mailtrap_published_sources_are_its_two_ranges() {
    // Mailtrap's advice: the whole /24s, not its two webhook addresses.
    let sources = email_webhooks::provider::mailtrap::published_sources();
    assert_eq!(sources.networks().len(), 2);
    for allowed in [
        "45.158.83.129",
        "45.158.83.130",
        "45.158.83.1",
        "5.181.200.254",
    ] {
        assert!(sources.allows(allowed.parse().unwrap()), "{allowed}");
    }
    for refused in ["45.158.84.1", "5.181.201.1", "45.158.82.255"] {
        assert!(!sources.allows(refused.parse().unwrap()), "{refused}");
    }
}
