//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz_targets/`
//! and by `tests/fuzz_corpus.rs`, which replays the committed corpus and
//! every saved crash on stable Rust.
//!
//! Inputs are split on `\n` into header values and a body, so one byte string
//! reaches every field. Each function must never panic; where a property can
//! be checked (a signature just made must verify), it is asserted.

use base64::Engine as _;
use email_webhooks::Configure as _;
use email_webhooks::provider::mailgun::{self, MailgunVerifier};
use email_webhooks::provider::postmark::{self, PostmarkVerifier};
use email_webhooks::provider::resend::{self, ResendVerifier};
use email_webhooks::provider::sendgrid::{
    self, SendgridPublicKey, SendgridSigner, SendgridVerifier,
};
use email_webhooks::provider::ses;
use email_webhooks::provider::sns::{
    SigningCertUrl, SnsCertificate, SnsEnvelope, SnsVerifier, StaticCertificates,
};
use email_webhooks::provider::{Settings, Simulation};
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::standard::{
    SigningKey, StandardWebhooks, StandardWebhooksSigner, VerifyingKey,
};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{
    BasicAuth, Ed25519PublicKey, Ed25519SigningKey, EmailEvent, EventKind, Limits, Request, Secret,
};
use time::OffsetDateTime;

/// The fixed "now" of every harness: 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The first `N` newline-separated fields, and the rest as the body.
fn fields<const N: usize>(data: &[u8]) -> ([&[u8]; N], &[u8]) {
    let mut out = [&[][..]; N];
    let mut rest = data;
    for slot in &mut out {
        if let Some(i) = rest.iter().position(|&b| b == b'\n') {
            *slot = &rest[..i];
            rest = &rest[i + 1..];
        } else {
            *slot = rest;
            rest = &[];
        }
    }
    (out, rest)
}

fn secret(text: &str) -> Secret {
    Secret::from_bytes(text).unwrap_or_else(|_| unreachable!("non-empty literal"))
}

/// Small limits so the fuzzer reaches the limit checks quickly.
fn limits() -> Limits {
    Limits::default()
        .with_max_body_bytes(4096)
        .with_max_header_bytes(512)
        .with_max_signature_entries(8)
        .with_max_form_params(16)
        .with_max_recipients_per_event(4)
}

/// Standard Webhooks: id, timestamp, signature header, body; both header
/// spellings; HMAC and Ed25519 keys. Then the round-trip property: what the
/// signer signs, the verifier accepts.
pub(crate) fn standard_webhooks(data: &[u8]) {
    let ([id, ts, sig, alias], body) = fields::<4>(data);
    let public = Ed25519SigningKey::from_seed([7; 32]).map_or_else(
        |_| Ed25519PublicKey::from_bytes([0; 32]),
        |k| k.public_key().clone(),
    );
    let verifier = StandardWebhooks::new(secret("fuzz-key"))
        .with_key(public)
        .with_limits(limits());
    let prefix = if alias.first() == Some(&b's') {
        "svix"
    } else {
        "webhook"
    };
    let headers: [(String, &[u8]); 3] = [
        (format!("{prefix}-id"), id),
        (format!("{prefix}-timestamp"), ts),
        (format!("{prefix}-signature"), sig),
    ];
    let _ = verifier.verify_at(&headers, body, now());

    if let Ok(id) = std::str::from_utf8(id) {
        if id.len() <= 256 && body.len() <= 4096 {
            let signer = StandardWebhooksSigner::new(secret("fuzz-key"));
            if let Ok(signed) = signer.headers(id, NOW, body) {
                let result = verifier.verify_at(&signed, body, now());
                assert!(result.is_ok(), "a fresh signature must verify: {result:?}");
            }
        }
    }
}

/// Stripe: the `Stripe-Signature` grammar, and the round trip.
pub(crate) fn stripe(data: &[u8]) {
    let ([header], body) = fields::<1>(data);
    let verifier = StripeVerifier::new(secret("fuzz-key")).with_limits(limits());
    let _ = verifier.verify_at(&[("Stripe-Signature", header)], body, now());

    if body.len() <= 4096 {
        if let Ok(value) = verifier.sign(NOW, body) {
            let headers = [("Stripe-Signature", value)];
            let result = verifier.verify_at(&headers, body, now());
            assert!(result.is_ok(), "a fresh signature must verify: {result:?}");
        }
    }
}

