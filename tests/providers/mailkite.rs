//! MailKite: the official SDK's known-answer signature, milliseconds, and
//! the secret used as written; tracking events read as what they say.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::mailkite::MailkiteVerifier;
use email_webhooks::{Configure as _, Secret};

use crate::common::at;

// From the official Node SDK's test (`mailkite/mailkite-node`
// `test/sdk.test.mjs`, v0.11.0): the secret, the body and the header it
// signs them with.
const SECRET: &str = "whsec_mailkite_test";
const BODY: &str = r#"{"type":"email.received","id":"evt_123","message":"It works."}"#;
const HEADER: &str =
    "t=1750000000000,v1=3d790f831e170ddba4d001f27532bf2c1fc68ebed52eef72fe453dfa1196b03c";

fn check(verifier: &MailkiteVerifier, header: &str, body: &str, now: i64) -> Result<usize, String> {
    let headers = [("x-mailkite-signature", header)];
    verifier
        .verify_at(&headers, body.as_bytes(), at(now))
        .map(|v| v.key_index())
        .map_err(|e| e.code().to_owned())
}

#[test]
fn the_sdk_vector_verifies_at_its_time_with_the_secret_as_written() {
    let verifier = MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap());
    assert_eq!(check(&verifier, HEADER, BODY, 1_750_000_000), Ok(0));
    assert_eq!(check(&verifier, HEADER, BODY, 1_750_000_000 + 299), Ok(0));
    assert_eq!(
        check(&verifier, HEADER, BODY, 1_750_000_000 + 301).unwrap_err(),
        "timestamp_too_old"
    );
    assert_eq!(
        check(&verifier, HEADER, BODY, 1_750_000_000 - 301).unwrap_err(),
        "timestamp_too_new"
    );
    let relaxed =
        MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap()).dangerous_disable_replay_check();
    assert_eq!(check(&relaxed, HEADER, BODY, 2_000_000_000), Ok(0));
    // The secret without its prefix is another key.
    let stripped = MailkiteVerifier::new(Secret::from_bytes("mailkite_test").unwrap());
    assert_eq!(
        check(&stripped, HEADER, BODY, 1_750_000_000).unwrap_err(),
        "invalid_signature"
    );
}

#[test]
fn the_header_grammar_is_strict_where_it_matters() {
    let verifier = MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap());
    let v1 = HEADER.split_once(',').unwrap().1;
    let now = 1_750_000_000;
    // Order, spaces and unknown parts do not matter.
    assert_eq!(
        check(
            &verifier,
            &format!("{v1}, x=y , t=1750000000000"),
            BODY,
            now
        ),
        Ok(0)
    );
    // Seconds instead of milliseconds sign other bytes.
    assert!(check(&verifier, &format!("t=1750000000,{v1}"), BODY, 1_750_000).is_err());
    for bad in ["", "t=1750000000000", v1, "t=abc,v1=00", "t=1,t=2,v1=00"] {
        assert!(check(&verifier, bad, BODY, now).is_err(), "{bad}");
    }
    // A signed time with a sign is malformed, as `t=abc` is (it was read
    // as a number and refused only by the signature).
    let malformed = check(&verifier, &format!("t=abc,{v1}"), BODY, now).unwrap_err();
    for signed in ["+1750000000000", "-1750000000000", " 1750000000000x"] {
        assert_eq!(
            check(&verifier, &format!("t={signed},{v1}"), BODY, now).unwrap_err(),
            malformed,
            "{signed}"
        );
    }
    let tampered = BODY.replace("works", "worked");
    assert_eq!(
        check(&verifier, HEADER, &tampered, now).unwrap_err(),
        "invalid_signature"
    );
}

