//! Unisender Go: the `auth` MD5 over the raw body, whatever its formatting,
//! found by the parser (never a look-alike elsewhere), and derived keys.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::Secret;
use email_webhooks::provider::unisender_go::{self, UnisenderGoVerifier};
use serde_json::{Value, json};

use crate::common::Sample;

const KEY: &str = "test-api-key-unisender-go";

fn verifier() -> UnisenderGoVerifier {
    UnisenderGoVerifier::new(Secret::from_bytes(KEY).unwrap())
}

fn check(verifier: &UnisenderGoVerifier, body: &str) -> Result<usize, String> {
    let headers = [("Content-Type", "application/json")];
    verifier
        .verify(&headers, body.as_bytes())
        .map(|v| v.key_index())
        .map_err(|e| e.code().to_owned())
}

/// `body` (with `"auth":""`) with its auth made for `key`.
fn signed(body: &str, key: &str) -> String {
    let auth = UnisenderGoVerifier::new(Secret::from_bytes(key).unwrap())
        .sign(body.as_bytes())
        .unwrap();
    body.replacen(r#""auth":"""#, &format!(r#""auth":"{auth}""#), 1)
}

#[test]
fn the_samples_verify_with_their_key_and_not_with_another() {
    for name in ["unisender-go-events.json", "unisender-go-single-event.json"] {
        let body = Sample::load(name).body;
        assert_eq!(check(&verifier(), &body), Ok(0), "{name}");
        let other = UnisenderGoVerifier::new(Secret::from_bytes("other").unwrap());
        assert_eq!(check(&other, &body).unwrap_err(), "invalid_signature");
        let rotated = other.with_key(Secret::from_bytes(KEY).unwrap());
        assert_eq!(check(&rotated, &body), Ok(1));
        // Any changed byte outside `auth` is refused, escaped slashes too.
        let tampered = body.replacen("\\/", "/", 1);
        assert_eq!(
            check(&verifier(), &tampered).unwrap_err(),
            "invalid_signature"
        );
    }
}

#[test]
fn any_formatting_verifies_as_sent() {
    let data = json!({"auth": "", "events_by_user": [{"user_id": 1, "events": [
        {"event_name": "transactional_email_status",
         "event_data": {"job_id": "j", "email": "a@example.com", "status": "clicked",
                        "event_time": "2025-12-06 09:00:00", "url": "https://e.example/x"}}]}]});
    let compact = data.to_string();
    let pretty =
        serde_json::to_string_pretty(&data)
            .unwrap()
            .replacen(r#""auth": """#, r#""auth":"""#, 1);
    let escaped = compact.replace('/', "\\/");
    let spaced = compact.replacen(r#""auth":"""#, "\"auth\" :\t\"\"", 1);
    for body in [compact, pretty, escaped] {
        assert_eq!(check(&verifier(), &signed(&body, KEY)), Ok(0), "{body}");
    }
    // Whitespace around the colon: the parser finds the value anyway.
    let auth = verifier().sign(spaced.as_bytes()).unwrap();
    let spaced = spaced.replacen("\"auth\" :\t\"\"", &format!("\"auth\" :\t\"{auth}\""), 1);
    assert_eq!(check(&verifier(), &spaced), Ok(0));
}

#[test]
fn only_the_top_level_auth_is_replaced() {
    // A sender's metadata holding the same 32 hex digits, or its own
    // `auth` field, changes nothing: the top-level value is the one.
    let body = r#"{"events_by_user":[{"user_id":1,"events":[{"event_name":"transactional_email_status","event_data":{"job_id":"j","email":"a@example.com","status":"sent","event_time":"2025-12-06 09:00:00","metadata":{"auth":"","copy":"AUTH"}}}]}],"auth":""}"#;
    // The top-level `auth` is the last one here.
    let auth = verifier().sign(body.as_bytes()).unwrap();
    let at = body.rfind(r#""auth":"""#).unwrap();
    let good = format!(r#"{}"auth":"{auth}"{}"#, &body[..at], &body[at + 9..]);
    assert_eq!(check(&verifier(), &good), Ok(0));
    let auth = good.rsplit(r#""auth":""#).next().unwrap()[..32].to_owned();
    let copied = good.replacen("AUTH", &auth, 1);
    assert_eq!(
        check(&verifier(), &copied).unwrap_err(),
        "invalid_signature"
    );
    for bad in [
        r#"{"auth":5}"#,
        r#"{"auth":"\u0030"}"#,
        r#"{"x":1}"#,
        "not json",
        r#"{"auth":"zz"}"#,
    ] {
        assert!(check(&verifier(), bad).is_err(), "{bad}");
    }
}

#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    let base = json!({"event_name": "transactional_email_status", "event_data": {"job_id": "j1",
        "email": "a@example.com", "status": "clicked", "event_time": "2025-12-06 09:00:00",
        "url": "https://e.example/a", "comment": "c",
        "delivery_info": {"delivery_status": "s", "destination_response": "r", "user_agent": "u", "ip": "192.0.2.1"}}});
    let key = |event: &Value| {
        let body = json!({"auth": "x", "events_by_user": [{"user_id": 1, "events": [event]}]});
        unisender_go::parse(body.to_string().as_bytes()).unwrap()[0].idempotency_key()
    };
    let original = key(&base);
    for pointer in [
        "/event_data/job_id",
        "/event_data/email",
        "/event_data/status",
        "/event_data/event_time",
        "/event_data/url",
        "/event_data/comment",
        "/event_data/delivery_info/delivery_status",
        "/event_data/delivery_info/destination_response",
        "/event_data/delivery_info/user_agent",
        "/event_data/delivery_info/ip",
    ] {
        let mut variant = base.clone();
        *variant.pointer_mut(pointer).unwrap() = json!("other");
        assert_ne!(key(&variant), original, "{pointer}");
    }
    // Another call's user or auth is not the event's.
    let other_call = json!({"auth": "y", "events_by_user": [{"user_id": 2, "events": [base]}]});
    let events = unisender_go::parse(other_call.to_string().as_bytes()).unwrap();
    assert_eq!(events[0].idempotency_key(), original);
    // Events the model does not read (an unknown name, no time) are told
    // apart by all of their JSON: fields it does not know differ, so do
    // the keys; resent unchanged, the same key.
    for (a, b) in [
        (
            json!({"event_name": "x", "event_data": {"a": 1}}),
            json!({"event_name": "x", "event_data": {"a": 2}}),
        ),
        (
            json!({"event_name": "transactional_email_status", "event_data": {"status": "sent", "job_id": "j", "n": 1}}),
            json!({"event_name": "transactional_email_status", "event_data": {"status": "sent", "job_id": "j", "n": 2}}),
        ),
    ] {
        assert_ne!(key(&a), key(&b), "{a}");
        assert_eq!(key(&a), key(&a.clone()));
    }
}

#[test]
fn the_event_count_is_bounded_across_users() {
    let event =
        json!({"event_name": "transactional_email_status", "event_data": {"status": "sent"}});
    let user = |n: usize| json!({"user_id": 1, "events": vec![event.clone(); n]});
    let body = |users: Vec<Value>| json!({"auth": "", "events_by_user": users}).to_string();
    let limit = email_webhooks::Limits::default().max_events_per_delivery;
    assert_eq!(
        unisender_go::parse(body(vec![user(limit)]).as_bytes())
            .unwrap()
            .len(),
        limit
    );
    let err = unisender_go::parse(body(vec![user(limit - 1), user(2)]).as_bytes()).unwrap_err();
    assert_eq!(err.code(), "invalid_payload");
}

/// A blocklist or spam rejection by the receiving side is a soft bounce:
/// the address itself did not fail.
#[test]
fn blocks_by_the_receiving_side_are_soft() {
    let bounce = |status: &str| {
        let body = json!({"auth": "x", "events_by_user": [{"user_id": 1, "events": [
            {"event_name": "transactional_email_status", "event_data": {"email": "a@example.com",
             "status": "hard_bounced", "delivery_info": {"delivery_status": status}}}]}]});
        unisender_go::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    // And a full mailbox, or a message too large, skipped, lost or failed
    // otherwise: nothing said of the address (they stopped it before).
    for status in [
        "err_blacklisted",
        "err_spam_rejected",
        "err_mailbox_full",
        "err_too_large",
        "err_skip_letter",
        "err_lost",
        "err_delivery_failed",
    ] {
        assert_eq!(
            bounce(status).suppression(),
            email_webhooks::Suppression::SoftBounce,
            "{status}"
        );
    }
    assert_eq!(
        bounce("err_user_unknown").suppression(),
        email_webhooks::Suppression::Stop(email_webhooks::StopReason::HardBounce)
    );
}

/// A soft bounce Unisender Go will retry (`err_will_retry`) has no reject
/// reason: the delivery goes on. Other soft bounces keep theirs. The old
/// code gave every such retry the reason `bounced`.
#[test]
fn a_retry_has_no_reject_reason() {
    use email_webhooks::{EventKind, RejectReason};
    let soft = |status: &str| {
        let body = json!({"auth": "x", "events_by_user": [{"user_id": 1, "events": [
            {"event_name": "transactional_email_status", "event_data": {"email": "a@example.com",
             "status": "soft_bounced", "event_time": "2026-12-07 10:00:00",
             "delivery_info": {"delivery_status": status}}}]}]});
        unisender_go::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    let retry = soft("err_will_retry");
    assert_eq!(retry.kind, EventKind::Deferred);
    assert_eq!(retry.reject_reason, None);
    assert_eq!(
        soft("err_mailbox_full").reject_reason,
        Some(RejectReason::Bounced)
    );
    assert_eq!(
        soft("err_spam_rejected").reject_reason,
        Some(RejectReason::Blocked)
    );
    assert_eq!(
        soft("err_something_new").reject_reason,
        Some(RejectReason::Other)
    );
}

/// A group of `events_by_user` that is not one (not an object, or its
/// `events` not an array) is kept whole as an unknown event: the other
/// users' events are read, and the group counts toward the limit. The old
/// code refused the whole delivery, and Unisender Go stops a webhook that
/// keeps failing.
#[test]
fn an_unreadable_group_never_costs_the_other_users_events() {
    let event = |email: &str| {
        json!({"event_name": "transactional_email_status",
               "event_data": {"email": email, "status": "delivered", "job_id": "j"}})
    };
    for bad in [
        json!(5),
        json!("a string"),
        json!([1, 2]),
        json!([[{"event_name": "transactional_email_status"}]]),
        json!({"user_id": 2, "events": {"not": "an array"}}),
        json!({"user_id": 2, "events": 7}),
    ] {
        let body = json!({"auth": "", "events_by_user": [
            {"user_id": 1, "events": [event("a@example.com")]},
            bad,
            {"user_id": 3, "events": [event("c@example.com")]},
        ]})
        .to_string();
        let events = unisender_go::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{bad}: {e}"));
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                email_webhooks::EventKind::Delivered,
                email_webhooks::EventKind::Unknown,
                email_webhooks::EventKind::Delivered
            ],
            "{bad}"
        );
        assert_eq!(events[1].raw.get(), bad.to_string(), "{bad}");
        assert_eq!(events[2].recipient.as_deref(), Some("c@example.com"));
    }
    let key = |bad: Value| {
        let body = json!({"auth": "", "events_by_user": [bad]}).to_string();
        unisender_go::parse(body.as_bytes()).unwrap()[0].idempotency_key()
    };
    assert_ne!(key(json!(5)), key(json!(6)));

    // An unreadable group counts toward the limit: after a group that
    // fills it, one more (unreadable) group is over it.
    let limit = email_webhooks::Limits::default().max_events_per_delivery;
    let full = json!({"user_id": 1, "events": vec![event("a@example.com"); limit]});
    let body = json!({"auth": "", "events_by_user": [full.clone()]}).to_string();
    assert_eq!(unisender_go::parse(body.as_bytes()).unwrap().len(), limit);
    let body = json!({"auth": "", "events_by_user": [full, 5]}).to_string();
    let err = unisender_go::parse(body.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "invalid_payload");
}
