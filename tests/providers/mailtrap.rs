//! Mailtrap: a JSON Lines delivery keeps each line's event even where
//! another line is not JSON; bounces are hard only where Mailtrap
//! suppresses the address.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::mailtrap;
use email_webhooks::{EventKind, StopReason, Suppression};

fn line(event: &str, id: &str) -> String {
    format!(
        r#"{{"event": "{event}", "email": "a@example.com", "message_id": "m1", "timestamp": 1765000000, "event_id": "{id}"}}"#
    )
}

/// A JSON Lines line that is not JSON, between lines that are, is kept as
/// an unknown event with the line as a JSON string: its neighbours are
/// read. The old code refused the whole delivery, and Mailtrap pauses a
/// webhook after repeated failures.
#[test]
fn a_line_that_is_not_json_never_costs_its_neighbours() {
    for bad in [
        "{\"event\": \"open\", \"email\":",
        "not json at all",
        "}{",
        "\u{fffd}\u{0}binary",
    ] {
        let body = format!(
            "{}\n{bad}\n{}\n",
            line("delivery", "e1"),
            line("open", "e2")
        );
        let events = mailtrap::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{bad}: {e}"));
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Delivered, EventKind::Unknown, EventKind::Opened],
            "{bad}"
        );
        assert_eq!(
            serde_json::from_str::<String>(events[1].raw.get()).unwrap(),
            bad,
            "{bad}"
        );
        assert_eq!(events[2].event_id.as_deref(), Some("e2"));
    }

    // Invalid UTF-8 is replaced in the raw JSON, and the key is the bytes'.
    let mut body = line("delivery", "e1").into_bytes();
    body.extend_from_slice(b"\n\xff\xfe oops\n");
    let events = mailtrap::parse(&body).unwrap();
    assert_eq!(events[1].kind, EventKind::Unknown);
    assert_eq!(
        serde_json::from_str::<String>(events[1].raw.get()).unwrap(),
        "\u{fffd}\u{fffd} oops"
    );
    let mut other = line("delivery", "e1").into_bytes();
    other.extend_from_slice(b"\n\xff\xfd oops\n");
    assert_ne!(
        events[1].idempotency_key(),
        mailtrap::parse(&other).unwrap()[1].idempotency_key()
    );
}

/// A body in which no line holds a JSON object is neither shape: refused
/// (lines of other JSON, such as a pretty-printed array of numbers, too).
#[test]
fn a_body_with_no_json_object_line_is_refused() {
    for body in [
        "not json",
        "not json\nnor this",
        "{\"events\": [",
        "\n\n",
        "[\n  1,\n  2\n]",
        "1\n2\n\"three\"",
        "[1, 2]",
    ] {
        let err = mailtrap::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "invalid_payload", "{body:?}");
    }
}

/// Unreadable lines count toward the limit.
#[test]
fn unreadable_lines_count_toward_the_limit() {
    let body = format!("{}\n{}", line("delivery", "e1"), "x\n".repeat(600));
    assert_eq!(
        mailtrap::parse(body.as_bytes()).unwrap_err().code(),
        "invalid_payload"
    );
}

fn bounce(category: Option<&str>) -> email_webhooks::EmailEvent {
    let category = category.map_or_else(String::new, |c| format!(r#", "bounce_category": "{c}""#));
    let body = format!(
        r#"{{"events": [{{"event": "bounce", "email": "a@example.com", "event_id": "b1", "timestamp": 1765000000{category}}}]}}"#
    );
    let mut events = mailtrap::parse(body.as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

/// Every category of Mailtrap's bounce categorization table: only those
/// it adds to its suppressions stop the address; after any other one
/// Mailtrap keeps mailing it, and a receiver counts a soft bounce. The old
/// code stopped the address for all but the sender blocks.
#[test]
fn a_bounce_is_hard_only_where_mailtrap_suppresses_the_address() {
    // `hard`: the category of the bounce in Mailtrap's webhook example (the
    // documented sample `mailtrap-bounce.json`); it was read as soft.
    for hard in ["badrecipient", "overquota", "timeout", "hard", "Hard"] {
        let event = bounce(Some(hard));
        assert_eq!(event.kind, EventKind::Bounced, "{hard}");
        assert!(!event.soft_bounce, "{hard}");
        assert!(
            matches!(event.suppression(), Suppression::Stop(_)),
            "{hard}"
        );
    }
    assert_eq!(
        bounce(Some("badrecipient")).suppression(),
        Suppression::Stop(StopReason::Invalid)
    );
    // No category (or an empty one): as Mailtrap's own bounce, a hard one.
    assert!(matches!(bounce(None).suppression(), Suppression::Stop(_)));
    assert!(matches!(
        bounce(Some("")).suppression(),
        Suppression::Stop(_)
    ));
    // Categories are compared whatever their case.
    assert!(matches!(
        bounce(Some("BadRecipient")).suppression(),
        Suppression::Stop(_)
    ));
    assert_eq!(
        bounce(Some("DNSFAIL")).suppression(),
        Suppression::SoftBounce
    );
    for soft in [
        "transientfail",
        "greylisting",
        "badsender",
        "block",
        "content",
        "dnsFail",
        "generalfail",
        "other",
        "relayfail",
        "serverfail",
        "spam",
        "verifyfail",
        "serverpolicy",
        "spam_gmail",
        "a category Mailtrap adds later",
    ] {
        let event = bounce(Some(soft));
        assert_eq!(event.kind, EventKind::Bounced, "{soft}");
        assert!(event.soft_bounce, "{soft}");
        assert_eq!(event.suppression(), Suppression::SoftBounce, "{soft}");
    }
}

/// A suspension is Mailtrap holding the message back for the sender's
/// account (a daily sending limit): never counted against the recipient.
/// The old code read it as a deferral, a soft bounce of the recipient.
#[test]
fn a_suspension_is_a_failure_that_keeps_the_address() {
    let body = br#"{"events": [{"event": "suspension", "email": "a@example.com", "event_id": "s1", "timestamp": 1765000000, "reason": "Your account has reached its daily sending limit."}]}"#;
    let events = mailtrap::parse(body).unwrap();
    assert_eq!(events[0].kind, EventKind::Failed);
    assert_eq!(events[0].suppression(), Suppression::Keep);
}
