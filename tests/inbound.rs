//! Inbound mail: messages written for these tests (tests/inbound/, see its
//! README) through the MIME layer, Postmark's inbound JSON and SendGrid's
//! Inbound Parse form (parsed fields and raw), each provider's negative
//! matrix (no credentials, wrong credentials, oversized, truncated, over
//! the attachment limits), the redelivery key, and the CLI's `--inbound`.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use email_webhooks::inbound::{Address, InboundLimits, InboundMessage};
use email_webhooks::provider::{Settings, Simulation};
use email_webhooks::{Error, EventKind, Provider, Request, VerifyError};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/inbound")
            .join(name),
    )
    .unwrap()
}

fn mime(name: &str) -> InboundMessage {
    InboundMessage::from_mime(Provider::Sendgrid, &data(name), &InboundLimits::default()).unwrap()
}

fn addr(address: &str, name: Option<&str>) -> Address {
    Address::new(Some(address), name)
}

#[test]
fn plain_text_with_spamassassin_headers() {
    let m = mime("plain.eml");
    assert_eq!(m.from, Some(addr("ada@example.com", Some("Ada Lovelace"))));
    assert_eq!(m.to, vec![addr("support@example.org", None)]);
    assert_eq!(m.subject.as_deref(), Some("Plain question"));
    assert_eq!(m.message_id.as_deref(), Some("plain-1@example.com"));
    assert_eq!(m.date.unwrap().unix_timestamp(), 1_796_551_200);
    assert_eq!(
        m.text.as_deref().map(str::trim_end),
        Some("Hello,\r\nis the order shipped?")
    );
    assert_eq!(m.html, None);
    // SpamAssassin headers in a raw message are the sender's to write: not
    // a verdict (Postmark's inbound, which adds its own, reads them).
    assert_eq!((m.spam_detected, m.spam_score), (None, None));
    assert_eq!(
        m.headers[0],
        (
            "From".to_owned(),
            "Ada Lovelace <ada@example.com>".to_owned()
        )
    );
    assert_eq!(m.header("return-path"), Some("<bounces@example.com>"));
    assert!(m.attachments.is_empty());
    assert_eq!(m.raw.as_deref(), Some(&data("plain.eml")[..]));
}

#[test]
fn html_only_and_multipart_alternative() {
    let m = mime("html-only.eml");
    assert_eq!(
        m.html.as_deref().map(str::trim_end),
        Some("<p>Only <b>HTML</b></p>")
    );
    let m = mime("alternative.eml");
    assert_eq!(m.text.as_deref().map(str::trim_end), Some("Plain part"));
    assert_eq!(
        m.html.as_deref().map(str::trim_end),
        Some("<p>HTML part</p>")
    );
    assert_eq!(
        m.from,
        Some(addr("grace@example.com", Some("Grace Hopper")))
    );
    assert_eq!(
        m.to,
        vec![
            addr("a@example.org", None),
            addr("b@example.org", Some("B"))
        ]
    );
    assert_eq!(m.cc, vec![addr("c@example.org", None)]);
    assert!(m.attachments.is_empty());
}

#[test]
fn attachments_inline_images_and_hostile_filenames() {
    let m = mime("attachments.eml");
    assert_eq!(m.attachments.len(), 2, "{:?}", m.attachments);
    let logo = &m.attachments[0];
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert_eq!(logo.content_type.as_deref(), Some("image/png"));
    assert_eq!(logo.content_id.as_deref(), Some("logo@example"));
    assert!(logo.inline);
    assert_eq!(logo.content, b"\x89PNG\r\n\x1a\nfake-image-bytes");
    assert_eq!(logo.size, logo.content.len());
    let pdf = &m.attachments[1];
    assert!(!pdf.inline);
    assert_eq!(pdf.content, b"%PDF-1.4 fake pdf");
    // The sender's name kept as sent; the safe one has no path.
    assert_eq!(pdf.filename.as_deref(), Some("../../etc/invoice.pdf"));
    assert_eq!(pdf.safe_filename().as_deref(), Some("invoice.pdf"));
    assert!(m.html.unwrap().contains("cid:logo@example"));
}

#[test]
fn a_forwarded_message_is_an_attachment() {
    let m = mime("forwarded.eml");
    assert_eq!(m.text.as_deref().map(str::trim_end), Some("See below."));
    assert_eq!(m.attachments.len(), 1);
    let forwarded = &m.attachments[0];
    assert_eq!(forwarded.content_type.as_deref(), Some("message/rfc822"));
    assert_eq!(forwarded.filename.as_deref(), Some("original.eml"));
    let inner = InboundMessage::from_mime(
        Provider::Sendgrid,
        &forwarded.content,
        &InboundLimits::default(),
    )
    .unwrap();
    assert_eq!(inner.subject.as_deref(), Some("Broken"));
    assert_eq!(inner.message_id.as_deref(), Some("orig-1@example.net"));
}

#[test]
fn legacy_charsets_and_encoded_words_are_decoded() {
    let m = mime("latin1.eml");
    assert_eq!(
        m.from,
        Some(addr("francois@example.fr", Some("François Dupré")))
    );
    assert_eq!(m.subject.as_deref(), Some("Ça marche ✓"));
    assert_eq!(
        m.text.as_deref().map(str::trim_end),
        Some("Merci, ça marche très bien.")
    );
}

#[test]
fn mime_limits_refuse_before_the_work() {
    let raw = data("attachments.eml");
    let small = InboundLimits::default().with_max_body_bytes(raw.len() - 1);
    assert!(InboundMessage::from_mime(Provider::Sendgrid, &raw, &small).is_err());
    let few = InboundLimits::default().with_max_decoded_bytes(20);
    assert!(InboundMessage::from_mime(Provider::Sendgrid, &raw, &few).is_err());
    assert!(InboundMessage::from_mime(Provider::Sendgrid, &raw, &InboundLimits::default()).is_ok());
    for hostile in [
        &b""[..],
        b"\xff\xfe\x00",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n",
    ] {
        // A typed error or a message, never a panic.
        let _ = InboundMessage::from_mime(Provider::Sendgrid, hostile, &InboundLimits::default());
    }
}

/// The same message delivered again has the same key; a different message
/// has another, even when a sender reuses its `Message-ID`.
#[test]
fn the_key_is_stable_across_redeliveries_and_never_the_message_id_alone() {
    let first = mime("plain.eml");
    assert_eq!(first.idempotency_key(), mime("plain.eml").idempotency_key());
    assert!(
        first
            .idempotency_key()
            .starts_with("sendgrid:inbound:sha256:")
    );
    let spoof = String::from_utf8(data("plain.eml"))
        .unwrap()
        .replace("is the order shipped?", "cancel my order");
    let spoof = InboundMessage::from_mime(
        Provider::Sendgrid,
        spoof.as_bytes(),
        &InboundLimits::default(),
    )
    .unwrap();
    assert_eq!(spoof.message_id, first.message_id);
    assert_ne!(spoof.idempotency_key(), first.idempotency_key());
}

fn basic(pair: &str) -> (String, String) {
    use base64::Engine as _;
    (
        "Authorization".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ),
    )
}

#[test]
fn postmark_inbound_sample_is_read_field_by_field() {
    let m =
        email_webhooks::provider::postmark::parse_inbound(&data("postmark-inbound.json")).unwrap();
    assert!(
        m.idempotency_key()
            .starts_with("postmark:inbound:id:5c1c9c3e-7a1b-4c3e-9f2a-0d8b6f7e1a42:for:")
    );
    assert_eq!(
        m.envelope_recipient.as_deref(),
        Some("yourhash+ticket-42@inbound.postmarkapp.com")
    );
    assert_eq!(m.envelope_sender.as_deref(), Some("ada@example.com"));
    assert_eq!(m.from, Some(addr("ada@example.com", Some("Ada Lovelace"))));
    assert_eq!(
        m.to,
        vec![addr(
            "yourhash+ticket-42@inbound.postmarkapp.com",
            Some("Support")
        )]
    );
    assert_eq!(m.cc, vec![addr("grace@example.com", None)]);
    assert_eq!(m.subject.as_deref(), Some("Re: Ticket 42"));
    assert_eq!(m.date.unwrap().unix_timestamp(), 1_796_544_900);
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAB-reply-42@mail.example.com")
    );
    assert_eq!(m.stripped_text.as_deref(), Some("Thanks, that fixed it."));
    assert!(m.text.unwrap().contains("> Try again"));
    assert_eq!((m.spam_detected, m.spam_score), (Some(false), Some(-0.2)));
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].content, b"\x89PNG fake screenshot");
    assert!(!m.attachments[0].inline);
    assert_eq!(
        m.attachments[1].content_id.as_deref(),
        Some("logo@example.com")
    );
    assert!(m.attachments[1].inline);
}

#[test]
fn postmark_inbound_refusals() {
    let body = data("postmark-inbound.json");
    let verifier = email_webhooks::provider::postmark::PostmarkVerifier::new(
        email_webhooks::BasicAuth::parse("pm:pass-phrase").unwrap(),
    );
    let limits = InboundLimits::default();
    let ok = verifier
        .verify_and_parse_inbound(&[basic("pm:pass-phrase")], &body, &limits)
        .unwrap();
    assert_eq!(ok.subject.as_deref(), Some("Re: Ticket 42"));
    let none: [(String, String); 0] = [];
    assert!(matches!(
        verifier.verify_and_parse_inbound(&none, &body, &limits),
        Err(Error::Verify(VerifyError::MissingCredentials))
    ));
    assert!(matches!(
        verifier.verify_and_parse_inbound(&[basic("pm:wrong")], &body, &limits),
        Err(Error::Verify(VerifyError::Unauthorized))
    ));
    // Not inbound JSON, cut short, over the limits.
    let parse = email_webhooks::provider::postmark::parse_inbound_within;
    assert!(parse(b"[1,2]", &limits).is_err());
    assert!(parse(br#"{"RecordType":"Delivery"}"#, &limits).is_err());
    assert!(parse(&body[..body.len() / 2], &limits).is_err());
    assert!(parse(&body, &limits.with_max_body_bytes(body.len() - 1)).is_err());
    assert!(parse(&body, &InboundLimits::default().with_max_decoded_bytes(10)).is_err());
    let bad = String::from_utf8(body)
        .unwrap()
        .replacen("\"Content\": \"", "\"Content\": \"!!!", 1);
    assert_ne!(bad.as_bytes(), &data("postmark-inbound.json")[..]);
    assert!(parse(bad.as_bytes(), &limits).is_err());
}

/// When the simulated deliveries are made and checked.
const AT: i64 = 1_796_551_200;

/// A registry provider's inbound delivery, simulated as the provider sends
/// it with `settings`.
fn simulated(
    provider: Provider,
    settings: &Settings,
    tamper: bool,
) -> email_webhooks::provider::Simulated {
    simulated_attempt(provider, settings, tamper, "attempt-1", AT)
}

/// One delivery attempt of the same message: `attempt` and `now` change
/// what each provider signs anew on a retry (Mailgun's token, the times).
fn simulated_attempt(
    provider: Provider,
    settings: &Settings,
    tamper: bool,
    attempt: &str,
    now: i64,
) -> email_webhooks::provider::Simulated {
    let inbound = provider.info().unwrap().inbound.unwrap();
    let settings = sending(provider, settings);
    let mut sim = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "m-1",
        now,
        &settings,
    )
    .attempt(attempt);
    if tamper {
        sim = sim.tampered();
    }
    (inbound.simulate)(&sim).unwrap()
}

/// A request arriving at [`AT`].
#[allow(clippy::ptr_arg)] // `Request::new` takes a sized header collection.
fn at<'a>(headers: &'a Vec<(String, String)>, body: &'a [u8]) -> Request<'a> {
    Request::new(headers, body).at(time::OffsetDateTime::from_unix_timestamp(AT).unwrap())
}

/// The SNS test certificate and its private key (`tests/data/README.md`).
const SNS_CERT: &str = include_str!("data/sns-test-cert.pem");
const SNS_KEY: &[u8] = include_bytes!("data/sns-test-key.pk8");

/// The settings to send with: the same, except that SES signs with the
/// private key of the certificate it is verified with.
fn sending(provider: Provider, settings: &Settings) -> Settings {
    use base64::Engine as _;
    let mut settings = settings.clone();
    let private = match provider {
        Provider::Ses => SNS_KEY,
        Provider::Postal => POSTAL_KEY,
        _ => return settings,
    };
    settings.keys = vec![base64::engine::general_purpose::STANDARD.encode(private)];
    settings
}

/// What providers that post references serve for the simulated message
/// (`m-1` for `support@example.org`).
fn served_content() -> email_webhooks::inbound::StaticContent {
    let mut served = email_webhooks::inbound::StaticContent::new();
    for (url, bytes) in
        email_webhooks::provider::resend::simulated_content("m-1", "support@example.org")
    {
        served = served.with(url, bytes);
    }
    served
}

/// A Postal server's key pair, and another server's public key.
const POSTAL_KEY: &[u8] = include_bytes!("data/postal-test-key-2048.pk8");
const POSTAL_PUBLIC: &str = include_str!("data/postal-test-key-2048.pub.pem");
const OTHER_POSTAL_PUBLIC: &str = include_str!("data/postal-test-key-1024.pub.pem");

/// `settings` for `provider`: Postal is verified with its server's public
/// key (another server's for the other credentials, signing-key
/// `another-key`), SES with the SNS certificate.
fn keyed(provider: Provider, settings: &Settings) -> Settings {
    use base64::Engine as _;
    let mut settings = settings.clone();
    if provider != Provider::Ses {
        // SendGrid with keys is the signed security policy, not basic auth.
        settings.keys.clear();
    }
    if provider == Provider::Resend {
        // A `whsec_` secret of the signing key's bytes.
        settings.secrets = settings
            .secrets
            .iter()
            .map(|s| {
                format!(
                    "whsec_{}",
                    base64::engine::general_purpose::STANDARD.encode(s)
                )
            })
            .collect();
    }
    if provider == Provider::Postal {
        let other = settings.secrets.first().is_some_and(|s| s == "another-key");
        settings.keys = vec![
            if other {
                OTHER_POSTAL_PUBLIC
            } else {
                POSTAL_PUBLIC
            }
            .to_owned(),
        ];
    }
    settings
}

/// Each provider's credentials: basic auth for those that use it, a
/// signing key for those that sign, SES's certificate and a topic (`key`
/// names it, so that other credentials are another topic).
fn credentials(pair: &str, key: &str) -> Settings {
    let mut settings = Settings::new();
    settings.basic_auth.push(pair.to_owned());
    settings.secrets.push(key.to_owned());
    settings.keys.push(SNS_CERT.to_owned());
    settings
        .topics
        .push(format!("arn:aws:sns:us-east-1:123456789012:{key}"));
    // Where the provider signs the URL it calls.
    settings.url = Some("https://hooks.example.com/webhooks/inbound".to_owned());
    settings
}

#[test]
fn every_inbound_provider_round_trips_and_refuses_the_negative_matrix() {
    let (base, wrong_base) = (
        credentials("user:pass-phrase", "signing-key"),
        credentials("user:another-pass", "another-key"),
    );
    let limits = InboundLimits::default();
    let with_inbound: Vec<Provider> = Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.info().is_some_and(|i| i.inbound.is_some()))
        .collect();
    for wanted in [
        Provider::Ses,
        Provider::Postmark,
        Provider::Sendgrid,
        Provider::Mailgun,
        Provider::Mandrill,
        Provider::Mailkite,
        Provider::Sparkpost,
        Provider::Mailersend,
        Provider::Postal,
        Provider::Mailjet,
        Provider::Brevo,
        Provider::Resend,
    ] {
        assert!(with_inbound.contains(&wanted), "{wanted}");
    }
    for provider in with_inbound {
        let (settings, wrong) = (keyed(provider, &base), keyed(provider, &wrong_base));
        let inbound = provider.info().unwrap().inbound.unwrap();
        let delivery = simulated(provider, &settings, false);
        let request = at(&delivery.headers, &delivery.body);
        let mut messages = inbound
            .verify(&settings, &request, &limits)
            .unwrap()
            .unwrap();
        assert_eq!(messages.len(), 1, "{provider}");
        // Resend's content is fetched from its API: served here as its API
        // would serve it.
        let served = served_content();
        let fetched = (inbound.parse)(&request, &limits).unwrap();
        for message in &mut messages {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(message.fetch(&served, &limits))
                .unwrap();
        }
        let m = &messages[0];
        // MailKite, Brevo and Resend post no envelope: the recipient is in
        // `to`, and Resend's first `To` is no envelope recipient.
        if provider == Provider::Resend {
            assert_eq!(m.envelope_recipient, None);
        }
        let recipient = if matches!(
            provider,
            Provider::Mailkite | Provider::Brevo | Provider::Resend
        ) {
            m.to.first().and_then(|a| a.address.as_deref())
        } else {
            m.envelope_recipient.as_deref()
        };
        assert_eq!(recipient, Some("support@example.org"), "{provider}");
        assert_eq!(
            m.from.as_ref().and_then(|a| a.address.as_deref()),
            Some("customer@example.net"),
            "{provider}"
        );
        assert_eq!(m.subject.as_deref(), Some("Re: your order"), "{provider}");
        assert!(
            m.text.as_deref().is_some_and(|t| t.starts_with("Thanks!")),
            "{provider}"
        );
        // MailKite posts links to its attachments, Brevo tokens to fetch
        // them by (`brevo_inbound_items_and_attachments_by_token`).
        if !matches!(provider, Provider::Mailkite | Provider::Brevo) {
            assert_eq!(m.attachments.len(), 1, "{provider}");
            assert_eq!(m.attachments[0].content, b"order 42", "{provider}");
            assert_eq!(
                m.attachments[0].filename.as_deref(),
                Some("receipt.txt"),
                "{provider}"
            );
        }
        // The unverified parser reads the same (what to fetch included).
        let mut unverified = fetched;
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(unverified[0].fetch(&served, &limits))
            .unwrap();
        assert_eq!(unverified[0], *m, "{provider}");
        // Redelivered a minute later, signed anew: the same key.
        let again = simulated_attempt(provider, &settings, false, "attempt-2", AT + 60);
        let again = (inbound.parse)(&at(&again.headers, &again.body), &limits).unwrap();
        assert_eq!(
            again[0].idempotency_key(),
            m.idempotency_key(),
            "{provider}"
        );
        refusals(provider, &settings, &wrong, &delivery);
        // Missing settings are a setup error, not a refusal.
        assert!(
            inbound.verify(&Settings::new(), &request, &limits).is_err(),
            "{provider}"
        );
    }
}

