//! SendGrid: the shared vectors through the library, the negative cases, and
//! every documented sample parsed and normalized.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Sample, Vector, at};
use email_webhooks::Configure as _;
use email_webhooks::provider::sendgrid::{
    self, SendgridPublicKey, SendgridSigner, SendgridVerifier,
};
use email_webhooks::{EmailEvent, EventKind, Limits, RejectReason, ReplayWindow};

const SIG: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TS: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// When the first vector was signed.
const SIGNED: i64 = 1_600_112_502;

fn vector(name: &str) -> (Vector, SendgridVerifier) {
    let v = Vector::load_provider(name);
    let key = SendgridPublicKey::parse(&v.secret).expect("key");
    (v, SendgridVerifier::new(key))
}

#[test]
fn vector_1_verifies() {
    let (v, verifier) = vector("sendgrid-1.json");
    let headers = v.header_pairs();
    let proof = verifier
        .verify_at(&headers, v.body.as_bytes(), at(SIGNED))
        .expect(&v.source);
    assert_eq!(proof.unix_timestamp(), Some(1_600_112_502));
}

#[test]
fn vector_2_verifies_and_parses_its_batch() {
    let (v, verifier) = vector("sendgrid-2.json");
    let events = verifier
        .verify_and_parse_at(&v.header_pairs(), v.body.as_bytes(), at(1_619_651_159))
        .expect(&v.source);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, EventKind::Queued);
}

