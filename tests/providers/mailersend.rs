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
/// and each keeps it when delivered again.
#[test]
fn events_about_one_resource_are_keyed_apart() {
    let event = |kind: &str, at: &str| {
        serde_json::json!({
            "type": kind,
            "domain_id": "yzkq340nv50d8emj",
            "created_at": at,
            "webhook_id": "2351ndgwnvl5r6ev",
            "url": "https://hooks.example.com/webhooks/mailersend",
            "data": {"id": "62fb66bef54a112e920b5493", "object": "recipient",
                     "email": "ada@example.com", "created_at": "2026-12-01T10:00:00.000000Z"}
        })
    };
    let added = event("recipient.on_hold_added", "2026-12-01T10:00:00.000000Z");
    let removed = event("recipient.on_hold_removed", "2026-12-02T10:00:00.000000Z");
    let added_later = event("recipient.on_hold_added", "2026-12-03T10:00:00.000000Z");
    assert_ne!(key(&added), key(&removed));
    assert_ne!(key(&added), key(&added_later));
    assert_eq!(key(&added), key(&added));
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
