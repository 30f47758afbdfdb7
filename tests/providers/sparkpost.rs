//! SparkPost: the creation ping, credentials of either kind (and tokens
//! you issued), numbers as strings, and the batch bound.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::sparkpost::{self, SparkpostVerifier};
use email_webhooks::provider::{Control, EmailProvider as _, Received};
use email_webhooks::scheme::bearer::BearerToken;
use email_webhooks::scheme::credentials::{Credentials, IssuedTokens};
use email_webhooks::{BasicAuth, Configure as _, Error, EventKind, Limits, Request, Secret};
use futures_util::FutureExt as _;
use serde_json::json;

fn receive(
    verifier: &SparkpostVerifier,
    authorization: &str,
    body: &str,
) -> Result<Received, Error> {
    let headers = [
        ("Authorization", authorization),
        ("Content-Type", "application/json"),
    ];
    verifier
        .receive(&Request::new(&headers, body.as_bytes()))
        .now_or_never()
        .unwrap()
}

const BASIC: &str = "Basic aG9vazpwYXNz"; // hook:pass

fn event(id: &str) -> serde_json::Value {
    json!({"msys": {"message_event": {"type": "delivery", "event_id": id, "timestamp": "1765000000",
        "rcpt_to": "a@example.com"}}})
}

#[test]
fn the_creation_ping_is_a_ping_with_no_event() {
    let verifier = SparkpostVerifier::new(BasicAuth::new("hook", "pass").unwrap());
    let received = receive(&verifier, BASIC, r#"[{"msys":{}}]"#).unwrap();
    assert!(received.events.is_empty());
    assert_eq!(received.control, Some(Control::Ping));
    // A ping beside an event: the event, no ping.
    let mixed = json!([{"msys": {}}, event("1")]).to_string();
    let received = receive(&verifier, BASIC, &mixed).unwrap();
    assert_eq!(received.events.len(), 1);
    assert_eq!(received.control, None);
    // Even the ping needs the credentials.
    assert_eq!(
        receive(&verifier, "Basic d3Jvbmc6d3Jvbmc=", r#"[{"msys":{}}]"#)
            .unwrap_err()
            .code(),
        "unauthorized"
    );
}

#[derive(Debug)]
struct Issued;

impl IssuedTokens for Issued {
    fn accepts(&self, token: &str) -> bool {
        token == "issued-by-my-token-endpoint"
    }
}

#[test]
fn bearer_tokens_static_or_issued_and_nothing_else() {
    let body = json!([event("1")]).to_string();
    let fixed = SparkpostVerifier::new(BearerToken::new(&Secret::from_bytes("t0ken").unwrap()));
    assert!(receive(&fixed, "Bearer t0ken", &body).is_ok());
    assert!(receive(&fixed, "Bearer other", &body).is_err());
    assert!(receive(&fixed, BASIC, &body).is_err());

    let issued = SparkpostVerifier::new(Credentials::Issued(Box::new(Issued)));
    assert!(receive(&issued, "Bearer issued-by-my-token-endpoint", &body).is_ok());
    for wrong in [
        "Bearer t0ken",
        "Basic aXNzdWVkOng=",
        "issued-by-my-token-endpoint",
        "",
    ] {
        let err = receive(&issued, wrong, &body).unwrap_err();
        assert_eq!(err.code(), "unauthorized", "{wrong}");
    }
}

#[test]
fn numbers_are_read_as_strings_or_numbers() {
    let body = json!([{"msys": {"message_event": {"type": "bounce", "event_id": 92_356_927_693_813_856_u64,
        "timestamp": 1_765_000_000, "bounce_class": 10, "error_code": 550, "rcpt_to": "a@example.com"}}}]);
    let events = sparkpost::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(events[0].event_id.as_deref(), Some("92356927693813856"));
    assert_eq!(events[0].kind, EventKind::Bounced);
    assert!(!events[0].soft_bounce);
    assert_eq!(events[0].timestamp.unwrap().unix_timestamp(), 1_765_000_000);
}

#[test]
fn a_batch_over_the_limit_is_refused_and_bad_elements_keep_their_neighbours() {
    let verifier = SparkpostVerifier::new(BasicAuth::new("hook", "pass").unwrap())
        .with_limits(Limits::default().with_max_events_per_delivery(3));
    let batch =
        |n: usize| json!((0..n).map(|i| event(&i.to_string())).collect::<Vec<_>>()).to_string();
    assert_eq!(
        receive(&verifier, BASIC, &batch(3)).unwrap().events.len(),
        3
    );
    assert_eq!(
        receive(&verifier, BASIC, &batch(4)).unwrap_err().code(),
        "invalid_payload"
    );

    let events = sparkpost::parse(
        json!([event("1"), 5, {"msys": "x"}, event("2")])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Delivered,
            EventKind::Unknown,
            EventKind::Unknown,
            EventKind::Delivered
        ]
    );
}

/// An element holding many classes is not SparkPost's (one event per
/// element): one unknown event, never one per class past the count limit.
#[test]
fn an_element_with_many_classes_is_one_unknown_event() {
    let classes: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| {
            (
                format!("c{i}"),
                json!({"type": "delivery", "event_id": i.to_string()}),
            )
        })
        .collect();
    let body = json!([{"msys": classes}]).to_string();
    let events = sparkpost::parse(body.as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Unknown);
}

