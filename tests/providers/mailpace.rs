//! MailPace: every form a key reaches users in, told apart, and the
//! Ed25519 signature over the raw body.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use email_webhooks::Ed25519SigningKey;
use email_webhooks::provider::mailpace::{KeyForm, MailpacePublicKey, MailpaceVerifier};

const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn each_key_form_is_read_and_named() {
    let raw = *Ed25519SigningKey::from_seed([3; 32])
        .unwrap()
        .public_key()
        .as_bytes();
    let spki = [&SPKI_PREFIX[..], &raw[..]].concat();
    let hex: String = raw
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64(&spki)
    );
    for (text, form) in [
        (b64(&raw), KeyForm::Raw),
        (format!("  {}\n", b64(&raw)), KeyForm::Raw),
        (hex.clone(), KeyForm::Hex),
        (hex.to_uppercase(), KeyForm::Hex),
        (b64(&spki), KeyForm::Spki),
        (pem, KeyForm::Pem),
    ] {
        let key = MailpacePublicKey::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(key.form(), form, "{text}");
    }
    let other_spki = [
        &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x21, 0x00,
        ][..],
        &raw[..],
    ]
    .concat();
    for bad in [
        String::new(),
        "whsec_abc".into(),
        b64(&raw[..31]),
        b64(&other_spki),
        hex[..62].to_owned(),
        // Weak keys, with which a signature can be forged for any body: the
        // identity, the all-zero point (order 4), a non-canonical encoding.
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        b64(&[0xff; 32]),
    ] {
        assert!(MailpacePublicKey::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn the_signature_covers_the_raw_body_and_any_configured_key() {
    let key = |seed: u8| {
        let raw = *Ed25519SigningKey::from_seed([seed; 32])
            .unwrap()
            .public_key()
            .as_bytes();
        MailpacePublicKey::parse(&b64(&raw)).unwrap()
    };
    // A delivery signed by the registry's simulator with seed 5.
    let mut settings = email_webhooks::provider::Settings::new();
    settings.keys.push(b64(&[5; 32]));
    let sim = email_webhooks::provider::Simulation::new(
        email_webhooks::EventKind::Delivered,
        "a@example.com",
        "e",
        0,
        &settings,
    );
    let delivery = (email_webhooks::Provider::Mailpace.info().unwrap().simulate)(&sim).unwrap();
    let headers = delivery.headers.clone();
    let verifier = MailpaceVerifier::new(key(6)).with_key(key(5));
    assert_eq!(
        verifier
            .verify(&headers, &delivery.body)
            .unwrap()
            .key_index(),
        1
    );
    assert!(
        MailpaceVerifier::new(key(6))
            .verify(&headers, &delivery.body)
            .is_err()
    );
    let mut changed = delivery.body.clone();
    let last = changed.len() - 2;
    changed[last] ^= 1;
    assert!(verifier.verify(&headers, &changed).is_err());
}

/// `email.spam` is MailPace's own filter: the address is kept.
#[test]
fn mailpace_spam_is_a_block_that_keeps_the_address() {
    let body = br#"{"event":"email.spam","payload":{"status":"spam","id":1,"to":"a@example.com","updated_at":"2025-12-06T10:00:00Z"}}"#;
    let event = &email_webhooks::provider::mailpace::parse(body).unwrap()[0];
    assert_eq!(event.kind, email_webhooks::EventKind::Rejected);
    assert_eq!(
        event.reject_reason,
        Some(email_webhooks::RejectReason::Blocked)
    );
    assert_eq!(event.suppression(), email_webhooks::Suppression::Keep);
}

/// The derived key (MailPace sends no event id) differs when any one field
/// that can tell two events apart differs, is the same for the same event
/// posted again, and an unreadable time keeps events apart.
#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    use serde_json::json;
    let event = json!({"event": "email.deferred", "payload": {"status": "deferred", "id": 7,
        "to": "a@example.com", "message_id": "<m1@example.com>",
        "updated_at": "2025-12-06T10:00:00Z", "created_at": "2025-12-06T09:00:00Z"}});
    let key = |body: &serde_json::Value| {
        email_webhooks::provider::mailpace::parse(body.to_string().as_bytes()).unwrap()[0]
            .idempotency_key()
    };
    let base = key(&event);
    assert_eq!(key(&event.clone()), base, "the same event posted again");
    let mut other = event.clone();
    other["event"] = json!("email.delivered");
    assert_ne!(key(&other), base, "event");
    for (field, value) in [
        ("status", json!("delivered")),
        ("id", json!(8)),
        ("to", json!("b@example.com")),
        ("message_id", json!("<m2@example.com>")),
        ("updated_at", json!("2025-12-06T10:05:00Z")),
    ] {
        let mut other = event.clone();
        other["payload"][field] = value;
        assert_ne!(key(&other), base, "{field}");
    }
    // Two deferrals whose times cannot be read are still two.
    let unreadable = |time: &str| {
        let mut e = event.clone();
        e["payload"]["updated_at"] = json!(time);
        key(&e)
    };
    assert_ne!(unreadable("6 Dec 10:00"), unreadable("6 Dec 10:05"));
    assert_eq!(unreadable("6 Dec 10:00"), unreadable("6 Dec 10:00"));
}

/// MailPace posts one event per email: a bounce names a recipient only
/// when the email had one (no second `to`, no `cc` or `bcc`), so that a
/// bounce of an email to several never suppresses an address on a guess.
#[test]
fn an_event_has_a_recipient_only_when_the_email_had_one() {
    let event = |to: &str, cc: serde_json::Value| {
        let body = serde_json::json!({"event": "email.bounced", "payload": {
            "status": "bounced", "id": 7, "updated_at": "2026-12-06T10:00:05.120Z",
            "to": to, "cc": cc, "bcc": null, "message_id": "m@mailer.mailpace.com"}});
        let events =
            email_webhooks::provider::mailpace::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(events[0].kind, email_webhooks::EventKind::Bounced);
        events[0].recipient.clone()
    };
    let gone = Some("gone@example.com".to_owned());
    assert_eq!(
        event("Gone User <gone@example.com>", serde_json::Value::Null),
        gone
    );
    assert_eq!(event("\"User, Gone\" <gone@example.com>", "".into()), gone);
    assert_eq!(
        event(
            "gone@example.com, other@example.com",
            serde_json::Value::Null
        ),
        None
    );
    assert_eq!(event("gone@example.com", "cc@example.com".into()), None);
    assert_eq!(
        event("gone@example.com", serde_json::json!(["cc@example.com"])),
        None
    );
}
