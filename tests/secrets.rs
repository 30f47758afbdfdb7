//! Nothing prints a secret or a computed MAC, and the public types can be
//! shared across threads.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::hmac::HmacVerifier;
use email_webhooks::scheme::standard::{
    SigningKey, StandardWebhooks, StandardWebhooksSigner, VerifyingKey,
};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{Ed25519SigningKey, Secret};
use time::OffsetDateTime;

const SECRET: &str = "sup3r-s3cret-value-1234";
/// base64("sup3r-s3cret-value-1234")
const SECRET_B64: &str = "c3VwM3ItczNjcmV0LXZhbHVlLTEyMzQ=";

fn forbidden() -> Vec<String> {
    let hex: String = SECRET
        .bytes()
        .flat_map(|b| {
            let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('?');
            [digit(b >> 4), digit(b & 0xf)]
        })
        .collect();
    vec![
        SECRET.to_owned(),
        SECRET_B64.to_owned(),
        hex,
        "s3cret".to_owned(),
    ]
}

fn assert_clean(text: &str, extra: &[&str]) {
    for f in forbidden()
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        assert!(!text.contains(f), "{text:?} contains {f:?}");
    }
}

fn secret() -> Secret {
    Secret::from_bytes(SECRET).expect("secret")
}

#[test]
fn debug_of_key_types_and_verifiers_never_shows_the_secret() {
    let seed_key = Ed25519SigningKey::from_seed([0x42; 32]).expect("seed");
    let texts = [
        format!("{:?}", secret()),
        format!(
            "{:?}",
            Secret::from_standard_webhooks(&format!("whsec_{SECRET_B64}")).expect("whsec")
        ),
        format!("{seed_key:?}"),
        format!("{:?}", SigningKey::Hmac(secret())),
        format!("{:?}", VerifyingKey::Hmac(secret())),
        format!("{:?}", StandardWebhooks::new(secret())),
        format!("{:?}", StandardWebhooksSigner::new(secret())),
        format!("{:?}", StripeVerifier::new(secret())),
        format!("{:?}", GitHubVerifier::new(secret())),
        format!("{:?}", slack::verifier(secret())),
        format!("{:?}", shopify::verifier(secret())),
        format!("{:?}", TwilioVerifier::new(secret())),
    ];
    let seed_b64 = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    for t in &texts {
        assert_clean(t, &["4242424242", seed_b64]);
        assert!(t.contains("redacted"), "{t}");
    }
}

#[test]
fn debug_of_provider_verifiers_never_shows_a_secret() {
    use email_webhooks::BasicAuth;
    use email_webhooks::provider::mailgun::MailgunVerifier;
    use email_webhooks::provider::postmark::PostmarkVerifier;
    use email_webhooks::provider::resend::ResendVerifier;
    use email_webhooks::provider::sendgrid::SendgridSigner;
    let (signer, pkcs8) = SendgridSigner::generate().expect("key");
    let pkcs8_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pkcs8);
    let texts = [
        format!("{:?}", MailgunVerifier::new(secret())),
        format!("{:?}", ResendVerifier::new(secret())),
        format!(
            "{:?}",
            PostmarkVerifier::new(BasicAuth::new("hook-user", SECRET).expect("auth"))
                .with_secret_header("X-Hook", &secret())
        ),
        format!("{:?}", BasicAuth::new("hook-user", SECRET).expect("auth")),
        format!("{signer:?}"),
    ];
    for t in &texts {
        assert_clean(t, &["hook-user", &pkcs8_b64[..24]]);
        assert!(t.contains("redacted"), "{t}");
    }
}

#[test]
fn errors_never_show_the_secret_or_the_computed_mac() {
    // The request is signed with another key; the MAC the verifier computes
    // with SECRET is what an attacker would want printed.
    let body = br#"{"a":1}"#;
    let now = 1_700_000_000;
    let at = OffsetDateTime::from_unix_timestamp(now).expect("time");
    let ours = StripeVerifier::new(secret()).sign(now, body).expect("sign");
    let computed_mac = ours.split("v1=").nth(1).expect("v1").to_owned();
    let theirs = StripeVerifier::new(Secret::from_bytes("other").expect("k"))
        .sign(now, body)
        .expect("sign");
    let h = [("Stripe-Signature", theirs)];
    let e = StripeVerifier::new(secret())
        .verify_at(&h, body, at)
        .expect_err("wrong key");
    for text in [e.to_string(), format!("{e:?}")] {
        assert_clean(&text, &[&computed_mac, &computed_mac[..16], "{\"a\":1}"]);
    }

    let gh = GitHubVerifier::new(secret()).sign(body).expect("sign");
    let gh_mac = gh[0].1.trim_start_matches("sha256=").to_owned();
    let h = [("X-Hub-Signature-256", "sha256=00".to_owned())];
    let e = GitHubVerifier::new(secret())
        .verify(&h, body)
        .expect_err("bad");
    for text in [e.to_string(), format!("{e:?}")] {
        assert_clean(&text, &[&gh_mac[..16]]);
    }
}

#[test]
fn secret_errors_do_not_echo_the_key() {
    let e = Secret::from_standard_webhooks("whsec_sup3r-s3cret!").expect_err("bad base64");
    let e = email_webhooks::VerifyError::from(e);
    for text in [e.to_string(), format!("{e:?}")] {
        assert_clean(&text, &[]);
    }
}

#[test]
fn public_types_are_send_sync_and_static() {
    fn check<T: Send + Sync + 'static>() {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    check::<Secret>();
    check::<Ed25519SigningKey>();
    check::<email_webhooks::Ed25519PublicKey>();
    check::<StandardWebhooks>();
    check::<StandardWebhooksSigner>();
    check::<StripeVerifier>();
    check::<GitHubVerifier>();
    check::<HmacVerifier>();
    check::<TwilioVerifier>();
    check::<email_webhooks::VerifyError>();
    check::<email_webhooks::SecretError>();
    check::<email_webhooks::Limits>();
    check::<email_webhooks::ReplayWindow>();
    check::<email_webhooks::SystemClock>();
    check::<email_webhooks::FixedClock>();
    check::<email_webhooks::Verified<'static>>();
    check::<email_webhooks::BasicAuth>();
    check::<email_webhooks::EmailEvent>();
    check::<email_webhooks::provider::sendgrid::SendgridVerifier>();
    check::<email_webhooks::provider::sendgrid::SendgridSigner>();
    check::<email_webhooks::provider::mailgun::MailgunVerifier>();
    check::<email_webhooks::provider::postmark::PostmarkVerifier>();
    check::<email_webhooks::provider::resend::ResendVerifier>();
    check::<
        email_webhooks::provider::sns::SnsVerifier<
            email_webhooks::provider::sns::StaticCertificates,
        >,
    >();
    check::<
        email_webhooks::provider::ses::SesVerifier<
            email_webhooks::provider::sns::StaticCertificates,
        >,
    >();
    check::<email_webhooks::provider::sns::SnsCertificate>();
    error::<email_webhooks::ParseError>();
    error::<email_webhooks::Error>();
    error::<email_webhooks::VerifyError>();
    error::<email_webhooks::SecretError>();
}