/// A spam block by the receiving side is a block, and a bounce of it soft:
/// never the recipient's complaint.
#[test]
fn spam_blocks_are_blocks_not_complaints() {
    use email_webhooks::{RejectReason, Suppression};
    for (kind, class) in [
        ("bounce", "51"),
        ("policy_rejection", "52"),
        ("out_of_band", "50"),
    ] {
        let body = json!([{"msys": {"message_event": {"type": kind, "event_id": "1", "bounce_class": class,
            "rcpt_to": "a@example.com"}}}]);
        let event = &sparkpost::parse(body.to_string().as_bytes()).unwrap()[0];
        assert_eq!(event.reject_reason, Some(RejectReason::Blocked), "{kind}");
        assert_ne!(
            event.suppression(),
            Suppression::Stop(email_webhooks::StopReason::Complaint),
            "{kind}"
        );
    }
}

/// SparkPost's bounce classes 60, 80, 90 and 100 are a live mailbox's
/// reply, not a failure of delivery: a vacation reply never counts as a
/// soft bounce, a subscribe request (a message back, not a new opt-in)
/// never stops the address, and an unsubscribe request stops it as an
/// unsubscribe. Every other class stays a bounce, stopping the address
/// only where SparkPost calls it hard or admin. The old code counted 60 and 100 as soft bounces and stopped the
/// address on 80 and 90 as hard bounces.
#[test]
fn replies_from_live_mailboxes_are_not_bounces() {
    use email_webhooks::{StopReason, Suppression};
    let read = |kind: &str, class: &str| {
        let body = json!([{"msys": {"message_event": {"type": kind, "event_id": "1", "bounce_class": class,
            "rcpt_to": "a@example.com"}}}]);
        sparkpost::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    for kind in ["bounce", "out_of_band"] {
        for (class, expected, suppression) in [
            ("60", EventKind::Autoresponded, Suppression::Keep),
            ("100", EventKind::Autoresponded, Suppression::Keep),
            ("80", EventKind::Autoresponded, Suppression::Keep),
            (
                "90",
                EventKind::Unsubscribed,
                Suppression::Stop(StopReason::Unsubscribe),
            ),
        ] {
            let event = read(kind, class);
            assert_eq!(event.kind, expected, "{kind} {class}");
            assert_eq!(event.suppression(), suppression, "{kind} {class}");
        }
        for (class, suppression) in [
            ("10", Suppression::Stop(StopReason::Invalid)),
            ("25", Suppression::Stop(StopReason::HardBounce)),
            ("30", Suppression::Stop(StopReason::HardBounce)),
            ("1", Suppression::SoftBounce),
            ("20", Suppression::SoftBounce),
            ("24", Suppression::SoftBounce),
            ("40", Suppression::SoftBounce),
            ("50", Suppression::SoftBounce),
            ("70", Suppression::SoftBounce),
        ] {
            let event = read(kind, class);
            assert_eq!(event.kind, EventKind::Bounced, "{kind} {class}");
            assert_eq!(event.suppression(), suppression, "{kind} {class}");
        }
    }
}

/// Only an element with an empty `msys` is the creation ping: an element
/// without `msys` (another shape) is kept as an unknown event, never
/// acknowledged as a ping with nothing kept.
#[test]
fn an_element_without_msys_is_kept_not_taken_for_the_ping() {
    let ping = sparkpost::parse(br#"[{"msys":{}}]"#).unwrap();
    assert!(ping.is_empty());
    for body in [
        r#"[{"msys2":{"message_event":{"type":"bounce"}}}]"#,
        "[{}]",
        r#"[{"msys":null}]"#,
    ] {
        let events = sparkpost::parse(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1, "{body}");
        assert_eq!(events[0].kind, EventKind::Unknown, "{body}");
    }
}

/// A feedback report whose `fbtype` is `not-spam` corrects an earlier
/// complaint: the address is kept (as for SES). The old code stopped it.
#[test]
fn a_not_spam_report_keeps_the_address() {
    use email_webhooks::{StopReason, Suppression};
    let complaint = |fbtype: &str| {
        let body = json!([{"msys": {"message_event": {"type": "spam_complaint", "event_id": fbtype,
            "fbtype": fbtype, "rcpt_to": "a@example.com"}}}]);
        sparkpost::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    assert_eq!(complaint("not-spam").suppression(), Suppression::Keep);
    assert_eq!(
        complaint("abuse").suppression(),
        Suppression::Stop(StopReason::Complaint)
    );
}

/// A bounce class that is a live mailbox's reply (60, 80, 100) is an
/// autoresponse with the reject reason `other`, as django-anymail reads it
/// (it had none).
#[test]
fn replies_have_the_reason_other() {
    for class in ["60", "80", "100"] {
        let body = json!([{"msys": {"message_event": {"type": "bounce", "event_id": class,
            "bounce_class": class, "raw_rcpt_to": "vacationing@example.com"}}}]);
        let event = sparkpost::parse(body.to_string().as_bytes())
            .unwrap()
            .remove(0);
        assert_eq!(
            event.kind,
            email_webhooks::EventKind::Autoresponded,
            "{class}"
        );
        assert_eq!(
            event.reject_reason,
            Some(email_webhooks::RejectReason::Other),
            "{class}"
        );
    }
}
