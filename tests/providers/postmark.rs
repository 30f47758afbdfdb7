//! Postmark: every documented sample parses and normalizes, and the
//! credential checks hold.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Sample, unix};
use base64::Engine as _;
use email_webhooks::Configure as _;
use email_webhooks::provider::postmark::{self, PostmarkVerifier};
use email_webhooks::{BasicAuth, EmailEvent, EventKind, RejectReason, Secret};
use serde_json::json;

fn one(name: &str) -> EmailEvent {
    let sample = Sample::load(name);
    assert_eq!(sample.esp, "postmark", "{}", sample.source);
    let mut events = postmark::parse(sample.body.as_bytes()).expect(name);
    assert_eq!(events.len(), 1);
    let event = events.remove(0);
    // Nothing is lost: the raw JSON is the body, byte for byte.
    assert_eq!(event.raw.get(), sample.body);
    event
}

#[test]
fn bounce_sample() {
    let e = one("postmark-bounce.json");
    assert_eq!(e.kind, EventKind::Bounced);
    assert_eq!(e.reject_reason, Some(RejectReason::Bounced));
    assert_eq!(e.event_id.as_deref(), Some("901542550"));
    assert_eq!(e.idempotency_key(), "postmark:901542550");
    assert_eq!(
        e.message_id.as_deref(),
        Some("2706ee8a-737c-4285-b032-ccd317af53ed")
    );
    assert_eq!(e.recipient.as_deref(), Some("bounce@example.com"));
    assert_eq!(
        e.mta_response.as_deref(),
        Some("smtp;550 5.1.1 The email account that you tried to reach does not exist.")
    );
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .starts_with("The server was unable")
    );
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2016-04-27T20:28:50Z"))
    );
}

#[test]
fn click_sample() {
    let e = one("postmark-click.json");
    assert_eq!(e.kind, EventKind::Clicked);
    assert_eq!(e.click_url.as_deref(), Some("https://example.com/click/me"));
    assert_eq!(
        e.user_agent.as_deref(),
        Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.")
    );
    assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
    assert_eq!(e.tags, vec!["welcome-email"]);
    assert_eq!(e.event_id, None);
    assert!(e.idempotency_key().starts_with("postmark:sha256:"));
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2017-10-25T15:21:11Z"))
    );
}

#[test]
fn delivery_sample() {
    let e = one("postmark-delivery.json");
    assert_eq!(e.kind, EventKind::Delivered);
    assert_eq!(
        e.mta_response.as_deref(),
        Some("Test delivery webhook details")
    );
    assert_eq!(
        e.message_id.as_deref(),
        Some("883953f4-6105-42a2-a16a-77a8eac79483")
    );
    assert_eq!(e.metadata["cohort"], "2014-08-A");
    assert_eq!(e.metadata["userid"], "12345");
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2014-08-01T17:28:10Z"))
    );
}

#[test]
fn subscription_change_sample() {
    let e = one("postmark-subscription-change.json");
    assert_eq!(e.kind, EventKind::Unsubscribed);
    assert_eq!(e.reject_reason, Some(RejectReason::Unsubscribed));
    assert_eq!(e.recipient.as_deref(), Some("john@example.com"));
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(unix("2022-06-05T17:17:32Z"))
    );
}

