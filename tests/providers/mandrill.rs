//! Mandrill: the shared vector through the library, the configured URL as
//! the only URL that verifies, the HEAD probe, the batch bound, and derived
//! keys that tell every pair of events apart.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::Configure as _;
use email_webhooks::provider::mandrill::{self, MandrillVerifier};
use email_webhooks::provider::{EmailProvider as _, Reply};
use email_webhooks::{EventKind, Limits, Secret};
use std::fmt::Write as _;

use futures_util::FutureExt as _;
use serde_json::{Value, json};

use crate::common::Vector;

fn vector() -> (Vector, MandrillVerifier) {
    let v = Vector::load_provider("mandrill-1.json");
    let url = v.url.clone().unwrap();
    let verifier = MandrillVerifier::new(Secret::from_bytes(v.secret.as_bytes()).unwrap(), url);
    (v, verifier)
}

#[test]
fn the_vector_verifies_with_its_configured_url() {
    let (v, verifier) = vector();
    verifier
        .verify(&v.header_pairs(), v.body.as_bytes())
        .expect(&v.source);
    let events = mandrill::parse(v.body.as_bytes()).unwrap();
    assert!(events.len() > 1);
    assert!(events.iter().all(|e| e.provider.as_str() == "mandrill"));
}

#[test]
fn any_other_url_is_refused() {
    let (v, _) = vector();
    let url = v.url.clone().unwrap();
    let variants = [
        url.replacen("http://", "https://", 1),
        format!("{url}/"),
        url.replacen("requestb.in", "requestb.in:80", 1),
        format!("{url}?a=1"),
        url.to_uppercase(),
    ];
    for other in variants {
        let verifier =
            MandrillVerifier::new(Secret::from_bytes(v.secret.as_bytes()).unwrap(), &*other);
        let err = verifier
            .verify(&v.header_pairs(), v.body.as_bytes())
            .unwrap_err();
        assert_eq!(err.code(), "invalid_signature", "{other}");
    }
}

#[test]
fn a_changed_event_or_another_key_is_refused_and_rotation_accepts() {
    let (v, verifier) = vector();
    let tampered = v.body.replacen("hard_bounce", "hard_bouncf", 1);
    assert_eq!(
        verifier
            .verify(&v.header_pairs(), tampered.as_bytes())
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    let url = v.url.clone().unwrap();
    let other = MandrillVerifier::new(Secret::from_bytes("another-key").unwrap(), &*url);
    assert!(other.verify(&v.header_pairs(), v.body.as_bytes()).is_err());
    let rotated = other.with_key(Secret::from_bytes(v.secret.as_bytes()).unwrap());
    let headers = v.header_pairs();
    let proof = rotated.verify(&headers, v.body.as_bytes()).unwrap();
    assert_eq!(proof.key_index(), 1);
    let unsigned: Vec<(String, String)> = v
        .header_pairs()
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-mandrill-signature"))
        .collect();
    assert_eq!(
        verifier
            .verify(&unsigned, v.body.as_bytes())
            .unwrap_err()
            .code(),
        "missing_header"
    );
}

#[test]
fn the_head_probe_is_answered_200_and_other_methods_are_not_probes() {
    let (_, verifier) = vector();
    assert_eq!(
        verifier.probe(&http::Method::HEAD),
        Some(Reply::status(http::StatusCode::OK))
    );
    assert_eq!(verifier.probe(&http::Method::GET), None);
}

fn form(events: &Value) -> String {
    let mut body = String::from("mandrill_events=");
    for b in events.to_string().bytes() {
        if b.is_ascii_alphanumeric() {
            body.push(char::from(b));
        } else {
            let _ = write!(body, "%{b:02X}");
        }
    }
    body
}

fn send(id: &str) -> Value {
    json!({"event": "send", "_id": id, "ts": 1_765_000_000, "msg": {"_id": id, "email": "a@example.com"}})
}

#[test]
fn a_batch_is_bounded_at_1000_events_whatever_the_limit() {
    let batch = |n: usize| Value::Array((0..n).map(|i| send(&format!("m{i}"))).collect());
    assert_eq!(
        mandrill::parse(form(&batch(1000)).as_bytes())
            .unwrap()
            .len(),
        1000
    );
    assert!(mandrill::parse(form(&batch(1001)).as_bytes()).is_err());

    // A higher configured limit does not lift Mandrill's own bound.
    let verifier = MandrillVerifier::new(Secret::from_bytes("k").unwrap(), "https://h.example/x")
        .with_limits(Limits::default().with_max_events_per_delivery(5000));
    let receive = |body: &str| {
        let signature = verifier.sign(body.as_bytes()).unwrap();
        let headers = [("X-Mandrill-Signature", signature)];
        let request = email_webhooks::Request::new(&headers, body.as_bytes());
        verifier.receive(&request).now_or_never().unwrap()
    };
    assert_eq!(receive(&form(&batch(1000))).unwrap().events.len(), 1000);
    assert_eq!(
        receive(&form(&batch(1001))).unwrap_err().code(),
        "invalid_payload"
    );
}

#[test]
fn an_unreadable_element_keeps_its_neighbours() {
    let events =
        mandrill::parse(form(&json!([send("m1"), 7, "text", send("m2")])).as_bytes()).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Sent,
            EventKind::Unknown,
            EventKind::Unknown,
            EventKind::Sent
        ]
    );
    assert_ne!(events[1].idempotency_key(), events[2].idempotency_key());
}

