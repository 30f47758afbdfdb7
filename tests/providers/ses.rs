//! Amazon SES through SNS: the shared SNS vectors at their own time, the
//! certificate-URL rules, the negative cases, and every SES sample inside an
//! envelope signed with a test certificate.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use crate::common::{Sample, Vector, at, unix};
use email_webhooks::Configure as _;
use email_webhooks::provider::ses::{self, SesOutcome, SesVerifier};
use email_webhooks::provider::sns::{
    CertificateSource, SigningCertUrl, SnsMessage, SnsSigner, SnsVerifier, StaticCertificates,
};
use email_webhooks::{EmailEvent, EventKind, RejectReason, VerifyError};
use serde_json::json;
use time::OffsetDateTime;

/// Runs a future that never waits (the certificate sources here answer at
/// once).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the test future waited"),
    }
}

fn sns_vector(name: &str) -> (Vector, SnsVerifier<StaticCertificates>, OffsetDateTime) {
    let v = Vector::load_provider(name);
    let body: serde_json::Value = serde_json::from_str(&v.body).unwrap();
    let url = body["SigningCertURL"].as_str().unwrap();
    let topic = body["TopicArn"].as_str().unwrap();
    let verifier = SnsVerifier::new(
        StaticCertificates::new().with(url, v.secret.clone()),
        [topic],
    );
    let signed_at = at(unix(body["Timestamp"].as_str().unwrap()));
    (v, verifier, signed_at)
}

#[test]
fn vector_1_sha1_verifies_at_its_own_time() {
    let (v, verifier, now) = sns_vector("amazon-sns-1.json");
    let message =
        block_on(verifier.verify_at(&v.header_pairs(), v.body.as_bytes(), now)).expect(&v.source);
    let SnsMessage::Notification(envelope) = message else {
        panic!("not a notification")
    };
    assert_eq!(envelope.message, "Hello world");
    assert_eq!(envelope.message_id, "792cda85-518f-5dd3-9163-81d851212f3a");
}

#[test]
fn vector_2_sha256_verifies_at_its_own_time() {
    let (v, verifier, now) = sns_vector("amazon-sns-2.json");
    assert!(
        block_on(verifier.verify_at(&v.header_pairs(), v.body.as_bytes(), now)).is_ok(),
        "{}",
        v.source
    );
}

#[test]
fn the_vector_certificate_has_expired_today() {
    let (v, verifier, _) = sns_vector("amazon-sns-1.json");
    // Past the replay window too; without the window the certificate's own
    // validity refuses it.
    let verifier = verifier.dangerous_disable_replay_check();
    let now = OffsetDateTime::now_utc();
    let e = block_on(verifier.verify_at(&v.header_pairs(), v.body.as_bytes(), now)).unwrap_err();
    assert_eq!(e.code(), "invalid_certificate");
}

#[test]
fn tampered_fields_are_rejected() {
    let (v, verifier, now) = sns_vector("amazon-sns-1.json");
    for (from, to) in [
        ("Hello world", "Hello w0rld"),
        ("2022-07-28T21:23:58.317Z", "2022-07-28T21:23:59.317Z"),
        (
            "\"Type\" : \"Notification\",",
            "\"Type\" : \"Notification\", \"Subject\": \"x\",",
        ),
    ] {
        let body = v.body.replace(from, to);
        let e = block_on(verifier.verify_at(&[("x", "y")], body.as_bytes(), now)).unwrap_err();
        assert_eq!(e.code(), "invalid_signature", "{from}");
    }
}

#[test]
fn untrusted_certificate_urls_are_refused_before_any_fetch() {
    let (v, verifier, now) = sns_vector("amazon-sns-1.json");
    let good = "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem";
    for bad in [
        "http://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem",
        "https://evil.example/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem",
        "https://sns.us-east-2.amazonaws.com.evil.example/SimpleNotificationService.pem",
        "https://sns.us-east-2.amazonaws.com@evil.example/SimpleNotificationService.pem",
        "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.txt",
        "https://sns.us-east-2.amazonaws.com/SimpleNotificationService.pem?x=.pem",
    ] {
        let body = v.body.replace(good, bad);
        // The static source would answer `invalid_certificate` for an
        // unknown URL; the URL check answers first.
        let e = block_on(verifier.verify_at(&[("x", "y")], body.as_bytes(), now)).unwrap_err();
        assert_eq!(e, VerifyError::UntrustedCertificateUrl, "{bad}");
    }
}

