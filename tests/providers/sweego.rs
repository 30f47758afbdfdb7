//! Sweego: a bare base64 signature over id, time and body with the
//! base64-decoded secret.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use email_webhooks::provider::sweego::SweegoVerifier;

use crate::common::at;

const SECRET_BYTES: &[u8] = b"sweego-secret-bytes-32-long-xyzw";

fn secret() -> String {
    base64::engine::general_purpose::STANDARD.encode(SECRET_BYTES)
}

fn headers(id: &str, t: i64, signature: &str) -> [(&'static str, String); 3] {
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", t.to_string()),
        ("webhook-signature", signature.to_owned()),
    ]
}

#[test]
fn the_signature_is_bare_base64_of_id_time_and_body_with_the_decoded_secret() {
    let verifier = SweegoVerifier::new(&secret()).unwrap();
    let body = br#"{"event_type":"delivered","event_id":"e1","recipient":"a@example.com"}"#;
    let t = 1_765_000_000;
    let signature = verifier.sign("wh-1", t, body).unwrap();
    let ok = headers("wh-1", t, &signature);
    assert_eq!(
        verifier
            .verify_at(&ok, body, at(t + 10))
            .unwrap()
            .key_index(),
        0
    );
    // The same MAC with a Standard Webhooks `v1,` prefix is not Sweego's.
    let prefixed = headers("wh-1", t, &format!("v1,{signature}"));
    assert!(verifier.verify_at(&prefixed, body, at(t)).is_err());
    // Another id, time or body: refused; and outside 5 minutes.
    assert!(
        verifier
            .verify_at(&headers("wh-2", t, &signature), body, at(t))
            .is_err()
    );
    assert!(
        verifier
            .verify_at(&headers("wh-1", t + 1, &signature), body, at(t))
            .is_err()
    );
    assert!(
        verifier
            .verify_at(&ok, &body[..body.len() - 1], at(t))
            .is_err()
    );
    // A day of retries keeps verifying; after it, stale; 5 minutes ahead.
    assert!(verifier.verify_at(&ok, body, at(t + 23 * 3600)).is_ok());
    let stale = verifier
        .verify_at(&ok, body, at(t + 24 * 3600 + 1))
        .unwrap_err();
    assert_eq!(stale.code(), "timestamp_too_old");
    let early = verifier.verify_at(&ok, body, at(t - 301)).unwrap_err();
    assert_eq!(early.code(), "timestamp_too_new");
    // The secret's text as the key (not decoded) signs something else.
    let raw_text =
        SweegoVerifier::new(&base64::engine::general_purpose::STANDARD.encode(secret())).unwrap();
    assert!(raw_text.verify_at(&ok, body, at(t)).is_err());
    assert!(SweegoVerifier::new("not base64!").is_err());
}

/// An array of events is read, each element on its own (an unreadable one
/// keeps its neighbours), within the count limit. The old code refused any
/// array with 400, and the whole batch was lost.
#[test]
fn an_array_of_events_is_read() {
    use email_webhooks::EventKind;
    use email_webhooks::provider::sweego;
    let event = |kind: &str, id: &str| {
        serde_json::json!({"event_type": kind, "event_id": id, "recipient": "a@example.com",
            "timestamp": "2026-12-07T10:00:00+00:00"})
    };
    let body = serde_json::json!([event("delivered", "e1"), 42, event("hard_bounce", "e2")]);
    let events = sweego::parse(body.to_string().as_bytes()).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Delivered, EventKind::Unknown, EventKind::Bounced]
    );
    assert_eq!(events[2].event_id.as_deref(), Some("e2"));
    // One object is one event, as before.
    assert_eq!(
        sweego::parse(event("delivered", "e1").to_string().as_bytes())
            .unwrap()
            .len(),
        1
    );
    let limit = email_webhooks::Limits::default().max_events_per_delivery;
    let many = serde_json::Value::Array(vec![event("delivered", "e"); limit + 1]);
    assert!(sweego::parse(many.to_string().as_bytes()).is_err());
}
