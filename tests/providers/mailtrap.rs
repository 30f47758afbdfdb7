//! Mailtrap: a JSON Lines delivery keeps each line's event even where
//! another line is not JSON.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::EventKind;
use email_webhooks::provider::mailtrap;

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