/// GitHub, Slack and Shopify: prefixes, hex and base64 signatures,
/// timestamps.
pub(crate) fn hmac_presets(data: &[u8]) {
    let ([sig, sha1, ts], body) = fields::<3>(data);
    let github = GitHubVerifier::new(secret("fuzz-key")).with_limits(limits());
    let _ = github.verify(&[("X-Hub-Signature-256", sig)], body);
    let _ = github.verify(&[("X-Hub-Signature", sha1)], body);
    let slack = slack::verifier(secret("fuzz-key")).with_limits(limits());
    let _ = slack.verify_at(
        &[
            ("X-Slack-Signature", sig),
            ("X-Slack-Request-Timestamp", ts),
        ],
        body,
        now(),
    );
    let shopify = shopify::verifier(secret("fuzz-key")).with_limits(limits());
    let _ = shopify.verify_at(&[("X-Shopify-Hmac-Sha256", sig)], body, now());
}

/// Twilio: the URL (ports, query, bodySHA256), content type, form decoding.
/// Round trip for form bodies the signer accepts.
pub(crate) fn twilio(data: &[u8]) {
    let ([url, content_type, sig], body) = fields::<3>(data);
    let Ok(url) = std::str::from_utf8(url) else {
        return;
    };
    let verifier = TwilioVerifier::new(secret("fuzz-key")).with_limits(limits());
    let headers = [("X-Twilio-Signature", sig), ("Content-Type", content_type)];
    let _ = verifier.verify(&headers, url, body);

    // A URL with `bodySHA256` covers a JSON body by its hash, so the form
    // signer's round trip applies only without it.
    if body.len() <= 4096 && !url.contains("bodySHA256") {
        if let Ok(signature) = verifier.sign(url, body) {
            let form = [
                ("X-Twilio-Signature", signature.as_bytes()),
                ("Content-Type", &b"application/x-www-form-urlencoded"[..]),
            ];
            let result = verifier.verify(&form, url, body);
            assert!(result.is_ok(), "a fresh signature must verify: {result:?}");
        }
    }
}

/// Every key parser: strict, never a panic, never a short key from garbage.
pub(crate) fn secrets(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Secret::from_standard_webhooks(text);
    let _ = Ed25519PublicKey::from_standard_webhooks(text);
    let _ = VerifyingKey::parse(text);
    if let Ok(key) = SigningKey::parse(text) {
        // A key that parses must sign.
        let signed = StandardWebhooksSigner::new(key).sign("msg", NOW, b"{}");
        assert!(signed.is_ok(), "{signed:?}");
    }
}

/// Every event must serialize and yield a key: the CLI and stores rely on it.
/// What every parsed event must satisfy, whatever the input: a key, a
/// timestamp RFC 3339 can write in UTC, and serialization that succeeds
/// (the CLI and every user's logs serialize events).
fn check_events(events: &[EmailEvent]) {
    for event in events {
        assert!(!event.idempotency_key().is_empty());
        if let Some(t) = event.timestamp {
            assert_eq!(t.offset(), time::UtcOffset::UTC);
            assert!((0..=9999).contains(&t.year()), "{t}");
        }
        let json = serde_json::to_string(event);
        assert!(json.is_ok(), "{json:?}");
    }
}

/// SendGrid: the batch parser, the verifier's header handling, key parsing.
pub(crate) fn sendgrid(data: &[u8]) {
    let ([signature, timestamp], body) = fields::<2>(data);
    if let Ok(events) = sendgrid::parse(body) {
        check_events(&events);
    }
    if let Ok(text) = std::str::from_utf8(signature) {
        let _ = SendgridPublicKey::parse(text);
    }
    // The key of the published SendGrid test vector (sendgrid-nodejs).
    let key = SendgridPublicKey::parse(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
    );
    if let Ok(key) = key {
        let verifier = SendgridVerifier::new(key).with_limits(limits());
        let headers = [
            ("X-Twilio-Email-Event-Webhook-Signature", signature),
            ("X-Twilio-Email-Event-Webhook-Timestamp", timestamp),
        ];
        let _ = verifier.verify_at(&headers, body, now());
    }
}