/// The negative matrix of one provider's inbound delivery: other
/// credentials, tampered, unsigned, stale (where a time is signed),
/// oversized, cut short.
fn refusals(
    provider: Provider,
    settings: &Settings,
    wrong: &Settings,
    delivery: &email_webhooks::provider::Simulated,
) {
    let inbound = provider.info().unwrap().inbound.unwrap();
    let limits = InboundLimits::default();
    let request = at(&delivery.headers, &delivery.body);
    // Other credentials, tampered.
    for (name, settings_used, delivery) in [
        (
            "other credentials",
            wrong,
            simulated(provider, settings, false),
        ),
        ("tampered", settings, simulated(provider, settings, true)),
    ] {
        let result = inbound.verify(
            settings_used,
            &at(&delivery.headers, &delivery.body),
            &limits,
        );
        assert!(
            matches!(result, Ok(Err(Error::Verify(_)))),
            "{provider} {name}: {result:?}"
        );
    }
    // Unsigned: no Authorization header, or no signature field.
    let bare: Vec<(String, String)> = delivery
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k != "authorization" && !k.contains("signature") && !k.contains("token")
        })
        .cloned()
        .collect();
    let unsigned_body = String::from_utf8_lossy(&delivery.body)
        .replace("name=\"signature\"", "name=\"unsigned\"")
        .replace("\"Signature\"", "\"Unsigned\"");
    let result = inbound.verify(settings, &at(&bare, unsigned_body.as_bytes()), &limits);
    assert!(
        matches!(result, Ok(Err(Error::Verify(_)))),
        "{provider} unsigned: {result:?}"
    );
    // Stale, where the provider signs a time.
    // Mailgun's window spans its 8 hours of retries (a retry may keep the
    // first signature): 10 hours late is past it.
    let late = if provider == Provider::Mailgun {
        36_000
    } else {
        3_600
    };
    let later = Request::new(&delivery.headers, &delivery.body)
        .at(time::OffsetDateTime::from_unix_timestamp(AT + late).unwrap());
    if matches!(provider, Provider::Mailgun | Provider::Mailkite) {
        assert!(matches!(
            inbound.verify(settings, &later, &limits),
            Ok(Err(Error::Verify(_)))
        ));
    }
    // Oversized: refused as such (413) before it is authenticated, signed
    // or not. Truncated: refused.
    let small = InboundLimits::default().with_max_body_bytes(delivery.body.len() / 2);
    for oversized in [request, at(&bare, unsigned_body.as_bytes())] {
        let result = inbound.verify(settings, &oversized, &small);
        assert!(
            matches!(
                result,
                Ok(Err(Error::Verify(
                    email_webhooks::VerifyError::BodyTooLarge { .. }
                )))
            ),
            "{provider}: {result:?}"
        );
    }
    let cut = &delivery.body[..delivery.body.len() - 20];
    assert!(
        (inbound.parse)(&at(&delivery.headers, cut), &limits).is_err(),
        "{provider}"
    );
}

/// Mailgun's raw mode (`body-mime`) and a URL-encoded route post (no
/// attachments), both signed in the form.
#[test]
fn mailgun_routes_raw_and_url_encoded() {
    let verifier = mailgun_verifier();
    let signature = mailgun_signature(&verifier, AT, "t0k3n");
    let now = time::OffsetDateTime::from_unix_timestamp(AT).unwrap();
    let limits = InboundLimits::default();
    let raw = String::from_utf8(data("alternative.eml")).unwrap();
    let form = format!(
        "timestamp={AT}&token=t0k3n&signature={signature}&recipient=in%40example.org&sender=a%40example.com&body-mime={}",
        common::form_encode(&raw)
    );
    let m = verifier
        .verify_and_parse_inbound_at(
            "application/x-www-form-urlencoded",
            form.as_bytes(),
            &limits,
            now,
        )
        .unwrap();
    assert_eq!(m.envelope_recipient.as_deref(), Some("in@example.org"));
    assert_eq!(m.envelope_sender.as_deref(), Some("a@example.com"));
    assert_eq!(m.subject.as_deref(), Some("Alternative"));
    assert_eq!(
        m.html.as_deref().map(str::trim_end),
        Some("<p>HTML part</p>")
    );
    // Parsed fields, URL-encoded: the headers list kept in order.
    let headers = r#"[["From","Ada <ada@example.com>"],["To","in@example.org"],["Subject","Hi"],["X-Mailgun-Sflag","Yes"],["X-Mailgun-Sscore","7.5"]]"#;
    let form = format!(
        "timestamp={AT}&token=t0k3n&signature={signature}&recipient=in%40example.org&message-headers={}&body-plain=Hello&stripped-text=Hello",
        common::form_encode(headers)
    );
    let m = verifier
        .verify_and_parse_inbound_at(
            "application/x-www-form-urlencoded",
            form.as_bytes(),
            &limits,
            now,
        )
        .unwrap();
    assert_eq!(
        m.headers[0],
        ("From".to_owned(), "Ada <ada@example.com>".to_owned())
    );
    assert_eq!(m.from, Some(addr("ada@example.com", Some("Ada"))));
    assert_eq!((m.spam_detected, m.spam_score), (Some(true), Some(7.5)));
    assert_eq!(m.stripped_text.as_deref(), Some("Hello"));
    // The same form with a forged signature is refused.
    let forged = form.replace(&signature, &"0".repeat(64));
    assert!(
        verifier
            .verify_and_parse_inbound_at(
                "application/x-www-form-urlencoded",
                forged.as_bytes(),
                &limits,
                now
            )
            .is_err()
    );
}