#[test]
fn resubscription_and_unknown_records() {
    let e = &postmark::parse(
        br#"{"RecordType":"SubscriptionChange","SuppressSending":false,"Recipient":"a@b.c"}"#,
    )
    .unwrap()[0];
    assert_eq!(e.kind, EventKind::Subscribed);
    // Suppressed for a reason not listed (or none): Postmark stops sending,
    // an unsubscribe (it was an unknown event).
    for reason in [r#""SuppressionReason":"SomethingNew","#, ""] {
        let body = format!(
            r#"{{"RecordType":"SubscriptionChange","SuppressSending":true,{reason}"Recipient":"a@b.c"}}"#
        );
        let e = &postmark::parse(body.as_bytes()).unwrap()[0];
        assert_eq!(e.kind, EventKind::Unsubscribed, "{reason}");
    }
    let e = &postmark::parse(br#"{"RecordType":"Inbound2030","Whatever":[1,2]}"#).unwrap()[0];
    assert_eq!(e.kind, EventKind::Unknown);
    assert_eq!(
        e.raw.get(),
        r#"{"RecordType":"Inbound2030","Whatever":[1,2]}"#
    );
}

#[test]
fn bounce_types_map_as_documented() {
    let cases = [
        (
            "SoftBounce",
            EventKind::Bounced,
            Some(RejectReason::Bounced),
        ),
        ("Transient", EventKind::Deferred, None),
        ("DnsError", EventKind::Deferred, None),
        (
            "SpamNotification",
            EventKind::Complained,
            Some(RejectReason::Spam),
        ),
        (
            "BadEmailAddress",
            EventKind::Rejected,
            Some(RejectReason::Invalid),
        ),
        (
            "DMARCPolicy",
            EventKind::Rejected,
            Some(RejectReason::Blocked),
        ),
        (
            "ManuallyDeactivated",
            EventKind::Rejected,
            Some(RejectReason::Blocked),
        ),
        (
            "Unsubscribe",
            EventKind::Unsubscribed,
            Some(RejectReason::Unsubscribed),
        ),
        ("AutoResponder", EventKind::Autoresponded, None),
        ("TemplateRenderingFailed", EventKind::Failed, None),
        // The rest of Postmark's bounce types table (its "Bounce types"
        // API reference); they were unknown events.
        ("OpenRelayTest", EventKind::Deferred, None),
        (
            "VirusNotification",
            EventKind::Bounced,
            Some(RejectReason::Other),
        ),
        ("Unconfirmed", EventKind::Rejected, None),
        ("InboundError", EventKind::InboundFailed, None),
        (
            "ManualSuppression",
            EventKind::Unsubscribed,
            Some(RejectReason::Unsubscribed),
        ),
        // A type the table does not list is still a bounce (a soft one,
        // below): it was an unknown event, lost to suppression. Postmark's
        // own `Unknown` type stays unknown.
        (
            "SomethingNew",
            EventKind::Bounced,
            Some(RejectReason::Other),
        ),
        ("Unknown", EventKind::Unknown, None),
    ];
    for (t, kind, reason) in cases {
        let body = format!(r#"{{"RecordType":"Bounce","Type":"{t}","ID":"7","Email":"x@y.z"}}"#);
        let e = &postmark::parse(body.as_bytes()).unwrap()[0];
        assert_eq!((e.kind, e.reject_reason), (kind, reason), "{t}");
        assert_eq!(e.event_id.as_deref(), Some("7"));
    }
    // A message flagged as infected is no bad address.
    let virus = br#"{"RecordType":"Bounce","Type":"VirusNotification","ID":"8","Email":"x@y.z"}"#;
    let e = &postmark::parse(virus).unwrap()[0];
    assert_eq!(e.suppression(), email_webhooks::Suppression::SoftBounce);
    let untyped = br#"{"RecordType":"Bounce","ID":"9","Email":"x@y.z"}"#;
    let e = &postmark::parse(untyped).unwrap()[0];
    assert_eq!(e.kind, EventKind::Bounced);
    assert_eq!(e.suppression(), email_webhooks::Suppression::SoftBounce);
    let hard = br#"{"RecordType":"Bounce","Type":"HardBounce","ID":"10","Email":"x@y.z"}"#;
    assert!(matches!(
        postmark::parse(hard).unwrap()[0].suppression(),
        email_webhooks::Suppression::Stop(_)
    ));
}

#[test]
fn malformed_bodies_are_parse_errors() {
    for bad in [&b""[..], b"[]", b"{", b"{\"Type\":\"HardBounce\"}", b"\xff"] {
        let e = postmark::parse(bad).expect_err("bad body");
        assert_eq!(e.code(), "invalid_payload");
    }
}

fn auth_header(user_pass: &str) -> Vec<(String, String)> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
    vec![("Authorization".into(), format!("Basic {b64}"))]
}

#[test]
fn credentials_are_required_and_rotate() {
    let v = PostmarkVerifier::new(
        BasicAuth::new("postmark", "old-pass")
            .unwrap()
            .with_credentials("postmark", "new-pass")
            .unwrap(),
    );
    let body = Sample::load("postmark-delivery.json").body;
    assert_eq!(
        v.verify(&auth_header("postmark:new-pass"), body.as_bytes())
            .unwrap()
            .key_index(),
        1
    );
    assert_eq!(
        v.verify(&auth_header("postmark:old-pass"), body.as_bytes())
            .unwrap()
            .key_index(),
        0
    );
    for bad in [
        auth_header("postmark:nope"),
        auth_header("other:new-pass"),
        vec![],
    ] {
        let e = v.verify(&bad, body.as_bytes()).expect_err("refused");
        assert_eq!(e.code(), "unauthorized");
    }
    let events = v
        .verify_and_parse(&auth_header("postmark:new-pass"), body.as_bytes())
        .unwrap();
    assert_eq!(events[0].kind, EventKind::Delivered);
}

#[test]
fn the_optional_secret_header_is_checked() {
    let v = PostmarkVerifier::new(BasicAuth::new("u", "p").unwrap()).with_secret_header(
        "X-Webhook-Secret",
        &Secret::from_bytes("hdr-s3cret").unwrap(),
    );
    let mut h = auth_header("u:p");
    assert_eq!(v.verify(&h, b"{}").unwrap_err().code(), "unauthorized");
    h.push(("X-Webhook-Secret".into(), "wrong".into()));
    assert_eq!(v.verify(&h, b"{}").unwrap_err().code(), "unauthorized");
    h.pop();
    h.push(("x-webhook-secret".into(), "hdr-s3cret".into()));
    assert!(v.verify(&h, b"{}").is_ok());
}

/// The secret header rotates: the same name given again accepts that value
/// too (the old code kept only the last value); another name replaces it.
#[test]
fn the_secret_header_rotates() {
    let secret = |s: &str| Secret::from_bytes(s).unwrap();
    let v = PostmarkVerifier::new(BasicAuth::new("u", "p").unwrap())
        .with_secret_header("X-Webhook-Secret", &secret("old-value"))
        .with_secret_header("x-webhook-secret", &secret("new-value"));
    for value in ["old-value", "new-value"] {
        let mut h = auth_header("u:p");
        h.push(("X-Webhook-Secret".into(), value.into()));
        assert!(v.verify(&h, b"{}").is_ok(), "{value}");
    }
    let mut h = auth_header("u:p");
    h.push(("X-Webhook-Secret".into(), "other".into()));
    assert_eq!(v.verify(&h, b"{}").unwrap_err().code(), "unauthorized");
    // Another header name: only it, with its value.
    let v = v.with_secret_header("X-Other", &secret("third"));
    let mut h = auth_header("u:p");
    h.push(("X-Webhook-Secret".into(), "old-value".into()));
    assert_eq!(v.verify(&h, b"{}").unwrap_err().code(), "unauthorized");
    h.push(("X-Other".into(), "third".into()));
    assert!(v.verify(&h, b"{}").is_ok());
}

#[test]
fn body_limit_is_checked() {
    let v = PostmarkVerifier::new(BasicAuth::new("u", "p").unwrap())
        .with_limits(email_webhooks::Limits::default().with_max_body_bytes(4));
    assert_eq!(
        v.verify(&auth_header("u:p"), b"12345").unwrap_err().code(),
        "body_too_large"
    );
}

/// Records without an `ID` get a derived key that differs when any one
/// field that can tell two records apart differs, and is the same for the
/// same record posted again. The old key digested message id, recipient,
/// kind and time only: two clicks on different links (or from different
/// clients) at the same time shared one, and the second was acknowledged
/// as a duplicate.
#[test]
fn derived_keys_differ_in_every_field_that_tells_records_apart() {
    let key = |record: serde_json::Value| {
        postmark::parse(record.to_string().as_bytes()).unwrap()[0].idempotency_key()
    };
    let click = json!({"RecordType": "Click", "MessageID": "m1", "Recipient": "a@example.com",
        "ReceivedAt": "2025-12-06T09:00:00.1234567Z", "OriginalLink": "https://example.com/a",
        "UserAgent": "Mozilla/5.0", "Tag": "t", "ClickLocation": "HTML"});
    let base = key(click.clone());
    assert_eq!(key(click.clone()), base, "the same record posted again");
    for (field, value) in [
        ("RecordType", json!("Open")),
        ("MessageID", json!("m2")),
        ("Recipient", json!("b@example.com")),
        ("ReceivedAt", json!("2025-12-06T09:00:00.1234568Z")),
        ("OriginalLink", json!("https://example.com/b")),
        ("UserAgent", json!("Thunderbird")),
        ("ClickLocation", json!("Text")),
    ] {
        let mut other = click.clone();
        other[field] = value;
        assert_ne!(key(other), base, "{field}");
    }
    let delivery = json!({"RecordType": "Delivery", "MessageID": "m1",
        "Recipient": "a@example.com", "DeliveredAt": "2025-12-06T09:00:00Z",
        "Details": "Test delivery webhook details"});
    let base = key(delivery.clone());
    for (field, value) in [
        ("DeliveredAt", json!("2025-12-06T09:00:01Z")),
        ("Details", json!("250 OK other")),
    ] {
        let mut other = delivery.clone();
        other[field] = value;
        assert_ne!(key(other), base, "{field}");
    }
    let change = json!({"RecordType": "SubscriptionChange", "MessageID": "m1",
        "Recipient": "a@example.com", "ChangedAt": "2025-12-06T09:00:00Z",
        "SuppressSending": true, "SuppressionReason": "ManualSuppression"});
    let base = key(change.clone());
    for (field, value) in [
        ("SuppressSending", json!(false)),
        ("SuppressionReason", json!("HardBounce")),
        ("ChangedAt", json!("2025-12-06T09:00:05Z")),
    ] {
        let mut other = change.clone();
        other[field] = value;
        assert_ne!(key(other), base, "{field}");
    }
    // A record with an `ID` keeps it as its key.
    let bounce = json!({"RecordType": "Bounce", "ID": 42, "Type": "HardBounce",
        "MessageID": "m1", "Email": "a@example.com", "BouncedAt": "2025-12-06T09:00:00Z"});
    assert_eq!(key(bounce), "postmark:42");
}

/// A record this model cannot read (a field of another type) is an unknown
/// event keyed by its bytes, answered 2xx rather than refused (Postmark
/// retries a refusal for hours, then drops it); a `ChallengeVerification`
/// bounce is an automatic reply, which keeps the address.
#[test]
fn unreadable_records_are_kept_and_challenges_are_replies() {
    let odd = br#"{"RecordType": "Bounce", "ID": {"not": "a number"}, "Email": 7}"#;
    let event = postmark::parse(odd).unwrap().remove(0);
    assert_eq!(event.kind, EventKind::Unknown);
    assert_eq!(event.raw.get(), std::str::from_utf8(odd).unwrap());
    assert!(postmark::parse(b"[1, 2]").is_err());
    let challenge = json!({"RecordType": "Bounce", "ID": 42, "Type": "ChallengeVerification",
        "TypeCode": 16384, "Email": "a@example.com", "BouncedAt": "2026-12-07T10:00:00Z"});
    let event = postmark::parse(challenge.to_string().as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(event.kind, EventKind::Autoresponded);
    assert_eq!(event.suppression(), email_webhooks::Suppression::Keep);
}