fn tracking(kind: &str, data: &serde_json::Value) -> email_webhooks::EmailEvent {
    let mut body = serde_json::json!({"id": "evt_5Vp2", "type": kind, "createdAt": 1_765_000_000_123_i64,
        "data": {"messageId": "msg_1", "providerMessageId": null, "from": "shop@example.com",
            "to": "Jane@Example.com", "subject": "Your order"}});
    if let (Some(target), Some(extra)) = (body["data"].as_object_mut(), data.as_object()) {
        target.extend(extra.clone());
    }
    let mut events =
        email_webhooks::provider::mailkite::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

/// Every tracking event MailKite posts for mail it sends is read as what it
/// says, with its recipient, message, time and details; a bounce stops the
/// address unless MailKite calls it soft, a complaint stops it. The old
/// code read them all as unknown events, so no bounce or complaint ever
/// reached suppression.
#[test]
fn tracking_events_are_read() {
    use email_webhooks::{EventKind, RejectReason, StopReason, Suppression};
    let none = serde_json::json!({});
    for (kind, expected) in [
        ("email.sent", EventKind::Sent),
        ("email.delivered", EventKind::Delivered),
        ("email.opened", EventKind::Opened),
    ] {
        let event = tracking(kind, &none);
        assert_eq!(event.kind, expected, "{kind}");
        assert_eq!(event.event_id.as_deref(), Some("evt_5Vp2"), "{kind}");
        assert_eq!(event.message_id.as_deref(), Some("msg_1"), "{kind}");
        assert_eq!(
            event.recipient.as_deref(),
            Some("Jane@Example.com"),
            "{kind}"
        );
        assert_eq!(
            event.timestamp.unwrap().unix_timestamp_nanos(),
            1_765_000_000_123_000_000,
            "{kind}"
        );
    }
    let hard = tracking(
        "email.bounced",
        &serde_json::json!({"messageId": null, "bounce": {"type": "hard", "diagnostic": "550 5.1.1 unknown user"}}),
    );
    assert_eq!(hard.kind, EventKind::Bounced);
    assert_eq!(hard.message_id, None);
    assert_eq!(hard.recipient.as_deref(), Some("Jane@Example.com"));
    assert_eq!(hard.mta_response.as_deref(), Some("550 5.1.1 unknown user"));
    assert_eq!(
        hard.suppression(),
        Suppression::Stop(StopReason::HardBounce)
    );
    let soft = tracking(
        "email.bounced",
        &serde_json::json!({"bounce": {"type": "soft", "diagnostic": "452 4.2.2 mailbox full"}}),
    );
    assert_eq!(soft.suppression(), Suppression::SoftBounce);
    let complaint = tracking(
        "email.complained",
        &serde_json::json!({"complaint": {"feedbackType": "abuse"}}),
    );
    assert_eq!(complaint.reject_reason, Some(RejectReason::Spam));
    assert_eq!(complaint.description.as_deref(), Some("abuse"));
    assert_eq!(
        complaint.suppression(),
        Suppression::Stop(StopReason::Complaint)
    );
    let click = tracking(
        "email.clicked",
        &serde_json::json!({"click": {"url": "https://example.com/a", "userAgent": "Mozilla/5.0"}}),
    );
    assert_eq!(click.kind, EventKind::Clicked);
    assert_eq!(click.click_url.as_deref(), Some("https://example.com/a"));
    assert_eq!(click.user_agent.as_deref(), Some("Mozilla/5.0"));
    // A type MailKite adds later keeps its JSON and its id.
    let later = tracking("email.delayed", &none);
    assert_eq!(later.kind, EventKind::Unknown);
    assert_eq!(later.event_id.as_deref(), Some("evt_5Vp2"));
}

/// An odd field of a tracking event (a `messageId` that is no string, a
/// `data` that is no object) never costs the event its kind or its id; a
/// received message's `receivedAt` is its time on both routes.
#[test]
fn odd_tracking_fields_keep_the_event_and_received_mail_has_its_time() {
    use email_webhooks::EventKind;
    use email_webhooks::provider::mailkite;
    let event = tracking(
        "email.delivered",
        &serde_json::json!({"messageId": {"odd": 1}, "subject": ["x"]}),
    );
    assert_eq!(event.kind, EventKind::Delivered);
    assert_eq!(event.event_id.as_deref(), Some("evt_5Vp2"));
    assert_eq!(event.message_id, None);
    assert_eq!(event.recipient.as_deref(), Some("Jane@Example.com"));
    let no_data =
        br#"{"id": "evt_1", "type": "email.sent", "createdAt": 1765000000123, "data": 7}"#;
    let event = mailkite::parse(no_data).unwrap().remove(0);
    assert_eq!(
        (event.kind, event.event_id.as_deref()),
        (EventKind::Sent, Some("evt_1"))
    );
    let received = br#"{"id": "msg_1", "type": "email.received", "receivedAt": 1765000000123,
        "from": {"address": "a@example.net"}, "to": [{"address": "b@example.com"}], "data": 7}"#;
    let event = mailkite::parse(received).unwrap().remove(0);
    assert_eq!(event.kind, EventKind::Inbound);
    assert_eq!(event.timestamp.unwrap().unix_timestamp(), 1_765_000_000);
    let message =
        mailkite::parse_inbound(received, &email_webhooks::InboundLimits::default()).unwrap();
    assert_eq!(message.timestamp.unwrap().unix_timestamp(), 1_765_000_000);
}

/// An email to several recipients does not say which of them a tracking
/// event is about: no recipient, so a bounce stops no address by guess. A
/// list of one is that one. The old code took the first of the list.
#[test]
fn a_list_of_recipients_names_one_only_when_it_holds_one() {
    let bounced = |to: serde_json::Value| {
        tracking(
            "email.bounced",
            &serde_json::json!({"to": to, "bounceType": "hard"}),
        )
    };
    assert_eq!(
        bounced(serde_json::json!(["a@example.com", "b@example.com"])).recipient,
        None
    );
    assert_eq!(
        bounced(serde_json::json!([{"address": "a@example.com"}]))
            .recipient
            .as_deref(),
        Some("a@example.com")
    );
}