/// Mailgun: JSON envelopes and legacy forms, verification and parsing.
pub(crate) fn mailgun(data: &[u8]) {
    // A legacy form posted as multipart goes through mail-parser.
    leave_mail_parser_panics_to_the_crate();
    let ([content_type], body) = fields::<1>(data);
    let verifier = MailgunVerifier::new(secret("fuzz-key")).with_limits(limits());
    let headers = [("Content-Type", content_type)];
    let _ = verifier.verify_at(&headers, body, now());
    if let Ok((events, token, _)) = verifier.verify_and_parse_with_token_at(&headers, body, now()) {
        assert!(token.len() <= limits().max_header_bytes);
        check_events(&events);
    }
    // `parse_request` reads a legacy multipart form by its content type.
    for events in [
        mailgun::parse(body),
        mailgun::parse_form(body),
        mailgun::parse_request(&headers, body),
    ]
    .into_iter()
    .flatten()
    {
        check_events(&events);
    }
}

/// Postmark: the record parser and the basic-auth guard.
pub(crate) fn postmark(data: &[u8]) {
    let ([authorization], body) = fields::<1>(data);
    if let Ok(events) = postmark::parse(body) {
        check_events(&events);
    }
    if let Ok(auth) = BasicAuth::new("fuzz", "pass") {
        let verifier = PostmarkVerifier::new(auth).with_limits(limits());
        let _ = verifier.verify(&[("Authorization", authorization)], body);
    }
}

/// Resend: verification on svix headers and the event parser.
pub(crate) fn resend(data: &[u8]) {
    let ([id, ts, sig], body) = fields::<3>(data);
    let headers = [
        ("svix-id", id),
        ("svix-timestamp", ts),
        ("svix-signature", sig),
    ];
    let verifier = ResendVerifier::new(secret("fuzz-key")).with_limits(limits());
    let _ = verifier.verify_at(&headers, body, now());
    if let Ok(events) = resend::parse(&headers, body) {
        check_events(&events);
    }
}

/// SNS and SES: the envelope, the string to sign, certificate URLs and
/// certificates, verification against the test certificate, SES events.
pub(crate) fn sns(data: &[u8]) {
    let ([message_type, cert_url], body) = fields::<2>(data);
    if let Ok(url) = std::str::from_utf8(cert_url) {
        let _ = SigningCertUrl::parse(url);
    }
    let _ = SnsCertificate::parse(cert_url);
    if let Ok(envelope) = SnsEnvelope::parse(body) {
        let _ = envelope.string_to_sign();
        let _ = envelope
            .signing_cert_url
            .as_deref()
            .map(SigningCertUrl::parse);
        let _ = envelope.check_unambiguous();
        for events in [
            ses::events(&envelope),
            ses::events_within(&envelope, &limits()),
        ]
        .into_iter()
        .flatten()
        {
            check_events(&events);
        }
        if let Ok(events) = ses::events_within(&envelope, &limits()) {
            assert!(events.len() <= limits().max_recipients_per_event.max(1));
        }
    }
    if let Ok(events) = ses::parse(body) {
        check_events(&events);
    }
    if let Ok(cert) = SnsCertificate::parse(include_bytes!("../tests/data/sns-test-cert.pem")) {
        let verifier = SnsVerifier::dangerous_accept_any_topic(StaticCertificates::new())
            .dangerous_disable_replay_check()
            .with_limits(limits());
        let headers = [("x-amz-sns-message-type", message_type)];
        let _ = verifier.verify_with_certificate_at(&headers, body, &cert, now());
    }
}