/// SendGrid's raw mode: the whole message in the `email` field.
#[test]
fn sendgrid_inbound_raw_mode_parses_the_mime() {
    let raw = String::from_utf8(data("attachments.eml")).unwrap();
    let body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{{\"to\":[\"in@parse.example.org\"],\"from\":\"ada@example.com\"}}\r\n--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n{raw}\r\n--b--\r\n"
    );
    let m = email_webhooks::provider::sendgrid::parse_inbound(
        "multipart/form-data; boundary=b",
        body.as_bytes(),
        &InboundLimits::default(),
    )
    .unwrap();
    assert_eq!(
        m.envelope_recipient.as_deref(),
        Some("in@parse.example.org")
    );
    assert_eq!(m.subject.as_deref(), Some("Files"));
    assert_eq!(m.attachments.len(), 2);
    assert!(m.raw.is_some());
    // Too many files for the limits; a body that is no form.
    let parse = |ct: &str, body: &[u8]| {
        email_webhooks::provider::sendgrid::parse_inbound(ct, body, &InboundLimits::default())
    };
    assert!(parse("application/json", b"{}").is_err());
    assert!(parse("multipart/form-data; boundary=b", b"--b--\r\n").is_err());
    assert!(parse("multipart/form-data", body.as_bytes()).is_err());
}

#[cfg(feature = "cli")]
#[test]
#[allow(clippy::too_many_lines)] // One walk through parse, send and verify.
fn the_cli_parses_and_verifies_inbound_mail() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_email-webhooks");
    let dir = std::env::temp_dir().join(format!("email-webhooks-inbound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/inbound/postmark-inbound.json");
    let out = Command::new(bin)
        .args(["parse", "--provider", "postmark", "--inbound", "--body"])
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let parsed = json(&out);
    assert!(
        parsed["messages"][0]["idempotency_key"]
            .as_str()
            .is_some_and(|key| key
                .starts_with("postmark:inbound:id:5c1c9c3e-7a1b-4c3e-9f2a-0d8b6f7e1a42:for:"))
    );
    assert_eq!(
        parsed["messages"][0]["attachments"][1]["content_id"],
        "logo@example.com"
    );
    for (provider, flag, good, bad) in [
        (
            "postmark",
            "--basic-auth",
            "u:pass-phrase",
            "u:another-pass",
        ),
        (
            "sendgrid",
            "--basic-auth",
            "u:pass-phrase",
            "u:another-pass",
        ),
        ("mailgun", "--secret", "signing-key", "another-key"),
    ] {
        let out = Command::new(bin)
            .args([
                "send",
                "--provider",
                provider,
                "--inbound",
                flag,
                good,
                "--recipient",
                "in@example.org",
            ])
            .args(["--to", "http://127.0.0.1:9/webhooks/x/inbound", "--print"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let request = json(&out);
        let file = dir.join(format!("{provider}.body"));
        std::fs::write(&file, request["body"].as_str().unwrap()).unwrap();
        let headers: Vec<String> = request["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap()))
            .collect();
        let verify = |pair: &str| {
            let mut command = Command::new(bin);
            command
                .args([
                    "verify",
                    "--scheme",
                    provider,
                    "--inbound",
                    flag,
                    pair,
                    "--body",
                ])
                .arg(&file);
            for header in &headers {
                command.args(["--header", header]);
            }
            command.output().unwrap()
        };
        let out = verify(good);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{provider}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let verified = json(&out);
        assert_eq!(verified["valid"], true);
        assert_eq!(
            verified["messages"][0]["envelope_recipient"], "in@example.org",
            "{provider}"
        );
        assert!(
            verified["messages"][0]["idempotency_key"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{provider}:inbound:"))
        );
        let out = verify(bad);
        assert_eq!(out.status.code(), Some(1), "{provider}");
        let code = json(&out)["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            code == "unauthorized" || code == "invalid_signature",
            "{provider}: {code}"
        );
    }
    // A provider without an inbound parser says which have one.
    let out = Command::new(bin)
        .args(["parse", "--provider", "getresponse", "--inbound"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("postmark"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SparkPost's relay token: an empty header never matches, and an empty
/// configured token is a setup error, not a key that accepts anything.
#[test]
fn sparkpost_relay_tokens_are_never_empty() {
    let inbound = Provider::Sparkpost.info().unwrap().inbound.unwrap();
    let mut settings = Settings::new();
    settings.secrets.push("relay-token".to_owned());
    let delivery = simulated(Provider::Sparkpost, &settings, false);
    let limits = InboundLimits::default();
    let mut empty = delivery.headers.clone();
    for (name, value) in &mut empty {
        if name.eq_ignore_ascii_case("X-MessageSystems-Webhook-Token") {
            value.clear();
        }
    }
    let result = inbound.verify(&settings, &at(&empty, &delivery.body), &limits);
    assert!(
        matches!(result, Ok(Err(Error::Verify(VerifyError::Unauthorized)))),
        "{result:?}"
    );
    let mut blank = Settings::new();
    blank.secrets.push(String::new());
    assert!(
        inbound
            .verify(&blank, &at(&empty, &delivery.body), &limits)
            .is_err()
    );
    let ok = inbound
        .verify(&settings, &at(&delivery.headers, &delivery.body), &limits)
        .unwrap()
        .unwrap();
    assert_eq!(
        ok[0].envelope_sender.as_deref(),
        Some("customer@example.net")
    );
}

/// SendGrid posts each parsed field in the message's own charset and says
/// which in `charsets`: a Latin-1 text body is decoded as Latin-1.
#[test]
fn sendgrid_fields_are_decoded_in_the_charsets_it_declares() {
    let mut body = Vec::new();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nFrom: a@example.com\nSubject: x\n\r\n");
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nMerci, \xe7a marche tr\xe8s bien.\r\n");
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nR\xe9ponse\r\n",
    );
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=\"charsets\"\r\n\r\n{\"text\":\"iso-8859-1\",\"subject\":\"iso-8859-1\",\"from\":\"UTF-8\"}\r\n--b--\r\n",
    );
    let m = email_webhooks::provider::sendgrid::parse_inbound(
        "multipart/form-data; boundary=b",
        &body,
        &InboundLimits::default(),
    )
    .unwrap();
    assert_eq!(m.text.as_deref(), Some("Merci, ça marche très bien."));
    // The subject from the headers field wins; the field is decoded too.
    assert_eq!(m.subject.as_deref(), Some("x"));
}

/// A message's attachments: each one's filename and bytes.
fn files(m: &InboundMessage) -> Vec<(Option<&str>, &[u8])> {
    m.attachments
        .iter()
        .map(|a| (a.filename.as_deref(), a.content.as_slice()))
        .collect()
}

/// A `text/*` file keeps its bytes (mail-parser would give it as UTF-8
/// text), a file with an empty `filename=""` is still a file, and an
/// epilogue after the closing boundary (RFC 2046) is no reason to refuse
/// the form.
#[test]
fn form_files_keep_their_bytes_and_empty_filenames_and_epilogues_are_read() {
    let mut body = Vec::new();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nFrom: a@example.com\nSubject: x\n\r\n");
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"data.csv\"\r\nContent-Type: text/csv\r\n\r\ncaf\xe9;1\r\n");
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"attachment2\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\nxyz\r\n");
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"x;filename=y\"\r\n\r\na field, not a file\r\n");
    body.extend_from_slice(b"--b--\r\nAn epilogue, which a parser ignores.\r\n");
    let m = email_webhooks::provider::sendgrid::parse_inbound(
        "multipart/form-data; boundary=b",
        &body,
        &InboundLimits::default(),
    )
    .unwrap();
    assert_eq!(
        files(&m),
        [
            (Some("data.csv"), b"caf\xe9;1".as_slice()),
            (None, b"xyz".as_slice())
        ]
    );
    assert_eq!(m.attachments[0].size, 6);
}

/// Attachments of a raw message keep their bytes whatever their type and
/// charset: only the transfer encoding (base64, quoted-printable) is undone.
#[test]
fn mime_text_attachments_keep_their_bytes() {
    let raw = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n\
--m\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Disposition: attachment; filename=\"note.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\nY2Fm6Q==\r\n\
--m\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"data.csv\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9;1=\r\n;2\r\n\
--m\r\nContent-Type: text/calendar\r\nContent-Disposition: attachment; filename=\"a.ics\"\r\n\r\nBEGIN:VCALENDAR\xff\r\n\
--m--\r\n";
    let m = InboundMessage::from_mime(Provider::Sendgrid, raw, &InboundLimits::default()).unwrap();
    assert_eq!(m.text.as_deref(), Some("See attached."));
    assert_eq!(
        files(&m),
        [
            (Some("note.txt"), b"caf\xe9".as_slice()),
            (Some("data.csv"), b"caf\xe9;1;2".as_slice()),
            (Some("a.ics"), b"BEGIN:VCALENDAR\xff".as_slice()),
        ]
    );
}

/// MailKite's attachments are signed links on its API: each is an
/// attachment whose bytes the content source fetches, within the announced
/// size; a link to another host, or announced sizes over the limit, are
/// refused before anything is fetched.
#[tokio::test]
async fn mailkite_attachments_are_fetched_from_their_links() {
    use email_webhooks::inbound::StaticContent;
    use email_webhooks::provider::mailkite::parse_inbound;
    let url = "https://api.mailkite.dev/att/2Hk9/0?exp=1765000000&sig=abc";
    let body = |url: &str, size: u64| {
        serde_json::json!({"id": "msg_2Hk9", "type": "email.received",
            "from": {"address": "ada@example.com"}, "to": [{"address": "support@example.org"}],
            "subject": "PO", "text": "attached", "attachments": [
                {"id": "msg_2Hk9:0", "filename": "po.pdf", "contentType": "application/pdf",
                 "size": size, "url": url}]})
        .to_string()
    };
    let limits = InboundLimits::default();
    let mut message = parse_inbound(body(url, 4).as_bytes(), &limits).unwrap();
    assert_eq!(message.pending().count(), 1);
    assert_eq!(message.pending().next().unwrap().url, url);
    message
        .fetch(&StaticContent::new().with(url, b"%PDF".to_vec()), &limits)
        .await
        .unwrap();
    let a = &message.attachments[0];
    assert_eq!(
        (
            a.filename.as_deref(),
            a.content_type.as_deref(),
            &a.content[..]
        ),
        (Some("po.pdf"), Some("application/pdf"), &b"%PDF"[..])
    );
    // More than announced: refused, the provider sends it again.
    let mut message = parse_inbound(body(url, 3).as_bytes(), &limits).unwrap();
    let error = message
        .fetch(&StaticContent::new().with(url, b"%PDF".to_vec()), &limits)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "content_too_large");
    for foreign in [
        "https://evil.example/att/0",
        "http://api.mailkite.dev/att/0",
        "https://api.mailkite.dev.evil.example/att/0",
        "https://api.mailkite.dev/",
        "https://api.mailkite.dev/att/0#x",
    ] {
        assert!(
            parse_inbound(body(foreign, 4).as_bytes(), &limits).is_err(),
            "{foreign}"
        );
    }
    let small = InboundLimits::default().with_max_decoded_bytes(3);
    assert!(parse_inbound(body(url, 4).as_bytes(), &small).is_err());
    // Links with a dot segment, an escape or user info: refused.
    for odd in [
        "https://api.mailkite.dev/att/../v1/account",
        "https://api.mailkite.dev/att/%2e%2e/x",
        "https://api.mailkite.dev/att/./0",
        "https://api.mailkite.dev/@evil.example/x",
    ] {
        assert!(
            parse_inbound(body(odd, 4).as_bytes(), &limits).is_err(),
            "{odd}"
        );
    }
    // Attachments without a size are bounded by the fetch, not refused.
    let mut doc: serde_json::Value = serde_json::from_str(&body(url, 4)).unwrap();
    let listed = doc["attachments"][0].clone();
    doc["attachments"] = serde_json::json!([listed, listed]);
    for a in doc["attachments"].as_array_mut().unwrap() {
        a.as_object_mut().unwrap().remove("size");
    }
    let two = parse_inbound(doc.to_string().as_bytes(), &limits).unwrap();
    assert_eq!(two.pending().count(), 2);
    // Without the message's id the key would digest the attachments'
    // bytes, which are fetched only after the message is claimed: two
    // messages differing only in them would share a key. Refused.
    for id in [serde_json::Value::Null, "".into()] {
        let mut doc: serde_json::Value = serde_json::from_str(&body(url, 4)).unwrap();
        doc["id"] = id;
        assert!(parse_inbound(doc.to_string().as_bytes(), &limits).is_err());
        doc["attachments"] = serde_json::json!([]);
        assert!(parse_inbound(doc.to_string().as_bytes(), &limits).is_ok());
    }
}

/// A Mailgun route post whose handler failed, posted again byte for byte
/// (a retry under its first signature: Mailgun does not document whether
/// it signs again) 10 minutes and 7 hours later: handled, then a duplicate.
#[tokio::test]
async fn a_mailgun_inbound_retry_under_its_first_signature_is_handled_after_a_failure() {
    use email_webhooks::idempotency::MemoryStore;
    use email_webhooks::inbound::InboundProviders;
    let settings = keyed(
        Provider::Mailgun,
        &credentials("user:pass-phrase", "signing-key"),
    );
    let delivery = simulated(Provider::Mailgun, &settings, false);
    let receiver = InboundProviders::new()
        .with(Provider::Mailgun, &settings)
        .unwrap();
    let store = MemoryStore::new();
    let late = |seconds: i64| {
        Request::new(&delivery.headers, &delivery.body)
            .at(time::OffsetDateTime::from_unix_timestamp(AT + seconds).unwrap())
    };
    let failing = |_| std::future::ready(Err::<(), &str>("database down"));
    let outcome = receiver.run("mailgun", &late(0), &store, failing).await;
    assert_eq!(outcome.unwrap().unwrap().failed, 1);
    let outcome = receiver.run("mailgun", &late(600), &store, failing).await;
    assert_eq!(outcome.unwrap().unwrap().failed, 1);
    let ok = |_| std::future::ready(Ok::<(), &str>(()));
    let outcome = receiver.run("mailgun", &late(7 * 3600), &store, ok).await;
    assert_eq!(outcome.unwrap().unwrap().handled, 1);
    let outcome = receiver
        .run("mailgun", &late(7 * 3600 + 60), &store, ok)
        .await;
    assert_eq!(outcome.unwrap().unwrap().duplicates, 1);
    // The same token with another body is a replay.
    let other = String::from_utf8_lossy(&delivery.body).replace("Thanks!", "Thanks?");
    assert_ne!(other.as_bytes(), &delivery.body[..]);
    let forged = Request::new(&delivery.headers, other.as_bytes())
        .at(time::OffsetDateTime::from_unix_timestamp(AT + 60).unwrap());
    let result = receiver.run("mailgun", &forged, &store, ok).await.unwrap();
    assert_eq!(result.unwrap_err().code(), "replayed");
}

/// In handoff mode a Mailgun stored message's notification spends its
/// token before the message is fetched (the fetched message replaced the
/// parsed one and lost its token, which was never spent), and the fetched
/// message keeps Mailgun's reply text: the same token with another body is
/// a replay, refused before any fetch (the fetch carries your API key).
#[tokio::test]
async fn a_mailgun_stored_message_spends_its_token_in_handoff_mode() {
    use email_webhooks::idempotency::MemoryStore;
    use email_webhooks::inbound::{InboundProviders, StaticContent};
    use email_webhooks::queue::{MemoryQueue, Queue as _};
    let verifier = mailgun_verifier();
    let signature = mailgun_signature(&verifier, AT, "t0k3n");
    let url =
        "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.org/messages/BAABAQ-key_1=";
    let form = |recipient: &str| {
        format!(
            "timestamp={AT}&token=t0k3n&signature={signature}&recipient={recipient}&stripped-text=Thanks&message-url={}",
            url.replace(':', "%3A")
                .replace('/', "%2F")
                .replace('=', "%3D")
        )
    };
    let settings = keyed(
        Provider::Mailgun,
        &credentials("user:pass-phrase", "signing-key"),
    );
    let receiver = InboundProviders::new()
        .with(Provider::Mailgun, &settings)
        .unwrap()
        .with_content_source(StaticContent::new().with(url, data("attachments.eml")));
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
    let now = time::OffsetDateTime::from_unix_timestamp(AT).unwrap();
    let first = form("support%40mg.example.org");
    let outcome = receiver
        .hand_off(
            "mailgun",
            &Request::new(&headers, first.as_bytes()).at(now),
            &store,
            &queue,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.enqueued, 1);
    let job = queue
        .claim(1, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let message = email_webhooks::queue::decode_inbound(&job[0].payload).unwrap();
    assert_eq!(message.stripped_text.as_deref(), Some("Thanks"));
    // The same signature with another recipient: a replay.
    let forged = form("attacker%40example.net");
    let error = receiver
        .hand_off(
            "mailgun",
            &Request::new(&headers, forged.as_bytes()).at(now),
            &store,
            &queue,
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), "replayed");
}

/// Before its signature is checked, a Mailgun route post that is no form
/// is an unauthenticated refusal (400), not Mailgun's authenticated but
/// unparseable delivery (406, which a rate limit does not charge).
#[test]
fn a_mailgun_route_post_that_is_no_form_is_refused_unauthenticated() {
    use email_webhooks::provider::Answer;
    let verifier = mailgun_verifier();
    let now = time::OffsetDateTime::from_unix_timestamp(AT).unwrap();
    let limits = InboundLimits::default();
    for (content_type, body) in [
        (
            "multipart/form-data; boundary=b",
            &b"--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nx\r\n"[..],
        ),
        ("multipart/form-data", &b"--b--"[..]),
        ("application/json", &b"{}"[..]),
    ] {
        let error = verifier
            .verify_and_parse_inbound_at(content_type, body, &limits, now)
            .unwrap_err();
        assert_eq!(
            (error.code(), error.http_status()),
            ("invalid_payload", 400)
        );
        assert!(matches!(
            Answer::from_error(&error),
            Answer::Refused {
                authenticated: false,
                ..
            }
        ));
    }
}

/// A Mailgun route post's signature is checked before its form is read:
/// a forged post whose form reading would refuse (more attachments than
/// the limit) is refused for its signature, and reading never starts. The
/// same form signed is an authenticated refusal (Mailgun's 406).
#[test]
fn a_mailgun_route_post_is_authenticated_before_its_form_is_read() {
    use email_webhooks::provider::Answer;
    let verifier = mailgun_verifier();
    let signature = mailgun_signature(&verifier, AT, "t0k3n");
    let now = time::OffsetDateTime::from_unix_timestamp(AT).unwrap();
    let limits = InboundLimits::default().with_max_attachments(1);
    let form = |signature: &str| {
        use std::fmt::Write as _;
        let mut body = String::new();
        for (name, value) in [
            ("timestamp", AT.to_string()),
            ("token", "t0k3n".to_owned()),
            ("signature", signature.to_owned()),
            ("recipient", "in@example.org".to_owned()),
        ] {
            write!(
                body,
                "--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .unwrap();
        }
        for i in 1..=3 {
            write!(
                body,
                "--b\r\nContent-Disposition: form-data; name=\"attachment-{i}\"; filename=\"{i}.txt\"\r\nContent-Type: text/plain\r\n\r\nfile {i}\r\n"
            )
            .unwrap();
        }
        body.push_str("--b--\r\n");
        body
    };
    let content_type = "multipart/form-data; boundary=b";
    let forged = verifier
        .verify_and_parse_inbound_at(content_type, form(&"0".repeat(64)).as_bytes(), &limits, now)
        .unwrap_err();
    assert_eq!(forged.code(), "invalid_signature");
    let genuine = verifier
        .verify_and_parse_inbound_at(content_type, form(&signature).as_bytes(), &limits, now)
        .unwrap_err();
    assert!(matches!(
        Answer::from_error(&genuine),
        Answer::Refused {
            authenticated: true,
            ..
        }
    ));
    // Within the limit, the same signed form is read.
    let message = verifier
        .verify_and_parse_inbound_at(
            content_type,
            form(&signature).as_bytes(),
            &InboundLimits::default(),
            now,
        )
        .unwrap();
    assert_eq!(message.attachments.len(), 3);
}

/// Where the scan that checks a Mailgun route post's signature and the
/// MIME parser that then reads the form see a field differently (the
/// parser finds a delimiter in mid-line, the scan only at a line's start),
/// the post is refused, even though the signature over what the scan read
/// is right: the message must carry the very fields that were checked.
#[test]
fn a_mailgun_route_post_read_differently_by_scan_and_parser_is_refused() {
    let verifier = mailgun_verifier();
    let now = time::OffsetDateTime::from_unix_timestamp(AT).unwrap();
    let form = |token: &str| {
        let signature = mailgun_signature(&verifier, AT, token);
        let mut body = String::new();
        for (name, value) in [
            ("timestamp", AT.to_string()),
            ("token", token.to_owned()),
            ("signature", signature),
            ("recipient", "in@example.org".to_owned()),
            ("body-plain", "Hello".to_owned()),
        ] {
            body += &[
                "--b\r\nContent-Disposition: form-data; name=\"",
                name,
                "\"\r\n\r\n",
            ]
            .concat();
            body += &value;
            body += "\r\n";
        }
        body + "--b--\r\n"
    };
    let content_type = "multipart/form-data; boundary=b";
    let limits = InboundLimits::default();
    let read =
        verifier.verify_and_parse_inbound_at(content_type, form("t0k3n").as_bytes(), &limits, now);
    assert_eq!(read.unwrap().text.as_deref(), Some("Hello"));
    let error = verifier
        .verify_and_parse_inbound_at(content_type, form("t0k3n--b").as_bytes(), &limits, now)
        .unwrap_err();
    assert_eq!(error.code(), "invalid_signature");
}

/// Mailgun signs a token, not the message: a captured signature sent with
/// other content verifies within the window, so the message carries the
/// token to claim, and a store refuses its second use.
#[test]
fn a_reused_mailgun_signature_is_caught_by_its_replay_token() {
    use email_webhooks::idempotency::{Claim, IdempotencyStore as _, MemoryStore};
    use futures_util::FutureExt as _;
    let verifier = mailgun_verifier();
    let signature = mailgun_signature(&verifier, AT, "captured-token");
    let now = time::OffsetDateTime::from_unix_timestamp(AT + 10).unwrap();
    let post = |text: &str| {
        format!(
            "timestamp={AT}&token=captured-token&signature={signature}&recipient=in%40example.org&body-plain={text}"
        )
    };
    let limits = InboundLimits::default();
    let genuine = verifier
        .verify_and_parse_inbound_at(
            "application/x-www-form-urlencoded",
            post("hello").as_bytes(),
            &limits,
            now,
        )
        .unwrap();
    let forged = verifier
        .verify_and_parse_inbound_at(
            "application/x-www-form-urlencoded",
            post("wire+money").as_bytes(),
            &limits,
            now,
        )
        .unwrap();
    // Different content, so different message keys; one token.
    assert_ne!(genuine.idempotency_key(), forged.idempotency_key());
    assert_eq!(
        genuine.replay_token.as_deref(),
        Some(format!("mailgun-token:{AT}captured-token").as_str())
    );
    assert_eq!(genuine.replay_token, forged.replay_token);
    let store = MemoryStore::new();
    let claim = |key: &str| {
        store
            .begin(key, std::time::Duration::from_secs(60))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    let token = genuine.replay_token.unwrap();
    assert!(matches!(claim(&token), Claim::Acquired(_)));
    assert!(!matches!(
        claim(&forged.replay_token.unwrap()),
        Claim::Acquired(_)
    ));
    // Providers that sign the message itself carry no token.
    let postmark =
        email_webhooks::provider::postmark::parse_inbound(&data("postmark-inbound.json")).unwrap();
    assert_eq!(postmark.replay_token, None);
}

/// Filenames a sender chose, made safe to join to a directory anywhere.
#[test]
fn safe_filenames_refuse_paths_devices_streams_and_bidi_tricks() {
    let safe = |name: &str| {
        let mut attachment = email_webhooks::inbound::Attachment::default();
        attachment.filename = Some(name.to_owned());
        attachment.safe_filename()
    };
    assert_eq!(safe("../../etc/passwd").as_deref(), Some("passwd"));
    assert_eq!(safe("C:evil.exe").as_deref(), Some("C_evil.exe"));
    assert_eq!(safe("a.pdf:stream").as_deref(), Some("a.pdf_stream"));
    assert_eq!(
        safe("invoice\u{202e}fdp.exe").as_deref(),
        Some("invoicefdp.exe")
    );
    assert_eq!(safe("NUL.txt").as_deref(), Some("_NUL.txt"));
    assert_eq!(safe("com1").as_deref(), Some("_com1"));
    assert_eq!(safe("report. . ").as_deref(), Some("report"));
    assert_eq!(safe("..").as_deref(), None);
    assert_eq!(safe("dir\\").as_deref(), None);
    let long = safe(&"é".repeat(300)).unwrap();
    assert!(long.len() <= 255 && long.chars().all(|c| c == 'é'));
    assert_eq!(safe("résumé 2026.pdf").as_deref(), Some("résumé 2026.pdf"));
}

/// A header bomb (millions of tiny lines) is refused by counting lines
/// before the MIME parser reads it, in a raw message and in a form.
#[test]
fn a_message_of_tiny_lines_is_refused_before_it_is_parsed() {
    let mut bomb = b"From: a@example.com\r\nTo: b@example.org\r\n".to_vec();
    bomb.extend(std::iter::repeat_n(&b"a:\n"[..], 1_000_001).flatten());
    bomb.extend_from_slice(b"\r\nbody\r\n");
    let error = InboundMessage::from_mime(Provider::Sendgrid, &bomb, &InboundLimits::default())
        .unwrap_err();
    assert!(error.to_string().contains("lines"), "{error}");
    let mut form = b"--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n".to_vec();
    form.extend_from_slice(&bomb);
    form.extend_from_slice(b"\r\n--b--\r\n");
    let error = email_webhooks::provider::sendgrid::parse_inbound(
        "multipart/form-data; boundary=b",
        &form,
        &InboundLimits::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("lines"), "{error}");
}

/// Postmark's lists are counted before they are read: a body of empty
/// attachment objects over the limit is refused for its count.
#[test]
fn postmark_attachment_lists_are_counted_before_they_are_read() {
    let many = vec!["{}"; 251].join(",");
    let body = format!(r#"{{"MessageID":"m","From":"a@example.com","Attachments":[{many}]}}"#);
    let error = email_webhooks::provider::postmark::parse_inbound(body.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("attachments"), "{error}");
    let headers = vec![r#"{"Name":"X","Value":"y"}"#; 1_001].join(",");
    let body = format!(r#"{{"MessageID":"m","From":"a@example.com","Headers":[{headers}]}}"#);
    let error = email_webhooks::provider::postmark::parse_inbound(body.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("header"), "{error}");
}

/// A Postmark inbound message is known by any of its fields: a forward
/// that kept only its attachments, or only its stream and sender (as
/// django-anymail's Postmark inbound tests post them), is a message. A
/// tracking record posted to the inbound URL (it has `RecordType`) is not,
/// even with a `MessageID`. The old code refused the first two and took
/// the record for a message.
#[test]
fn postmark_inbound_messages_are_known_by_any_of_their_fields() {
    let parse = |body: &str| email_webhooks::provider::postmark::parse_inbound(body.as_bytes());
    let attachments = r#"{"Attachments":[{"Name":"test.txt","Content":"dGVzdA==","ContentType":"text/plain","ContentLength":4}]}"#;
    let message = parse(attachments).unwrap();
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].content, b"test");
    let sender = r#"{"MessageStream":"inbound","FromFull":{"Email":"noreply@spam.example.com","Name":"A very long display name"}}"#;
    let message = parse(sender).unwrap();
    assert_eq!(
        message.from.and_then(|f| f.address).as_deref(),
        Some("noreply@spam.example.com")
    );
    let record =
        r#"{"RecordType":"Bounce","MessageID":"m","Type":"HardBounce","Email":"a@example.com"}"#;
    assert!(parse(record).is_err());
    assert!(parse("{}").is_err());
}

/// An SES `Received` notification (the SNS message), published and signed
/// as SNS does for the receipt rule's topic.
fn ses_delivery(
    message: &serde_json::Value,
    settings: &Settings,
) -> email_webhooks::provider::Simulated {
    let body = message.to_string();
    let settings = sending(Provider::Ses, settings);
    let sim = Simulation::new(
        EventKind::Inbound,
        "recipient@example.com",
        "ses-1",
        AT,
        &settings,
    )
    .with_body(body.as_bytes());
    (Provider::Ses.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap()
}

/// One message sent to two of your addresses in one SMTP transaction is
/// posted once by SES, SendGrid and MailerSend, listing both: each is an
/// envelope recipient (the first is `envelope_recipient`).
#[test]
fn every_envelope_recipient_is_kept() {
    let both = ["support@example.org", "sales@example.org"];
    // SES: `receipt.recipients`.
    let settings = credentials("user:pass", "ses-topic");
    let mut doc = ses_fixture("ses-sns-action.json");
    doc["receipt"]["recipients"] = serde_json::json!(both);
    let d = ses_delivery(&doc, &settings);
    let inbound = Provider::Ses.info().unwrap().inbound.unwrap();
    let limits = InboundLimits::default();
    let ses = inbound
        .verify(&settings, &at(&d.headers, &d.body), &limits)
        .unwrap()
        .unwrap()
        .remove(0);
    // MailerSend: `data.recipients.rcptTo`.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&data("mailersend-inbound.json")).unwrap();
    doc["data"]["recipients"]["rcptTo"] =
        serde_json::json!([{"email": both[0]}, {"email": both[1]}]);
    let mailersend =
        email_webhooks::provider::mailersend::parse_inbound(doc.to_string().as_bytes(), &limits)
            .unwrap();
    // SendGrid: the `envelope` field's `to`.
    let mut body = Vec::new();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nFrom: a@example.com\nSubject: x\n\r\n");
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{\"to\":[\"support@example.org\",\"sales@example.org\"],\"from\":\"a@example.com\"}\r\n--b--\r\n");
    let sendgrid = email_webhooks::provider::sendgrid::parse_inbound(
        "multipart/form-data; boundary=b",
        &body,
        &limits,
    )
    .unwrap();
    for m in [ses, mailersend, sendgrid] {
        assert_eq!(m.envelope_recipients, both, "{}", m.provider);
        assert_eq!(
            m.envelope_recipient.as_deref(),
            Some(both[0]),
            "{}",
            m.provider
        );
    }
}

/// SES posts a message once per receipt rule that matches some of its
/// recipients, under one message id: each notification is its own
/// delivery (another rule's recipients are not a duplicate), and the same
/// notification again is one, in whatever order it lists them.
#[test]
fn one_message_id_for_two_groups_of_recipients_is_two_deliveries() {
    let with = |recipients: &[&str]| {
        let mut m = InboundMessage::new(Provider::Ses);
        m.event_id = Some("d6iitobk75ur44p8kdnnp7g2n800".into());
        m.envelope_recipients = recipients.iter().map(|r| (*r).to_owned()).collect();
        m.envelope_recipient = m.envelope_recipients.first().cloned();
        m.idempotency_key()
    };
    let (a, b) = ("support@example.org", "sales@example.org");
    assert_ne!(with(&[a]), with(&[b]));
    assert_ne!(with(&[a]), with(&[a, b]));
    assert_eq!(with(&[a, b]), with(&[b, a]));
    assert_eq!(with(&[a]), with(&[a]));
    assert_eq!(with(&[]), "ses:inbound:id:d6iitobk75ur44p8kdnnp7g2n800");
}

/// Without an id and without headers, a message's key is its digest: two
/// messages that differ in any one address, their `Message-ID` or their
/// date are two messages; the same message posted again is one.
#[test]
fn a_headerless_message_key_tells_apart_every_address_id_and_date() {
    let base = || {
        let mut m = InboundMessage::new(Provider::Mailkite);
        m.from = Some(addr("ada@example.com", None));
        m.to = vec![addr("support@example.org", None)];
        m.subject = Some("Re: order".into());
        m.text = Some("Thanks!".into());
        m
    };
    let key = base().idempotency_key();
    assert_eq!(base().idempotency_key(), key);
    let variants: [fn(&mut InboundMessage); 6] = [
        |m| m.from = Some(addr("bob@example.com", None)),
        |m| m.to = vec![addr("sales@example.org", None)],
        |m| m.to.push(addr("sales@example.org", None)),
        |m| m.cc = vec![addr("boss@example.org", None)],
        |m| m.message_id = Some("m-2@example.com".into()),
        |m| m.date = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).ok(),
    ];
    for (i, change) in variants.iter().enumerate() {
        let mut m = base();
        change(&mut m);
        assert_ne!(m.idempotency_key(), key, "variant {i}");
    }
    // An address moved from `to` to `cc` is another message too.
    let mut moved = base();
    moved.cc = std::mem::take(&mut moved.to);
    assert_ne!(moved.idempotency_key(), key);
}

fn ses_fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&data(name)).unwrap()
}

#[test]
fn ses_documented_sns_action_is_read_and_base64_content_too() {
    let settings = credentials("user:pass", "ses-topic");
    let inbound = Provider::Ses.info().unwrap().inbound.unwrap();
    let limits = InboundLimits::default();
    let mut doc = ses_fixture("ses-sns-action.json");
    let raw = doc["content"].as_str().unwrap().to_owned();
    for encoding in [None, Some("BASE64")] {
        if let Some(encoding) = encoding {
            use base64::Engine as _;
            doc["content"] = base64::engine::general_purpose::STANDARD
                .encode(&raw)
                .into();
            doc["receipt"]["action"]["encoding"] = encoding.into();
        }
        let d = ses_delivery(&doc, &settings);
        let messages = inbound
            .verify(&settings, &at(&d.headers, &d.body), &limits)
            .unwrap()
            .unwrap();
        let m = &messages[0];
        assert_eq!(m.provider, Provider::Ses);
        assert_eq!(m.event_id.as_deref(), Some("d6iitobk75ur44p8kdnnp7g2n800"));
        assert!(
            m.idempotency_key()
                .starts_with("ses:inbound:id:d6iitobk75ur44p8kdnnp7g2n800:for:")
        );
        assert_eq!(
            m.envelope_recipient.as_deref(),
            Some("recipient@example.com")
        );
        assert_eq!(
            m.envelope_sender.as_deref(),
            Some("61967230-7A45-4A9D-BEC9-87CBCF2211C9@example.com")
        );
        assert_eq!(m.subject.as_deref(), Some("Example subject"));
        assert_eq!(m.text.as_deref(), Some("Example content\r\n"));
        assert_eq!(m.spam_detected, Some(false));
        assert_eq!(m.header("X-SES-Outgoing"), Some("2015.09.11-54.240.9.183"));
        assert_eq!(m.raw.as_deref(), Some(raw.as_bytes()));
        assert_eq!(m.pending().count(), 0);
    }
    // Another topic's notification: refused, whatever it carries.
    let other = credentials("user:pass", "someone-elses-topic");
    let d = ses_delivery(&doc, &settings);
    assert!(matches!(
        inbound.verify(&other, &at(&d.headers, &d.body), &limits),
        Ok(Err(Error::Verify(_)))
    ));
    // An event notification on the inbound URL: not inbound mail.
    let event = serde_json::json!({"eventType": "Delivery", "mail": {"messageId": "x"}});
    let d = ses_delivery(&event, &settings);
    assert!(matches!(
        inbound.verify(&settings, &at(&d.headers, &d.body), &limits),
        Ok(Err(Error::Parse(_)))
    ));
    // A verdict of FAIL is spam; GRAY says nothing.
    for (status, spam) in [
        ("FAIL", Some(true)),
        ("GRAY", None),
        ("PROCESSING_FAILED", None),
    ] {
        let mut doc = ses_fixture("ses-sns-action.json");
        doc["receipt"]["spamVerdict"]["status"] = status.into();
        let d = ses_delivery(&doc, &settings);
        let m = &(inbound.parse)(&at(&d.headers, &d.body), &limits).unwrap()[0];
        assert_eq!(m.spam_detected, spam, "{status}");
    }
}

#[tokio::test]
async fn ses_s3_action_fetches_the_object_through_the_callers_source() {
    use email_webhooks::inbound::{ContentKind, InboundProviders, StaticContent};
    let settings = credentials("user:pass", "ses-topic");
    let limits = InboundLimits::default();
    let d = ses_delivery(&ses_fixture("ses-s3-action.json"), &settings);
    let request = at(&d.headers, &d.body);
    // Parsed alone: the listed headers, and the object still to fetch.
    let parsed = (Provider::Ses.info().unwrap().inbound.unwrap().parse)(&request, &limits).unwrap();
    let pending: Vec<_> = parsed[0].pending().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].url,
        "s3://my-S3-bucket/email/d6iitobk75ur44p8kdnnp7g2n800"
    );
    assert_eq!(pending[0].kind, ContentKind::Message);
    assert_eq!(parsed[0].subject.as_deref(), Some("Example subject"));
    assert!(parsed[0].text.is_none());
    let raw = ses_fixture("ses-sns-action.json")["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = "s3://my-S3-bucket/email/d6iitobk75ur44p8kdnnp7g2n800";

    // With the object served: the whole message, SES's envelope kept.
    let receiver = InboundProviders::new()
        .with(Provider::Ses, &settings)
        .unwrap()
        .with_content_source(StaticContent::new().with(url, raw.clone()));
    let messages = receiver.receive("ses", &request).await.unwrap().unwrap();
    let m = &messages[0];
    assert_eq!(m.text.as_deref(), Some("Example content\r\n"));
    assert_eq!(m.event_id.as_deref(), Some("d6iitobk75ur44p8kdnnp7g2n800"));
    assert_eq!(
        m.envelope_recipient.as_deref(),
        Some("recipient@example.com")
    );
    assert_eq!(
        m.envelope_sender.as_deref(),
        Some("0000014fbe1c09cf-7cb9f704-7531-4e53-89a1-5fa9744f5eb6-000000@amazonses.com")
    );
    assert_eq!(m.pending().count(), 0);
    assert_eq!(m.idempotency_key(), parsed[0].idempotency_key());

    // No source, a source without it, an object over the limit: 503, so
    // SNS delivers the notification again.
    let cases = [
        (InboundProviders::new(), "content_unavailable"),
        (
            InboundProviders::new().with_content_source(StaticContent::new()),
            "content_unavailable",
        ),
        (
            InboundProviders::new()
                .with_limits(InboundLimits::default().with_max_body_bytes(d.body.len() + 10))
                .with_content_source(StaticContent::new().with(url, vec![b'x'; d.body.len() + 11])),
            "content_too_large",
        ),
    ];
    for (receiver, code) in cases {
        let receiver = receiver.with(Provider::Ses, &settings).unwrap();
        let error = receiver
            .receive("ses", &request)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((error.code(), error.http_status()), (code, 503));
    }
}

#[test]
fn mailersend_inbound_fields_raw_and_refusals() {
    use email_webhooks::provider::mailersend::parse_inbound;
    let limits = InboundLimits::default();
    let body = data("mailersend-inbound.json");
    let m = parse_inbound(&body, &limits).unwrap();
    assert_eq!(m.event_id.as_deref(), Some("6752c8e1f79d39d7e10f2b01"));
    assert!(
        m.idempotency_key()
            .starts_with("mailersend:inbound:id:6752c8e1f79d39d7e10f2b01:for:")
    );
    assert_eq!(m.envelope_recipient.as_deref(), Some("support@example.org"));
    assert_eq!(m.envelope_sender.as_deref(), Some("bounces@example.net"));
    assert_eq!(
        m.from,
        Some(addr("customer@example.net", Some("A Customer")))
    );
    assert_eq!(m.to, [addr("support@example.org", Some("Support"))]);
    assert_eq!(m.subject.as_deref(), Some("Café order 🌎"));
    assert!(m.html.as_deref().unwrap().contains("</b>"));
    assert_eq!(m.attachments.len(), 2);
    assert!(m.attachments[0].inline);
    assert_eq!(m.attachments[0].content_id.as_deref(), Some("logo-1"));
    assert_eq!(m.attachments[1].content, b"Product,Price\nWidget,33.20");
    assert_eq!(
        m.attachments[1].safe_filename().as_deref(),
        Some("list.csv")
    );
    assert!(m.timestamp.is_some());
    // With the whole message in `raw`: read from it, headers in order.
    let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    doc["data"]["raw"] = String::from_utf8(data("attachments.eml")).unwrap().into();
    let m = parse_inbound(doc.to_string().as_bytes(), &limits).unwrap();
    let from_mime = mime("attachments.eml");
    assert_eq!(
        (m.subject.clone(), m.text.clone()),
        (from_mime.subject.clone(), from_mime.text.clone())
    );
    assert_eq!(m.headers, from_mime.headers);
    assert_eq!(m.attachments, from_mime.attachments);
    assert_eq!(m.envelope_recipient.as_deref(), Some("support@example.org"));
    // An activity event on the inbound URL, and lists past the cap: refused.
    let activity = br#"{"type":"activity.delivered","data":{"id":"x"}}"#;
    assert!(parse_inbound(activity, &limits).is_err());
    let many = format!(
        r#"{{"type":"inbound.message","data":{{"recipients":{{"rcptTo":[{}{{}}]}}}}}}"#,
        "{},".repeat(10_000)
    );
    assert!(parse_inbound(many.as_bytes(), &limits).is_err());
    let mut too_many = doc.clone();
    too_many["data"]["raw"] = serde_json::Value::Null;
    too_many["data"]["attachments"] =
        serde_json::json!(vec![serde_json::json!({"content": ""}); 251]);
    assert!(parse_inbound(too_many.to_string().as_bytes(), &limits).is_err());
}

/// Postal's two formats, in both encodings, from its HTTP sender's source
/// (`app/senders/http_sender.rb`): Ruby's base64 with a line break every
/// 60 characters, sizes as strings in the hash, decoded header values.
#[test]
fn postal_raw_and_hash_formats_in_json_and_forms() {
    use base64::Engine as _;
    use email_webhooks::provider::postal::parse_inbound;
    let limits = InboundLimits::default();
    let raw = data("attachments.eml");
    let mut ruby_base64 = String::new();
    for line in base64::engine::general_purpose::STANDARD
        .encode(&raw)
        .as_bytes()
        .chunks(60)
    {
        ruby_base64.push_str(std::str::from_utf8(line).unwrap());
        ruby_base64.push('\n');
    }
    // The raw message, JSON: read from the MIME, keyed by its content.
    let body = serde_json::json!({"id": 4021, "rcpt_to": "support@example.org",
        "mail_from": "customer@example.net", "message": ruby_base64, "base64": true, "size": raw.len()});
    let m = parse_inbound("application/json", body.to_string().as_bytes(), &limits).unwrap();
    let from_mime = mime("attachments.eml");
    assert_eq!(m.attachments, from_mime.attachments);
    assert_eq!(m.headers, from_mime.headers);
    assert_eq!(m.envelope_recipient.as_deref(), Some("support@example.org"));
    assert!(m.idempotency_key().starts_with("postal:inbound:sha256:"));
    // The same, form-encoded: the same message.
    let form = format!(
        "id=4021&rcpt_to=support%40example.org&mail_from=customer%40example.net&message={}&base64=true&size={}",
        ruby_base64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
            .replace('\n', "%0A"),
        raw.len()
    );
    let f = parse_inbound(
        "application/x-www-form-urlencoded",
        form.as_bytes(),
        &limits,
    )
    .unwrap();
    assert_eq!(f, m);
    // The hash, with replies stripped and a decoded value holding a line
    // break (which must not start a header field of its own).
    let hash = serde_json::json!({"id": 4022, "rcpt_to": "support@example.org", "mail_from": "",
        "token": "q8Zr2mPx7LbN4tVw", "subject": "Caf\u{e9}", "message_id": "abc@example.net",
        "timestamp": 1_796_551_200.25, "size": "1035", "spam_status": "Spam", "bounce": false,
        "received_with_ssl": null, "to": "support@example.org",
        "cc": "Other <other@example.org>", "from": "Fran\u{e7}ois <f@example.fr>\r\nBcc: injected@example.com",
        "date": "Sun, 06 Dec 2026 10:00:00 +0000", "in_reply_to": null, "references": null,
        "reply_to": ["Desk <desk@example.fr>"], "auto_submitted": null,
        "plain_body": "Yes please.", "replies_from_plain_body": "> Shall we?", "html_body": null,
        "attachment_quantity": 1,
        "attachments": [{"filename": "../notes.txt", "content_type": "text/plain", "size": 8, "data": "b3JkZXIg\nNDI=\n"}]});
    let h = parse_inbound("application/json", hash.to_string().as_bytes(), &limits).unwrap();
    assert_eq!(h.event_id.as_deref(), Some("4022:q8Zr2mPx7LbN4tVw"));
    assert_eq!(h.envelope_sender, None);
    assert_eq!(h.subject.as_deref(), Some("Café"));
    assert_eq!(h.message_id.as_deref(), Some("abc@example.net"));
    assert_eq!(h.spam_detected, Some(true));
    assert_eq!(h.stripped_text.as_deref(), Some("Yes please."));
    assert_eq!(h.cc, [addr("other@example.org", Some("Other"))]);
    // The sender wrote that From (as any From): it stays one field.
    assert!(
        h.header("Bcc").is_none(),
        "a line break in a value started a field"
    );
    assert!(h.header("From").is_some_and(|f| f.contains("Bcc:")));
    assert_eq!(h.header("Reply-To"), Some("Desk <desk@example.fr>"));
    assert_eq!(h.timestamp.unwrap().unix_timestamp(), 1_796_551_200);
    assert_eq!(h.attachments[0].content, b"order 42");
    assert_eq!(
        h.attachments[0].safe_filename().as_deref(),
        Some("notes.txt")
    );
    // The hash, form-encoded: attachments by index, strings everywhere.
    let form = "id=4023&rcpt_to=support%40example.org&mail_from=a%40example.net&token=t0k3n&subject=Hi&timestamp=1796551200.5&size=99&spam_status=NotSpam&plain_body=Hello&reply_to=a%40example.net&reply_to=b%40example.net&attachments%5B0%5D%5Bfilename%5D=a.txt&attachments%5B0%5D%5Bcontent_type%5D=text%2Fplain%3B+name%3Da.txt&attachments%5B0%5D%5Bsize%5D=8&attachments%5B0%5D%5Bdata%5D=b3JkZXIgNDI%3D%0A";
    let f = parse_inbound(
        "application/x-www-form-urlencoded",
        form.as_bytes(),
        &limits,
    )
    .unwrap();
    assert_eq!(f.event_id.as_deref(), Some("4023:t0k3n"));
    assert_eq!(f.spam_detected, Some(false));
    assert_eq!(f.text.as_deref(), Some("Hello"));
    assert_eq!(f.stripped_text, None);
    assert_eq!(f.attachments[0].content_type.as_deref(), Some("text/plain"));
    assert_eq!(f.attachments[0].content, b"order 42");
    assert_eq!(f.headers.iter().filter(|(n, _)| n == "Reply-To").count(), 2);
    // Not Postal's: a webhook event on the inbound URL.
    let event = br#"{"event":"MessageSent","timestamp":1,"payload":{},"uuid":"u"}"#;
    assert!(parse_inbound("application/json", event, &limits).is_err());
}

#[test]
fn mailjet_parse_api_fields_attachments_and_bounds() {
    use email_webhooks::provider::mailjet::parse_inbound;
    let limits = InboundLimits::default();
    let body = data("mailjet-parse.json");
    let m = parse_inbound(&body, &limits).unwrap();
    assert_eq!(m.envelope_sender.as_deref(), Some("pilot@example.com"));
    assert_eq!(
        m.envelope_recipient.as_deref(),
        Some("passenger@parse-in1.mailjet.com")
    );
    assert_eq!(m.from, Some(addr("pilot@example.com", Some("Pilot"))));
    assert_eq!(m.cc, [addr("crew@example.com", Some("Crew"))]);
    assert_eq!(m.subject.as_deref(), Some("Hey! It's Friday!"));
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAE5Zh0Z-friday@mail.example.com")
    );
    assert_eq!(m.date.unwrap().unix_timestamp(), 1_796_547_998);
    assert_eq!(m.spam_score, Some(0.602));
    assert!(m.text.as_deref().unwrap().starts_with("Hi,"));
    assert!(m.html.as_deref().unwrap().contains("Friday"));
    // Every header value, a list's in order.
    let received: Vec<&str> = m
        .headers
        .iter()
        .filter(|(n, _)| n == "Received")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(received.len(), 2);
    assert_eq!(m.attachments.len(), 3);
    assert_eq!(m.attachments[0].filename.as_deref(), Some("helloworld.txt"));
    assert_eq!(m.attachments[0].content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.attachments[0].content, b"Hello World!");
    assert!(!m.attachments[0].inline);
    assert!(m.attachments[1].inline);
    assert_eq!(
        m.attachments[1].content_id.as_deref(),
        Some("logo@example.com")
    );
    assert_eq!(m.attachments[1].content, b"\x89PNG\r\n\x1a\n");
    assert_eq!(m.attachments[2].filename.as_deref(), Some("../prévu.bin"));
    assert_eq!(
        m.attachments[2].safe_filename().as_deref(),
        Some("prévu.bin")
    );
    // No id: keyed by content, the same for the same delivery.
    assert!(m.idempotency_key().starts_with("mailjet:inbound:sha256:"));
    assert_eq!(
        parse_inbound(&body, &limits).unwrap().idempotency_key(),
        m.idempotency_key()
    );
    // Without a Date header, the compact UTC `Date`.
    let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    doc["Headers"].as_object_mut().unwrap().remove("Date");
    let m = parse_inbound(doc.to_string().as_bytes(), &limits).unwrap();
    assert_eq!(m.date.unwrap().unix_timestamp(), 1_796_547_998);
    // Bounds: a header list past the cap, more attachments than the limit.
    let many = format!(
        r#"{{"Recipient":"a@example.com","Headers":{{"Received":[{}""]}}}}"#,
        "\"\",".repeat(10_000)
    );
    assert!(parse_inbound(many.as_bytes(), &limits).is_err());
    let few = InboundLimits::default().with_max_attachments(2);
    assert!(parse_inbound(&body, &few).is_err());
    // An Event API event on the inbound URL is not a message.
    assert!(parse_inbound(br#"{"event":"sent","email":"a@example.com"}"#, &limits).is_err());
}

/// In a batch, a message whose content cannot be fetched is not its
/// neighbours' loss: for good (more bytes than Brevo announced), it is
/// handled as unreadable with the fields its item gave; for now (the
/// source failing), the other message is handled or enqueued, the delivery
/// is answered 503, and the retry handles the rest, the handled message a
/// duplicate.
#[tokio::test]
async fn a_batch_message_whose_content_fails_does_not_hold_back_the_others() {
    use email_webhooks::idempotency::MemoryStore;
    use email_webhooks::inbound::{InboundProviders, StaticContent};
    use email_webhooks::queue::MemoryQueue;
    let limits = InboundLimits::default();
    let body = data("brevo-inbound.json");
    let parsed = email_webhooks::provider::brevo::parse_inbound(&body, &limits).unwrap();
    let urls: Vec<String> = parsed[0].pending().map(|p| p.url.clone()).collect();
    let (settings, d) = brevo_delivery(&body);
    let request = at(&d.headers, &d.body);
    let receiver = |source: StaticContent| {
        InboundProviders::new()
            .with(Provider::Brevo, &settings)
            .unwrap()
            .with_content_source(source)
    };
    let served = StaticContent::new()
        .with(urls[0].clone(), b"%PDF-1.7".to_vec())
        .with(urls[1].clone(), b"\x89PNG".to_vec());
    let seen = std::sync::Mutex::new(Vec::new());
    let handler = |m: email_webhooks::InboundMessage| {
        seen.lock()
            .unwrap()
            .push((m.event_id.clone(), m.unreadable.clone()));
        async { Ok::<(), std::io::Error>(()) }
    };
    // For good: more bytes than announced.
    let liar = StaticContent::new()
        .with(urls[0].clone(), vec![0u8; 9])
        .with(urls[1].clone(), b"\x89PNG".to_vec());
    let store = MemoryStore::new();
    let outcome = receiver(liar).run("brevo", &request, &store, handler).await;
    assert_eq!(outcome.unwrap().unwrap().handled, 2);
    let first = seen.lock().unwrap().clone();
    assert_eq!(first.len(), 2);
    let why = first[0]
        .1
        .as_deref()
        .expect("the first message is unreadable");
    // With what it could not read, to fetch by hand.
    assert!(why.contains(&format!("not read: {}", urls[0])), "{why}");
    assert!(first[0].0.is_some(), "with the fields its item gave");
    assert!(first[1].1.is_none());
    // For now: nothing served for the first message's attachments.
    seen.lock().unwrap().clear();
    let store = MemoryStore::new();
    let error = receiver(StaticContent::new())
        .run("brevo", &request, &store, handler)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), "content_unavailable");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the second message is handled"
    );
    let retried = receiver(served.clone())
        .run("brevo", &request, &store, handler)
        .await;
    let retried = retried.unwrap().unwrap();
    assert_eq!((retried.handled, retried.duplicates), (1, 1));
    // Handoff: the second message enqueued, the first on the retry.
    let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
    let error = receiver(StaticContent::new())
        .hand_off("brevo", &request, &store, &queue)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), "content_unavailable");
    let retried = receiver(served)
        .hand_off("brevo", &request, &store, &queue)
        .await;
    let retried = retried.unwrap().unwrap();
    assert_eq!((retried.enqueued, retried.duplicates), (1, 1));
}

