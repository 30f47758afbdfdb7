//! Mailjet: derived keys that tell every pair of events apart, and the
//! sender's `Payload` as metadata.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::mailjet;
use serde_json::{Value, json};

fn key(event: &Value) -> String {
    mailjet::parse(event.to_string().as_bytes()).unwrap()[0].idempotency_key()
}

/// Each field that can tell two Mailjet events apart changes the key: an
/// open from another client in the same second, a hard bounce after a soft
/// one with the same error, an unsubscription from another list.
#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    let base = json!({"event": "bounce", "time": 1_765_000_000, "MessageID": 19_421_777_835_146_490_u64,
        "Message_GUID": "g-1", "email": "a@example.com", "url": "https://example.com/",
        "ip": "192.0.2.1", "agent": "UA 1", "hard_bounce": false, "blocked": false,
        "error_related_to": "recipient", "error": "user unknown", "source": "JMRPP", "mj_list_id": 1,
        "comment": "mailbox full"});
    let original = key(&base);
    let changes: [(&str, Value); 15] = [
        ("source", json!("other")),
        ("comment", json!("mailbox over quota")),
        ("event", json!("open")),
        ("time", json!(1_765_000_001)),
        ("MessageID", json!(19_421_777_835_146_491_u64)),
        ("Message_GUID", json!("g-2")),
        ("email", json!("b@example.com")),
        ("url", json!("https://example.com/b")),
        ("ip", json!("192.0.2.2")),
        ("agent", json!("UA 2")),
        ("hard_bounce", json!(true)),
        ("blocked", json!(true)),
        ("error_related_to", json!("domain")),
        ("error", json!("mailbox inactive")),
        ("mj_list_id", json!(2)),
    ];
    for (field, value) in changes {
        let mut variant = base.clone();
        variant[field] = value;
        assert_ne!(key(&variant), original, "{field}");
    }
    // Redelivered in a group with another event: the same key.
    let grouped = mailjet::parse(
        json!([base, {"event": "sent", "time": 1}])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(grouped[0].idempotency_key(), original);
    // With `MessageID`, the string id changes nothing: keys stay as they were.
    let mut with_string_id = base.clone();
    with_string_id["mj_message_id"] = json!("19421777835146490");
    assert_eq!(key(&with_string_id), original);
}

/// Events that carry only `mj_message_id` (no `MessageID`): it is their
/// message id and tells two messages' events in the same second apart. The
/// old code gave two such `sent` events one key, and the second was
/// acknowledged as a duplicate and never handled.
#[test]
fn the_string_message_id_tells_events_apart_without_message_id() {
    let sent = |id: &str| {
        json!({"event": "sent", "time": 1_424_873_938, "email": "a@example.com",
            "mj_campaign_id": 1, "mj_contact_id": 2, "customcampaign": "",
            "mj_message_id": id, "smtp_reply": "sent (250 2.0.0 OK)"})
    };
    let events = mailjet::parse(
        json!([sent("19421777835146490"), sent("19421777835146491")])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_ne!(events[0].idempotency_key(), events[1].idempotency_key());
    assert_eq!(events[0].message_id.as_deref(), Some("19421777835146490"));
}

#[test]
fn a_json_payload_becomes_the_metadata_and_other_text_stays_a_string() {
    let metadata = |payload: &str| {
        let event = json!({"event": "open", "time": 1, "email": "a@example.com", "CustomID": "c-1", "Payload": payload});
        Value::Object(
            mailjet::parse(event.to_string().as_bytes()).unwrap()[0]
                .metadata
                .clone(),
        )
    };
    assert_eq!(
        metadata(r#"{"cart":17,"tier":"gold"}"#),
        json!({"CustomID": "c-1", "cart": 17, "tier": "gold"})
    );
    assert_eq!(
        metadata("plain text"),
        json!({"CustomID": "c-1", "Payload": "plain text"})
    );
    assert_eq!(
        metadata("[1,2]"),
        json!({"CustomID": "c-1", "Payload": "[1,2]"})
    );
    // The sender's CustomID is kept when the payload has a field of that name.
    assert_eq!(
        metadata(r#"{"CustomID":"other"}"#),
        json!({"CustomID": "c-1"})
    );
}

/// The credentials verifiers' own `verify` holds the body to the limit
/// before the credentials, as the signed providers' does (the route always
/// did; a direct call did not).
#[test]
fn verify_refuses_a_body_over_the_limit_before_the_credentials() {
    use email_webhooks::{BasicAuth, Configure as _, Limits, VerifyError};
    let verifier = mailjet::MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap())
        .with_limits(Limits::default().with_max_body_bytes(8));
    let headers = [("Authorization", "Basic bWo6cHc=")];
    assert!(verifier.verify(&headers, b"[]").is_ok());
    let error = verifier
        .verify(&headers, b"[{\"event\":\"open\"}]")
        .unwrap_err();
    assert!(
        matches!(error, VerifyError::BodyTooLarge { .. }),
        "{error:?}"
    );
    let error = verifier
        .verify(&[("Authorization", "Basic eDp5")], &[b' '; 9])
        .unwrap_err();
    assert!(
        matches!(error, VerifyError::BodyTooLarge { .. }),
        "{error:?}"
    );
}
