//! Twilio specifics: ports, JSON bodies with bodySHA256, unsigned bodies.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::Secret;
use email_webhooks::scheme::twilio::TwilioVerifier;
use sha2::Digest as _;

const FORM: &str = "application/x-www-form-urlencoded";

fn verifier() -> TwilioVerifier {
    TwilioVerifier::new(Secret::from_bytes("12345").expect("token"))
}

fn form_headers(sig: String) -> Vec<(&'static str, String)> {
    vec![
        ("X-Twilio-Signature", sig),
        ("Content-Type", format!("{FORM}; charset=utf-8")),
    ]
}

#[test]
fn accepts_a_url_signed_without_the_default_port_when_called_with_it() {
    let body = b"A=1&B=2";
    let sig = verifier()
        .sign("https://example.com/hook", body)
        .expect("sign");
    let h = form_headers(sig);
    assert!(
        verifier()
            .verify(&h, "https://example.com:443/hook", body)
            .is_ok()
    );
}

#[test]
fn accepts_a_url_signed_with_the_default_port_when_called_without_it() {
    let body = b"A=1";
    let sig = verifier()
        .sign("https://example.com:443/hook", body)
        .expect("sign");
    assert!(
        verifier()
            .verify(&form_headers(sig), "https://example.com/hook", body)
            .is_ok()
    );
}

#[test]
fn rejects_another_url() {
    let body = b"A=1";
    let sig = verifier()
        .sign("https://example.com/hook", body)
        .expect("sign");
    let e = verifier()
        .verify(&form_headers(sig), "https://example.com/other", body)
        .expect_err("url");
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn parameter_order_in_the_body_does_not_matter() {
    let sig = verifier()
        .sign("https://example.com/hook", b"B=2&A=1")
        .expect("sign");
    assert!(
        verifier()
            .verify(&form_headers(sig), "https://example.com/hook", b"A=1&B=2")
            .is_ok()
    );
}

#[test]
fn json_body_is_covered_by_body_sha256() {
    let body = br#"{"CallSid":"CA1"}"#;
    let hash = hex_lower(&sha2::Sha256::digest(body));
    let url = format!("https://example.com/hook?bodySHA256={hash}");
    let sig = verifier().sign(&url, b"").expect("sign");
    let h = [
        ("X-Twilio-Signature", sig.clone()),
        ("Content-Type", "application/json".to_owned()),
    ];
    assert!(verifier().verify(&h, &url, body).is_ok());
    let e = verifier()
        .verify(&h, &url, br#"{"CallSid":"CA2"}"#)
        .expect_err("tampered");
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn a_body_without_body_sha256_is_read_as_form_parameters_whatever_its_type() {
    // Without `bodySHA256` in the signed URL, the body is signed as form
    // parameters: a JSON body whose parameters were not signed is refused,
    // whatever `Content-Type` claims.
    let url = "https://example.com/hook";
    let sig = verifier().sign(url, b"").expect("sign");
    for content_type in ["application/json", "application/x-www-form-urlencoded", ""] {
        let h = [
            ("X-Twilio-Signature", sig.clone()),
            ("Content-Type", content_type.to_owned()),
        ];
        let e = verifier()
            .verify(&h, url, br#"{"a":1}"#)
            .expect_err("unsigned body");
        assert_eq!(e.code(), "invalid_signature", "{content_type}");
    }
}

#[test]
fn malformed_form_body_is_invalid_payload() {
    let url = "https://example.com/hook";
    let sig = verifier().sign(url, b"A=1").expect("sign");
    let e = verifier()
        .verify(&form_headers(sig), url, b"A=%G1")
        .expect_err("bad escape");
    assert_eq!(e.code(), "invalid_payload");
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
