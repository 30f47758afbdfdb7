//! Mailgun: the shared vector through the library, negative cases (JSON and
//! legacy form), and every documented sample.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use crate::common::{Sample, Vector, at};
use email_webhooks::Configure as _;
use email_webhooks::provider::mailgun::{self, MailgunVerifier};
use email_webhooks::{EmailEvent, EventKind, RejectReason, Secret};
use serde_json::json;

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];
const FORM: [(&str, &str); 1] = [("Content-Type", "application/x-www-form-urlencoded")];

fn vector() -> (Vector, MailgunVerifier) {
    let v = Vector::load_provider("mailgun-1.json");
    let verifier = MailgunVerifier::new(Secret::from_bytes(v.secret.as_bytes()).unwrap());
    (v, verifier)
}

const SIGNED_AT: i64 = 1_403_645_220;

#[test]
fn the_vector_verifies_at_its_own_time() {
    let (v, verifier) = vector();
    let proof = verifier
        .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED_AT))
        .expect(&v.source);
    assert_eq!(proof.unix_timestamp(), Some(SIGNED_AT));
    let events = verifier
        .verify_and_parse_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED_AT))
        .unwrap();
    assert_eq!(events[0].kind, EventKind::Delivered);
    assert_eq!(
        events[0].event_id.as_deref(),
        Some("hK7mQVt1QtqRiOfQXta4sw")
    );
}

#[test]
fn the_vector_is_stale_today() {
    let (v, verifier) = vector();
    assert_eq!(
        verifier
            .verify(&v.header_pairs(), v.body.as_bytes())
            .unwrap_err()
            .code(),
        "timestamp_too_old"
    );
    assert!(
        verifier
            .dangerous_disable_replay_check()
            .verify(&v.header_pairs(), v.body.as_bytes())
            .is_ok()
    );
}

#[test]
fn the_event_data_is_not_signed() {
    // Documented weakness: the signature covers only timestamp and token.
    let (v, verifier) = vector();
    let forged = v.body.replace("delivered", "failed");
    assert!(
        verifier
            .verify_at(&v.header_pairs(), forged.as_bytes(), at(SIGNED_AT))
            .is_ok()
    );
}

#[test]
fn tampered_signature_fields_and_wrong_keys_are_rejected() {
    let (v, verifier) = vector();
    for (from, to) in [
        ("1403645220", "1403645221"),
        ("5egbgr1v", "5egbgr1w"),
        ("9cfc5c41", "9cfc5c42"),
    ] {
        let body = v.body.replace(from, to);
        let e = verifier
            .verify_at(&v.header_pairs(), body.as_bytes(), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(e.code(), "invalid_signature", "{from}");
    }
    let wrong = MailgunVerifier::new(Secret::from_bytes("key-other").unwrap());
    assert_eq!(
        wrong
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    let rotated = MailgunVerifier::new(Secret::from_bytes("key-other").unwrap())
        .with_secret(Secret::from_bytes(v.secret.as_bytes()).unwrap());
    assert_eq!(
        rotated
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED_AT))
            .unwrap()
            .key_index(),
        1
    );
}