/// Settings for every registered provider: what the receiver is built with
/// and what the simulator signs with. The same fixed credentials each run,
/// except SendGrid's key pair, made once per process.
fn registry_settings(provider: email_webhooks::Provider) -> Option<(Settings, Settings)> {
    use email_webhooks::Provider as P;
    static SENDGRID: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let with = |f: &dyn Fn(&mut Settings)| {
        let mut s = Settings::new();
        s.limits = limits();
        f(&mut s);
        s
    };
    Some(match provider {
        P::Sendgrid => {
            let (public, private) = SENDGRID
                .get_or_init(|| {
                    let (signer, pkcs8) = SendgridSigner::generate().ok()?;
                    Some((signer.public_key().ok()?.to_base64_der(), b64(&pkcs8)))
                })
                .clone()?;
            (
                with(&|s| s.keys.push(public.clone())),
                with(&|s| s.keys.push(private.clone())),
            )
        }
        P::Ses => (
            with(&|s| {
                s.keys
                    .push(String::from_utf8_lossy(SNS_TEST_CERT).into_owned());
                s.topics.push(SNS_TEST_TOPIC.to_owned());
            }),
            with(&|s| {
                s.keys.push(b64(SNS_TEST_KEY));
                s.topics.push(SNS_TEST_TOPIC.to_owned());
            }),
        ),
        P::Resend => {
            let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
            (
                with(&|s| s.secrets.push(whsec.to_owned())),
                with(&|s| s.secrets.push(whsec.to_owned())),
            )
        }
        P::Postal => (
            with(&|s| {
                s.keys
                    .push(String::from_utf8_lossy(POSTAL_PUBLIC).into_owned());
            }),
            with(&|s| s.keys.push(b64(POSTAL_KEY))),
        ),
        P::Mailpace => {
            let public = email_webhooks::Ed25519SigningKey::from_seed([7; 32])
                .ok()
                .map(|k| b64(k.public_key().as_bytes()))?;
            (
                with(&|s| s.keys.push(public.clone())),
                with(&|s| s.keys.push(b64(&[7; 32]))),
            )
        }
        P::Sweego => (
            with(&|s| s.secrets.push(b64(b"fuzz-key"))),
            with(&|s| s.secrets.push(b64(b"fuzz-key"))),
        ),
        P::Postmark | P::Mailjet => (
            with(&|s| s.basic_auth.push("fuzz:pass".to_owned())),
            with(&|s| s.basic_auth.push("fuzz:pass".to_owned())),
        ),
        // A shared secret, and the configured URL for providers that sign
        // it (Mandrill).
        _ => {
            let secret = |s: &mut Settings| {
                s.secrets.push("fuzz-key".to_owned());
                s.url = Some("https://fuzz.example/webhooks/provider".to_owned());
            };
            (with(&secret), with(&secret))
        }
    })
}

const POSTAL_PUBLIC: &[u8] = include_bytes!("../tests/data/postal-test-key-2048.pub.pem");
const POSTAL_KEY: &[u8] = include_bytes!("../tests/data/postal-test-key-2048.pk8");
const SNS_TEST_CERT: &[u8] = include_bytes!("../tests/data/sns-test-cert.pem");
const SNS_TEST_KEY: &[u8] = include_bytes!("../tests/data/sns-test-key.pk8");
const SNS_TEST_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:fuzz";

/// The registry harness's "now", 2027-01-15, inside the test SNS
/// certificate's validity.
const REGISTRY_NOW: i64 = 1_800_000_000;

