//! SMTP2GO: JSON or form bodies, both event spellings.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::smtp2go;
use email_webhooks::{EventKind, Limits, Request};

#[test]
fn a_form_body_is_read_as_json_is() {
    let form = "event=bounce&time=2025-12-06T10%3A00%3A05Z&email_id=1vBq&rcpt=gone%40example.com\
        &recipients=gone%40example.com&recipients=other%40example.com&bounce=soft&message=452+Mailbox+full";
    for content_type in [Some("application/x-www-form-urlencoded"), None] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|t| ("Content-Type", t))
            .into_iter()
            .collect();
        let events =
            smtp2go::parse_request(&Request::new(&headers, form.as_bytes()), &Limits::default())
                .unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.kind, EventKind::Bounced);
        assert!(event.soft_bounce);
        assert_eq!(event.recipient.as_deref(), Some("gone@example.com"));
        assert_eq!(event.mta_response.as_deref(), Some("452 Mailbox full"));
        assert_eq!(event.timestamp.unwrap().unix_timestamp(), 1_765_015_205);
        // The raw JSON holds every field, a repeated one as a list.
        let raw: serde_json::Value = serde_json::from_str(event.raw.get()).unwrap();
        assert_eq!(
            raw["recipients"],
            serde_json::json!(["gone@example.com", "other@example.com"])
        );
    }
    let json_headers = [("Content-Type", "application/json")];
    assert!(
        smtp2go::parse_request(
            &Request::new(&json_headers, form.as_bytes()),
            &Limits::default()
        )
        .is_err()
    );
}

#[test]
fn both_spellings_of_each_event_are_read() {
    for (documented, live, kind) in [
        ("open", "opened", EventKind::Opened),
        ("click", "clicked", EventKind::Clicked),
        ("unsubscribe", "unsubscribed", EventKind::Unsubscribed),
        ("spam", "spam_complaint", EventKind::Complained),
    ] {
        for name in [documented, live] {
            let body =
                serde_json::json!({"event": name, "time": 1_765_000_000, "rcpt": "a@example.com"});
            let events = smtp2go::parse(body.to_string().as_bytes()).unwrap();
            assert_eq!(events[0].kind, kind, "{name}");
            assert_eq!(events[0].timestamp.unwrap().unix_timestamp(), 1_765_000_000);
        }
    }
}

/// SMTP2GO writes its times in UTC without an offset
/// (`2026-10-06 12:34:56`, as django-anymail's SMTP2GO tests show them):
/// read as UTC. They were no time at all.
#[test]
fn a_time_without_an_offset_is_utc() {
    for time in [
        "2026-10-06 12:34:56",
        "2026-10-06T12:34:56",
        " 2026-10-06 12:34:56 ",
    ] {
        let body = serde_json::json!({"event": "delivered", "time": time, "email_id": "e", "rcpt": "a@example.com"});
        let event = smtp2go::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0);
        assert_eq!(
            event.timestamp.map(time::OffsetDateTime::unix_timestamp),
            Some(1_791_290_096),
            "{time}"
        );
    }
}

/// A time SMTP2GO writes in a form this crate cannot read does not merge
/// distinct events into one key.
#[test]
fn an_unreadable_time_keeps_events_apart() {
    let key = |time: &str, rcpt: &str| {
        let body =
            serde_json::json!({"event": "delivered", "time": time, "email_id": "e", "rcpt": rcpt});
        smtp2go::parse(body.to_string().as_bytes()).unwrap()[0].idempotency_key()
    };
    assert_ne!(
        key("6 Dec 2025 10:00", "a@example.com"),
        key("6 Dec 2025 10:01", "a@example.com")
    );
    assert_eq!(
        key("6 Dec 2025 10:00", "a@example.com"),
        key("6 Dec 2025 10:00", "a@example.com")
    );
}

/// The derived key (SMTP2GO sends no event id) differs when any one field
/// that can tell two events apart differs, and is the same for the same
/// event posted again.
#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    let event = serde_json::json!({"event": "bounce", "time": 1_765_000_000,
        "email_id": "1abc-XyZ", "rcpt": "a@example.com", "bounce": "soft",
        "message": "452 mailbox full", "host": "mx.example.com", "context": "RCPT TO",
        "user-agent": "Mozilla/5.0", "srchost": "192.0.2.1", "click_url": "https://example.com/a"});
    let key = |body: &serde_json::Value| {
        smtp2go::parse(body.to_string().as_bytes()).unwrap()[0].idempotency_key()
    };
    let base = key(&event);
    assert_eq!(key(&event.clone()), base, "the same event posted again");
    for (field, value) in [
        ("event", serde_json::json!("delivered")),
        ("time", serde_json::json!(1_765_000_001)),
        ("email_id", serde_json::json!("2abc-XyZ")),
        ("rcpt", serde_json::json!("b@example.com")),
        ("bounce", serde_json::json!("hard")),
        ("message", serde_json::json!("550 no such user")),
        ("host", serde_json::json!("mx2.example.com")),
        ("context", serde_json::json!("DATA")),
        ("user-agent", serde_json::json!("Thunderbird")),
        ("srchost", serde_json::json!("192.0.2.2")),
        ("click_url", serde_json::json!("https://example.com/b")),
    ] {
        let mut other = event.clone();
        other[field] = value;
        assert_ne!(key(&other), base, "{field}");
    }
}
