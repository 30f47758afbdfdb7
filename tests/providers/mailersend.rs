//! MailerSend: what keys an event, for activities and for the events about
//! a resource.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::EventKind;
use email_webhooks::provider::mailersend::parse;

fn key(body: &serde_json::Value) -> String {
    let events = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    events[0].idempotency_key()
}

/// Events about one resource (an on-hold entry, a sender identity) carry
/// the resource as `data`, with its id: each event keeps a key of its own,
/// and each keeps it when delivered again, even with the delivery's own
/// time stamped anew.
#[test]
fn events_about_one_resource_are_keyed_apart() {
    let event = |kind: &str, sent: &str, held: &str| {
        serde_json::json!({
            "type": kind,
            "domain_id": "yzkq340nv50d8emj",
            "created_at": sent,
            "webhook_id": "2351ndgwnvl5r6ev",
            "url": "https://hooks.example.com/webhooks/mailersend",
            "data": {"id": "62fb66bef54a112e920b5493", "object": "recipient",
                     "email": "ada@example.com", "created_at": held}
        })
    };
    let first_hold = "2026-12-01T10:00:00.000000Z";
    let added = event(
        "recipient.on_hold_added",
        "2026-12-01T10:00:01.000000Z",
        first_hold,
    );
    let removed = event(
        "recipient.on_hold_removed",
        "2026-12-02T10:00:00.000000Z",
        first_hold,
    );
    let held_again = event(
        "recipient.on_hold_added",
        "2026-12-03T10:00:01.000000Z",
        "2026-12-03T10:00:00.000000Z",
    );
    let retried = event(
        "recipient.on_hold_added",
        "2026-12-01T10:05:00.000000Z",
        first_hold,
    );
    assert_ne!(key(&added), key(&removed));
    assert_ne!(key(&added), key(&held_again));
    assert_eq!(key(&added), key(&retried));
    assert!(!key(&added).contains("62fb66bef54a112e920b5493"));
}

/// An activity's `data.id` is the activity's own: it keys the event, in
/// both formats.
#[test]
fn activities_are_keyed_by_their_id() {
    let activity = serde_json::json!({
        "type": "activity.hard_bounced",
        "created_at": "2026-12-01T10:00:00.000000Z",
        "data": {"id": "62fb66bef54a112e920b5493", "type": "hard_bounced",
                 "created_at": "2026-12-01T10:00:00.000000Z",
                 "email": {"message": {"id": "62fb66bef54a112e920b5490"},
                           "recipient": {"email": "ada@example.com"}}}
    });
    let events = parse(activity.to_string().as_bytes()).unwrap();
    assert_eq!(events[0].kind, EventKind::Bounced);
    assert_eq!(
        events[0].event_id.as_deref(),
        Some("62fb66bef54a112e920b5493")
    );
    assert!(key(&activity).ends_with("62fb66bef54a112e920b5493"));
}

/// MailerSend signs its `webhook.test` ping with a fixed, published
/// secret, and saves a webhook only once the ping is answered 2xx: a ping
/// so signed is a ping. That secret is public, so it signs nothing else:
/// an activity signed with it is refused, and no event ever comes of it.
#[test]
fn the_ping_signed_with_the_published_test_secret_is_a_ping_and_nothing_else() {
    use email_webhooks::provider::mailersend::{MailersendVerifier, TEST_SECRET};
    use email_webhooks::provider::{Control, EmailProvider as _};
    use email_webhooks::scheme::hmac::{Algorithm, Encoding, HmacVerifier};
    use email_webhooks::{Request, Secret};
    use futures_util::FutureExt as _;
    let sign = |secret: &str, body: &str| {
        HmacVerifier::new(
            Secret::from_bytes(secret).unwrap(),
            "Signature",
            Algorithm::Sha256,
            Encoding::Hex,
        )
        .sign(None, body.as_bytes())
        .unwrap()
    };
    let verifier = MailersendVerifier::new(Secret::from_bytes("webhook-secret").unwrap());
    let receive = |headers: Vec<(String, String)>, body: &str| {
        verifier
            .receive(&Request::new(&headers, body.as_bytes()))
            .now_or_never()
            .unwrap()
    };
    let ping = r#"{"type":"webhook.test","message":"This is a ping test message","created_at":"2026-12-06T10:00:00.000000Z"}"#;
    for secret in [TEST_SECRET, "webhook-secret"] {
        let received = receive(sign(secret, ping), ping).unwrap();
        assert_eq!(received.control, Some(Control::Ping), "{secret}");
        assert!(received.events.is_empty());
    }
    assert!(receive(sign("another-secret", ping), ping).is_err());
    // Anyone can sign with the published secret: only a small body is
    // read as a ping (no large body is parsed before a real secret).
    let padded = format!(
        r#"{{"type":"webhook.test","data":{{"email":"{}"}}}}"#,
        "x".repeat(20 * 1024)
    );
    assert!(receive(sign(TEST_SECRET, &padded), &padded).is_err());
    assert!(receive(sign("webhook-secret", &padded), &padded).is_ok());
    let activity = serde_json::json!({"type": "activity.hard_bounced",
        "data": {"id": "62fb66bef54a112e920b5493", "type": "hard_bounced",
                 "email": {"recipient": {"email": "ada@example.com"}}}})
    .to_string();
    let refused = receive(sign(TEST_SECRET, &activity), &activity).unwrap_err();
    assert_eq!(refused.code(), "invalid_signature");
    assert_eq!(
        receive(sign("webhook-secret", &activity), &activity)
            .unwrap()
            .events
            .len(),
        1
    );
}
