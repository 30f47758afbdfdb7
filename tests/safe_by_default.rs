//! Regression tests for the pre-1.0 security and reliability review (issue
//! 8), one section per finding that is not covered in its own file:
//! `sns_security.rs` (topics, signed-string ambiguity, SNS window,
//! certificate cache, retryable fetch failures), `alloc.rs` (form and SES
//! fan-out memory), `store_contract.rs` and `store_restart.rs` (stores),
//! `provider_sendgrid.rs` (window, odd batch elements).
//!
//! Each test is named for the behaviour it pins and covers a class of
//! inputs where the finding was a class.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;

use email_webhooks::provider::mailgun::{self, MailgunVerifier};
use email_webhooks::provider::postmark;
use email_webhooks::provider::resend::{self, ResendVerifier};
use email_webhooks::provider::{sendgrid, ses};
use email_webhooks::scheme::standard::StandardWebhooksSigner;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::{EmailEvent, EventKind, RejectReason, Secret};
use time::OffsetDateTime;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// --- Item 4: unsigned data never chooses the key or the path ---

#[test]
fn resend_event_id_is_the_id_the_signature_covers() {
    let body = br#"{"type":"email.delivered","created_at":"2024-01-01T00:00:00Z","data":{"email_id":"e1","to":["a@b.c"]}}"#;
    let signer = StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC).unwrap());
    let verifier = ResendVerifier::new(Secret::from_standard_webhooks(WHSEC).unwrap());
    let t = now().unix_timestamp();
    // Signed with the `webhook-*` family; an unsigned `svix-id` rides along.
    let mut headers: Vec<(String, String)> = signer
        .headers("msg_signed", t, body)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    headers.push(("svix-id".into(), "msg_attacker".into()));
    let events = verifier.verify_and_parse_at(&headers, body, now()).unwrap();
    assert_eq!(events[0].event_id.as_deref(), Some("msg_signed"));
    assert_eq!(events[0].idempotency_key(), "resend:msg_signed");
    // Parsing without verifying picks the same header.
    let parsed = resend::parse(&headers, body).unwrap();
    assert_eq!(parsed[0].event_id.as_deref(), Some("msg_signed"));

    // Signed with the `svix-*` family; an unsigned `webhook-id` rides along.
    let mut headers: Vec<(String, String)> = signer
        .headers("msg_signed", t, body)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    headers.push(("webhook-id".into(), "msg_attacker".into()));
    let events = verifier.verify_and_parse_at(&headers, body, now()).unwrap();
    assert_eq!(events[0].event_id.as_deref(), Some("msg_signed"));
    let parsed = resend::parse(&headers, body).unwrap();
    assert_eq!(parsed[0].event_id.as_deref(), Some("msg_signed"));
}