#[test]
fn the_trailing_crlf_is_signed() {
    let (v, verifier) = vector("sendgrid-1.json");
    assert!(v.body.ends_with("\r\n"));
    let trimmed = v.body.trim_end();
    let e = verifier
        .verify_at(&v.header_pairs(), trimmed.as_bytes(), at(SIGNED))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn rejects_a_tampered_body_and_another_timestamp() {
    let (v, verifier) = vector("sendgrid-1.json");
    let tampered = v.body.replace("dropped", "dr0pped");
    assert_eq!(
        verifier
            .verify_at(&v.header_pairs(), tampered.as_bytes(), at(SIGNED))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    let mut h = v.header_pairs();
    for (k, val) in &mut h {
        if k == TS {
            *val = "1600112503".into();
        }
    }
    assert_eq!(
        verifier
            .verify_at(&h, v.body.as_bytes(), at(SIGNED))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
}

#[test]
fn rejects_the_wrong_key_and_accepts_a_rotated_one() {
    let (v, _) = vector("sendgrid-1.json");
    let other = SendgridPublicKey::parse(&Vector::load_provider("sendgrid-2.json").secret).unwrap();
    let right = SendgridPublicKey::parse(&v.secret).unwrap();
    let wrong = SendgridVerifier::new(other.clone());
    assert_eq!(
        wrong
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    let rotated = SendgridVerifier::new(other).with_key(right);
    assert_eq!(
        rotated
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED))
            .unwrap()
            .key_index(),
        1
    );
}

#[test]
fn missing_and_malformed_headers() {
    let (v, verifier) = vector("sendgrid-1.json");
    let body = v.body.as_bytes();
    let without = |name: &str| -> Vec<(String, String)> {
        v.header_pairs()
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect()
    };
    assert_eq!(
        verifier
            .verify_at(&without(SIG), body, at(SIGNED))
            .unwrap_err()
            .code(),
        "missing_header"
    );
    assert_eq!(
        verifier
            .verify_at(&without(TS), body, at(SIGNED))
            .unwrap_err()
            .code(),
        "missing_header"
    );
    let mut bad_ts = without(TS);
    bad_ts.push((TS.into(), "16001125O2".into()));
    assert_eq!(
        verifier
            .verify_at(&bad_ts, body, at(SIGNED))
            .unwrap_err()
            .code(),
        "malformed_header"
    );
    let mut bad_sig = without(SIG);
    bad_sig.push((SIG.into(), "not base64!".into()));
    assert_eq!(
        verifier
            .verify_at(&bad_sig, body, at(SIGNED))
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
    let mut repeated = v.header_pairs();
    repeated.push((SIG.to_ascii_lowercase(), "MEUCIQ==".into()));
    assert_eq!(
        verifier
            .verify_at(&repeated, body, at(SIGNED))
            .unwrap_err()
            .code(),
        "malformed_header"
    );
}

#[test]
fn sendgrid_refuses_a_batch_older_than_the_default_window() {
    let (v, verifier) = vector("sendgrid-1.json");
    // Years after the vector was signed: refused, as SendGrid stops
    // retrying after 72 hours.
    let e = verifier
        .verify(&v.header_pairs(), v.body.as_bytes())
        .unwrap_err();
    assert_eq!(e.code(), "timestamp_too_old");
    // The default window: 73 hours back (inclusive), 5 minutes ahead.
    let headers = v.header_pairs();
    let check = |now: i64| {
        verifier
            .verify_at(&headers, v.body.as_bytes(), at(now))
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert!(check(SIGNED + 73 * 3600).is_ok());
    assert_eq!(check(SIGNED + 73 * 3600 + 1), Err("timestamp_too_old"));
    assert!(check(SIGNED - 300).is_ok());
    assert_eq!(check(SIGNED - 301), Err("timestamp_too_new"));
    // Captured requests can still be checked, by saying so.
    let replaying = SendgridVerifier::new(SendgridPublicKey::parse(&v.secret).unwrap())
        .dangerous_disable_replay_check();
    assert!(
        replaying
            .verify(&v.header_pairs(), v.body.as_bytes())
            .is_ok()
    );
    let narrow =
        verifier.with_replay_window(ReplayWindow::symmetric(std::time::Duration::from_secs(60)));
    assert!(
        narrow
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED + 3600))
            .is_err()
    );
}

#[test]
fn body_limit_is_checked_first() {
    let (v, verifier) = vector("sendgrid-1.json");
    let small = verifier.with_limits(Limits::default().with_max_body_bytes(10));
    assert_eq!(
        small
            .verify_at(&v.header_pairs(), v.body.as_bytes(), at(SIGNED))
            .unwrap_err()
            .code(),
        "body_too_large"
    );
}

#[test]
fn keys_parse_from_base64_der_and_pem_and_nothing_else() {
    let (v, _) = vector("sendgrid-1.json");
    let key = SendgridPublicKey::parse(&v.secret).unwrap();
    assert_eq!(key.to_base64_der(), v.secret);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &v.secret[..64],
        &v.secret[64..]
    );
    assert_eq!(SendgridPublicKey::parse(&pem).unwrap(), key);
    for bad in [
        "",
        "not base64",
        "AAAA",
        &v.secret[..40],
        "-----BEGIN PUBLIC KEY-----\nAAAA",
    ] {
        assert!(SendgridPublicKey::parse(bad).is_err(), "{bad}");
    }
    // An Ed25519 SubjectPublicKeyInfo is a valid key, but not a P-256 one.
    let ed25519 = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
    assert!(SendgridPublicKey::parse(ed25519).is_err());
}

#[test]
fn a_generated_key_pair_round_trips() {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let verifier = SendgridVerifier::new(signer.public_key().unwrap());
    let body = b"[{\"event\":\"delivered\",\"email\":\"a@b.c\",\"sg_event_id\":\"e1\"}]\r\n";
    let headers = signer.headers(SIGNED, body).unwrap();
    assert!(verifier.verify_at(&headers, body, at(SIGNED)).is_ok());
    assert!(
        verifier
            .verify_at(&headers, &body[1..], at(SIGNED))
            .is_err()
    );
}

fn batch(name: &str) -> Vec<EmailEvent> {
    let sample = Sample::load(name);
    assert_eq!(sample.esp, "sendgrid", "{}", sample.source);
    sendgrid::parse(sample.body.as_bytes()).expect(name)
}

#[test]
fn all_events_sample() {
    let events = batch("sendgrid-all-events.json");
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.reject_reason)).collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Queued, None),
            (EventKind::Deferred, None),
            (EventKind::Delivered, None),
            (EventKind::Opened, None),
            (EventKind::Clicked, None),
            (EventKind::Bounced, Some(RejectReason::Bounced)),
            (EventKind::Rejected, Some(RejectReason::Bounced)),
            (EventKind::Complained, Some(RejectReason::Spam)),
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
            (EventKind::Unsubscribed, Some(RejectReason::Unsubscribed)),
            (EventKind::Subscribed, None),
        ]
    );
    for e in &events {
        assert_eq!(e.recipient.as_deref(), Some("example@test.com"));
        assert_eq!(e.tags, vec!["cat facts"]);
        assert_eq!(
            e.timestamp.map(time::OffsetDateTime::unix_timestamp),
            Some(1_513_299_569)
        );
        assert_eq!(e.message_id.as_deref(), Some("sg_message_id"));
        assert!(e.metadata.is_empty(), "{:?}", e.metadata);
    }
    assert_eq!(
        events[1].mta_response.as_deref(),
        Some("400 try again later")
    );
    assert_eq!(events[2].mta_response.as_deref(), Some("250 OK"));
    assert_eq!(
        events[4].click_url.as_deref(),
        Some("http://www.sendgrid.com/")
    );
    assert!(
        events[3]
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("Mozilla/4.0")
    );
    assert_eq!(
        events[5].mta_response.as_deref(),
        Some("500 unknown recipient")
    );
}