#[tokio::test]
async fn brevo_inbound_items_and_attachments_by_token() {
    use email_webhooks::inbound::{ContentKind, InboundProviders, StaticContent};
    use email_webhooks::provider::Answer;
    let limits = InboundLimits::default();
    let body = data("brevo-inbound.json");
    let messages = email_webhooks::provider::brevo::parse_inbound(&body, &limits).unwrap();
    assert_eq!(messages.len(), 2);
    let m = &messages[0];
    assert_eq!(
        m.idempotency_key(),
        "brevo:inbound:id:a9b1c2d3-0001-4e5f-8a9b-0c1d2e3f4a5b"
    );
    assert_eq!(
        m.from,
        Some(addr("customer@example.net", Some("A Customer")))
    );
    assert_eq!(m.to, [addr("support@in.example.org", None)]);
    assert_eq!(m.cc, [addr("sales@example.org", Some("Sales"))]);
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAB-reply-1@mail.example.net")
    );
    assert_eq!(m.stripped_text.as_deref(), Some("Yes please."));
    assert_eq!(m.spam_score, Some(1.2));
    assert_eq!(m.headers.iter().filter(|(n, _)| n == "Received").count(), 2);
    // The attachments' bytes are still to fetch, by token, from Brevo.
    let pending: Vec<_> = m.pending().collect();
    assert_eq!(pending.len(), 2);
    assert_eq!(
        pending[0].url,
        "https://api.brevo.com/v3/inbound/attachments/eyJmaWxlIjoicmVjZWlwdCJ9.aBc-_1"
    );
    assert_eq!(
        (pending[0].kind, pending[0].max_bytes),
        (ContentKind::Attachment(0), 8)
    );
    assert!(m.attachments[1].inline);

    // Received through the caller's source: the bytes in place.
    let (settings, d) = brevo_delivery(&body);
    let request = at(&d.headers, &d.body);
    let source = StaticContent::new()
        .with(pending[0].url.clone(), b"%PDF-1.7".to_vec())
        .with(pending[1].url.clone(), b"\x89PNG".to_vec());
    let receiver = InboundProviders::new()
        .with(Provider::Brevo, &settings)
        .unwrap()
        .with_content_source(source);
    let got = receiver.receive("brevo", &request).await.unwrap().unwrap();
    assert_eq!(got[0].attachments[0].content, b"%PDF-1.7");
    assert_eq!(got[0].attachments[1].content, b"\x89PNG");
    assert_eq!(got[1].attachments.len(), 0);
    // More bytes than Brevo announced: refused, retryable.
    let liar = InboundProviders::new()
        .with(Provider::Brevo, &settings)
        .unwrap()
        .with_content_source(
            StaticContent::new()
                .with(pending[0].url.clone(), vec![0u8; 9])
                .with(pending[1].url.clone(), b"\x89PNG".to_vec()),
        );
    let error = liar.receive("brevo", &request).await.unwrap().unwrap_err();
    assert_eq!(error.code(), "content_too_large");
    // No source: retryable, answered as Brevo retries (429).
    let bare = InboundProviders::new()
        .with(Provider::Brevo, &settings)
        .unwrap();
    let error = bare.receive("brevo", &request).await.unwrap().unwrap_err();
    assert_eq!(error.code(), "content_unavailable");
    assert_eq!(bare.reply("brevo", Answer::from_error(&error)).status, 429);
    // A token that is not one (a path, a query) is refused, not fetched:
    // its item is an unreadable message, the other item is read.
    for token in ["../../v3/account", "a?b=c", "a/b", "", ".", ".."] {
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["items"][0]["Attachments"][0]["DownloadToken"] = token.into();
        let messages =
            email_webhooks::provider::brevo::parse_inbound(doc.to_string().as_bytes(), &limits)
                .unwrap();
        assert!(messages[0].unreadable.is_some(), "{token}");
        assert_eq!(messages[0].pending().count(), 0, "{token}");
        assert_eq!(messages[1].unreadable, None, "{token}");
    }
    // Announced sizes over the decoded limit: refused before any fetch.
    let small = InboundLimits::default().with_max_decoded_bytes(11);
    let messages = email_webhooks::provider::brevo::parse_inbound(&body, &small).unwrap();
    assert!(messages[0].unreadable.is_some());
    assert_eq!(messages[0].pending().count(), 0);
    // Not inbound: a transactional event on the inbound URL.
    assert!(
        email_webhooks::provider::brevo::parse_inbound(br#"{"event":"delivered"}"#, &limits)
            .is_err()
    );
}