fn twilio() -> TwilioVerifier {
    TwilioVerifier::new(Secret::from_bytes("twilio-auth-token").unwrap())
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(body)
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[test]
fn twilio_content_type_cannot_switch_the_verification_path() {
    let json = br#"{"CallSid":"CA1"}"#;
    let url = format!("https://example.com/hook?bodySHA256={}", sha256_hex(json));
    // Twilio signs a JSON request's URL (which carries the body's hash) and
    // no parameters.
    let signature = twilio().sign(&url, b"").unwrap();
    let headers = |content_type: &str| {
        vec![
            ("X-Twilio-Signature", signature.clone()),
            ("Content-Type", content_type.to_owned()),
        ]
    };
    for content_type in [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ] {
        // The signed request verifies whatever the unsigned header says...
        assert!(
            twilio().verify(&headers(content_type), &url, json).is_ok(),
            "{content_type}"
        );
        // ...and its signature carries no other body, not even one that
        // reads as no form parameters at all.
        for other in [&b""[..], b"&", b"&&&", br#"{"CallSid":"CA2"}"#] {
            let e = twilio()
                .verify(&headers(content_type), &url, other)
                .unwrap_err();
            assert_eq!(e.code(), "invalid_signature", "{content_type} {other:?}");
        }
    }
}

#[test]
fn twilio_url_is_tried_without_its_port_and_with_the_default_port() {
    let body = b"CallSid=CA1&From=%2B14155550100";
    let form = "application/x-www-form-urlencoded";
    // Twilio signed the URL it was configured with; the request reached us
    // through a port mapping, or the other way round.
    for (signed, received) in [
        ("https://example.com/hook", "https://example.com:8443/hook"),
        ("https://example.com/hook", "https://example.com:443/hook"),
        ("https://example.com:443/hook", "https://example.com/hook"),
        (
            "http://example.com/hook?x=1",
            "http://example.com:8080/hook?x=1",
        ),
        ("http://example.com:80/hook", "http://example.com/hook"),
    ] {
        let signature = twilio().sign(signed, body).unwrap();
        let headers = [
            ("X-Twilio-Signature", signature.as_str()),
            ("Content-Type", form),
        ];
        assert!(
            twilio().verify(&headers, received, body).is_ok(),
            "signed {signed}, received {received}"
        );
    }
    // A different host or path is still refused.
    let signature = twilio().sign("https://example.com/hook", body).unwrap();
    let headers = [
        ("X-Twilio-Signature", signature.as_str()),
        ("Content-Type", form),
    ];
    for received in [
        "https://example.org:8443/hook",
        "https://example.com:8443/other",
    ] {
        assert!(
            twilio().verify(&headers, received, body).is_err(),
            "{received}"
        );
    }
}

// --- Item 5: no secret or body content in output ---

/// A value that must never be printed.
const SENTINEL: &str = "jane.doe@corp.example";

fn error_text(e: &dyn std::error::Error) -> String {
    use std::fmt::Write as _;
    let mut text = format!("{e} {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, " | {s} {s:?}");
        source = s.source();
    }
    text
}

#[test]
fn parse_errors_carry_position_and_kind_never_body_content() {
    let s = SENTINEL;
    let bodies = [
        format!(r#"[{{"event":"delivered","email":"{s}"}}"#),
        format!(r#""{s}""#),
        format!(r#"{{"RecordType":"Bounce","Email":"{s}","ID":{{"{s}":1}}}}"#),
        format!(r#"{{"type":["{s}"],"data":{{}}}}"#),
        format!(r#"{{"signature":{{}},"event-data":{{"event":["{s}"]}}}}"#),
        format!(r#"{{"Type":"Notification","MessageId":"m","Message":"{{\"mail\":\"{s}\"}}"}}"#),
        format!(r#"{{"Type":"Notification","Message":["{s}"]}}"#),
        format!("{s} {s}"),
    ];
    for body in &bodies {
        let body = body.as_bytes();
        let errors: Vec<email_webhooks::ParseError> = [
            sendgrid::parse(body).err(),
            postmark::parse(body).err(),
            resend::parse(&[("webhook-id", "w")], body).err(),
            mailgun::parse(body).err(),
            ses::parse(body).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert!(!errors.is_empty(), "{}", String::from_utf8_lossy(body));
        for e in errors {
            let text = error_text(&e);
            assert!(!text.contains(s), "{text}");
            if let Some(position) = e.position() {
                assert!(position.line() >= 1);
                assert!(e.source().is_some());
            }
        }
    }
    // The position is real: a syntax error on line 2, column 3.
    let e = sendgrid::parse(b"[\n  ?]").unwrap_err();
    let position = e.position().unwrap();
    assert_eq!(
        (position.line(), position.column(), position.kind()),
        (2, 3, "syntax error")
    );
}

/// The adapters' `Webhook` printed with `{:?}` and `{:#?}`: the header's
/// name and the body's length, never the credentials or the body.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn assert_redacted(text: &str) {
    assert!(!text.contains("cG9zdG1hcms6aHVudGVyMg"), "{text}");
    assert!(!text.contains(SENTINEL), "{text}");
    assert!(
        text.contains("authorization") && text.contains("body_len"),
        "{text}"
    );
}

#[cfg(feature = "axum")]
#[test]
fn axum_webhook_debug_shows_no_header_value_or_body() {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        "Basic cG9zdG1hcms6aHVudGVyMg==".parse().unwrap(),
    );
    let hook = email_webhooks::adapters::axum::Webhook {
        headers,
        body: axum::body::Bytes::from(SENTINEL),
        received_at: now(),
        url: Some(format!(
            "https://hooks.example.com/webhooks/getresponse?secret={SENTINEL}"
        )),
        peer: None,
    };
    assert_redacted(&format!("{hook:?} {hook:#?}"));
}

#[cfg(feature = "actix-web")]
#[test]
fn actix_webhook_debug_shows_no_header_value_or_body() {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Basic cG9zdG1hcms6aHVudGVyMg=="),
    );
    let hook = email_webhooks::adapters::actix::Webhook {
        headers,
        body: actix_web::web::Bytes::from(SENTINEL),
        received_at: now(),
        url: Some(format!(
            "https://hooks.example.com/webhooks/getresponse?secret={SENTINEL}"
        )),
        peer: None,
    };
    assert_redacted(&format!("{hook:?} {hook:#?}"));
}

// --- Item 15: Mailgun legacy form events keep their key across attempts ---

const FORM: &str = "application/x-www-form-urlencoded";

fn mailgun_key() -> &'static str {
    "mailgun-legacy-key"
}

/// A legacy form post as Mailgun sends it: the event's fields, then the
/// signature of this attempt.
fn legacy_attempt(fields: &str, timestamp: i64, token: &str) -> Vec<u8> {
    let verifier = MailgunVerifier::new(Secret::from_bytes(mailgun_key()).unwrap());
    let signed = verifier
        .sign(timestamp, token, &serde_json::json!({}))
        .unwrap();
    let signature = signed["signature"]["signature"].as_str().unwrap();
    format!("{fields}&timestamp={timestamp}&token={token}&signature={signature}").into_bytes()
}

fn legacy_events(body: &[u8], at: i64) -> Vec<EmailEvent> {
    let verifier = MailgunVerifier::new(Secret::from_bytes(mailgun_key()).unwrap());
    let now = OffsetDateTime::from_unix_timestamp(at).unwrap();
    verifier
        .verify_and_parse_at(&[("Content-Type", FORM)], body, now)
        .unwrap()
}

#[test]
fn mailgun_legacy_redelivery_keeps_its_idempotency_key() {
    let t = now().unix_timestamp();
    let classes = [
        "event=delivered&recipient=a%40example.com&Message-Id=%3Cm1%40example.com%3E&domain=example.com",
        "event=opened&recipient=a%40example.com&ip=192.0.2.1&user-agent=Mozilla",
        "event=clicked&recipient=a%40example.com&url=https%3A%2F%2Fexample.com%2F",
        "event=bounced&recipient=a%40example.com&code=550&error=5.1.1+unknown",
        "event=dropped&recipient=a%40example.com&reason=hardfail&code=605",
        "event=unsubscribed&recipient=a%40example.com&tag=t1&tag=t2",
    ];
    let mut keys = Vec::new();
    for fields in classes {
        // The first attempt, then a retry an hour later: new timestamp,
        // token and signature, same event.
        let first = legacy_events(&legacy_attempt(fields, t, "token-one-aaaaaaaa"), t);
        let retry = legacy_events(
            &legacy_attempt(fields, t + 3600, "token-two-bbbbbbbb"),
            t + 3600,
        );
        assert_eq!(
            first[0].idempotency_key(),
            retry[0].idempotency_key(),
            "{fields}"
        );
        keys.push(first[0].idempotency_key());
    }
    // Distinct events keep distinct keys: another open from another IP.
    let other = legacy_events(
        &legacy_attempt(
            "event=opened&recipient=a%40example.com&ip=192.0.2.2&user-agent=Mozilla",
            t,
            "token-three-cccccc",
        ),
        t,
    );
    keys.push(other[0].idempotency_key());
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
}

// --- Item 17: every event serializes ---

#[test]
fn a_timestamp_past_year_9999_in_utc_is_no_timestamp_and_every_event_serializes() {
    let late = "9999-12-31T23:59:59-01:00";
    let early = "0000-01-01T00:30:00+01:00";
    for t in [late, early] {
        let events: Vec<EmailEvent> = [
            sendgrid::parse(format!(r#"[{{"event":"open","timestamp":"{t}"}}]"#).as_bytes()),
            postmark::parse(
                format!(r#"{{"RecordType":"Delivery","DeliveredAt":"{t}","Recipient":"a@b.c"}}"#)
                    .as_bytes(),
            ),
            resend::parse(
                &[("webhook-id", "w")],
                format!(r#"{{"type":"email.sent","created_at":"{t}","data":{{}}}}"#).as_bytes(),
            ),
            mailgun::parse(
                format!(r#"{{"event-data":{{"event":"delivered","timestamp":"{t}"}}}}"#).as_bytes(),
            ),
            mailgun::parse_form(format!("event=delivered&timestamp={t}").as_bytes()),
            ses::parse(
                serde_json::json!({"Type":"Notification","Message":"{\"eventType\":\"Send\"}","Timestamp":t})
                    .to_string()
                    .as_bytes(),
            ),
        ]
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
        assert_eq!(events.len(), 6);
        for event in events {
            assert_eq!(event.timestamp, None, "{t} {:?}", event.provider);
            assert!(serde_json::to_string(&event).is_ok());
        }
    }
    // Just inside: kept, in UTC.
    let events =
        sendgrid::parse(br#"[{"event":"open","timestamp":"9999-12-31T22:59:59-01:00"}]"#).unwrap();
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["timestamp"], "9999-12-31T23:59:59Z");
}

// --- Normalization of real payload classes ---

/// Opens, clicks, unsubscribes, bounces and complaints carry `tag`
/// fields; a delivery carries only `X-Mailgun-Tag` (Mailgun's legacy user
/// manual), so there a `tag` is the sender's variable.
#[test]
fn mailgun_legacy_forms_keep_every_tag_and_the_custom_variables() {
    let delivered = "event=delivered&recipient=a%40example.com&tag=mine&X-Mailgun-Tag=campaign-7";
    let e = &mailgun::parse_form(delivered.as_bytes()).unwrap()[0];
    assert_eq!(e.tags, ["campaign-7"]);
    assert_eq!(e.metadata["tag"], "mine");
    let body = "event=opened&recipient=a%40example.com\
        &tag=welcome&tag=onboarding&X-Mailgun-Tag=campaign-7\
        &message-headers=%5B%5B%22X-Mailgun-Variables%22%2C+%22%7B%5C%22user_id%5C%22%3A+%5C%2242%5C%22%7D%22%5D%5D\
        &plan=pro&event=attacker";
    let events = mailgun::parse_form(body.as_bytes()).unwrap();
    let e = &events[0];
    // Mailgun's own value is the first when a custom variable repeats a name.
    assert_eq!(e.kind, EventKind::Opened);
    assert_eq!(e.tags, ["welcome", "onboarding", "campaign-7"]);
    assert_eq!(e.metadata["user_id"], "42");
    assert_eq!(e.metadata["plan"], "pro");
    assert!(!e.metadata.contains_key("recipient"));
    // The raw JSON keeps every value of a repeated field.
    let raw: serde_json::Value = serde_json::from_str(e.raw.get()).unwrap();
    assert_eq!(raw["tag"], serde_json::json!(["welcome", "onboarding"]));
}

#[test]
fn mailgun_legacy_codes_and_reasons_give_the_reject_reason() {
    for (fields, kind, reason) in [
        (
            "event=bounced&code=550&error=550+5.1.1+no+such+user",
            EventKind::Bounced,
            RejectReason::Bounced,
        ),
        (
            "event=bounced&code=5.1.1&error=no+such+user",
            EventKind::Bounced,
            RejectReason::Bounced,
        ),
        (
            "event=bounced&code=421&error=try+later",
            EventKind::Bounced,
            RejectReason::Bounced,
        ),
        (
            "event=dropped&code=605&reason=hardfail",
            EventKind::Rejected,
            RejectReason::Bounced,
        ),
        (
            "event=dropped&code=607&reason=hardfail",
            EventKind::Rejected,
            RejectReason::Spam,
        ),
        (
            "event=dropped&code=499&reason=old",
            EventKind::Rejected,
            RejectReason::TimedOut,
        ),
        (
            "event=dropped&reason=old",
            EventKind::Rejected,
            RejectReason::TimedOut,
        ),
        (
            "event=dropped&reason=something-new",
            EventKind::Rejected,
            RejectReason::Other,
        ),
    ] {
        let e = &mailgun::parse_form(format!("recipient=a%40b.c&{fields}").as_bytes()).unwrap()[0];
        assert_eq!((e.kind, e.reject_reason), (kind, Some(reason)), "{fields}");
    }
    let e = &mailgun::parse_form(b"event=bounced&code=550&error=550+no+such+user").unwrap()[0];
    assert_eq!(e.mta_response.as_deref(), Some("550 no such user"));
    // `notification` is a bounce's (a drop has `description` instead).
    let e =
        &mailgun::parse_form(b"event=bounced&code=605&notification=previously+bounced").unwrap()[0];
    assert_eq!(e.mta_response.as_deref(), Some("previously bounced"));
    let e =
        &mailgun::parse_form(b"event=dropped&code=605&description=previously+bounced").unwrap()[0];
    assert_eq!(e.description.as_deref(), Some("previously bounced"));
}

#[test]
fn mailgun_rejected_events_keep_their_recipient_and_reason() {
    let body = br#"{"event-data":{"event":"rejected","id":"r1","timestamp":1700000000,
        "reject":{"reason":"Sandbox subdomains are for test purposes only","description":""},
        "message":{"headers":{"to":"Jane Doe <jane@example.com>, bob@example.com","message-id":"m1@x"}}}}"#;
    let e = &mailgun::parse(body).unwrap()[0];
    assert_eq!(e.kind, EventKind::Rejected);
    assert_eq!(e.recipient.as_deref(), Some("jane@example.com"));
    assert_eq!(
        e.description.as_deref(),
        Some("Sandbox subdomains are for test purposes only")
    );
    assert_eq!(e.reject_reason, Some(RejectReason::Other));
}

#[test]
fn mailgun_temporary_failures_say_why() {
    for (reason, expected) in [
        ("generic", RejectReason::Other),
        ("espblock", RejectReason::Blocked),
        ("old", RejectReason::TimedOut),
    ] {
        let body = format!(
            r#"{{"event-data":{{"event":"failed","severity":"temporary","reason":"{reason}","recipient":"a@b.c"}}}}"#
        );
        let e = &mailgun::parse(body.as_bytes()).unwrap()[0];
        assert_eq!(
            (e.kind, e.reject_reason),
            (EventKind::Deferred, Some(expected))
        );
    }
}

#[test]
fn postmark_spam_complaint_details_are_the_mta_response() {
    let body = br#"{"RecordType":"SpamComplaint","ID":42,"Type":"SpamComplaint","TypeCode":512,
        "Email":"a@example.com","Details":"Test spam complaint details","Description":"The subscriber explicitly marked this message as spam."}"#;
    let e = &postmark::parse(body).unwrap()[0];
    assert_eq!(e.kind, EventKind::Complained);
    assert_eq!(
        e.mta_response.as_deref(),
        Some("Test spam complaint details")
    );
}

#[test]
fn resend_recipients_are_bare_addresses_and_suppressions_are_blocked() {
    let body = br#"{"type":"email.delivered","created_at":"2024-01-01T00:00:00Z",
        "data":{"email_id":"e1","to":["Jane Doe <jane@example.com>"]}}"#;
    let e = &resend::parse(&[("webhook-id", "w")], body).unwrap()[0];
    assert_eq!(e.recipient.as_deref(), Some("jane@example.com"));

    let suppressed = br#"{"type":"email.bounced","created_at":"2024-01-01T00:00:00Z",
        "data":{"email_id":"e1","to":["a@example.com"],"bounce":{"message":"The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.","subType":"Suppressed","type":"Permanent"}}}"#;
    let e = &resend::parse(&[("webhook-id", "w")], suppressed).unwrap()[0];
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Blocked))
    );

    let bounced = br#"{"type":"email.bounced","created_at":"2024-01-01T00:00:00Z",
        "data":{"email_id":"e1","to":["a@example.com"],"bounce":{"message":"550 5.1.1 user unknown","subType":"General","type":"Permanent"}}}"#;
    let e = &resend::parse(&[("webhook-id", "w")], bounced).unwrap()[0];
    assert_eq!(e.reject_reason, Some(RejectReason::Bounced));
}

#[test]
fn ses_parse_needs_only_the_fields_it_reads() {
    let message = r#"{"notificationType":"Delivery","mail":{"messageId":"m1","destination":["a@b.c"]},"delivery":{"recipients":["a@b.c"],"smtpResponse":"250 ok"}}"#;
    // No signature fields, no topic, no timestamp: parsing does not verify.
    for envelope in [
        serde_json::json!({"Type": "Notification", "MessageId": "n1", "Message": message}),
        serde_json::json!({"Message": message}),
    ] {
        let events = ses::parse(envelope.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Delivered);
        assert_eq!(events[0].recipient.as_deref(), Some("a@b.c"));
    }
}