#[test]
fn blocked_sample() {
    let e = &batch("sendgrid-blocked.json")[0];
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Blocked))
    );
    assert_eq!(e.event_id.as_deref(), Some("6g4ZI7SA-xmRDv57GoPIPw=="));
    assert!(e.idempotency_key().starts_with("sendgrid:sha256:"));
}

#[test]
fn bounce_sample() {
    let e = &batch("sendgrid-bounce.json")[0];
    assert_eq!(
        (e.kind, e.reject_reason),
        (EventKind::Bounced, Some(RejectReason::Bounced))
    );
    assert_eq!(
        e.message_id.as_deref(),
        Some("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0")
    );
}

#[test]
fn click_sample() {
    let e = &batch("sendgrid-click.json")[0];
    assert_eq!(e.kind, EventKind::Clicked);
    assert_eq!(e.event_id.as_deref(), Some("kCAi1KttyQdEKHhdC-nuEA=="));
}

#[test]
fn processed_sample() {
    let events = batch("sendgrid-processed.json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Queued);
    // `pool` is a SendGrid field, not a custom argument.
    assert!(events[0].metadata.is_empty());
}

#[test]
fn custom_args_become_metadata_and_categories_may_be_arrays() {
    let body = br#"[{"event":"delivered","email":"a@b.c","category":["one","two"],"order_id":"42","tenant":{"id":7},"timestamp":"1513299569"}]"#;
    let e = &sendgrid::parse(body).unwrap()[0];
    assert_eq!(e.tags, vec!["one", "two"]);
    assert_eq!(e.metadata["order_id"], "42");
    assert_eq!(e.metadata["tenant"]["id"], 7);
    assert_eq!(
        e.timestamp.map(time::OffsetDateTime::unix_timestamp),
        Some(1_513_299_569)
    );
}

/// SendGrid's drop reasons. "Invalid SMTPAPI header" is the sender's
/// malformed message, not the address: it keeps the address (the old code
/// read it as an invalid address and stopped every recipient of the send).
#[test]
fn drop_reasons_map_as_documented() {
    for (reason, expected) in [
        ("Bounced Address", RejectReason::Bounced),
        ("Unsubscribed Address", RejectReason::Unsubscribed),
        ("Invalid", RejectReason::Invalid),
        ("Invalid SMTPAPI header", RejectReason::Other),
        ("Spam Reporting Address", RejectReason::Spam),
        ("Expired", RejectReason::TimedOut),
        ("Something new", RejectReason::Other),
    ] {
        let body = format!(r#"[{{"event":"dropped","reason":"{reason}"}}]"#);
        let e = &sendgrid::parse(body.as_bytes()).unwrap()[0];
        assert_eq!(
            (e.kind, e.reject_reason),
            (EventKind::Rejected, Some(expected)),
            "{reason}"
        );
    }
    let body = br#"[{"event":"dropped","reason":"Invalid SMTPAPI header","email":"a@b.c"}]"#;
    let e = &sendgrid::parse(body).unwrap()[0];
    assert_eq!(e.suppression(), email_webhooks::Suppression::Keep);
}

#[test]
fn unknown_events_are_kept() {
    let body = br#"[{"event":"machine_opened","email":"a@b.c","extra":[1]}]"#;
    let e = &sendgrid::parse(body).unwrap()[0];
    assert_eq!(e.kind, EventKind::Unknown);
    assert_eq!(
        e.raw.get(),
        r#"{"event":"machine_opened","email":"a@b.c","extra":[1]}"#
    );
}

#[test]
fn malformed_batches_are_parse_errors() {
    for bad in [&b""[..], b"{}", b"[", b"\xff", b"[1,", b"\"[]\""] {
        assert_eq!(
            sendgrid::parse(bad).unwrap_err().code(),
            "invalid_payload",
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn one_unreadable_element_never_costs_its_neighbours() {
    // Each odd element sits between two good ones; SendGrid would retry a
    // refused batch for 72 hours and then drop every event in it.
    let odd = [
        "1",
        "null",
        "\"text\"",
        "[]",
        r#"{"email":"a@b.c"}"#,
        r#"{"event":5,"email":"a@b.c","sg_event_id":"x"}"#,
        r#"{"event":{"nested":true},"email":"a@b.c"}"#,
        r#"{"event":"delivered","email":12345,"sg_event_id":"n"}"#,
        r#"{"event":"delivered","email":"a@b.c","timestamp":{"seconds":1}}"#,
        r#"{"event":"delivered","email":"a@b.c","timestamp":[1,2]}"#,
        r#"{"event":"delivered","email":"a@b.c","timestamp":true}"#,
        r#"{"event":"delivered","email":"a@b.c","sg_event_id":{"id":1}}"#,
        r#"{"event":"click","email":"a@b.c","url":["x"],"category":{"a":1}}"#,
    ];
    for element in odd {
        let body = format!(
            r#"[{{"event":"delivered","email":"first@b.c","sg_event_id":"g1"}},{element},{{"event":"open","email":"last@b.c","sg_event_id":"g2"}}]"#
        );
        let events = sendgrid::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{element}: {e}"));
        assert_eq!(events.len(), 3, "{element}");
        assert_eq!(events[0].recipient.as_deref(), Some("first@b.c"));
        assert_eq!(events[2].recipient.as_deref(), Some("last@b.c"));
        assert_eq!(
            events[1].raw.get(),
            element,
            "the odd element's JSON is kept"
        );
        assert!(serde_json::to_string(&events[1]).is_ok());
    }
    // Readable parts of an odd element are still read.
    let events = sendgrid::parse(
        br#"[{"event":"delivered","email":12345,"sg_event_id":"n","timestamp":{"s":1}}]"#,
    )
    .unwrap();
    assert_eq!(events[0].kind, EventKind::Delivered);
    assert_eq!(events[0].recipient.as_deref(), Some("12345"));
    assert_eq!(events[0].timestamp, None);
    // Elements that are not events at all are unknown events.
    for element in ["1", r#"{"email":"a@b.c"}"#, r#"{"event":5}"#] {
        let body = format!("[{element}]");
        let events = sendgrid::parse(body.as_bytes()).unwrap();
        assert_eq!(events[0].kind, EventKind::Unknown, "{element}");
    }
}

#[test]
fn strings_sent_as_numbers_read_as_their_json_text_and_other_values_as_absent() {
    let body = br#"[{"event":"bounce","email":-7,"sg_event_id":1.5e3,"sg_message_id":18446744073709551615,"reason":null,"response":true,"useragent":{"a":[1]},"url":[{"b":2}],"type":"blocked","category":["one",2,-3,4.25,null,{"x":1},["y"],false]},
        {"event":"open","email":"a@b.c","category":"solo"},
        {"event":"open","email":"a@b.c","category":7}]"#;
    let events = sendgrid::parse(body).unwrap();
    assert_eq!(events[0].kind, EventKind::Bounced);
    assert_eq!(events[0].recipient.as_deref(), Some("-7"));
    assert_eq!(events[0].event_id.as_deref(), Some("1500.0"));
    assert_eq!(
        events[0].message_id.as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(events[0].mta_response, None);
    assert_eq!(events[0].user_agent, None);
    assert_eq!(events[0].click_url, None);
    assert_eq!(events[0].reject_reason, Some(RejectReason::Blocked));
    assert_eq!(events[0].tags, ["one", "2", "-3", "4.25"]);
    assert_eq!(events[1].tags, ["solo"]);
    assert!(events[2].tags.is_empty());
}

#[test]
fn a_dropped_events_reason_is_a_description_not_an_mta_response() {
    let events = sendgrid::parse(
        br#"[{"event":"dropped","email":"a@b.c","reason":"Bounced Address","sg_event_id":"d1"}]"#,
    )
    .unwrap();
    assert_eq!(events[0].kind, EventKind::Rejected);
    assert_eq!(events[0].description.as_deref(), Some("Bounced Address"));
    assert_eq!(events[0].mta_response, None);
    assert_eq!(events[0].reject_reason, Some(RejectReason::Bounced));
    // A bounce's reason is the receiving server's text.
    let events = sendgrid::parse(
        br#"[{"event":"bounce","email":"a@b.c","reason":"550 5.1.1 unknown user","type":"bounce"}]"#,
    )
    .unwrap();
    assert_eq!(
        events[0].mta_response.as_deref(),
        Some("550 5.1.1 unknown user")
    );
}

#[test]
fn elements_without_an_event_id_keep_distinct_keys_that_survive_redelivery() {
    // Two different unreadable elements in one batch must not share a key
    // (the second would be taken for a duplicate and dropped), and a
    // redelivered batch must give each the same key again.
    let batch = br#"[1,{"email":"a@b.c"},{"event":5},{"event":"open","email":"a@b.c"},{"event":"open","email":"b@b.c"}]"#;
    let keys = |body: &[u8]| -> Vec<String> {
        sendgrid::parse(body)
            .unwrap()
            .iter()
            .map(EmailEvent::idempotency_key)
            .collect()
    };
    let first = keys(batch);
    let unique: std::collections::HashSet<_> = first.iter().collect();
    assert_eq!(unique.len(), first.len(), "{first:?}");
    assert_eq!(keys(batch), first);
}

/// SendGrid's duplicates of one event carry a new `sg_event_id`
/// (sendgrid/sendgrid-nodejs#1435): keyed by the id, each copy was handled
/// again. The key is a digest of every other field that tells two events
/// apart: a copy with another id (or other spacing) gets the same key, and
/// events that differ in any one of those fields get different keys.
#[test]
fn keys_ignore_sg_event_id_and_tell_apart_events_that_differ_in_one_field() {
    let base = serde_json::json!({
        "event": "click", "email": "a@example.com", "timestamp": 1_700_000_000,
        "sg_event_id": "id-1", "sg_message_id": "m1.filter", "smtp-id": "<m1@example.com>",
        "response": "250 OK", "reason": "r", "type": "bounce", "status": "5.1.1", "attempt": "1",
        "url": "https://example.com/a", "useragent": "UA", "ip": "192.0.2.1", "asm_group_id": 7,
        "category": ["c"], "order": "42",
    });
    let key = |event: &serde_json::Value| {
        sendgrid::parse(serde_json::to_string(&[event]).unwrap().as_bytes()).unwrap()[0]
            .idempotency_key()
    };
    let original = key(&base);
    // The same event sent again: another id, other spacing.
    let mut copy = base.clone();
    copy["sg_event_id"] = "id-2".into();
    assert_eq!(key(&copy), original);
    let spaced = format!(" [ {} ] ", serde_json::to_string_pretty(&copy).unwrap());
    assert_eq!(
        sendgrid::parse(spaced.as_bytes()).unwrap()[0].idempotency_key(),
        original
    );
    // One field changed at a time: another event.
    let one_field = [
        ("event", serde_json::json!("open")),
        ("email", serde_json::json!("b@example.com")),
        ("timestamp", serde_json::json!(1_700_000_001)),
        ("sg_message_id", serde_json::json!("m2.filter")),
        ("smtp-id", serde_json::json!("<m2@example.com>")),
        ("response", serde_json::json!("451 later")),
        ("reason", serde_json::json!("other")),
        ("type", serde_json::json!("blocked")),
        ("status", serde_json::json!("4.2.2")),
        ("attempt", serde_json::json!("2")),
        ("url", serde_json::json!("https://example.com/b")),
        ("useragent", serde_json::json!("Other UA")),
        ("ip", serde_json::json!("192.0.2.2")),
        ("asm_group_id", serde_json::json!(8)),
    ];
    let mut seen = std::collections::HashSet::from([original.clone()]);
    for (field, value) in one_field {
        let mut changed = base.clone();
        changed[field] = value;
        assert!(seen.insert(key(&changed)), "{field} changed, same key");
        // And without the field at all.
        let mut without = base.clone();
        without.as_object_mut().unwrap().remove(field);
        assert!(seen.insert(key(&without)), "{field} removed, same key");
    }
}

/// `or_basic_auth` (a migration): a delivery passes with a valid signature
/// or with the credentials, never with neither; `with_basic_auth` still
/// requires both. Every combination of signature (valid, tampered, absent)
/// and credentials (right, wrong, absent) is checked in both modes.
#[test]
fn either_the_signature_or_the_credentials_during_a_migration() {
    use base64::Engine as _;
    use email_webhooks::{BasicAuth, VerifyError};
    let (signer, _) = SendgridSigner::generate().unwrap();
    let key = || signer.public_key().unwrap();
    let auth = || BasicAuth::parse("sendgrid:a-long-random-password").unwrap();
    let either = SendgridVerifier::new(key()).or_basic_auth(auth());
    let both = SendgridVerifier::new(key())
        .or_basic_auth(auth())
        .with_basic_auth(auth());
    let body = b"[{\"event\":\"delivered\",\"email\":\"a@b.c\",\"sg_event_id\":\"e1\"}]\r\n";
    let basic = |pair: &str| {
        (
            "Authorization".to_owned(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        )
    };
    let genuine = signer.headers(SIGNED, body).unwrap();
    let other = SendgridSigner::generate()
        .unwrap()
        .0
        .headers(SIGNED, body)
        .unwrap();
    for (signature, signature_name) in [
        (Some(&genuine), "valid"),
        (Some(&other), "other key"),
        (None, "absent"),
    ] {
        for (credentials, credentials_name) in [
            (Some(basic("sendgrid:a-long-random-password")), "right"),
            (Some(basic("sendgrid:wrong")), "wrong"),
            (None, "absent"),
        ] {
            let mut headers: Vec<(String, String)> = signature.cloned().unwrap_or_default();
            headers.extend(credentials.clone());
            let valid_signature = signature_name == "valid";
            let right_credentials = credentials_name == "right";
            let case = format!("signature {signature_name}, credentials {credentials_name}");
            assert_eq!(
                either.verify_at(&headers, body, at(SIGNED)).is_ok(),
                valid_signature || right_credentials,
                "either: {case}"
            );
            assert_eq!(
                both.verify_at(&headers, body, at(SIGNED)).is_ok(),
                valid_signature && right_credentials,
                "both: {case}"
            );
        }
    }
    // When both fail, the error names what the delivery tried.
    let bad_signature = either.verify_at(&other, body, at(SIGNED)).unwrap_err();
    assert!(
        matches!(bad_signature, VerifyError::InvalidSignature),
        "{bad_signature:?}"
    );
    let nothing = either
        .verify_at(&Vec::<(String, String)>::new(), body, at(SIGNED))
        .unwrap_err();
    assert!(
        matches!(nothing, VerifyError::MissingCredentials),
        "{nothing:?}"
    );
    // The credentials do not widen the signature's replay window: a stale
    // signed delivery without them is refused.
    let stale = either
        .verify_at(&genuine, body, at(SIGNED + 80 * 3600))
        .unwrap_err();
    assert!(
        matches!(stale, VerifyError::TimestampTooOld { .. }),
        "{stale:?}"
    );
}