#[test]
fn missing_or_malformed_signature_fields_are_rejected() {
    let (_, verifier) = vector();
    let cases = [
        // Unsigned: refused like a wrong signature (401, not 400).
        (
            json!({"event-data": {"event": "delivered"}}),
            "invalid_signature",
        ),
        (
            json!({"signature": {"timestamp": "1", "token": "t"}}),
            "invalid_payload",
        ),
        (
            json!({"signature": {"timestamp": 1_403_645_220, "token": "t", "signature": "00"}}),
            "invalid_payload",
        ),
        (
            json!({"signature": {"timestamp": "14036452x0", "token": "t", "signature": "00"}}),
            "malformed_header",
        ),
        (
            json!({"signature": {"timestamp": "1403645220", "token": "t", "signature": "zz"}}),
            "invalid_signature",
        ),
    ];
    for (body, code) in cases {
        let e = verifier
            .verify_at(&JSON, body.to_string().as_bytes(), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(e.code(), code, "{body}");
    }
    assert_eq!(
        verifier
            .verify_at(&JSON, b"not json", at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_payload"
    );
}

#[test]
fn legacy_form_webhooks_verify_with_the_last_value_winning() {
    let (v, verifier) = vector();
    let sig = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";
    let token = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
    let body = format!(
        "event=delivered&recipient=a%40b.c&signature=bogus&timestamp=1&timestamp=1403645220&token={token}&signature={sig}&Message-Id=%3Cm1%40x%3E"
    );
    assert!(
        verifier
            .verify_at(&FORM, body.as_bytes(), at(SIGNED_AT))
            .is_ok(),
        "{}",
        v.source
    );
    let events = verifier
        .verify_and_parse_at(&FORM, body.as_bytes(), at(SIGNED_AT))
        .unwrap();
    assert_eq!(events[0].kind, EventKind::Delivered);
    assert_eq!(events[0].recipient.as_deref(), Some("a@b.c"));
    assert_eq!(events[0].message_id.as_deref(), Some("<m1@x>"));
    let first_wins = format!("timestamp=1403645220&token={token}&signature={sig}&signature=bogus");
    assert_eq!(
        verifier
            .verify_at(&FORM, first_wins.as_bytes(), at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    assert_eq!(
        verifier
            .verify_at(&FORM, b"event=x", at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
}

/// A legacy webhook posted as `multipart/form-data`, as Mailgun posts the
/// legacy `bounced`, `dropped` and `complained` events with the message
/// attached (`attachment-N`): verified and read as the URL-encoded form is,
/// the file left out, and the same event posted either way gets one key.
/// It was read as JSON and refused (400), and Mailgun gave up after 8 hours.
#[test]
fn legacy_multipart_webhooks_verify_and_parse_as_the_form_does() {
    let (_, verifier) = vector();
    let sig = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";
    let token = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
    let fields = |token: &str| {
        vec![
            ("event", "bounced".to_owned()),
            ("recipient", "gone@example.com".to_owned()),
            ("domain", "mg.example.com".to_owned()),
            ("code", "550".to_owned()),
            ("error", "5.1.1 The email account does not exist".to_owned()),
            (
                "message-headers",
                r#"[["Message-Id", "<m1@example.com>"]]"#.to_owned(),
            ),
            ("X-Mailgun-Sid", "WyI1ZjE0Il0=".to_owned()),
            ("order", "42 & 100%".to_owned()),
            ("attachment-count", "1".to_owned()),
            ("timestamp", SIGNED_AT.to_string()),
            ("token", token.to_owned()),
            ("signature", sig.to_owned()),
        ]
    };
    let multipart = |fields: &[(&str, String)]| {
        let mut body = String::new();
        for (name, value) in fields {
            write!(
                body,
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .unwrap();
        }
        body.push_str(
            "--XyZ\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"message.eml\"\r\n\
             Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n--XyZ--\r\n",
        );
        body
    };
    let headers = [("Content-Type", "multipart/form-data; boundary=XyZ")];
    let body = multipart(&fields(token));
    let events = verifier
        .verify_and_parse_at(&headers, body.as_bytes(), at(SIGNED_AT))
        .unwrap();
    let e = &events[0];
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Bounced))
    );
    assert_eq!(e.recipient.as_deref(), Some("gone@example.com"));
    assert_eq!(e.message_id.as_deref(), Some("<m1@example.com>"));
    assert_eq!(
        e.mta_response.as_deref(),
        Some("5.1.1 The email account does not exist")
    );
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone()),
        json!({"order": "42 & 100%"})
    );
    assert!(!e.raw.get().contains("message.eml"));
    // Unsigned parsing reads it the same way.
    let parsed = mailgun::parse_request(&headers, body.as_bytes()).unwrap();
    assert_eq!(parsed[0].idempotency_key(), e.idempotency_key());
    // The same fields URL-encoded: the same event, the same key.
    let encoded: Vec<String> = fields(token)
        .iter()
        .map(|(name, value)| format!("{name}={}", crate::common::form_encode(value)))
        .collect();
    let form = verifier
        .verify_and_parse_at(&FORM, encoded.join("&").as_bytes(), at(SIGNED_AT))
        .unwrap();
    assert_eq!(form[0].idempotency_key(), e.idempotency_key());
    // Another token: the signature no longer matches.
    let forged = multipart(&fields("another-token"));
    assert_eq!(
        verifier
            .verify_at(&headers, forged.as_bytes(), at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    // A multipart body cut short is refused before any signature check.
    let cut = &body[..body.len() - 12];
    assert_eq!(
        verifier
            .verify_at(&headers, cut.as_bytes(), at(SIGNED_AT))
            .unwrap_err()
            .code(),
        "invalid_payload"
    );
}

#[test]
fn sign_round_trips() {
    let verifier = MailgunVerifier::new(Secret::from_bytes("key-123").unwrap());
    let envelope = verifier
        .sign(
            1_700_000_000,
            "tok",
            &json!({"event": "opened", "id": "e1"}),
        )
        .unwrap();
    let body = envelope.to_string();
    let events = verifier
        .verify_and_parse_at(&JSON, body.as_bytes(), at(1_700_000_000))
        .unwrap();
    assert_eq!(events[0].kind, EventKind::Opened);
}

fn event_data(name: &str) -> EmailEvent {
    let sample = Sample::load(name);
    assert_eq!(sample.esp, "mailgun", "{}", sample.source);
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&sample.body).expect(name);
    let mut events = mailgun::parse_event_data(&raw).expect(name);
    events.remove(0)
}

#[test]
fn delivered_sample() {
    let e = event_data("mailgun-delivered.json");
    assert_eq!(e.kind, EventKind::Delivered);
    assert_eq!(e.event_id.as_deref(), Some("hK7mQVt1QtqRiOfQXta4sw"));
    assert_eq!(e.idempotency_key(), "mailgun:hK7mQVt1QtqRiOfQXta4sw");
    assert_eq!(
        e.message_id.as_deref(),
        Some("<20180622182958.1.48906CB188F1A454@exmple.org>")
    );
    assert_eq!(e.mta_response.as_deref(), Some("OK"));
    assert_eq!(e.description, None);
    assert_eq!(
        e.timestamp.map(|t| t.unix_timestamp_nanos() / 1000),
        Some(1_529_692_199_626_182)
    );
}

#[test]
fn failed_permanent_sample() {
    let e = event_data("mailgun-failed-permanent.json");
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Bounced))
    );
    assert_eq!(e.recipient.as_deref(), Some("slava@mailgun.com"));
    assert_eq!(
        e.description.as_deref(),
        Some("Not delivering to previously bounced address")
    );
    assert_eq!(e.mta_response, None);
}