/// A message is claimed before what it refers to is fetched: a
/// redelivery of a message already handled is a duplicate even when its
/// content can no longer be fetched (S3 objects deleted, links expired),
/// where it looped on 503 before; a failed fetch of a new message answers
/// 503 and gives its claim back, so the next delivery handles it.
#[tokio::test]
async fn a_handled_inbound_message_is_a_duplicate_without_fetching_again() {
    use email_webhooks::idempotency::MemoryStore;
    use email_webhooks::inbound::{InboundProviders, StaticContent};
    let settings = credentials("user:pass", "ses-topic");
    let d = ses_delivery(&ses_fixture("ses-s3-action.json"), &settings);
    let request = at(&d.headers, &d.body);
    let url = "s3://my-S3-bucket/email/d6iitobk75ur44p8kdnnp7g2n800";
    let raw = ses_fixture("ses-sns-action.json")["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let receiver = |served: bool| {
        let source = if served {
            StaticContent::new().with(url, raw.clone())
        } else {
            StaticContent::new()
        };
        InboundProviders::new()
            .with(Provider::Ses, &settings)
            .unwrap()
            .with_content_source(source)
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let handler = |m: email_webhooks::InboundMessage| {
        assert_eq!(m.text.as_deref(), Some("Example content\r\n"));
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<(), std::io::Error>(()) }
    };
    let store = MemoryStore::new();
    let first = receiver(true).run("ses", &request, &store, handler).await;
    assert_eq!(first.unwrap().unwrap().handled, 1);
    // The object is gone; the redelivery is a duplicate, not a 503.
    let again = receiver(false).run("ses", &request, &store, handler).await;
    let again = again.unwrap().unwrap();
    assert_eq!((again.handled, again.duplicates), (0, 1));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A new message whose fetch fails: 503, and its claim given back.
    let fresh = MemoryStore::new();
    let error = receiver(false)
        .run("ses", &request, &fresh, handler)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        ("content_unavailable", 503)
    );
    let retried = receiver(true).run("ses", &request, &fresh, handler).await;
    assert_eq!(retried.unwrap().unwrap().handled, 1);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn resend_content_is_fetched_from_its_api_raw_or_per_attachment() {
    use email_webhooks::inbound::{ContentKind, StaticContent};
    use email_webhooks::provider::resend::parse_inbound;
    let limits = InboundLimits::default();
    let body = data("resend-email-received.json");
    let id = "4ef9a417-02e9-4d39-ad75-9611e0fcc33c";
    let api = format!("https://api.resend.com/emails/receiving/{id}");
    let m = parse_inbound(&body, &limits).unwrap();
    assert_eq!(m.idempotency_key(), format!("resend:inbound:id:{id}"));
    assert_eq!(
        m.from,
        Some(addr("customer@example.net", Some("A Customer")))
    );
    assert_eq!(m.cc, [addr("sales@example.org", None)]);
    assert_eq!(m.message_id.as_deref(), Some("inv-77@mail.example.net"));
    assert!(m.attachments[1].inline);
    let pending: Vec<_> = m.pending().cloned().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].url.as_str(), pending[0].kind),
        (api.as_str(), ContentKind::Details)
    );

    // The API without a raw link: the bodies and headers from it, and each
    // attachment by its own description and pre-signed link.
    let details = serde_json::json!({"object": "email", "id": id, "text": "See attached.",
        "html": "<p>See attached.</p>", "headers": {"x-mailer": "Example", "received": ["a", "b"]},
        "attachments": [{"id": "2a0c9ce0-3112-4728-976e-47ddcd16a318"}, {"id": "7d7e3d5c-1b6f-4b0e-9a4c-5d1c2e3f4a5b"}],
        "raw": null});
    let link = |n: u8| serde_json::json!({"object": "attachment", "download_url": format!("https://cdn.example.invalid/a{n}?sig=x")});
    let source = StaticContent::new()
        .with(api.clone(), details.to_string())
        .with(
            format!("{api}/attachments/2a0c9ce0-3112-4728-976e-47ddcd16a318"),
            link(1).to_string(),
        )
        .with(
            format!("{api}/attachments/7d7e3d5c-1b6f-4b0e-9a4c-5d1c2e3f4a5b"),
            link(2).to_string(),
        )
        .with("https://cdn.example.invalid/a1?sig=x", b"%PDF".to_vec())
        .with("https://cdn.example.invalid/a2?sig=x", b"\x89PNG".to_vec());
    let mut fetched = m.clone();
    fetched.fetch(&source, &limits).await.unwrap();
    assert_eq!(fetched.text.as_deref(), Some("See attached."));
    assert_eq!(
        fetched
            .headers
            .iter()
            .filter(|(n, _)| n == "received")
            .count(),
        2
    );
    assert_eq!(fetched.attachments[0].content, b"%PDF");
    assert_eq!(fetched.attachments[1].content, b"\x89PNG");
    assert_eq!(fetched.pending().count(), 0);
    assert_eq!(fetched.idempotency_key(), m.idempotency_key());
    // The description and the raw message are not attachments: neither
    // counts against the decoded attachments' limit (the description's
    // HTML holds the inline images as `data:` URIs, the raw message them
    // again; together they made a message with 16 MB of them unreadable).
    let inline = format!("<img src=\"data:image/png;base64,{}\">", "A".repeat(3_000));
    let details = serde_json::json!({"object": "email", "id": id, "html": inline,
        "raw": {"download_url": "https://cdn.example.invalid/raw?sig=x"}});
    let raw = format!(
        "From: a@example.net\r\nSubject: s\r\n\r\n{}\r\n",
        "B".repeat(3_000)
    );
    let source = StaticContent::new()
        .with(api.clone(), details.to_string())
        .with("https://cdn.example.invalid/raw?sig=x", raw.into_bytes());
    let few = InboundLimits::default().with_max_decoded_bytes(4_000);
    let mut fetched = m.clone();
    fetched.fetch(&source, &few).await.unwrap();
    assert_eq!(fetched.subject.as_deref(), Some("s"));
    // A link that is not https is refused, not fetched.
    let bad = StaticContent::new().with(
        api.clone(),
        serde_json::json!({"raw": {"download_url": "file:///etc/passwd"}}).to_string(),
    );
    let error = m.clone().fetch(&bad, &limits).await.unwrap_err();
    assert_eq!(error.code(), "content_invalid");
    // Ids that are not Resend's never reach a URL.
    for evil in ["../../domains", "a/b", "a?b", ""] {
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["data"]["email_id"] = evil.into();
        assert!(
            parse_inbound(doc.to_string().as_bytes(), &limits).is_err(),
            "{evil}"
        );
    }
    // An email event on the inbound URL is not a received email.
    assert!(
        parse_inbound(
            br#"{"type":"email.delivered","data":{"email_id":"x"}}"#,
            &limits
        )
        .is_err()
    );
}