#[test]
fn envelope_and_header_problems() {
    let (v, verifier, now) = sns_vector("amazon-sns-1.json");
    let check = |headers: &[(&str, &str)], body: &str| {
        block_on(verifier.verify_at(headers, body.as_bytes(), now))
            .unwrap_err()
            .code()
    };
    assert_eq!(
        check(
            &[("x-amz-sns-message-type", "SubscriptionConfirmation")],
            &v.body
        ),
        "malformed_header"
    );
    assert_eq!(
        check(&[("x-amz-sns-rawdelivery", "true")], &v.body),
        "unsupported_scheme"
    );
    assert_eq!(check(&[], r#"{"hello":"raw delivery"}"#), "invalid_payload");
    assert_eq!(
        check(
            &[],
            &v.body.replace(
                "\"SignatureVersion\" : \"1\"",
                "\"SignatureVersion\" : \"3\""
            )
        ),
        "unsupported_scheme"
    );
    let unsigned: String = v
        .body
        .lines()
        .filter(|l| !l.contains("\"Signature\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(check(&[], &unsigned), "unsupported_scheme");
    assert_eq!(check(&[], "not json"), "invalid_payload");
}

#[test]
fn lambda_style_key_spelling_is_accepted() {
    let (v, verifier, now) = sns_vector("amazon-sns-2.json");
    let body = v
        .body
        .replace("\"SigningCertURL\"", "\"SigningCertUrl\"")
        .replace("\"UnsubscribeURL\"", "\"UnsubscribeUrl\"");
    assert!(block_on(verifier.verify_at(&v.header_pairs(), body.as_bytes(), now)).is_ok());
}

// --- Envelopes signed with the test certificate ---

const TEST_CERT: &str = include_str!("../data/sns-test-cert.pem");
const TEST_KEY: &[u8] = include_bytes!("../data/sns-test-key.pk8");
const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-events";
/// When the test envelopes are published (the test certificate is valid
/// from 2026-11-24), and the receiver's clock a minute later.
const SIGNED_AT: &str = "2026-12-01T07:08:09Z";

fn now() -> OffsetDateTime {
    at(unix(SIGNED_AT) + 60)
}

fn sign(envelope: &mut serde_json::Value) {
    let url = SigningCertUrl::parse(CERT_URL).unwrap();
    let signer = SnsSigner::from_pkcs8(TEST_KEY, url).unwrap();
    *envelope = serde_json::from_slice(&signer.sign(envelope.clone()).unwrap()).unwrap();
}

fn notification(message: &str) -> String {
    let mut envelope = json!({
        "Type": "Notification",
        "MessageId": "11111111-2222-3333-4444-555555555555",
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": SIGNED_AT,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    });
    sign(&mut envelope);
    envelope.to_string()
}

struct Counting(AtomicUsize);

impl CertificateSource for Counting {
    fn fetch(
        &self,
        url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        self.0.fetch_add(1, Ordering::SeqCst);
        assert_eq!(url.as_str(), CERT_URL);
        std::future::ready(Ok(TEST_CERT.as_bytes().to_vec()))
    }
}

fn ses_verifier() -> SesVerifier<StaticCertificates> {
    SesVerifier::new(SnsVerifier::new(
        StaticCertificates::new().with(CERT_URL, TEST_CERT),
        [TOPIC],
    ))
}

fn ses_events(sample: &str) -> Vec<EmailEvent> {
    let sample = Sample::load(sample);
    assert!(sample.esp.contains("ses"), "{}", sample.source);
    let body = notification(&sample.body);
    let headers = [("x-amz-sns-message-type", "Notification")];
    match block_on(ses_verifier().verify_and_parse_at(&headers, body.as_bytes(), now())).unwrap() {
        SesOutcome::Events(events) => {
            for e in &events {
                assert_eq!(
                    e.event_id.as_deref(),
                    Some("11111111-2222-3333-4444-555555555555")
                );
                assert_eq!(
                    e.timestamp.map(OffsetDateTime::unix_timestamp),
                    Some(unix(SIGNED_AT))
                );
                assert_eq!(e.raw.get(), sample.body.trim());
            }
            events
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_certificate_is_fetched_once() {
    let source = Counting(AtomicUsize::new(0));
    let verifier = SnsVerifier::new(source, [TOPIC]);
    let body = notification("{}");
    for _ in 0..3 {
        assert!(block_on(verifier.verify_at(&[("a", "b")], body.as_bytes(), now())).is_ok());
    }
}

#[test]
fn event_bounce_sample() {
    let events = ses_events("amazon-ses-event-bounce.json");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Bounced))
    );
    assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
    assert_eq!(e.description.as_deref(), Some("Permanent: General"));
    assert_eq!(
        e.mta_response.as_deref(),
        Some("smtp; 550 5.1.1 user unknown")
    );
    assert_eq!(
        e.message_id.as_deref(),
        Some("EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000")
    );
    assert_eq!(
        e.idempotency_key(),
        "ses:11111111-2222-3333-4444-555555555555:recipient@example.com"
    );
}

#[test]
fn notification_bounce_sample() {
    let events = ses_events("amazon-ses-notification-bounce.json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Bounced);
    assert_eq!(events[0].recipient.as_deref(), Some("jane@example.com"));
}

#[test]
fn click_sample() {
    let events = ses_events("amazon-ses-event-click.json");
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e.kind, EventKind::Clicked);
        assert!(e.click_url.is_some());
        assert!(e.user_agent.is_some());
    }
}

#[test]
fn delivery_sample() {
    let events = ses_events("amazon-ses-event-delivery.json");
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e.kind, EventKind::Delivered);
        assert!(e.mta_response.is_some());
    }
}

#[test]
fn delivery_delay_sample() {
    let events = ses_events("amazon-ses-event-delivery-delay.json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Deferred);
    assert_eq!(
        events[0].mta_response.as_deref(),
        Some("smtp; 421 4.4.1 Unable to connect to remote host")
    );
    assert_eq!(
        events[0].description.as_deref(),
        Some("TransientCommunicationFailure")
    );
    assert_eq!(events[0].metadata["ses:configuration-set"][0], "ConfigSet");
}

#[test]
fn rendering_failure_sample() {
    let events = ses_events("amazon-ses-event-rendering-failure.json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Failed);
    assert_eq!(
        events[0].description.as_deref(),
        Some("Attribute 'attributeName' is not present in the rendering data.")
    );
}

#[test]
fn fan_out_keys_are_distinct_per_recipient() {
    let message = json!({
        "eventType": "Send",
        "mail": {"messageId": "m1", "destination": ["a@x.y", "b@x.y"]},
        "send": {}
    });
    let body = notification(&message.to_string());
    let SesOutcome::Events(events) =
        block_on(ses_verifier().verify_and_parse_at(&[("a", "b")], body.as_bytes(), now()))
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, EventKind::Sent);
    assert_ne!(events[0].idempotency_key(), events[1].idempotency_key());
    // The same events from the unverified parser.
    assert_eq!(ses::parse(body.as_bytes()).unwrap().len(), 2);
}

#[test]
fn subscription_confirmation_is_returned_not_confirmed() {
    let mut envelope = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "tok",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe...",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=tok",
        "Timestamp": SIGNED_AT,
    });
    sign(&mut envelope);
    let body = envelope.to_string();
    let outcome = block_on(ses_verifier().verify_and_parse_at(
        &[("x-amz-sns-message-type", "SubscriptionConfirmation")],
        body.as_bytes(),
        now(),
    ))
    .unwrap();
    let SesOutcome::SubscriptionConfirmation {
        topic_arn,
        subscribe_url,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(topic_arn, TOPIC);
    assert!(
        subscribe_url
            .as_str()
            .starts_with("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")
    );

    envelope["SubscribeURL"] = json!("https://evil.example/?Action=ConfirmSubscription");
    sign(&mut envelope);
    let e = block_on(ses_verifier().verify_and_parse_at(
        &[("a", "b")],
        envelope.to_string().as_bytes(),
        now(),
    ))
    .unwrap_err();
    assert_eq!(e.code(), "invalid_payload");
}

#[test]
fn a_message_that_is_not_ses_json_is_a_parse_error_after_verification() {
    let body = notification("Hello world");
    let e = block_on(ses_verifier().verify_and_parse_at(&[("a", "b")], body.as_bytes(), now()))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_payload");
}

#[test]
fn the_signer_refuses_what_is_not_an_envelope_and_redacts_its_key() {
    let url = SigningCertUrl::parse(CERT_URL).unwrap();
    let signer = SnsSigner::from_pkcs8(TEST_KEY, url).unwrap();
    for fields in [
        json!([]),
        json!({"Type": "Notification"}),
        json!({
        "Type": "Gossip", "MessageId": "m", "TopicArn": TOPIC, "Message": "x",
        "Timestamp": SIGNED_AT}),
    ] {
        assert_eq!(signer.sign(fields).unwrap_err().code(), "invalid_payload");
    }
    assert_eq!(
        SnsSigner::from_pkcs8(b"not a key", SigningCertUrl::parse(CERT_URL).unwrap())
            .unwrap_err()
            .to_string(),
        "the key was refused: RSA private key"
    );
    assert!(!format!("{signer:?}").contains("MII"));
}

/// Amazon SNS drops a delivery answered 4xx (it retries only 5xx), so what
/// other providers get as 429 (rate limited) SES gets as 503; refusals stay
/// 4xx and acceptance 200.
#[test]
fn a_rate_limited_ses_delivery_is_answered_503_so_sns_retries() {
    use email_webhooks::provider::{Answer, EmailProvider as _, Reply};
    use http::StatusCode;
    let ses = ses_verifier();
    let limited = ses.reply(Answer::RetryLater(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(limited.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        Reply::standard(Answer::RetryLater(StatusCode::TOO_MANY_REQUESTS)).status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(ses.reply(Answer::Accepted).status, StatusCode::OK);
    assert_eq!(
        ses.reply(Answer::RetryLater(StatusCode::INTERNAL_SERVER_ERROR))
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

/// A complaint keeps the user agent of the feedback report (the ISP's
/// feedback loop), as SES's complaint object carries it.
#[test]
fn a_complaint_keeps_the_feedback_reports_user_agent() {
    let message = serde_json::json!({"notificationType": "Complaint",
        "mail": {"messageId": "m-1", "timestamp": "2025-12-06T10:00:00.000Z", "source": "s@example.com",
                 "destination": ["a@example.com"]},
        "complaint": {"complainedRecipients": [{"emailAddress": "a@example.com"}],
                      "timestamp": "2025-12-06T10:05:00.000Z", "feedbackId": "f-1",
                      "userAgent": "Comcast Feedback Loop (V0.01)", "complaintFeedbackType": "abuse"}});
    let envelope = serde_json::json!({"Type": "Notification", "MessageId": "n-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": message.to_string(),
        "Timestamp": "2025-12-06T10:05:01.000Z", "SignatureVersion": "1", "Signature": "x",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem"});
    let events = email_webhooks::provider::ses::parse(envelope.to_string().as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Complained);
    assert_eq!(
        events[0].user_agent.as_deref(),
        Some("Comcast Feedback Loop (V0.01)")
    );
    assert_eq!(events[0].description.as_deref(), Some("abuse"));
}

fn ses_message(message: &serde_json::Value) -> Vec<EmailEvent> {
    let body = notification(&message.to_string());
    let headers = [("x-amz-sns-message-type", "Notification")];
    match block_on(ses_verifier().verify_and_parse_at(&headers, body.as_bytes(), now())).unwrap() {
        SesOutcome::Events(events) => events,
        other => panic!("{other:?}"),
    }
}

/// Only a `Permanent` bounce stops the address (what SES's own suppression
/// list adds); `Transient` and `Undetermined` count as soft bounces. A
/// `not-spam` feedback report corrects an earlier complaint and keeps the
/// address. The old code stopped the address on `Undetermined` bounces and
/// on every complaint.
#[test]
fn permanent_bounces_and_spam_reports_alone_stop_the_address() {
    use email_webhooks::{StopReason, Suppression};
    let mail = json!({"messageId": "m1", "destination": ["a@example.com"]});
    let bounce = |kind: &str| {
        ses_message(&json!({"eventType": "Bounce", "mail": mail,
            "bounce": {"bounceType": kind, "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "a@example.com"}]}}))
        .remove(0)
        .suppression()
    };
    assert_eq!(
        bounce("Permanent"),
        Suppression::Stop(StopReason::HardBounce)
    );
    assert_eq!(bounce("Transient"), Suppression::SoftBounce);
    assert_eq!(bounce("Undetermined"), Suppression::SoftBounce);
    let complaint = |feedback: &str| {
        ses_message(&json!({"eventType": "Complaint", "mail": mail,
            "complaint": {"complaintFeedbackType": feedback,
                "complainedRecipients": [{"emailAddress": "a@example.com"}]}}))
        .remove(0)
    };
    let abuse = complaint("abuse");
    assert_eq!(
        abuse.suppression(),
        Suppression::Stop(StopReason::Complaint)
    );
    let not_spam = complaint("not-spam");
    assert_eq!(not_spam.kind, EventKind::Complained);
    assert_eq!(not_spam.reject_reason, Some(RejectReason::Other));
    assert_eq!(not_spam.suppression(), Suppression::Keep);
}

/// SES list management's `Subscription` event (the recipient used the
/// one-click unsubscribe header or the preference page): leaving the list
/// or a topic is an unsubscribe that stops the address, opting back in a
/// subscription. Fields as in the SES developer guide's "Contents of event
/// data" (`subscription`: `contactList`, `source`, `newTopicPreferences`,
/// `oldTopicPreferences`). It was an unknown event, and the address kept
/// being mailed.
#[test]
fn subscription_events_are_unsubscribes_or_subscriptions() {
    use email_webhooks::{StopReason, Suppression};
    let event = |destination: serde_json::Value, new: serde_json::Value, old: serde_json::Value| {
        ses_message(&json!({"eventType": "Subscription",
            "mail": {"messageId": "m1", "destination": destination},
            "subscription": {"contactList": "Newsletter", "timestamp": "2026-12-01T07:08:09Z",
                "source": "UnsubscribeHeader",
                "newTopicPreferences": new, "oldTopicPreferences": old}}))
    };
    let one = json!(["a@example.com"]);
    let topics = |status: &str| {
        json!({"unsubscribeAll": false, "topicSubscriptionStatus": [
            {"topicName": "Offers", "subscriptionStatus": status},
            {"topicName": "News", "subscriptionStatus": "OptIn"}]})
    };
    let all = event(
        one.clone(),
        json!({"unsubscribeAll": true}),
        topics("OptIn"),
    )
    .remove(0);
    assert_eq!(all.kind, EventKind::Unsubscribed);
    assert_eq!(all.reject_reason, Some(RejectReason::Unsubscribed));
    assert_eq!(all.recipient.as_deref(), Some("a@example.com"));
    assert_eq!(
        all.suppression(),
        Suppression::Stop(StopReason::Unsubscribe)
    );
    assert_eq!(
        all.description.as_deref(),
        Some("unsubscribed from all of Newsletter")
    );
    let topic = event(one.clone(), topics("OptOut"), topics("OptIn")).remove(0);
    assert_eq!(topic.kind, EventKind::Unsubscribed);
    assert_eq!(
        topic.description.as_deref(),
        Some("opted out of Offers in Newsletter")
    );
    let back = event(one.clone(), topics("OptIn"), topics("OptOut")).remove(0);
    assert_eq!(back.kind, EventKind::Subscribed);
    assert_eq!(back.suppression(), Suppression::Keep);
    // Opting in to one topic while another stays opted out is no
    // unsubscribe.
    let other_out = json!({"unsubscribeAll": false, "topicSubscriptionStatus": [
        {"topicName": "Offers", "subscriptionStatus": "OptOut"},
        {"topicName": "News", "subscriptionStatus": "OptIn"}]});
    let was = json!({"unsubscribeAll": false, "topicSubscriptionStatus": [
        {"topicName": "Offers", "subscriptionStatus": "OptOut"},
        {"topicName": "News", "subscriptionStatus": "OptOut"}]});
    assert_eq!(
        event(one, other_out, was).remove(0).kind,
        EventKind::Subscribed
    );
    // With several destinations the event does not say whose change it is:
    // one event, no recipient, no address stopped.
    let many = event(
        json!(["a@example.com", "b@example.com"]),
        json!({"unsubscribeAll": true}),
        json!({}),
    );
    assert_eq!(many.len(), 1);
    assert_eq!(many[0].recipient, None);
    // Still off the whole list while opting in to a topic: no
    // subscription.
    let still_out = json!({"unsubscribeAll": true, "topicSubscriptionStatus": [
        {"topicName": "News", "subscriptionStatus": "OptIn"}]});
    let was = json!({"unsubscribeAll": true, "topicSubscriptionStatus": [
        {"topicName": "News", "subscriptionStatus": "OptOut"}]});
    assert_eq!(
        event(json!(["a@example.com"]), still_out, was)
            .remove(0)
            .kind,
        EventKind::Unsubscribed
    );
    // Odd shapes (a null list, a string for the flag, preferences that are
    // no object) never cost the notification, and what they do not say is
    // never read as a subscription: unknown, the address kept as it is.
    for (new, old, kind) in [
        (
            json!({"unsubscribeAll": true, "topicSubscriptionStatus": null}),
            json!(null),
            EventKind::Unsubscribed,
        ),
        (
            json!({"unsubscribeAll": "yes", "topicSubscriptionStatus": "none"}),
            json!([]),
            EventKind::Unknown,
        ),
        (json!("opted out"), json!(7), EventKind::Unknown),
        (
            json!({"unsubscribeAll": false, "topicSubscriptionStatus": [{"topicName": 5}]}),
            json!({}),
            EventKind::Unknown,
        ),
    ] {
        let events = event(json!(["a@example.com"]), new.clone(), old);
        assert_eq!(events.len(), 1, "{new}");
        assert_eq!(events[0].kind, kind, "{new}");
    }
    let odd = ses_message(&json!({"eventType": "Subscription",
        "mail": {"messageId": "m1", "destination": ["a@example.com"]},
        "subscription": "changed"}));
    assert_eq!(odd.len(), 1);
    assert_eq!(odd[0].kind, EventKind::Unknown);
    assert_eq!(odd[0].suppression(), Suppression::Keep);
}

/// SES posts one plain-text notice when an event destination is added to
/// a configuration set ("Successfully validated SNS topic for Amazon SES
/// event publishing."; django-anymail ignores it too): acknowledged with no
/// event. It was refused as not JSON.
#[test]
fn the_topic_validation_notice_is_acknowledged_without_events() {
    let body = notification("Successfully validated SNS topic for Amazon SES event publishing.");
    let headers = [("x-amz-sns-message-type", "Notification")];
    match block_on(ses_verifier().verify_and_parse_at(&headers, body.as_bytes(), now())).unwrap() {
        SesOutcome::Events(events) => assert!(events.is_empty()),
        other => panic!("{other:?}"),
    }
}