#[test]
fn failed_temporary_sample() {
    let e = event_data("mailgun-failed-temporary.json");
    // A temporary failure says why too: `reason` is `generic` here.
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Deferred, Some(RejectReason::Other))
    );
    assert!(
        e.mta_response
            .as_deref()
            .unwrap()
            .starts_with("4.7.652 The mail server")
    );
    assert_eq!(e.event_id.as_deref(), Some("xYrATi63Rke8EC_s7EoJeA"));
}

#[test]
fn clicked_sample_as_documented_is_malformed_and_as_repaired_normalizes() {
    let sample = Sample::load("mailgun-clicked.json");
    // The documented sample has a trailing comma (see the sample's notes): a
    // parse error, never a guess.
    assert!(serde_json::from_str::<Box<serde_json::value::RawValue>>(&sample.body).is_err());
    let body = format!(
        r#"{{"signature":{{"timestamp":"1","token":"t","signature":"s"}},"event-data":{}}}"#,
        sample.body
    );
    assert_eq!(
        mailgun::parse(body.as_bytes()).unwrap_err().code(),
        "invalid_payload"
    );
    let repaired = sample.body.replace("},\n    }", "}\n    }");
    let raw: Box<serde_json::value::RawValue> =
        serde_json::from_str(&repaired).expect("repaired sample");
    let e = mailgun::parse_event_data(&raw).unwrap().remove(0);
    assert_eq!(e.kind, EventKind::Clicked);
    assert_eq!(e.click_url.as_deref(), Some("http://example.com/signup"));
    assert!(
        e.user_agent
            .as_deref()
            .unwrap()
            .contains("Chromium/28.0.1500.71")
    );
    assert_eq!(
        e.message_id.as_deref(),
        Some("<20130821085807.30688.67706@samples.mailgun.org>")
    );
}

