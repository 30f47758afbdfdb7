//! Postal: RSA signatures from 1024-bit keys (made with OpenSSL), SHA-256
//! preferred with no downgrade to SHA-1, every key form Postal shows, the
//! key id, and the signed time's window.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use email_webhooks::VerifyError;
use email_webhooks::provider::postal::{PostalPublicKey, PostalVerifier};
use sha2::Digest as _;

use crate::common::at;

fn data(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn key_1024() -> PostalPublicKey {
    PostalPublicKey::parse(&data("postal-test-key-1024.pub.pem")).unwrap()
}

fn key_2048() -> PostalPublicKey {
    PostalPublicKey::parse(&data("postal-test-key-2048.pub.pem")).unwrap()
}

/// When the test body was signed (its `timestamp`), plus a minute.
const SIGNED_AT: i64 = 1_765_012_345 + 60;

fn check(
    verifier: &PostalVerifier,
    headers: &[(&str, String)],
    now: i64,
) -> Result<usize, VerifyError> {
    let body = data("postal-1024-body.json");
    verifier
        .verify_at(&headers, body.as_bytes(), at(now))
        .map(|v| v.key_index())
}

fn sha256() -> (&'static str, String) {
    ("X-Postal-Signature-256", data("postal-1024-body.sig256"))
}

fn sha1() -> (&'static str, String) {
    ("X-Postal-Signature", data("postal-1024-body.sig1"))
}

#[test]
fn a_1024_bit_key_verifies_sha256_and_legacy_sha1_signatures() {
    let verifier = PostalVerifier::new(key_1024());
    assert_eq!(check(&verifier, &[sha256()], SIGNED_AT), Ok(0));
    assert_eq!(check(&verifier, &[sha1()], SIGNED_AT), Ok(0));
    assert_eq!(check(&verifier, &[sha1(), sha256()], SIGNED_AT), Ok(0));
    let strict = PostalVerifier::new(key_1024()).require_sha256();
    assert_eq!(check(&strict, &[sha256()], SIGNED_AT), Ok(0));
    assert_eq!(
        check(&strict, &[sha1()], SIGNED_AT).unwrap_err().code(),
        "missing_header"
    );
}

#[test]
fn a_bad_sha256_signature_is_refused_even_beside_a_good_sha1_one() {
    let verifier = PostalVerifier::new(key_1024());
    let mut bad = sha256();
    bad.1 = bad.1.replacen('A', "B", 1).replacen('a', "b", 1);
    for headers in [vec![sha1(), bad.clone()], vec![bad]] {
        assert_eq!(
            check(&verifier, &headers, SIGNED_AT).unwrap_err().code(),
            "invalid_signature"
        );
    }
    // SHA-1's signature in the SHA-256 header: refused.
    let swapped = ("X-Postal-Signature-256", data("postal-1024-body.sig1"));
    assert!(check(&verifier, &[swapped], SIGNED_AT).is_err());
    assert_eq!(
        check(&verifier, &[], SIGNED_AT).unwrap_err().code(),
        "missing_header"
    );
}

#[test]
fn another_key_or_a_changed_body_is_refused() {
    let other = PostalVerifier::new(key_2048());
    assert_eq!(
        check(&other, &[sha256()], SIGNED_AT).unwrap_err().code(),
        "invalid_signature"
    );
    let verifier = PostalVerifier::new(key_1024());
    let body = data("postal-1024-body.json").replace("jane@", "jant@");
    let headers = [sha256()];
    let err = verifier
        .verify_at(&headers, body.as_bytes(), at(SIGNED_AT))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
}

#[test]
fn the_key_id_orders_configured_keys_and_admits_no_other() {
    let kid = |k: &PostalPublicKey| ("X-Postal-Signature-KID", k.kid().to_owned());
    let both = PostalVerifier::new(key_2048()).with_key(key_1024());
    assert_eq!(
        check(&both, &[sha256(), kid(&key_1024())], SIGNED_AT),
        Ok(1)
    );
    // A key id that names the other key, or no key at all: the configured
    // keys still decide.
    assert_eq!(
        check(&both, &[sha256(), kid(&key_2048())], SIGNED_AT),
        Ok(1)
    );
    assert_eq!(
        check(
            &both,
            &[sha256(), ("X-Postal-Signature-KID", "00".repeat(32))],
            SIGNED_AT
        ),
        Ok(1)
    );
    let only_2048 = PostalVerifier::new(key_2048());
    assert!(check(&only_2048, &[sha256(), kid(&key_1024())], SIGNED_AT).is_err());
}

#[test]
fn the_key_id_is_the_sha256_of_the_pkcs1_key() {
    let pem = data("postal-test-key-1024.pub.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // The PKCS#1 key is the SPKI's bit string: for RSA-1024 its last 140 bytes.
    let pkcs1 = &spki[spki.len() - 140..];
    assert_eq!(key_1024().kid(), hex(&sha2::Sha256::digest(pkcs1)));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[test]
fn every_form_postal_shows_the_key_in_is_read() {
    let pem = data("postal-test-key-1024.pub.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let record = format!("v=DKIM1; t=s; h=sha256; p={b64};");
    let pkcs1 = {
        let spki = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap();
        let inner = base64::engine::general_purpose::STANDARD.encode(&spki[spki.len() - 140..]);
        format!("-----BEGIN RSA PUBLIC KEY-----\n{inner}\n-----END RSA PUBLIC KEY-----\n")
    };
    for form in [
        pem.clone(),
        b64.clone(),
        record,
        format!("  {b64}\n"),
        pkcs1,
    ] {
        let key = PostalPublicKey::parse(&form).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(key.kid(), key_1024().kid());
        assert_eq!(
            check(&PostalVerifier::new(key), &[sha256()], SIGNED_AT),
            Ok(0)
        );
    }
    for bad in ["", "not base64!", "AAAA", "v=DKIM1; p=", &b64[..40]] {
        assert!(PostalPublicKey::parse(bad).is_err(), "{bad}");
    }
    // An Ed25519 SPKI is not an RSA key.
    let ed25519 = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
    assert!(PostalPublicKey::parse(ed25519).is_err());
}

#[test]
fn the_signed_time_has_a_day_long_window() {
    let verifier = PostalVerifier::new(key_1024());
    assert_eq!(check(&verifier, &[sha256()], SIGNED_AT + 23 * 3600), Ok(0));
    let stale = check(&verifier, &[sha256()], SIGNED_AT + 25 * 3600).unwrap_err();
    assert_eq!(stale.code(), "timestamp_too_old");
    let early = check(&verifier, &[sha256()], SIGNED_AT - 3600).unwrap_err();
    assert_eq!(early.code(), "timestamp_too_new");
}

/// Postal's delivery webhooks for mail it received and handed to your own
/// route are not about mail you sent: never a delivery or a bounce.
#[test]
fn deliveries_of_incoming_mail_are_not_yours() {
    let body = |direction: &str| {
        format!(
            r#"{{"event":"MessageDeliveryFailed","timestamp":1765012345,"uuid":"u-{direction}","payload":{{"message":{{"id":1,"direction":"{direction}","to":"support@example.com"}},"status":"HardFail"}}}}"#
        )
    };
    let kind =
        |d: &str| email_webhooks::provider::postal::parse(body(d).as_bytes()).unwrap()[0].kind;
    assert_eq!(kind("outgoing"), email_webhooks::EventKind::Bounced);
    assert_eq!(kind("incoming"), email_webhooks::EventKind::Unknown);
}

/// Postal's webhook documentation shows each event's payload on its own.
/// The payload's shape tells the event (a delivery status, a bounce, a
/// link, an open's client) before the event's name does, and a body
/// without a name is read by its shape. The old code trusted the name
/// alone and kept a body without one as an unknown event.
#[test]
fn the_payloads_shape_tells_the_event() {
    use email_webhooks::EventKind;
    let kind =
        |body: &str| email_webhooks::provider::postal::parse(body.as_bytes()).unwrap()[0].kind;
    let message = r#"{"id":1,"direction":"outgoing","to":"a@example.com"}"#;
    for (status, expected) in [
        ("Sent", EventKind::Delivered),
        ("SoftFail", EventKind::Deferred),
        ("HardFail", EventKind::Bounced),
        ("Held", EventKind::Queued),
    ] {
        let payload = format!(r#"{{"status":"{status}","details":"d","message":{message}}}"#);
        assert_eq!(kind(&payload), expected, "{status}");
        let named = format!(r#"{{"event":"MessageDelayed","uuid":"u","payload":{payload}}}"#);
        assert_eq!(kind(&named), expected, "{status} under another name");
    }
    let bounced = format!(r#"{{"original_message":{message},"bounce":{message}}}"#);
    assert_eq!(kind(&bounced), EventKind::Bounced);
    let named = format!(r#"{{"event":"MessageDelayed","uuid":"u","payload":{bounced}}}"#);
    assert_eq!(kind(&named), EventKind::Bounced);
    let clicked = format!(
        r#"{{"url":"https://example.com/x","ip_address":"192.0.2.1","user_agent":"UA","message":{message}}}"#
    );
    assert_eq!(kind(&clicked), EventKind::Clicked);
    let loaded = format!(r#"{{"ip_address":"192.0.2.1","user_agent":"UA","message":{message}}}"#);
    assert_eq!(kind(&loaded), EventKind::Opened);
}