/// The API listing a received email's attachments in another order than
/// the webhook: each keeps its own name and bytes (the list's ids, never
/// the webhook's positions), and what the list leaves out comes from the
/// attachment's own description.
#[tokio::test]
async fn resend_attachments_are_paired_by_id_not_position() {
    use email_webhooks::inbound::StaticContent;
    let limits = InboundLimits::default();
    let id = "4ef9a417-02e9-4d39-ad75-9611e0fcc33c";
    let api = format!("https://api.resend.com/emails/receiving/{id}");
    let m = email_webhooks::provider::resend::parse_inbound(
        &data("resend-email-received.json"),
        &limits,
    )
    .unwrap();
    let reordered = serde_json::json!({"object": "email", "id": id, "text": "See attached.",
        "attachments": [
            {"id": "7d7e3d5c-1b6f-4b0e-9a4c-5d1c2e3f4a5b", "filename": "logo.png",
             "content_type": "image/png", "content_disposition": "inline", "content_id": "logo-cid"},
            {"id": "2a0c9ce0-3112-4728-976e-47ddcd16a318"}],
        "raw": null});
    let described = serde_json::json!({"object": "attachment",
        "id": "2a0c9ce0-3112-4728-976e-47ddcd16a318", "filename": "invoice.pdf",
        "content_type": "application/pdf", "content_disposition": "attachment",
        "download_url": "https://cdn.example.invalid/a1?sig=x"});
    let source = StaticContent::new()
        .with(api.clone(), reordered.to_string())
        .with(
            format!("{api}/attachments/2a0c9ce0-3112-4728-976e-47ddcd16a318"),
            described.to_string(),
        )
        .with(
            format!("{api}/attachments/7d7e3d5c-1b6f-4b0e-9a4c-5d1c2e3f4a5b"),
            serde_json::json!({"download_url": "https://cdn.example.invalid/a2?sig=x"}).to_string(),
        )
        .with("https://cdn.example.invalid/a1?sig=x", b"%PDF".to_vec())
        .with("https://cdn.example.invalid/a2?sig=x", b"\x89PNG".to_vec());
    let mut fetched = m.clone();
    fetched.fetch(&source, &limits).await.unwrap();
    let read: Vec<_> = fetched
        .attachments
        .iter()
        .map(|a| {
            (
                a.filename.as_deref(),
                a.inline,
                a.content_id.as_deref(),
                &a.content[..],
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            (Some("logo.png"), true, Some("logo-cid"), &b"\x89PNG"[..]),
            (Some("invoice.pdf"), false, None, &b"%PDF"[..]),
        ]
    );
    // The API listing fewer attachments than the webhook: unreadable, never
    // a message that looks whole with one missing.
    let fewer = serde_json::json!({"object": "email", "id": id,
        "attachments": [{"id": "7d7e3d5c-1b6f-4b0e-9a4c-5d1c2e3f4a5b"}], "raw": null});
    let error = m
        .clone()
        .fetch(
            &StaticContent::new().with(api.clone(), fewer.to_string()),
            &limits,
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "content_invalid");
}

/// For the CLI test: what `send` signs `provider`'s inbound delivery with,
/// what `verify` accepts it with, and other credentials.
fn cli_credentials(provider: Provider, to: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    use base64::Engine as _;
    let data_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let file = |name: &str| data_dir.join(name).display().to_string();
    let b64 = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(data_dir.join(name)).unwrap())
    };
    let topic = "arn:aws:sns:us-east-1:123456789012:inbound";
    let whsec = |s: &str| {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    match provider {
        Provider::Postmark | Provider::Sendgrid | Provider::Mailjet | Provider::Brevo => (
            strings(&["--basic-auth", "u:pass-phrase"]),
            strings(&["--basic-auth", "u:pass-phrase"]),
            strings(&["--basic-auth", "u:another-pass"]),
        ),
        Provider::Resend => (
            vec!["--secret".into(), whsec("signing-key")],
            vec!["--secret".into(), whsec("signing-key")],
            vec!["--secret".into(), whsec("another-key")],
        ),
        Provider::Mandrill => (
            strings(&["--secret", "signing-key"]),
            strings(&["--secret", "signing-key", "--url", to]),
            strings(&["--secret", "another-key", "--url", to]),
        ),
        Provider::Ses => (
            vec![
                "--key".into(),
                b64("sns-test-key.pk8"),
                "--topic".into(),
                topic.into(),
            ],
            vec![
                "--key".into(),
                file("sns-test-cert.pem"),
                "--topic".into(),
                topic.into(),
            ],
            vec![
                "--key".into(),
                file("sns-test-cert.pem"),
                "--topic".into(),
                format!("{topic}-other"),
            ],
        ),
        Provider::Postal => (
            vec!["--key".into(), b64("postal-test-key-2048.pk8")],
            vec!["--key".into(), file("postal-test-key-2048.pub.pem")],
            vec!["--key".into(), file("postal-test-key-1024.pub.pem")],
        ),
        _ => (
            strings(&["--secret", "signing-key"]),
            strings(&["--secret", "signing-key"]),
            strings(&["--secret", "another-key"]),
        ),
    }
}