#[test]
fn envelope_sample_is_only_an_illustration() {
    // Typographic quotes, a missing comma and a comment: not JSON.
    let sample = Sample::load("mailgun-webhook-envelope.json");
    assert_eq!(
        mailgun::parse(sample.body.as_bytes()).unwrap_err().code(),
        "invalid_payload"
    );
}

#[test]
fn reasons_and_unknown_events_map() {
    for (event, reason, kind, expected) in [
        (
            "rejected",
            "suppress-unsubscribe",
            EventKind::Rejected,
            Some(RejectReason::Unsubscribed),
        ),
        (
            "rejected",
            "suppress-complaint",
            EventKind::Rejected,
            Some(RejectReason::Spam),
        ),
        (
            "failed",
            "bounce",
            EventKind::Bounced,
            Some(RejectReason::Bounced),
        ),
        (
            "failed",
            "generic",
            EventKind::Bounced,
            Some(RejectReason::Other),
        ),
        (
            "complained",
            "",
            EventKind::Complained,
            Some(RejectReason::Spam),
        ),
        ("accepted", "", EventKind::Queued, None),
        ("stored", "", EventKind::Unknown, None),
    ] {
        let body = json!({"event-data": {"event": event, "reason": reason, "delivery-status": null, "id": "x"}}).to_string();
        let e = &mailgun::parse(body.as_bytes()).unwrap()[0];
        assert_eq!(
            (e.kind, e.reject_reason),
            (kind, expected),
            "{event}/{reason}"
        );
    }
}

