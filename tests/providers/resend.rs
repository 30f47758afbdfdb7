//! Resend: the shared vector through the provider verifier, every sample
//! parses and normalizes, and the delivery id header is the event id.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Sample, at, unix};
use email_webhooks::provider::resend::{self, ResendVerifier};
use email_webhooks::scheme::standard::StandardWebhooksSigner;
use email_webhooks::{EmailEvent, EventKind, RejectReason, Secret};

fn one(name: &str) -> EmailEvent {
    let sample = Sample::load(name);
    assert_eq!(sample.esp, "resend", "{}", sample.source);
    let headers = [("svix-id", "msg_sample")];
    let mut events = resend::parse(&headers, sample.body.as_bytes()).expect(name);
    assert_eq!(events.len(), 1);
    let e = events.remove(0);
    assert_eq!(e.raw.get(), sample.body);
    assert_eq!(e.event_id.as_deref(), Some("msg_sample"));
    assert_eq!(e.idempotency_key(), "resend:msg_sample");
    e
}

#[test]
fn bounced_sample() {
    let e = one("resend-bounced.json");
    assert_eq!(e.kind, EventKind::Bounced);
    assert_eq!(e.reject_reason, Some(RejectReason::Bounced));
    assert_eq!(
        e.message_id.as_deref(),
        Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    );
    assert_eq!(e.recipient.as_deref(), Some("bounced@resend.dev"));
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .starts_with("The recipient's email provider sent a hard bounce")
    );
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2023-10-02T18:11:26Z"))
    );
}

#[test]
fn clicked_sample() {
    let e = one("resend-clicked.json");
    assert_eq!(e.kind, EventKind::Clicked);
    assert_eq!(e.click_url.as_deref(), Some("https://example.com/test"));
    assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0 ..."));
    assert_eq!(e.recipient.as_deref(), Some("to@example.org"));
}

#[test]
fn delivery_delayed_sample() {
    let e = one("resend-delivery-delayed.json");
    assert_eq!(e.kind, EventKind::Deferred);
    assert_eq!(
        e.message_id.as_deref(),
        Some("56761188-7520-42d8-8898-ff6fc54ce618")
    );
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2023-02-22T23:41:12Z"))
    );
}

#[test]
fn every_documented_type_maps() {
    let cases = [
        ("email.sent", EventKind::Sent),
        ("email.delivered", EventKind::Delivered),
        ("email.complained", EventKind::Complained),
        ("email.opened", EventKind::Opened),
        ("email.failed", EventKind::Failed),
        ("contact.created", EventKind::Unknown),
    ];
    for (t, kind) in cases {
        let body = format!(
            r#"{{"type":"{t}","created_at":"2024-01-01T00:00:00Z","data":{{"email_id":"e1","to":["a@b.c"]}}}}"#
        );
        let e = &resend::parse(&[("webhook-id", "w1")], body.as_bytes()).unwrap()[0];
        assert_eq!(e.kind, kind, "{t}");
        assert_eq!(e.event_id.as_deref(), Some("w1"));
    }
}

#[test]
fn the_shared_vector_verifies_through_the_provider() {
    let v = crate::common::Vector::load_provider("resend-1.json");
    let verifier = ResendVerifier::new(Secret::from_standard_webhooks(&v.secret).unwrap());
    let headers = v.header_pairs();
    let now = at(v.now.unwrap());
    assert!(verifier.verify_at(&headers, v.body.as_bytes(), now).is_ok());
    let e = verifier
        .verify_at(&headers, b"{\"test\": 1}", now)
        .unwrap_err();
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn verify_and_parse_uses_the_signed_id() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = Sample::load("resend-clicked.json").body;
    let signer = StandardWebhooksSigner::new(Secret::from_standard_webhooks(secret).unwrap());
    let headers: Vec<(String, String)> = signer
        .headers("msg_77", 1_700_000_000, body.as_bytes())
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    let verifier = ResendVerifier::new(Secret::from_standard_webhooks(secret).unwrap());
    let events = verifier
        .verify_and_parse_at(&headers, body.as_bytes(), at(1_700_000_000))
        .unwrap();
    assert_eq!(events[0].event_id.as_deref(), Some("msg_77"));
    let err = verifier
        .verify_and_parse_at(&headers, b"{}", at(1_700_000_000))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    let stale = verifier
        .verify_and_parse_at(&headers, body.as_bytes(), at(1_700_001_000))
        .unwrap_err();
    assert_eq!(stale.code(), "timestamp_too_old");
}

#[test]
fn malformed_bodies_are_parse_errors() {
    for bad in [&b""[..], b"[]", b"{\"data\":{}}", b"{\"type\":5}"] {
        assert_eq!(
            resend::parse(&[("svix-id", "x")], bad).unwrap_err().code(),
            "invalid_payload"
        );
    }
}