/// One provider's inbound delivery as `send --inbound --print` makes it:
/// the body, in a file under `dir`, and the headers as `--header` takes
/// them.
fn cli_sent(
    bin: &str,
    provider: Provider,
    send: &[String],
    to: &str,
    dir: &std::path::Path,
) -> (std::path::PathBuf, String, Vec<String>) {
    let name = provider.as_str();
    let out = std::process::Command::new(bin)
        .args([
            "send",
            "--provider",
            name,
            "--inbound",
            "--recipient",
            "in@example.org",
            "--to",
            to,
            "--print",
        ])
        .args(send)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let body = request["body"].as_str().unwrap().to_owned();
    let body_file = dir.join(format!("{name}.body"));
    std::fs::write(&body_file, &body).unwrap();
    let headers = request["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap()))
        .collect();
    (body_file, body, headers)
}

/// Resend's content for a sent `email.received` body, as its API would
/// serve it, in files under `dir`: the `--fetched` arguments.
fn cli_resend_content(body: &str, dir: &std::path::Path) -> Vec<String> {
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    let id = event["data"]["email_id"].as_str().unwrap();
    let mut fetched = Vec::new();
    for (i, (url, bytes)) in
        email_webhooks::provider::resend::simulated_content(id, "in@example.org")
            .into_iter()
            .enumerate()
    {
        let path = dir.join(format!("resend-{i}"));
        std::fs::write(&path, bytes).unwrap();
        fetched.push(format!("{url}={}", path.display()));
    }
    fetched
}

/// `verify --inbound` (with `flags`) or `parse --inbound` of a sent
/// delivery: its JSON and exit code.
fn cli_read(
    bin: &str,
    command: &str,
    provider: Provider,
    flags: &[String],
    (body_file, headers): (&std::path::Path, &[String]),
    fetched: &[String],
) -> (serde_json::Value, Option<i32>) {
    let mut c = std::process::Command::new(bin);
    if command == "verify" {
        c.args(["verify", "--scheme", provider.as_str(), "--inbound"])
            .args(flags);
    } else {
        c.args(["parse", "--provider", provider.as_str(), "--inbound"]);
    }
    c.arg("--body").arg(body_file);
    for header in headers {
        c.args(["--header", header]);
    }
    for pair in fetched {
        c.args(["--fetched", pair]);
    }
    let out = c.output().unwrap();
    (
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        out.status.code(),
    )
}

/// `send --inbound` makes each provider's delivery; `verify --inbound`
/// accepts it with the right credentials and refuses it with others; both
/// `verify` and `parse` take what the provider serves by reference from
/// `--fetched URL=FILE`, and fail with `content_unavailable` naming the
/// URL without it (DESIGN.md section 6).
#[test]
fn the_cli_reads_every_providers_inbound_mail_and_fetched_content() {
    let bin = env!("CARGO_BIN_EXE_email-webhooks");
    let dir =
        std::env::temp_dir().join(format!("email-webhooks-inbound-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let to = "http://127.0.0.1:9/webhooks/x/inbound";
    let with_inbound: Vec<Provider> = Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.info().is_some_and(|i| i.inbound.is_some()))
        .collect();
    assert!(with_inbound.len() >= 12);
    for provider in with_inbound {
        let (send, good, bad) = cli_credentials(provider, to);
        let name = provider.as_str();
        let (body_file, body, headers) = cli_sent(bin, provider, &send, to, &dir);
        let fetched = if provider == Provider::Resend {
            cli_resend_content(&body, &dir)
        } else {
            Vec::new()
        };
        let delivery = (body_file.as_path(), headers.as_slice());
        for command in ["verify", "parse"] {
            let (out, code) = cli_read(bin, command, provider, &good, delivery, &fetched);
            assert_eq!(code, Some(0), "{name} {command}: {out}");
            let m = &out["messages"][0];
            let recipient = m["envelope_recipient"]
                .as_str()
                .or_else(|| m["to"][0]["address"].as_str());
            assert_eq!(recipient, Some("in@example.org"), "{name} {command}");
            assert_eq!(m["subject"], "Re: your order", "{name} {command}");
            assert!(
                m["idempotency_key"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name}:inbound:"))
            );
            if provider == Provider::Resend {
                assert_eq!(m["attachments"][0]["size"], 8, "{name} {command}");
                assert!(m["text"].as_str().unwrap().starts_with("Thanks!"));
                // Without the content: content_unavailable, naming the URL.
                let (out, code) = cli_read(bin, command, provider, &good, delivery, &[]);
                assert_eq!(
                    (code, &out["error"]["code"]),
                    (Some(1), &serde_json::json!("content_unavailable"))
                );
                let message = out["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains("https://api.resend.com/emails/receiving/"),
                    "{message}"
                );
            }
        }
        let (out, code) = cli_read(bin, "verify", provider, &bad, delivery, &fetched);
        assert_eq!(code, Some(1), "{name}");
        let code = out["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            [
                "unauthorized",
                "invalid_signature",
                "untrusted_certificate_url"
            ]
            .contains(&code.as_str()),
            "{name}: {code}"
        );
    }
    // --fetched is for --inbound, and takes URL=FILE.
    for args in [
        &[
            "parse",
            "--provider",
            "postmark",
            "--fetched",
            "https://x/y=z",
        ][..],
        &[
            "parse",
            "--provider",
            "postmark",
            "--inbound",
            "--fetched",
            "no-equals-sign",
        ][..],
    ] {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JSON body of a hundred thousand tiny values costs a parsed value far
/// more than its bytes: every provider's inbound JSON is counted first and
/// refused before it is read into memory.
#[test]
fn json_floods_are_refused_before_they_are_parsed() {
    let limits = InboundLimits::default();
    let flood = |key: &str| format!(r#"{{"{key}":[{}{{}}]}}"#, "{},".repeat(100_000));
    for provider in Provider::ALL.iter().copied() {
        let Some(inbound) = provider.info().and_then(|i| i.inbound) else {
            continue;
        };
        let (content_type, body) = match provider {
            // Multipart or URL-encoded forms of fields: no JSON to flood
            // but Mailgun's `message-headers`, capped in its own test.
            Provider::Sendgrid | Provider::Mailgun => continue,
            Provider::Mandrill => (
                "application/x-www-form-urlencoded",
                format!(
                    "mandrill_events=%5B%7B%22msg%22%3A%5B{}%7B%7D%5D%7D%5D",
                    "%7B%7D%2C".repeat(100_000)
                ),
            ),
            Provider::Ses => {
                let envelope =
                    serde_json::json!({"Type": "Notification", "Message": flood("mail")});
                ("text/plain", envelope.to_string())
            }
            _ => ("application/json", flood("items")),
        };
        let headers = [("Content-Type", content_type)];
        let error = (inbound.parse)(&Request::new(&headers, body.as_bytes()), &limits).unwrap_err();
        assert!(
            error.to_string().contains("more values"),
            "{provider}: {error}"
        );
    }
}

/// SendGrid's Inbound Parse security policy signs as the Event Webhook
/// does (ECDSA P-256 over the timestamp and the raw multipart body): with
/// the policy's public key the signature is checked, alone or with basic
/// auth; a tampered attachment, another key, a stale timestamp and a
/// missing signature are refused.
#[test]
fn sendgrid_inbound_parse_signed_by_a_security_policy() {
    use base64::Engine as _;
    use email_webhooks::provider::sendgrid::SendgridSigner;
    let inbound = Provider::Sendgrid.info().unwrap().inbound.unwrap();
    let limits = InboundLimits::default();
    let (signer, pkcs8) = SendgridSigner::generate().unwrap();
    let (other, _) = SendgridSigner::generate().unwrap();
    let public = signer.public_key().unwrap().to_base64_der();
    let mut sending = Settings::new();
    sending
        .keys
        .push(base64::engine::general_purpose::STANDARD.encode(&pkcs8));
    let sim = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "sg-1",
        AT,
        &sending,
    );
    let delivery = (inbound.simulate)(&sim).unwrap();
    assert!(
        delivery
            .headers
            .iter()
            .any(|(k, _)| k == "X-Twilio-Email-Event-Webhook-Signature")
    );
    let mut policy = Settings::new();
    policy.keys.push(public.clone());
    let request = at(&delivery.headers, &delivery.body);
    let messages = inbound.verify(&policy, &request, &limits).unwrap().unwrap();
    assert_eq!(messages[0].attachments[0].content, b"order 42");
    // The signature and basic auth together: both must hold.
    let mut both = policy.clone();
    both.basic_auth.push("u:pass-phrase".into());
    assert!(matches!(
        inbound.verify(&both, &request, &limits),
        Ok(Err(Error::Verify(_)))
    ));
    let mut sending_both = sending.clone();
    sending_both.basic_auth.push("u:pass-phrase".into());
    let sim_both = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "sg-1",
        AT,
        &sending_both,
    );
    let d = (inbound.simulate)(&sim_both).unwrap();
    assert!(
        inbound
            .verify(&both, &at(&d.headers, &d.body), &limits)
            .unwrap()
            .is_ok()
    );
    // Tampered, another key, stale, unsigned: refused.
    let tampered = (inbound.simulate)(&sim.tampered()).unwrap();
    let mut wrong = Settings::new();
    wrong.keys.push(other.public_key().unwrap().to_base64_der());
    let stale = Request::new(&delivery.headers, &delivery.body)
        .at(time::OffsetDateTime::from_unix_timestamp(AT + 80 * 3600).unwrap());
    let bare: Vec<(String, String)> = delivery
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("X-Twilio"))
        .cloned()
        .collect();
    for (name, settings, request) in [
        ("tampered", &policy, at(&tampered.headers, &tampered.body)),
        ("other key", &wrong, at(&delivery.headers, &delivery.body)),
        ("stale", &policy, stale),
        ("unsigned", &policy, at(&bare, &delivery.body)),
    ] {
        assert!(
            matches!(
                inbound.verify(settings, &request, &limits),
                Ok(Err(Error::Verify(_)))
            ),
            "{name}"
        );
    }
}

/// Mailgun's `store(notify=…)` notification: the stored message is fetched
/// from its `message-url`, only on Mailgun's storage API, and keyed by its
/// storage key whatever the fetch brings.
#[tokio::test]
async fn mailgun_stored_messages_are_fetched_from_mailgun_storage_only() {
    use email_webhooks::inbound::{ContentKind, StaticContent};
    use email_webhooks::provider::mailgun::parse_inbound;
    let limits = InboundLimits::default();
    let url =
        "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.org/messages/BAABAQ-key_1=";
    let form = |url: &str| {
        format!(
            "recipient=support%40mg.example.org&sender=customer%40example.net&subject=Re%3A+order&body-plain=Thanks%21&timestamp=1796551200&token=t0k3n&signature=00&message-url={}",
            url.replace(':', "%3A")
                .replace('/', "%2F")
                .replace('=', "%3D")
        )
    };
    let m = parse_inbound(
        "application/x-www-form-urlencoded",
        form(url).as_bytes(),
        &limits,
    )
    .unwrap();
    let pending: Vec<_> = m.pending().cloned().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].url.as_str(), pending[0].kind),
        (url, ContentKind::Message)
    );
    assert!(
        m.idempotency_key()
            .starts_with("mailgun:inbound:id:BAABAQ-key_1=:for:")
    );
    assert_eq!(m.text.as_deref(), Some("Thanks!"));
    let mut fetched = m.clone();
    fetched
        .fetch(
            &StaticContent::new().with(url, data("attachments.eml")),
            &limits,
        )
        .await
        .unwrap();
    let from_mime = mime("attachments.eml");
    assert_eq!(fetched.attachments, from_mime.attachments);
    assert_eq!(fetched.headers, from_mime.headers);
    assert_eq!(
        fetched.envelope_recipient.as_deref(),
        Some("support@mg.example.org")
    );
    assert_eq!(fetched.idempotency_key(), m.idempotency_key());
    // Anywhere else: refused, never fetched with the API key.
    for evil in [
        "http://storage-us-east4.api.mailgun.net/v3/domains/d/messages/k",
        "https://api.mailgun.net.evil.example/v3/domains/d/messages/k",
        "https://evil.example/api.mailgun.net/messages/k",
        "https://xapi.mailgun.net/v3/domains/d/messages/k",
        "https://api.mailgun.net/v3/domains/../messages/k",
        "https://api.mailgun.net/v3/domains/d/messages/",
        "https://evil.example#.api.mailgun.net/v3/domains/d/messages/k",
        "https://evil.example?.api.mailgun.net/v3/domains/d/messages/k",
        "https://evil.example\\.api.mailgun.net/v3/domains/d/messages/k",
        "https://evil.example@storage.api.mailgun.net/v3/domains/d/messages/k",
        "https://evil.example%23.api.mailgun.net/v3/domains/d/messages/k",
        "https://evil.example:443.api.mailgun.net/v3/domains/d/messages/k",
    ] {
        assert!(
            parse_inbound(
                "application/x-www-form-urlencoded",
                form(evil).as_bytes(),
                &limits
            )
            .is_err(),
            "{evil}"
        );
    }
    // The EU region's storage is Mailgun's too.
    let eu = "https://storage-europe-west1.api.eu.mailgun.net/v3/domains/d/messages/k2";
    assert!(
        parse_inbound(
            "application/x-www-form-urlencoded",
            form(eu).as_bytes(),
            &limits
        )
        .is_ok()
    );
}