#[test]
fn a_form_without_one_mandrill_events_field_is_a_parse_error() {
    for body in [
        "",
        "other=1",
        "mandrill_events=%5B%5D&mandrill_events=%5B%5D",
        "mandrill_events=%7B%7D",
        "mandrill_events=not-json",
    ] {
        let err = mandrill::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "invalid_payload", "{body}");
    }
    assert!(
        mandrill::parse(b"mandrill_events=%5B%5D")
            .unwrap()
            .is_empty()
    );
}

/// Keys of one event and of each variant that differs from it in one field.
#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    let base = json!({"event": "click", "_id": "m1", "ts": 1_765_000_000,
        "url": "https://example.com/a", "ip": "192.0.2.1", "user_agent": "UA 1",
        "msg": {"_id": "m1", "email": "a@example.com", "ts": 1_764_000_000, "subject": "S"}});
    let key = |event: &Value| {
        let events = mandrill::parse(form(&json!([event])).as_bytes()).unwrap();
        events[0].idempotency_key()
    };
    let original = key(&base);
    let changes: [(&str, Value); 8] = [
        ("/msg/_id", json!("m2")),
        ("/event", json!("open")),
        ("/_id", json!("m2")),
        ("/ts", json!(1_765_000_001)),
        ("/url", json!("https://example.com/b")),
        ("/ip", json!("192.0.2.2")),
        ("/user_agent", json!("UA 2")),
        ("/msg/email", json!("b@example.com")),
    ];
    for (pointer, value) in changes {
        let mut variant = base.clone();
        *variant.pointer_mut(pointer).unwrap() = value;
        assert_ne!(key(&variant), original, "{pointer}");
    }
    // A redelivery: the same event, its keys reordered: the same key.
    let reordered: Value = serde_json::from_str(
        r#"{"msg": {"subject": "S", "ts": 1764000000, "email": "a@example.com", "_id": "m1"},
            "user_agent": "UA 1", "ip": "192.0.2.1", "url": "https://example.com/a",
            "ts": 1765000000, "_id": "m1", "event": "click"}"#,
    )
    .unwrap();
    assert_eq!(key(&reordered), original);
    // Two sync events that differ in one field of the entry differ: the
    // address, why it is listed, and the subaccount or sender it is
    // listed for (Mandrill keeps deny-list entries per subaccount).
    let sync = json!({"type": "blacklist", "action": "add", "ts": 1_765_000_000,
        "reject": {"email": "a@example.com", "reason": "hard-bounce", "subaccount": "s1", "sender": "x@example.org"}});
    for (pointer, value) in [
        ("/reject/email", json!("b@example.com")),
        ("/reject/reason", json!("spam")),
        ("/reject/subaccount", json!("s2")),
        ("/reject/sender", json!("y@example.org")),
        ("/action", json!("remove")),
        ("/type", json!("whitelist")),
        ("/ts", json!(1_765_000_001)),
    ] {
        let mut variant = sync.clone();
        *variant.pointer_mut(pointer).unwrap() = value;
        assert_ne!(key(&variant), key(&sync), "{pointer}");
    }
    assert_eq!(key(&sync.clone()), key(&sync));
    // A sender given as Mandrill's `rejects/list` describes it (an object)
    // is read: the entry keeps its recipient, and two senders are two
    // keys. The old code could not read the entry, which lost both.
    let mut detailed = sync.clone();
    detailed["reject"]["sender"] = json!({"address": "x@example.org", "created_at": "2026-12-01 10:00:00",
        "sent": 10, "hard_bounces": 1});
    let parsed = mandrill::parse(form(&json!([detailed])).as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(parsed.recipient.as_deref(), Some("a@example.com"));
    let mut other_sender = detailed.clone();
    other_sender["reject"]["sender"]["address"] = json!("y@example.org");
    assert_ne!(key(&other_sender), key(&detailed));
}