fn registry_now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(REGISTRY_NOW).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Every registered provider through the registry. The first byte picks the
/// provider; then `Name: value` header lines up to an empty line (at most
/// 16), then the body. The unverified parser and the provider built from
/// settings must not panic, and every event must serialize. Then the round
/// trip: the provider's own simulator, with the input as the recipient,
/// makes a delivery its provider accepts.
pub(crate) fn providers(data: &[u8]) {
    use futures_util::FutureExt as _;
    // Mailgun's legacy multipart forms go through mail-parser.
    leave_mail_parser_panics_to_the_crate();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let all = email_webhooks::Provider::ALL;
    // EMAIL_WEBHOOKS_FUZZ_PROVIDER=<name> holds a run to one provider (to
    // give a new provider its own fuzzing time); otherwise the first byte
    // picks one.
    let provider = match focus() {
        Some(provider) => provider,
        None => all[usize::from(selector) % all.len()],
    };
    let Some(info) = provider.info() else {
        return;
    };
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut body = rest;
    while headers.len() < 16 {
        let Some(end) = body.iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &body[..end];
        body = &body[end + 1..];
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let name = String::from_utf8_lossy(&line[..colon]).into_owned();
        let value = line
            .get(colon + 1..)
            .unwrap_or_default()
            .trim_ascii_start()
            .to_vec();
        headers.push((name, value));
    }
    let url = format!("https://hooks.example.com/webhooks/{provider}?secret=fuzz-key");
    let request = Request::new(&headers, body)
        .with_url(&url)
        .at(registry_now());
    if let Ok(events) = (info.parse)(&request) {
        for event in &events {
            assert!(
                serde_json::to_string(event).is_ok(),
                "every event serializes"
            );
            let _ = event.idempotency_key();
        }
    }
    let Some((receiver_settings, sender_settings)) = registry_settings(provider) else {
        return;
    };
    let Ok(built) = (info.build)(&receiver_settings) else {
        unreachable!("the fixed settings build every provider")
    };
    let _ = built.receive_boxed(&request).now_or_never();

    // The round trip, for printable recipients of a reasonable size.
    let Ok(recipient) = std::str::from_utf8(body) else {
        return;
    };
    if recipient.is_empty() || recipient.len() > 200 || recipient.chars().any(char::is_control) {
        return;
    }
    for kind in [
        EventKind::Bounced,
        EventKind::Opened,
        EventKind::Delivered,
        EventKind::Inbound,
    ] {
        let simulation = Simulation::new(
            kind,
            recipient,
            "fuzz-event",
            REGISTRY_NOW,
            &sender_settings,
        );
        let Ok(delivery) = (info.simulate)(&simulation) else {
            continue;
        };
        let url = match &delivery.query {
            Some(query) => format!("https://hooks.example.com/webhooks/{provider}?{query}"),
            None => format!("https://hooks.example.com/webhooks/{provider}"),
        };
        let request = Request::new(&delivery.headers, &delivery.body)
            .with_url(&url)
            .at(registry_now());
        let result = built.receive_boxed(&request).now_or_never();
        assert!(
            matches!(&result, Some(Ok(received)) if !received.events.is_empty()),
            "{provider}: a simulated {kind} delivery must be accepted: {result:?}"
        );
        break;
    }
}

/// The provider named by `EMAIL_WEBHOOKS_FUZZ_PROVIDER`, read once.
fn focus() -> Option<email_webhooks::Provider> {
    static FOCUS: std::sync::OnceLock<Option<email_webhooks::Provider>> =
        std::sync::OnceLock::new();
    *FOCUS.get_or_init(|| {
        std::env::var("EMAIL_WEBHOOKS_FUZZ_PROVIDER")
            .ok()
            .and_then(|name| name.parse().ok())
    })
}

/// The handoff's parsers: a queued payload read back by a worker (a
/// corrupted row must be an error, never a panic; what decodes re-encodes
/// to the same event and key), and a client address taken from
/// `X-Forwarded-For` behind a trusted proxy (rate limits, allowlists).
pub(crate) fn handoff(data: &[u8]) {
    use email_webhooks::allowlist::SourceAllowlist;
    use email_webhooks::queue::{decode_event, encode_event};
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(event) = decode_event(text, &["acme"]) {
            let again = encode_event(&event).ok();
            let back = again
                .as_deref()
                .and_then(|t| decode_event(t, &["acme"]).ok());
            assert!(back.is_some(), "a decoded event re-encodes");
            if let Some(back) = back {
                assert_eq!(back.idempotency_key(), event.idempotency_key());
            }
        }
    }
    let proxies = SourceAllowlist::parse(["10.0.0.0/8", "::1/128"])
        .map(|list| list.networks())
        .unwrap_or_default();
    let list = SourceAllowlist::parse(["192.0.2.0/24"])
        .unwrap_or_else(|_| SourceAllowlist::new([]))
        .with_trusted_proxies(proxies);
    let header = String::from_utf8_lossy(data);
    let headers = [("x-forwarded-for", header.as_ref())];
    let peer = std::net::IpAddr::from([10, 0, 0, 1]);
    if let Ok(client) = list.client(peer, &headers[..]) {
        // Never a trusted proxy: the client is the rightmost other address.
        let proxy = match client {
            std::net::IpAddr::V4(v4) => v4.octets()[0] == 10,
            std::net::IpAddr::V6(v6) => v6.is_loopback(),
        };
        assert!(!proxy, "{client} is a trusted proxy");
        assert_eq!(list.check(peer, &headers[..]).is_ok(), list.allows(client));
    }
}