/// Percent-encodes every byte but letters and digits (a form value).
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A batch of inbound messages with one element that cannot be read, of
/// each class (not the provider's shape, a field of the wrong type, a
/// message missing, content that is not what it says): the element is an
/// unreadable message keeping its JSON as sent, and its neighbours, before
/// and after it, are read, through the registry's signed path. (Before,
/// the whole delivery was refused, and Brevo takes a 4xx as final: the
/// readable messages were lost with it.)
#[test]
fn an_unreadable_message_in_a_batch_never_loses_its_neighbours() {
    let limits = InboundLimits::default();
    let cases: [(Provider, &[&str]); 3] = [
        (
            Provider::Brevo,
            &[
                r#""not an item""#,
                r#"{"Uuid":["u-2"],"Headers":5}"#,
                r#"{"Uuid":["u-3"],"Attachments":[{"Name":"a.pdf","ContentLength":3,"DownloadToken":"../../v3/account"}]}"#,
            ],
        ),
        (
            Provider::Mandrill,
            &[
                r#"{"event":"inbound","msg":{"email":"support@example.org"}}"#,
                r#"{"event":"inbound","msg":{"raw_msg":5}}"#,
            ],
        ),
        (
            Provider::Sparkpost,
            &[
                r#"{"msys":{"relay_message":{"rcpt_to":"support@example.org"}}}"#,
                r#"{"msys":{"relay_message":{"content":{"email_rfc822":"%%%","email_rfc822_is_base64":true}}}}"#,
            ],
        ),
    ];
    for (provider, bad_elements) in cases {
        let mut settings = Settings::new();
        settings.secrets.push("batch-secret".to_owned());
        settings.url = Some("https://example.org/hooks/inbound".to_owned());
        let inbound = provider.info().unwrap().inbound.unwrap();
        // The provider's own delivery of one message: its element.
        let sim = Simulation::new(
            EventKind::Inbound,
            "support@example.org",
            "m-1",
            AT,
            &settings,
        );
        let one = (inbound.simulate)(&sim).unwrap().body;
        let good = match provider {
            Provider::Brevo => {
                let doc: serde_json::Value = serde_json::from_slice(&one).unwrap();
                doc["items"][0].to_string()
            }
            Provider::Mandrill => {
                let text = String::from_utf8(one).unwrap();
                let encoded = text.strip_prefix("mandrill_events=").unwrap();
                let decoded = form_decode(encoded);
                let doc: serde_json::Value = serde_json::from_str(&decoded).unwrap();
                doc[0].to_string()
            }
            _ => {
                let doc: serde_json::Value = serde_json::from_slice(&one).unwrap();
                doc[0].to_string()
            }
        };
        for bad in bad_elements {
            let list = format!("[{good},{bad},{good}]");
            let body = match provider {
                Provider::Brevo => format!(r#"{{"items":{list}}}"#),
                Provider::Mandrill => format!("mandrill_events={}", form_value(&list)),
                _ => list,
            };
            let delivery = (inbound.simulate)(&sim.with_body(body.as_bytes())).unwrap();
            let request = at(&delivery.headers, &delivery.body);
            let messages = inbound
                .verify(&settings, &request, &limits)
                .unwrap()
                .unwrap_or_else(|e| panic!("{provider} {bad}: {e}"));
            assert_eq!(messages.len(), 3, "{provider} {bad}");
            for read in [&messages[0], &messages[2]] {
                assert_eq!(read.unreadable, None, "{provider} {bad}");
                assert!(read.message_id.is_some(), "{provider} {bad}");
            }
            let skipped = &messages[1];
            assert!(skipped.unreadable.is_some(), "{provider} {bad}");
            assert_eq!(
                skipped.raw.as_deref(),
                Some(bad.as_bytes()),
                "{provider} {bad}"
            );
            assert_eq!(skipped.message_id, None);
            assert_eq!(
                skipped.pending().count(),
                0,
                "never fetched: {provider} {bad}"
            );
            // Its key is its element's, unlike its neighbours'.
            assert_ne!(skipped.idempotency_key(), messages[0].idempotency_key());
        }
    }
}

/// Decodes a percent-encoded form value.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The Mailgun verifier the inbound tests sign with.
fn mailgun_verifier() -> email_webhooks::provider::mailgun::MailgunVerifier {
    email_webhooks::provider::mailgun::MailgunVerifier::new(
        email_webhooks::Secret::from_bytes("signing-key").unwrap(),
    )
}

/// The `signature` Mailgun sends with `token` at `timestamp`.
fn mailgun_signature(
    verifier: &email_webhooks::provider::mailgun::MailgunVerifier,
    timestamp: i64,
    token: &str,
) -> String {
    let signed = verifier
        .sign(timestamp, token, &serde_json::Value::Null)
        .unwrap();
    signed["signature"]["signature"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Brevo's settings (a bearer token) and its simulated inbound delivery of
/// `body`.
fn brevo_delivery(body: &[u8]) -> (Settings, email_webhooks::provider::Simulated) {
    let mut settings = Settings::new();
    settings.secrets.push("brevo-bearer-token".into());
    let sim = Simulation::new(
        EventKind::Inbound,
        "support@in.example.org",
        "b-1",
        AT,
        &settings,
    )
    .with_body(body);
    let d = (Provider::Brevo.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap();
    (settings, d)
}

/// mail-parser looks for a multipart part's boundary up to the end of the
/// message and, when it never comes, goes back and reads the part as text:
/// parts declaring boundaries that never come cost the message's size each
/// (150 KB of 3,000 of them took seconds, 5 MiB minutes), and a body of
/// tiny parts cost some twenty times its size in memory. Both are refused
/// before the parser runs, on every path that parses MIME, signed or not:
/// Mailgun's legacy forms reach it before their signature is checked.
#[test]
fn multipart_bombs_are_refused_before_the_parser_runs() {
    use std::io::Write as _;
    let mut nested = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
    for _ in 0..3_000 {
        nested.extend_from_slice(b"--B\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n");
    }
    nested.extend_from_slice(b"--B--\r\n");
    let mut tiny = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
    for _ in 0..2_000 {
        tiny.extend_from_slice(b"--B\r\n\r\n");
    }
    tiny.extend_from_slice(b"--B--\r\n");
    let form = [("Content-Type", "multipart/form-data; boundary=B")];
    for (bomb, why) in [(&nested, "too costly"), (&tiny, "more MIME parts")] {
        let error = InboundMessage::from_mime(Provider::Ses, bomb, &InboundLimits::default())
            .expect_err("refused");
        assert!(error.to_string().contains(why), "{error}");
        // The same parts as a form posted to Mailgun's events route.
        let body = &bomb[bomb.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let error =
            email_webhooks::provider::mailgun::parse_request(&form, body).expect_err("refused");
        assert!(error.to_string().contains(why), "{error}");
    }
    // Ordinary nesting, and parts within the limit, still parse.
    let mut fine = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
    for i in 0..100 {
        write!(
            fine,
            "--B\r\nContent-Type: multipart/alternative; boundary=Z{i}\r\n\r\n--Z{i}\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n--Z{i}--\r\n"
        )
        .unwrap();
    }
    fine.extend_from_slice(b"--B--\r\n");
    let message =
        InboundMessage::from_mime(Provider::Ses, &fine, &InboundLimits::default()).expect("parsed");
    assert!(
        message
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("part 0"))
    );
}

/// A body in several parts (text, an inline image, more text, as Apple Mail
/// sends a file placed mid-message) is read whole: the text after the image
/// was in neither the body nor the attachments.
#[test]
fn a_body_in_several_parts_is_read_whole() {
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\
Content-Type: multipart/mixed; boundary=M\r\n\r\n\
--M\r\nContent-Type: text/plain\r\n\r\nHi,\r\n\
--M\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--M\r\nContent-Type: text/plain\r\n\r\nthe actual request.\r\n\
--M\r\nContent-Type: text/html\r\n\r\n<p>one</p>\r\n\
--M\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n\
--M--\r\n";
    let message =
        InboundMessage::from_mime(Provider::Ses, raw, &InboundLimits::default()).expect("parsed");
    let text = message.text.as_deref().expect("text");
    assert!(
        text.starts_with("Hi,") && text.contains("the actual request."),
        "{text}"
    );
    let html = message.html.as_deref().expect("html");
    assert!(
        html.contains("<p>one</p>") && html.contains("<p>two</p>"),
        "{html}"
    );
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].filename.as_deref(), Some("a.png"));
}

/// Postmark takes 35 MB of attachments and posts them base64 in JSON, about
/// 47 MB: over the 40 MiB the default body limit was, so its largest
/// messages were refused (413) on every retry, and lost.
#[test]
fn postmark_s_largest_messages_fit_the_default_limits() {
    let sample: serde_json::Value = serde_json::from_slice(&data("postmark-inbound.json")).unwrap();
    let mut body = sample.clone();
    let content = "A".repeat(35_000_000 / 3 * 4);
    body["Attachments"] = serde_json::json!([{
        "Name": "big.bin", "ContentType": "application/octet-stream",
        "ContentLength": 35_000_000, "Content": content,
    }]);
    let body = serde_json::to_vec(&body).unwrap();
    assert!(body.len() > 46_000_000);
    let message = email_webhooks::provider::postmark::parse_inbound(&body).expect("accepted");
    assert_eq!(message.attachments[0].size, 35_000_000 / 3 * 3);
}

/// What Mailgun's Messages API answers to `Accept: message/rfc2822`: JSON
/// whose `body-mime` is the message. It was parsed as MIME, and the
/// attachments were lost.
#[tokio::test]
async fn mailgun_stored_messages_are_read_from_the_messages_api_json() {
    use email_webhooks::inbound::StaticContent;
    let limits = InboundLimits::default();
    let url =
        "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.org/messages/BAABAQ-key_1=";
    let form = format!(
        "recipient=support%40mg.example.org&sender=customer%40example.net&subject=Re%3A+order&body-plain=Thanks%21&timestamp=1796551200&token=t0k3n&signature=00&message-url={}",
        url.replace(':', "%3A")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let m = email_webhooks::provider::mailgun::parse_inbound(
        "application/x-www-form-urlencoded",
        form.as_bytes(),
        &limits,
    )
    .unwrap();
    let from_mime = mime("attachments.eml");
    let eml = String::from_utf8(data("attachments.eml")).unwrap();
    let answer = serde_json::json!({
        "recipients": "support@mg.example.org", "sender": "customer@example.net",
        "from": "Customer <customer@example.net>", "subject": "Re: order",
        "body-mime": eml,
    });
    let mut from_json = m.clone();
    from_json
        .fetch(
            &StaticContent::new().with(url, answer.to_string().into_bytes()),
            &limits,
        )
        .await
        .unwrap();
    assert_eq!(from_json.attachments, from_mime.attachments);
    assert_eq!(from_json.headers, from_mime.headers);
    assert_eq!(from_json.subject, from_mime.subject);
    // JSON without the message: refused, not read as mail.
    let mut refused = m.clone();
    assert!(
        refused
            .fetch(
                &StaticContent::new().with(url, b"{\"subject\":\"x\"}".to_vec()),
                &limits
            )
            .await
            .is_err()
    );
}