/// Inbound messages have no `_id`: two messages to one address in the same
/// second are two keys (the message is the key), and a resent one the same.
#[test]
fn inbound_messages_in_the_same_second_have_their_own_keys() {
    let inbound = |subject: &str| {
        json!({"event": "inbound", "ts": 1_765_000_000,
               "msg": {"email": "support@example.com", "subject": subject, "raw_msg": format!("Subject: {subject}")}})
    };
    let keys: Vec<String> =
        mandrill::parse(form(&json!([inbound("a"), inbound("b"), inbound("a")])).as_bytes())
            .unwrap()
            .iter()
            .map(email_webhooks::EmailEvent::idempotency_key)
            .collect();
    assert_ne!(keys[0], keys[1]);
    assert_eq!(keys[0], keys[2]);
}

#[test]
fn debug_hides_credentials_and_paths_of_the_configured_url() {
    let verifier = MandrillVerifier::new(
        Secret::from_bytes("k").unwrap(),
        "https://hook-user:hunter2@hooks.example.com/secret-path?token=abc",
    );
    let shown = format!("{verifier:?}");
    for hidden in ["hunter2", "hook-user", "secret-path", "token=abc"] {
        assert!(!shown.contains(hidden), "{shown}");
    }
    assert!(shown.contains("hooks.example.com"), "{shown}");
}

/// `Debug` shows the configured URL's host, never credentials or the path,
/// even when the URL is malformed.
#[test]
fn debug_shows_the_host_alone() {
    for url in [
        "https://user:secret-pass@hooks.example.com/mandrill?k=secret-q",
        "https://user:secret/pass@hooks.example.com/mandrill",
        "hooks.example.com/secret-path#secret-fragment",
    ] {
        let verifier = MandrillVerifier::new(Secret::from_bytes("k").unwrap(), url);
        let shown = format!("{verifier:?}");
        assert!(shown.contains("hooks.example.com"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}

/// A `reject` event names why Mandrill refused to send in
/// `msg.reject.reason`. An address on the denylist for soft bounces (an
/// entry that expires) is kept; one listed for a hard bounce stops. Both
/// stopped the address before.
#[test]
fn a_rejection_for_soft_bounces_keeps_the_address() {
    use email_webhooks::{StopReason, Suppression};
    let rejected = |reason: &str| {
        let event = json!({"event": "reject", "_id": reason, "ts": 1_765_000_000,
            "msg": {"_id": reason, "email": "a@example.com", "reject": {"reason": reason}}});
        mandrill::parse(form(&json!([event])).as_bytes())
            .unwrap()
            .remove(0)
    };
    assert_eq!(rejected("soft-bounce").suppression(), Suppression::Keep);
    assert_eq!(
        rejected("hard-bounce").suppression(),
        Suppression::Stop(StopReason::HardBounce)
    );
}