/// `email.suppressed` (Resend did not send: the address is on its
/// suppression list) is a refusal with the list's reason; a lone string in
/// `data.to` is the recipient; an object this model cannot read is an
/// unknown event under its signed id, answered 2xx. The old code read the
/// first as unknown and refused the other two with 400, which Svix retries
/// for a day and then drops.
#[test]
fn suppressed_lone_recipients_and_unreadable_objects() {
    use email_webhooks::{StopReason, Suppression};
    let read = |body: &str| {
        resend::parse(&[("svix-id", "msg_1")], body.as_bytes())
            .unwrap()
            .remove(0)
    };
    let suppressed = read(
        r#"{"type":"email.suppressed","created_at":"2026-12-07T10:00:00Z","data":{"email_id":"e1",
            "to":["a@example.com"],"suppressed":{"type":"OnAccountSuppressionList","message":"on the suppression list"}}}"#,
    );
    assert_eq!(suppressed.kind, EventKind::Rejected);
    assert_eq!(suppressed.reject_reason, Some(RejectReason::Bounced));
    assert_eq!(
        suppressed.description.as_deref(),
        Some("on the suppression list")
    );
    assert_eq!(
        suppressed.suppression(),
        Suppression::Stop(StopReason::HardBounce)
    );
    let lone = read(
        r#"{"type":"email.bounced","created_at":"2026-12-07T10:00:00Z","data":{"email_id":"e1",
            "to":"Jane <jane@example.com>","bounce":{"type":"Permanent","message":"gone"}}}"#,
    );
    assert_eq!(lone.recipient.as_deref(), Some("jane@example.com"));
    assert_eq!(lone.kind, EventKind::Bounced);
    let odd = read(r#"{"type":"email.opened","created_at":7,"data":{"email_id":42}}"#);
    assert_eq!(odd.kind, EventKind::Unknown);
    assert_eq!(odd.event_id.as_deref(), Some("msg_1"));
    assert_eq!(odd.idempotency_key(), "resend:msg_1");
    // A body that is no object at all is still refused, even one serde
    // could read as the event's fields in order.
    assert!(resend::parse(&[("svix-id", "msg_1")], b"[1]").is_err());
    assert!(resend::parse(&[("svix-id", "msg_1")], br#"["email.bounced"]"#).is_err());
}

/// Fields from Resend's event types page: `email.failed` says why in
/// `data.failed.reason`, `email.scheduled` is a queued email, and a
/// `contact.updated` whose contact is now `unsubscribed` is an unsubscribe
/// of `data.email`. An event of an email to several recipients does not say
/// which one it is about: it names none, so a bounce stops no address by
/// guess. The old code read the first two without their meaning, left the
/// unsubscribe unknown, and stopped the first recipient.
#[test]
fn failures_schedules_contact_unsubscribes_and_several_recipients() {
    use email_webhooks::{StopReason, Suppression};
    let read = |body: &str| {
        resend::parse(&[("svix-id", "msg_1")], body.as_bytes())
            .unwrap()
            .remove(0)
    };
    let failed = read(
        r#"{"type":"email.failed","created_at":"2026-12-07T10:00:00Z","data":{"email_id":"e1",
            "to":["a@example.com"],"failed":{"reason":"reached_daily_quota"}}}"#,
    );
    assert_eq!(failed.kind, EventKind::Failed);
    assert_eq!(failed.description.as_deref(), Some("reached_daily_quota"));
    let scheduled = read(
        r#"{"type":"email.scheduled","created_at":"2026-12-07T10:00:00Z","data":{"email_id":"e1","to":["a@example.com"]}}"#,
    );
    assert_eq!(scheduled.kind, EventKind::Queued);
    let contact = |unsubscribed: bool| {
        read(&format!(
            r#"{{"type":"contact.updated","created_at":"2026-12-07T10:00:00Z","data":{{"id":"c1",
                "audience_id":"a1","email":"Jane <jane@example.com>","unsubscribed":{unsubscribed}}}}}"#
        ))
    };
    let left = contact(true);
    assert_eq!(left.kind, EventKind::Unsubscribed);
    assert_eq!(left.recipient.as_deref(), Some("jane@example.com"));
    assert_eq!(
        left.suppression(),
        Suppression::Stop(StopReason::Unsubscribe)
    );
    assert_eq!(contact(false).kind, EventKind::Unknown);
    let several = read(
        r#"{"type":"email.bounced","created_at":"2026-12-07T10:00:00Z","data":{"email_id":"e1",
            "to":["a@example.com","b@example.com"],"bounce":{"type":"Permanent","message":"gone"}}}"#,
    );
    assert_eq!(several.kind, EventKind::Bounced);
    assert_eq!(several.recipient, None);
}