/// Inbound mail: the MIME layer, Postmark's inbound JSON, SendGrid's
/// Inbound Parse form (its boundary taken from the input's first line), and
/// every registry provider's inbound parser. Whatever parses must serialize
/// and give a key; attachment sizes must match their bytes.
/// mail-parser checks its own state with `debug_assert!`, which hostile
/// input can trip (the fuzz builds keep debug assertions). The crate
/// catches such a panic where it calls the parser (`parse_mime`), but
/// libFuzzer's panic hook aborts on any panic, caught or not: a panic
/// raised inside mail-parser is left to the crate's catch, and every other
/// still reaches the previous hook (libFuzzer's abort, or the test
/// harness's report). The stable replay of the corpus checks the catch.
fn leave_mail_parser_panics_to_the_crate() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|at| at.file().contains("/mail-parser-"))
            {
                return;
            }
            previous(info);
        }));
    });
}

pub(crate) fn inbound(data: &[u8]) {
    use email_webhooks::{InboundLimits, InboundMessage, Provider};
    leave_mail_parser_panics_to_the_crate();
    let limits = InboundLimits::default();
    let check = |message: &InboundMessage| {
        let _ = serde_json::to_string(message).expect("an inbound message serializes");
        let _ = message.idempotency_key();
        for attachment in &message.attachments {
            assert_eq!(attachment.size, attachment.content.len());
            let _ = attachment.safe_filename();
        }
    };
    if let Ok(message) = InboundMessage::from_mime(Provider::Sendgrid, data, &limits) {
        check(&message);
    }
    if let Ok(message) = postmark::parse_inbound_within(data, &limits) {
        check(&message);
    }
    let boundary = first_line_boundary(data);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    if let Ok(message) = sendgrid::parse_inbound(&content_type, data, &limits) {
        check(&message);
    }
    for content_type in [content_type.as_str(), "application/x-www-form-urlencoded"] {
        let headers = [("Content-Type", content_type)];
        for provider in Provider::ALL {
            if let Some(inbound) = provider.info().and_then(|info| info.inbound) {
                if let Ok(messages) = (inbound.parse)(&Request::new(&headers, data), &limits) {
                    messages.iter().for_each(check);
                }
            }
        }
    }
}

/// The MIME layer alone: a raw message, and a `multipart/form-data` body
/// (its boundary from the input's first line), as inbound parsers hand
/// them to the MIME parser.
pub(crate) fn inbound_mime(data: &[u8]) {
    use email_webhooks::{InboundLimits, InboundMessage, Provider};
    leave_mail_parser_panics_to_the_crate();
    let limits = InboundLimits::default();
    if let Ok(message) = InboundMessage::from_mime(Provider::Sendgrid, data, &limits) {
        check_inbound(&message);
        assert_eq!(message.raw.as_deref(), Some(data));
    }
    let boundary = first_line_boundary(data);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    if let Ok(message) = sendgrid::parse_inbound(&content_type, data, &limits) {
        check_inbound(&message);
    }
}

/// What holds of every parsed inbound message: it serializes, has a key,
/// and each attachment's size is its bytes' (once fetched).
fn check_inbound(message: &email_webhooks::InboundMessage) {
    let _ = serde_json::to_string(message).expect("an inbound message serializes");
    let _ = message.idempotency_key();
    let fetched = message.pending().next().is_none();
    for attachment in &message.attachments {
        if fetched {
            assert_eq!(attachment.size, attachment.content.len());
        }
        let _ = attachment.safe_filename();
    }
}

