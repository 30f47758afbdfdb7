//! Standard Webhooks specifics beyond the shared matrix: svix aliases, v1a
//! (Ed25519), mixed key sets.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::Configure as _;
use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner, VerifyingKey};
use email_webhooks::{Ed25519SigningKey, Secret};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"type":"email.delivered"}"#;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("time")
}

fn ed_key(seed: u8) -> Ed25519SigningKey {
    Ed25519SigningKey::from_seed([seed; 32]).expect("seed")
}

fn hmac_headers() -> Vec<(String, String)> {
    let signer =
        StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC).expect("secret"));
    signer
        .headers("msg_1", NOW, BODY)
        .expect("sign")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn verifier() -> StandardWebhooks {
    StandardWebhooks::new(Secret::from_standard_webhooks(WHSEC).expect("secret"))
}

#[test]
fn accepts_svix_header_aliases() {
    let h: Vec<(String, String)> = hmac_headers()
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    let v = verifier().verify_at(&h, BODY, now()).expect("valid");
    assert_eq!(v.id(), Some("msg_1"));
    assert_eq!(v.unix_timestamp(), Some(NOW));
}

#[test]
fn does_not_mix_webhook_and_svix_headers() {
    let h: Vec<(String, String)> = hmac_headers()
        .into_iter()
        .map(|(k, v)| {
            if k == "webhook-id" {
                ("svix-id".to_owned(), v)
            } else {
                (k, v)
            }
        })
        .collect();
    let e = verifier().verify_at(&h, BODY, now()).expect_err("mixed");
    assert_eq!(e.code(), "missing_header");
}

#[test]
fn verifies_through_an_http_header_map() {
    let mut map = http::HeaderMap::new();
    for (k, v) in hmac_headers() {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            http::HeaderValue::from_str(&v).expect("value"),
        );
    }
    assert!(verifier().verify_at(&map, BODY, now()).is_ok());
}

#[test]
fn the_id_is_signed() {
    let mut h = hmac_headers();
    h[0].1 = "msg_2".to_owned();
    let e = verifier()
        .verify_at(&h, BODY, now())
        .expect_err("id changed");
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn v1a_round_trips_and_reports_the_key_index() {
    let key = ed_key(1);
    let sig = StandardWebhooksSigner::new(key)
        .sign("msg_1", NOW, BODY)
        .expect("sign");
    assert!(sig.starts_with("v1a,"));
    let h = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", NOW.to_string()),
        ("webhook-signature", sig),
    ];
    let v = verifier()
        .with_key(ed_key(2).public_key().clone())
        .with_key(ed_key(1).public_key().clone())
        .verify_at(&h, BODY, now())
        .expect("valid");
    assert_eq!(v.key_index(), 2);
}

#[test]
fn v1a_rejects_a_tampered_body_and_a_wrong_key() {
    let sig = StandardWebhooksSigner::new(ed_key(1))
        .sign("msg_1", NOW, BODY)
        .expect("sign");
    let h = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", NOW.to_string()),
        ("webhook-signature", sig),
    ];
    let right = StandardWebhooks::new(ed_key(1).public_key().clone());
    let wrong = StandardWebhooks::new(ed_key(2).public_key().clone());
    assert_eq!(
        right
            .verify_at(&h, b"{}", now())
            .map_err(|e| e.code())
            .err(),
        Some("invalid_signature")
    );
    assert_eq!(
        wrong.verify_at(&h, BODY, now()).map_err(|e| e.code()).err(),
        Some("invalid_signature")
    );
}

#[test]
fn a_v1_signature_is_not_checked_against_a_public_key() {
    let h = hmac_headers();
    let only_public = StandardWebhooks::new(ed_key(1).public_key().clone());
    let e = only_public
        .verify_at(&h, BODY, now())
        .expect_err("no hmac key");
    assert_eq!(e.code(), "unsupported_scheme");
}

#[test]
fn a_v1a_entry_holding_an_hmac_value_is_refused() {
    // Version confusion: the HMAC value relabelled as v1a must not pass.
    let mut h = hmac_headers();
    h[2].1 = h[2].1.replacen("v1,", "v1a,", 1);
    let mixed = verifier().with_key(ed_key(1).public_key().clone());
    let e = mixed.verify_at(&h, BODY, now()).expect_err("relabelled");
    assert_eq!(e.code(), "invalid_signature");
}

#[test]
fn keys_parse_by_prefix() {
    assert!(matches!(
        VerifyingKey::parse(WHSEC),
        Ok(VerifyingKey::Hmac(_))
    ));
    let pk = ed_key(3).public_key().to_standard_webhooks();
    assert!(matches!(
        VerifyingKey::parse(&pk),
        Ok(VerifyingKey::Ed25519(_))
    ));
    assert_eq!(
        VerifyingKey::parse("whsec_%%%")
            .err()
            .map(|e| email_webhooks::VerifyError::from(e).code()),
        Some("invalid_secret")
    );
}

#[test]
fn a_verifier_cannot_be_built_without_keys() {
    assert!(StandardWebhooks::from_keys(Vec::new()).is_err());
}

#[test]
fn disabled_replay_check_accepts_old_timestamps() {
    let h = hmac_headers();
    let late = OffsetDateTime::from_unix_timestamp(NOW + 86_400).expect("time");
    assert_eq!(
        verifier()
            .verify_at(&h, BODY, late)
            .map_err(|e| e.code())
            .err(),
        Some("timestamp_too_old")
    );
    assert!(
        verifier()
            .dangerous_disable_replay_check()
            .verify_at(&h, BODY, late)
            .is_ok()
    );
}

#[test]
fn custom_replay_window_is_used() {
    let h = hmac_headers();
    let later = OffsetDateTime::from_unix_timestamp(NOW + 600).expect("time");
    let wide = verifier().with_replay_window(email_webhooks::ReplayWindow::symmetric(
        std::time::Duration::from_secs(600),
    ));
    assert!(wide.verify_at(&h, BODY, later).is_ok());
}

/// Each `v1a` candidate costs a SHA-512 pass over the body: a forged header
/// of sixteen made each request sixteen passes per key. The first
/// `MAX_ASYMMETRIC_TRIES` are tried; a genuine sender's come first.
#[test]
fn only_the_first_few_v1a_signatures_are_tried() {
    use email_webhooks::scheme::standard::MAX_ASYMMETRIC_TRIES;
    let sig = StandardWebhooksSigner::new(ed_key(1))
        .sign("msg_1", NOW, BODY)
        .expect("sign");
    let bogus = format!("v1a,{}", "A".repeat(86) + "==");
    let header = |before: usize| {
        let mut entries = vec![bogus.clone(); before];
        entries.push(sig.clone());
        [
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", entries.join(" ")),
        ]
    };
    let v = StandardWebhooks::new(ed_key(1).public_key().clone());
    assert!(
        v.verify_at(&header(MAX_ASYMMETRIC_TRIES - 1), BODY, now())
            .is_ok()
    );
    assert_eq!(
        v.verify_at(&header(MAX_ASYMMETRIC_TRIES), BODY, now())
            .map_err(|e| e.code())
            .err(),
        Some("invalid_signature")
    );
}