/// Mailgun's permanent failures by reason: a real bounce, or an address on
/// Mailgun's bounce, unsubscribe or complaint list, stops the address; a
/// block of the sender (`espblock`, `blacklisted`) or running out of
/// retries (`old`) is a soft bounce. The old code stopped the address for
/// all of them.
#[test]
fn permanent_failures_stop_the_address_only_for_their_reason() {
    use email_webhooks::{StopReason, Suppression};
    let failed = |reason: &str| {
        let body = json!({"event-data": {"event": "failed", "severity": "permanent",
            "reason": reason, "recipient": "a@example.com", "id": reason}});
        mailgun::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    // An address on one of Mailgun's lists stops for the list's reason.
    for (reason, stop) in [
        ("bounce", StopReason::HardBounce),
        ("suppress-bounce", StopReason::HardBounce),
        ("suppress-unsubscribe", StopReason::Unsubscribe),
        ("suppress-complaint", StopReason::Complaint),
    ] {
        let event = failed(reason);
        assert_eq!(event.kind, EventKind::Bounced, "{reason}");
        assert_eq!(event.suppression(), Suppression::Stop(stop), "{reason}");
    }
    for reason in ["espblock", "blacklisted", "old"] {
        let event = failed(reason);
        assert_eq!(event.kind, EventKind::Bounced, "{reason}");
        assert_eq!(event.suppression(), Suppression::SoftBounce, "{reason}");
    }
}

/// Fields of another type than Mailgun documents (one tag as a string,
/// variables or statuses of another shape, a number where a string goes)
/// are read as far as they go: the event keeps its kind, recipient and id.
/// Refused, an authenticated body is answered 406 and Mailgun never sends
/// it again.
#[test]
fn odd_field_types_keep_the_event() {
    let base = json!({"event": "failed", "severity": "permanent", "reason": "bounce",
        "recipient": "a@example.com", "id": "ev1", "timestamp": 1_700_000_000.5});
    let odd = [
        ("tags", json!("newsletter")),
        ("tags", json!(["a", 7, null])),
        ("user-variables", json!([])),
        ("user-variables", json!("{\"order\": 1}")),
        ("delivery-status", json!("550 no such user")),
        ("delivery-status", json!({"message": 550, "code": "5.1.1"})),
        ("reject", json!([])),
        ("message", json!({"headers": "none"})),
        ("client-info", json!(3)),
        ("url", json!(12)),
        ("severity", json!(null)),
    ];
    for (field, value) in odd {
        let mut data = base.clone();
        data[field] = value.clone();
        let body = json!({"event-data": data}).to_string();
        let e = mailgun::parse(body.as_bytes())
            .unwrap_or_else(|err| panic!("{field}: {value}: {err}"))
            .remove(0);
        assert_eq!(e.kind, EventKind::Bounced, "{field}: {value}");
        assert_eq!(e.recipient.as_deref(), Some("a@example.com"), "{field}");
        assert_eq!(e.idempotency_key(), "mailgun:ev1", "{field}");
    }
    let tagged = json!({"event-data": {"event": "opened", "id": "x", "tags": "newsletter"}});
    let e = mailgun::parse(tagged.to_string().as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(e.tags, ["newsletter"]);
    // What the model cannot read at all (here a repeated field) is kept as
    // unknown with its raw JSON, never refused.
    let repeated = br#"{"event-data": {"event": "delivered", "id": "a", "id": "b"}}"#;
    let e = mailgun::parse(repeated).unwrap().remove(0);
    assert_eq!(e.kind, EventKind::Unknown);
    assert!(e.raw.get().contains(r#""id": "b""#));
    // An object that names no event is not Mailgun's.
    assert!(mailgun::parse(br#"{"event-data": {"id": "a"}}"#).is_err());
    assert!(mailgun::parse(br#"{"event-data": {"event": 5}}"#).is_err());
}

/// A legacy form's metadata is the sender's variables: Mailgun's own fields
/// (`X-Mailgun-Sid`, `domain`, the signature) stay out, and a variable named
/// like one of Mailgun's fields is kept with the sender's value.
#[test]
fn legacy_metadata_keeps_the_senders_variables_and_none_of_mailguns_fields() {
    let body = "event=delivered&recipient=a%40example.com&domain=mg.example.com\
        &X-Mailgun-Sid=WyI1ZjE0IiwgImFAZXhhbXBsZS5jb20iXQ%3D%3D&Message-Id=%3Cm1%40example.com%3E\
        &event=my-event&recipient=my-recipient&order=42\
        &timestamp=111&token=my-token&timestamp=1765000000&token=t0k&signature=abc";
    let events = mailgun::parse_form(body.as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Delivered);
    assert_eq!(events[0].recipient.as_deref(), Some("a@example.com"));
    assert_eq!(
        serde_json::Value::Object(events[0].metadata.clone()),
        json!({"event": "my-event", "recipient": "my-recipient", "order": "42",
               "timestamp": "111", "token": "my-token"})
    );
}

/// A sender's variable named like a field Mailgun posts only for other
/// events is the sender's on this one: metadata, never read as Mailgun's
/// (Mailgun's legacy user manual lists each event's fields). On an event
/// that has the field, Mailgun's value is the first and the sender's the
/// second. Every pair differs from the old reading, which took any field
/// Mailgun posts for some event as Mailgun's on all.
#[test]
fn legacy_variables_named_like_another_events_fields_are_the_senders() {
    let delivered = "event=delivered&recipient=a%40example.com&domain=mg.example.com\
        &Message-Id=%3Cm1%40example.com%3E\
        &url=https%3A%2F%2Fexample.com%2Forder%2F42&reason=gift&code=B7&description=blue\
        &tag=vip&ip=10.0.0.1&user-agent=my-agent&error=none&notification=weekly\
        &timestamp=1765000000&token=t0k&signature=abc";
    let e = &mailgun::parse_form(delivered.as_bytes()).unwrap()[0];
    assert_eq!(e.kind, EventKind::Delivered);
    assert_eq!(e.click_url, None);
    assert!(e.tags.is_empty(), "{:?}", e.tags);
    assert_eq!(e.description, None);
    assert_eq!(e.mta_response, None);
    assert_eq!(e.user_agent, None);
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone()),
        json!({"url": "https://example.com/order/42", "reason": "gift", "code": "B7",
               "description": "blue", "tag": "vip", "ip": "10.0.0.1",
               "user-agent": "my-agent", "error": "none", "notification": "weekly"})
    );

    // On a click, `url` is Mailgun's (first) and the sender's (second).
    let clicked = "event=clicked&recipient=a%40example.com&domain=mg.example.com\
        &url=https%3A%2F%2Fexample.com%2Fclicked&tag=news\
        &url=https%3A%2F%2Fexample.com%2Fmine&reason=gift\
        &timestamp=1765000000&token=t0k&signature=abc";
    let e = &mailgun::parse_form(clicked.as_bytes()).unwrap()[0];
    assert_eq!(e.kind, EventKind::Clicked);
    assert_eq!(e.click_url.as_deref(), Some("https://example.com/clicked"));
    assert_eq!(e.tags, ["news"]);
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone()),
        json!({"url": "https://example.com/mine", "reason": "gift"})
    );

    // A drop's `reason` and `code` are Mailgun's; `url` is not.
    let dropped = "event=dropped&recipient=a%40example.com&reason=hardfail&code=605\
        &description=Not+delivering&url=https%3A%2F%2Fexample.com%2Fmine\
        &timestamp=1765000000&token=t0k&signature=abc";
    let e = &mailgun::parse_form(dropped.as_bytes()).unwrap()[0];
    assert_eq!(e.kind, EventKind::Rejected);
    assert_eq!(e.reject_reason, Some(RejectReason::Bounced));
    assert_eq!(e.description.as_deref(), Some("Not delivering"));
    assert_eq!(e.click_url, None);
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone()),
        json!({"url": "https://example.com/mine"})
    );
}

/// A legacy event without a `Message-Id` field takes the message id from
/// `message-headers`, as Mailgun's bounce and complaint forms carry it.
#[test]
fn legacy_message_id_from_the_message_headers() {
    let headers = json!([["Subject", "Hi"], ["Message-Id", "<m7@example.com>"]]).to_string();
    let body = format!(
        "event=bounced&recipient=a%40example.com&code=550&error=no+such+user\
         &message-headers={}&timestamp=1765000000&token=t0k&signature=abc",
        utf8_percent(&headers)
    );
    let e = &mailgun::parse_form(body.as_bytes()).unwrap()[0];
    assert_eq!(e.kind, EventKind::Bounced);
    assert_eq!(e.message_id.as_deref(), Some("<m7@example.com>"));
    assert!(e.metadata.is_empty(), "{:?}", e.metadata);
}

/// Percent-encodes every byte but unreserved ASCII.
fn utf8_percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An empty `id` names no event: keyed `mailgun:` alone, every such event
/// shared one key and all but the first were dropped as duplicates. Events
/// without an id are told apart by their link, client and answer too: two
/// clicks on two links in one second were one.
#[test]
fn events_without_a_usable_id_keep_distinct_keys() {
    let key = |data: serde_json::Value| {
        let body = json!({"signature": {"timestamp": "1", "token": "t", "signature": "s"}, "event-data": data});
        mailgun::parse(body.to_string().as_bytes()).unwrap()[0].idempotency_key()
    };
    let click = |id: &str, url: &str| {
        json!({"event": "clicked", "id": id, "timestamp": 1_700_000_000.5, "recipient": "a@example.com",
               "url": url, "message": {"headers": {"message-id": "m1@example.com"}}})
    };
    let (a, b) = (
        key(click("", "https://example.com/a")),
        key(click("", "https://example.com/b")),
    );
    assert_ne!(a, "mailgun:");
    assert_ne!(a, b);
    // The same event again: the same key.
    assert_eq!(key(click("", "https://example.com/a")), a);
    // A real id is still the key.
    assert_eq!(key(click("ev-1", "https://example.com/a")), "mailgun:ev-1");
}