/// Serves the same bytes for every reference.
struct AnyContent<'a>(&'a [u8]);

impl email_webhooks::inbound::ContentSource for AnyContent<'_> {
    fn fetch(
        &self,
        content: &email_webhooks::inbound::ContentRef,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, email_webhooks::inbound::FetchError>> + Send
    {
        let bytes = self
            .0
            .get(..content.max_bytes.min(self.0.len()))
            .unwrap_or_default();
        std::future::ready(Ok(bytes.to_vec()))
    }
}

/// One provider's inbound parser: the input up to its first NUL byte is
/// the delivery (read as JSON, a URL-encoded form and a multipart form
/// whose boundary is its first line), the rest what the provider serves
/// for every reference the messages make (fetched and read in). A message
/// that still parses must hold the invariants of [`check_inbound`], and
/// its key must not change by fetching.
pub(crate) fn inbound_provider(provider: email_webhooks::Provider, data: &[u8]) {
    use futures_util::FutureExt as _;
    leave_mail_parser_panics_to_the_crate();
    let limits = email_webhooks::InboundLimits::default();
    let Some(inbound) = provider.info().and_then(|info| info.inbound) else {
        return;
    };
    let (body, fetched) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let boundary = first_line_boundary(body);
    let multipart = format!("multipart/form-data; boundary={boundary}");
    for content_type in [
        "application/json",
        "application/x-www-form-urlencoded",
        multipart.as_str(),
    ] {
        let headers = [("Content-Type", content_type)];
        let Ok(messages) = (inbound.parse)(&Request::new(&headers, body), &limits) else {
            continue;
        };
        for mut message in messages {
            check_inbound(&message);
            let key = message.idempotency_key();
            let done = message.fetch(&AnyContent(fetched), &limits).now_or_never();
            if let Some(Ok(())) = done {
                assert_eq!(message.pending().count(), 0);
                assert_eq!(message.idempotency_key(), key, "fetching changed the key");
                check_inbound(&message);
            }
        }
    }
}

macro_rules! inbound_targets {
    ($($name:ident => $provider:ident,)*) => {$(
        /// [`inbound_provider`] for one provider.
        pub(crate) fn $name(data: &[u8]) {
            inbound_provider(email_webhooks::Provider::$provider, data);
        }
    )*};
}

inbound_targets! {
    inbound_sendgrid => Sendgrid,
    inbound_ses => Ses,
    inbound_postmark => Postmark,
    inbound_resend => Resend,
    inbound_mailjet => Mailjet,
    inbound_mandrill => Mandrill,
    inbound_sparkpost => Sparkpost,
    inbound_brevo => Brevo,
    inbound_mailersend => Mailersend,
    inbound_postal => Postal,
    inbound_mailkite => Mailkite,
}

/// [`inbound_provider`] for Mailgun, and its verified reading, which finds
/// the signature fields by a scan of its own before the form is parsed:
/// refused or read, never a panic.
pub(crate) fn inbound_mailgun(data: &[u8]) {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    inbound_provider(email_webhooks::Provider::Mailgun, data);
    let body = data.split(|&b| b == 0).next().unwrap_or_default();
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("fuzz-key").unwrap());
    let multipart = format!(
        "multipart/form-data; boundary={}",
        first_line_boundary(body)
    );
    let now = time::OffsetDateTime::UNIX_EPOCH;
    for content_type in ["application/x-www-form-urlencoded", multipart.as_str()] {
        let limits = email_webhooks::InboundLimits::default();
        let _ = verifier.verify_and_parse_inbound_at(content_type, body, &limits, now);
    }
}

/// The boundary a form would have if the input's first line were its
/// first delimiter.
fn first_line_boundary(data: &[u8]) -> String {
    data.split(|&b| b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .map(|line| {
            line.trim_end_matches('\r')
                .trim_start_matches('-')
                .to_owned()
        })
        .unwrap_or_default()
}
